/* k-means (squared Euclidean). Distances to all centroids come from one SGEMM
 * per block of points: |x - c|^2 = |x|^2 + |c|^2 - 2 x.c. Lloyd iterations by
 * default; mini-batch mode (Sculley 2010) updates centroids from random batches
 * with per-centroid learning rates 1/count and finishes with one full
 * assignment. Empty clusters are re-seeded with the points farthest from their
 * centroids.
 * Sharded (mmf_kmeans_sharded, `mpirun mmfuse cluster`): each rank holds a
 * contiguous block of the rows. Every random draw is over the global row
 * numbers with the same generator on every rank; the rows a step needs from
 * everywhere (the seeding sample, a mini-batch, a re-seed point) are gathered
 * by an all-reduced sum of buffers that only their owner fills; Lloyd's
 * centroid sums and counts and the inertia are all-reduced. So every rank holds
 * the same centroids, and the result is one process's up to the order of the
 * sums (the centroids' last bits, the inertia's). */
#include "core/error.h"
#include "core/ops.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define KM_BLOCK 2048

mmf_kmeans_params mmf_kmeans_params_default(void) {
    mmf_kmeans_params p;
    p.k = 0;
    p.max_iter = 0;
    p.tol = 1e-4;
    p.mini_batch = 0;
    p.init_plus_plus = 1;
    p.seed = 42;
    p.n_threads = 1;
    return p;
}

typedef struct rng { uint64_t s; } rng;
static uint64_t rng_next(rng *r) {
    uint64_t x = (r->s += 0x9e3779b97f4a7c15ULL);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}
static double rng_unif(rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }
static size_t rng_below(rng *r, size_t n) { return (size_t)(rng_unif(r) * (double)n) % n; }

/* The job: comm NULL = one process holding all rows. */
typedef struct shard {
    const mmf_comm *comm;
    size_t row0, n_local, n;   /* this rank's rows [row0, row0 + n_local) of n */
} shard;

static int reduce(const shard *sh, void *buf, size_t count, mmf_dtype dt, mmf_comm_op op) {
    if (!sh->comm || sh->comm->size <= 1 || count == 0) return 0;
    return sh->comm->allreduce(buf, count, dt, op, sh->comm->user);
}

/* Rows `rows[0..m)` (global numbers) of the sharded x into out (m, d), on every rank. */
static int gather_rows(const shard *sh, const float *x, int d, const size_t *rows, size_t m, float *out) {
    for (size_t i = 0; i < m; i++) {
        float *o = out + i * (size_t)d;
        if (rows[i] >= sh->row0 && rows[i] < sh->row0 + sh->n_local) memcpy(o, x + (rows[i] - sh->row0) * (size_t)d, (size_t)d * sizeof(float));
        else memset(o, 0, (size_t)d * sizeof(float));
    }
    return reduce(sh, out, m * (size_t)d, MMF_DT_F32, MMF_COMM_SUM);   /* x + 0 = x: exact */
}

/* The first m entries of a Fisher-Yates shuffle of 0..n-1, in O(m) memory: the
 * positions a partial shuffle touches are kept in a small hash map, so the draws
 * (and the result) are those of the shuffle over a full array. */
static mmf_status partial_shuffle(size_t n, size_t m, rng *r, size_t *out) {
    size_t cap = 16;
    while (cap < 4 * m) cap *= 2;
    size_t *key = malloc(cap * sizeof *key), *val = malloc(cap * sizeof *val);
    if (!key || !val) { free(key); free(val); return mmf_fail(MMF_ERR_NOMEM, "k-means: out of memory"); }
    for (size_t i = 0; i < cap; i++) key[i] = SIZE_MAX;
#define SLOT(p) ({ size_t h_ = ((p) * 0x9e3779b97f4a7c15ULL) & (cap - 1); while (key[h_] != SIZE_MAX && key[h_] != (p)) h_ = (h_ + 1) & (cap - 1); h_; })
    for (size_t i = 0; i < m; i++) {
        size_t j = i + rng_below(r, n - i);
        size_t si = SLOT(i);
        size_t vi = key[si] == i ? val[si] : i;
        size_t sj = SLOT(j);
        size_t vj = key[sj] == j ? val[sj] : j;
        key[sj] = j; val[sj] = vi;   /* a[j] = a[i] */
        si = SLOT(i);
        key[si] = i; val[si] = vj;   /* a[i] = a[j] */
        out[i] = vj;
    }
#undef SLOT
    free(key);
    free(val);
    return MMF_OK;
}

