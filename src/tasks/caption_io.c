/* Saving and loading captioners: one safetensors file, decoder parameters under
 * "dec.*", the fusion operator's under "fusion.<its name>", and the JSON config
 * (with the vocabulary) in __metadata__["mmfuse.caption"]. */
#include "tasks/caption_model.h"
#include "core/error.h"
#include "io/json.h"
#include "io/model_file.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *inject_name(int k) { return k == 3 ? "both" : k == 1 ? "init" : "input"; }

static char *config_json(const mmf_captioner *c) {
    const cap_cfg *k = &c->cfg;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "format", "mmfuse.caption/1");
    cJSON_AddStringToObject(o, "cell", k->cell == MMF_CELL_LSTM ? "lstm" : "gru");
    cJSON_AddStringToObject(o, "inject", inject_name(k->inject));
    cJSON_AddNumberToObject(o, "hidden", k->hidden);
    cJSON_AddNumberToObject(o, "embed", k->embed);
    cJSON_AddNumberToObject(o, "max_len", k->max_len);
    cJSON_AddNumberToObject(o, "dropout", k->dropout);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)k->seed);
    cJSON_AddStringToObject(o, "seed", seed);
    cJSON *mods = cJSON_AddArrayToObject(o, "modalities");
    for (int m = 0; m < k->M; m++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", k->names[m]);
        cJSON_AddNumberToObject(e, "dim", (double)k->dims[m]);
        cJSON_AddStringToObject(e, "encoder", k->encoders[m]);
        cJSON_AddItemToArray(mods, e);
    }
    if (c->fusion) {
        const fz_config *f = &c->fusion->cfg;
        cJSON *fo = cJSON_AddObjectToObject(o, "fusion");
        cJSON_AddStringToObject(fo, "op", f->op);
        fz_config_sizes_to_json(fo, f);
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)f->seed);
        cJSON_AddStringToObject(fo, "seed", seed);
    }
    cJSON *voc = cJSON_AddArrayToObject(o, "vocab");
    for (int32_t i = 0; i < c->vocab->n; i++) cJSON_AddItemToArray(voc, cJSON_CreateString(mmf_caption_vocab_word(c->vocab, i)));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

mmf_status mmf_captioner_save(const mmf_captioner *c, const char *path) {
    char *cfg = config_json(c);
    const mmf_params *sets[] = {&c->ps, c->fusion ? &c->fusion->ps : NULL};
    mmf_status s = fz_model_save(path, "mmfuse.caption", cfg, c->fusion ? 2 : 1, sets, (const char *const[]){"", "fusion."});
    free(cfg);
    return s;
}

static mmf_status get_int(const cJSON *o, const char *key, int64_t lo, int64_t hi, const char *file, int *out) {
    int64_t v;
    mmf_status s = mmf_json_int_req(o, key, lo, hi, file, &v);
    if (!s) *out = (int)v;
    return s;
}

