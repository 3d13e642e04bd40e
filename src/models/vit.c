/* ViT (Hugging Face ViTModel semantics) and the vision tower it shares with
 * CLIP. Names: [vit.]embeddings.{cls_token, position_embeddings,
 * patch_embeddings.projection.*}, encoder.layer.L.{layernorm_before,
 * attention.attention.{query,key,value}, attention.output.dense,
 * layernorm_after, intermediate.dense, output.dense}, layernorm, pooler.dense.
 * Poolings: pooler (tanh(dense(h0)), when the checkpoint has one: the
 * default), cls (h0 after the final layernorm), mean (patch tokens, CLS
 * excluded, as timm's "avg"). */
#include "models/vit.h"
#include "models/encoder.h"
#include "core/arena.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/tensor.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ------------------------------------------------------------ weight bag */

static float *bag_alloc(mmf_wbag *w, size_t n) {
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 64;
        float **p = realloc(w->ptrs, sizeof *p * (size_t)cap);
        if (!p) return NULL;
        w->ptrs = p;
        w->cap = cap;
    }
    float *a = malloc(sizeof(float) * (n ? n : 1));
    if (a) w->ptrs[w->n++] = a;
    return a;
}

float *mmf_wbag_zeros(mmf_wbag *w, size_t n) {
    float *a = bag_alloc(w, n);
    if (a) memset(a, 0, sizeof(float) * n);
    return a;
}

void mmf_wbag_free(mmf_wbag *w) {
    for (int i = 0; i < w->n; i++) free(w->ptrs[i]);
    free(w->ptrs);
    w->ptrs = NULL;
    w->n = w->cap = 0;
}

static mmf_status take(mmf_wbag *w, const char *name, const int64_t *d, const char *why, float **out, int optional) {
    char full[256];
    snprintf(full, sizeof full, "%s%s", w->prefix, name);
    *out = NULL;
    const mmf_tensor_info *t = mmf_st_find(w->st, full);
    if (!t) {
        if (optional) return MMF_OK;
        return mmf_fail(MMF_ERR_NOT_FOUND, "%s: tensor \"%s\" is missing from the checkpoint", w->dir, full);
    }
    int nd = 0;
    int64_t numel = 1;
    while (nd < 4 && d[nd]) numel *= d[nd++];
    int same = t->ndim == nd;
    for (int i = 0; same && i < nd; i++) same = t->shape[i] == d[i];
    /* a scalar stored as shape [] or [1] */
    if (!same && nd == 1 && d[0] == 1 && t->numel == 1) same = 1;
    if (!same) {
        char got[96], want[96];
        mmf_shape_str(t->ndim, t->shape, got, sizeof got);
        mmf_shape_str(nd, d, want, sizeof want);
        return mmf_fail(MMF_ERR_SHAPE, "%s: tensor \"%s\" has shape %s but config.json (%s) implies %s", w->dir, full, got,
                        why, want);
    }
    float *a = bag_alloc(w, (size_t)numel);
    if (!a) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory reading \"%s\"", w->dir, full);
    MMF_TRY(mmf_st_read_f32(w->st, full, a, (size_t)numel));
    *out = a;
    return MMF_OK;
}

mmf_status mmf_wbag_take(mmf_wbag *w, const char *name, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                         const char *why, float **out) {
    int64_t d[5] = {d0, d1, d2, d3, 0};
    return take(w, name, d, why, out, 0);
}

mmf_status mmf_wbag_take_opt(mmf_wbag *w, const char *name, int64_t d0, int64_t d1, const char *why, float **out) {
    int64_t d[5] = {d0, d1, 0, 0, 0};
    return take(w, name, d, why, out, 1);
}

