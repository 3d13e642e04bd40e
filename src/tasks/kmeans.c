/* k-means (squared Euclidean). Distances to all centroids come from one SGEMM
 * per block of points: |x - c|^2 = |x|^2 + |c|^2 - 2 x.c. Lloyd iterations by
 * default; mini-batch mode (Sculley 2010) updates centroids from random batches
 * with per-centroid learning rates 1/count and finishes with one full
 * assignment. Empty clusters are re-seeded with the points farthest from their
 * centroids. */
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
 * the most. Plain k-means++ (L = 1) often puts two seeds in one blob. */
static mmf_status seed_plus_plus(const float *x, const float *xn, size_t n, int d, int k, rng *r,
                                 float *C, int nt) {
    size_t m = n;
    /* 40 points per centroid are plenty to place seeds, and the sample
     * (40*k*d floats) stays cache-sized: each seed step re-reads all of it */
    size_t cap = (size_t)k * 40;
    size_t *sample = NULL;
    int L = 2 + (int)log((double)k);
    if (n > cap) {
        m = cap;
        sample = malloc(n * sizeof *sample);
        if (!sample) return mmf_fail(MMF_ERR_NOMEM, "k-means: out of memory");
        for (size_t i = 0; i < n; i++) sample[i] = i;
        for (size_t i = 0; i < m; i++) {   /* partial Fisher-Yates */
            size_t j = i + rng_below(r, n - i), t = sample[i];
            sample[i] = sample[j]; sample[j] = t;
        }
    }
    float *xs = malloc(m * (size_t)d * sizeof(float)), *xsn = malloc(m * sizeof(float));
    float *D = malloc(m * sizeof(float)), *dot = malloc(m * (size_t)L * sizeof(float));
    float *cand = malloc((size_t)L * (size_t)d * sizeof(float));
    size_t *ci = malloc((size_t)L * sizeof *ci);
    if (!xs || !xsn || !D || !dot || !cand || !ci) {
        free(sample); free(xs); free(xsn); free(D); free(dot); free(cand); free(ci);
        return mmf_fail(MMF_ERR_NOMEM, "k-means: out of memory");
    }
    for (size_t i = 0; i < m; i++) {
        size_t src = sample ? sample[i] : i;
        memcpy(xs + i * (size_t)d, x + src * (size_t)d, (size_t)d * sizeof(float));
        xsn[i] = xn[src];
    }
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

static void seed_random(const float *x, size_t n, int d, int k, rng *r, float *C) {
    /* k distinct rows: Floyd's algorithm would need a set; a partial shuffle
     * of indices is simple and k <= n */
    size_t *perm = malloc(n * sizeof *perm);
    if (!perm) { for (int c = 0; c < k; c++) memcpy(C + (size_t)c * d, x + (size_t)c * d, (size_t)d * sizeof(float)); return; }
    for (size_t i = 0; i < n; i++) perm[i] = i;
    for (int c = 0; c < k; c++) {
        size_t j = (size_t)c + rng_below(r, n - (size_t)c), t = perm[c];
        perm[c] = perm[j]; perm[j] = t;
        memcpy(C + (size_t)c * (size_t)d, x + perm[c] * (size_t)d, (size_t)d * sizeof(float));
    }
    free(perm);
}

/* Centroids = means of their points; an empty cluster takes the point
 * farthest from its current centroid (each such point used once). */
static void update_centroids(const float *x, size_t n, int d, int k, const int32_t *assign, float *dist,
                             float *C, double *acc, size_t *cnt, int nt) {
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
            cnt[c]++;
        }
    }
    for (int c = 0; c < k; c++) {
        float *cc = C + (size_t)c * (size_t)d;
        if (cnt[c]) {
            double inv = 1.0 / (double)cnt[c];
            for (int j = 0; j < d; j++) cc[j] = (float)(acc[(size_t)c * (size_t)d + (size_t)j] * inv);
        } else {
            size_t far = 0;
            float fd = -1.0f;
            for (size_t i = 0; i < n; i++) if (dist[i] > fd) { fd = dist[i]; far = i; }
            memcpy(cc, x + far * (size_t)d, (size_t)d * sizeof(float));
            dist[far] = -1.0f;
        }
    }
}
mmf_status mmf_kmeans(const float *x, size_t n, int d, const mmf_kmeans_params *p, mmf_kmeans_result *out) {
    memset(out, 0, sizeof *out);
    if (!x || !p) return mmf_fail(MMF_ERR_ARG, "k-means: NULL input");
    if (d < 1) return mmf_fail(MMF_ERR_ARG, "k-means: dimension %d, expected >= 1", d);
    if (n == 0) return mmf_fail(MMF_ERR_ARG, "k-means: no points");
    if (p->k < 1) return mmf_fail(MMF_ERR_ARG, "k-means: k = %d, expected >= 1", p->k);
    if ((size_t)p->k > n) return mmf_fail(MMF_ERR_ARG, "k-means: k = %d is larger than the number of points (%zu)", p->k, n);
    if (p->mini_batch < 0) return mmf_fail(MMF_ERR_ARG, "k-means: mini_batch = %d, expected >= 0", p->mini_batch);
    for (size_t i = 0; i < n * (size_t)d; i++)
        if (!isfinite(x[i])) return mmf_fail(MMF_ERR_NUMERIC, "k-means: point %zu has a non-finite value", i / (size_t)d);
    int k = p->k, nt = p->n_threads < 1 ? 1 : p->n_threads;
    int iters = p->max_iter > 0 ? p->max_iter : p->mini_batch ? 100 : 50;
    rng r = {p->seed};
    float *C = malloc((size_t)k * (size_t)d * sizeof *C), *cn = malloc((size_t)k * sizeof *cn);
    float *xn = malloc(n * sizeof *xn), *dist = malloc(n * sizeof *dist);
    float *S = malloc((size_t)KM_BLOCK * (size_t)k * sizeof *S), *xb = malloc((size_t)KM_BLOCK * (size_t)d * sizeof *xb);
    int32_t *assign = malloc(n * sizeof *assign), *prev = malloc(n * sizeof *prev);
    double *acc = malloc((size_t)k * (size_t)d * sizeof *acc);
    size_t *cnt = malloc((size_t)k * sizeof *cnt);
    mmf_status s = MMF_OK;
    if (!C || !cn || !xn || !dist || !S || !xb || !assign || !prev || !acc || !cnt) {
        s = mmf_fail(MMF_ERR_NOMEM, "k-means: out of memory for n = %zu, k = %d, d = %d", n, k, d);
        goto fail;
    }
    sq_norms(x, n, d, xn, nt);
    if (p->init_plus_plus) { s = seed_plus_plus(x, xn, n, d, k, &r, C, nt); if (s) goto fail; }
    else seed_random(x, n, d, k, &r, C);

    double inertia = INFINITY;
    int it = 0;
    if (!p->mini_batch) {
        for (it = 0; it < iters; it++) {
            sq_norms(C, (size_t)k, d, cn, 1);
            double in = assign_rows(x, xn, NULL, n, d, C, cn, k, assign, dist, S, xb, nt);
            int changed = it == 0 || memcmp(assign, prev, n * sizeof *assign) != 0;
            int converged = p->tol >= 0.0 && (!changed || (isfinite(inertia) && inertia - in <= p->tol * inertia));
            inertia = in;
            if (converged) break;
            memcpy(prev, assign, n * sizeof *assign);
            update_centroids(x, n, d, k, assign, dist, C, acc, cnt, nt);
        }
        if (it == iters) {   /* the last update moved the centroids: re-assign */
            sq_norms(C, (size_t)k, d, cn, 1);
            inertia = assign_rows(x, xn, NULL, n, d, C, cn, k, assign, dist, S, xb, nt);
        } else {
            it++;
        }
    } else {
        size_t b = (size_t)p->mini_batch < n ? (size_t)p->mini_batch : n;
        size_t *idx = malloc(b * sizeof *idx);
        if (!idx) { s = mmf_fail(MMF_ERR_NOMEM, "k-means: out of memory"); goto fail; }
        memset(cnt, 0, (size_t)k * sizeof *cnt);
        for (it = 0; it < iters; it++) {
            for (size_t i = 0; i < b; i++) idx[i] = rng_below(&r, n);
            sq_norms(C, (size_t)k, d, cn, 1);
            assign_rows(x, xn, idx, b, d, C, cn, k, prev, NULL, S, xb, nt);
            for (size_t i = 0; i < b; i++) {
                int c = prev[i];
                float eta = 1.0f / (float)(++cnt[c]);
                float *cc = C + (size_t)c * (size_t)d;
                const float *v = x + idx[i] * (size_t)d;
                for (int j = 0; j < d; j++) cc[j] += eta * (v[j] - cc[j]);
            }
        }
        free(idx);
        sq_norms(C, (size_t)k, d, cn, 1);
        inertia = assign_rows(x, xn, NULL, n, d, C, cn, k, assign, dist, S, xb, nt);
    }
    out->centroids = C;
    out->assign = assign;
    out->inertia = inertia;
    out->iterations = it;
    free(cn); free(xn); free(dist); free(S); free(xb); free(prev); free(acc); free(cnt);
    return MMF_OK;
fail:
    free(C); free(cn); free(xn); free(dist); free(S); free(xb); free(assign); free(prev); free(acc); free(cnt);
    return s;
}

void mmf_kmeans_result_free(mmf_kmeans_result *r) {
    if (!r) return;
    free(r->centroids);
    free(r->assign);
    r->centroids = NULL;
    r->assign = NULL;
}
