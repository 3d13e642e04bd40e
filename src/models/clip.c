/* CLIP (Hugging Face CLIPModel semantics): both towers, projections and
 * logit_scale.
 *  vision: vision_model.* (models/vit.h tower with pre_layrnorm), pooled =
 *    post_layernorm(h[:, 0]), image_embeds = visual_projection(pooled);
 *  text: text_model.embeddings.{token,position}_embedding, causal pre-norm
 *    layers with the padding mask, final_layer_norm, pooled at the EOS token:
 *    configs with eos_token_id == 2 (the original openai files) take
 *    argmax(input_ids) (the end token has the largest id), others the first
 *    position holding eos_token_id, as transformers does;
 *    text_embeds = text_projection(pooled).
 * Embeddings are the projected features (get_image_features /
 * get_text_features); the encoder's dim is projection_dim. */
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


typedef struct clip {
    mmf_impl_base base;      /* first */
    mmf_vis_tower vis;
    /* text tower */
    int V, Ct, Lt, Ft, Pt;
    float eps_t;
    float *tok_emb, *pos_emb, *fin_w, *fin_b;
    mmf_tf_layer_w *tlayers;
    mmf_tf_spec tspec;
    int64_t eos_id;
    /* heads */
    int D;
    float *vproj, *tproj;   /* (D, Cv), (D, Ct) */
    float logit_scale;      /* the raw parameter */
    /* activations */
    float *vx, *vscratch, *tx, *tscratch, *tmp;
    int tT;                 /* text length the arena was sized for */
} clip;

static mmf_status clip_size(mmf_encoder *e, int nt) {
    clip *m = e->impl;
    size_t B = (size_t)e->params.max_batch, Tv = (size_t)m->vis.T, Cv = (size_t)m->vis.C;
    size_t Tt = (size_t)m->tT, Ct = (size_t)m->Ct;
    size_t vs = mmf_vis_tower_scratch(&m->vis, (int)B, nt), ts = mmf_tf_layer_scratch(&m->tspec, (int)B, (int)Tt, nt);
    size_t cmax = Cv > Ct ? Cv : Ct;
    size_t want[] = {B * Tv * Cv, vs, B * Tt * Ct, ts, B * cmax};
    float **dst[] = {&m->vx, &m->vscratch, &m->tx, &m->tscratch, &m->tmp};
    return mmf_arena_carve(&m->base.arena, 5, want, dst, e->dir);
}

static mmf_status load_text(clip *m, const mmf_tf_config *c, mmf_wbag *w) {
    m->V = (int)c->vocab_size;
    m->Ct = (int)c->hidden_size;
    m->Lt = (int)c->num_layers;
    m->Ft = (int)c->intermediate_size;
    m->Pt = (int)c->max_positions;
    m->eps_t = (float)c->layer_norm_eps;
    m->eos_id = c->eos_token_id;
    if (m->V < 1 || m->Pt < 2) return mmf_fail(MMF_ERR_FORMAT, "%s/config.json: text_config needs vocab_size and max_position_embeddings", w->dir);
    m->tspec = (mmf_tf_spec){.hidden = m->Ct, .heads = (int)c->num_heads, .ffn = m->Ft, .eps = m->eps_t, .act = c->act,
                             .pre_norm = 1, .causal = 1, .attn_scale = 0.0f};
    const int64_t C = m->Ct, F = m->Ft;
    strcpy(w->prefix, "text_model.");
    MMF_TRY(mmf_wbag_take(w, "embeddings.token_embedding.weight", m->V, C, 0, 0, "text_config vocab_size x hidden_size", &m->tok_emb));
    MMF_TRY(mmf_wbag_take(w, "embeddings.position_embedding.weight", m->Pt, C, 0, 0, "text_config max_position_embeddings x hidden_size", &m->pos_emb));
    MMF_TRY(mmf_wbag_layers(w, &mmf_clip_layer_names, m->Lt, C, F, "text_config ", &m->tlayers));
    MMF_TRY(mmf_wbag_take(w, "final_layer_norm.weight", C, 0, 0, 0, "text_config hidden_size", &m->fin_w));
    MMF_TRY(mmf_wbag_take(w, "final_layer_norm.bias", C, 0, 0, 0, "text_config hidden_size", &m->fin_b));
    return MMF_OK;
}

