#include "text/text_util.h"
#include "core/error.h"
#include <stdlib.h>
#include <string.h>

size_t mmf_utf8_decode(const char *str, size_t len, int32_t *cp, size_t *n_bad) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, n = 0, bad = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) { cp[n++] = (int32_t)c; i++; continue; }
        int need;
        uint32_t v, min;
        if (c >= 0xC2 && c <= 0xDF) { need = 1; v = c & 0x1F; min = 0x80; }
        else if (c >= 0xE0 && c <= 0xEF) { need = 2; v = c & 0x0F; min = 0x800; }
        else if (c >= 0xF0 && c <= 0xF4) { need = 3; v = c & 0x07; min = 0x10000; }
        else { cp[n++] = 0xFFFD; bad++; i++; continue; }
        int ok = i + (size_t)need < len;   /* all continuation bytes present */
        for (int k = 1; ok && k <= need; k++) {
            unsigned cc = s[i + (size_t)k];
            if ((cc & 0xC0) != 0x80) ok = 0;
            else v = (v << 6) | (cc & 0x3F);
        }
        if (!ok || v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
            cp[n++] = 0xFFFD; bad++; i++; continue;
        }
        cp[n++] = (int32_t)v;
        i += (size_t)need + 1;
    }
    if (n_bad) *n_bad = bad;
    return n;
}

