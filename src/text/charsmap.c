/* SentencePiece's precompiled charsmap (see charsmap.h). The trie walk is
 * Darts-clone's commonPrefixSearch: a unit holds a label (the byte that leads
 * to it), an offset to its children, a has-leaf bit; the value of a key sits
 * in the unit the leaf bit points at. */
#include "text/charsmap.h"
#include "core/error.h"
#include <stdlib.h>
#include <string.h>

static uint32_t unit_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }
static uint32_t unit_label(uint32_t u) { return u & ((1u << 31) | 0xFFu); }
static int unit_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static uint32_t unit_value(uint32_t u) { return u & ((1u << 31) - 1); }

mmf_status mmf_charsmap_init(mmf_charsmap *m, const unsigned char *blob, size_t len, const char *file) {
    memset(m, 0, sizeof *m);
    if (len < 4) return mmf_fail(MMF_ERR_FORMAT, "%s: precompiled charsmap of %zu bytes (needs at least 4)", file, len);
    uint32_t trie = (uint32_t)blob[0] | (uint32_t)blob[1] << 8 | (uint32_t)blob[2] << 16 | (uint32_t)blob[3] << 24;
    if (trie % 4 || trie < 4 || (size_t)trie > len - 4)
        return mmf_fail(MMF_ERR_FORMAT, "%s: precompiled charsmap trie size %u does not fit its %zu bytes", file, trie, len);
    m->n_units = trie / 4;
    m->n_norm = len - 4 - trie;
    m->units = malloc(trie);
    m->norm = malloc(m->n_norm + 1);
    if (!m->units || !m->norm) { mmf_charsmap_free(m); return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", file); }
    for (size_t i = 0; i < m->n_units; i++) {
        const unsigned char *p = blob + 4 + 4 * i;
        m->units[i] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    }
    memcpy(m->norm, blob + 4 + trie, m->n_norm);
    m->norm[m->n_norm] = 0;   /* a last string without its NUL still ends */
    return MMF_OK;
}

void mmf_charsmap_free(mmf_charsmap *m) {
    free(m->units);
    free(m->norm);
    memset(m, 0, sizeof *m);
}

size_t mmf_charsmap_match(const mmf_charsmap *m, const char *s, size_t n, int longest, const char **rep,
                          size_t *rep_len) {
    if (!m->n_units) return 0;
    size_t best = 0;
    uint32_t best_value = 0;
    uint32_t id = unit_offset(m->units[0]);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        id ^= c;
        if (id >= m->n_units) break;
        uint32_t u = m->units[id];
        if (unit_label(u) != c) break;
        id ^= unit_offset(u);
        if (id >= m->n_units) break;
        if (unit_has_leaf(u)) {
            best = i + 1;
            best_value = unit_value(m->units[id]);
            if (!longest) break;
        }
    }
    if (!best || best_value >= m->n_norm + 1) return 0;
    *rep = m->norm + best_value;
    *rep_len = strlen(*rep);
    return best;
}

static int b64(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

mmf_status mmf_base64_decode(const char *s, size_t n, unsigned char **out, size_t *out_len, const char *what) {
    *out = NULL;
    *out_len = 0;
    while (n && s[n - 1] == '=') n--;
    if (n % 4 == 1) return mmf_fail(MMF_ERR_FORMAT, "%s: base64 text of %zu characters is truncated", what, n);
    unsigned char *o = malloc(n / 4 * 3 + 3);
    if (!o) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", what);
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64((unsigned char)s[i]);
        if (v < 0) { free(o); return mmf_fail(MMF_ERR_FORMAT, "%s: byte %zu is not base64", what, i); }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) { bits -= 8; o[k++] = (unsigned char)(acc >> bits); }
    }
    *out = o;
    *out_len = k;
    return MMF_OK;
}