static int file_exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static mmf_status clip_load(mmf_encoder *e) {
    clip *m = mmf_impl_base_new(e, sizeof *m);
    if (!m) return MMF_ERR_NOMEM;
    MMF_TRY(mmf_image_processor_load(e->dir, &e->proc));
    MMF_TRY(mmf_impl_base_open(e, &m->base, "vision_model.", NULL));
    mmf_wbag *w = &m->base.bag;
    mmf_status s = mmf_vis_tower_load_clip(&m->vis, &e->cfg.vision, w);
    if (!s) s = load_text(m, &e->cfg.text, w);
    m->D = (int)e->cfg.projection_dim;
    w->prefix[0] = 0;
    if (!s) s = mmf_wbag_take(w, "visual_projection.weight", m->D, m->vis.C, 0, 0, "projection_dim x vision hidden_size", &m->vproj);
    if (!s) s = mmf_wbag_take(w, "text_projection.weight", m->D, m->Ct, 0, 0, "projection_dim x text hidden_size", &m->tproj);
    float *ls = NULL;
    if (!s) s = mmf_wbag_take(w, "logit_scale", 1, 0, 0, 0, "a scalar", &ls);
    mmf_st_close(w->st);
    w->st = NULL;
    if (s) return s;
    m->logit_scale = ls[0];
    e->logit_scale = expf(ls[0]);
    MMF_TRY(mmf_vis_check_input(e, m->vis.S, "vision_config image_size"));
    /* the tokenizer (optional: a vision-only use needs none) */
    char p1[4096], p2[4096];
    snprintf(p1, sizeof p1, "%s/tokenizer.json", e->dir);
    snprintf(p2, sizeof p2, "%s/merges.txt", e->dir);
    if (file_exists(p1) || file_exists(p2)) MMF_TRY(mmf_tokenizer_load(e->dir, &e->tok));
    else mmf_log(MMF_LOG_INFO, "%s: no tokenizer files; CLIP text embedding needs tokenizer.json or vocab.json + merges.txt", e->dir);
    int ml = e->tok ? mmf_tokenizer_max_length(e->tok) : 0;
    e->max_length = ml > 0 && ml < m->Pt ? ml : m->Pt;
    if (e->params.max_length > 0 && e->params.max_length < e->max_length) e->max_length = e->params.max_length;
    m->tT = e->max_length;
    e->dim = m->D;
    e->token_dim = m->Ct;
    e->def_pool = MMF_POOL_POOLER;
    e->def_norm = 0;
    /* bf16: both towers' transformer layers (transformer.c's bf16 layer); embeddings and projections stay fp32 */
    MMF_TRY(mmf_tf_use_precision(&m->vis.spec, m->vis.layers, m->vis.L, (int)e->params.precision, e->dir, &m->base.packed[0]));
    return mmf_tf_use_precision(&m->tspec, m->tlayers, m->Lt, (int)e->params.precision, e->dir, &m->base.packed[1]);
}

/* image_embeds (B,D); last (B,T,Cv) or NULL */
static mmf_status vision(mmf_encoder *e, const float *pixels, int B, float *embeds, float *last) {
    clip *m = e->impl;
    const int C = m->vis.C, T = m->vis.T, nt = e->params.n_threads;
    MMF_TRY(mmf_vis_tower_run(&m->vis, "clip", pixels, B, e->params.max_batch, m->vx, m->vscratch, nt, last));
    for (int b = 0; b < B; b++) memcpy(m->tmp + (size_t)b * C, m->vx + (size_t)b * T * C, sizeof(float) * (size_t)C);
    mmf_layernorm(m->tmp, m->tmp, m->vis.post_w, m->vis.post_b, B, C, m->vis.eps, nt);
    mmf_linear(embeds, m->tmp, m->vproj, NULL, B, C, m->D, nt);
    return MMF_OK;
}