int mmf_utf8_put(int32_t c, char *o) {
    uint32_t u = (uint32_t)c;
    if (u < 0x80) { o[0] = (char)u; return 1; }
    if (u < 0x800) { o[0] = (char)(0xC0 | (u >> 6)); o[1] = (char)(0x80 | (u & 0x3F)); return 2; }
    if (u < 0x10000) {
        o[0] = (char)(0xE0 | (u >> 12)); o[1] = (char)(0x80 | ((u >> 6) & 0x3F)); o[2] = (char)(0x80 | (u & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (u >> 18)); o[1] = (char)(0x80 | ((u >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((u >> 6) & 0x3F)); o[3] = (char)(0x80 | (u & 0x3F));
    return 4;
}

mmf_status mmf_i32vec_reserve(mmf_i32vec *a, size_t n) {
    if (n <= a->cap) return MMF_OK;
    size_t cap = a->cap ? a->cap : 16;
    while (cap < n) cap *= 2;
    int32_t *p = realloc(a->v, cap * sizeof *p);
    if (!p) return mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory (%zu ids)", cap);
    a->v = p;
    a->cap = cap;
    return MMF_OK;
}

mmf_status mmf_i32vec_push(mmf_i32vec *a, int32_t x) {
    if (a->n == a->cap) {
        mmf_status s = mmf_i32vec_reserve(a, a->n + 1);
        if (s) return s;
    }
    a->v[a->n++] = x;
    return MMF_OK;
}

mmf_status mmf_strbuf_add(mmf_strbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) return mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory (%zu bytes)", cap);
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
    return MMF_OK;
}

mmf_status mmf_strbuf_cp(mmf_strbuf *b, int32_t c) {
    char tmp[4];
    return mmf_strbuf_add(b, tmp, (size_t)mmf_utf8_put(c, tmp));
}

static uint64_t fnv(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)s[i]; h *= 1099511628211ULL; }
    return h;
}

mmf_status mmf_vocab_init(mmf_vocab *v, size_t expected) {
    memset(v, 0, sizeof *v);
    size_t ns = 64;
    while (ns < expected * 2 + 16) ns *= 2;
    v->slots = malloc(ns * sizeof *v->slots);
    if (!v->slots) return mmf_fail(MMF_ERR_NOMEM, "vocabulary: cannot allocate %zu slots", ns);
    memset(v->slots, 0xff, ns * sizeof *v->slots);
    v->n_slots = ns;
    return MMF_OK;
}

static size_t find_slot(const mmf_vocab *v, const char *s, size_t n) {
    size_t m = v->n_slots - 1, i = (size_t)fnv(s, n) & m;
    for (;;) {
        int32_t id = v->slots[i];
        if (id < 0) return i;
        const char *t = v->tok[id];
        if (strlen(t) == n && memcmp(t, s, n) == 0) return i;
        i = (i + 1) & m;
    }
}

static mmf_status grow(mmf_vocab *v) {
    size_t ns = v->n_slots * 2;
    int32_t *old = v->slots;
    size_t on = v->n_slots;
    v->slots = malloc(ns * sizeof *v->slots);
    if (!v->slots) { v->slots = old; return mmf_fail(MMF_ERR_NOMEM, "vocabulary: cannot grow to %zu slots", ns); }
    memset(v->slots, 0xff, ns * sizeof *v->slots);
    v->n_slots = ns;
    for (size_t i = 0; i < on; i++)
        if (old[i] >= 0) {
            const char *t = v->tok[old[i]];
            v->slots[find_slot(v, t, strlen(t))] = old[i];
        }
    free(old);
    return MMF_OK;
}

mmf_status mmf_vocab_set(mmf_vocab *v, const char *tok, size_t len, int32_t id, int replace) {
    if (id < 0) return mmf_fail(MMF_ERR_FORMAT, "vocabulary: negative id %d for token \"%.*s\"", id, (int)(len > 40 ? 40 : len), tok);
    if (memchr(tok, 0, len)) return mmf_fail(MMF_ERR_FORMAT, "vocabulary: token with id %d contains a NUL byte", id);
    if ((v->count + 1) * 2 > v->n_slots) { mmf_status s = grow(v); if (s) return s; }
    if (id >= v->n_ids) {
        int64_t nn = v->n_ids ? v->n_ids : 1024;
        while (nn <= id) nn *= 2;
        char **p = realloc(v->tok, (size_t)nn * sizeof *p);
        if (!p) return mmf_fail(MMF_ERR_NOMEM, "vocabulary: out of memory at id %d", id);
        memset(p + v->n_ids, 0, (size_t)(nn - v->n_ids) * sizeof *p);
        v->tok = p;
        v->n_ids = nn;
    }
    size_t slot = find_slot(v, tok, len);
    if (v->slots[slot] >= 0) {
        if (!replace)
            return mmf_fail(MMF_ERR_FORMAT, "vocabulary: token \"%.*s\" appears twice (ids %d and %d)",
                            (int)(len > 40 ? 40 : len), tok, v->slots[slot], id);
        if (v->slots[slot] == id) return MMF_OK;
    }
    if (v->tok[id]) {
        if (!replace) return mmf_fail(MMF_ERR_FORMAT, "vocabulary: id %d is used by \"%s\" and \"%.*s\"", id, v->tok[id],
                                      (int)(len > 40 ? 40 : len), tok);
        /* the id moves to a new string: unlink the old one */
        const char *o = v->tok[id];
        size_t os = find_slot(v, o, strlen(o));
        /* rebuild the table without the old key (rare: only for added tokens) */
        v->slots[os] = -1;
        free(v->tok[id]);
        v->tok[id] = NULL;
        v->count--;
        int32_t *old = v->slots;
        size_t on = v->n_slots;
        v->slots = malloc(on * sizeof *v->slots);
        if (!v->slots) { v->slots = old; return mmf_fail(MMF_ERR_NOMEM, "vocabulary: out of memory"); }
        memset(v->slots, 0xff, on * sizeof *v->slots);
        for (size_t i = 0; i < on; i++)
            if (old[i] >= 0 && v->tok[old[i]]) v->slots[find_slot(v, v->tok[old[i]], strlen(v->tok[old[i]]))] = old[i];
        free(old);
        slot = find_slot(v, tok, len);
    }
    char *copy = malloc(len + 1);
    if (!copy) return mmf_fail(MMF_ERR_NOMEM, "vocabulary: out of memory");
    memcpy(copy, tok, len);
    copy[len] = 0;
    if (v->slots[slot] >= 0) {   /* replace: the token moves to a new id */
        int32_t old = v->slots[slot];
        free(v->tok[old]);
        v->tok[old] = NULL;
        v->count--;
    }
    v->tok[id] = copy;
    v->slots[slot] = id;
    v->count++;
    return MMF_OK;
}

int32_t mmf_vocab_get(const mmf_vocab *v, const char *tok, size_t len) {
    if (!v->n_slots) return -1;
    return v->slots[find_slot(v, tok, len)];
}

const char *mmf_vocab_token(const mmf_vocab *v, int32_t id) {
    return (id >= 0 && id < v->n_ids) ? v->tok[id] : NULL;
}

void mmf_vocab_free(mmf_vocab *v) {
    if (v->tok)
        for (int64_t i = 0; i < v->n_ids; i++) free(v->tok[i]);
    free(v->tok);
    free(v->slots);
    memset(v, 0, sizeof *v);
}
