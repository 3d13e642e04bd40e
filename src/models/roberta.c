/* RoBERTa family: roberta (roberta-base, all-distilroberta-v1), xlm-roberta
 * (xlm-roberta-base, multilingual-e5-*, paraphrase-multilingual-*) and its
 * camembert alias. Hugging Face RobertaModel / XLMRobertaModel semantics:
 * BertModel's layers and tensor names under "roberta." (or no prefix, as
 * sentence-transformers saves them); position ids from the input ids,
 * padding_idx + 1 onwards (create_position_ids_from_input_ids), so
 * max_position_embeddings 514 holds 512 tokens. The tokenizer (byte-level BPE
 * for roberta, SentencePiece Unigram for xlm-roberta) comes from the folder. */
#include "models/bert.h"

static mmf_status roberta_load(mmf_encoder *e) { return mmf_bert_load_variant(e, "roberta.", 1); }

MMF_BERT_OPS(mmf_roberta_ops, "roberta", "RoBERTa (BertModel layers, positions from padding_idx + 1)", roberta_load);
MMF_BERT_OPS(mmf_xlm_roberta_ops, "xlm-roberta", "XLM-RoBERTa (BertModel layers, positions from padding_idx + 1)", roberta_load);
MMF_BERT_OPS(mmf_camembert_ops, "camembert", "CamemBERT (the RoBERTa layout, positions from padding_idx + 1)", roberta_load);