mmf_status mmf_wbag_qkv(mmf_wbag *w, const char *q, const char *k, const char *v, const char *qb, const char *kb,
                        const char *vb, int64_t C, mmf_tf_layer_w *ly) {
    float *qw, *kw, *vw, *qbb, *kbb, *vbb;
    MMF_TRY(mmf_wbag_take(w, q, C, C, 0, 0, "hidden_size", &qw));
    MMF_TRY(mmf_wbag_take(w, k, C, C, 0, 0, "hidden_size", &kw));
    MMF_TRY(mmf_wbag_take(w, v, C, C, 0, 0, "hidden_size", &vw));
    MMF_TRY(mmf_wbag_take_opt(w, qb, C, 0, "hidden_size", &qbb));
    MMF_TRY(mmf_wbag_take_opt(w, kb, C, 0, "hidden_size", &kbb));
    MMF_TRY(mmf_wbag_take_opt(w, vb, C, 0, "hidden_size", &vbb));
    float *fw = bag_alloc(w, (size_t)(3 * C * C)), *fb = bag_alloc(w, (size_t)(3 * C));
    if (!fw || !fb) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", w->dir);
    mmf_tf_fuse_qkv(fw, fb, qw, kw, vw, qbb, kbb, vbb, (int)C);
    ly->qkv_w = fw;
    ly->qkv_b = fb;
    return MMF_OK;
}

/* ----------------------------------------------------------- the tower */

static mmf_status tower_dims(mmf_vis_tower *t, const mmf_tf_config *c, const char *dir) {
    t->C = (int)c->hidden_size;
    t->L = (int)c->num_layers;
    t->F = (int)c->intermediate_size;
    t->P = (int)c->patch_size;
    t->S = (int)c->image_size;
    if (t->P < 1 || t->S < t->P)
        return mmf_fail(MMF_ERR_FORMAT, "%s/config.json: image_size %d and patch_size %d do not make patches", dir, t->S, t->P);
    if (c->num_channels != 3)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s/config.json: num_channels %lld (mmfuse feeds RGB images: 3)", dir, (long long)c->num_channels);
    t->N = (t->S / t->P) * (t->S / t->P);
    t->T = t->N + 1;
    t->eps = (float)c->layer_norm_eps;
    t->spec = (mmf_tf_spec){.hidden = t->C, .heads = (int)c->num_heads, .ffn = t->F, .eps = t->eps, .act = c->act,
                            .pre_norm = 1, .causal = 0, .attn_scale = 0.0f};
    return MMF_OK;
}

const mmf_tf_layer_names mmf_vit_layer_names = {
    "encoder.layer.%d.attention.attention.query.weight", "encoder.layer.%d.attention.attention.key.weight",
    "encoder.layer.%d.attention.attention.value.weight", "encoder.layer.%d.attention.attention.query.bias",
    "encoder.layer.%d.attention.attention.key.bias", "encoder.layer.%d.attention.attention.value.bias",
    "encoder.layer.%d.attention.output.dense.weight", "encoder.layer.%d.attention.output.dense.bias",
    "encoder.layer.%d.layernorm_before.weight", "encoder.layer.%d.layernorm_before.bias",
    "encoder.layer.%d.layernorm_after.weight", "encoder.layer.%d.layernorm_after.bias",
    "encoder.layer.%d.intermediate.dense.weight", "encoder.layer.%d.intermediate.dense.bias",
    "encoder.layer.%d.output.dense.weight", "encoder.layer.%d.output.dense.bias",
};

const mmf_tf_layer_names mmf_clip_layer_names = {
    "encoder.layers.%d.self_attn.q_proj.weight", "encoder.layers.%d.self_attn.k_proj.weight",
    "encoder.layers.%d.self_attn.v_proj.weight", "encoder.layers.%d.self_attn.q_proj.bias",
    "encoder.layers.%d.self_attn.k_proj.bias", "encoder.layers.%d.self_attn.v_proj.bias",
    "encoder.layers.%d.self_attn.out_proj.weight", "encoder.layers.%d.self_attn.out_proj.bias",
    "encoder.layers.%d.layer_norm1.weight", "encoder.layers.%d.layer_norm1.bias",
    "encoder.layers.%d.layer_norm2.weight", "encoder.layers.%d.layer_norm2.bias",
    "encoder.layers.%d.mlp.fc1.weight", "encoder.layers.%d.mlp.fc1.bias",
    "encoder.layers.%d.mlp.fc2.weight", "encoder.layers.%d.mlp.fc2.bias",
};

