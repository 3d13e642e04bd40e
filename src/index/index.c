/* The index handle: parameters, storage growth, add/delete, search dispatch. */
#include "index/index_internal.h"
#include "index/distance.h"
#include "core/error.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

const char *mmf_metric_name(mmf_metric m) {
    switch (m) {
    case MMF_METRIC_COSINE: return "cosine";
    case MMF_METRIC_DOT: return "dot";
    case MMF_METRIC_L2: return "l2";
    }
    return "?";
}

mmf_status mmf_metric_parse(const char *s, mmf_metric *out) {
    if (!s) return mmf_fail(MMF_ERR_ARG, "metric: missing name (expected cosine, dot or l2)");
    if (!strcmp(s, "cosine")) *out = MMF_METRIC_COSINE;
    else if (!strcmp(s, "dot") || !strcmp(s, "ip")) *out = MMF_METRIC_DOT;
    else if (!strcmp(s, "l2")) *out = MMF_METRIC_L2;
    else return mmf_fail(MMF_ERR_ARG, "metric \"%s\": expected cosine, dot or l2", s);
    return MMF_OK;
}

mmf_index_params mmf_index_params_default(void) {
    mmf_index_params p;
    p.kind = MMF_INDEX_HNSW;
    p.metric = MMF_METRIC_COSINE;
    p.quant = MMF_QUANT_NONE;
    p.M = 16;
    p.ef_construction = 200;
    p.ef_search = 64;
    p.seed = 42;
    p.n_threads = 1;
    return p;
}

mmf_search_params mmf_search_params_default(void) {
    mmf_search_params p = {0, 0, 1};
    return p;
}

mmf_status mmf_index_alloc_handle(mmf_index **out) {
    mmf_index *ix = calloc(1, sizeof *ix);
    if (!ix) return mmf_fail(MMF_ERR_NOMEM, "index: out of memory");
    omp_init_lock(&ix->pool_lock);
    ix->entry = MMF_HNSW_NONE;
    ix->max_level = -1;
    *out = ix;
    return MMF_OK;
}

mmf_status mmf_index_new(int dim, const mmf_index_params *p, mmf_index **out) {
    *out = NULL;
    mmf_index_params d = mmf_index_params_default();
    if (!p) p = &d;
    if (dim < 1 || dim > (1 << 16))
        return mmf_fail(MMF_ERR_ARG, "index: dimension %d out of range [1, 65536]", dim);
    if ((unsigned)p->kind > MMF_INDEX_FLAT) return mmf_fail(MMF_ERR_ARG, "index: unknown kind %d", (int)p->kind);
    if ((unsigned)p->metric > MMF_METRIC_L2) return mmf_fail(MMF_ERR_ARG, "index: unknown metric %d", (int)p->metric);
    if ((unsigned)p->quant > MMF_QUANT_INT8) return mmf_fail(MMF_ERR_ARG, "index: unknown quantisation %d", (int)p->quant);
    if (p->M < 2 || p->M > 256) return mmf_fail(MMF_ERR_ARG, "index: M = %d, expected 2..256", p->M);
    if (p->ef_construction < 1 || p->ef_construction > 100000)
        return mmf_fail(MMF_ERR_ARG, "index: ef_construction = %d, expected 1..100000", p->ef_construction);
    if (p->ef_search < 1 || p->ef_search > 100000)
        return mmf_fail(MMF_ERR_ARG, "index: ef_search = %d, expected 1..100000", p->ef_search);
    mmf_index *ix;
    mmf_status s = mmf_index_alloc_handle(&ix);
    if (s) return s;
    ix->dim = dim;
    ix->kind = p->kind;
    ix->metric = p->metric;
    ix->quant = p->quant;
    ix->M = p->M;
    ix->M0 = 2 * p->M;
    ix->ef_construction = p->ef_construction;
    ix->ef_search = p->ef_search;
    ix->seed = p->seed;
    ix->n_threads = p->n_threads < 1 ? 1 : p->n_threads;
    *out = ix;
    return MMF_OK;
}

static size_t links0_width(const mmf_index *ix) { return (size_t)ix->M0 + 1; }

