/* SigLIP (Hugging Face SiglipModel / SiglipVisionModel semantics):
 * google/siglip-base-patch16-224 and the other SigLIP checkpoints
 * (model_type "siglip", both towers) and SigLIP vision towers alone
 * (model_type "siglip_vision_model").
 *  vision (vision_model.*): patch conv with bias + position_embedding (one row
 *    per patch, no CLS token), pre-norm layers with CLIP's names,
 *    post_layernorm over every token; pooled = the attention-pooling head
 *    ("MAP", head.*): a learned probe queries the tokens through
 *    nn.MultiheadAttention (in_proj_weight split q, k, v; out_proj), then
 *    h + mlp(layernorm(h)). vision_use_head false: no head (mean pooling).
 *  text (text_model.*): token + position embeddings, the same layers without a
 *    causal mask, final_layer_norm, pooled = head(h[:, -1]), the last
 *    position. SigLIP was trained on texts padded to max_length (64) with the
 *    padding attended to, as SiglipProcessor(padding="max_length") feeds it,
 *    so every text runs padded to max_position_embeddings with pad ids and
 *    no mask, and the last position is pooled.
 *  zero-shot: sigmoid(exp(logit_scale) * cosine + logit_bias), per label. */
#include "models/clip.h"
#include "models/encoder.h"
#include "models/vit.h"
#include "core/arena.h"
#include "core/error.h"
#include "core/ops.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


typedef struct siglip {
    mmf_impl_base base;   /* first */
    int has_text;
    /* vision */
    mmf_vis_tower vis;
    int use_head, Fv, Hv;
    mmf_act act_v;
    float *hq, *kv_w, *kv_b;                  /* probe's query (C), key/value rows of in_proj (2C, C), (2C) */
    float *ho_w, *ho_b, *hln_w, *hln_b, *hfc1_w, *hfc1_b, *hfc2_w, *hfc2_b;
    /* text */
    int V, Ct, Lt, Ft, Pt, Dt;
    float eps_t;
    float *tok_emb, *pos_emb, *fin_w, *fin_b, *thead_w, *thead_b;
    mmf_tf_layer_w *tlayers;
    mmf_tf_spec tspec;
    int32_t pad_id;
    /* activations */
    float *vx, *vscratch, *kv, *att, *a, *y, *hid, *ascr, *tx, *tscratch, *tmp;
    int32_t *tids;
} siglip;

static mmf_status sg_size(mmf_encoder *e, int nt) {
    siglip *m = e->impl;
    size_t B = (size_t)e->params.max_batch, N = (size_t)m->vis.T, Cv = (size_t)m->vis.C, Fv = (size_t)m->Fv;
    size_t vs = mmf_vis_tower_scratch(&m->vis, (int)B, nt);
    size_t as = (size_t)mmf_attention_scratch(1, (int)N, nt);
    size_t Tt = (size_t)m->Pt, Ct = (size_t)m->Ct;
    size_t ts = m->has_text ? mmf_tf_layer_scratch(&m->tspec, (int)B, (int)Tt, nt) : 1;
    size_t cmax = Cv > Ct ? Cv : Ct;
    size_t want[] = {B * N * Cv, vs, B * N * 2 * Cv, B * Cv, B * Cv, B * Cv, B * Fv, as,
                     m->has_text ? B * Tt * Ct : 1, ts, B * cmax, m->has_text ? B * Tt : 1};
    float **dst[] = {&m->vx, &m->vscratch, &m->kv, &m->att, &m->a, &m->y, &m->hid, &m->ascr, &m->tx, &m->tscratch, &m->tmp,
                     (float **)&m->tids};
    return mmf_arena_carve(&m->base.arena, (int)(sizeof want / sizeof want[0]), want, dst, e->dir);
}