mmf_status mmf_wbag_layers(mmf_wbag *w, const mmf_tf_layer_names *nm, int L, int64_t C, int64_t F,
                           const char *cfg, mmf_tf_layer_w **out) {
    mmf_tf_layer_w *layers = (mmf_tf_layer_w *)mmf_wbag_zeros(w, sizeof(mmf_tf_layer_w) * (size_t)(L ? L : 1) / sizeof(float) + 1);
    if (!layers) return mmf_fail(MMF_ERR_NOMEM, "out of memory");
    char why[96];
    snprintf(why, sizeof why, "%shidden_size / intermediate_size", cfg);
    for (int l = 0; l < L; l++) {
        mmf_tf_layer_w *ly = &layers[l];
        char n[6][160];
        const char *qkv[6] = {nm->q_w, nm->k_w, nm->v_w, nm->q_b, nm->k_b, nm->v_b};
        for (int i = 0; i < 6; i++) snprintf(n[i], sizeof n[i], qkv[i], l);
        MMF_TRY(mmf_wbag_qkv(w, n[0], n[1], n[2], n[3], n[4], n[5], C, ly));
        const struct { const char *fmt; int64_t d0, d1; const float **dst; } rest[] = {
            {nm->o_w, C, C, &ly->o_w}, {nm->o_b, C, 0, &ly->o_b},
            {nm->ln1_w, C, 0, &ly->ln1_w}, {nm->ln1_b, C, 0, &ly->ln1_b},
            {nm->ln2_w, C, 0, &ly->ln2_w}, {nm->ln2_b, C, 0, &ly->ln2_b},
            {nm->fc1_w, F, C, &ly->fc1_w}, {nm->fc1_b, F, 0, &ly->fc1_b},
            {nm->fc2_w, C, F, &ly->fc2_w}, {nm->fc2_b, C, 0, &ly->fc2_b},
        };
        for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++) {
            char b[160];
            float *p;
            snprintf(b, sizeof b, rest[i].fmt, l);
            MMF_TRY(mmf_wbag_take(w, b, rest[i].d0, rest[i].d1, 0, 0, why, &p));
            *rest[i].dst = p;
        }
    }
    /* one extra layer in the checkpoint means config and weights disagree */
    char n[200], full[264];
    snprintf(n, sizeof n, nm->ln1_w, L);
    snprintf(full, sizeof full, "%s%s", w->prefix, n);
    if (mmf_st_find(w->st, full))
        return mmf_fail(MMF_ERR_SHAPE, "%s: config.json says %snum_hidden_layers = %d but the checkpoint has \"%s\"",
                        w->dir, cfg, L, full);
    *out = layers;
    return MMF_OK;
}

mmf_status mmf_vis_tower_load_vit(mmf_vis_tower *t, const mmf_tf_config *c, mmf_wbag *w) {
    MMF_TRY(tower_dims(t, c, w->dir));
    const int64_t C = t->C, F = t->F, P = t->P;
    float *cls;
    MMF_TRY(mmf_wbag_take(w, "embeddings.cls_token", 1, 1, C, 0, "hidden_size", &cls));
    t->cls = cls;
    MMF_TRY(mmf_wbag_take(w, "embeddings.position_embeddings", 1, t->T, C, 0, "(image_size/patch_size)^2 + 1 x hidden_size", &t->pos));
    MMF_TRY(mmf_wbag_take(w, "embeddings.patch_embeddings.projection.weight", C, 3, P, P, "hidden_size x 3 x patch x patch", &t->patch_w));
    MMF_TRY(mmf_wbag_take_opt(w, "embeddings.patch_embeddings.projection.bias", C, 0, "hidden_size", &t->patch_b));
    MMF_TRY(mmf_wbag_layers(w, &mmf_vit_layer_names, t->L, C, F, "", &t->layers));
    MMF_TRY(mmf_wbag_take(w, "layernorm.weight", C, 0, 0, 0, "hidden_size", &t->post_w));
    MMF_TRY(mmf_wbag_take(w, "layernorm.bias", C, 0, 0, 0, "hidden_size", &t->post_b));
    t->post_all_tokens = 1;
    return MMF_OK;
}