/* Grow every per-slot array to hold `want` slots (heap storage only). */
static mmf_status grow(mmf_index *ix, size_t want) {
    if (want <= ix->cap) return MMF_OK;
    size_t cap = ix->cap ? ix->cap : 1024;
    while (cap < want) cap = cap * 3 / 2 + 1;
    if (cap > (size_t)UINT32_MAX - 1) {
        if (want > (size_t)UINT32_MAX - 1) return mmf_fail(MMF_ERR_NOMEM, "index: more than 2^32-1 vectors");
        cap = (size_t)UINT32_MAX - 1;
    }
    size_t d = (size_t)ix->dim, vb;
    if (!mmf_mul_size(cap, d * sizeof(float), &vb)) return mmf_fail(MMF_ERR_NOMEM, "index: size overflow");
#define GROW(ptr, bytes) do { void *np_ = realloc((ptr), (bytes)); \
        if (!np_) return mmf_fail(MMF_ERR_NOMEM, "index: out of memory growing to %zu vectors", cap); \
        (ptr) = np_; } while (0)
    GROW(ix->vecs, vb);
    GROW(ix->norms, cap * sizeof(float));
    GROW(ix->ids, cap * sizeof(int64_t));
    GROW(ix->deleted, cap);
    if (ix->quant == MMF_QUANT_INT8) {
        GROW(ix->qvecs, cap * d);
        GROW(ix->qscale, cap * sizeof(float));
    }
    if (ix->kind == MMF_INDEX_HNSW) {
        GROW(ix->levels, cap);
        GROW(ix->links0, cap * links0_width(ix) * sizeof(uint32_t));
        GROW(ix->up, cap * sizeof(uint32_t *));
        memset(ix->links0 + ix->cap * links0_width(ix), 0, (cap - ix->cap) * links0_width(ix) * sizeof(uint32_t));
        memset(ix->up + ix->cap, 0, (cap - ix->cap) * sizeof(uint32_t *));
    }
#undef GROW
    ix->cap = cap;
    return MMF_OK;
}

/* Copy arrays that point into the read-only mapping onto the heap. */
mmf_status mmf_index_make_writable(mmf_index *ix) {
    if (!ix->mapped) return MMF_OK;
    size_t n = ix->n, d = (size_t)ix->dim;
    mmf_index tmp = *ix;   /* the mapped pointers */
    ix->vecs = NULL; ix->norms = NULL; ix->ids = NULL; ix->deleted = NULL;
    ix->qvecs = NULL; ix->qscale = NULL; ix->levels = NULL; ix->links0 = NULL; ix->up = NULL;
    ix->cap = 0;
    mmf_status s = grow(ix, n ? n : 1);
    if (s) goto fail;
    if (n == 0) {   /* an empty file maps no arrays: nothing to copy (memcpy from NULL is undefined) */
        if (ix->kind == MMF_INDEX_HNSW) free(tmp.up);
        goto unmap;
    }
    memcpy(ix->vecs, tmp.vecs, n * d * sizeof(float));
    memcpy(ix->norms, tmp.norms, n * sizeof(float));
    memcpy(ix->ids, tmp.ids, n * sizeof(int64_t));
    memcpy(ix->deleted, tmp.deleted, n);
    if (ix->quant == MMF_QUANT_INT8) {
        memcpy(ix->qvecs, tmp.qvecs, n * d);
        memcpy(ix->qscale, tmp.qscale, n * sizeof(float));
    }
    if (ix->kind == MMF_INDEX_HNSW) {
        memcpy(ix->levels, tmp.levels, n);
        memcpy(ix->links0, tmp.links0, n * links0_width(ix) * sizeof(uint32_t));
        for (size_t i = 0; i < n; i++) {
            if (!ix->levels[i]) continue;
            size_t len = (size_t)ix->levels[i] * ((size_t)ix->M + 1);
            ix->up[i] = malloc(len * sizeof(uint32_t));
            if (!ix->up[i]) { s = mmf_fail(MMF_ERR_NOMEM, "index: out of memory copying links"); goto fail; }
            memcpy(ix->up[i], tmp.up[i], len * sizeof(uint32_t));
        }
        free(tmp.up);   /* the pointer table itself was always on the heap */
    }
unmap:
    munmap(ix->map, ix->map_len);
    ix->map = NULL; ix->map_len = 0; ix->mapped = 0;
    return MMF_OK;
fail:
    if (ix->up) for (size_t i = 0; i < n; i++) free(ix->up[i]);
    free(ix->vecs); free(ix->norms); free(ix->ids); free(ix->deleted); free(ix->qvecs);
    free(ix->qscale); free(ix->levels); free(ix->links0); free(ix->up);
    ix->vecs = tmp.vecs; ix->norms = tmp.norms; ix->ids = tmp.ids; ix->deleted = tmp.deleted;
    ix->qvecs = tmp.qvecs; ix->qscale = tmp.qscale; ix->levels = tmp.levels;
    ix->links0 = tmp.links0; ix->up = tmp.up; ix->cap = tmp.cap;
    return s;
}

