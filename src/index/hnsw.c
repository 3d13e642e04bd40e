/* HNSW (Malkov & Yashunin 2018): a layered proximity graph. Level 0 holds
 * every slot with up to M0 = 2M links; level l holds a geometric sample.
 * Insertion greedily descends to the node's level, then on each level runs a
 * beam search of width ef_construction, keeps M neighbours by the diversity
 * heuristic, and links both ways (pruning the neighbour's list with the same
 * heuristic when full). Parallel inserts lock one node's link list at a time,
 * as hnswlib does; the graph is read lock-free once built.
 * With INT8 codes the query walk uses int8 distances and re-ranks the ef
 * results with float vectors; the build always uses float distances. */
#include "index/index_internal.h"
#include "index/distance.h"
#include "index/heap.h"
#include "core/error.h"
#include "train/rng.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct mmf_hnsw_scratch {
    mmf_cand *cand; size_t cand_cap;
    mmf_cand *res; size_t res_cap;
    uint32_t *nb;      /* a copy of one link list (M0+1) */
    uint32_t *fresh;   /* unvisited neighbours of the node being expanded */
    mmf_cand *sel;     /* heuristic workspace (M0+1) */
    int8_t *qq;        /* the query's int8 code */
};

mmf_hnsw_scratch *mmf_hnsw_scratch_new(const mmf_index *ix, int ef) {
    mmf_hnsw_scratch *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    size_t w = (size_t)ix->M0 + 2;
    s->cand_cap = 4 * (size_t)ef + 256;
    s->res_cap = (size_t)ef + 2;
    s->cand = malloc(s->cand_cap * sizeof *s->cand);
    s->res = malloc(s->res_cap * sizeof *s->res);
    s->nb = malloc(w * sizeof *s->nb);
    s->fresh = malloc(w * sizeof *s->fresh);
    s->sel = malloc(w * sizeof *s->sel);
    s->qq = malloc((size_t)ix->dim);
    if (!s->cand || !s->res || !s->nb || !s->fresh || !s->sel || !s->qq) { mmf_hnsw_scratch_free(s); return NULL; }
    return s;
}

void mmf_hnsw_scratch_free(mmf_hnsw_scratch *s) {
    if (!s) return;
    free(s->cand); free(s->res); free(s->nb); free(s->fresh); free(s->sel); free(s->qq);
    free(s);
}

/* The level of a slot depends only on (seed, slot): builds are reproducible
 * in their level structure whatever the thread count. */
int mmf_hnsw_level_for(uint64_t seed, size_t slot, int M) {
    double u = (double)(mmf_splitmix64(seed * 0x2545F4914F6CDD1DULL + slot) >> 11) * 0x1.0p-53;
    double l = -log(1.0 - u) / log((double)M);
    int lv = (int)l;
    return lv > MMF_HNSW_MAX_LEVEL ? MMF_HNSW_MAX_LEVEL : lv;
}

static inline uint32_t *links_at(const mmf_index *ix, uint32_t i, int level) {
    if (level == 0) return ix->links0 + (size_t)i * ((size_t)ix->M0 + 1);
    return ix->up[i] + (size_t)(level - 1) * ((size_t)ix->M + 1);
}

/* what the walk compares against */
typedef struct qctx {
    const mmf_index *ix;
    const float *q;
    const int8_t *qq;
    float qs, qnorm;
    int q8;
} qctx;

static inline float dist_q(const qctx *c, uint32_t i) {
    const mmf_index *ix = c->ix;
    size_t d = (size_t)ix->dim;
    if (c->q8) {
        float dot = (float)mmf_dot_i8(ix->qvecs + i * d, c->qq, (int)d) * ix->qscale[i] * c->qs;
        return ix->metric == MMF_METRIC_L2 ? ix->norms[i] + c->qnorm - 2.0f * dot : -dot;
    }
    if (ix->metric == MMF_METRIC_L2) return mmf_l2sq_f32(ix->vecs + i * d, c->q, (int)d);
    return -mmf_dot_f32(ix->vecs + i * d, c->q, (int)d);
}

