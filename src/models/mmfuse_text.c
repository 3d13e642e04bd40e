/* "mmfuse_text": the from-scratch text tower that `mmfuse train-encoder
 * --modality text` writes (src/direct/textnet.c). Its folder has the BERT
 * layout (BertModel tensor names, vocab.txt + tokenizer_config.json, mean
 * pooling), so the BERT family runs it; the own model_type says where the
 * folder came from and keeps HF tools from mistaking it for a pretrained BERT. */
#include "models/encoder.h"

extern const mmf_encoder_ops mmf_bert_ops;

static mmf_status mt_load(mmf_encoder *e) { return mmf_bert_ops.load(e); }
static void mt_free(mmf_encoder *e) { mmf_bert_ops.free_impl(e); }
static mmf_status mt_threads(mmf_encoder *e, int nt) { return mmf_bert_ops.set_threads ? mmf_bert_ops.set_threads(e, nt) : MMF_OK; }
static mmf_status mt_forward(mmf_encoder *e, const int32_t *ids, const int32_t *types, const uint8_t *keep, int B, int T,
                             mmf_pooling pool, float *pooled, float *tokens) {
    return mmf_bert_ops.text_forward(e, ids, types, keep, B, T, pool, pooled, tokens);
}

const mmf_encoder_ops mmf_mmfuse_text_ops = {
    .model_type = "mmfuse_text",
    .family = "mmfuse text tower (BERT layout, trained from scratch, docs/direct.md)",
    .precisions = (1u << MMF_PRECISION_BF16) | (1u << MMF_PRECISION_INT8),
    .modalities = MMF_MODALITY_TEXT,
    .load = mt_load,
    .free_impl = mt_free,
    .set_threads = mt_threads,
    .text_forward = mt_forward,
};
