/* Text embedding shared by every text family: tokenize everything once,
 * sort by length so each batch pads little, run batches of at most
 * params.max_batch through the family's forward, scatter rows back to input
 * order, normalize. Buffers are allocated once per call, never per sequence. */
#include "models/encoder.h"
#include "core/error.h"
#include <stdlib.h>
#include <string.h>

typedef struct tok_batch {
    mmf_encoding *enc;   /* (n) */
    size_t *order;       /* input indices sorted by length, longest first */
    size_t n_trunc;
} tok_batch;

static void tb_free(tok_batch *tb, size_t n) {
    if (tb->enc)
        for (size_t i = 0; i < n; i++) mmf_encoding_free(&tb->enc[i]);
    free(tb->enc);
    free(tb->order);
}

typedef struct len_idx { int len; size_t idx; } len_idx;
static int by_len_desc(const void *a, const void *b) {
    const len_idx *x = a, *y = b;
    if (x->len != y->len) return y->len - x->len;
    return x->idx < y->idx ? -1 : x->idx > y->idx;   /* equal lengths keep input order */
}

static mmf_status tokenize_all(mmf_encoder *e, const char *const *texts, size_t n, tok_batch *tb) {
    memset(tb, 0, sizeof *tb);
    if (!e->tok) return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: this %s encoder has no text tower", e->dir, e->cfg.model_type);
    tb->enc = calloc(n ? n : 1, sizeof *tb->enc);
    tb->order = malloc((n ? n : 1) * sizeof *tb->order);
    if (!tb->enc || !tb->order) return mmf_fail(MMF_ERR_NOMEM, "encoder: out of memory for %zu texts", n);
    for (size_t i = 0; i < n; i++) {
        if (!texts[i]) return mmf_fail(MMF_ERR_ARG, "embed: text %zu is NULL", i);
        mmf_status s = mmf_tokenizer_encode(e->tok, texts[i], NULL, 1, e->max_length, &tb->enc[i]);
        if (s) return mmf_fail_wrap(s, "embed: text %zu", i);
        tb->n_trunc += tb->enc[i].truncated;
    }
    if (tb->n_trunc)
        mmf_log(MMF_LOG_WARN, "embed: %zu of %zu inputs were longer than %d tokens and were truncated", tb->n_trunc, n,
                e->max_length);
    len_idx *li = malloc((n ? n : 1) * sizeof *li);
    if (!li) return mmf_fail(MMF_ERR_NOMEM, "encoder: out of memory for %zu texts", n);
    for (size_t i = 0; i < n; i++) li[i] = (len_idx){tb->enc[i].n, i};
    qsort(li, n, sizeof *li, by_len_desc);
    for (size_t i = 0; i < n; i++) tb->order[i] = li[i].idx;
    free(li);
    return MMF_OK;
}

mmf_status mmf_encoder_text_lengths(mmf_encoder *e, const char *const *texts, size_t n, int32_t *lengths) {
    for (size_t i = 0; i < n; i++) {
        mmf_encoding enc;
        if (!texts[i]) return mmf_fail(MMF_ERR_ARG, "embed: text %zu is NULL", i);
        if (!e->tok) return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: this %s encoder has no text tower", e->dir, e->cfg.model_type);
        mmf_status s = mmf_tokenizer_encode(e->tok, texts[i], NULL, 1, e->max_length, &enc);
        if (s) return s;
        lengths[i] = enc.n;
        mmf_encoding_free(&enc);
    }
    return MMF_OK;
}

