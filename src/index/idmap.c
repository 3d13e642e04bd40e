/* id -> slot: open addressing with linear probing and backward-shift delete,
 * so lookups never walk over tombstones. */
#include "index/index_internal.h"
#include "core/error.h"
#include <stdlib.h>
#include <string.h>

static size_t hash64(int64_t k) {
    uint64_t x = (uint64_t)k;
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return (size_t)x;
}

mmf_status mmf_idmap_reserve(mmf_idmap *m, size_t n) {
    size_t want = 16;
    while (want < 2 * n + 2) {
        if (want > SIZE_MAX / 4) return mmf_fail(MMF_ERR_NOMEM, "index: id table for %zu entries is too large", n);
        want *= 2;
    }
    if (want <= m->cap) return MMF_OK;
    mmf_idmap nm = {0};
    nm.keys = malloc(want * sizeof *nm.keys);
    nm.vals = malloc(want * sizeof *nm.vals);
    nm.used = calloc(want, 1);
    if (!nm.keys || !nm.vals || !nm.used) {
        free(nm.keys); free(nm.vals); free(nm.used);
        return mmf_fail(MMF_ERR_NOMEM, "index: out of memory for the id table (%zu entries)", want);
    }
    nm.cap = want;
    for (size_t i = 0; i < m->cap; i++)
        if (m->used[i]) mmf_idmap_put(&nm, m->keys[i], m->vals[i]);
    mmf_idmap_free(m);
    *m = nm;
    return MMF_OK;
}

int mmf_idmap_get(const mmf_idmap *m, int64_t key, uint32_t *val) {
    if (!m->cap) return 0;
    size_t mask = m->cap - 1;
    for (size_t i = hash64(key) & mask; m->used[i]; i = (i + 1) & mask)
        if (m->keys[i] == key) { if (val) *val = m->vals[i]; return 1; }
    return 0;
}

void mmf_idmap_put(mmf_idmap *m, int64_t key, uint32_t val) {
    size_t mask = m->cap - 1, i = hash64(key) & mask;
    for (; m->used[i]; i = (i + 1) & mask)
        if (m->keys[i] == key) { m->vals[i] = val; return; }
    m->used[i] = 1; m->keys[i] = key; m->vals[i] = val; m->n++;
}

void mmf_idmap_del(mmf_idmap *m, int64_t key) {
    if (!m->cap) return;
    size_t mask = m->cap - 1, i = hash64(key) & mask;
    for (; m->used[i]; i = (i + 1) & mask)
        if (m->keys[i] == key) break;
    if (!m->used[i]) return;
    m->used[i] = 0; m->n--;
    /* shift back later members of the probe run that could sit earlier */
    for (size_t j = (i + 1) & mask; m->used[j]; j = (j + 1) & mask) {
        size_t h = hash64(m->keys[j]) & mask;
        /* entry j may move to hole i if its home h is not in (i, j] cyclically */
        int in_range = (i <= j) ? (h > i && h <= j) : (h > i || h <= j);
        if (in_range) continue;
        m->keys[i] = m->keys[j]; m->vals[i] = m->vals[j]; m->used[i] = 1;
        m->used[j] = 0;
        i = j;
    }
}

void mmf_idmap_free(mmf_idmap *m) {
    free(m->keys); free(m->vals); free(m->used);
    memset(m, 0, sizeof *m);
}
