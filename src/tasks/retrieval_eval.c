/* Retrieval evaluation over paired ids: every query ranks the whole gallery
 * (scores from one SGEMM per block of queries), ties broken by gallery order
 * so the result is deterministic. */
#include "core/error.h"
#include "core/ops.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define RQ_BLOCK 64

typedef struct scored { float s; uint32_t i; } scored;
static int cmp_scored(const void *x, const void *y) {
    const scored *a = x, *b = y;
    if (a->s != b->s) return a->s > b->s ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

static float *normalised_copy(const float *x, size_t n, int d, int normalise) {
    float *c = malloc(n * (size_t)d * sizeof *c);
    if (!c) return NULL;
    memcpy(c, x, n * (size_t)d * sizeof *c);
    if (!normalise) return c;
    for (size_t i = 0; i < n; i++) {
        double s = 0.0;
        float *v = c + i * (size_t)d;
        for (int j = 0; j < d; j++) s += (double)v[j] * v[j];
        if (s > 0.0) { float inv = (float)(1.0 / sqrt(s)); for (int j = 0; j < d; j++) v[j] *= inv; }
    }
    return c;
}

mmf_status mmf_retrieval_eval(const float *queries, const int64_t *query_ids, size_t nq,
                              const float *gallery, const int64_t *gallery_ids, size_t ng,
                              int dim, mmf_metric metric, int n_threads, mmf_retrieval_scores *out) {
    memset(out, 0, sizeof *out);
    if (!queries || !gallery || !query_ids || !gallery_ids) return mmf_fail(MMF_ERR_ARG, "retrieval eval: NULL input");
    if (nq == 0 || ng == 0) return mmf_fail(MMF_ERR_ARG, "retrieval eval: %zu queries and %zu gallery items, need at least one of each", nq, ng);
    if (ng > UINT32_MAX) return mmf_fail(MMF_ERR_ARG, "retrieval eval: gallery too large");
    if (dim < 1) return mmf_fail(MMF_ERR_ARG, "retrieval eval: dimension %d", dim);
    if ((unsigned)metric > MMF_METRIC_L2) return mmf_fail(MMF_ERR_ARG, "retrieval eval: unknown metric %d", (int)metric);
    int nt = n_threads < 1 ? 1 : n_threads;
    float *Q = normalised_copy(queries, nq, dim, metric == MMF_METRIC_COSINE);
    float *G = normalised_copy(gallery, ng, dim, metric == MMF_METRIC_COSINE);
    float *gn = malloc(ng * sizeof *gn), *S = malloc((size_t)RQ_BLOCK * ng * sizeof *S);
    scored *work = malloc((size_t)nt * ng * sizeof *work);
    double *ap = malloc(nq * sizeof *ap);
    int *first = malloc(nq * sizeof *first);   /* 1-based rank of the first relevant item, 0 = none */
    mmf_status s = MMF_OK;
    if (!Q || !G || !gn || !S || !work || !ap || !first) { s = mmf_fail(MMF_ERR_NOMEM, "retrieval eval: out of memory"); goto done; }
    for (size_t i = 0; i < nq * (size_t)dim; i++)
        if (!isfinite(Q[i])) { s = mmf_fail(MMF_ERR_NUMERIC, "retrieval eval: query %zu is not finite", i / (size_t)dim); goto done; }
    for (size_t i = 0; i < ng * (size_t)dim; i++)
        if (!isfinite(G[i])) { s = mmf_fail(MMF_ERR_NUMERIC, "retrieval eval: gallery item %zu is not finite", i / (size_t)dim); goto done; }
    for (size_t j = 0; j < ng; j++) {
        double a = 0.0;
        for (int t = 0; t < dim; t++) a += (double)G[j * (size_t)dim + (size_t)t] * G[j * (size_t)dim + (size_t)t];
        gn[j] = (float)a;
    }
    for (size_t q0 = 0; q0 < nq; q0 += RQ_BLOCK) {
        size_t qb = nq - q0 < RQ_BLOCK ? nq - q0 : RQ_BLOCK;
        mmf_gemm(0, 1, (int)qb, (int)ng, dim, 1.0f, Q + q0 * (size_t)dim, dim, G, dim, 0.0f, S, (int)ng, nt);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1 && qb > 1)
        for (size_t i = 0; i < qb; i++) {
            int t = omp_get_thread_num();
            scored *w = work + (size_t)t * ng;
            const float *row = S + i * ng;
            const float *qv = Q + (q0 + i) * (size_t)dim;
            float qn = 0.0f;
            if (metric == MMF_METRIC_L2) for (int u = 0; u < dim; u++) qn += qv[u] * qv[u];
            for (size_t j = 0; j < ng; j++) {
                float sc = metric == MMF_METRIC_L2 ? -(qn + gn[j] - 2.0f * row[j]) : row[j];
                w[j] = (scored){sc, (uint32_t)j};
            }
            qsort(w, ng, sizeof *w, cmp_scored);
            int64_t qid = query_ids[q0 + i];
            size_t hits = 0;
            double sum = 0.0;
            int f = 0;
            for (size_t r = 0; r < ng; r++)
                if (gallery_ids[w[r].i] == qid) {
                    hits++;
                    sum += (double)hits / (double)(r + 1);
                    if (!f) f = (int)(r + 1 < (size_t)INT32_MAX ? r + 1 : INT32_MAX);
                }
            first[q0 + i] = f;
            ap[q0 + i] = hits ? sum / (double)hits : -1.0;
        }
    }
    size_t used = 0, r1 = 0, r5 = 0, r10 = 0;
    double map = 0.0;
    for (size_t i = 0; i < nq; i++) {
        if (ap[i] < 0.0) continue;
        used++;
        map += ap[i];
        r1 += first[i] <= 1;
        r5 += first[i] <= 5;
        r10 += first[i] <= 10;
    }
    if (!used) { s = mmf_fail(MMF_ERR_ARG, "retrieval eval: no query id appears among the gallery ids"); goto done; }
    out->n_queries = used;
    out->r1 = (double)r1 / (double)used;
    out->r5 = (double)r5 / (double)used;
    out->r10 = (double)r10 / (double)used;
    out->map = map / (double)used;
done:
    free(Q); free(G); free(gn); free(S); free(work); free(ap); free(first);
    return s;
}