/* pooled (n, dim) when tokens == NULL, else token states (n, T_out, C) + mask */
static mmf_status run(mmf_encoder *e, const char *const *texts, size_t n, mmf_pooling pool, int normalize,
                      float *pooled_out, int T_out, float *tok_out, uint8_t *mask_out) {
    if (!e->ops->text_forward)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: a %s encoder does not embed text", e->dir, e->cfg.model_type);
    if (n == 0) return MMF_OK;
    if (pool == MMF_POOL_DEFAULT) pool = e->def_pool;
    if (normalize == MMF_NORMALIZE_DEFAULT) normalize = e->def_norm;
    tok_batch tb;
    mmf_status s = tokenize_all(e, texts, n, &tb);
    if (s) { tb_free(&tb, n); return s; }
    const int B = e->params.max_batch, Tm = e->max_length, C = e->token_dim, D = e->dim;
    int32_t *ids = malloc((size_t)B * Tm * sizeof *ids), *types = malloc((size_t)B * Tm * sizeof *types);
    uint8_t *keep = malloc((size_t)B * Tm);
    float *pooled = tok_out ? NULL : malloc((size_t)B * D * sizeof(float));
    float *states = tok_out ? malloc((size_t)B * Tm * C * sizeof(float)) : NULL;
    if (!ids || !types || !keep || (!pooled && !states)) s = mmf_fail(MMF_ERR_NOMEM, "embed: out of memory for a batch of %d", B);
    for (size_t start = 0; start < n && !s; start += (size_t)B) {
        int nb = (int)((n - start) < (size_t)B ? (n - start) : (size_t)B);
        int T = tb.enc[tb.order[start]].n;   /* longest in this batch (sorted) */
        if (T < 1) T = 1;
        if (tok_out && T > T_out) { s = mmf_fail(MMF_ERR_ARG, "embed: a text has %d tokens but T is %d", T, T_out); break; }
        for (int b = 0; b < nb; b++) {
            const mmf_encoding *en = &tb.enc[tb.order[start + (size_t)b]];
            for (int t = 0; t < T; t++) {
                int real = t < en->n;
                ids[b * T + t] = real ? en->ids[t] : mmf_tokenizer_pad_id(e->tok);
                types[b * T + t] = real ? en->type_ids[t] : 0;
                keep[b * T + t] = (uint8_t)real;
            }
            if (en->n == 0) keep[b * T] = 1;   /* no tokens at all (no template): attend to one pad */
        }
        s = e->ops->text_forward(e, ids, types, keep, nb, T, pool, pooled, states);
        if (s) break;
        for (int b = 0; b < nb; b++) {
            size_t row = tb.order[start + (size_t)b];
            if (!tok_out) {
                memcpy(pooled_out + row * (size_t)D, pooled + (size_t)b * D, (size_t)D * sizeof(float));
                continue;
            }
            float *dst = tok_out + row * (size_t)T_out * C;
            memset(dst, 0, (size_t)T_out * C * sizeof(float));
            memset(mask_out + row * (size_t)T_out, 0, (size_t)T_out);
            int len = tb.enc[row].n;
            memcpy(dst, states + (size_t)b * T * C, (size_t)len * C * sizeof(float));
            memset(mask_out + row * (size_t)T_out, 1, (size_t)len);
        }
        if (e->params.progress) e->params.progress(start + (size_t)nb, n, e->params.progress_user);
    }
    if (!s && normalize && !tok_out) mmf_l2_normalize_rows(pooled_out, n, D);
    free(ids); free(types); free(keep); free(pooled); free(states);
    tb_free(&tb, n);
    return s;
}

mmf_status mmf_encoder_embed_text(mmf_encoder *e, const char *const *texts, size_t n, mmf_pooling pool,
                                  int normalize, float *out) {
    if (!e || (!texts && n) || (!out && n)) return mmf_fail(MMF_ERR_ARG, "mmf_encoder_embed_text: NULL argument");
    if (pool == MMF_POOL_NONE)
        return mmf_fail(MMF_ERR_ARG, "mmf_encoder_embed_text: pooling \"none\" gives token states: use mmf_encoder_embed_text_tokens");
    if (pool == MMF_POOL_CLS_MEAN) return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: pooling \"cls_mean\" is for DINOv2 image encoders", e->dir);
    if (pool < MMF_POOL_DEFAULT || pool > MMF_POOL_NONE) return mmf_fail(MMF_ERR_ARG, "mmf_encoder_embed_text: unknown pooling %d", (int)pool);
    return run(e, texts, n, pool, normalize, out, 0, NULL, NULL);
}

mmf_status mmf_encoder_embed_text_tokens(mmf_encoder *e, const char *const *texts, size_t n, int T, float *out,
                                         uint8_t *mask) {
    if (!e || (!texts && n) || (!out && n) || (!mask && n)) return mmf_fail(MMF_ERR_ARG, "mmf_encoder_embed_text_tokens: NULL argument");
    if (T < 1) return mmf_fail(MMF_ERR_ARG, "mmf_encoder_embed_text_tokens: T %d should be >= 1", T);
    return run(e, texts, n, MMF_POOL_NONE, 0, NULL, T, out, mask);
}

mmf_status mmf_encoder_text_setup(mmf_encoder *e, int npos) {
    MMF_TRY(mmf_tokenizer_load(e->dir, &e->tok));
    e->def_pool = MMF_POOL_MEAN;
    e->def_norm = 0;
    int st_max = 0;
    MMF_TRY(mmf_st_folder_settings(e->dir, &e->def_pool, &e->def_norm, &st_max));
    int ml = npos, tl = mmf_tokenizer_max_length(e->tok);
    if (tl > 0 && tl < ml) ml = tl;
    if (st_max > 0 && st_max < ml) ml = st_max;
    if (e->params.max_length > 0) {
        if (e->params.max_length > npos)
            mmf_log(MMF_LOG_WARN, "%s: max_length %d exceeds the %d positions the model has; using %d", e->dir,
                    e->params.max_length, npos, npos);
        ml = e->params.max_length < npos ? e->params.max_length : npos;
    }
    e->max_length = ml;
    return MMF_OK;
}