static mmf_status load_vision(mmf_encoder *e, siglip *m, const mmf_tf_config *c) {
    mmf_vis_tower *t = &m->vis;
    mmf_wbag *w = &m->base.bag;
    t->C = (int)c->hidden_size; t->L = (int)c->num_layers; t->F = (int)c->intermediate_size; t->P = (int)c->patch_size;
    t->S = (int)c->image_size;
    if (t->P < 1 || t->S < t->P)
        return mmf_fail(MMF_ERR_FORMAT, "%s/config.json: image_size %d and patch_size %d do not make patches", e->dir, t->S, t->P);
    if (c->num_channels != 3)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s/config.json: num_channels %lld (mmfuse feeds RGB images: 3)", e->dir, (long long)c->num_channels);
    t->N = t->T = (t->S / t->P) * (t->S / t->P);
    t->eps = (float)c->layer_norm_eps;
    t->spec = (mmf_tf_spec){.hidden = t->C, .heads = (int)c->num_heads, .ffn = t->F, .eps = t->eps, .act = c->act, .pre_norm = 1};
    m->Fv = t->F;
    m->Hv = (int)c->num_heads;
    m->act_v = c->act;
    m->use_head = c->vision_use_head;
    const int64_t C = t->C, F = t->F, P = t->P;
    t->cls = NULL;
    MMF_TRY(mmf_wbag_take(w, "embeddings.patch_embedding.weight", C, 3, P, P, "hidden_size x 3 x patch x patch", &t->patch_w));
    MMF_TRY(mmf_wbag_take(w, "embeddings.patch_embedding.bias", C, 0, 0, 0, "hidden_size", &t->patch_b));
    MMF_TRY(mmf_wbag_take(w, "embeddings.position_embedding.weight", t->N, C, 0, 0, "(image_size / patch_size)^2 x hidden_size", &t->pos));
    MMF_TRY(mmf_wbag_layers(w, &mmf_clip_layer_names, t->L, C, F, "vision_config ", &t->layers));
    MMF_TRY(mmf_wbag_take(w, "post_layernorm.weight", C, 0, 0, 0, "hidden_size", &t->post_w));
    MMF_TRY(mmf_wbag_take(w, "post_layernorm.bias", C, 0, 0, 0, "hidden_size", &t->post_b));
    t->post_all_tokens = 1;
    if (!m->use_head) return MMF_OK;
    float *probe, *in_w, *in_b;
    MMF_TRY(mmf_wbag_take(w, "head.probe", 1, 1, C, 0, "hidden_size", &probe));
    MMF_TRY(mmf_wbag_take(w, "head.attention.in_proj_weight", 3 * C, C, 0, 0, "3 hidden_size x hidden_size", &in_w));
    MMF_TRY(mmf_wbag_take(w, "head.attention.in_proj_bias", 3 * C, 0, 0, 0, "3 hidden_size", &in_b));
    MMF_TRY(mmf_wbag_take(w, "head.attention.out_proj.weight", C, C, 0, 0, "hidden_size", &m->ho_w));
    MMF_TRY(mmf_wbag_take(w, "head.attention.out_proj.bias", C, 0, 0, 0, "hidden_size", &m->ho_b));
    MMF_TRY(mmf_wbag_take(w, "head.layernorm.weight", C, 0, 0, 0, "hidden_size", &m->hln_w));
    MMF_TRY(mmf_wbag_take(w, "head.layernorm.bias", C, 0, 0, 0, "hidden_size", &m->hln_b));
    MMF_TRY(mmf_wbag_take(w, "head.mlp.fc1.weight", F, C, 0, 0, "intermediate_size x hidden_size", &m->hfc1_w));
    MMF_TRY(mmf_wbag_take(w, "head.mlp.fc1.bias", F, 0, 0, 0, "intermediate_size", &m->hfc1_b));
    MMF_TRY(mmf_wbag_take(w, "head.mlp.fc2.weight", C, F, 0, 0, "hidden_size x intermediate_size", &m->hfc2_w));
    MMF_TRY(mmf_wbag_take(w, "head.mlp.fc2.bias", C, 0, 0, 0, "hidden_size", &m->hfc2_b));
    /* the probe is a constant: its query projection is computed once */
    if (!(m->hq = mmf_wbag_zeros(w, (size_t)C))) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", e->dir);
    mmf_linear(m->hq, probe, in_w, in_b, 1, (int)C, (int)C, 1);
    m->kv_w = in_w + C * C;
    m->kv_b = in_b + C;
    return MMF_OK;
}

