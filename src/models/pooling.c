/* Pooling and normalization as sentence-transformers does them, and the
 * sentence-transformers folder settings that choose them. */
#include "models/encoder.h"
#include "core/error.h"
#include "io/json.h"
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

void mmf_pool_tokens(mmf_pooling p, const float *h, const uint8_t *keep, int B, int T, int C, float *out) {
    for (int b = 0; b < B; b++) {
        const float *hb = h + (size_t)b * T * C;
        const uint8_t *kb = keep + (size_t)b * T;
        float *o = out + (size_t)b * C;
        if (p == MMF_POOL_CLS) { memcpy(o, hb, (size_t)C * sizeof(float)); continue; }
        if (p == MMF_POOL_MEAN) {
            /* sum in double: a long sequence of float adds drifts by more than 1e-6 */
            double acc[C];
            memset(acc, 0, sizeof acc);
            int n = 0;
            for (int t = 0; t < T; t++)
                if (kb[t]) { n++; for (int c = 0; c < C; c++) acc[c] += hb[(size_t)t * C + c]; }
            double div = n > 0 ? (double)n : 1e-9;
            for (int c = 0; c < C; c++) o[c] = (float)(acc[c] / div);
            continue;
        }
        /* max: padded positions count as -1e9 (sentence-transformers) */
        for (int c = 0; c < C; c++) o[c] = -1e9f;
        for (int t = 0; t < T; t++)
            if (kb[t])
                for (int c = 0; c < C; c++) { float v = hb[(size_t)t * C + c]; if (v > o[c]) o[c] = v; }
    }
}

void mmf_l2_normalize_rows(float *x, size_t n, int d) {
    for (size_t i = 0; i < n; i++) {
        float *r = x + i * (size_t)d;
        double s = 0;
        for (int c = 0; c < d; c++) s += (double)r[c] * r[c];
        double nrm = sqrt(s);
        float inv = (float)(1.0 / (nrm > 1e-12 ? nrm : 1e-12));
        for (int c = 0; c < d; c++) r[c] *= inv;
    }
}

static int exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

static mmf_status read_pooling(const char *path, mmf_pooling *pool) {
    cJSON *root;
    mmf_status s = mmf_json_load(path, &root);
    if (s) return s;
    int cls = 0, mean = 0, mx = 0, sq = 0, wt = 0, last = 0;
    const char *mode = NULL;
    s = mmf_json_bool(root, "pooling_mode_cls_token", 0, path, &cls);
    if (!s) s = mmf_json_bool(root, "pooling_mode_mean_tokens", 0, path, &mean);
    if (!s) s = mmf_json_bool(root, "pooling_mode_max_tokens", 0, path, &mx);
    if (!s) s = mmf_json_bool(root, "pooling_mode_mean_sqrt_len_tokens", 0, path, &sq);
    if (!s) s = mmf_json_bool(root, "pooling_mode_weightedmean_tokens", 0, path, &wt);
    if (!s) s = mmf_json_bool(root, "pooling_mode_lasttoken", 0, path, &last);
    if (!s) s = mmf_json_str(root, "pooling_mode", NULL, path, &mode);
    if (s) { cJSON_Delete(root); return s; }
    if (mode) {
        cls = !strcmp(mode, "cls");
        mean = !strcmp(mode, "mean");
        mx = !strcmp(mode, "max");
        if (!cls && !mean && !mx) {
            s = mmf_fail(MMF_ERR_UNSUPPORTED, "%s: pooling_mode \"%s\" (supported: cls, mean, max)", path, mode);
            cJSON_Delete(root);
            return s;
        }
    }
    cJSON_Delete(root);
    if (sq || wt || last)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: mean_sqrt_len, weightedmean and lasttoken pooling are not supported (cls, mean, max are)", path);
    if (cls + mean + mx != 1)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: exactly one of pooling_mode_cls_token, _mean_tokens, _max_tokens should be true (got %d)",
                        path, cls + mean + mx);
    *pool = cls ? MMF_POOL_CLS : mean ? MMF_POOL_MEAN : MMF_POOL_MAX;
    return MMF_OK;
}

mmf_status mmf_st_folder_settings(const char *dir, mmf_pooling *pool, int *normalize, int *max_seq_length) {
    char path[4096];
    snprintf(path, sizeof path, "%s/sentence_bert_config.json", dir);
    if (exists(path)) {
        cJSON *c;
        mmf_status s = mmf_json_load(path, &c);
        if (s) return s;
        int64_t ml = 0;
        s = mmf_json_int(c, "max_seq_length", 0, 0, 1 << 24, path, &ml);
        cJSON_Delete(c);
        if (s) return s;
        if (ml > 0) *max_seq_length = (int)ml;
    }
    snprintf(path, sizeof path, "%s/modules.json", dir);
    if (!exists(path)) return MMF_OK;
    cJSON *mods;
    mmf_status s = mmf_json_load(path, &mods);
    if (s) return s;
    if (!cJSON_IsArray(mods)) { cJSON_Delete(mods); return mmf_fail(MMF_ERR_FORMAT, "%s: should be an array of modules", path); }
    int k = 0;
    for (const cJSON *m = mods->child; m; m = m->next, k++) {
        const char *type = NULL, *sub = "";
        s = mmf_json_str(m, "type", NULL, path, &type);
        if (!s) s = mmf_json_str(m, "path", "", path, &sub);
        if (s) { cJSON_Delete(mods); return s; }
        if (!type) { cJSON_Delete(mods); return mmf_fail(MMF_ERR_FORMAT, "%s: module %d has no \"type\"", path, k); }
        if (strstr(type, "Pooling")) {
            char pp[4096];
            if (strstr(sub, "..")) { cJSON_Delete(mods); return mmf_fail(MMF_ERR_FORMAT, "%s: module path \"%s\" leaves the folder", path, sub); }
            snprintf(pp, sizeof pp, "%s/%s/config.json", dir, sub);
            if ((s = read_pooling(pp, pool))) { cJSON_Delete(mods); return s; }
        } else if (strstr(type, "Normalize")) {
            *normalize = 1;
        } else if (!strstr(type, "Transformer")) {
            /* e.g. a Dense projection: silently skipping it would give wrong embeddings */
            cJSON_Delete(mods);
            return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: module %d has type \"%s\" (supported: Transformer, Pooling, Normalize)",
                            path, k, type);
        }
    }
    cJSON_Delete(mods);
    return MMF_OK;
}
