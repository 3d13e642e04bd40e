/* Reading JSONL records for `mmfuse embed --records` (see cli_records.h). */
#include "cli_records.h"
#include <cjson/cJSON.h>
#include "mmfuse.h"
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

int cli_records_load(const char *cmd, const cli_records_opts *o, cli_records *r) {
    memset(r, 0, sizeof *r);
    char *buf;
    size_t len;
    int rc = cli_read_file(cmd, o->path, &buf, &len);
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
        if (rc) { free(buf); return rc; }
    }

    mmf_recfile_params rp = {.text_field = o->text_field, .image_field = o->image_field, .label_field = o->label_field,
                             .id_field = o->id_field};
    mmf_recfile *f = NULL;
    if (mmf_recfile_parse(buf, len, o->path, &rp, &f)) {
        rc = fail(cmd, "%s", mmf_last_error());
        free(buf);
        classes_free(&cl);
        return rc;
    }
    free(buf);
    size_t n = mmf_recfile_count(f);
    r->text = calloc(n ? n : 1, sizeof *r->text);
    r->image = calloc(n ? n : 1, sizeof *r->image);
    r->ids = calloc(n ? n : 1, sizeof *r->ids);
    int64_t *labels = calloc(n ? n : 1, sizeof *labels);
    if (!r->text || !r->image || !r->ids || !labels) { rc = fail(cmd, "out of memory for %zu records", n); goto done; }
    r->n = n;
    size_t with_label = 0;
    for (size_t k = 0; k < n && !rc; k++) {
        long line = mmf_recfile_line(f, k);
        const char *t = mmf_recfile_text(f, k), *im = mmf_recfile_image(f, k);
        if ((t && !(r->text[k] = dupstr(t))) || (im && !(r->image[k] = dupstr(im)))) { rc = fail(cmd, "out of memory"); break; }
        if (o->label_field) {
            const char *name;
            double d;
            mmf_field_kind kind = mmf_recfile_label(f, k, &name, &d);
            if (kind != MMF_FIELD_ABSENT) {
                with_label++;
                if (kind == MMF_FIELD_NUMBER) {
                    if (d != (double)(int64_t)d || d < 0 || d > 1e6 || (cl.n && d >= cl.n))
                        rc = fail(cmd, "%s:%ld: field \"%s\": %g is not a class id (an integer in [0, %s))", o->path, line,
                                  o->label_field, d, cl.n ? "the number of classes" : "1e6");
                    else labels[k] = (int64_t)d;
                } else if (kind == MMF_FIELD_STRING) {
                    int c = cl.n ? class_of(&cl, name) : -1;
                    if (!cpath) rc = fail(cmd, "%s:%ld: field \"%s\" is a name (\"%s\"): give the class list with --classes FILE", o->path, line, o->label_field, name);
                    else if (c < 0) rc = fail(cmd, "%s:%ld: field \"%s\": \"%s\" is not in the class list %s (\"%s\")", o->path, line, o->label_field, name, cpath, ckey);
                    else labels[k] = c;
                } else rc = fail(cmd, "%s:%ld: field \"%s\": expected a class name or id", o->path, line, o->label_field);
            } else labels[k] = -1;
        }
        if (!rc) {
            const char *ids;
            double d;
            mmf_field_kind kind = o->id_field ? mmf_recfile_id(f, k, &ids, &d) : MMF_FIELD_ABSENT;
            if (!o->id_field) r->ids[k] = (int64_t)k;
            else if (kind == MMF_FIELD_STRING) r->ids[k] = cli_records_hash_id(ids);
            else if (kind == MMF_FIELD_NUMBER && d == (double)(int64_t)d) r->ids[k] = (int64_t)d;
            else rc = fail(cmd, "%s:%ld: field \"%s\": expected a string or an integer id", o->path, line, o->id_field);
        }
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
    mmf_recfile_free(f);
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