static mmf_status load_text(mmf_encoder *e, siglip *m, const mmf_tf_config *c) {
    mmf_wbag *w = &m->base.bag;
    m->V = (int)c->vocab_size; m->Ct = (int)c->hidden_size; m->Lt = (int)c->num_layers; m->Ft = (int)c->intermediate_size;
    m->Pt = (int)c->max_positions; m->Dt = (int)c->projection_size;
    m->eps_t = (float)c->layer_norm_eps;
    m->pad_id = (int32_t)c->pad_token_id;
    if (m->V < 1 || m->Pt < 1)
        return mmf_fail(MMF_ERR_FORMAT, "%s/config.json: text_config needs vocab_size and max_position_embeddings >= 1", e->dir);
    m->tspec = (mmf_tf_spec){.hidden = m->Ct, .heads = (int)c->num_heads, .ffn = m->Ft, .eps = m->eps_t, .act = c->act, .pre_norm = 1};
    const int64_t C = m->Ct;
    MMF_TRY(mmf_wbag_take(w, "embeddings.token_embedding.weight", m->V, C, 0, 0, "text_config vocab_size x hidden_size", &m->tok_emb));
    MMF_TRY(mmf_wbag_take(w, "embeddings.position_embedding.weight", m->Pt, C, 0, 0, "text_config max_position_embeddings x hidden_size", &m->pos_emb));
    MMF_TRY(mmf_wbag_layers(w, &mmf_clip_layer_names, m->Lt, C, m->Ft, "text_config ", &m->tlayers));
    MMF_TRY(mmf_wbag_take(w, "final_layer_norm.weight", C, 0, 0, 0, "text_config hidden_size", &m->fin_w));
    MMF_TRY(mmf_wbag_take(w, "final_layer_norm.bias", C, 0, 0, 0, "text_config hidden_size", &m->fin_b));
    MMF_TRY(mmf_wbag_take(w, "head.weight", m->Dt, C, 0, 0, "text_config projection_size x hidden_size", &m->thead_w));
    MMF_TRY(mmf_wbag_take(w, "head.bias", m->Dt, 0, 0, 0, "text_config projection_size", &m->thead_b));
    return MMF_OK;
}

