/* MPNet (Hugging Face MPNetModel semantics): all-mpnet-base-v2,
 * multi-qa-mpnet-base-*, paraphrase-mpnet-base-v2.
 * embeddings = LN(word[id] + position[pos]) with RoBERTa's position ids from
 * the input ids (padding_idx fixed at 1 as MPNetEmbeddings has it; no token
 * types); post-norm layers named encoder.layer.L.{attention.attn.{q,k,v,o},
 * attention.LayerNorm, intermediate.dense, output.dense, output.LayerNorm}.
 * Every layer adds the same relative position bias to its scores:
 * bias[h, i, j] = encoder.relative_attention_bias[bucket(j - i), h], computed
 * from arange(T) (MPNetEncoder.compute_position_bias; positions, not the
 * padded position ids) with T5-style buckets (relative_attention_num_buckets,
 * max_distance 128). Pooler: tanh(pooler.dense(h0)) when present. Names with
 * or without the "mpnet." prefix. */
#include "models/text_tower.h"
#include "core/error.h"
#include "core/ops.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PADDING_IDX 1

typedef struct mpnet {
    mmf_text_tower t;   /* first (text_tower.h) */
    float *wte, *wpe, *eln_w, *eln_b, *rel;   /* rel (buckets, H) */
    int buckets, P;
    int bias_T;                               /* T the bias buffer holds, 0 = none yet */
} mpnet;

static const mmf_tf_layer_names names = {
    "encoder.layer.%d.attention.attn.q.weight", "encoder.layer.%d.attention.attn.k.weight",
    "encoder.layer.%d.attention.attn.v.weight", "encoder.layer.%d.attention.attn.q.bias",
    "encoder.layer.%d.attention.attn.k.bias", "encoder.layer.%d.attention.attn.v.bias",
    "encoder.layer.%d.attention.attn.o.weight", "encoder.layer.%d.attention.attn.o.bias",
    "encoder.layer.%d.attention.LayerNorm.weight", "encoder.layer.%d.attention.LayerNorm.bias",
    "encoder.layer.%d.output.LayerNorm.weight", "encoder.layer.%d.output.LayerNorm.bias",
    "encoder.layer.%d.intermediate.dense.weight", "encoder.layer.%d.intermediate.dense.bias",
    "encoder.layer.%d.output.dense.weight", "encoder.layer.%d.output.dense.bias",
};

/* MPNetEncoder.relative_position_bucket for one relative position (key - query) */
static int bucket(int rel, int num_buckets) {
    const int max_distance = 128;
    int n = -rel, ret = 0;
    num_buckets /= 2;
    if (n < 0) ret += num_buckets;
    n = abs(n);
    int max_exact = num_buckets / 2;
    if (n < max_exact) return ret + n;
    /* float as torch computes it: log(n.float() / max_exact) / log(max_distance / max_exact) * ... */
    float v = logf((float)n / (float)max_exact) / (float)log((double)max_distance / max_exact) * (float)(num_buckets - max_exact);
    int large = max_exact + (int)v;
    return ret + (large < num_buckets - 1 ? large : num_buckets - 1);
}

static void fill_bias(mpnet *m, int T) {
    const int H = m->t.H;
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++) {
            const float *r = m->rel + (size_t)bucket(j - i, m->buckets) * H;
            for (int h = 0; h < H; h++) m->t.bias[((size_t)h * T + i) * T + j] = r[h];
        }
    m->bias_T = T;
}

static mmf_status mp_load(mmf_encoder *e) {
    const mmf_tf_config *c = &e->cfg.tf;
    mmf_text_tower *t;
    MMF_TRY(mmf_text_tower_open(e, sizeof(mpnet), "mpnet.", "embeddings.word_embeddings.weight", &t));
    mpnet *m = e->impl;
    m->P = (int)c->max_positions;
    m->buckets = (int)c->rel_buckets;
    if (m->P < PADDING_IDX + 2)
        return mmf_fail(MMF_ERR_FORMAT, "%s/config.json: max_position_embeddings %d leaves no positions after padding_idx 1", e->dir, m->P);
    t->npos = m->P - PADDING_IDX - 1;
    t->spec = (mmf_tf_spec){.hidden = t->C, .heads = t->H, .ffn = (int)c->intermediate_size, .eps = (float)c->layer_norm_eps,
                            .act = c->act, .attn_biased = 1};
    mmf_wbag *w = &t->base.bag;
    MMF_TRY(mmf_wbag_take(w, "embeddings.word_embeddings.weight", t->V, t->C, 0, 0, "vocab_size x hidden_size", &m->wte));
    MMF_TRY(mmf_wbag_take(w, "embeddings.position_embeddings.weight", m->P, t->C, 0, 0, "max_position_embeddings x hidden_size", &m->wpe));
    MMF_TRY(mmf_wbag_take(w, "embeddings.LayerNorm.weight", t->C, 0, 0, 0, "hidden_size", &m->eln_w));
    MMF_TRY(mmf_wbag_take(w, "embeddings.LayerNorm.bias", t->C, 0, 0, 0, "hidden_size", &m->eln_b));
    MMF_TRY(mmf_wbag_take(w, "encoder.relative_attention_bias.weight", m->buckets, t->H, 0, 0,
                      "relative_attention_num_buckets x num_attention_heads", &m->rel));
    MMF_TRY(mmf_wbag_layers(w, &names, t->L, t->C, t->spec.ffn, "", &t->layers));
    MMF_TRY(mmf_wbag_take_opt(w, "pooler.dense.weight", t->C, t->C, "hidden_size", &t->pool_w));
    if (t->pool_w) MMF_TRY(mmf_wbag_take(w, "pooler.dense.bias", t->C, 0, 0, 0, "hidden_size", &t->pool_b));
    return mmf_text_tower_finish(e, t);
}

static mmf_status mp_size(mmf_encoder *e, int nt) {
    MMF_TRY(mmf_text_tower_size(e, nt));
    ((mpnet *)e->impl)->bias_T = 0;   /* a new arena: the bias is gone */
    return MMF_OK;
}

static mmf_status mp_forward(mmf_encoder *e, const int32_t *ids, const int32_t *types, const uint8_t *keep, int B, int T,
                             mmf_pooling pool, float *pooled, float *tokens) {
    (void)types;   /* MPNet has no token types */
    mpnet *m = e->impl;
    mmf_text_tower *t = &m->t;
    MMF_TRY(mmf_text_tower_check(e, t, ids, B, T, pool, pooled));
    mmf_text_tower_positions_from_ids(t, ids, keep, B, T, PADDING_IDX);
    mmf_text_tower_embed(e, t, ids, m->wte, m->wpe, m->eln_w, m->eln_b, t->spec.eps, B, T);
    if (m->bias_T != T) fill_bias(m, T);
    t->spec.attn_bias = t->bias;
    mmf_text_tower_run(e, t, keep, B, T, pool, pooled, tokens);
    return MMF_OK;
}

const mmf_encoder_ops mmf_mpnet_ops = {
    .model_type = "mpnet",
    .family = "MPNet (MPNetModel: post-norm layers, relative position bucket bias shared by every layer)",
    .load = mp_load,
    .free_impl = mmf_impl_base_release,
    .size = mp_size,
    .text_forward = mp_forward,
};