static inline float dist_nodes(const mmf_index *ix, uint32_t a, uint32_t b) {
    size_t d = (size_t)ix->dim;
    if (ix->metric == MMF_METRIC_L2) return mmf_l2sq_f32(ix->vecs + a * d, ix->vecs + b * d, (int)d);
    return -mmf_dot_f32(ix->vecs + a * d, ix->vecs + b * d, (int)d);
}

static inline void prefetch_node(const qctx *c, uint32_t i) {
    const mmf_index *ix = c->ix;
    size_t d = (size_t)ix->dim;
    const char *p = c->q8 ? (const char *)(ix->qvecs + i * d) : (const char *)(ix->vecs + i * d);
    __builtin_prefetch(p);
    __builtin_prefetch(p + 64);
    __builtin_prefetch(p + 128);
    __builtin_prefetch(p + 192);
}

/* Copy node i's list at `level` into buf (under its lock while building). */
static inline uint32_t read_links(const mmf_index *ix, uint32_t i, int level, uint32_t *buf, omp_lock_t *locks) {
    if (locks) omp_set_lock(&locks[i]);
    const uint32_t *l = links_at(ix, i, level);
    uint32_t n = l[0];
    memcpy(buf, l + 1, n * sizeof *buf);
    if (locks) omp_unset_lock(&locks[i]);
    return n;
}

static int cand_push(mmf_hnsw_scratch *s, size_t *n, mmf_cand c) {
    if (*n == s->cand_cap) {
        size_t nc = s->cand_cap * 2;
        mmf_cand *p = realloc(s->cand, nc * sizeof *p);
        if (!p) return 0;
        s->cand = p; s->cand_cap = nc;
    }
    mmf_minheap_push(s->cand, n, c);
    return 1;
}

/* Greedy descent with beam 1 from `ep` down to level `stop` + 1. */
static uint32_t descend(const qctx *c, uint32_t ep, int top, int stop, mmf_hnsw_scratch *s, omp_lock_t *locks) {
    float dcur = dist_q(c, ep);
    for (int l = top; l > stop; l--) {
        int changed = 1;
        while (changed) {
            changed = 0;
            uint32_t n = read_links(c->ix, ep, l, s->nb, locks);
            for (uint32_t j = 0; j < n; j++) {
                float dd = dist_q(c, s->nb[j]);
                if (dd < dcur) { dcur = dd; ep = s->nb[j]; changed = 1; }
            }
        }
    }
    return ep;
}

/* Beam search of width ef on one level from ep; results in s->res as a
 * max-heap, count returned. `skip_deleted` keeps tombstones out of the
 * results (they still route). */
static size_t search_layer(const qctx *c, uint32_t ep, int ef, int level, mmf_visited *vis,
                           mmf_hnsw_scratch *s, omp_lock_t *locks, int skip_deleted) {
    const mmf_index *ix = c->ix;
    mmf_visited_next(vis);
    uint16_t tag = vis->tag;
    uint16_t *tags = vis->tags;
    size_t nc = 0, nr = 0, ef_ = (size_t)ef;
    float d0 = dist_q(c, ep);
    tags[ep] = tag;
    cand_push(s, &nc, (mmf_cand){d0, ep});
    if (!skip_deleted || !ix->deleted[ep]) mmf_maxheap_push(s->res, &nr, (mmf_cand){d0, ep});
    while (nc) {
        mmf_cand cur = s->cand[0];
        if (nr && cur.d > s->res[0].d && (nr >= ef_ || !skip_deleted)) break;
        mmf_minheap_pop(s->cand, &nc);
        uint32_t n = read_links(ix, cur.id, level, s->nb, locks);
        uint32_t m = 0;
        for (uint32_t j = 0; j < n; j++) {
            uint32_t v = s->nb[j];
            if (tags[v] == tag) continue;
            tags[v] = tag;
            s->fresh[m++] = v;
            prefetch_node(c, v);
        }
        for (uint32_t j = 0; j < m; j++) {
            uint32_t v = s->fresh[j];
            float dd = dist_q(c, v);
            if (nr < ef_ || dd < s->res[0].d) {
                cand_push(s, &nc, (mmf_cand){dd, v});
                if (!skip_deleted || !ix->deleted[v]) {
                    mmf_maxheap_push(s->res, &nr, (mmf_cand){dd, v});
                    if (nr > ef_) mmf_maxheap_pop(s->res, &nr);
                }
            }
        }
    }
    return nr;
}

