/* What the post-norm text families over the weight bag share (DistilBERT,
 * MPNet): the loaded layers, the activation arena, finishing the load
 * (precision, tokenizer, sentence-transformers settings, sequence length) and
 * the forward after the embeddings (layers, token states, pooling). The
 * family fills the embeddings; BERT and RoBERTa keep their own zero-copy
 * loader in bert.c. */
#ifndef MMF_MODELS_TEXT_TOWER_H
#define MMF_MODELS_TEXT_TOWER_H
#include "models/encoder.h"
#include "models/vit.h"

typedef struct mmf_text_tower {
    mmf_impl_base base;        /* first: every weight (base.bag.st open while loading), the arena, the packed layers */
    int V, C, L, H;            /* vocab, hidden, layers, heads */
    int npos;                  /* tokens a sequence may have (position table rows it can reach) */
    mmf_tf_layer_w *layers;
    mmf_tf_spec spec;
    float *pool_w, *pool_b;    /* pooler dense (C,C), (C), or NULL */
    float *x;                  /* (max_batch, max_length, C) */
    float *scratch, *tmp;      /* layer scratch; (max_batch, C) */
    float *bias;               /* (H, max_length, max_length) when spec.attn_biased */
    int32_t *pos;              /* (max_batch, max_length) position ids */
} mmf_text_tower;

/* A family over the tower keeps it as the first member of its e->impl, so
 * these serve its ops directly. */

/* The family's load begins here: a zeroed impl of impl_size bytes, V, C, L, H
 * from config.json, the checkpoint open in t->base.bag with the prefix `prefix`
 * ("distilbert.") when the tensor prefix + probe is there, else none. */
mmf_status mmf_text_tower_open(mmf_encoder *e, size_t impl_size, const char *prefix, const char *probe, mmf_text_tower **t);
/* After the family loaded the weights (base.bag.st still open; closed here) and
 * set npos, layers, spec: precision, tokenizer, default pooling (mean, or the
 * folder's sentence-transformers modules), max_length. */
mmf_status mmf_text_tower_finish(mmf_encoder *e, mmf_text_tower *t);
/* mmf_encoder_ops.size (free_impl is mmf_impl_base_release) */
mmf_status mmf_text_tower_size(mmf_encoder *e, int nt);
/* Shape, id and pooling checks before a forward. */
mmf_status mmf_text_tower_check(mmf_encoder *e, const mmf_text_tower *t, const int32_t *ids, int B, int T,
                                mmf_pooling pool, const float *pooled);
/* t->x (B,T,C) = layernorm(wte[ids] + wpe[t->pos]) with the position ids the
 * family put in t->pos; sets the calling thread's OpenMP threads. */
void mmf_text_tower_embed(mmf_encoder *e, mmf_text_tower *t, const int32_t *ids, const float *wte, const float *wpe,
                          const float *ln_w, const float *ln_b, float eps, int B, int T);
/* t->x (B,T,C) holds the embeddings: run the layers, copy token states to
 * `tokens` (or NULL), pool into `pooled` (or NULL). */
void mmf_text_tower_run(mmf_encoder *e, mmf_text_tower *t, const uint8_t *keep, int B, int T, mmf_pooling pool,
                        float *pooled, float *tokens);
/* RoBERTa-style position ids into t->pos: padding_idx + rank among the
 * non-pad real tokens, padding_idx elsewhere. */
void mmf_text_tower_positions_from_ids(mmf_text_tower *t, const int32_t *ids, const uint8_t *keep, int B, int T,
                                       int padding_idx);
#endif