mmf_status mmf_vis_tower_load_clip(mmf_vis_tower *t, const mmf_tf_config *c, mmf_wbag *w) {
    MMF_TRY(tower_dims(t, c, w->dir));
    const int64_t C = t->C, F = t->F, P = t->P;
    MMF_TRY(mmf_wbag_take(w, "embeddings.class_embedding", C, 0, 0, 0, "vision hidden_size", &t->cls));
    MMF_TRY(mmf_wbag_take(w, "embeddings.position_embedding.weight", t->T, C, 0, 0, "(image_size/patch_size)^2 + 1 x hidden_size", &t->pos));
    MMF_TRY(mmf_wbag_take(w, "embeddings.patch_embedding.weight", C, 3, P, P, "hidden_size x 3 x patch x patch", &t->patch_w));
    t->patch_b = NULL;
    MMF_TRY(mmf_wbag_take(w, "pre_layrnorm.weight", C, 0, 0, 0, "hidden_size", &t->pre_w));
    MMF_TRY(mmf_wbag_take(w, "pre_layrnorm.bias", C, 0, 0, 0, "hidden_size", &t->pre_b));
    MMF_TRY(mmf_wbag_layers(w, &mmf_clip_layer_names, t->L, C, F, "vision_config ", &t->layers));
    MMF_TRY(mmf_wbag_take(w, "post_layernorm.weight", C, 0, 0, 0, "hidden_size", &t->post_w));
    MMF_TRY(mmf_wbag_take(w, "post_layernorm.bias", C, 0, 0, 0, "hidden_size", &t->post_b));
    t->post_all_tokens = 0;
    return MMF_OK;
}

size_t mmf_vis_tower_scratch(const mmf_vis_tower *t, int B, int nt) {
    size_t patches = (size_t)B * t->N * 3 * t->P * t->P;
    size_t layer = mmf_tf_layer_scratch(&t->spec, B, t->T, nt);
    return (patches > layer ? patches : layer) + 64;
}

void mmf_vis_tower_forward(const mmf_vis_tower *t, const float *pixels, int B, float *x, float *scratch, int nt) {
    const int C = t->C, P = t->P, S = t->S, G = S / P, N = t->N, T = t->T, K = 3 * P * P;
    /* unfold: row (b, gy, gx) = pixels[b, c, gy*P + ky, gx*P + kx] ordered (c, ky, kx) like the conv weight */
    float *patches = scratch;
#pragma omp parallel for num_threads(nt) schedule(static) if (parallel: nt > 1)
    for (int r = 0; r < B * N; r++) {
        int b = r / N, n = r % N, gy = n / G, gx = n % G;
        float *d = patches + (size_t)r * K;
        for (int c = 0; c < 3; c++)
            for (int ky = 0; ky < P; ky++)
                memcpy(d + (c * P + ky) * P, pixels + (((size_t)b * 3 + c) * S + (size_t)gy * P + ky) * S + (size_t)gx * P,
                       sizeof(float) * (size_t)P);
    }
    /* patch tokens go to rows 1..N of each image (0..N-1 without a CLS token):
     * one GEMM per image keeps the layout */
    const int first = t->cls ? 1 : 0;
    for (int b = 0; b < B; b++) {
        float *xb = x + (size_t)b * T * C;
        mmf_gemm(0, 1, N, C, K, 1.0f, patches + (size_t)b * N * K, K, t->patch_w, K, 0.0f, xb + (size_t)first * C, C, nt);
        if (t->cls) memcpy(xb, t->cls, sizeof(float) * (size_t)C);
        for (int i = 0; i < T; i++) {
            float *row = xb + (size_t)i * C;
            const float *pos = t->pos + (size_t)i * C;
            if (i >= first && t->patch_b)
                for (int j = 0; j < C; j++) row[j] += t->patch_b[j] + pos[j];
            else
                for (int j = 0; j < C; j++) row[j] += pos[j];
        }
    }
    if (t->pre_w) mmf_layernorm(x, x, t->pre_w, t->pre_b, (int64_t)B * T, C, t->eps, nt);
    mmf_tf_stack_forward(&t->spec, t->layers, t->L, x, NULL, B, T, scratch, nt);
    if (t->post_all_tokens) mmf_layernorm(x, x, t->post_w, t->post_b, (int64_t)B * T, C, t->eps, nt);
}