static mmf_status parse_config(const char *path, const char *text, cap_cfg *k, fz_config *fz, mmf_caption_vocab **vocab) {
    cJSON *o;
    mmf_status s = mmf_json_parse(text, strlen(text), path, &o);
    if (s) return s;
    memset(k, 0, sizeof *k);
    memset(fz, 0, sizeof *fz);
    char file[700];
    snprintf(file, sizeof file, "%s: __metadata__ \"mmfuse.caption\"", path);
    const char *fmt, *cell, *inj, *seed;
    double d;
    s = mmf_json_str(o, "format", NULL, file, &fmt);
    if (!s && (!fmt || strcmp(fmt, "mmfuse.caption/1"))) s = mmf_fail(MMF_ERR_UNSUPPORTED, "%s: field \"format\": expected \"mmfuse.caption/1\"", file);
    if (!s) s = mmf_json_str(o, "cell", NULL, file, &cell);
    if (!s) {
        if (cell && !strcmp(cell, "gru")) k->cell = MMF_CELL_GRU;
        else if (cell && !strcmp(cell, "lstm")) k->cell = MMF_CELL_LSTM;
        else s = mmf_fail(MMF_ERR_FORMAT, "%s: field \"cell\": expected \"gru\" or \"lstm\"", file);
    }
    if (!s) s = mmf_json_str(o, "inject", NULL, file, &inj);
    if (!s) {
        if (inj && !strcmp(inj, "both")) k->inject = 3;
        else if (inj && !strcmp(inj, "init")) k->inject = MMF_INJECT_INIT;
        else if (inj && !strcmp(inj, "input")) k->inject = MMF_INJECT_INPUT;
        else s = mmf_fail(MMF_ERR_FORMAT, "%s: field \"inject\": expected \"init\", \"input\" or \"both\"", file);
    }
    if (!s) s = get_int(o, "hidden", 1, 8192, file, &k->hidden);
    if (!s) s = get_int(o, "embed", 1, 8192, file, &k->embed);
    if (!s) s = get_int(o, "max_len", 1, CAP_MAX_LEN, file, &k->max_len);
    if (!s) { s = mmf_json_num(o, "dropout", 0.0, file, &d); k->dropout = (float)d; }
    if (!s) s = mmf_json_str(o, "seed", "1", file, &seed);
    if (!s) k->seed = strtoull(seed, NULL, 10);
    const cJSON *mods = cJSON_GetObjectItemCaseSensitive(o, "modalities");
    if (!s && (!cJSON_IsArray(mods) || cJSON_GetArraySize(mods) < 1 || cJSON_GetArraySize(mods) > FZ_MAXM))
        s = mmf_fail(MMF_ERR_FORMAT, "%s: field \"modalities\": expected an array of 1..%d objects", file, FZ_MAXM);
    for (int m = 0; !s && m < cJSON_GetArraySize(mods); m++) {
        const cJSON *e = cJSON_GetArrayItem(mods, m);
        const char *nm, *enc;
        s = mmf_json_str(e, "name", NULL, file, &nm);
        if (!s && (!nm || !nm[0] || strlen(nm) > 64)) s = mmf_fail(MMF_ERR_FORMAT, "%s: modality %d has no valid \"name\"", file, m);
        for (int q = 0; !s && q < m; q++)
            if (!strcmp(k->names[q], nm)) s = mmf_fail(MMF_ERR_FORMAT, "%s: modality \"%s\" is listed twice", file, nm);
        if (!s) { snprintf(k->names[m], sizeof k->names[m], "%s", nm); s = mmf_json_int_req(e, "dim", 1, 1 << 20, file, &k->dims[m]); }
        if (!s) s = mmf_json_str(e, "encoder", "", file, &enc);
        if (!s && strlen(enc) >= CAP_ENC_PATH) s = mmf_fail(MMF_ERR_FORMAT, "%s: modality \"%s\": encoder path too long", file, nm);
        if (!s) snprintf(k->encoders[m], CAP_ENC_PATH, "%s", enc);
        k->M = m + 1;
    }
    const cJSON *fo = cJSON_GetObjectItemCaseSensitive(o, "fusion");
    if (!s && k->M >= 2) {
        const char *op;
        char ffile[760];
        snprintf(ffile, sizeof ffile, "%s.fusion", file);
        if (!cJSON_IsObject(fo)) s = mmf_fail(MMF_ERR_FORMAT, "%s: field \"fusion\": expected an object (%d modalities)", file, k->M);
        if (!s) s = mmf_json_str(fo, "op", NULL, ffile, &op);
        if (!s && (!op || strlen(op) >= sizeof fz->op)) s = mmf_fail(MMF_ERR_FORMAT, "%s: field \"op\" missing", ffile);
        if (!s) {
            snprintf(fz->op, sizeof fz->op, "%s", op);
            fz->task = MMF_TASK_MULTILABEL;
            fz->n_out = 1;
            fz->M = k->M;
            memcpy(fz->names, k->names, sizeof fz->names);
            memcpy(fz->dims, k->dims, sizeof fz->dims);
            s = fz_config_sizes_from_json(fo, ffile, fz);
        }
    }
    const cJSON *voc = cJSON_GetObjectItemCaseSensitive(o, "vocab");
    if (!s && (!cJSON_IsArray(voc) || cJSON_GetArraySize(voc) < CAP_N_SPECIAL || cJSON_GetArraySize(voc) > (1 << 22)))
        s = mmf_fail(MMF_ERR_FORMAT, "%s: field \"vocab\": expected an array of %d..%d strings", file, CAP_N_SPECIAL, 1 << 22);
    if (!s) {
        int n = cJSON_GetArraySize(voc);
        const char **w = malloc((size_t)n * sizeof *w);
        if (!w) s = mmf_fail(MMF_ERR_NOMEM, "out of memory");
        for (int i = 0; !s && i < n; i++) {
            const cJSON *e = cJSON_GetArrayItem(voc, i);
            w[i] = cJSON_IsString(e) ? e->valuestring : NULL;
        }
        if (!s) s = cap_vocab_from_list(w, n, file, vocab);
        free(w);
    }
    cJSON_Delete(o);
    return s;
}

mmf_status mmf_captioner_load(const char *path, mmf_captioner **out) {
    *out = NULL;
    mmf_safetensors *st;
    const char *meta;
    MMF_TRY(mmf_model_file_open(path, "mmfuse.caption", "captioner", &st, &meta));
    cap_cfg k;
    fz_config fz;
    mmf_caption_vocab *vocab = NULL;
    mmf_captioner *c = NULL;
    mmf_status s = parse_config(path, meta, &k, &fz, &vocab);
    if (!s) {
        s = cap_build(&k, &fz, vocab, &c);   /* takes vocab */
        vocab = NULL;
        if (s && !strstr(mmf_last_error(), path)) mmf_fail_wrap(s, "%s", path);
    }
    if (!s) s = fz_params_read(st, &c->ps, "", path, 1);
    if (!s && c->fusion) s = fz_params_read(st, &c->fusion->ps, "fusion.", path, 1);
    if (!s) {
        size_t want = (size_t)c->ps.n + (c->fusion ? (size_t)c->fusion->ps.n : 0);
        if (mmf_st_count(st) != want) s = mmf_fail(MMF_ERR_FORMAT, "%s: %zu tensors, the config declares %zu", path, mmf_st_count(st), want);
    }
    mmf_caption_vocab_free(vocab);
    mmf_st_close(st);
    if (s) { mmf_captioner_free(c); return s; }
    *out = c;
    return MMF_OK;
}
