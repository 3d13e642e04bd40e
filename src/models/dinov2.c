/* DINOv2 (Hugging Face Dinov2Model semantics): facebook/dinov2-small, -base,
 * -large (use_swiglu_ffn false). ViT layout with layer scale:
 *   x = [CLS; patch_embed(pixels)] + interpolate(position_embeddings)
 *   per layer (pre-norm): x += lambda1 * Attn(norm1(x)); x += lambda2 * MLP(norm2(x))
 *   last_hidden_state = layernorm(x); pooler_output = its CLS row.
 * The checkpoint's position table is for image_size (518: 37 x 37 patches);
 * inputs of another size (the shipped preprocessor crops 224: 16 x 16) get
 * the table resized as Dinov2Embeddings.interpolate_pos_encoding does it:
 * torch bicubic (A = -0.75, align_corners False, no antialias, border
 * clamped) from the square grid to (H/patch, W/patch), CLS row kept; done once
 * at load for the processor's size. Intermediate size int(hidden * mlp_ratio).
 * Names: [dinov2.]embeddings.{cls_token, position_embeddings,
 * patch_embeddings.projection.*}, encoder.layer.L.{norm1,
 * attention.attention.{query,key,value}, attention.output.dense,
 * layer_scale1.lambda1, norm2, mlp.fc1, mlp.fc2, layer_scale2.lambda1},
 * layernorm. Poolings: cls (= pooler, the default), mean (patch tokens after
 * the layernorm), cls_mean ([cls, mean], as Dinov2ForImageClassification
 * feeds its classifier; twice the width). */
#include "models/vit.h"
#include "models/encoder.h"
#include "core/arena.h"
#include "core/error.h"
#include "core/ops.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


typedef struct dinov2 {
    mmf_impl_base base;   /* first */
    mmf_vis_tower tw;
    float *x, *scratch;
} dinov2;

static const mmf_tf_layer_names names = {
    "encoder.layer.%d.attention.attention.query.weight", "encoder.layer.%d.attention.attention.key.weight",
    "encoder.layer.%d.attention.attention.value.weight", "encoder.layer.%d.attention.attention.query.bias",
    "encoder.layer.%d.attention.attention.key.bias", "encoder.layer.%d.attention.attention.value.bias",
    "encoder.layer.%d.attention.output.dense.weight", "encoder.layer.%d.attention.output.dense.bias",
    "encoder.layer.%d.norm1.weight", "encoder.layer.%d.norm1.bias",
    "encoder.layer.%d.norm2.weight", "encoder.layer.%d.norm2.bias",
    "encoder.layer.%d.mlp.fc1.weight", "encoder.layer.%d.mlp.fc1.bias",
    "encoder.layer.%d.mlp.fc2.weight", "encoder.layer.%d.mlp.fc2.bias",
};

/* torch's cubic convolution weights for offset t in [0, 1) (A = -0.75) */
static void cubic_weights(float t, float w[4]) {
    const float A = -0.75f;
    float x1 = t + 1.0f, x2 = 1.0f - t, x3 = 2.0f - t;
    w[0] = ((A * x1 - 5.0f * A) * x1 + 8.0f * A) * x1 - 4.0f * A;
    w[1] = ((A + 2.0f) * t - (A + 3.0f)) * t * t + 1.0f;
    w[2] = ((A + 2.0f) * x2 - (A + 3.0f)) * x2 * x2 + 1.0f;
    w[3] = ((A * x3 - 5.0f * A) * x3 + 8.0f * A) * x3 - 4.0f * A;
}

static int clampi(int v, int hi) { return v < 0 ? 0 : v > hi ? hi : v; }

/* F.interpolate(mode="bicubic", align_corners=False) of a (G, G, C) grid to
 * (OH, OW, C), channels last; source index scale * (dst + 0.5) - 0.5 in float
 * as torch's area_pixel_compute_source_index (cubic: not clamped at 0) */
static void bicubic(const float *in, int G, int C, float *out, int OH, int OW) {
    float sh = (float)G / (float)OH, sw = (float)G / (float)OW;
    for (int oy = 0; oy < OH; oy++) {
        float ry = sh * ((float)oy + 0.5f) - 0.5f;
        int iy = (int)floorf(ry);
        float wy[4];
        cubic_weights(ry - (float)iy, wy);
        for (int ox = 0; ox < OW; ox++) {
            float rx = sw * ((float)ox + 0.5f) - 0.5f;
            int ix = (int)floorf(rx);
            float wx[4];
            cubic_weights(rx - (float)ix, wx);
            float *o = out + ((size_t)oy * OW + ox) * C;
            for (int c = 0; c < C; c++) {
                float acc = 0.0f;
                for (int j = 0; j < 4; j++) {
                    const float *row = in + (size_t)clampi(iy - 1 + j, G - 1) * G * C;
                    float r = 0.0f;
                    for (int i = 0; i < 4; i++) r += wx[i] * row[(size_t)clampi(ix - 1 + i, G - 1) * C + c];
                    acc += wy[j] * r;
                }
                o[c] = acc;
            }
        }
    }
}

