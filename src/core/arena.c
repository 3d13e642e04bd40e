#include "core/arena.h"
#include "core/error.h"
#include "core/huge_alloc.h"
#include <stdlib.h>
#include <string.h>

mmf_status mmf_arena_init(mmf_arena *a, size_t bytes) {
    memset(a, 0, sizeof *a);
    bytes = mmf_arena_need(bytes ? bytes : MMF_ALIGN);
    /* a big arena (an encoder's activations) on huge pages: its first touch
     * is part of every process start (core/huge_alloc.h); small ones as usual */
    a->base = bytes >= ((size_t)4 << 20) ? mmf_alloc_huge(bytes) : aligned_alloc(MMF_ALIGN, bytes);
    if (!a->base) return mmf_fail(MMF_ERR_NOMEM, "arena: cannot allocate %zu bytes", bytes);
    a->cap = bytes;
    return MMF_OK;
}

mmf_status mmf_arena_carve(mmf_arena *a, int n, const size_t *floats, float **const *dst, const char *who) {
    mmf_arena_free(a);
    size_t bytes = 0;
    for (int i = 0; i < n; i++) bytes += mmf_arena_need(floats[i] * sizeof(float));
    MMF_TRY(mmf_arena_init(a, bytes));
    for (int i = 0; i < n; i++)
        if (!(*dst[i] = mmf_arena_floats(a, floats[i]))) return mmf_fail(MMF_ERR_NOMEM, "%s: activation arena too small", who);
    return MMF_OK;
}

void mmf_arena_free(mmf_arena *a) {
    free(a->base);
    memset(a, 0, sizeof *a);
}

void *mmf_arena_alloc(mmf_arena *a, size_t bytes) {
    size_t need = mmf_arena_need(bytes);
    if (need < bytes || a->used > a->cap || need > a->cap - a->used) {
        mmf_fail(MMF_ERR_NOMEM, "arena exhausted: %zu bytes requested, %zu of %zu in use", bytes, a->used, a->cap);
        return NULL;
    }
    void *p = a->base + a->used;
    a->used += need;
    if (a->used > a->peak) a->peak = a->used;
    return p;
}

float *mmf_arena_floats(mmf_arena *a, size_t n) {
    size_t bytes;
    if (!mmf_mul_size(n, sizeof(float), &bytes)) {
        mmf_fail(MMF_ERR_NOMEM, "arena: %zu floats overflows size_t", n);
        return NULL;
    }
    return mmf_arena_alloc(a, bytes);
}
