/* JSONL record loading (records.h). */
#include "direct/records.h"
#include "core/error.h"
#include "io/json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mmf_records_free(mmf_records *rs) {
    if (!rs) return;
    for (size_t i = 0; i < rs->n; i++) {
        free(rs->r[i].id); free(rs->r[i].text); free(rs->r[i].image); free(rs->r[i].label);
        for (int k = 0; k < rs->r[i].n_tags; k++) free(rs->r[i].tags[k]);
        free(rs->r[i].tags);
    }
    free(rs->r);
    free(rs->path);
    memset(rs, 0, sizeof *rs);
}

static char *dup_field(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring ? strdup(v->valuestring) : NULL;
}

/* "tags": an array of strings (other items skipped) or one string */
static mmf_status read_tags(const cJSON *o, mmf_record *r, const char *where) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "tags");
    if (!t || cJSON_IsNull(t)) return MMF_OK;
    int n = cJSON_IsArray(t) ? cJSON_GetArraySize(t) : cJSON_IsString(t) ? 1 : -1;
    if (n < 0) return mmf_fail(MMF_ERR_FORMAT, "%s: \"tags\" should be an array of strings or a string", where);
    r->tags = calloc((size_t)(n ? n : 1), sizeof *r->tags);
    if (!r->tags) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", where);
    for (int k = 0; k < n; k++) {
        const cJSON *e = cJSON_IsArray(t) ? cJSON_GetArrayItem(t, k) : t;
        if (!cJSON_IsString(e) || !e->valuestring || !e->valuestring[0]) continue;
        if (!(r->tags[r->n_tags] = strdup(e->valuestring))) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", where);
        r->n_tags++;
    }
    return MMF_OK;
}

mmf_status mmf_records_load(const char *path, const char *label_field, mmf_records *out) {
    memset(out, 0, sizeof *out);
    if (!label_field) label_field = "label";
    char *buf;
    size_t len;
    mmf_status s = mmf_read_file(path, (size_t)1 << 30, &buf, &len);
    if (s) return s;
    /* folder of the file, for relative image paths */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) slash[1] = 0; else dir[0] = 0;
    size_t cap = 0;
    long line = 0;
    char *p = buf;
    while (!s && p < buf + len) {
        char *nl = memchr(p, '\n', (size_t)(buf + len - p));
        char *end = nl ? nl : buf + len;
        line++;
        *end = 0;
        char *q = p;
        while (*q == ' ' || *q == '\t' || *q == '\r') q++;
        if (*q) {
            char name[4200];
            snprintf(name, sizeof name, "%s:%ld", path, line);
            cJSON *o;
            s = mmf_json_parse(q, strlen(q), name, &o);
            if (!s && !cJSON_IsObject(o)) {
                s = mmf_fail(MMF_ERR_FORMAT, "%s: expected a JSON object per line", name);
                cJSON_Delete(o);
            }
            if (!s) {
                if (out->n == cap) {
                    cap = cap ? 2 * cap : 256;
                    mmf_record *nr = realloc(out->r, cap * sizeof *nr);
                    if (!nr) { cJSON_Delete(o); s = mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", path); break; }
                    out->r = nr;
                }
                mmf_record *r = &out->r[out->n++];
                memset(r, 0, sizeof *r);
                r->id = dup_field(o, "id");
                r->text = dup_field(o, "text");
                r->label = dup_field(o, label_field);
                char *img = dup_field(o, "image");
                if (img && img[0] != '/' && dir[0]) {
                    size_t n = strlen(dir) + strlen(img) + 1;
                    r->image = malloc(n);
                    if (r->image) snprintf(r->image, n, "%s%s", dir, img);
                    free(img);
                } else r->image = img;
                s = read_tags(o, r, name);
                cJSON_Delete(o);
            }
        }
        p = end + 1;
    }
    free(buf);
    if (!s && out->n == 0) s = mmf_fail(MMF_ERR_FORMAT, "%s: no records", path);
    if (s) { mmf_records_free(out); return s; }
    out->path = strdup(path);
    return MMF_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

mmf_status mmf_records_label_set(const mmf_records *rs, const char ***labels, int *n) {
    const char **l = malloc((rs->n + 1) * sizeof *l);
    if (!l) return mmf_fail(MMF_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < rs->n; i++) if (rs->r[i].label) l[k++] = rs->r[i].label;
    qsort(l, k, sizeof *l, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < k; i++) if (u == 0 || strcmp(l[u - 1], l[i])) l[u++] = l[i];
    *labels = l;
    *n = (int)u;
    return MMF_OK;
}

int mmf_label_index(const char *const *labels, int n, const char *label) {
    if (!label) return -1;
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(labels[mid], label);
        if (!c) return mid;
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
}
