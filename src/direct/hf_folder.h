/* Pieces of the Hugging Face-style model folders the from-scratch towers save
 * (cnn.c, textnet.c), so that `mmfuse embed --model DIR` loads them like any
 * downloaded model. */
#ifndef MMF_DIRECT_HF_FOLDER_H
#define MMF_DIRECT_HF_FOLDER_H
#include <cjson/cJSON.h>
#include "train/tape.h"

/* A config.json object begun as Hugging Face's: {"model_type": ..., "architectures": [...]} */
cJSON *mmf_hf_config_new(const char *model_type, const char *architecture);
/* DIR/NAME (config.json, preprocessor_config.json): o printed indented with a
 * final newline, as transformers writes them, and written atomically. */
mmf_status mmf_hf_write_json(const char *dir, const char *name, const cJSON *o);
/* config.json's "id2label": {"0": labels[0], ...}; nothing without labels. */
void mmf_hf_add_id2label(cJSON *config, const char *const *labels, int n);
/* A writer of model.safetensors ("format": "pt", as PyTorch writes it) holding
 * every parameter of PS as F32; the caller may add more tensors. */
mmf_status mmf_hf_model_begin(const mmf_params *ps, mmf_st_writer **out);
/* Writes DIR/model.safetensors when s is MMF_OK; frees the writer either way.
 * Returns s or the write's status. */
mmf_status mmf_hf_model_finish(mmf_st_writer *w, mmf_status s, const char *dir);
#endif
