/* The text tower on the tape (textnet.h): BERT-layout parameters, forward,
 * saving with BertModel tensor names. */
#include "direct/textnet.h"
#include "direct/hf_folder.h"
#include "core/error.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void textnet_free(textnet *m) { mmf_params_free(&m->ps); }

static int add(textnet *m, const char *name, int ndim, int64_t d0, int64_t d1, mmf_init init, float scale) {
    int64_t sh[2] = {d0, d1};
    return mmf_params_add(&m->ps, name, ndim, sh, init, scale);
}

/* BERT initialisation: N(0, 0.02) weights, zero biases, LN (1, 0) */
static mmf_status decl_linear(textnet *m, const char *name, int64_t out, int64_t in) {
    char n[300];
    snprintf(n, sizeof n, "%s.weight", name);
    if (add(m, n, 2, out, in, MMF_INIT_NORMAL, 0.02f) < 0) return MMF_ERR_ARG;
    snprintf(n, sizeof n, "%s.bias", name);
    return add(m, n, 1, out, 0, MMF_INIT_ZERO, 0) < 0 ? MMF_ERR_ARG : MMF_OK;
}
static mmf_status decl_ln(textnet *m, const char *name, int64_t C) {
    char n[300];
    snprintf(n, sizeof n, "%s.weight", name);
    if (add(m, n, 1, C, 0, MMF_INIT_ONE, 0) < 0) return MMF_ERR_ARG;
    snprintf(n, sizeof n, "%s.bias", name);
    return add(m, n, 1, C, 0, MMF_INIT_ZERO, 0) < 0 ? MMF_ERR_ARG : MMF_OK;
}

mmf_status textnet_init(textnet *m, const textnet_config *cfg, uint64_t seed) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    const textnet_config *c = cfg;
    if (c->vocab < 6 || c->hidden < 4 || c->heads < 1 || c->hidden % c->heads || c->layers < 1 || c->max_pos < 4)
        return mmf_fail(MMF_ERR_ARG, "text tower: vocab %d, hidden %d, heads %d (must divide hidden), layers %d, positions %d",
                        c->vocab, c->hidden, c->heads, c->layers, c->max_pos);
    mmf_params_init(&m->ps);
    mmf_status s = MMF_OK;
    if (add(m, "embeddings.word_embeddings.weight", 2, c->vocab, c->hidden, MMF_INIT_NORMAL, 0.02f) < 0 ||
        add(m, "embeddings.position_embeddings.weight", 2, c->max_pos, c->hidden, MMF_INIT_NORMAL, 0.02f) < 0 ||
        add(m, "embeddings.token_type_embeddings.weight", 2, 1, c->hidden, MMF_INIT_NORMAL, 0.02f) < 0)
        return MMF_ERR_ARG;
    s = decl_ln(m, "embeddings.LayerNorm", c->hidden);
    for (int l = 0; l < c->layers && !s; l++) {
        char n[256];
#define N(fmt) (snprintf(n, sizeof n, "encoder.layer.%d." fmt, l), n)
        s = decl_linear(m, N("attention.self.query"), c->hidden, c->hidden);
        if (!s) s = decl_linear(m, N("attention.self.key"), c->hidden, c->hidden);
        if (!s) s = decl_linear(m, N("attention.self.value"), c->hidden, c->hidden);
        if (!s) s = decl_linear(m, N("attention.output.dense"), c->hidden, c->hidden);
        if (!s) s = decl_ln(m, N("attention.output.LayerNorm"), c->hidden);
        if (!s) s = decl_linear(m, N("intermediate.dense"), c->ffn, c->hidden);
        if (!s) s = decl_linear(m, N("output.dense"), c->hidden, c->ffn);
        if (!s) s = decl_ln(m, N("output.LayerNorm"), c->hidden);
#undef N
    }
    if (!s && c->n_classes > 0) s = decl_linear(m, "classifier", c->n_classes, c->hidden);
    if (s) return s;
    mmf_rng r;
    mmf_rng_seed(&r, seed);
    return mmf_params_alloc(&m->ps, &r);
}

static mmf_var P(mmf_tape *tp, textnet *m, const char *name) {
    int i = mmf_params_find(&m->ps, name);
    if (i < 0) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_ARG, "text tower: no parameter %s", name));
    return mmf_t_param(tp, &m->ps, i);
}

static mmf_var lin(mmf_tape *tp, textnet *m, const char *name, mmf_var x) {
    char w[300], b[300];
    snprintf(w, sizeof w, "%s.weight", name);
    snprintf(b, sizeof b, "%s.bias", name);
    return mmf_t_linear(tp, x, P(tp, m, w), P(tp, m, b));
}

static mmf_var ln(mmf_tape *tp, textnet *m, const char *name, mmf_var x) {
    char w[300], b[300];
    snprintf(w, sizeof w, "%s.weight", name);
    snprintf(b, sizeof b, "%s.bias", name);
    return mmf_t_layernorm(tp, x, P(tp, m, w), P(tp, m, b), m->cfg.eps);
}