mmf_status mmf_vis_tower_run(const mmf_vis_tower *t, const char *who, const float *pixels, int B, int max_batch, float *x,
                             float *scratch, int nt, float *tokens) {
    if (B > max_batch) return mmf_fail(MMF_ERR_ARG, "%s: batch %d > max_batch %d", who, B, max_batch);
    mmf_threads_use(nt);
    mmf_vis_tower_forward(t, pixels, B, x, scratch, nt);
    if (tokens) memcpy(tokens, x, sizeof(float) * (size_t)B * t->T * t->C);
    return MMF_OK;
}

void mmf_impl_base_release(mmf_encoder *e) {
    mmf_impl_base *b = e->impl;
    if (!b) return;
    mmf_st_close(b->bag.st);
    mmf_wbag_free(&b->bag);
    mmf_arena_free(&b->arena);
    free(b->packed[0]);
    free(b->packed[1]);
    free(b);
    e->impl = NULL;
}

void *mmf_impl_base_new(mmf_encoder *e, size_t impl_size) {
    void *m = calloc(1, impl_size);
    if (!m) mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", e->cfg.model_type);
    e->impl = m;
    return m;
}

mmf_status mmf_impl_base_open(mmf_encoder *e, mmf_impl_base *b, const char *prefix, const char *probe) {
    MMF_TRY(mmf_open_checkpoint(e->dir, &b->bag.st));
    b->bag.dir = e->dir;
    char probed[160];
    snprintf(probed, sizeof probed, "%s%s", prefix, probe ? probe : "");
    snprintf(b->bag.prefix, sizeof b->bag.prefix, "%s", !probe || mmf_st_find(b->bag.st, probed) ? prefix : "");
    return MMF_OK;
}

mmf_status mmf_vis_check_input(const mmf_encoder *e, int S, const char *what) {
    int c, h, w;
    mmf_image_processor_size(e->proc, &c, &h, &w);
    if (h != S || w != S)
        return mmf_fail(MMF_ERR_SHAPE, "%s: preprocessor_config.json makes %dx%d images but %s is %d", e->dir, w, h, what, S);
    return MMF_OK;
}

/* ------------------------------------------------------- ViT encoder */

typedef struct vit {
    mmf_impl_base base;        /* first */
    mmf_vis_tower tw;
    float *pool_w, *pool_b;   /* (C,C), (C) or NULL */
    float *x, *scratch, *tmp;
} vit;

static mmf_status vit_size(mmf_encoder *e, int nt) {
    vit *m = e->impl;
    size_t B = (size_t)e->params.max_batch, T = (size_t)m->tw.T, C = (size_t)m->tw.C;
    size_t want[] = {B * T * C, mmf_vis_tower_scratch(&m->tw, (int)B, nt), B * C};
    float **dst[] = {&m->x, &m->scratch, &m->tmp};
    return mmf_arena_carve(&m->base.arena, 3, want, dst, e->dir);
}

