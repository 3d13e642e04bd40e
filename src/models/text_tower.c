#include "models/text_tower.h"
#include "core/error.h"
#include "core/ops.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


mmf_status mmf_text_tower_open(mmf_encoder *e, size_t impl_size, const char *prefix, const char *probe, mmf_text_tower **out) {
    const mmf_tf_config *c = &e->cfg.tf;
    mmf_text_tower *t = calloc(1, impl_size);
    if (!t) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", e->cfg.model_type);
    e->impl = *out = t;
    t->V = (int)c->vocab_size; t->C = (int)c->hidden_size; t->L = (int)c->num_layers; t->H = (int)c->num_heads;
    MMF_TRY(mmf_open_checkpoint(e->dir, &t->bag.st));
    t->bag.dir = e->dir;
    char probed[160];
    snprintf(probed, sizeof probed, "%s%s", prefix, probe);
    strcpy(t->bag.prefix, mmf_st_find(t->bag.st, probed) ? prefix : "");
    return MMF_OK;
}

mmf_status mmf_text_tower_size(mmf_encoder *e, int nt) {
    mmf_text_tower *t = e->impl;
    mmf_arena_free(&t->arena);
    size_t B = (size_t)e->params.max_batch, T = (size_t)e->max_length, C = (size_t)t->C;
    size_t fl = mmf_tf_layer_scratch(&t->spec, (int)B, (int)T, nt);
    size_t nb = t->spec.attn_biased ? (size_t)t->H * T * T : 1;
    MMF_TRY(mmf_arena_init(&t->arena, mmf_arena_need(B * T * C * 4) + mmf_arena_need(fl * 4) + mmf_arena_need(B * C * 4) +
                                      mmf_arena_need(nb * 4) + mmf_arena_need(B * T * 4)));
    t->x = mmf_arena_floats(&t->arena, B * T * C);
    t->scratch = mmf_arena_floats(&t->arena, fl);
    t->tmp = mmf_arena_floats(&t->arena, B * C);
    t->bias = mmf_arena_floats(&t->arena, nb);
    t->pos = (int32_t *)mmf_arena_floats(&t->arena, B * T);
    if (!t->x || !t->scratch || !t->tmp || !t->bias || !t->pos)
        return mmf_fail(MMF_ERR_NOMEM, "%s: activation arena too small", e->dir);
    return MMF_OK;
}

mmf_status mmf_text_tower_finish(mmf_encoder *e, mmf_text_tower *t) {
    mmf_st_close(t->bag.st);
    t->bag.st = NULL;
    e->dim = e->token_dim = t->C;
    MMF_TRY(mmf_tf_use_precision(&t->spec, t->layers, t->L, (int)e->params.precision, e->dir, &t->packed));
    MMF_TRY(mmf_tokenizer_load(e->dir, &e->tok));
    e->def_pool = MMF_POOL_MEAN;
    e->def_norm = 0;
    int st_max = 0;
    MMF_TRY(mmf_st_folder_settings(e->dir, &e->def_pool, &e->def_norm, &st_max));
    int ml = t->npos, tl = mmf_tokenizer_max_length(e->tok);
    if (tl > 0 && tl < ml) ml = tl;
    if (st_max > 0 && st_max < ml) ml = st_max;
    if (e->params.max_length > 0) {
        if (e->params.max_length > t->npos)
            mmf_log(MMF_LOG_WARN, "%s: max_length %d exceeds the %d positions the model has; using %d", e->dir,
                    e->params.max_length, t->npos, t->npos);
        ml = e->params.max_length < t->npos ? e->params.max_length : t->npos;
    }
    e->max_length = ml;
    return MMF_OK;
}

void mmf_text_tower_release(mmf_encoder *e) {
    mmf_text_tower *t = e->impl;
    if (!t) return;
    mmf_st_close(t->bag.st);
    mmf_wbag_free(&t->bag);
    mmf_arena_free(&t->arena);
    free(t->packed);
    free(t);   /* the family's whole impl: the tower is its first member */
    e->impl = NULL;
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
