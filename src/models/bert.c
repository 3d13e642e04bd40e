/* BERT family (BERT, MiniLM, BGE, E5, ...): Hugging Face BertModel semantics.
 * embeddings = LN(word[id] + position[t] + token_type[type]); L post-norm
 * transformer layers (models/transformer.h); pooler = tanh(dense(h[:, 0])).
 * Tensor names with or without the "bert." prefix; F32/F16/BF16 storage;
 * single or sharded safetensors. All parameters live in one block (q, k, v
 * read straight into the fused QKV rows); activations come from one arena
 * sized at load for (max_batch, max_length). */
#include "models/encoder.h"
#include "models/bert.h"
#include "models/transformer.h"
#include "core/arena.h"
#include "core/huge_alloc.h"
#include "core/error.h"
#include "core/tensor.h"
#include "core/ops.h"
#include "io/json.h"
#include "core/gemm_bf16.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct bert {
    int V, C, L, H, F, P, TV;
    int pos_from_ids;      /* RoBERTa: position ids from the input ids (see bert.h) */
    int pad;               /* config pad_token_id (padding_idx) */
    float eps;
    mmf_safetensors *st;   /* kept open: F32 tensors are used in place (zero copy) */
    float *params;         /* fused QKV and converted (F16/BF16) tensors */
    void *packed;          /* pre-packed matrices (fp32 panels, or bf16 for BF16 precision) */
    const float *wte, *wpe, *wtt, *eln_w, *eln_b, *pool_w, *pool_b;
    mmf_tf_layer_w *layers;
    mmf_tf_spec spec;
    mmf_arena arena;
    float *x, *scratch, *cls;
    int32_t *pos;          /* (max_batch, max_length) position ids */
} bert;


typedef struct wload {
    mmf_safetensors *st;
    const char *prefix;
    const char *where;   /* for messages: the folder */
    float *next;         /* next free float in the parameter block */
} wload;

/* Read tensor prefix+name, which must have shape (d0) or (d0, d1), into dst. */
static mmf_status wread(wload *w, const char *name, float *dst, int64_t d0, int64_t d1, const char *why) {
    char full[256];
    snprintf(full, sizeof full, "%s%s", w->prefix, name);
    const mmf_tensor_info *t = mmf_st_find(w->st, full);
    if (!t) return mmf_fail(MMF_ERR_NOT_FOUND, "%s: tensor \"%s\" is missing from the checkpoint", w->where, full);
    int ndim = d1 ? 2 : 1;
    if (t->ndim != ndim || t->shape[0] != d0 || (d1 && t->shape[1] != d1)) {
        char got[96], want[64];
        int64_t ws[2] = {d0, d1};
        mmf_shape_str(t->ndim, t->shape, got, sizeof got);
        mmf_shape_str(ndim, ws, want, sizeof want);
        return mmf_fail(MMF_ERR_SHAPE, "%s: tensor \"%s\" has shape %s but config.json (%s) implies %s", w->where, full, got,
                        why, want);
    }
    return mmf_st_read_f32(w->st, full, dst, (size_t)t->numel);
}

static mmf_status wtake(wload *w, const char *name, int64_t d0, int64_t d1, const char *why, const float **out) {
    char full[256];
    snprintf(full, sizeof full, "%s%s", w->prefix, name);
    const mmf_tensor_info *t = mmf_st_find(w->st, full);
    if (t && t->dtype == MMF_DT_F32 && ((uintptr_t)t->data % sizeof(float)) == 0 &&
        t->ndim == (d1 ? 2 : 1) && t->shape[0] == d0 && (!d1 || t->shape[1] == d1)) {
        /* little-endian F32 in the read-only mapping: use it where it lies, so
         * start-up reads only the pages a forward touches and RSS holds one copy */
        *out = t->data;
        return MMF_OK;
    }
    float *dst = w->next;
    MMF_TRY(wread(w, name, dst, d0, d1, why));
    w->next += d0 * (d1 ? d1 : 1);
    *out = dst;
    return MMF_OK;
}

