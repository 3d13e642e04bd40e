/* The common tokenizer: what every model (WordPiece, BPE) shares.
 *
 * encode(text) = for each section between added tokens (matched on the raw
 * text, leftmost-longest, honouring lstrip/rstrip):
 *      ops->normalize  (code points -> code points; NULL = identity)
 *      split again on added tokens marked "normalized"
 *      ops->tokenize   (pre-tokenizer + model: code points -> ids)
 * then truncation (longest first for pairs) and the post-processor template
 * ([CLS] A [SEP] / [CLS] A [SEP] B [SEP] for BERT, <bos> A <eos> for CLIP).
 *
 * A model family implements mmf_tok_ops and a loader that fills `impl`, the
 * vocabulary and (if tokenizer.json has none) the template; the generic
 * tokenizer.json parts (added_tokens, post_processor, truncation) and
 * tokenizer_config.json's model_max_length are read in tokenizer.c. */
#ifndef MMF_TEXT_TOKENIZER_H
#define MMF_TEXT_TOKENIZER_H
#include <cjson/cJSON.h>
#include "mmfuse.h"
#include "text/text_util.h"

typedef struct mmf_tok_ops {
    const char *name;   /* "WordPiece", "BPE" */
    /* Normalize one section; append the result to out. NULL = identity. */
    mmf_status (*normalize)(const mmf_tokenizer *t, const int32_t *cp, size_t n, mmf_i32vec *out);
    /* Pre-tokenize and run the model on normalized code points; append ids.
     * `first`: the section starts the text (no added token before it). */
    mmf_status (*tokenize)(const mmf_tokenizer *t, const int32_t *cp, size_t n, int first, mmf_i32vec *ids);
    void (*free_impl)(void *impl);
} mmf_tok_ops;

typedef struct mmf_added_token {
    int32_t *cp;        /* content as code points (normalized form if `normalized`) */
    size_t n;
    int32_t id;
    int special, normalized, lstrip, rstrip;
} mmf_added_token;

/* One template item: a special token (id, type) or sequence A/B (type). */
typedef struct mmf_tok_item { int seq; /* -1 special, 0 = A, 1 = B */ int32_t id; int32_t type_id; } mmf_tok_item;
#define MMF_TOK_MAX_ITEMS 16

struct mmf_tokenizer {
    const mmf_tok_ops *ops;
    void *impl;
    mmf_vocab vocab;
    mmf_added_token *added;
    size_t n_added;
    mmf_tok_item single[MMF_TOK_MAX_ITEMS], pair[MMF_TOK_MAX_ITEMS];
    int n_single, n_pair;   /* 0 = no post-processor: sequences concatenated */
    int32_t unk_id, pad_id;
    int max_length;         /* 0 = none known */
    /* transformers' T5 / SigLIP tokenizers: */
    int encode_empty;       /* an empty text still reaches ops->tokenize (SigLIP's lone "▁") */
    int32_t lone_prefix_id; /* a first token of this id right before an added token is dropped (-1: none) */
    int32_t eos_once;       /* a text already ending in this id does not get it again from the template (-1: none) */
    char *path;             /* the folder, for messages */
};

/* Family loaders. */
mmf_status mmf_wordpiece_from_json(mmf_tokenizer *t, const cJSON *root, const char *file);
mmf_status mmf_wordpiece_from_vocab(mmf_tokenizer *t, const char *dir);
/* CLIP byte-level BPE (text/bpe_tok.c): tokenizer.json, or vocab.json + merges.txt */
mmf_status mmf_bpe_from_json(mmf_tokenizer *t, const cJSON *root, const char *file);
mmf_status mmf_bpe_from_files(mmf_tokenizer *t, const char *dir);
/* Unigram and the other BPEs (text/tok_pipeline.c, text/pipeline.h): a
 * tokenizer.json, a SentencePiece .model file, or GPT-2 / RoBERTa's
 * vocab.json + merges.txt (byte-level) */
mmf_status mmf_pipeline_from_json(mmf_tokenizer *t, const cJSON *root, const char *file);
mmf_status mmf_pipeline_from_spm(mmf_tokenizer *t, const char *dir, const char *file);
mmf_status mmf_pipeline_from_bpe_files(mmf_tokenizer *t, const char *dir, const cJSON *config);

/* Helpers for loaders. */
mmf_status mmf_tok_add_token(mmf_tokenizer *t, const char *content, int32_t id, int special, int normalized,
                             int lstrip, int rstrip);
/* The BERT template: [CLS] A [SEP] and [CLS] A [SEP] B [SEP] (B part type 1). */
void mmf_tok_bert_template(mmf_tokenizer *t, int32_t cls, int32_t sep);
/* JS/Rust whitespace (used for trimming around lstrip/rstrip tokens). */
int mmf_tok_is_space(int32_t c);
#endif