/* The diversity heuristic: walk candidates nearest first and keep one only if
 * it is nearer to the base than to every neighbour kept so far. cands sorted
 * ascending; writes up to M slots to out. */
static size_t select_neighbors(const mmf_index *ix, const mmf_cand *cands, size_t nc, int M, mmf_cand *out) {
    size_t k = 0;
    for (size_t i = 0; i < nc && k < (size_t)M; i++) {
        int good = 1;
        for (size_t j = 0; j < k; j++)
            if (dist_nodes(ix, cands[i].id, out[j].id) < cands[i].d) { good = 0; break; }
        if (good) out[k++] = cands[i];
    }
    return k;
}

/* Add `cur` to the list of `nb` on `level`, pruning when full. Caller holds no lock. */
static void link_back(mmf_index *ix, uint32_t nb, uint32_t cur, float dcur, int level,
                      omp_lock_t *locks, mmf_hnsw_scratch *s) {
    int mmax = level == 0 ? ix->M0 : ix->M;
    omp_set_lock(&locks[nb]);
    uint32_t *l = links_at(ix, nb, level);
    uint32_t n = l[0];
    for (uint32_t j = 0; j < n; j++) if (l[j + 1] == cur) { omp_unset_lock(&locks[nb]); return; }
    if ((int)n < mmax) {
        l[n + 1] = cur;
        l[0] = n + 1;
    } else {
        mmf_cand *cs = malloc(((size_t)n + 1) * sizeof *cs);
        if (cs) {
            for (uint32_t j = 0; j < n; j++) cs[j] = (mmf_cand){dist_nodes(ix, nb, l[j + 1]), l[j + 1]};
            cs[n] = (mmf_cand){dcur, cur};
            qsort(cs, (size_t)n + 1, sizeof *cs, mmf_cand_cmp);
            size_t k = select_neighbors(ix, cs, (size_t)n + 1, mmax, s->sel);
            for (size_t j = 0; j < k; j++) l[j + 1] = s->sel[j].id;
            l[0] = (uint32_t)k;
            free(cs);
        }
    }
    omp_unset_lock(&locks[nb]);
}

static void insert_one(mmf_index *ix, uint32_t cur, mmf_visited *vis, mmf_hnsw_scratch *s,
                       omp_lock_t *locks, omp_lock_t *global) {
    int level = ix->levels[cur];
    omp_set_lock(global);
    uint32_t ep = ix->entry;
    int maxl = ix->max_level;
    if (ep == MMF_HNSW_NONE) {
        ix->entry = cur;
        ix->max_level = level;
        omp_unset_lock(global);
        return;
    }
    int hold = level > maxl;   /* a new top node: keep others out until it is linked */
    if (!hold) omp_unset_lock(global);

    qctx c = {ix, ix->vecs + (size_t)cur * (size_t)ix->dim, NULL, 0.0f, 0.0f, 0};
    if (maxl > level) ep = descend(&c, ep, maxl, level, s, locks);
    for (int l = level < maxl ? level : maxl; l >= 0; l--) {
        size_t nr = search_layer(&c, ep, ix->ef_construction, l, vis, s, locks, 0);
        qsort(s->res, nr, sizeof *s->res, mmf_cand_cmp);
        /* the node itself can be found when re-linking; never link to self */
        size_t w = 0;
        for (size_t j = 0; j < nr; j++) if (s->res[j].id != cur) s->res[w++] = s->res[j];
        nr = w;
        size_t k = select_neighbors(ix, s->res, nr, ix->M, s->sel);
        omp_set_lock(&locks[cur]);
        uint32_t *own = links_at(ix, cur, l);
        for (size_t j = 0; j < k; j++) own[j + 1] = s->sel[j].id;
        own[0] = (uint32_t)k;
        omp_unset_lock(&locks[cur]);
        /* s->sel is reused by link_back: keep a copy of the chosen list */
        mmf_cand chosen[257];   /* M <= 256 */
        size_t kc = k < sizeof chosen / sizeof *chosen ? k : sizeof chosen / sizeof *chosen;
        memcpy(chosen, s->sel, kc * sizeof *chosen);
        for (size_t j = 0; j < kc; j++) link_back(ix, chosen[j].id, cur, chosen[j].d, l, locks, s);
        if (nr) ep = s->res[0].id;
    }
    if (hold) {
        ix->entry = cur;
        ix->max_level = level;
        omp_unset_lock(global);
    }
}