mmf_status mmf_index_add(mmf_index *ix, size_t n, const float *vecs, const int64_t *ids) {
    if (!ix) return mmf_fail(MMF_ERR_ARG, "index add: NULL index");
    if (n == 0) return MMF_OK;
    if (!vecs) return mmf_fail(MMF_ERR_ARG, "index add: NULL vectors");
    size_t d = (size_t)ix->dim;
    if (ix->n + n > (size_t)UINT32_MAX - 1) return mmf_fail(MMF_ERR_NOMEM, "index add: more than 2^32-1 vectors");
    for (size_t i = 0; i < n; i++) {
        const float *v = vecs + i * d;
        double nn = 0.0;
        for (size_t j = 0; j < d; j++) {
            if (!isfinite(v[j])) return mmf_fail(MMF_ERR_NUMERIC, "index add: vector %zu has a non-finite value at %zu", i, j);
            nn += (double)v[j] * v[j];
        }
        if (ix->metric == MMF_METRIC_COSINE && nn == 0.0)
            return mmf_fail(MMF_ERR_ARG, "index add: vector %zu is all zeros, which has no cosine direction", i);
    }
    mmf_status s = mmf_idmap_reserve(&ix->idmap, ix->idmap.n + n);
    if (s) return s;
    /* ids first: a duplicate rolls back before anything else changes */
    for (size_t i = 0; i < n; i++) {
        int64_t id = ids ? ids[i] : ix->next_id + (int64_t)i;
        if (mmf_idmap_get(&ix->idmap, id, NULL)) {
            for (size_t j = 0; j < i; j++) mmf_idmap_del(&ix->idmap, ids ? ids[j] : ix->next_id + (int64_t)j);
            return mmf_fail(MMF_ERR_ARG, "index add: id %lld is already in the index", (long long)id);
        }
        mmf_idmap_put(&ix->idmap, id, (uint32_t)(ix->n + i));
    }
    s = mmf_index_make_writable(ix);
    if (!s) s = grow(ix, ix->n + n);
    if (s) {
        for (size_t j = 0; j < n; j++) mmf_idmap_del(&ix->idmap, ids ? ids[j] : ix->next_id + (int64_t)j);
        return s;
    }
    size_t from = ix->n;
    for (size_t i = 0; i < n; i++) {
        size_t slot = from + i;
        float *dst = ix->vecs + slot * d;
        memcpy(dst, vecs + i * d, d * sizeof(float));
        double nn = 0.0;
        for (size_t j = 0; j < d; j++) nn += (double)dst[j] * dst[j];
        if (ix->metric == MMF_METRIC_COSINE) {
            float inv = (float)(1.0 / sqrt(nn));
            for (size_t j = 0; j < d; j++) dst[j] *= inv;
            nn = 1.0;
        }
        ix->norms[slot] = (float)nn;
        int64_t id = ids ? ids[i] : ix->next_id + (int64_t)i;
        ix->ids[slot] = id;
        ix->deleted[slot] = 0;
        if (ix->quant == MMF_QUANT_INT8) ix->qscale[slot] = mmf_quantize_i8(dst, ix->qvecs + slot * d, (int)d);
        if (ix->kind == MMF_INDEX_HNSW) ix->levels[slot] = (uint8_t)mmf_hnsw_level_for(ix->seed, slot, ix->M);
    }
    int64_t base = ix->next_id;   /* the automatic ids above counted from here */
    for (size_t i = 0; i < n; i++) {
        int64_t id = ids ? ids[i] : base + (int64_t)i;
        if (id >= ix->next_id) ix->next_id = id == INT64_MAX ? id : id + 1;
    }
    ix->n = from + n;
    /* only allocation failures can stop the linking; unlinked slots stay
     * searchable by exact search and keep their ids */
    if (ix->kind == MMF_INDEX_HNSW) return mmf_hnsw_insert_range(ix, from, from + n, ix->n_threads);
    return MMF_OK;
}