static void sq_norms(const float *x, size_t n, int d, float *out, int nt) {
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && n > 4096)
    for (size_t i = 0; i < n; i++) {
        const float *v = x + i * (size_t)d;
        float s = 0.0f;
        for (int j = 0; j < d; j++) s += v[j] * v[j];
        out[i] = s;
    }
}

/* Nearest centroid of each row of x (rows idx[0..m) or 0..m when idx NULL).
 * S is KM_BLOCK*k scratch; xb KM_BLOCK*d scratch for gathered rows. */
static double assign_rows(const float *x, const float *xn, const size_t *idx, size_t m, int d,
                          const float *C, const float *cn, int k, int32_t *assign, float *dist,
                          float *S, float *xb, int nt) {
    double inertia = 0.0;
    for (size_t b0 = 0; b0 < m; b0 += KM_BLOCK) {
        size_t bs = m - b0 < KM_BLOCK ? m - b0 : KM_BLOCK;
        const float *X = x + b0 * (size_t)d;
        if (idx) {
            for (size_t i = 0; i < bs; i++) memcpy(xb + i * (size_t)d, x + idx[b0 + i] * (size_t)d, (size_t)d * sizeof(float));
            X = xb;
        }
        mmf_gemm(0, 1, (int)bs, k, d, 1.0f, X, d, C, d, 0.0f, S, k, nt);
        double part = 0.0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(+ : part) if (nt > 1 && bs > 256)
        for (size_t i = 0; i < bs; i++) {
            const float *row = S + i * (size_t)k;
            int best = 0;
            float bd = cn[0] - 2.0f * row[0];
            for (int j = 1; j < k; j++) {
                float dd = cn[j] - 2.0f * row[j];
                if (dd < bd) { bd = dd; best = j; }
            }
            float xx = xn[idx ? idx[b0 + i] : b0 + i];
            float dv = xx + bd;
            if (dv < 0.0f) dv = 0.0f;
            assign[b0 + i] = best;
            if (dist) dist[b0 + i] = dv;
            part += dv;
        }
        inertia += part;
    }
    return inertia;
}

/* Greedy k-means++ over a sample (as scikit-learn): each step draws
 * L = 2 + ln k candidates with probability proportional to the squared
 * distance to the nearest seed so far and keeps the one that lowers the total
 * the most. Plain k-means++ (L = 1) often puts two seeds in one blob. The
 * sample is gathered to every rank, which then all run the same steps. */
static mmf_status seed_plus_plus(const shard *sh, const float *x, int d, int k, rng *r, float *C, int nt) {
    const size_t n = sh->n;
    size_t m = n;
    /* 40 points per centroid are plenty to place seeds, and the sample
     * (40*k*d floats) stays cache-sized: each seed step re-reads all of it */
    size_t cap = (size_t)k * 40;
    int L = 2 + (int)log((double)k);
    if (n > cap) m = cap;
    size_t *sample = malloc(m * sizeof *sample);
    float *xs = malloc(m * (size_t)d * sizeof(float)), *xsn = malloc(m * sizeof(float));
    float *D = malloc(m * sizeof(float)), *dot = malloc(m * (size_t)L * sizeof(float));
    float *cand = malloc((size_t)L * (size_t)d * sizeof(float));
    size_t *ci = malloc((size_t)L * sizeof *ci);
    mmf_status s = MMF_OK;
    if (!sample || !xs || !xsn || !D || !dot || !cand || !ci) s = mmf_fail(MMF_ERR_NOMEM, "k-means: out of memory");
    if (!s) {
        if (n > cap) s = partial_shuffle(n, m, r, sample);
        else for (size_t i = 0; i < m; i++) sample[i] = i;
    }
    if (!s && gather_rows(sh, x, d, sample, m, xs)) s = mmf_fail(MMF_ERR_IO, "k-means: the all-reduce of the seeding sample failed");
    if (s) {
        free(sample); free(xs); free(xsn); free(D); free(dot); free(cand); free(ci);
        return s;
    }
    sq_norms(xs, m, d, xsn, nt);   /* the same function on the same rows: the norms of the full set */
    for (size_t i = 0; i < m; i++) D[i] = INFINITY;
    for (int c = 0; c < k; c++) {
        /* candidates: one uniform draw for the first seed, else L D^2 draws */
        int nc = c == 0 ? 1 : L;
        double total = 0.0;
        for (size_t i = 0; i < m; i++) total += D[i];
        for (int l = 0; l < nc; l++) {
            size_t pick = rng_below(r, m);
            if (c > 0 && total > 0.0) {
                double t = rng_unif(r) * total, acc = 0.0;
                pick = m - 1;
                for (size_t i = 0; i < m; i++) { acc += D[i]; if (acc > t && D[i] > 0.0f) { pick = i; break; } }
            }
            ci[l] = pick;
            memcpy(cand + (size_t)l * (size_t)d, xs + pick * (size_t)d, (size_t)d * sizeof(float));
        }
        /* dot (m, nc) = xs (m, d) @ cand (nc, d)^T */
        mmf_gemm(0, 1, (int)m, nc, d, 1.0f, xs, d, cand, d, 0.0f, dot, nc, nt);
        int best = 0;
        double best_pot = INFINITY;
        for (int l = 0; l < nc; l++) {
            double pot = 0.0;
            float cn = xsn[ci[l]];
            for (size_t i = 0; i < m; i++) {
                float dd = xsn[i] + cn - 2.0f * dot[i * (size_t)nc + (size_t)l];
                if (dd < 0.0f) dd = 0.0f;
                pot += dd < D[i] ? dd : D[i];
            }
            if (pot < best_pot) { best_pot = pot; best = l; }
        }
        memcpy(C + (size_t)c * (size_t)d, cand + (size_t)best * (size_t)d, (size_t)d * sizeof(float));
        float cn = xsn[ci[best]];
        for (size_t i = 0; i < m; i++) {
            float dd = xsn[i] + cn - 2.0f * dot[i * (size_t)nc + (size_t)best];
            if (dd < 0.0f) dd = 0.0f;
            if (dd < D[i]) D[i] = dd;
        }
    }
    free(sample); free(xs); free(xsn); free(D); free(dot); free(cand); free(ci);
    return MMF_OK;
}

