/* The generic encoder handle behind the public mmf_encoder API.
 *
 * registry.c maps config.json's model_type to an mmf_encoder_ops; the family
 * (bert.c; the image families add vit.c, clip.c, resnet.c) implements load
 * and the forward passes, and the generic code in encoder_text.c does
 * tokenization, length-sorted batching, truncation notices, pooling dispatch,
 * normalization and progress, so every text family shares it.
 *
 * Adding a family: write `const mmf_encoder_ops mmf_<family>_ops` and add a
 * line to the table in registry.c. */
#ifndef MMF_MODELS_ENCODER_H
#define MMF_MODELS_ENCODER_H
#include "mmfuse.h"
#include "io/hf_config.h"

typedef struct mmf_encoder_ops {
    const char *model_type;   /* config.json model_type */
    const char *family;       /* what it runs, for mmfuse inspect: "RoBERTa (...)" */
    const char *pooler;       /* what pooling "pooler" means for it (NULL: BERT's tanh(dense(h_cls))) */
    /* Every family runs fp32, bf16 and int8 (the shared transformer layer,
     * ResNet and the from-scratch CNN have all three) but the contrastive dual
     * encoder (mmfuse_clip), which runs fp32 only. Its modalities are the
     * forwards it has (text, image). */
    int fp32_only;
    /* Fill enc->impl, enc->dim, enc->def_pool, enc->def_norm, enc->max_length,
     * enc->tok (text). enc->cfg, enc->dir and enc->params are set. */
    mmf_status (*load)(mmf_encoder *enc);
    void (*free_impl)(mmf_encoder *enc);
    /* Carve the activation scratch for n_threads threads: the registry calls
     * it after load and again when the thread count grows past the one it
     * was carved for (scratch for more threads serves fewer). May be NULL. */
    mmf_status (*size)(mmf_encoder *enc, int n_threads);
    /* Text forward for B <= params.max_batch sequences of T <= max_length:
     * ids, types (B,T), keep (B,T) 1 = real token. Writes pooled (B,dim) with
     * `pool` (never DEFAULT or NONE here) when pooled != NULL, and the last
     * hidden states (B,T,C) when tokens != NULL. */
    mmf_status (*text_forward)(mmf_encoder *enc, const int32_t *ids, const int32_t *types, const uint8_t *keep,
                               int B, int T, mmf_pooling pool, float *pooled, float *tokens);
    /* Image forward (image families, encoder_image.c drives it): pixels
     * (B,3,H,W) as enc->proc makes them, B <= params.max_batch; writes
     * pooled (B,dim) with `pool` (never DEFAULT). */
    mmf_status (*image_forward)(mmf_encoder *enc, const float *pixels, int B, mmf_pooling pool, float *pooled);
} mmf_encoder_ops;

struct mmf_encoder {
    const mmf_encoder_ops *ops;
    void *impl;
    mmf_hf_config cfg;
    char *dir;
    mmf_encoder_params params;   /* precision resolved: never AUTO after load */
    int nt_sized;         /* the thread count ops->size last carved for */
    int precision_auto;   /* the caller asked for AUTO: a family may fall back to fp32 */
    int dim;              /* pooled embedding size */
    int token_dim;        /* hidden size of token states */
    mmf_pooling def_pool;
    int def_norm;
    int max_length;       /* tokens per sequence, specials included */
    mmf_tokenizer *tok;   /* text families */
    mmf_image_processor *proc;   /* image families: preprocessor_config.json */
    float logit_scale;    /* CLIP, SigLIP: exp(logit_scale); 0 otherwise */
    float logit_bias;     /* SigLIP: logit_bias; 0 otherwise */
    int sigmoid_logits;   /* SigLIP: zero-shot probabilities are sigmoid(logits), not a softmax */
};

const mmf_encoder_ops *mmf_encoder_ops_find(const char *model_type);

/* DIR/model.safetensors, else DIR/model.safetensors.index.json (sharded);
 * a clear error if only pytorch_model.bin or nothing is there. */
mmf_status mmf_open_checkpoint(const char *dir, mmf_safetensors **st);

/* sentence-transformers folder settings (modules.json, 1_Pooling/config.json,
 * Normalize module, sentence_bert_config.json). Absent files leave the
 * outputs untouched. */
mmf_status mmf_st_folder_settings(const char *dir, mmf_pooling *pool, int *normalize, int *max_seq_length);

/* The text side of a load every sentence encoder family shares (BERT,
 * RoBERTa, DistilBERT, MPNet): the folder's tokenizer, the default pooling
 * (mean, or what its sentence-transformers modules say) and max_length: the
 * npos positions the model has, capped by the tokenizer's and
 * sentence-transformers' limits, or the caller's params.max_length (a warning
 * when that asks for more positions than there are). */
mmf_status mmf_encoder_text_setup(mmf_encoder *e, int npos);

/* Pooling over hidden states h (B,T,C) with keep (B,T) into out (B,C):
 * cls, mean, max (sentence-transformers semantics). */
void mmf_pool_tokens(mmf_pooling p, const float *h, const uint8_t *keep, int B, int T, int C, float *out);
/* Rows of x (n,d) scaled to unit L2 norm (norm clamped at 1e-12 as F.normalize). */
void mmf_l2_normalize_rows(float *x, size_t n, int d);
#endif
