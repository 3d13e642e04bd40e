/* Small text helpers shared by the tokenizers: UTF-8 <-> code points and a
 * token -> id hash map that looks up byte ranges without copying. */
#ifndef MMF_TEXT_UTIL_H
#define MMF_TEXT_UTIL_H
#include <stddef.h>
#include <stdint.h>
#include "mmfuse.h"

/* Decode UTF-8 into code points (cp has room for len entries). Each byte that
 * does not start a valid sequence (stray continuation, overlong, surrogate,
 * > U+10FFFF, truncated) becomes one U+FFFD; *n_bad counts them. */
size_t mmf_utf8_decode(const char *s, size_t len, int32_t *cp, size_t *n_bad);
/* Encode one code point; returns bytes written (1..4) into out[4]. */
int mmf_utf8_put(int32_t c, char *out);

/* Growable arrays used while encoding. */
typedef struct mmf_i32vec { int32_t *v; size_t n, cap; } mmf_i32vec;
mmf_status mmf_i32vec_push(mmf_i32vec *a, int32_t x);
mmf_status mmf_i32vec_reserve(mmf_i32vec *a, size_t n);
typedef struct mmf_strbuf { char *s; size_t n, cap; } mmf_strbuf;
mmf_status mmf_strbuf_add(mmf_strbuf *b, const char *s, size_t n);
mmf_status mmf_strbuf_cp(mmf_strbuf *b, int32_t c);

/* Token -> id (open addressing, FNV-1a). Keys are copied. */
typedef struct mmf_vocab {
    char **tok;          /* id -> token (NULL for ids never defined) */
    int64_t n_ids;       /* tok has n_ids entries (max id + 1) */
    int32_t *slots;      /* -1 empty, else id */
    size_t n_slots, count;
} mmf_vocab;
mmf_status mmf_vocab_init(mmf_vocab *v, size_t expected);
/* Define token -> id; redefining a token or an id fails with MMF_ERR_FORMAT
 * unless `replace` is set. */
mmf_status mmf_vocab_set(mmf_vocab *v, const char *tok, size_t len, int32_t id, int replace);
/* -1 if absent */
int32_t mmf_vocab_get(const mmf_vocab *v, const char *tok, size_t len);
const char *mmf_vocab_token(const mmf_vocab *v, int32_t id);
void mmf_vocab_free(mmf_vocab *v);
#endif
