/* The small from-scratch text tower ("mmfuse_text"): a BERT-layout encoder
 * (word + position + token-type embeddings, layernorm, post-norm layers with
 * GELU) trained on the tape, saved with Hugging Face BertModel tensor names so
 * the BERT family runs it at inference (models/mmfuse_text.c). Embedding = mean
 * of the last hidden states over real tokens ([CLS]/[SEP] included, as
 * mmf_pool_tokens does). */
#ifndef MMF_DIRECT_TEXTNET_H
#define MMF_DIRECT_TEXTNET_H
#include "train/tape.h"

typedef struct textnet_config {
    int vocab, hidden, layers, heads, ffn, max_pos, n_classes;
    float eps, dropout;
} textnet_config;

typedef struct textnet {
    textnet_config cfg;
    mmf_params ps;
} textnet;

mmf_status textnet_init(textnet *m, const textnet_config *cfg, uint64_t seed);
void textnet_free(textnet *m);
/* ids, keep (B,T) -> pooled [B, hidden] (*pooled) and logits [B, n_classes] (returned, -1 if no classes) */
mmf_var textnet_forward(mmf_tape *tp, textnet *m, const int32_t *ids, const uint8_t *keep, int B, int T, mmf_var *pooled);
/* config.json + model.safetensors (vocab and tokenizer files are written by the trainer) */
mmf_status textnet_save(const textnet *m, const char *dir, const char *const *labels);
#endif
