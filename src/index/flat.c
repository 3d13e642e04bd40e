/* Exact search: blocks of queries against blocks of stored vectors through
 * one SGEMM each, then a size-k max-heap per query. */
#include "index/index_internal.h"
#include "index/heap.h"
#include "index/distance.h"
#include "core/error.h"
#include "core/ops.h"
#include <stdlib.h>
#include <string.h>

#define QBLOCK 256
#define NBLOCK 4096

mmf_status mmf_flat_search(const mmf_index *ix, size_t nq, const float *Q, int k, int nt,
                           uint32_t *slots, float *dists) {
    size_t n = ix->n, d = (size_t)ix->dim, kk = (size_t)k;
    int l2 = !mmf_metric_is_ip(ix->metric);
    float *S = malloc((size_t)QBLOCK * NBLOCK * sizeof(float));
    mmf_cand *heaps = malloc((size_t)QBLOCK * kk * sizeof(mmf_cand));
    size_t *hn = malloc(QBLOCK * sizeof(size_t));
    float *qnorm = malloc(QBLOCK * sizeof(float));
    if (!S || !heaps || !hn || !qnorm) {
        free(S); free(heaps); free(hn); free(qnorm);
        return mmf_fail(MMF_ERR_NOMEM, "exact search: out of memory");
    }
    for (size_t q0 = 0; q0 < nq; q0 += QBLOCK) {
        size_t qb = nq - q0 < QBLOCK ? nq - q0 : QBLOCK;
        for (size_t i = 0; i < qb; i++) {
            hn[i] = 0;
            double s = 0.0;
            for (size_t j = 0; j < d; j++) s += (double)Q[(q0 + i) * d + j] * Q[(q0 + i) * d + j];
            qnorm[i] = (float)s;
        }
        for (size_t n0 = 0; n0 < n; n0 += NBLOCK) {
            size_t nb = n - n0 < NBLOCK ? n - n0 : NBLOCK;
            /* S (qb, nb) = Q (qb, d) @ V (nb, d)^T */
            mmf_gemm(0, 1, (int)qb, (int)nb, (int)d, 1.0f, Q + q0 * d, (int)d, ix->vecs + n0 * d, (int)d,
                     0.0f, S, (int)nb, nt);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && qb > 1)
            for (size_t i = 0; i < qb; i++) {
                mmf_cand *h = heaps + i * kk;
                size_t m = hn[i];
                const float *row = S + i * nb;
                for (size_t j = 0; j < nb; j++) {
                    size_t slot = n0 + j;
                    if (ix->deleted[slot]) continue;
                    float dd = l2 ? qnorm[i] + ix->norms[slot] - 2.0f * row[j] : -row[j];
                    if (l2 && dd < 0.0f) dd = 0.0f;
                    if (m < kk) mmf_maxheap_push(h, &m, (mmf_cand){dd, (uint32_t)slot});
                    else if (dd < h[0].d) { mmf_maxheap_pop(h, &m); mmf_maxheap_push(h, &m, (mmf_cand){dd, (uint32_t)slot}); }
                }
                hn[i] = m;
            }
        }
        for (size_t i = 0; i < qb; i++) {
            mmf_cand *h = heaps + i * kk;
            /* the GEMM expansion of |q-v|^2 cancels badly for near neighbours:
             * report (and order by) the direct difference */
            if (l2)
                for (size_t j = 0; j < hn[i]; j++)
                    h[j].d = mmf_l2sq_f32(Q + (q0 + i) * d, ix->vecs + (size_t)h[j].id * d, (int)d);
            qsort(h, hn[i], sizeof *h, mmf_cand_cmp);
            for (size_t j = 0; j < kk; j++) {
                size_t o = (q0 + i) * kk + j;
                if (j < hn[i]) { slots[o] = h[j].id; dists[o] = h[j].d; }
                else { slots[o] = MMF_HNSW_NONE; dists[o] = 0.0f; }
            }
        }
    }
    free(S); free(heaps); free(hn); free(qnorm);
    return MMF_OK;
}
