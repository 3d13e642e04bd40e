/* Captioning internals (docs/caption.md): caption words and vocabulary, the
 * BLEU / CIDEr metrics on word-id sequences, the decoder model. */
#ifndef MMF_TASKS_CAPTION_H
#define MMF_TASKS_CAPTION_H
#include <stddef.h>
#include <stdint.h>
#include "mmfuse.h"
#include "text/text_util.h"

/* ---- words ---- */
#define CAP_MAX_WORD 64   /* longer words are cut (bytes; never inside a UTF-8 sequence) */

/* Next word of *p (advanced past it) into buf[CAP_MAX_WORD + 1]: ASCII letters
 * lower-cased; a word is a run of ASCII letters, digits, apostrophes and any
 * non-ASCII bytes; everything else separates. Returns its length, 0 at the end. */
size_t cap_next_word(const char **p, char *buf);

/* ---- vocabulary: 0 <unk>, 1 <bos>, 2 <eos>, then words by count (desc), then bytes ---- */
enum { CAP_UNK = 0, CAP_BOS = 1, CAP_EOS = 2, CAP_N_SPECIAL = 3 };

struct mmf_caption_vocab {
    mmf_vocab map;     /* word -> id (specials included under their <names>) */
    int32_t n;         /* ids 0..n-1 */
};

/* Word ids of `text` (without <bos>/<eos>), at most max_len (more are dropped);
 * unknown words become CAP_UNK and are counted in *n_unk (may be NULL). */
mmf_status cap_encode(const mmf_caption_vocab *v, const char *text, int32_t *ids, int max_len, int *n_len,
                      int *n_unk);
/* Words joined by single spaces; specials are skipped except <unk>. Malloc'd. */
char *cap_decode(const mmf_caption_vocab *v, const int32_t *ids, int n);
mmf_status cap_vocab_from_list(const char *const *words, int32_t n, const char *file, mmf_caption_vocab **out);

/* ---- metrics over word-id sequences ---- */
typedef struct cap_seq { const int32_t *w; int n; } cap_seq;
/* hyps[i] against refs[ref_off[i] .. ref_off[i+1]) for i < n. Corpus BLEU-1..4
 * with the brevity penalty (closest reference length, ties to the shorter). */
mmf_status cap_bleu(const cap_seq *hyps, const cap_seq *refs, const size_t *ref_off, size_t n, double bleu[4],
                    double *bp);
/* CIDEr-D (coco-caption: x10, clipped tf-idf, Gaussian length penalty with
 * sigma 6 on the bigram count) and CIDEr (Vedantam et al.: mean cosine),
 * corpus means; per_image (n) CIDEr-D may be NULL. */
mmf_status cap_cider(const cap_seq *hyps, const cap_seq *refs, const size_t *ref_off, size_t n, double *cider_d,
                     double *cider, double *per_image);
#endif
