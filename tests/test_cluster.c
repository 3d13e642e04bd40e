/* k-means, clustering scores and retrieval metrics. Expected values are
 * computed by hand in the comments. */
#include "test_util.h"
#include "index_testdata.h"

static void test_scores(void) {
    mmf_cluster_scores c;
    /* truth [0,0,0,1,1,1], pred [0,0,1,1,2,2]: cells (0,0)=2 (0,1)=1 (1,1)=1 (1,2)=2,
     * a = (3,3), b = (2,2,2), N = 6.
     * MI = 2 * (2/6) ln(6*2/(3*2)) = (2/3) ln 2; H(truth) = ln 2, H(pred) = ln 3
     * NMI = (2/3) ln2 / ((ln2 + ln3)/2) = (4/3) ln2 / ln6
     * ARI: sum C(nij,2) = 2, sum C(a,2) = 6, sum C(b,2) = 3, C(6,2) = 15,
     *      expected = 6*3/15 = 1.2, max = 4.5 -> (2-1.2)/(4.5-1.2) = 0.8/3.3
     * purity = (2 + 1 + 2)/6 */
    int64_t t1[6] = {0, 0, 0, 1, 1, 1}, p1[6] = {0, 0, 1, 1, 2, 2};
    CHECK_OK(mmf_cluster_scores_compute(t1, p1, 6, &c));
    CHECK_NEAR(c.nmi, (4.0 / 3.0) * log(2.0) / log(6.0), 1e-12);
    CHECK_NEAR(c.ari, 0.8 / 3.3, 1e-12);
    CHECK_NEAR(c.purity, 5.0 / 6.0, 1e-12);
    /* a relabelled copy: all three are 1 */
    int64_t t2[5] = {5, 5, 7, 7, 9}, p2[5] = {1, 1, -4, -4, 3};
    CHECK_OK(mmf_cluster_scores_compute(t2, p2, 5, &c));
    CHECK_NEAR(c.nmi, 1.0, 1e-12);
    CHECK_NEAR(c.ari, 1.0, 1e-12);
    CHECK_NEAR(c.purity, 1.0, 1e-12);
    /* one predicted cluster: MI = 0 -> NMI 0; ARI: sum C(nij,2) = 2, sum C(a,2) = 2,
     * sum C(b,2) = 6, expected = 2*6/6 = 2, max = 4 -> 0; purity 2/4 */
    int64_t t3[4] = {0, 1, 0, 1}, p3[4] = {0, 0, 0, 0};
    CHECK_OK(mmf_cluster_scores_compute(t3, p3, 4, &c));
    CHECK_NEAR(c.nmi, 0.0, 1e-12);
    CHECK_NEAR(c.ari, 0.0, 1e-12);
    CHECK_NEAR(c.purity, 0.5, 1e-12);
    CHECK(mmf_cluster_scores_compute(t3, p3, 0, &c) == MMF_ERR_ARG);
}

static void test_kmeans_small(void) {
    /* 1-D points 0, 1, 10, 11 with k = 2: centroids 0.5 and 10.5, inertia 4 * 0.25 */
    float x[4] = {0, 1, 10, 11};
    for (int pp = 0; pp < 2; pp++) {
        mmf_kmeans_params p = mmf_kmeans_params_default();
        p.k = 2;
        p.init_plus_plus = pp;
        mmf_kmeans_result r;
        CHECK_OK(mmf_kmeans(x, 4, 1, &p, &r));
        CHECK_NEAR(r.inertia, 1.0, 1e-5);
        CHECK(r.assign[0] == r.assign[1] && r.assign[2] == r.assign[3] && r.assign[0] != r.assign[2]);
        float lo = r.centroids[r.assign[0]], hi = r.centroids[r.assign[2]];
        CHECK_NEAR(lo, 0.5, 1e-6);
        CHECK_NEAR(hi, 10.5, 1e-6);
        mmf_kmeans_result_free(&r);
    }
    mmf_kmeans_params p = mmf_kmeans_params_default();
    mmf_kmeans_result r;
    p.k = 5;
    CHECK(mmf_kmeans(x, 4, 1, &p, &r) == MMF_ERR_ARG);
    CHECK(strstr(mmf_last_error(), "larger than the number of points") != NULL);
    p.k = 0;
    CHECK(mmf_kmeans(x, 4, 1, &p, &r) == MMF_ERR_ARG);
    float bad[2] = {1, NAN};
    p.k = 1;
    CHECK(mmf_kmeans(bad, 2, 1, &p, &r) == MMF_ERR_NUMERIC);
    /* k = n: every point its own cluster, inertia 0 */
    p.k = 4;
    CHECK_OK(mmf_kmeans(x, 4, 1, &p, &r));
    CHECK_NEAR(r.inertia, 0.0, 1e-6);
    mmf_kmeans_result_free(&r);
}

