/* Clustering agreement (NMI, ARI, purity) from the contingency table of two
 * labelings, built by sorting (truth, pred) pairs so label values can be any
 * int64 and the table is never denser than n. */
#include "core/error.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct pair { int64_t a, b; } pair;
static int cmp_pair(const void *x, const void *y) {
    const pair *p = x, *q = y;
    if (p->a != q->a) return p->a < q->a ? -1 : 1;
    if (p->b != q->b) return p->b < q->b ? -1 : 1;
    return 0;
}
static int cmp_i64(const void *x, const void *y) {
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

/* counts of each distinct value (sorted copy in tmp) */
static size_t marginal(const int64_t *v, size_t n, int64_t *tmp, double *counts) {
    memcpy(tmp, v, n * sizeof *tmp);
    qsort(tmp, n, sizeof *tmp, cmp_i64);
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && tmp[j] == tmp[i]) j++;
        counts[m++] = (double)(j - i);
        i = j;
    }
    return m;
}

static double comb2(double x) { return x * (x - 1.0) / 2.0; }

mmf_status mmf_cluster_scores_compute(const int64_t *truth, const int64_t *pred, size_t n, mmf_cluster_scores *out) {
    memset(out, 0, sizeof *out);
    if (!truth || !pred) return mmf_fail(MMF_ERR_ARG, "cluster scores: NULL labels");
    if (n == 0) return mmf_fail(MMF_ERR_ARG, "cluster scores: no points");
    pair *pr = malloc(n * sizeof *pr);
    int64_t *tmp = malloc(n * sizeof *tmp);
    double *ca = malloc(n * sizeof *ca), *cb = malloc(n * sizeof *cb);
    if (!pr || !tmp || !ca || !cb) {
        free(pr); free(tmp); free(ca); free(cb);
        return mmf_fail(MMF_ERR_NOMEM, "cluster scores: out of memory");
    }
    double N = (double)n;
    size_t na = marginal(truth, n, tmp, ca);
    size_t nb = marginal(pred, n, tmp, cb);
    double ha = 0.0, hb = 0.0, sa = 0.0, sb = 0.0;
    for (size_t i = 0; i < na; i++) { ha -= ca[i] / N * log(ca[i] / N); sa += comb2(ca[i]); }
    for (size_t i = 0; i < nb; i++) { hb -= cb[i] / N * log(cb[i] / N); sb += comb2(cb[i]); }

    /* joint cells: MI and the pair count need a_i and b_j of each cell, so
     * look the marginals up again by value */
    int64_t *va = malloc(na * sizeof *va), *vb = malloc(nb * sizeof *vb);
    if (!va || !vb) {
        free(pr); free(tmp); free(ca); free(cb); free(va); free(vb);
        return mmf_fail(MMF_ERR_NOMEM, "cluster scores: out of memory");
    }
    memcpy(tmp, truth, n * sizeof *tmp); qsort(tmp, n, sizeof *tmp, cmp_i64);
    for (size_t i = 0, m = 0; i < n; i++) if (i == 0 || tmp[i] != tmp[i - 1]) va[m++] = tmp[i];
    memcpy(tmp, pred, n * sizeof *tmp); qsort(tmp, n, sizeof *tmp, cmp_i64);
    for (size_t i = 0, m = 0; i < n; i++) if (i == 0 || tmp[i] != tmp[i - 1]) vb[m++] = tmp[i];

    /* purity: per predicted cluster, its largest truth class → sort by (pred, truth) */
    for (size_t i = 0; i < n; i++) { pr[i].a = truth[i]; pr[i].b = pred[i]; }
    qsort(pr, n, sizeof *pr, cmp_pair);
    double mi = 0.0, sij = 0.0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && pr[j].a == pr[i].a && pr[j].b == pr[i].b) j++;
        double nij = (double)(j - i);
        int64_t *fa = bsearch(&pr[i].a, va, na, sizeof *va, cmp_i64);
        int64_t *fb = bsearch(&pr[i].b, vb, nb, sizeof *vb, cmp_i64);
        double ai = ca[fa - va], bj = cb[fb - vb];
        mi += nij / N * log(N * nij / (ai * bj));
        sij += comb2(nij);
        i = j;
    }
    for (size_t i = 0; i < n; i++) { pr[i].a = pred[i]; pr[i].b = truth[i]; }
    qsort(pr, n, sizeof *pr, cmp_pair);
    double pure = 0.0;
    for (size_t i = 0; i < n;) {
        double best = 0.0;
        size_t j = i;
        while (j < n && pr[j].a == pr[i].a) {
            size_t r = j;
            while (r < n && pr[r].a == pr[j].a && pr[r].b == pr[j].b) r++;
            if ((double)(r - j) > best) best = (double)(r - j);
            j = r;
        }
        pure += best;
        i = j;
    }
    /* scikit-learn's conventions for the degenerate cases */
    if (ha == 0.0 && hb == 0.0) out->nmi = 1.0;
    else out->nmi = mi / (0.5 * (ha + hb));
    if (out->nmi < 0.0) out->nmi = 0.0;   /* rounding of an MI of zero */
    double pairs = comb2(N);
    double expected = pairs > 0.0 ? sa * sb / pairs : 0.0, maxi = 0.5 * (sa + sb);
    out->ari = maxi == expected ? 1.0 : (sij - expected) / (maxi - expected);
    out->purity = pure / N;
    free(pr); free(tmp); free(ca); free(cb); free(va); free(vb);
    return MMF_OK;
}
