/* oneDNN primitives by shape (prim_cache.h). */
#include "core/prim_cache.h"
#include <pthread.h>
#include <stdint.h>
#include <string.h>

enum { CACHE = 256 };   /* BERT-base int8 keeps 48 per-matrix primitives per row count */
struct mmf_prim_entry {
    unsigned char key[MMF_PRIM_KEY_MAX];
    size_t key_bytes;
    dnnl_memory_desc_t md;
    dnnl_primitive_t prim;
    uint64_t used, hits;
    int busy;
};
static mmf_prim_entry g_cache[CACHE];
static uint64_t g_tick;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

dnnl_primitive_t mmf_prim_acquire(const void *key, size_t key_bytes, const dnnl_memory_desc_t *md,
                                  dnnl_primitive_t (*make)(const void *ctx), const void *ctx, mmf_prim_entry **entry) {
    *entry = NULL;
    if (key_bytes > MMF_PRIM_KEY_MAX) return make(ctx);
    pthread_mutex_lock(&g_lock);
    mmf_prim_entry *slot = NULL;
    for (int i = 0; i < CACHE; i++) {
        mmf_prim_entry *c = &g_cache[i];
        if (c->prim && c->key_bytes == key_bytes && !memcmp(c->key, key, key_bytes) && dnnl_memory_desc_equal(&c->md, md)) {
            c->used = ++g_tick;
            c->hits++;
            c->busy++;
            *entry = c;
            pthread_mutex_unlock(&g_lock);
            return c->prim;
        }
        if (!c->busy && (!slot || !c->prim || (slot->prim && c->used < slot->used))) slot = c;
    }
    if (!make) {   /* a lookup only */
        pthread_mutex_unlock(&g_lock);
        return NULL;
    }
    dnnl_primitive_t old = NULL;
    if (slot) {   /* reserved while the primitive is made; its old one has no user */
        old = slot->prim;
        slot->prim = NULL;
        slot->busy = 1;
    }
    pthread_mutex_unlock(&g_lock);
    if (old) dnnl_primitive_destroy(old);
    dnnl_primitive_t p = make(ctx);
    if (!slot) return p;
    pthread_mutex_lock(&g_lock);
    if (p) {
        memcpy(slot->key, key, key_bytes);
        slot->key_bytes = key_bytes;
        slot->md = *md;
        slot->prim = p;
        slot->used = ++g_tick;
        slot->hits = 0;
        *entry = slot;
    } else slot->busy = 0;
    pthread_mutex_unlock(&g_lock);
    return p;
}

void mmf_prim_release(mmf_prim_entry *entry, dnnl_primitive_t p) {
    if (!entry) {
        if (p) dnnl_primitive_destroy(p);
        return;
    }
    pthread_mutex_lock(&g_lock);
    entry->busy--;
    pthread_mutex_unlock(&g_lock);
}

uint64_t mmf_prim_hits(const mmf_prim_entry *entry) { return entry ? entry->hits : 0; }
