/* Reading JSONL records for `mmfuse embed --records` (see cli_records.h). */
#include "cli_records.h"
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli.h"
#include "cli_lines.h"

int64_t cli_records_hash_id(const char *s) {
    uint64_t h = 14695981039346656037ULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) { h ^= *p; h *= 1099511628211ULL; }
    return (int64_t)(h & 0x7fffffffffffffffULL);
}

static int fail(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mmfuse %s: error: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return MMF_EXIT_FAIL;
}

static char *dupstr(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* The class list: names[n]. */
typedef struct classes { char **names; int n; } classes;

static void classes_free(classes *c) {
    for (int i = 0; i < c->n; i++) free(c->names[i]);
    free(c->names);
    c->names = NULL;
    c->n = 0;
}

/* optional: the file was found beside the records, not named; a missing key then means no list */
static int load_classes(const char *cmd, const char *path, const char *key, int optional, classes *out) {
    cJSON *root = NULL;
    {
        FILE *f = fopen(path, "rb");
        if (!f) return fail(cmd, "cannot open the class list %s", path);
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *txt = len >= 0 ? malloc((size_t)len + 1) : NULL;
        size_t got = txt ? fread(txt, 1, (size_t)len, f) : 0;
        fclose(f);
        if (!txt || got != (size_t)len) { free(txt); return fail(cmd, "cannot read %s", path); }
        txt[len] = 0;
        root = cJSON_Parse(txt);
        free(txt);
    }
    if (!root) return fail(cmd, "%s: not valid JSON", path);
    const cJSON *arr = root;
    if (cJSON_IsObject(root)) {
        arr = cJSON_GetObjectItemCaseSensitive(root, key);
        if (!arr && optional) { cJSON_Delete(root); return MMF_EXIT_OK; }
        if (!arr) { cJSON_Delete(root); return fail(cmd, "%s: no field \"%s\" (an array of class names; choose another with --classes-key)", path, key); }
    }
    if (!cJSON_IsArray(arr)) { cJSON_Delete(root); return fail(cmd, "%s: field \"%s\": expected an array of class names", path, key); }
    int n = cJSON_GetArraySize(arr);
    out->names = calloc((size_t)(n ? n : 1), sizeof *out->names);
    if (!out->names) { cJSON_Delete(root); return fail(cmd, "out of memory"); }
    out->n = n;
    for (int i = 0; i < n; i++) {
        const cJSON *it = cJSON_GetArrayItem(arr, i);
        if (!cJSON_IsString(it)) { cJSON_Delete(root); classes_free(out); return fail(cmd, "%s: field \"%s\" item %d: expected a string", path, key, i); }
        out->names[i] = dupstr(it->valuestring);
        if (!out->names[i]) { cJSON_Delete(root); classes_free(out); return fail(cmd, "out of memory"); }
    }
    cJSON_Delete(root);
    return MMF_EXIT_OK;
}

static int class_of(const classes *c, const char *name) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->names[i], name)) return i;
    return -1;
}

/* text field: a string, or an array of strings joined by single spaces */
static int get_text(const cJSON *v, char **out) {
    *out = NULL;
    if (!v || cJSON_IsNull(v)) return 1;
    if (cJSON_IsString(v)) {
        if (v->valuestring[0]) *out = dupstr(v->valuestring);
        return !v->valuestring[0] || *out;
    }
    if (!cJSON_IsArray(v)) return 0;
    size_t len = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        if (!cJSON_IsString(it)) return 0;
        len += strlen(it->valuestring) + 1;
    }
    if (len == 0) return 1;
    char *s = malloc(len);
    if (!s) return 0;
    size_t k = 0;
    cJSON_ArrayForEach(it, v) {
        size_t l = strlen(it->valuestring);
        if (!l) continue;
        if (k) s[k++] = ' ';
        memcpy(s + k, it->valuestring, l);
        k += l;
    }
    s[k] = 0;
    if (!k) { free(s); return 1; }
    *out = s;
    return 1;
}