mmf_status mmf_bert_size(mmf_encoder *e, int nt) {
    bert *m = e->impl;
    size_t B = (size_t)e->params.max_batch, T = (size_t)e->max_length, C = (size_t)m->C;
    size_t want[] = {B * T * C, mmf_tf_layer_scratch(&m->spec, (int)B, (int)T, nt), B * C, B * T};
    float **dst[] = {&m->x, &m->scratch, &m->cls, (float **)&m->pos};
    return mmf_arena_carve(&m->arena, 4, want, dst, e->dir);
}

static mmf_status load_weights(mmf_encoder *e, bert *m, mmf_safetensors *st, const char *prefix) {
    const int64_t V = m->V, C = m->C, F = m->F, P = m->P, TV = m->TV, L = m->L;
    wload w = {.st = st, .where = e->dir};
    char named[64];
    snprintf(named, sizeof named, "%sembeddings.word_embeddings.weight", prefix);
    if (mmf_st_find(st, named)) w.prefix = prefix;
    else if (mmf_st_find(st, "embeddings.word_embeddings.weight")) w.prefix = "";
    else
        return mmf_fail(MMF_ERR_NOT_FOUND, "%s: no %s embeddings in the checkpoint (looked for \"%s\" and \"embeddings.word_embeddings.weight\")",
                        e->dir, e->cfg.model_type, named);
    char pooler[64];
    snprintf(pooler, sizeof pooler, "%spooler.dense.weight", w.prefix);
    int has_pooler = mmf_st_find(st, pooler) != NULL;
    size_t per_layer = (size_t)(4 * C * C + 2 * C * F + 9 * C + F);
    size_t total = (size_t)((V + P + TV) * C + 2 * C) + (size_t)L * per_layer + (has_pooler ? (size_t)(C * C + C) : 0);
    m->params = mmf_alloc_huge(total * sizeof(float));   /* the fused QKV copies: 4 KiB faults would dominate start-up */
    m->layers = calloc((size_t)(L ? L : 1), sizeof *m->layers);
    if (!m->params || !m->layers) return mmf_fail(MMF_ERR_NOMEM, "%s: cannot allocate %zu parameters", e->dir, total);
    w.next = m->params;
    MMF_TRY(wtake(&w, "embeddings.word_embeddings.weight", V, C, "vocab_size x hidden_size", &m->wte));
    MMF_TRY(wtake(&w, "embeddings.position_embeddings.weight", P, C, "max_position_embeddings x hidden_size", &m->wpe));
    if (TV) MMF_TRY(wtake(&w, "embeddings.token_type_embeddings.weight", TV, C, "type_vocab_size x hidden_size", &m->wtt));
    MMF_TRY(wtake(&w, "embeddings.LayerNorm.weight", C, 0, "hidden_size", &m->eln_w));
    MMF_TRY(wtake(&w, "embeddings.LayerNorm.bias", C, 0, "hidden_size", &m->eln_b));
    for (int64_t l = 0; l < L; l++) {
        mmf_tf_layer_w *ly = &m->layers[l];
        char n[160];
#define NAME(fmt) (snprintf(n, sizeof n, "encoder.layer.%lld." fmt, (long long)l), n)
        float *qkv = w.next, *qkvb = w.next + 3 * C * C;
        MMF_TRY(wread(&w, NAME("attention.self.query.weight"), qkv, C, C, "hidden_size"));
        MMF_TRY(wread(&w, NAME("attention.self.key.weight"), qkv + C * C, C, C, "hidden_size"));
        MMF_TRY(wread(&w, NAME("attention.self.value.weight"), qkv + 2 * C * C, C, C, "hidden_size"));
        MMF_TRY(wread(&w, NAME("attention.self.query.bias"), qkvb, C, 0, "hidden_size"));
        MMF_TRY(wread(&w, NAME("attention.self.key.bias"), qkvb + C, C, 0, "hidden_size"));
        MMF_TRY(wread(&w, NAME("attention.self.value.bias"), qkvb + 2 * C, C, 0, "hidden_size"));
        ly->qkv_w = qkv;
        ly->qkv_b = qkvb;
        w.next += 3 * C * C + 3 * C;
        MMF_TRY(wtake(&w, NAME("attention.output.dense.weight"), C, C, "hidden_size", &ly->o_w));
        MMF_TRY(wtake(&w, NAME("attention.output.dense.bias"), C, 0, "hidden_size", &ly->o_b));
        MMF_TRY(wtake(&w, NAME("attention.output.LayerNorm.weight"), C, 0, "hidden_size", &ly->ln1_w));
        MMF_TRY(wtake(&w, NAME("attention.output.LayerNorm.bias"), C, 0, "hidden_size", &ly->ln1_b));
        MMF_TRY(wtake(&w, NAME("intermediate.dense.weight"), F, C, "intermediate_size x hidden_size", &ly->fc1_w));
        MMF_TRY(wtake(&w, NAME("intermediate.dense.bias"), F, 0, "intermediate_size", &ly->fc1_b));
        MMF_TRY(wtake(&w, NAME("output.dense.weight"), C, F, "hidden_size x intermediate_size", &ly->fc2_w));
        MMF_TRY(wtake(&w, NAME("output.dense.bias"), C, 0, "hidden_size", &ly->fc2_b));
        MMF_TRY(wtake(&w, NAME("output.LayerNorm.weight"), C, 0, "hidden_size", &ly->ln2_w));
        MMF_TRY(wtake(&w, NAME("output.LayerNorm.bias"), C, 0, "hidden_size", &ly->ln2_b));
#undef NAME
    }
    /* one layer past the config's count means config and checkpoint disagree */
    char extra[96];
    snprintf(extra, sizeof extra, "%sencoder.layer.%lld.attention.self.query.weight", w.prefix, (long long)L);
    if (mmf_st_find(st, extra))
        return mmf_fail(MMF_ERR_SHAPE, "%s: config.json says num_hidden_layers = %lld but the checkpoint has \"%s\"", e->dir,
                        (long long)L, extra);
    if (has_pooler) {
        MMF_TRY(wtake(&w, "pooler.dense.weight", C, C, "hidden_size", &m->pool_w));
        MMF_TRY(wtake(&w, "pooler.dense.bias", C, 0, "hidden_size", &m->pool_b));
    }
    return MMF_OK;
}

