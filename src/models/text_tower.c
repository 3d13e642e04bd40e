#include "models/text_tower.h"
#include "core/error.h"
#include "core/ops.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


mmf_status mmf_text_tower_open(mmf_encoder *e, size_t impl_size, const char *prefix, const char *probe, mmf_text_tower **out) {
    const mmf_tf_config *c = &e->cfg.tf;
    mmf_text_tower *t = *out = mmf_impl_base_new(e, impl_size);
    if (!t) return MMF_ERR_NOMEM;
    t->V = (int)c->vocab_size; t->C = (int)c->hidden_size; t->L = (int)c->num_layers; t->H = (int)c->num_heads;
    return mmf_impl_base_open(e, &t->base, prefix, probe);
}

mmf_status mmf_text_tower_size(mmf_encoder *e, int nt) {
    mmf_text_tower *t = e->impl;
    size_t B = (size_t)e->params.max_batch, T = (size_t)e->max_length, C = (size_t)t->C;
    size_t want[] = {B * T * C, mmf_tf_layer_scratch(&t->spec, (int)B, (int)T, nt), B * C,
                     t->spec.attn_biased ? (size_t)t->H * T * T : 1, B * T};
    float **dst[] = {&t->x, &t->scratch, &t->tmp, &t->bias, (float **)&t->pos};
    return mmf_arena_carve(&t->base.arena, 5, want, dst, e->dir);
}

mmf_status mmf_text_tower_finish(mmf_encoder *e, mmf_text_tower *t) {
    mmf_st_close(t->base.bag.st);
    t->base.bag.st = NULL;
    e->dim = e->token_dim = t->C;
    MMF_TRY(mmf_tf_use_precision(&t->spec, t->layers, t->L, (int)e->params.precision, e->dir, &t->base.packed[0]));
    return mmf_encoder_text_setup(e, t->npos);
}

mmf_status mmf_text_tower_check(mmf_encoder *e, const mmf_text_tower *t, const int32_t *ids, int B, int T,
                                mmf_pooling pool, const float *pooled) {
    if (B > e->params.max_batch || T > e->max_length || B < 1 || T < 1)
        return mmf_fail(MMF_ERR_ARG, "%s: batch %d x %d exceeds the %d x %d the encoder was sized for", e->cfg.model_type, B,
                        T, e->params.max_batch, e->max_length);
    if (pooled && pool == MMF_POOL_POOLER && !t->pool_w)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: pooling \"pooler\" needs pooler.dense weights, which this checkpoint lacks", e->dir);
    for (int64_t r = 0; r < (int64_t)B * T; r++)
        if (ids[r] < 0 || ids[r] >= t->V)
            return mmf_fail(MMF_ERR_ARG, "%s: token id %d is outside the model's vocabulary of %d", e->dir, ids[r], t->V);
    return MMF_OK;
}

void mmf_text_tower_embed(mmf_encoder *e, mmf_text_tower *t, const int32_t *ids, const float *wte, const float *wpe,
                          const float *ln_w, const float *ln_b, float eps, int B, int T) {
    const int C = t->C, nt = e->params.n_threads;
    const int64_t rows = (int64_t)B * T;
    mmf_threads_use(nt);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && rows > 64)
    for (int64_t r = 0; r < rows; r++) {
        float *xr = t->x + r * C;
        const float *we = wte + (size_t)ids[r] * C, *pe = wpe + (size_t)t->pos[r] * C;
        for (int j = 0; j < C; j++) xr[j] = we[j] + pe[j];
    }
    mmf_layernorm(t->x, t->x, ln_w, ln_b, rows, C, eps, nt);
}

void mmf_text_tower_run(mmf_encoder *e, mmf_text_tower *t, const uint8_t *keep, int B, int T, mmf_pooling pool,
                        float *pooled, float *tokens) {
    const int C = t->C, nt = e->params.n_threads;
    mmf_tf_stack_forward(&t->spec, t->layers, t->L, t->x, keep, B, T, t->scratch, nt);
    if (tokens) memcpy(tokens, t->x, sizeof(float) * (size_t)B * T * C);
    if (!pooled) return;
    if (pool == MMF_POOL_POOLER) {
        for (int b = 0; b < B; b++) memcpy(t->tmp + (size_t)b * C, t->x + (size_t)b * T * C, sizeof(float) * (size_t)C);
        mmf_linear(pooled, t->tmp, t->pool_w, t->pool_b, B, C, C, nt);
        mmf_tanh(pooled, (int64_t)B * C, nt);
    } else {
        mmf_pool_tokens(pool, t->x, keep, B, T, C, pooled);
    }
}

void mmf_text_tower_positions_from_ids(mmf_text_tower *t, const int32_t *ids, const uint8_t *keep, int B, int T,
                                       int padding_idx) {
    for (int b = 0; b < B; b++) {
        int n = 0;
        for (int i = 0; i < T; i++) {
            int64_t r = (int64_t)b * T + i;
            t->pos[r] = keep[r] && ids[r] != padding_idx ? padding_idx + ++n : padding_idx;
        }
    }
}