mmf_status mmf_index_delete(mmf_index *ix, int64_t id) {
    uint32_t slot;
    if (!ix || !mmf_idmap_get(&ix->idmap, id, &slot))
        return mmf_fail(MMF_ERR_NOT_FOUND, "index delete: id %lld is not in the index", (long long)id);
    mmf_status s = mmf_index_make_writable(ix);
    if (s) return s;
    ix->deleted[slot] = 1;
    ix->n_deleted++;
    mmf_idmap_del(&ix->idmap, id);
    return MMF_OK;
}

mmf_visited *mmf_visited_get(mmf_index *ix) {
    mmf_visited *v = NULL;
    omp_set_lock(&ix->pool_lock);
    if (ix->pool_n) v = ix->pool[--ix->pool_n];
    omp_unset_lock(&ix->pool_lock);
    if (!v) { v = calloc(1, sizeof *v); if (!v) return NULL; }
    size_t need = ix->cap > ix->n ? ix->cap : ix->n;
    if (v->cap < need) {
        free(v->tags);
        v->tags = calloc(need, sizeof *v->tags);
        if (!v->tags) { free(v); return NULL; }
        v->cap = need;
        v->tag = 0;
    }
    return v;
}

void mmf_visited_put(mmf_index *ix, mmf_visited *v) {
    if (!v) return;
    omp_set_lock(&ix->pool_lock);
    if (ix->pool_n == ix->pool_cap) {
        size_t nc = ix->pool_cap ? ix->pool_cap * 2 : 8;
        mmf_visited **np = realloc(ix->pool, nc * sizeof *np);
        if (!np) { omp_unset_lock(&ix->pool_lock); free(v->tags); free(v); return; }
        ix->pool = np; ix->pool_cap = nc;
    }
    ix->pool[ix->pool_n++] = v;
    omp_unset_lock(&ix->pool_lock);
}

static float dist_to_score(const mmf_index *ix, float d) {
    return mmf_metric_is_ip(ix->metric) ? -d : d;
}

mmf_status mmf_index_search(const mmf_index *cix, size_t nq, const float *queries, int k,
                            const mmf_search_params *sp, int64_t *ids, float *scores) {
    mmf_index *ix = (mmf_index *)cix;   /* only the visited pool changes */
    mmf_search_params dp = mmf_search_params_default();
    if (!sp) sp = &dp;
    if (!ix) return mmf_fail(MMF_ERR_ARG, "index search: NULL index");
    if (k < 1) return mmf_fail(MMF_ERR_ARG, "index search: k = %d, expected >= 1", k);
    if (nq == 0) return MMF_OK;
    if (!queries || !ids) return mmf_fail(MMF_ERR_ARG, "index search: NULL queries or output");
    if (ix->n - ix->n_deleted == 0) return mmf_fail(MMF_ERR_ARG, "index search: the index holds no vectors");
    size_t d = (size_t)ix->dim;
    int nt = sp->n_threads < 1 ? 1 : sp->n_threads;
    /* normalised copies for COSINE; otherwise the caller's rows are used as is */
    float *qn = NULL;
    const float *Q = queries;
    if (ix->metric == MMF_METRIC_COSINE) {
        qn = malloc(nq * d * sizeof(float));
        if (!qn) return mmf_fail(MMF_ERR_NOMEM, "index search: out of memory for %zu queries", nq);
        for (size_t i = 0; i < nq; i++) {
            double nn = 0.0;
            for (size_t j = 0; j < d; j++) nn += (double)queries[i * d + j] * queries[i * d + j];
            if (!(nn > 0.0) || !isfinite(nn)) {
                free(qn);
                return mmf_fail(MMF_ERR_NUMERIC, "index search: query %zu is zero or not finite (no cosine direction)", i);
            }
            float inv = (float)(1.0 / sqrt(nn));
            for (size_t j = 0; j < d; j++) qn[i * d + j] = queries[i * d + j] * inv;
        }
        Q = qn;
    } else {
        for (size_t i = 0; i < nq * d; i++)
            if (!isfinite(queries[i])) return mmf_fail(MMF_ERR_NUMERIC, "index search: query %zu has a non-finite value", i / d);
    }
    size_t kk = (size_t)k;
    uint32_t *slots = malloc(nq * kk * sizeof *slots);
    float *dists = malloc(nq * kk * sizeof *dists);
    int *found = malloc(nq * sizeof *found);
    mmf_status s = MMF_OK;
    if (!slots || !dists || !found) { s = mmf_fail(MMF_ERR_NOMEM, "index search: out of memory"); goto done; }
    if (sp->exact || ix->kind == MMF_INDEX_FLAT) {
        s = mmf_flat_search(ix, nq, Q, k, nt, slots, dists);
        if (s) goto done;
        for (size_t i = 0; i < nq; i++) {
            int f = 0;
            while (f < k && slots[i * kk + (size_t)f] != MMF_HNSW_NONE) f++;
            found[i] = f;
        }
    } else {
        int ef = sp->ef > 0 ? sp->ef : ix->ef_search;
        if (ef < k) ef = k;
        int failed = 0;
#pragma omp parallel num_threads(nt) if (nt > 1 && nq > 1)
        {
            mmf_visited *vis = mmf_visited_get(ix);
            mmf_hnsw_scratch *scratch = mmf_hnsw_scratch_new(ix, ef);
            if (!vis || !scratch) {
#pragma omp atomic write
                failed = 1;
            } else {
#pragma omp for schedule(dynamic, 16)
                for (size_t i = 0; i < nq; i++)
                    found[i] = mmf_hnsw_search_one(ix, vis, Q + i * d, k, ef, slots + i * kk, dists + i * kk, scratch);
            }
            mmf_hnsw_scratch_free(scratch);
            mmf_visited_put(ix, vis);
        }
        if (failed) { s = mmf_fail(MMF_ERR_NOMEM, "index search: out of memory for search buffers"); goto done; }
    }
    for (size_t i = 0; i < nq; i++)
        for (size_t j = 0; j < kk; j++) {
            size_t o = i * kk + j;
            if ((int)j < found[i]) {
                ids[o] = ix->ids[slots[o]];
                if (scores) scores[o] = dist_to_score(ix, dists[o]);
            } else {
                ids[o] = -1;
                if (scores) scores[o] = NAN;
            }
        }
done:
    free(qn); free(slots); free(dists); free(found);
    return s;
}

