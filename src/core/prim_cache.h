/* A process-wide cache of oneDNN primitives by shape, for the matmuls on
 * weights packed once (core/matmul_int8.c): making a primitive costs about a
 * millisecond, as much as a small GEMM, and one compiled kernel serves every
 * matrix of that shape and layout. Like oneDNN's own primitive cache, and for
 * the same reason; it exists because oneDNN's keys on the descriptor, which
 * we would have to rebuild per call. An entry in use is never evicted; when
 * all are busy, the caller gets its own primitive and destroys it on release. */
#ifndef MMF_CORE_PRIM_CACHE_H
#define MMF_CORE_PRIM_CACHE_H
#include <oneapi/dnnl/dnnl.h>
#include <stddef.h>
#include <stdint.h>

enum { MMF_PRIM_KEY_MAX = 64 };
/* (256 entries, least recently used evicted) */   /* bytes of a key besides the weights' layout */

typedef struct mmf_prim_entry mmf_prim_entry;
/* the primitive for (key, md), made by make(ctx) when missing; NULL when
 * make refused, or when it is missing and make is NULL (a lookup). *entry
 * goes back through mmf_prim_release. */
dnnl_primitive_t mmf_prim_acquire(const void *key, size_t key_bytes, const dnnl_memory_desc_t *md,
                                  dnnl_primitive_t (*make)(const void *ctx), const void *ctx, mmf_prim_entry **entry);
void mmf_prim_release(mmf_prim_entry *entry, dnnl_primitive_t p);
/* how often the entry was found since it was made (0 for NULL) */
uint64_t mmf_prim_hits(const mmf_prim_entry *entry);
#endif
