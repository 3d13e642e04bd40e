#include "cli_index_shards.h"
#include "cli.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MANIFEST_FORMAT "mmfuse-index-shards"

void cli_sindex_shard_name(const char *path, int r, int n, char *out, size_t cap) {
    snprintf(out, cap, "%s.shard-%05d-of-%05d", path, r, n);
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

int cli_sindex_write_manifest(const char *cmd, const char *path, int n, const char *const *files, const size_t *counts,
                              const mmf_index_info *info) {
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "format", MANIFEST_FORMAT);
    cJSON_AddNumberToObject(o, "version", 1);
    cJSON_AddStringToObject(o, "kind", info->kind == MMF_INDEX_HNSW ? "hnsw" : "flat");
    cJSON_AddStringToObject(o, "metric", mmf_metric_name(info->metric));
    cJSON_AddNumberToObject(o, "dim", info->dim);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "file", base_name(files[i]));
        cJSON_AddNumberToObject(e, "count", (double)counts[i]);
        cJSON_AddItemToArray(arr, e);
        total += counts[i];
    }
    cJSON_AddNumberToObject(o, "count", (double)total);
    cJSON_AddItemToObject(o, "shards", arr);
    char *js = cJSON_Print(o);
    cJSON_Delete(o);
    if (!js) { fprintf(stderr, "mmfuse %s: out of memory\n", cmd); return 0; }
    size_t len = strlen(js);
    char *t = realloc(js, len + 2);
    if (t) { js = t; js[len++] = '\n'; js[len] = 0; }
    mmf_status s = mmf_write_file_atomic(path, js, len);
    free(js);
    if (s) { fprintf(stderr, "mmfuse %s: error: %s\n", cmd, mmf_last_error()); return 0; }
    return 1;
}

static int same_info(const mmf_index_info *a, const mmf_index_info *b) {
    return a->dim == b->dim && a->metric == b->metric && a->kind == b->kind;
}

static int same_str(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

/* a manifest is JSON; an index file starts with its binary magic */
static char *read_manifest(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    int c = fgetc(f);
    if (c != '{') { fclose(f); return NULL; }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    if (len < 0 || len > (1L << 26)) { fclose(f); return NULL; }
    char *b = malloc((size_t)len + 1);
    fseek(f, 0, SEEK_SET);
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) { free(b); b = NULL; }
    if (b) b[len] = 0;
    fclose(f);
    return b;
}

int cli_sindex_open(const char *cmd, const char *path, int one_rank_each, int rank, int size, cli_sindex *s) {
    memset(s, 0, sizeof *s);
    char *js = read_manifest(path);
    if (!js) {   /* a plain index file */
        s->ix = calloc(1, sizeof *s->ix);
        if (!s->ix) return 0;
        mmf_status st = mmf_index_open(path, &s->ix[0]);
        if (st) { cli_fail(cmd, st, "cannot open the index"); cli_sindex_free(s); return 0; }
        s->n_open = s->n_shards = 1;
        mmf_index_get_info(s->ix[0], &s->info);
        return 1;
    }
    cJSON *o = cJSON_Parse(js);
    free(js);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(o, "format"), *sh = cJSON_GetObjectItemCaseSensitive(o, "shards");
    int n = cJSON_IsArray(sh) ? cJSON_GetArraySize(sh) : 0;
    if (!o || !cJSON_IsString(fmt) || strcmp(fmt->valuestring, MANIFEST_FORMAT) || n < 1) {
        fprintf(stderr, "mmfuse %s: error: %s is neither an index file nor a shard manifest (\"format\": \"%s\" with \"shards\")\n",
                cmd, path, MANIFEST_FORMAT);
        cJSON_Delete(o);
        return 0;
    }
    s->is_manifest = 1;
    s->n_shards = n;
    int lo = 0, hi = n;
    if (one_rank_each && size == n) { lo = rank; hi = rank + 1; }
    s->first = lo;
    s->ix = calloc((size_t)n, sizeof *s->ix);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) slash[1] = 0; else dir[0] = 0;
    int ok = s->ix != NULL;
    for (int i = lo; ok && i < hi; i++) {
        const cJSON *e = cJSON_GetArrayItem(sh, i), *f = cJSON_GetObjectItemCaseSensitive(e, "file");
        if (!cJSON_IsString(f) || strchr(f->valuestring, '/')) {
            fprintf(stderr, "mmfuse %s: error: %s: shard %d has no \"file\" (a name in the manifest's folder)\n", cmd, path, i);
            ok = 0;
            break;
        }
        char p[8192];
        snprintf(p, sizeof p, "%s%s", dir, f->valuestring);
        mmf_status st = mmf_index_open(p, &s->ix[s->n_open]);
        if (st) { fprintf(stderr, "mmfuse %s: error: shard %d of %s: %s\n", cmd, i, path, mmf_last_error()); ok = 0; break; }
        mmf_index_info in;
        mmf_index_get_info(s->ix[s->n_open], &in);
        const char *m0, *t0, *m1, *t1;
        if (s->n_open) {
            mmf_index_get_source(s->ix[0], &m0, &t0);
            mmf_index_get_source(s->ix[s->n_open], &m1, &t1);
        }
        if (s->n_open && (!same_info(&s->info, &in) || !same_str(m0, m1) || !same_str(t0, t1))) {
            fprintf(stderr, "mmfuse %s: error: %s: shard %d (%s) differs from the first in dimension, metric, kind or source model\n",
                    cmd, path, i, p);
            ok = 0;
        }
        if (!s->n_open) s->info = in;
        else { s->info.count += in.count; s->info.deleted += in.deleted; s->info.bytes += in.bytes; }
        s->n_open++;
    }
    const cJSON *cnt = cJSON_GetObjectItemCaseSensitive(o, "count");
    if (ok && lo == 0 && hi == n && cJSON_IsNumber(cnt) && (size_t)cnt->valuedouble != s->info.count + s->info.deleted &&
        (size_t)cnt->valuedouble != s->info.count) {
        fprintf(stderr, "mmfuse %s: error: %s says %.0f vectors, its shards hold %zu\n", cmd, path, cnt->valuedouble, s->info.count);
        ok = 0;
    }
    cJSON_Delete(o);
    if (!ok) { cli_sindex_free(s); return 0; }
    return 1;
}