void mmf_index_get_info(const mmf_index *ix, mmf_index_info *o) {
    memset(o, 0, sizeof *o);
    if (!ix) return;
    o->dim = ix->dim; o->kind = ix->kind; o->metric = ix->metric; o->quant = ix->quant;
    o->M = ix->M; o->ef_construction = ix->ef_construction; o->ef_search = ix->ef_search;
    o->count = ix->n - ix->n_deleted; o->deleted = ix->n_deleted; o->max_level = ix->max_level;
    if (ix->mapped) { o->bytes = ix->map_len; return; }
    size_t d = (size_t)ix->dim, c = ix->cap, b = c * (d * 4 + 4 + 8 + 1);
    if (ix->quant == MMF_QUANT_INT8) b += c * (d + 4);
    if (ix->kind == MMF_INDEX_HNSW) {
        b += c * (1 + links0_width(ix) * 4 + sizeof(void *));
        for (size_t i = 0; i < ix->n; i++) b += (size_t)ix->levels[i] * ((size_t)ix->M + 1) * 4;
    }
    b += ix->idmap.cap * (8 + 4 + 1);
    o->bytes = b;
}

void mmf_index_set_ef(mmf_index *ix, int ef_search) {
    if (ix && ef_search >= 1) ix->ef_search = ef_search;
}

void mmf_index_set_threads(mmf_index *ix, int n_threads) {
    if (ix) ix->n_threads = n_threads < 1 ? 1 : n_threads;
}

void mmf_index_free(mmf_index *ix) {
    if (!ix) return;
    if (ix->mapped) {
        munmap(ix->map, ix->map_len);
        free(ix->up);
    } else {
        if (ix->up) for (size_t i = 0; i < ix->n; i++) free(ix->up[i]);
        free(ix->vecs); free(ix->norms); free(ix->ids); free(ix->deleted); free(ix->qvecs);
        free(ix->qscale); free(ix->levels); free(ix->links0); free(ix->up);
    }
    mmf_idmap_free(&ix->idmap);
    mmf_index_strings_free(ix);
    for (size_t i = 0; i < ix->pool_n; i++) { free(ix->pool[i]->tags); free(ix->pool[i]); }
    free(ix->pool);
    omp_destroy_lock(&ix->pool_lock);
    free(ix);
}
