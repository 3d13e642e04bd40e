/* JSONL records (mmf_recfile_*, declared in mmfuse.h): the one reader of
 * records files. Each line is parsed once, its fields copied out by the rules
 * the header states, and the JSON dropped, so a record costs its strings. */
#include "core/error.h"
#include "core/grow.h"
#include "io/json.h"
#include "mmfuse.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rf_field {
    mmf_field_kind kind;
    char *str;     /* MMF_FIELD_STRING */
    double num;    /* MMF_FIELD_NUMBER */
} rf_field;

typedef struct rf_record {
    long line;
    char *text, *image;
    rf_field label, id;
    char **tags;
    int n_tags;
} rf_record;

struct mmf_recfile {
    char *path;
    rf_record *r;
    size_t n, cap;
};

mmf_recfile_params mmf_recfile_params_default(void) {
    return (mmf_recfile_params){.text_field = "text", .image_field = "image", .label_field = "label", .id_field = "id",
                                .tags_field = "tags"};
}

void mmf_recfile_free(mmf_recfile *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) {
        rf_record *r = &f->r[i];
        free(r->text); free(r->image); free(r->label.str); free(r->id.str);
        for (int k = 0; k < r->n_tags; k++) free(r->tags[k]);
        free(r->tags);
    }
    free(f->r);
    free(f->path);
    free(f);
}

/* a string, or an array of strings joined by single spaces (empty ones
 * skipped); NULL when absent, null or empty. 0, or -1 on a wrong type. */
static int get_text(const cJSON *v, char **out) {
    *out = NULL;
    if (!v || cJSON_IsNull(v)) return 0;
    if (cJSON_IsString(v)) return v->valuestring[0] && !(*out = strdup(v->valuestring)) ? -2 : 0;
    if (!cJSON_IsArray(v)) return -1;
    size_t len = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        if (!cJSON_IsString(it)) return -1;
        len += strlen(it->valuestring) + 1;
    }
    char *s = malloc(len + 1);
    if (!s) return -2;
    size_t k = 0;
    cJSON_ArrayForEach(it, v) {
        size_t l = strlen(it->valuestring);
        if (!l) continue;
        if (k) s[k++] = ' ';
        memcpy(s + k, it->valuestring, l);
        k += l;
    }
    s[k] = 0;
    if (k) *out = s;
    else free(s);
    return 0;
}

static int get_field(const cJSON *v, rf_field *out) {
    if (!v || cJSON_IsNull(v)) out->kind = MMF_FIELD_ABSENT;
    else if (cJSON_IsNumber(v)) { out->kind = MMF_FIELD_NUMBER; out->num = v->valuedouble; }
    else if (cJSON_IsString(v)) { out->kind = MMF_FIELD_STRING; if (!(out->str = strdup(v->valuestring))) return -2; }
    else out->kind = MMF_FIELD_OTHER;
    return 0;
}

/* an array of strings (other items and empty strings skipped) or one string */
static mmf_status get_tags(const cJSON *t, const char *key, rf_record *r, const char *where) {
    if (!t || cJSON_IsNull(t)) return MMF_OK;
    int n = cJSON_IsArray(t) ? cJSON_GetArraySize(t) : cJSON_IsString(t) ? 1 : -1;
    if (n < 0) return mmf_fail(MMF_ERR_FORMAT, "%s: \"%s\" should be an array of strings or a string", where, key);
    if (!(r->tags = calloc((size_t)(n ? n : 1), sizeof *r->tags))) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", where);
    for (int k = 0; k < n; k++) {
        const cJSON *e = cJSON_IsArray(t) ? cJSON_GetArrayItem(t, k) : t;
        if (!cJSON_IsString(e) || !e->valuestring[0]) continue;
        if (!(r->tags[r->n_tags] = strdup(e->valuestring))) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", where);
        r->n_tags++;
    }
    return MMF_OK;
}

/* image paths are relative to the records file's folder (dir ends in '/', or is "") */
static int get_image(const cJSON *v, const char *dir, char **out) {
    *out = NULL;
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsString(v)) return -1;
    const char *p = v->valuestring;
    if (!p[0]) return 0;
    size_t len = strlen(dir) + strlen(p) + 1;
    if (!(*out = malloc(len))) return -2;
    snprintf(*out, len, "%s%s", p[0] == '/' ? "" : dir, p);
    return 0;
}

