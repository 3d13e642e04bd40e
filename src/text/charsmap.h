/* SentencePiece's precompiled character map (NormalizerSpec.precompiled_charsmap,
 * and the "Precompiled" normaliser of tokenizer.json, base64 there).
 *
 * The blob is: a little-endian uint32 trie size, a Darts-clone double-array
 * trie of that many bytes whose keys are UTF-8 byte strings and whose values
 * are offsets into the rest of the blob, a table of NUL-terminated
 * replacement strings. Every index is checked: a hostile blob gives an error
 * at load or "no rule", never an out-of-bounds read. */
#ifndef MMF_TEXT_CHARSMAP_H
#define MMF_TEXT_CHARSMAP_H
#include <stddef.h>
#include <stdint.h>
#include "mmfuse.h"
#include "text/text_util.h"

typedef struct mmf_charsmap {
    uint32_t *units;     /* the double array */
    size_t n_units;
    char *norm;          /* replacement strings, NUL-terminated */
    size_t n_norm;
} mmf_charsmap;

/* Copies what it needs from blob; `file` names the source in messages. */
mmf_status mmf_charsmap_init(mmf_charsmap *m, const unsigned char *blob, size_t len, const char *file);
void mmf_charsmap_free(mmf_charsmap *m);

/* Rules matching a prefix of s[0..n): the longest (longest = 1) or the
 * shortest. Returns the bytes the rule consumes (0: none) and its
 * replacement in *rep / *rep_len. */
size_t mmf_charsmap_match(const mmf_charsmap *m, const char *s, size_t n, int longest, const char **rep,
                          size_t *rep_len);

/* Base64 (RFC 4648, padding optional) -> bytes; *out is malloc'd. */
mmf_status mmf_base64_decode(const char *s, size_t n, unsigned char **out, size_t *out_len, const char *what);
#endif