static mmf_status dino_size(mmf_encoder *e, int nt) {
    dinov2 *m = e->impl;
    size_t B = (size_t)e->params.max_batch, T = (size_t)m->tw.T, C = (size_t)m->tw.C;
    size_t want[] = {B * T * C, mmf_vis_tower_scratch(&m->tw, (int)B, nt)};
    float **dst[] = {&m->x, &m->scratch};
    return mmf_arena_carve(&m->base.arena, 2, want, dst, e->dir);
}

/* The checkpoint's (1, G*G + 1, C) table as the (T, C) one for S x S inputs. */
static mmf_status positions(mmf_encoder *e, dinov2 *m, int S0) {
    mmf_vis_tower *t = &m->tw;
    const int C = t->C, P = t->P, G0 = S0 / P, G = t->S / P;
    float *table;
    MMF_TRY(mmf_wbag_take(&m->base.bag, "embeddings.position_embeddings", 1, (int64_t)G0 * G0 + 1, C, 0,
                      "(image_size / patch_size)^2 + 1 x hidden_size", &table));
    if (G == G0) { t->pos = table; return MMF_OK; }   /* same grid: used as it is */
    if (!(t->pos = mmf_wbag_zeros(&m->base.bag, ((size_t)G * G + 1) * C))) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", e->dir);
    memcpy(t->pos, table, sizeof(float) * (size_t)C);
    bicubic(table + C, G0, C, t->pos + C, G, G);
    return MMF_OK;
}