static mmf_status read_record(const cJSON *o, const mmf_recfile_params *p, const char *dir, const char *where, rf_record *r) {
    int rc = 0;
    const char *bad = NULL, *want = NULL;
    if (p->text_field && (rc = get_text(cJSON_GetObjectItemCaseSensitive(o, p->text_field), &r->text)) == -1)
        bad = p->text_field, want = "a string or an array of strings";
    if (!rc && p->image_field && (rc = get_image(cJSON_GetObjectItemCaseSensitive(o, p->image_field), dir, &r->image)) == -1)
        bad = p->image_field, want = "an image path (a string)";
    if (!rc && p->label_field) rc = get_field(cJSON_GetObjectItemCaseSensitive(o, p->label_field), &r->label);
    if (!rc && p->id_field) rc = get_field(cJSON_GetObjectItemCaseSensitive(o, p->id_field), &r->id);
    if (bad) return mmf_fail(MMF_ERR_FORMAT, "%s: field \"%s\": expected %s", where, bad, want);
    if (rc) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", where);
    return p->tags_field ? get_tags(cJSON_GetObjectItemCaseSensitive(o, p->tags_field), p->tags_field, r, where) : MMF_OK;
}

mmf_status mmf_recfile_parse(const char *text, size_t len, const char *path, const mmf_recfile_params *pp, mmf_recfile **out) {
    *out = NULL;
    mmf_recfile_params p = pp ? *pp : mmf_recfile_params_default();
    mmf_recfile *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) { free(f); return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", path); }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) slash[1] = 0; else dir[0] = 0;
    mmf_status s = MMF_OK;
    long line = 0;
    for (size_t at = 0; !s && at < len; ) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len, n = end - at;
        const char *q = text + at;
        at = end + 1;
        line++;
        const char *z = memchr(q, 0, n);   /* a line ends at its first NUL */
        if (z) n = (size_t)(z - q);
        while (n && (*q == ' ' || *q == '\t' || *q == '\r')) { q++; n--; }
        if (!n) continue;
        char where[4200];
        snprintf(where, sizeof where, "%s:%ld", path, line);
        const char *stop = NULL;
        cJSON *o = cJSON_ParseWithLengthOpts(q, n, &stop, 0);
        while (o && stop && stop < q + n && (*stop == ' ' || *stop == '\t' || *stop == '\r')) stop++;
        if (!cJSON_IsObject(o) || (stop && stop < q + n)) {
            cJSON_Delete(o);
            s = mmf_fail(MMF_ERR_FORMAT, "%s: expected one JSON object per line", where);
            break;
        }
        if (mmf_grow(&f->r, &f->cap, f->n, sizeof *f->r, 256)) s = mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", path);
        else {
            rf_record *r = &f->r[f->n++];
            memset(r, 0, sizeof *r);
            r->line = line;
            s = read_record(o, &p, dir, where, r);
        }
        cJSON_Delete(o);
    }
    if (s) { mmf_recfile_free(f); return s; }
    *out = f;
    return MMF_OK;
}

mmf_status mmf_recfile_load(const char *path, const mmf_recfile_params *p, mmf_recfile **out) {
    *out = NULL;
    char *buf;
    size_t len;
    MMF_TRY(mmf_read_file(path, (size_t)1 << 40, &buf, &len));
    mmf_status s = mmf_recfile_parse(buf, len, path, p, out);
    free(buf);
    return s;
}

size_t mmf_recfile_count(const mmf_recfile *f) { return f->n; }
const char *mmf_recfile_path(const mmf_recfile *f) { return f->path; }
long mmf_recfile_line(const mmf_recfile *f, size_t i) { return i < f->n ? f->r[i].line : 0; }
const char *mmf_recfile_text(const mmf_recfile *f, size_t i) { return i < f->n ? f->r[i].text : NULL; }
const char *mmf_recfile_image(const mmf_recfile *f, size_t i) { return i < f->n ? f->r[i].image : NULL; }

static mmf_field_kind field_out(const rf_field *v, const char **str, double *num) {
    if (str) *str = v->kind == MMF_FIELD_STRING ? v->str : NULL;
    if (num) *num = v->kind == MMF_FIELD_NUMBER ? v->num : 0.0;
    return v->kind;
}

mmf_field_kind mmf_recfile_label(const mmf_recfile *f, size_t i, const char **str, double *num) {
    static const rf_field none;
    return field_out(i < f->n ? &f->r[i].label : &none, str, num);
}

mmf_field_kind mmf_recfile_id(const mmf_recfile *f, size_t i, const char **str, double *num) {
    static const rf_field none;
    return field_out(i < f->n ? &f->r[i].id : &none, str, num);
}

int mmf_recfile_tags(const mmf_recfile *f, size_t i, const char *const **tags) {
    if (i >= f->n) { *tags = NULL; return 0; }
    *tags = (const char *const *)f->r[i].tags;
    return f->r[i].n_tags;
}