static mmf_status vit_load(mmf_encoder *e) {
    vit *m = mmf_impl_base_new(e, sizeof *m);
    if (!m) return MMF_ERR_NOMEM;
    MMF_TRY(mmf_image_processor_load(e->dir, &e->proc));
    MMF_TRY(mmf_impl_base_open(e, &m->base, "vit.", "embeddings.cls_token"));
    mmf_status s = mmf_vis_tower_load_vit(&m->tw, &e->cfg.tf, &m->base.bag);
    if (!s) s = mmf_wbag_take_opt(&m->base.bag, "pooler.dense.weight", m->tw.C, m->tw.C, "hidden_size", &m->pool_w);
    if (!s && m->pool_w) s = mmf_wbag_take(&m->base.bag, "pooler.dense.bias", m->tw.C, 0, 0, 0, "hidden_size", &m->pool_b);
    mmf_st_close(m->base.bag.st);
    m->base.bag.st = NULL;
    if (s) return s;
    MMF_TRY(mmf_vis_check_input(e, m->tw.S, "config.json's image_size"));
    e->dim = e->token_dim = m->tw.C;
    e->def_pool = m->pool_w ? MMF_POOL_POOLER : MMF_POOL_CLS;
    e->def_norm = 0;
    /* bf16: the transformer layers (transformer.c's bf16 layer); patch embedding and pooler stay fp32 */
    return mmf_tf_use_precision(&m->tw.spec, m->tw.layers, m->tw.L, (int)e->params.precision, e->dir, &m->base.packed[0]);
}

static mmf_status vit_image_forward(mmf_encoder *e, const float *pixels, int B, mmf_pooling pool, float *out) {
    vit *m = e->impl;
    const int C = m->tw.C, T = m->tw.T, nt = e->params.n_threads;
    if (pool == MMF_POOL_POOLER && !m->pool_w)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: this ViT checkpoint has no pooler (use cls or mean)", e->dir);
    if (pool != MMF_POOL_POOLER && pool != MMF_POOL_CLS && pool != MMF_POOL_MEAN)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "ViT pooling \"%s\": use pooler, cls or mean", mmf_pooling_name(pool));
    MMF_TRY(mmf_vis_tower_run(&m->tw, "vit", pixels, B, e->params.max_batch, m->x, m->scratch, nt, NULL));
    for (int b = 0; b < B; b++) {
        const float *h = m->x + (size_t)b * T * C;
        float *o = out + (size_t)b * C;
        if (pool == MMF_POOL_MEAN) {
            for (int j = 0; j < C; j++) {
                float s = 0.0f;
                for (int t = 1; t < T; t++) s += h[(size_t)t * C + j];
                o[j] = s / (float)(T - 1);
            }
        } else {
            memcpy(o, h, sizeof(float) * (size_t)C);
        }
    }
    if (pool == MMF_POOL_POOLER) {
        memcpy(m->tmp, out, sizeof(float) * (size_t)B * C);
        mmf_linear(out, m->tmp, m->pool_w, m->pool_b, B, C, C, nt);
        mmf_tanh(out, (int64_t)B * C, nt);
    }
    return MMF_OK;
}

/* Token states for tests: x (B,T,C) after the final layernorm. */
mmf_status mmf_vit_tokens(mmf_encoder *e, const float *pixels, int B, float *x) {
    vit *m = e->impl;
    return mmf_vis_tower_run(&m->tw, "vit", pixels, B, e->params.max_batch, m->x, m->scratch, e->params.n_threads, x);
}

const mmf_encoder_ops mmf_vit_ops = {
    .model_type = "vit",
    .family = "ViT (ViTModel)",
    .pooler = "tanh(pooler.dense(CLS after the final layernorm))",
    .load = vit_load,
    .free_impl = mmf_impl_base_release,
    .size = vit_size,
    .image_forward = vit_image_forward,
};
