/* "mmfuse_text": the from-scratch text tower that `mmfuse train-encoder
 * --modality text` writes (src/direct/textnet.c). Its folder has the BERT
 * layout (BertModel tensor names, vocab.txt + tokenizer_config.json, mean
 * pooling), so the BERT family runs it; the own model_type says where the
 * folder came from and keeps HF tools from mistaking it for a pretrained BERT. */
#include "models/bert.h"

static mmf_status mt_load(mmf_encoder *e) { return mmf_bert_load_variant(e, "bert.", 0); }

MMF_BERT_OPS(mmf_mmfuse_text_ops, "mmfuse_text", "mmfuse text tower (BERT layout, trained from scratch, docs/direct.md)", mt_load);