static int file_exists(const char *dir, const char *name) {
    char p[4096];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static mmf_status sg_load(mmf_encoder *e) {
    siglip *m = mmf_impl_base_new(e, sizeof *m);
    if (!m) return MMF_ERR_NOMEM;
    m->has_text = strcmp(e->cfg.model_type, "siglip") == 0;
    const mmf_tf_config *vc = m->has_text ? &e->cfg.vision : &e->cfg.tf;
    MMF_TRY(mmf_image_processor_load(e->dir, &e->proc));
    MMF_TRY(mmf_impl_base_open(e, &m->base, "vision_model.", NULL));
    mmf_wbag *w = &m->base.bag;
    mmf_status s = load_vision(e, m, vc);
    if (!s && m->has_text) {
        strcpy(w->prefix, "text_model.");
        s = load_text(e, m, &e->cfg.text);
    }
    float *ls = NULL, *lb = NULL;
    w->prefix[0] = 0;
    if (!s && m->has_text) s = mmf_wbag_take(w, "logit_scale", 1, 0, 0, 0, "a scalar", &ls);
    if (!s && m->has_text) s = mmf_wbag_take(w, "logit_bias", 1, 0, 0, 0, "a scalar", &lb);
    mmf_st_close(w->st);
    w->st = NULL;
    if (s) return s;
    MMF_TRY(mmf_vis_check_input(e, m->vis.S, "the vision image_size"));
    e->dim = m->vis.C;
    e->token_dim = m->vis.C;
    e->def_pool = m->use_head ? MMF_POOL_POOLER : MMF_POOL_MEAN;
    e->def_norm = 0;
    if (m->has_text) {
        if (m->Dt != m->vis.C)
            return mmf_fail(MMF_ERR_SHAPE, "%s/config.json: the text head gives %d-dim embeddings and the vision tower %d", e->dir, m->Dt, m->vis.C);
        if (!m->use_head)
            return mmf_fail(MMF_ERR_UNSUPPORTED, "%s/config.json: a SigLIP model without the vision head (vision_use_head false) has no image features", e->dir);
        e->token_dim = m->Ct;
        e->logit_scale = expf(ls[0]);
        e->logit_bias = lb[0];
        e->sigmoid_logits = 1;
        if (file_exists(e->dir, "tokenizer.json") || file_exists(e->dir, "spiece.model")) MMF_TRY(mmf_tokenizer_load(e->dir, &e->tok));
        else mmf_log(MMF_LOG_INFO, "%s: no tokenizer files; SigLIP text embedding needs tokenizer.json or spiece.model", e->dir);
        /* the pad is text_config's pad_token_id (SiglipTokenizer pads with "</s>", id 1), whatever the
         * tokenizer file calls padding */
        int ml = e->tok ? mmf_tokenizer_max_length(e->tok) : 0;
        e->max_length = ml > 0 && ml < m->Pt ? ml : m->Pt;
        if (e->params.max_length > 0 && e->params.max_length < e->max_length) e->max_length = e->params.max_length;
        if (m->pad_id < 0 || m->pad_id >= m->V)
            return mmf_fail(MMF_ERR_FORMAT, "%s: the pad id %d is outside the vocabulary of %d", e->dir, m->pad_id, m->V);
        MMF_TRY(mmf_tf_use_precision(&m->tspec, m->tlayers, m->Lt, (int)e->params.precision, e->dir, &m->base.packed[1]));
    }
    return mmf_tf_use_precision(&m->vis.spec, m->vis.layers, m->vis.L, (int)e->params.precision, e->dir, &m->base.packed[0]);
}

/* The MAP head over post_layernorm tokens vx (B,N,C) -> out (B,C). */
static void head(siglip *m, int B, float *out, int nt) {
    const int C = m->vis.C, N = m->vis.N, H = m->Hv, D = C / H, F = m->Fv;
    mmf_linear(m->kv, m->vx, m->kv_w, m->kv_b, (int64_t)B * N, C, 2 * C, nt);
    /* one query per image, the same for all (m->a is free until the out projection) */
    for (int b = 0; b < B; b++) memcpy(m->a + (size_t)b * C, m->hq, sizeof(float) * (size_t)C);
    mmf_attention(m->att, C, m->a, C, m->kv, 2 * C, m->kv + C, 2 * C, B, H, 1, N, D, NULL, 0, 1.0f / sqrtf((float)D),
                  m->ascr, nt);
    mmf_linear(m->a, m->att, m->ho_w, m->ho_b, B, C, C, nt);
    mmf_layernorm(m->y, m->a, m->hln_w, m->hln_b, B, C, m->vis.eps, nt);
    mmf_linear(m->hid, m->y, m->hfc1_w, m->hfc1_b, B, C, F, nt);
    mmf_act_apply(m->act_v, m->hid, (int64_t)B * F, nt);
    mmf_linear(out, m->hid, m->hfc2_w, m->hfc2_b, B, F, C, nt);
    for (int64_t i = 0; i < (int64_t)B * C; i++) out[i] += m->a[i];
}

static mmf_status sg_image_forward(mmf_encoder *e, const float *pixels, int B, mmf_pooling pool, float *out) {
    siglip *m = e->impl;
    const int C = m->vis.C, N = m->vis.N, nt = e->params.n_threads;
    if (pool == MMF_POOL_POOLER && !m->use_head)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: this SigLIP vision tower has no attention-pooling head (vision_use_head false): use mean", e->dir);
    if (pool != MMF_POOL_POOLER && pool != MMF_POOL_MEAN)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "SigLIP image pooling \"%s\": use pooler (the attention-pooling head) or mean", mmf_pooling_name(pool));
    MMF_TRY(mmf_vis_tower_run(&m->vis, "siglip", pixels, B, e->params.max_batch, m->vx, m->vscratch, nt, NULL));
    if (pool == MMF_POOL_POOLER) { head(m, B, out, nt); return MMF_OK; }
    for (int b = 0; b < B; b++)
        for (int j = 0; j < C; j++) {
            double s = 0;
            for (int i = 0; i < N; i++) s += m->vx[((size_t)b * N + i) * C + j];
            out[(size_t)b * C + j] = (float)(s / N);
        }
    return MMF_OK;
}