static mmf_status text(clip *m, const int32_t *ids, const uint8_t *keep, int B, int T, float *embeds, float *last, int nt) {
    const int C = m->Ct;
    if (T > m->tT || T > m->Pt) return mmf_fail(MMF_ERR_ARG, "clip: %d tokens > the %d this model takes", T, m->tT);
    mmf_threads_use(nt);
    MMF_TRY(mmf_embedding(m->tx, m->tok_emb, ids, (int64_t)B * T, C, m->V));
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *r = m->tx + ((size_t)b * T + t) * C;
            const float *p = m->pos_emb + (size_t)t * C;
            for (int j = 0; j < C; j++) r[j] += p[j];
        }
    mmf_tf_stack_forward(&m->tspec, m->tlayers, m->Lt, m->tx, keep, B, T, m->tscratch, nt);
    mmf_layernorm(m->tx, m->tx, m->fin_w, m->fin_b, (int64_t)B * T, C, m->eps_t, nt);
    if (last) memcpy(last, m->tx, sizeof(float) * (size_t)B * T * C);
    if (embeds) {
        for (int b = 0; b < B; b++) {
            const int32_t *row = ids + (size_t)b * T;
            int pos = 0;
            if (m->eos_id == 2) {
                for (int t = 1; t < T; t++) if (row[t] > row[pos]) pos = t;   /* first maximum, as torch.argmax */
            } else {
                for (int t = 0; t < T; t++) if (row[t] == m->eos_id) { pos = t; break; }
            }
            memcpy(m->tmp + (size_t)b * C, m->tx + ((size_t)b * T + pos) * C, sizeof(float) * (size_t)C);
        }
        mmf_linear(embeds, m->tmp, m->tproj, NULL, B, C, m->D, nt);
    }
    return MMF_OK;
}

static mmf_status clip_image_forward(mmf_encoder *e, const float *pixels, int B, mmf_pooling pool, float *out) {
    if (pool != MMF_POOL_POOLER)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "CLIP image embeddings are the projected features (pooling \"pooler\"/default), not \"%s\"",
                        mmf_pooling_name(pool));
    return vision(e, pixels, B, out, NULL);
}

static mmf_status clip_text_forward(mmf_encoder *e, const int32_t *ids, const int32_t *types, const uint8_t *keep,
                                    int B, int T, mmf_pooling pool, float *pooled, float *tokens) {
    (void)types;
    if (pooled && pool != MMF_POOL_POOLER)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "CLIP text embeddings are the projected features (pooling \"pooler\"/default), not \"%s\"",
                        mmf_pooling_name(pool));
    return text(e->impl, ids, keep, B, T, pooled, tokens, e->params.n_threads);
}

mmf_status mmf_clip_vision(mmf_encoder *e, const float *pixels, int B, float *image_embeds, float *last_hidden) {
    if (strcmp(e->cfg.model_type, "clip")) return mmf_fail(MMF_ERR_ARG, "not a CLIP encoder");
    return vision(e, pixels, B, image_embeds, last_hidden);
}

mmf_status mmf_clip_text_ids(mmf_encoder *e, const int32_t *ids, const uint8_t *keep, int B, int T, float *text_embeds,
                             float *last_hidden) {
    if (strcmp(e->cfg.model_type, "clip")) return mmf_fail(MMF_ERR_ARG, "not a CLIP encoder");
    if (B > e->params.max_batch) return mmf_fail(MMF_ERR_ARG, "clip: batch %d > max_batch %d", B, e->params.max_batch);
    return text(e->impl, ids, keep, B, T, text_embeds, last_hidden, e->params.n_threads);
}

const mmf_encoder_ops mmf_clip_ops = {
    .model_type = "clip",
    .family = "CLIP (CLIPModel: text and vision towers, projections)",
    .pooler = "the projected features: text at the end-of-text token, image post_layernorm(CLS) (get_text/image_features)",
    .load = clip_load,
    .free_impl = mmf_impl_base_release,
    .size = clip_size,
    .text_forward = clip_text_forward,
    .image_forward = clip_image_forward,
};
