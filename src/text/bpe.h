/* CLIP's byte-level BPE tokenizer, as the Hugging Face fast tokenizer of
 * openai/clip-* folders (tokenizer.json) behaves:
 *  special tokens: "<|endoftext|>" matched in the raw text, "<|startoftext|>"
 *    after normalisation;
 *  normaliser: NFC, every whitespace run -> one space, lower case (full
 *    Unicode lower-casing as the JavaScript/Rust references: final sigma,
 *    U+0130 -> "i\u0307");
 *  pre-tokeniser: the CLIP pattern 's|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+
 *    (whitespace dropped), then UTF-8 bytes -> GPT-2's byte-to-unicode chars;
 *  model: BPE by merge rank, "</w>" appended to each word's last symbol;
 *  post-processor: <|startoftext|> ... <|endoftext|>, truncated to max_len
 *    (77 for CLIP) keeping the end token.
 * Loads tokenizer.json (model.vocab + model.merges) or vocab.json + merges.txt. */
#ifndef MMF_TEXT_BPE_H
#define MMF_TEXT_BPE_H
#include <stddef.h>
#include <stdint.h>
#include "mmfuse.h"

typedef struct mmf_bpe mmf_bpe;

mmf_status mmf_bpe_load(const char *dir, mmf_bpe **out);
void mmf_bpe_free(mmf_bpe *t);
int32_t mmf_bpe_bos(const mmf_bpe *t);
int32_t mmf_bpe_eos(const mmf_bpe *t);
int mmf_bpe_max_len(const mmf_bpe *t);   /* model_max_length (77 for CLIP) */
int64_t mmf_bpe_vocab_size(const mmf_bpe *t);
/* Encode `len` bytes of UTF-8 text into ids (capacity max_len; <= 0 means
 * mmf_bpe_max_len). Writes *n ids: BOS, content (truncated), EOS.
 * Invalid UTF-8 is an MMF_ERR_ARG error. */
mmf_status mmf_bpe_encode(const mmf_bpe *t, const char *text, size_t len, int32_t *ids, int max_len, int *n);
/* The token string of an id (NULL if out of range); byte-level form. */
const char *mmf_bpe_token(const mmf_bpe *t, int32_t id);

/* Pieces for the common tokenizer (text/tokenizer.h): the normaliser, and
 * normalised code points -> ids (added tokens, pre-tokeniser, BPE). */
struct mmf_i32vec;
struct cJSON;
/* From a parsed tokenizer.json (model.vocab, model.merges). */
mmf_status mmf_bpe_from_root(const struct cJSON *root, const char *file, mmf_bpe **out);
mmf_status mmf_bpe_normalize(const int32_t *cp, size_t n, struct mmf_i32vec *out);
mmf_status mmf_bpe_tokenize(const mmf_bpe *t, const int32_t *cp, size_t n, struct mmf_i32vec *ids);

/* The vocabulary + merge-rank engine for the other byte-level and character
 * BPEs (text/bpe_model.c): no CLIP tokens required. */
mmf_status mmf_bpe_engine_from_model(const struct cJSON *model, const char *file, mmf_bpe **out);
mmf_status mmf_bpe_engine_from_files(const char *vocab_path, const char *merges_path, mmf_bpe **out);
int32_t mmf_bpe_id(const mmf_bpe *t, const char *s, size_t n);   /* -1 if absent */
/* Merge symbol ids w[0..n) in place by rank (text/merge_queue.h): *n_out
 * symbols remain. Negative ids never merge. */
mmf_status mmf_bpe_merge(const mmf_bpe *t, int32_t *w, size_t n, size_t *n_out);
#endif
