/* The vector index handle. Storage is a set of flat arrays indexed by slot
 * (one slot per vector ever added; deleted slots stay as tombstones so the
 * graph keeps routing through them). After mmf_index_open the arrays point
 * into a read-only mapping; the first add/delete copies them to the heap. */
#ifndef MMF_INDEX_INTERNAL_H
#define MMF_INDEX_INTERNAL_H
#include <stdint.h>
#include <stddef.h>
#include <omp.h>
#include "mmfuse.h"

#define MMF_HNSW_NONE UINT32_MAX
#define MMF_HNSW_MAX_LEVEL 32

typedef struct mmf_idmap {
    int64_t *keys;
    uint32_t *vals;
    uint8_t *used;
    size_t cap, n;          /* cap is a power of two */
} mmf_idmap;

/* A reusable visited set: tags[i] == tag means "seen in this search". */
typedef struct mmf_visited {
    uint16_t *tags;
    size_t cap;
    uint16_t tag;
} mmf_visited;

struct mmf_index {
    int dim;
    mmf_index_kind kind;
    mmf_metric metric;
    mmf_index_quant quant;
    int M, M0, ef_construction, ef_search;
    uint64_t seed;
    int n_threads;

    size_t n, cap;           /* slots used / allocated */
    size_t n_deleted;
    int64_t next_id;

    float *vecs;             /* (cap, dim); normalised for COSINE */
    float *norms;            /* (cap) squared norms */
    int64_t *ids;            /* (cap) */
    uint8_t *deleted;        /* (cap) 0/1 */
    int8_t *qvecs;           /* (cap, dim) INT8 codes or NULL */
    float *qscale;           /* (cap) or NULL */

    /* HNSW */
    uint8_t *levels;         /* (cap) */
    uint32_t *links0;        /* (cap, M0+1): [count, neighbours...] */
    uint32_t **up;           /* (cap): levels[i]*(M+1) entries for levels 1.. */
    int max_level;
    uint32_t entry;

    mmf_idmap idmap;

    /* named items (index_items.c): per-slot heap strings, NULL = none; the
     * arrays themselves stay NULL until some item has a name or payload */
    char **names, **payloads;
    size_t str_cap;
    char *model_id, *tensor;  /* provenance of the vectors, NULL = unknown */

    /* mapped file (arrays above point into it while `mapped`) */
    void *map;
    size_t map_len;
    int mapped;

    /* pool of visited sets shared by searches */
    omp_lock_t pool_lock;
    mmf_visited **pool;
    size_t pool_n, pool_cap;
};

/* idmap.c */
mmf_status mmf_idmap_reserve(mmf_idmap *m, size_t n);
int mmf_idmap_get(const mmf_idmap *m, int64_t key, uint32_t *val);
void mmf_idmap_put(mmf_idmap *m, int64_t key, uint32_t val);   /* after reserve */
void mmf_idmap_del(mmf_idmap *m, int64_t key);
void mmf_idmap_free(mmf_idmap *m);

/* index.c */
mmf_status mmf_index_alloc_handle(mmf_index **out);
mmf_status mmf_index_make_writable(mmf_index *ix);
mmf_visited *mmf_visited_get(mmf_index *ix);
void mmf_visited_put(mmf_index *ix, mmf_visited *v);
static inline void mmf_visited_next(mmf_visited *v) {
    if (++v->tag == 0) {
        for (size_t i = 0; i < v->cap; i++) v->tags[i] = 0;
        v->tag = 1;
    }
}
/* 1 for IP-like metrics (dist = -dot), 0 for L2 */
static inline int mmf_metric_is_ip(mmf_metric m) { return m != MMF_METRIC_L2; }

/* index_items.c */
/* Room for per-slot strings up to `want` slots (new entries NULL). */
mmf_status mmf_index_strings_reserve(mmf_index *ix, size_t want);
void mmf_index_strings_free(mmf_index *ix);
/* A name / payload / provenance string as the file or a caller gives it:
 * what = "name", "payload", ... for messages; max bytes; JSON for payloads. */
mmf_status mmf_index_check_string(const char *s, size_t len, size_t max, int json, const char *what, const char *where);
#define MMF_INDEX_NAME_MAX 4096u
#define MMF_INDEX_PAYLOAD_MAX (1u << 20)
#define MMF_INDEX_SOURCE_MAX 1024u

/* flat.c: exact search over all live slots with BLAS; dist lower = better */
mmf_status mmf_flat_search(const mmf_index *ix, size_t nq, const float *q, int k, int nt,
                           uint32_t *slots, float *dists);

/* hnsw.c */
typedef struct mmf_hnsw_scratch mmf_hnsw_scratch;
mmf_hnsw_scratch *mmf_hnsw_scratch_new(const mmf_index *ix, int ef);
void mmf_hnsw_scratch_free(mmf_hnsw_scratch *s);
mmf_status mmf_hnsw_insert_range(mmf_index *ix, size_t from, size_t to, int nt);
/* q is already normalised (COSINE). Writes up to k results (dist ascending),
 * returns how many. */
int mmf_hnsw_search_one(const mmf_index *ix, mmf_visited *vis, const float *q, int k, int ef,
                        uint32_t *slots, float *dists, mmf_hnsw_scratch *s);
int mmf_hnsw_level_for(uint64_t seed, size_t slot, int M);

#endif
