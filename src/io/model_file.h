/* The files mmfuse writes for its trained models (fusion heads, captioners,
 * VQA models) are safetensors files whose __metadata__ carries the model's
 * config under one key ("mmfuse.head", "mmfuse.caption", "mmfuse.vqa"). */
#ifndef MMF_IO_MODEL_FILE_H
#define MMF_IO_MODEL_FILE_H
#include "mmfuse.h"

/* Open path and find its config: *meta points into *st (valid until
 * mmf_st_close). A file without the key is refused as "not a <what>"; on any
 * error *st is NULL. */
mmf_status mmf_model_file_open(const char *path, const char *key, const char *what, mmf_safetensors **st, const char **meta);
#endif