/* k distinct rows, drawn as a partial shuffle of the row numbers */
static mmf_status seed_random(const shard *sh, const float *x, int d, int k, rng *r, float *C) {
    size_t *pick = malloc((size_t)k * sizeof *pick);
    if (!pick) return mmf_fail(MMF_ERR_NOMEM, "k-means: out of memory");
    mmf_status s = partial_shuffle(sh->n, (size_t)k, r, pick);
    if (!s && gather_rows(sh, x, d, pick, (size_t)k, C)) s = mmf_fail(MMF_ERR_IO, "k-means: the all-reduce of the seeds failed");
    free(pick);
    return s;
}

/* This rank's centroid sums (acc, k x d) and counts (cnt, k; as doubles, exact
 * below 2^53, so that one all-reduce carries both). */
static void accumulate(const shard *sh, const float *x, int d, int k, const int32_t *assign, double *acc, double *cnt, int nt) {
    const size_t n = sh->n_local;
    memset(acc, 0, (size_t)k * (size_t)d * sizeof *acc);
    memset(cnt, 0, (size_t)k * sizeof *cnt);
    /* centroid-parallel: each thread owns a range of centroids, scans all points */
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        int lo = (int)((long)k * t / T), hi = (int)((long)k * (t + 1) / T);
        for (size_t i = 0; i < n; i++) {
            int c = assign[i];
            if (c < lo || c >= hi) continue;
            double *a = acc + (size_t)c * (size_t)d;
            const float *v = x + i * (size_t)d;
            for (int j = 0; j < d; j++) a[j] += v[j];
            cnt[c] += 1.0;
        }
    }
}

/* Centroids = means of their points (sums and counts over all ranks); an empty
 * cluster takes the point farthest from its current centroid (each such point
 * used once; over all ranks: the largest distance, the lowest row number
 * among equals). */
static mmf_status finish_centroids(const shard *sh, const float *x, int d, int k, float *dist, float *C,
                                   const double *acc, const double *cnt) {
    const size_t n = sh->n_local;
    for (int c = 0; c < k; c++) {
        float *cc = C + (size_t)c * (size_t)d;
        if (cnt[c] > 0) {
            double inv = 1.0 / cnt[c];
            for (int j = 0; j < d; j++) cc[j] = (float)(acc[(size_t)c * (size_t)d + (size_t)j] * inv);
            continue;
        }
        size_t far = 0;
        float fd = -1.0f;
        for (size_t i = 0; i < n; i++) if (dist[i] > fd) { fd = dist[i]; far = i; }
        double best[1] = {n ? fd : -2.0};
        if (reduce(sh, best, 1, MMF_DT_F64, MMF_COMM_MAX)) return mmf_fail(MMF_ERR_IO, "k-means: all-reduce failed");
        /* the lowest global row number among the ranks holding that distance */
        int64_t row[1] = {n && (double)fd == best[0] ? (int64_t)(sh->row0 + far) : INT64_MAX};
        if (reduce(sh, row, 1, MMF_DT_I64, MMF_COMM_MIN)) return mmf_fail(MMF_ERR_IO, "k-means: all-reduce failed");
        size_t g = (size_t)row[0];
        if (gather_rows(sh, x, d, &g, 1, cc)) return mmf_fail(MMF_ERR_IO, "k-means: all-reduce failed");
        if (g >= sh->row0 && g < sh->row0 + n) dist[g - sh->row0] = -1.0f;
    }
    return MMF_OK;
}