void mmf_bert_free(mmf_encoder *e) {
    bert *m = e->impl;
    if (!m) return;
    free(m->params);
    free(m->packed);
    free(m->layers);
    mmf_st_close(m->st);
    mmf_arena_free(&m->arena);
    free(m);
    e->impl = NULL;
}

mmf_status mmf_bert_load_variant(mmf_encoder *e, const char *prefix, int pos_from_ids) {
    const mmf_tf_config *c = &e->cfg.tf;
    bert *m = calloc(1, sizeof *m);
    if (!m) return mmf_fail(MMF_ERR_NOMEM, "bert: out of memory");
    e->impl = m;
    m->pos_from_ids = pos_from_ids;
    m->pad = (int)c->pad_token_id;
    m->V = (int)c->vocab_size; m->C = (int)c->hidden_size; m->L = (int)c->num_layers; m->H = (int)c->num_heads;
    m->F = (int)c->intermediate_size; m->P = (int)c->max_positions; m->TV = (int)c->type_vocab_size;
    m->eps = (float)c->layer_norm_eps;
    if (m->V < 1 || m->P < 1)
        return mmf_fail(MMF_ERR_FORMAT, "%s/config.json: vocab_size (%d) and max_position_embeddings (%d) should be >= 1", e->dir, m->V, m->P);
    {
        /* relative position schemes change the attention scores: refuse them */
        char cp[4096];
        cJSON *root;
        snprintf(cp, sizeof cp, "%s/config.json", e->dir);
        MMF_TRY(mmf_json_load(cp, &root));
        const char *pet = NULL;
        mmf_status s = mmf_json_str(root, "position_embedding_type", "absolute", cp, &pet);
        if (!s && strcmp(pet, "absolute"))
            s = mmf_fail(MMF_ERR_UNSUPPORTED, "%s: position_embedding_type \"%s\" is not supported (only \"absolute\")", cp, pet);
        cJSON_Delete(root);
        if (s) return s;
    }
    m->spec = (mmf_tf_spec){.hidden = m->C, .heads = m->H, .ffn = m->F, .eps = m->eps, .act = c->act};
    e->dim = e->token_dim = m->C;

    MMF_TRY(mmf_open_checkpoint(e->dir, &m->st));
    MMF_TRY(load_weights(e, m, m->st, prefix));
    MMF_TRY(mmf_tf_use_precision(&m->spec, m->layers, m->L, (int)e->params.precision, e->dir, &m->packed));
    /* fp32 runs oneDNN's matmul over matrices packed once (core/matmul_f32.h) */

    /* RoBERTa positions run from padding_idx + 1, so padding_idx + 1 fewer tokens fit */
    int pmax = m->P;
    if (pos_from_ids) {
        if (m->pad < 0 || m->pad + 2 > m->P)
            return mmf_fail(MMF_ERR_FORMAT, "%s/config.json: pad_token_id %d leaves no positions in max_position_embeddings %d",
                            e->dir, m->pad, m->P);
        pmax = m->P - m->pad - 1;
    }
    return mmf_encoder_text_setup(e, pmax);
}