mmf_var textnet_forward(mmf_tape *tp, textnet *m, const int32_t *ids, const uint8_t *keep, int B, int T, mmf_var *pooled) {
    const textnet_config *c = &m->cfg;
    int64_t n = (int64_t)B * T;
    int32_t *pos = mmf_tape_scratch(tp, (size_t)n * 2 * sizeof(int32_t) + 64);
    float *wmean = mmf_tape_scratch(tp, (size_t)n * sizeof(float) + 64);
    if (!pos || !wmean) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "text tower: out of memory"));
    int32_t *zero = pos + n;
    for (int b = 0; b < B; b++) {
        int len = 0;
        for (int t = 0; t < T; t++) len += keep[b * T + t] != 0;
        for (int t = 0; t < T; t++) {
            pos[b * T + t] = t;
            zero[b * T + t] = 0;
            wmean[b * T + t] = keep[b * T + t] && len ? 1.0f / (float)len : 0.0f;
        }
    }
    mmf_var x = mmf_t_add(tp, mmf_t_embedding(tp, P(tp, m, "embeddings.word_embeddings.weight"), ids, n),
                          mmf_t_embedding(tp, P(tp, m, "embeddings.position_embeddings.weight"), pos, n));
    x = mmf_t_add(tp, x, mmf_t_embedding(tp, P(tp, m, "embeddings.token_type_embeddings.weight"), zero, n));
    x = mmf_t_dropout(tp, ln(tp, m, "embeddings.LayerNorm", x), c->dropout);
    x = mmf_t_reshape(tp, x, 3, (int64_t[]){B, T, c->hidden});
    for (int l = 0; l < c->layers; l++) {
        char n1[96], n2[96];
#define N(buf, fmt) (snprintf(buf, sizeof buf, "encoder.layer.%d." fmt, l), buf)
        mmf_var q = lin(tp, m, N(n1, "attention.self.query"), x);
        mmf_var k = lin(tp, m, N(n1, "attention.self.key"), x);
        mmf_var v = lin(tp, m, N(n1, "attention.self.value"), x);
        mmf_var a = mmf_t_attention(tp, q, k, v, c->heads, keep, 0);
        a = mmf_t_dropout(tp, lin(tp, m, N(n1, "attention.output.dense"), a), c->dropout);
        x = ln(tp, m, N(n2, "attention.output.LayerNorm"), mmf_t_add(tp, x, a));
        mmf_var f = mmf_t_gelu(tp, lin(tp, m, N(n1, "intermediate.dense"), x));
        f = mmf_t_dropout(tp, lin(tp, m, N(n1, "output.dense"), f), c->dropout);
        x = ln(tp, m, N(n2, "output.LayerNorm"), mmf_t_add(tp, x, f));
#undef N
    }
    /* mean over the real tokens: [B,1,T] @ [B,T,H] */
    mmf_var w = mmf_t_const(tp, wmean, 3, (int64_t[]){B, 1, T});
    mmf_var pl = mmf_t_reshape(tp, mmf_t_matmul(tp, w, x, 0, 0), 2, (int64_t[]){B, c->hidden});
    if (pooled) *pooled = pl;
    if (c->n_classes <= 0) return -1;
    return lin(tp, m, "classifier", mmf_t_dropout(tp, pl, c->dropout));
}

mmf_status textnet_save(const textnet *m, const char *dir, const char *const *labels) {
    const textnet_config *c = &m->cfg;
    cJSON *o = mmf_hf_config_new("mmfuse_text", "MmfuseTextModel");
    cJSON_AddNumberToObject(o, "vocab_size", c->vocab);
    cJSON_AddNumberToObject(o, "hidden_size", c->hidden);
    cJSON_AddNumberToObject(o, "num_hidden_layers", c->layers);
    cJSON_AddNumberToObject(o, "num_attention_heads", c->heads);
    cJSON_AddNumberToObject(o, "intermediate_size", c->ffn);
    cJSON_AddNumberToObject(o, "max_position_embeddings", c->max_pos);
    cJSON_AddNumberToObject(o, "type_vocab_size", 1);
    cJSON_AddStringToObject(o, "hidden_act", "gelu");
    cJSON_AddNumberToObject(o, "layer_norm_eps", c->eps);
    cJSON_AddNumberToObject(o, "hidden_dropout_prob", c->dropout);
    cJSON_AddNumberToObject(o, "pad_token_id", 0);
    cJSON_AddNumberToObject(o, "num_labels", c->n_classes);
    mmf_hf_add_id2label(o, labels, c->n_classes);
    mmf_status s = mmf_hf_write_json(dir, "config.json", o);
    cJSON_Delete(o);
    if (s) return s;
    mmf_st_writer *w;
    s = mmf_hf_model_begin(&m->ps, &w);
    if (!w) return s;
    return mmf_hf_model_finish(w, s, dir);
}
