/* The BERT implementation shared with the RoBERTa family (roberta.c): the
 * same BertModel layers and names under another prefix; only the position
 * ids differ. */
#ifndef MMF_MODELS_BERT_H
#define MMF_MODELS_BERT_H
#include "models/encoder.h"

/* Load a BertModel-layout checkpoint whose tensors carry `prefix` ("bert.",
 * "roberta.") or none. pos_from_ids: RoBERTa's position ids, padding_idx + 1,
 * + 2, ... over the non-pad ids (padding_idx = config pad_token_id), so
 * padding_idx + 1 fewer tokens fit than max_position_embeddings. */
mmf_status mmf_bert_load_variant(mmf_encoder *e, const char *prefix, int pos_from_ids);
void mmf_bert_free(mmf_encoder *e);
/* The activation arena for n_threads (mmf_encoder_ops.size). */
mmf_status mmf_bert_size(mmf_encoder *e, int n_threads);
mmf_status mmf_bert_text_forward(mmf_encoder *e, const int32_t *ids, const int32_t *types, const uint8_t *keep,
                                 int B, int T, mmf_pooling pool, float *pooled, float *tokens);

/* The ops of a family this implementation runs (BERT, RoBERTa, XLM-R,
 * CamemBERT, mmfuse_text): only the model_type, the description and the load
 * (prefix, position ids) differ. */
#define MMF_BERT_OPS(name, type, fam, load_fn)                                                    \
    const mmf_encoder_ops name = {                                                                \
        .model_type = type,                                                                       \
        .family = fam,                                                                            \
        .load = load_fn,                                                                          \
        .free_impl = mmf_bert_free,                                                               \
        .size = mmf_bert_size,                                                                    \
        .text_forward = mmf_bert_text_forward,                                                    \
    }
#endif