static void test_kmeans_clusters(void) {
    size_t n = 4000;
    int d = 32, k = 20;
    int64_t *truth = malloc(n * sizeof *truth), *pred = malloc(n * sizeof *pred);
    float *x = td_clustered(n, d, k, 0.15f, 7, truth);
    for (int mode = 0; mode < 2; mode++) {
        mmf_kmeans_params p = mmf_kmeans_params_default();
        p.k = k;
        p.n_threads = 2;
        p.mini_batch = mode ? 256 : 0;
        mmf_kmeans_result r;
        CHECK_OK(mmf_kmeans(x, n, d, &p, &r));
        for (size_t i = 0; i < n; i++) pred[i] = r.assign[i];
        mmf_cluster_scores c;
        CHECK_OK(mmf_cluster_scores_compute(truth, pred, n, &c));
        printf("k-means %s: NMI %.4f ARI %.4f purity %.4f, %d iterations, inertia %.1f\n",
               mode ? "mini-batch" : "Lloyd", c.nmi, c.ari, c.purity, r.iterations, r.inertia);
        /* well-separated blobs: greedy k-means++ puts one seed in each */
        CHECK_MSG(c.nmi > 0.99 && c.purity > 0.99, "NMI %.4f purity %.4f", c.nmi, c.purity);
        /* inertia agrees with a recount from the returned assignment */
        double in = 0.0;
        for (size_t i = 0; i < n; i++)
            for (int j = 0; j < d; j++) {
                double dd = (double)x[i * (size_t)d + (size_t)j] - r.centroids[(size_t)r.assign[i] * (size_t)d + (size_t)j];
                in += dd * dd;
            }
        CHECK_NEAR(r.inertia, in, 1e-3 * in);
        mmf_kmeans_result_free(&r);
    }
    free(x); free(truth); free(pred);
}

static void test_retrieval(void) {
    /* dot scores (query rows x gallery columns):
     *   q0 (1,0) id0: g0 1.0, g1 0.1, g2 0.9, g3 -1 -> relevant g0 at rank 1: AP 1
     *   q1 (0,1) id1: g0 0.1, g1 1.0, g2 0.0, g3 0.0 -> order g1 g0 g2 g3 (ties by index);
     *                 relevant g1 (rank 1) and g3 (rank 4): AP (1/1 + 2/4)/2 = 0.75
     *   q2 (1,1) id2: g0 1.1, g1 1.1, g2 0.9, g3 -1 -> relevant g2 at rank 3: AP 1/3
     *   q3 id9 has no relevant item and is skipped.
     * R@1 = 2/3, R@5 = R@10 = 1, mAP = (1 + 0.75 + 1/3)/3 */
    float q[8] = {1, 0, 0, 1, 1, 1, 3, 3};
    int64_t qid[4] = {0, 1, 2, 9};
    float g[8] = {1, 0.1f, 0.1f, 1, 0.9f, 0, -1, 0};
    int64_t gid[4] = {0, 1, 2, 1};
    mmf_retrieval_scores r;
    CHECK_OK(mmf_retrieval_eval(q, qid, 4, g, gid, 4, 2, MMF_METRIC_DOT, 1, &r));
    CHECK(r.n_queries == 3);
    CHECK_NEAR(r.r1, 2.0 / 3.0, 1e-12);
    CHECK_NEAR(r.r5, 1.0, 1e-12);
    CHECK_NEAR(r.r10, 1.0, 1e-12);
    CHECK_NEAR(r.map, (1.0 + 0.75 + 1.0 / 3.0) / 3.0, 1e-9);
    /* L2 on the same data: q2 (1,1) is nearest g1? |q2-g0|^2 = 0.81, g1 0.81, g2 1.01, g3 5
     * -> g2 at rank 3 again; q1 (0,1): g1 0.01, g0 1.62, g2 1.81, g3 2 -> g3 rank 4 */
    CHECK_OK(mmf_retrieval_eval(q, qid, 4, g, gid, 4, 2, MMF_METRIC_L2, 2, &r));
    CHECK_NEAR(r.map, (1.0 + 0.75 + 1.0 / 3.0) / 3.0, 1e-6);
    int64_t none[4] = {7, 7, 7, 7};
    CHECK(mmf_retrieval_eval(q, qid, 4, g, none, 4, 2, MMF_METRIC_COSINE, 1, &r) == MMF_ERR_ARG);
}

int main(void) {
    test_scores();
    test_kmeans_small();
    test_kmeans_clusters();
    test_retrieval();
    return t_done("test_cluster");
}