static mmf_status bert_load(mmf_encoder *e) { return mmf_bert_load_variant(e, "bert.", 0); }

mmf_status mmf_bert_text_forward(mmf_encoder *e, const int32_t *ids, const int32_t *types, const uint8_t *keep,
                                    int B, int T, mmf_pooling pool, float *pooled, float *tokens) {
    bert *m = e->impl;
    const int C = m->C, nt = e->params.n_threads;
    const int64_t rows = (int64_t)B * T;
    if (B > e->params.max_batch || T > e->max_length || B < 1 || T < 1)
        return mmf_fail(MMF_ERR_ARG, "bert: batch %d x %d exceeds the %d x %d the encoder was sized for", B, T,
                        e->params.max_batch, e->max_length);
    if (pool == MMF_POOL_POOLER && pooled && !m->pool_w)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: pooling \"pooler\" needs pooler.dense weights, which this checkpoint lacks", e->dir);
    for (int64_t r = 0; r < rows; r++) {
        if (ids[r] < 0 || ids[r] >= m->V)
            return mmf_fail(MMF_ERR_ARG, "%s: token id %d is outside the model's vocabulary of %d", e->dir, ids[r], m->V);
        if (types[r] < 0 || (types[r] >= m->TV && types[r] != 0))
            return mmf_fail(MMF_ERR_ARG, "%s: token type %d is outside type_vocab_size %d", e->dir, types[r], m->TV);
    }
    float *x = m->x;
    int32_t *pos = m->pos;
    for (int b = 0; b < B; b++) {
        int n = 0;
        for (int t = 0; t < T; t++) {
            int64_t r = (int64_t)b * T + t;
            if (!m->pos_from_ids) pos[r] = t;
            /* create_position_ids_from_input_ids: padding_idx + the rank among non-pad ids */
            else pos[r] = keep[r] && ids[r] != m->pad ? m->pad + ++n : m->pad;
        }
    }
    mmf_threads_use(nt);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && rows > 64)
    for (int64_t r = 0; r < rows; r++) {
        float *xr = x + r * C;
        const float *we = m->wte + (size_t)ids[r] * C, *pe = m->wpe + (size_t)pos[r] * C;
        const float *te = m->wtt ? m->wtt + (size_t)types[r] * C : NULL;
        for (int c = 0; c < C; c++) xr[c] = we[c] + (te ? te[c] : 0.0f) + pe[c];
    }
    mmf_layernorm(x, x, m->eln_w, m->eln_b, rows, C, m->eps, nt);
    mmf_tf_stack_forward(&m->spec, m->layers, m->L, x, keep, B, T, m->scratch, nt);
    if (tokens) memcpy(tokens, x, (size_t)rows * C * sizeof(float));
    if (!pooled) return MMF_OK;
    if (pool == MMF_POOL_POOLER) {
        for (int b = 0; b < B; b++) memcpy(m->cls + (size_t)b * C, x + (size_t)b * T * C, (size_t)C * sizeof(float));
        mmf_linear(pooled, m->cls, m->pool_w, m->pool_b, B, C, C, nt);
        mmf_tanh(pooled, (int64_t)B * C, nt);
    } else {
        mmf_pool_tokens(pool, x, keep, B, T, C, pooled);
    }
    return MMF_OK;
}

MMF_BERT_OPS(mmf_bert_ops, "bert", "BERT (BertModel)", bert_load);
