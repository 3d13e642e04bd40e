/* The tokenizer.json pipeline for the model families beyond WordPiece and
 * CLIP: normaliser steps, pre-tokeniser steps and a model (Unigram or BPE),
 * each read from its tokenizer.json node, and the same pieces built from a
 * SentencePiece .model file. tokenizer.c dispatches here on model.type.
 *
 *   normalizer.c   NFC/NFD/NFKC/NFKD, Lowercase, Strip, StripAccents,
 *                  Replace, Prepend, Precompiled, Sequence; SentencePiece's
 *                  own normaliser for .model files
 *   pretokenizer.c Metaspace, ByteLevel (GPT-2 regex + byte map),
 *                  WhitespaceSplit, Split (string patterns), Sequence
 *   unigram.c      Viterbi over piece scores, unknown pieces fused, byte fallback
 *   bpe_model.c    BPE by merge rank (byte-level or characters + byte fallback)
 *   tok_pipeline.c the mmf_tok_ops gluing them, loaders
 *   spm_model.c    the ModelProto reader (.model files) */
#ifndef MMF_TEXT_PIPELINE_H
#define MMF_TEXT_PIPELINE_H
#include <cjson/cJSON.h>
#include "mmfuse.h"
#include "text/text_util.h"
#include "text/charsmap.h"

#define MMF_SPIECE_SPACE 0x2581   /* "▁" */

/* A tokenizer.json normalizer or pre_tokenizer node walked in order with its
 * Sequences flattened (nested at most 8 deep): step() gets each other step's
 * object and "type". what: "normalizer", list: the Sequence's array field
 * ("normalizers"). NULL or null: no steps. */
typedef mmf_status (*mmf_pipeline_step_fn)(void *ctx, const cJSON *node, const char *type, const char *file);
mmf_status mmf_pipeline_walk(const cJSON *node, const char *what, const char *list, const char *file, mmf_pipeline_step_fn step,
                             void *ctx);

/* ---- normalisers ---- */
typedef struct mmf_normalizer mmf_normalizer;
/* node = tokenizer.json "normalizer" (NULL or null: none, *out = NULL) */
mmf_status mmf_normalizer_from_json(const cJSON *node, const char *file, mmf_normalizer **out);
/* SentencePiece's normaliser: charsmap (may be NULL = identity; copied), then
 * its whitespace rules; spaces become U+2581 when escape is set. */
mmf_status mmf_normalizer_spm(const unsigned char *charsmap, size_t len, int add_dummy_prefix,
                              int remove_extra_ws, int escape_ws, const char *file, mmf_normalizer **out);
mmf_status mmf_normalizer_run(const mmf_normalizer *nz, const int32_t *cp, size_t n, mmf_i32vec *out);
void mmf_normalizer_free(mmf_normalizer *nz);

/* ---- pre-tokenisers: code points -> pieces ---- */
typedef struct mmf_pieces {
    mmf_i32vec cp;              /* all pieces' code points, back to back */
    size_t *end;                /* end[k] = end of piece k in cp */
    size_t n, cap;
} mmf_pieces;
void mmf_pieces_free(mmf_pieces *p);
typedef struct mmf_pretok mmf_pretok;
mmf_status mmf_pretok_from_json(const cJSON *node, const char *file, mmf_pretok **out);
/* `first`: the section starts the text (Metaspace prepend_scheme "first").
 * pt NULL: the whole section is one piece. */
mmf_status mmf_pretok_run(const mmf_pretok *pt, const int32_t *cp, size_t n, int first, mmf_pieces *out);
void mmf_pretok_free(mmf_pretok *pt);
/* Whether a ByteLevel step is present (the model then sees byte characters). */
int mmf_pretok_is_byte_level(const mmf_pretok *pt);
/* GPT-2's byte -> code point map (bytes_to_unicode) */
void mmf_gpt2_byte_map(int32_t map[256]);

/* ---- models: one piece (code points) -> ids ---- */
typedef struct mmf_tok_model {
    const char *name;
    mmf_status (*encode)(const void *m, const int32_t *cp, size_t n, mmf_i32vec *ids);
    void (*free)(void *m);
    void *m;
} mmf_tok_model;

/* Unigram: pieces[i] (UTF-8) with scores[i]; kind[i] 0 = normal, 1 =
 * control/unused (never matched), 2 = byte piece <0xXX>. */
typedef struct mmf_unigram mmf_unigram;
mmf_status mmf_unigram_new(char **pieces, const double *scores, const unsigned char *kind, int32_t n,
                           int32_t unk_id, int byte_fallback, const char *file, mmf_unigram **out);
mmf_status mmf_unigram_encode(const void *u, const int32_t *cp, size_t n, mmf_i32vec *ids);
void mmf_unigram_free(void *u);
/* Sum path scores in float, as sentencepiece does (ties then break as there). */
void mmf_unigram_use_float(mmf_unigram *u);

/* BPE (bpe_model.c): model.vocab + model.merges of tokenizer.json (the
 * tokenizer's vocabulary is filled too), or a SentencePiece BPE model whose
 * merge order is the merged piece's score. */
struct mmf_tokenizer;
mmf_status mmf_bpe_model_from_json(struct mmf_tokenizer *t, const cJSON *model, const char *file, mmf_tok_model *out);
mmf_status mmf_bpe_model_from_files(struct mmf_tokenizer *t, const char *dir, mmf_tok_model *out);
mmf_status mmf_bpe_model_from_spm(char **pieces, const double *scores, const unsigned char *kind, int32_t n,
                                  int32_t unk_id, int byte_fallback, const char *file, mmf_tok_model *out);

/* ---- the tokenizer.json / .model loaders (tok_pipeline.c) ---- */
mmf_status mmf_pipeline_from_json(struct mmf_tokenizer *t, const cJSON *root, const char *file);
/* A SentencePiece ModelProto (spiece.model, sentencepiece.bpe.model) in dir. */
mmf_status mmf_pipeline_from_spm(struct mmf_tokenizer *t, const char *dir, const char *file);
#endif