void cli_sindex_free(cli_sindex *s) {
    for (int i = 0; s->ix && i < s->n_open; i++) mmf_index_free(s->ix[i]);
    free(s->ix);
    memset(s, 0, sizeof *s);
}

static int better(mmf_metric m, float a, float b) { return m == MMF_METRIC_L2 ? a < b : a > b; }

void cli_sindex_merge(mmf_metric metric, size_t nq, int k, int m, const int64_t *const *lid, const float *const *lsc,
                      int64_t *ids, float *scores) {
    int pos[256];
    int *at = m <= 256 ? pos : malloc((size_t)m * sizeof *at);
    for (size_t q = 0; q < nq; q++) {
        for (int i = 0; i < m; i++) at[i] = 0;
        const size_t base = q * (size_t)k;
        for (int j = 0; j < k; j++) {
            int pick = -1;
            /* each list is best first: take the best head; equal scores go by the lower id */
            for (int i = 0; i < m; i++) {
                if (at[i] >= k || lid[i][base + (size_t)at[i]] < 0) continue;
                if (pick < 0) { pick = i; continue; }
                float a = lsc[i][base + (size_t)at[i]], b = lsc[pick][base + (size_t)at[pick]];
                if (better(metric, a, b) || (a == b && lid[i][base + (size_t)at[i]] < lid[pick][base + (size_t)at[pick]])) pick = i;
            }
            if (pick < 0) { ids[base + (size_t)j] = -1; scores[base + (size_t)j] = NAN; continue; }
            ids[base + (size_t)j] = lid[pick][base + (size_t)at[pick]];
            scores[base + (size_t)j] = lsc[pick][base + (size_t)at[pick]];
            at[pick]++;
        }
    }
    if (at != pos) free(at);
}

mmf_status cli_sindex_search_one(const mmf_index *ix, size_t nq, const float *q, int k, const mmf_search_params *sp,
                                 int64_t *ids, float *scores) {
    mmf_index_info in;
    mmf_index_get_info(ix, &in);
    if (in.count == 0) {   /* a shard with nothing in it (more ranks than rows): no results, not an error */
        for (size_t i = 0; i < nq * (size_t)k; i++) { ids[i] = -1; scores[i] = NAN; }
        return MMF_OK;
    }
    return mmf_index_search(ix, nq, q, k, sp, ids, scores);
}

mmf_status cli_sindex_search(const cli_sindex *s, size_t nq, const float *q, int k, const mmf_search_params *sp,
                             int64_t *ids, float *scores) {
    if (s->n_open == 1) return mmf_index_search(s->ix[0], nq, q, k, sp, ids, scores);   /* its own errors, e.g. empty */
    int m = s->n_open;
    size_t per = (nq ? nq : 1) * (size_t)k;
    int64_t **lid = calloc((size_t)m, sizeof *lid);
    float **lsc = calloc((size_t)m, sizeof *lsc);
    mmf_status st = lid && lsc ? MMF_OK : MMF_ERR_NOMEM;
    for (int i = 0; !st && i < m; i++) {
        lid[i] = malloc(per * sizeof **lid);
        lsc[i] = malloc(per * sizeof **lsc);
        st = lid[i] && lsc[i] ? cli_sindex_search_one(s->ix[i], nq, q, k, sp, lid[i], lsc[i]) : MMF_ERR_NOMEM;
    }
    if (!st) cli_sindex_merge(s->info.metric, nq, k, m, (const int64_t *const *)lid, (const float *const *)lsc, ids, scores);
    for (int i = 0; i < m && lid && lsc; i++) { free(lid[i]); free(lsc[i]); }
    free(lid);
    free(lsc);
    return st;
}

const char *cli_sindex_item_name(const cli_sindex *s, int64_t id) {
    for (int i = 0; i < s->n_open; i++) {
        const char *n = mmf_index_item_name(s->ix[i], id);
        if (n) return n;
    }
    return NULL;
}

const char *cli_sindex_item_payload(const cli_sindex *s, int64_t id) {
    for (int i = 0; i < s->n_open; i++) {
        const char *n = mmf_index_item_payload(s->ix[i], id);
        if (n) return n;
    }
    return NULL;
}