/* Texts padded to Pt with pad ids, no mask: embeds (B,D) or NULL, last (B,T,Ct) (the first T positions) or NULL. */
static mmf_status text(mmf_encoder *e, const int32_t *ids, const uint8_t *keep, int B, int T, float *embeds, float *last) {
    siglip *m = e->impl;
    const int C = m->Ct, Tp = m->Pt, nt = e->params.n_threads;
    if (T > Tp || B > e->params.max_batch)
        return mmf_fail(MMF_ERR_ARG, "siglip: batch %d x %d exceeds the %d x %d the encoder was sized for", B, T, e->params.max_batch, Tp);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < Tp; t++) {   /* the batch's own padding becomes the model's pad id too */
            size_t r = (size_t)b * T + t;
            m->tids[(size_t)b * Tp + t] = t < T && (!keep || keep[r]) ? ids[r] : m->pad_id;
        }
    mmf_threads_use(nt);
    MMF_TRY(mmf_embedding(m->tx, m->tok_emb, m->tids, (int64_t)B * Tp, C, m->V));
    for (int b = 0; b < B; b++)
        for (int t = 0; t < Tp; t++) {
            float *r = m->tx + ((size_t)b * Tp + t) * C;
            const float *p = m->pos_emb + (size_t)t * C;
            for (int j = 0; j < C; j++) r[j] += p[j];
        }
    mmf_tf_stack_forward(&m->tspec, m->tlayers, m->Lt, m->tx, NULL, B, Tp, m->tscratch, nt);
    mmf_layernorm(m->tx, m->tx, m->fin_w, m->fin_b, (int64_t)B * Tp, C, m->eps_t, nt);
    if (last)
        for (int b = 0; b < B; b++) memcpy(last + (size_t)b * T * C, m->tx + (size_t)b * Tp * C, sizeof(float) * (size_t)T * C);
    if (embeds) {
        for (int b = 0; b < B; b++) memcpy(m->tmp + (size_t)b * C, m->tx + ((size_t)b * Tp + Tp - 1) * C, sizeof(float) * (size_t)C);
        mmf_linear(embeds, m->tmp, m->thead_w, m->thead_b, B, C, m->Dt, nt);
    }
    return MMF_OK;
}

static mmf_status sg_text_forward(mmf_encoder *e, const int32_t *ids, const int32_t *types, const uint8_t *keep, int B, int T,
                                  mmf_pooling pool, float *pooled, float *tokens) {
    (void)types;
    /* keep only marks where the pads go: SigLIP attends to its padding, part of the input it was trained on */
    if (pooled && pool != MMF_POOL_POOLER)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "SigLIP text embeddings are head(last position) (pooling \"pooler\"/default), not \"%s\"",
                        mmf_pooling_name(pool));
    return text(e, ids, keep, B, T, pooled, tokens);
}

mmf_status mmf_siglip_text_ids(mmf_encoder *e, const int32_t *ids, int B, int T, float *text_embeds, float *last_hidden) {
    if (strcmp(e->cfg.model_type, "siglip")) return mmf_fail(MMF_ERR_ARG, "not a SigLIP encoder");
    return text(e, ids, NULL, B, T, text_embeds, last_hidden);
}

mmf_status mmf_siglip_vision(mmf_encoder *e, const float *pixels, int B, float *last_hidden) {
    siglip *m = e->impl;
    if (strncmp(e->cfg.model_type, "siglip", 6)) return mmf_fail(MMF_ERR_ARG, "not a SigLIP encoder");
    return mmf_vis_tower_run(&m->vis, "siglip", pixels, B, e->params.max_batch, m->vx, m->vscratch, e->params.n_threads,
                             last_hidden);
}

const mmf_encoder_ops mmf_siglip_ops = {
    .model_type = "siglip",
    .family = "SigLIP (SiglipModel: vision tower without CLS + attention-pooling head, text tower pooled at the last position)",
    .pooler = "image: the attention-pooling head (MAP) over the tokens; text: head(last position) of the text padded to max_length",
    .load = sg_load,
    .free_impl = mmf_impl_base_release,
    .size = sg_size,
    .text_forward = sg_text_forward,
    .image_forward = sg_image_forward,
};

const mmf_encoder_ops mmf_siglip_vision_ops = {
    .model_type = "siglip_vision_model",
    .family = "SigLIP vision tower (SiglipVisionModel: no CLS, attention-pooling head)",
    .pooler = "the attention-pooling head (MAP) over the tokens",
    .load = sg_load,
    .free_impl = mmf_impl_base_release,
    .size = sg_size,
    .image_forward = sg_image_forward,
};
