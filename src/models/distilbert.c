/* DistilBERT (Hugging Face DistilBertModel semantics): distilbert-base-uncased,
 * multi-qa-distilbert-cos-v1, msmarco-distilbert-*, all-distilroberta is RoBERTa.
 * embeddings = LN(word[id] + position[t]) (no token types, eps 1e-12 fixed);
 * n_layers post-norm layers named transformer.layer.L.{attention.{q,k,v,out}_lin,
 * sa_layer_norm, ffn.lin1, ffn.lin2, output_layer_norm}; no pooler. Tensor
 * names with or without the "distilbert." prefix. sinusoidal_pos_embds: the
 * fixed table (create_sinusoidal_embeddings) when the checkpoint has no
 * position_embeddings; one it does have is used as transformers loads it. */
#include "models/text_tower.h"
#include "core/error.h"
#include "core/ops.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


typedef struct distilbert {
    mmf_text_tower t;   /* first (text_tower.h) */
    float *wte, *wpe, *eln_w, *eln_b;
} distilbert;

static const mmf_tf_layer_names names = {
    "transformer.layer.%d.attention.q_lin.weight", "transformer.layer.%d.attention.k_lin.weight",
    "transformer.layer.%d.attention.v_lin.weight", "transformer.layer.%d.attention.q_lin.bias",
    "transformer.layer.%d.attention.k_lin.bias", "transformer.layer.%d.attention.v_lin.bias",
    "transformer.layer.%d.attention.out_lin.weight", "transformer.layer.%d.attention.out_lin.bias",
    "transformer.layer.%d.sa_layer_norm.weight", "transformer.layer.%d.sa_layer_norm.bias",
    "transformer.layer.%d.output_layer_norm.weight", "transformer.layer.%d.output_layer_norm.bias",
    "transformer.layer.%d.ffn.lin1.weight", "transformer.layer.%d.ffn.lin1.bias",
    "transformer.layer.%d.ffn.lin2.weight", "transformer.layer.%d.ffn.lin2.bias",
};

/* create_sinusoidal_embeddings: angles in double, the table in float */
static void sinusoidal(float *out, int P, int C) {
    for (int p = 0; p < P; p++)
        for (int j = 0; j < C; j++) {
            double a = (double)p / pow(10000.0, 2.0 * (j / 2) / (double)C);
            out[(size_t)p * C + j] = (float)(j % 2 ? cos(a) : sin(a));
        }
}

static mmf_status db_load(mmf_encoder *e) {
    const mmf_tf_config *c = &e->cfg.tf;
    mmf_text_tower *t;
    MMF_TRY(mmf_text_tower_open(e, sizeof(distilbert), "distilbert.", "embeddings.word_embeddings.weight", &t));
    distilbert *m = e->impl;
    const int P = (int)c->max_positions;
    t->npos = P;
    t->spec = (mmf_tf_spec){.hidden = t->C, .heads = t->H, .ffn = (int)c->intermediate_size, .eps = 1e-12f, .act = c->act};
    mmf_wbag *w = &t->base.bag;
    MMF_TRY(mmf_wbag_take(w, "embeddings.word_embeddings.weight", t->V, t->C, 0, 0, "vocab_size x dim", &m->wte));
    MMF_TRY(mmf_wbag_take_opt(w, "embeddings.position_embeddings.weight", P, t->C, "max_position_embeddings x dim", &m->wpe));
    if (!m->wpe) {
        if (!c->sinusoidal_pos)
            return mmf_fail(MMF_ERR_NOT_FOUND, "%s: tensor \"%sembeddings.position_embeddings.weight\" is missing from the checkpoint "
                            "(and config.json's sinusoidal_pos_embds is false)", e->dir, w->prefix);
        if (!(m->wpe = mmf_wbag_zeros(w, (size_t)P * t->C))) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", e->dir);
        sinusoidal(m->wpe, P, t->C);
    }
    MMF_TRY(mmf_wbag_take(w, "embeddings.LayerNorm.weight", t->C, 0, 0, 0, "dim", &m->eln_w));
    MMF_TRY(mmf_wbag_take(w, "embeddings.LayerNorm.bias", t->C, 0, 0, 0, "dim", &m->eln_b));
    MMF_TRY(mmf_wbag_layers(w, &names, t->L, t->C, t->spec.ffn, "", &t->layers));
    return mmf_text_tower_finish(e, t);
}

static mmf_status db_forward(mmf_encoder *e, const int32_t *ids, const int32_t *types, const uint8_t *keep, int B, int T,
                             mmf_pooling pool, float *pooled, float *tokens) {
    (void)types;   /* DistilBERT has no token types */
    distilbert *m = e->impl;
    mmf_text_tower *t = &m->t;
    MMF_TRY(mmf_text_tower_check(e, t, ids, B, T, pool, pooled));
    for (int64_t r = 0; r < (int64_t)B * T; r++) t->pos[r] = (int32_t)(r % T);
    mmf_text_tower_embed(e, t, ids, m->wte, m->wpe, m->eln_w, m->eln_b, 1e-12f, B, T);
    mmf_text_tower_run(e, t, keep, B, T, pool, pooled, tokens);
    return MMF_OK;
}

const mmf_encoder_ops mmf_distilbert_ops = {
    .model_type = "distilbert",
    .family = "DistilBERT (DistilBertModel: post-norm layers, no token types)",
    .load = db_load,
    .free_impl = mmf_impl_base_release,
    .size = mmf_text_tower_size,
    .text_forward = db_forward,
};
