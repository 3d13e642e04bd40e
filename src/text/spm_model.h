/* SentencePiece ModelProto fields (see spm_model.c). */
#ifndef MMF_TEXT_SPM_MODEL_H
#define MMF_TEXT_SPM_MODEL_H
#include <stddef.h>
#include <stdint.h>
#include "mmfuse.h"
#include "text/text_util.h"

enum { MMF_SPM_NORMAL = 1, MMF_SPM_UNKNOWN = 2, MMF_SPM_CONTROL = 3, MMF_SPM_USER = 4, MMF_SPM_UNUSED = 5, MMF_SPM_BYTE = 6 };

typedef struct mmf_spm_model {
    char **piece;               /* UTF-8, by id */
    float *score;
    unsigned char *type;        /* MMF_SPM_* */
    int32_t n, cap;
    int model_type;             /* 1 Unigram, 2 BPE */
    int byte_fallback, whitespace_suffix;
    int32_t unk_id, bos_id, eos_id, pad_id;   /* -1 = none */
    unsigned char *charsmap;    /* NULL = identity */
    size_t charsmap_len;
    int add_dummy_prefix, remove_extra_ws, escape_ws;
} mmf_spm_model;

mmf_status mmf_spm_model_read(const char *path, mmf_spm_model *m);
void mmf_spm_model_free(mmf_spm_model *m);
#endif
