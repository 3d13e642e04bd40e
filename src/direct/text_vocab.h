/* The word-level WordPiece vocabulary the from-scratch text towers learn
 * (text_vocab.c: how the words are found). */
#ifndef MMF_DIRECT_TEXT_VOCAB_H
#define MMF_DIRECT_TEXT_VOCAB_H
#include <stddef.h>
#include <stdint.h>
#include "mmfuse.h"

/* Writes vocab.txt and tokenizer_config.json (model_max_length = max_length)
 * into dir, learned from texts[0..n) (NULL entries skipped): the specials, the
 * words seen at least min_count times, most frequent first, then the single
 * characters. Returns the vocabulary size and the tokenizer reading it. */
mmf_status mmf_text_vocab_learn(const char *const *texts, size_t n_texts, const char *dir, int max_length, int min_count,
                                int64_t *vocab_size, mmf_tokenizer **tok);
/* Data parallel (comm of size > 1): rank 0 learns and writes the vocabulary
 * (the files go through a first, characters-only vocab.txt, which another
 * rank must not read), then every other rank loads the tokenizer from dir.
 * Collective, with s the caller's status so far: a rank that already failed
 * still takes part, and all ranks return a failure then. One process (comm
 * NULL or size 1): mmf_text_vocab_learn when s is MMF_OK. */
mmf_status mmf_text_vocab_learn_comm(const mmf_comm *comm, mmf_status s, const char *const *texts, size_t n_texts,
                                     const char *dir, int max_length, int min_count, int64_t *vocab_size, mmf_tokenizer **tok);
#endif