static mmf_status dino_load(mmf_encoder *e) {
    const mmf_tf_config *c = &e->cfg.tf;
    dinov2 *m = mmf_impl_base_new(e, sizeof *m);
    if (!m) return MMF_ERR_NOMEM;
    if (c->use_swiglu)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s/config.json: use_swiglu_ffn (dinov2-giant's SwiGLU MLP) is not supported", e->dir);
    if (c->num_channels != 3)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s/config.json: num_channels %lld (mmfuse feeds RGB images: 3)", e->dir, (long long)c->num_channels);
    MMF_TRY(mmf_image_processor_load(e->dir, &e->proc));
    int ch, h, w;
    mmf_image_processor_size(e->proc, &ch, &h, &w);
    if (h != w || h < 1)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: preprocessor_config.json makes %dx%d images; mmfuse runs DINOv2 on square inputs", e->dir, w, h);
    mmf_vis_tower *t = &m->tw;
    t->C = (int)c->hidden_size; t->L = (int)c->num_layers; t->F = (int)c->intermediate_size; t->P = (int)c->patch_size;
    t->S = h;
    if (t->P < 1 || t->S < t->P || c->image_size < t->P)
        return mmf_fail(MMF_ERR_FORMAT, "%s: image size %d (preprocessor) / %lld (config) and patch_size %d make no patches", e->dir, t->S,
                        (long long)c->image_size, t->P);
    t->N = (t->S / t->P) * (t->S / t->P);
    t->T = t->N + 1;
    t->eps = (float)c->layer_norm_eps;
    t->spec = (mmf_tf_spec){.hidden = t->C, .heads = (int)c->num_heads, .ffn = t->F, .eps = t->eps, .act = c->act,
                            .pre_norm = 1, .layer_scaled = 1};
    MMF_TRY(mmf_impl_base_open(e, &m->base, "dinov2.", "embeddings.cls_token"));
    mmf_wbag *wb = &m->base.bag;
    const int64_t C = t->C, P = t->P;
    mmf_status s = mmf_wbag_take(wb, "embeddings.cls_token", 1, 1, C, 0, "hidden_size", &t->cls);
    if (!s) s = positions(e, m, (int)c->image_size);
    if (!s) s = mmf_wbag_take(wb, "embeddings.patch_embeddings.projection.weight", C, 3, P, P, "hidden_size x 3 x patch x patch", &t->patch_w);
    if (!s) s = mmf_wbag_take(wb, "embeddings.patch_embeddings.projection.bias", C, 0, 0, 0, "hidden_size", &t->patch_b);
    if (!s) s = mmf_wbag_layers(wb, &names, t->L, C, t->F, "", &t->layers);
    for (int l = 0; l < t->L && !s; l++) {
        char n1[96], n2[96];
        float *a = NULL, *b = NULL;
        snprintf(n1, sizeof n1, "encoder.layer.%d.layer_scale1.lambda1", l);
        snprintf(n2, sizeof n2, "encoder.layer.%d.layer_scale2.lambda1", l);
        s = mmf_wbag_take(wb, n1, C, 0, 0, 0, "hidden_size", &a);
        if (!s) s = mmf_wbag_take(wb, n2, C, 0, 0, 0, "hidden_size", &b);
        t->layers[l].ls1 = a;
        t->layers[l].ls2 = b;
    }
    if (!s) s = mmf_wbag_take(wb, "layernorm.weight", C, 0, 0, 0, "hidden_size", &t->post_w);
    if (!s) s = mmf_wbag_take(wb, "layernorm.bias", C, 0, 0, 0, "hidden_size", &t->post_b);
    mmf_st_close(wb->st);
    wb->st = NULL;
    if (s) return s;
    t->post_all_tokens = 1;
    e->dim = e->token_dim = t->C;
    e->def_pool = MMF_POOL_CLS;
    if (e->params.pooling == MMF_POOL_CLS_MEAN) {   /* [cls, mean]: the embedding is twice as wide */
        e->dim = 2 * t->C;
        e->def_pool = MMF_POOL_CLS_MEAN;
    }
    e->def_norm = 0;
    /* bf16 / int8: the layers' GEMMs (layer scale runs the per-GEMM path) */
    return mmf_tf_use_precision(&t->spec, t->layers, t->L, (int)e->params.precision, e->dir, &m->base.packed[0]);
}

static mmf_status dino_image_forward(mmf_encoder *e, const float *pixels, int B, mmf_pooling pool, float *out) {
    dinov2 *m = e->impl;
    const int C = m->tw.C, T = m->tw.T, nt = e->params.n_threads;
    int wide = e->dim == 2 * C;
    if (pool != MMF_POOL_CLS && pool != MMF_POOL_POOLER && pool != MMF_POOL_MEAN && pool != MMF_POOL_CLS_MEAN)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "DINOv2 pooling \"%s\": use cls (= pooler), mean or cls_mean", mmf_pooling_name(pool));
    if (wide != (pool == MMF_POOL_CLS_MEAN))
        return mmf_fail(MMF_ERR_ARG, "%s: %s", e->dir, wide ? "this encoder was loaded for pooling cls_mean (2 x hidden wide); load it again for another pooling"
                                                            : "pooling cls_mean (2 x hidden wide) is chosen when the encoder is loaded (mmf_encoder_params.pooling)");
    MMF_TRY(mmf_vis_tower_run(&m->tw, "dinov2", pixels, B, e->params.max_batch, m->x, m->scratch, nt, NULL));
    for (int b = 0; b < B; b++) {
        const float *h = m->x + (size_t)b * T * C;
        float *o = out + (size_t)b * e->dim;
        if (pool != MMF_POOL_MEAN) memcpy(o, h, sizeof(float) * (size_t)C);
        if (pool == MMF_POOL_MEAN || pool == MMF_POOL_CLS_MEAN) {
            if (wide) o += C;
            for (int j = 0; j < C; j++) {
            double s = 0;
            for (int i = 1; i < T; i++) s += h[(size_t)i * C + j];
            o[j] = (float)(s / (T - 1));
            }
        }
    }
    return MMF_OK;
}

/* Token states for tests: (B,T,C) last_hidden_state. */
mmf_status mmf_dinov2_tokens(mmf_encoder *e, const float *pixels, int B, float *x) {
    dinov2 *m = e->impl;
    if (strcmp(e->cfg.model_type, "dinov2")) return mmf_fail(MMF_ERR_ARG, "not a DINOv2 encoder");
    return mmf_vis_tower_run(&m->tw, "dinov2", pixels, B, e->params.max_batch, m->x, m->scratch, e->params.n_threads, x);
}

const mmf_encoder_ops mmf_dinov2_ops = {
    .model_type = "dinov2",
    .family = "DINOv2 (Dinov2Model: ViT layers with layer scale, bicubic-interpolated positions)",
    .pooler = "CLS after the final layernorm (pooler_output)",
    .load = dino_load,
    .free_impl = mmf_impl_base_release,
    .size = dino_size,
    .image_forward = dino_image_forward,
};