int cli_records_load(const char *cmd, const cli_records_opts *o, cli_records *r) {
    memset(r, 0, sizeof *r);
    char **lines, *buf;
    size_t nl;
    int rc = cli_read_lines(cmd, o->path, &lines, &nl, &buf);
    if (rc) return rc;
    /* folder of the records file: image paths are relative to it */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", o->path);
    char *slash = strrchr(dir, '/');
    if (slash) slash[1] = 0; else dir[0] = 0;

    classes cl = {0};
    char ckey[256];
    const char *cpath = o->classes;
    char auto_path[4200];
    if (o->label_field && !cpath) {
        struct stat st;
        snprintf(auto_path, sizeof auto_path, "%sclasses.json", dir);
        if (!stat(auto_path, &st)) cpath = auto_path;
    }
    if (o->label_field && cpath) {
        if (o->classes_key) snprintf(ckey, sizeof ckey, "%s", o->classes_key);
        else if (!strcmp(o->label_field, "label")) snprintf(ckey, sizeof ckey, "subgroups");
        else snprintf(ckey, sizeof ckey, "%ss", o->label_field);
        rc = load_classes(cmd, cpath, ckey, cpath == auto_path, &cl);
        if (!rc && !cl.n && cpath == auto_path) cpath = NULL;
        if (rc) { free(lines); free(buf); return rc; }
    }

    size_t n = 0;
    for (size_t i = 0; i < nl; i++) {
        const char *p = lines[i];
        while (*p == ' ' || *p == '\t') p++;
        n += *p != 0;
    }
    r->text = calloc(n ? n : 1, sizeof *r->text);
    r->image = calloc(n ? n : 1, sizeof *r->image);
    r->ids = calloc(n ? n : 1, sizeof *r->ids);
    int64_t *labels = calloc(n ? n : 1, sizeof *labels);
    if (!r->text || !r->image || !r->ids || !labels) { rc = fail(cmd, "out of memory for %zu records", n); goto done; }
    r->n = n;
    size_t k = 0, with_label = 0;
    for (size_t i = 0; i < nl && !rc; i++) {
        const char *p = lines[i];
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) continue;
        cJSON *obj = cJSON_Parse(lines[i]);
        if (!cJSON_IsObject(obj)) { cJSON_Delete(obj); rc = fail(cmd, "%s:%zu: expected one JSON object per line", o->path, i + 1); break; }
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, o->text_field);
        if (!get_text(t, &r->text[k]))
            rc = fail(cmd, "%s:%zu: field \"%s\": expected a string or an array of strings", o->path, i + 1, o->text_field);
        const cJSON *im = cJSON_GetObjectItemCaseSensitive(obj, o->image_field);
        if (!rc && im && !cJSON_IsNull(im)) {
            if (!cJSON_IsString(im)) rc = fail(cmd, "%s:%zu: field \"%s\": expected an image path (a string)", o->path, i + 1, o->image_field);
            else if (im->valuestring[0]) {
                const char *v = im->valuestring;
                size_t len = strlen(dir) + strlen(v) + 1;
                r->image[k] = malloc(len);
                if (!r->image[k]) rc = fail(cmd, "out of memory");
                else snprintf(r->image[k], len, "%s%s", v[0] == '/' ? "" : dir, v);
            }
        }
        if (!rc && o->label_field) {
            const cJSON *l = cJSON_GetObjectItemCaseSensitive(obj, o->label_field);
            if (l && !cJSON_IsNull(l)) {
                with_label++;
                if (cJSON_IsNumber(l)) {
                    double d = l->valuedouble;
                    if (d != (double)(int64_t)d || d < 0 || d > 1e6 || (cl.n && d >= cl.n))
                        rc = fail(cmd, "%s:%zu: field \"%s\": %g is not a class id (an integer in [0, %s))", o->path, i + 1,
                                  o->label_field, d, cl.n ? "the number of classes" : "1e6");
                    else labels[k] = (int64_t)d;
                } else if (cJSON_IsString(l)) {
                    int c = cl.n ? class_of(&cl, l->valuestring) : -1;
                    if (!cpath) rc = fail(cmd, "%s:%zu: field \"%s\" is a name (\"%s\"): give the class list with --classes FILE", o->path, i + 1, o->label_field, l->valuestring);
                    else if (c < 0) rc = fail(cmd, "%s:%zu: field \"%s\": \"%s\" is not in the class list %s (\"%s\")", o->path, i + 1, o->label_field, l->valuestring, cpath, ckey);
                    else labels[k] = c;
                } else rc = fail(cmd, "%s:%zu: field \"%s\": expected a class name or id", o->path, i + 1, o->label_field);
            } else labels[k] = -1;
        }
        if (!rc) {
            const cJSON *id = o->id_field ? cJSON_GetObjectItemCaseSensitive(obj, o->id_field) : NULL;
            if (!o->id_field) r->ids[k] = (int64_t)k;
            else if (cJSON_IsString(id)) r->ids[k] = cli_records_hash_id(id->valuestring);
            else if (cJSON_IsNumber(id) && id->valuedouble == (double)(int64_t)id->valuedouble) r->ids[k] = (int64_t)id->valuedouble;
            else rc = fail(cmd, "%s:%zu: field \"%s\": expected a string or an integer id", o->path, i + 1, o->id_field);
        }
        cJSON_Delete(obj);
        k++;
    }
    if (!rc && with_label && with_label < n)
        for (size_t j = 0; j < n; j++)
            if (labels[j] < 0) { rc = fail(cmd, "%s: record %zu has no \"%s\" (all records need a label, or none)", o->path, j + 1, o->label_field); break; }
    if (!rc && with_label) {
        r->labels = labels;
        labels = NULL;
        r->n_classes = cl.n;
        size_t len = 1;
        int comma = 0;
        for (int c = 0; c < cl.n; c++) { len += strlen(cl.names[c]) + 1; comma |= strchr(cl.names[c], ',') != NULL; }
        if (cl.n && !comma && (r->label_names = malloc(len))) {
            size_t q = 0;
            for (int c = 0; c < cl.n; c++) q += (size_t)sprintf(r->label_names + q, "%s%s", c ? "," : "", cl.names[c]);
        }
    }
done:
    free(labels);
    classes_free(&cl);
    free(lines);
    free(buf);
    if (rc) cli_records_free(r);
    return rc;
}

void cli_records_free(cli_records *r) {
    for (size_t i = 0; i < r->n; i++) {
        if (r->text) free(r->text[i]);
        if (r->image) free(r->image[i]);
    }
    free(r->text);
    free(r->image);
    free(r->labels);
    free(r->ids);
    free(r->label_names);
    memset(r, 0, sizeof *r);
}