mmf_status mmf_kmeans(const float *x, size_t n, int d, const mmf_kmeans_params *p, mmf_kmeans_result *out) {
    return mmf_kmeans_sharded(x, n, 0, n, d, p, NULL, out);
}

mmf_status mmf_kmeans_sharded(const float *x, size_t n_local, size_t row0, size_t n, int d, const mmf_kmeans_params *p,
                              const mmf_comm *comm, mmf_kmeans_result *out) {
    memset(out, 0, sizeof *out);
    if ((!x && n_local) || !p) return mmf_fail(MMF_ERR_ARG, "k-means: NULL input");
    if (d < 1) return mmf_fail(MMF_ERR_ARG, "k-means: dimension %d, expected >= 1", d);
    if (n == 0) return mmf_fail(MMF_ERR_ARG, "k-means: no points");
    if (row0 > n || n_local > n - row0) return mmf_fail(MMF_ERR_ARG, "k-means: rows %zu..%zu outside the %zu points", row0, row0 + n_local, n);
    if (p->k < 1) return mmf_fail(MMF_ERR_ARG, "k-means: k = %d, expected >= 1", p->k);
    if ((size_t)p->k > n) return mmf_fail(MMF_ERR_ARG, "k-means: k = %d is larger than the number of points (%zu)", p->k, n);
    if (p->mini_batch < 0) return mmf_fail(MMF_ERR_ARG, "k-means: mini_batch = %d, expected >= 0", p->mini_batch);
    shard sh = {comm && comm->size > 1 ? comm : NULL, row0, n_local, n};
    /* a bad row on one rank fails every rank */
    int64_t bad[1] = {INT64_MAX};
    for (size_t i = 0; i < n_local * (size_t)d; i++)
        if (!isfinite(x[i])) { bad[0] = (int64_t)(row0 + i / (size_t)d); break; }
    if (reduce(&sh, bad, 1, MMF_DT_I64, MMF_COMM_MIN)) return mmf_fail(MMF_ERR_IO, "k-means: all-reduce failed");
    if (bad[0] != INT64_MAX) return mmf_fail(MMF_ERR_NUMERIC, "k-means: point %lld has a non-finite value", (long long)bad[0]);
    int k = p->k, nt = p->n_threads < 1 ? 1 : p->n_threads;
    int iters = p->max_iter > 0 ? p->max_iter : p->mini_batch ? 100 : 50;
    size_t nl = n_local ? n_local : 1;
    size_t b = p->mini_batch ? ((size_t)p->mini_batch < n ? (size_t)p->mini_batch : n) : 0;
    rng r = {p->seed};
    float *C = malloc((size_t)k * (size_t)d * sizeof *C), *cn = malloc((size_t)k * sizeof *cn);
    float *xn = malloc(nl * sizeof *xn), *dist = malloc(nl * sizeof *dist);
    float *S = malloc((size_t)KM_BLOCK * (size_t)k * sizeof *S), *xb = malloc((size_t)KM_BLOCK * (size_t)d * sizeof *xb);
    int32_t *assign = malloc(nl * sizeof *assign), *prev = malloc((nl > b ? nl : b) * sizeof *prev);
    /* one all-reduce per Lloyd iteration: sums (k x d), counts (k), inertia, changed */
    double *acc = malloc(((size_t)k * (size_t)d + (size_t)k + 2) * sizeof *acc);
    double *cnt = acc ? acc + (size_t)k * (size_t)d : NULL;
    mmf_status s = MMF_OK;
    if (!C || !cn || !xn || !dist || !S || !xb || !assign || !prev || !acc) {
        s = mmf_fail(MMF_ERR_NOMEM, "k-means: out of memory for n = %zu, k = %d, d = %d", n_local, k, d);
        goto fail;
    }
    sq_norms(x, n_local, d, xn, nt);
    s = p->init_plus_plus ? seed_plus_plus(&sh, x, d, k, &r, C, nt) : seed_random(&sh, x, d, k, &r, C);
    if (s) goto fail;

    double inertia = INFINITY;
    int it = 0;
    if (!p->mini_batch) {
        for (it = 0; it < iters; it++) {
            sq_norms(C, (size_t)k, d, cn, 1);
            double *tail = cnt + k;   /* [inertia, changed] */
            tail[0] = assign_rows(x, xn, NULL, n_local, d, C, cn, k, assign, dist, S, xb, nt);
            tail[1] = it == 0 || memcmp(assign, prev, n_local * sizeof *assign) != 0;
            accumulate(&sh, x, d, k, assign, acc, cnt, nt);   /* needed unless converged: summed in the same all-reduce */
            if (reduce(&sh, acc, (size_t)k * (size_t)d + (size_t)k + 2, MMF_DT_F64, MMF_COMM_SUM)) {
                s = mmf_fail(MMF_ERR_IO, "k-means: all-reduce failed");
                goto fail;
            }
            double in = tail[0];
            int converged = p->tol >= 0.0 && (tail[1] == 0 || (isfinite(inertia) && inertia - in <= p->tol * inertia));
            inertia = in;
            if (converged) break;
            memcpy(prev, assign, n_local * sizeof *assign);
            if ((s = finish_centroids(&sh, x, d, k, dist, C, acc, cnt))) goto fail;
        }
        if (it == iters) {   /* the last update moved the centroids: re-assign */
            sq_norms(C, (size_t)k, d, cn, 1);
            double in[1] = {assign_rows(x, xn, NULL, n_local, d, C, cn, k, assign, dist, S, xb, nt)};
            if (reduce(&sh, in, 1, MMF_DT_F64, MMF_COMM_SUM)) { s = mmf_fail(MMF_ERR_IO, "k-means: all-reduce failed"); goto fail; }
            inertia = in[0];
        } else {
            it++;
        }
    } else {
        /* the batch's rows are gathered to every rank, which all apply the same updates */
        size_t *idx = malloc(b * sizeof *idx), *seq = malloc(b * sizeof *seq);
        float *xm = malloc(b * (size_t)d * sizeof *xm), *xmn = malloc(b * sizeof *xmn);
        if (!idx || !seq || !xm || !xmn) { free(idx); free(seq); free(xm); free(xmn); s = mmf_fail(MMF_ERR_NOMEM, "k-means: out of memory"); goto fail; }
        for (size_t i = 0; i < b; i++) seq[i] = i;
        memset(cnt, 0, (size_t)k * sizeof *cnt);
        for (it = 0; it < iters && !s; it++) {
            for (size_t i = 0; i < b; i++) idx[i] = rng_below(&r, n);
            if (gather_rows(&sh, x, d, idx, b, xm)) { s = mmf_fail(MMF_ERR_IO, "k-means: the all-reduce of a batch failed"); break; }
            sq_norms(xm, b, d, xmn, nt);
            sq_norms(C, (size_t)k, d, cn, 1);
            assign_rows(xm, xmn, seq, b, d, C, cn, k, prev, NULL, S, xb, nt);
            for (size_t i = 0; i < b; i++) {
                int c = prev[i];
                cnt[c] += 1.0;
                float eta = 1.0f / (float)cnt[c];
                float *cc = C + (size_t)c * (size_t)d;
                const float *v = xm + i * (size_t)d;
                for (int j = 0; j < d; j++) cc[j] += eta * (v[j] - cc[j]);
            }
        }
        free(idx); free(seq); free(xm); free(xmn);
        if (s) goto fail;
        sq_norms(C, (size_t)k, d, cn, 1);
        double in[1] = {assign_rows(x, xn, NULL, n_local, d, C, cn, k, assign, dist, S, xb, nt)};
        if (reduce(&sh, in, 1, MMF_DT_F64, MMF_COMM_SUM)) { s = mmf_fail(MMF_ERR_IO, "k-means: all-reduce failed"); goto fail; }
        inertia = in[0];
    }
    out->centroids = C;
    out->assign = assign;
    out->inertia = inertia;
    out->iterations = it;
    free(cn); free(xn); free(dist); free(S); free(xb); free(prev); free(acc);
    return MMF_OK;
fail:
    free(C); free(cn); free(xn); free(dist); free(S); free(xb); free(assign); free(prev); free(acc);
    return s;
}

void mmf_kmeans_result_free(mmf_kmeans_result *r) {
    if (!r) return;
    free(r->centroids);
    free(r->assign);
    r->centroids = NULL;
    r->assign = NULL;
}
