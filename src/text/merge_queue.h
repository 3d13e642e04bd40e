/* The merge loop every BPE model runs (rank-ordered byte-level / character BPE
 * and SentencePiece's score-ordered BPE): repeatedly merge the adjacent pair
 * of symbols with the lowest priority, the leftmost one among equals, until no
 * adjacent pair merges.
 *
 * A priority queue of candidate pairs over a linked list of symbols makes it
 * O(n log n) in the word's length n; rescanning the word after every merge
 * (what this replaces) was O(n^2) and let one long word without spaces stall
 * a tokenizer for seconds. For merge ranks this is the order Hugging Face's
 * BPE uses; for SentencePiece scores (priority = -score) it is sentencepiece's
 * own agenda order. */
#ifndef MMF_TEXT_MERGE_QUEUE_H
#define MMF_TEXT_MERGE_QUEUE_H
#include <stddef.h>
#include <stdint.h>
#include "mmfuse.h"

/* Whether the symbol with value `left` covering units [beg, mid) and the one
 * with value `right` covering [mid, end) merge: 1 with *prio (lower merges
 * first) and *merged (the new symbol's value), else 0. */
typedef int (*mmf_merge_pair_fn)(void *ctx, int32_t left, int32_t right, size_t beg, size_t mid, size_t end,
                                 double *prio, int32_t *merged);

/* Symbols val[0..n) (one per unit at the start) merged in place: on return
 * val[0..*n_out) are the final symbols' values, and, when starts is not NULL,
 * starts[0..*n_out) the first unit each covers. */
mmf_status mmf_merge_run(int32_t *val, size_t n, mmf_merge_pair_fn pair, void *ctx, size_t *starts, size_t *n_out);
#endif