mmf_status mmf_hnsw_insert_range(mmf_index *ix, size_t from, size_t to, int nt) {
    if (to <= from) return MMF_OK;
    size_t upw = (size_t)ix->M + 1;
    for (size_t i = from; i < to; i++) {
        ix->links0[i * ((size_t)ix->M0 + 1)] = 0;
        ix->up[i] = NULL;
        if (ix->levels[i]) {
            ix->up[i] = calloc((size_t)ix->levels[i] * upw, sizeof(uint32_t));
            if (!ix->up[i]) {
                for (size_t j = from; j <= i; j++) ix->levels[j] = 0;
                return mmf_fail(MMF_ERR_NOMEM, "index add: out of memory for upper-level links");
            }
        }
    }
    omp_lock_t *locks = malloc(to * sizeof *locks);
    if (!locks) return mmf_fail(MMF_ERR_NOMEM, "index add: out of memory for %zu locks", to);
    for (size_t i = 0; i < to; i++) omp_init_lock(&locks[i]);
    omp_lock_t global;
    omp_init_lock(&global);
    int failed = 0;
    /* with one thread or a tiny batch, run serially (no lock traffic) */
    if (nt < 1) nt = 1;
    if (to - from < 2 * (size_t)nt) nt = 1;
#pragma omp parallel num_threads(nt)
    {
        mmf_visited *vis = mmf_visited_get(ix);
        mmf_hnsw_scratch *s = mmf_hnsw_scratch_new(ix, ix->ef_construction);
        if (!vis || !s) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 32)
        for (size_t i = from; i < to; i++)
            if (vis && s) insert_one(ix, (uint32_t)i, vis, s, locks, &global);
        mmf_hnsw_scratch_free(s);
        mmf_visited_put(ix, vis);
    }
    for (size_t i = 0; i < to; i++) omp_destroy_lock(&locks[i]);
    omp_destroy_lock(&global);
    free(locks);
    if (failed) return mmf_fail(MMF_ERR_NOMEM, "index add: out of memory for build buffers");
    return MMF_OK;
}

int mmf_hnsw_search_one(const mmf_index *ix, mmf_visited *vis, const float *q, int k, int ef,
                        uint32_t *slots, float *dists, mmf_hnsw_scratch *s) {
    if (ix->entry == MMF_HNSW_NONE) return 0;
    qctx c = {ix, q, NULL, 0.0f, 0.0f, 0};
    if (ix->quant == MMF_QUANT_INT8 && ix->qvecs) {
        c.qs = mmf_quantize_i8(q, s->qq, ix->dim);
        c.qq = s->qq;
        c.qnorm = mmf_dot_f32(q, q, ix->dim);
        c.q8 = 1;
    }
    if ((size_t)ef + 2 > s->res_cap) return 0;
    uint32_t ep = descend(&c, ix->entry, ix->max_level, 0, s, NULL);
    size_t nr = search_layer(&c, ep, ef, 0, vis, s, NULL, ix->n_deleted > 0);
    if (c.q8) {   /* exact re-rank of the whole beam */
        c.q8 = 0;
        for (size_t j = 0; j < nr; j++) s->res[j].d = dist_q(&c, s->res[j].id);
    }
    qsort(s->res, nr, sizeof *s->res, mmf_cand_cmp);
    int f = nr < (size_t)k ? (int)nr : k;
    for (int j = 0; j < f; j++) { slots[j] = s->res[j].id; dists[j] = s->res[j].d; }
    return f;
}
