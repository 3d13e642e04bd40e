/* Bump allocator for activations: sized once up front, reset between batches.
 * Running out is an error with the sizes named, never a silent realloc. */
#ifndef MMF_CORE_ARENA_H
#define MMF_CORE_ARENA_H
#include <stddef.h>
#include "mmfuse.h"

typedef struct mmf_arena {
    unsigned char *base;
    size_t cap, used, peak;
} mmf_arena;

#define MMF_ALIGN 64

mmf_status mmf_arena_init(mmf_arena *a, size_t bytes);
void mmf_arena_free(mmf_arena *a);
/* The arena (freed first if it was in use) made to hold n float buffers and
 * carved into them: buffer i has floats[i] floats and goes to *dst[i]. `who`
 * names the owner in the error. */
mmf_status mmf_arena_carve(mmf_arena *a, int n, const size_t *floats, float **const *dst, const char *who);
/* 64-byte aligned; NULL (and an error message) when the arena is exhausted. */
void *mmf_arena_alloc(mmf_arena *a, size_t bytes);
float *mmf_arena_floats(mmf_arena *a, size_t n);
static inline size_t mmf_arena_mark(const mmf_arena *a) { return a->used; }
static inline void mmf_arena_rewind(mmf_arena *a, size_t mark) { a->used = mark; }
static inline void mmf_arena_reset(mmf_arena *a) { a->used = 0; }
/* Bytes an allocation of `bytes` will take, for sizing arenas up front. */
static inline size_t mmf_arena_need(size_t bytes) { return (bytes + MMF_ALIGN - 1) & ~(size_t)(MMF_ALIGN - 1); }
#endif
