/* Vector index: exact search against a naive double-precision scan, HNSW
 * recall against exact search, deletion, persistence and bad input. */
#include "test_util.h"
#include "index_testdata.h"
#include <dirent.h>
#include <zlib.h>
#include "io/atomic_file.h"

/* Naive reference: best k by the metric, computed in double. */
static void naive_topk(const float *x, size_t n, int d, const float *q, int k, mmf_metric m,
                       const uint8_t *skip, int64_t *out) {
    double *best = malloc((size_t)k * sizeof *best);
    for (int j = 0; j < k; j++) { best[j] = INFINITY; out[j] = -1; }
    double qn = 0;
    for (int t = 0; t < d; t++) qn += (double)q[t] * q[t];
    for (size_t i = 0; i < n; i++) {
        if (skip && skip[i]) continue;
        double dot = 0, xn = 0, l2 = 0;
        for (int t = 0; t < d; t++) {
            double a = x[i * (size_t)d + (size_t)t], b = q[t];
            dot += a * b; xn += a * a; l2 += (a - b) * (a - b);
        }
        double dist = m == MMF_METRIC_L2 ? l2 : m == MMF_METRIC_DOT ? -dot : -dot / sqrt(xn * qn);
        if (dist >= best[k - 1]) continue;
        int j = k - 1;
        while (j > 0 && best[j - 1] > dist) { best[j] = best[j - 1]; out[j] = out[j - 1]; j--; }
        best[j] = dist; out[j] = (int64_t)i;
    }
    free(best);
}

/* The metric's distance of row i to q, in double (the naive scan's formula). */
static double naive_dist(const float *x, int d, size_t i, const float *q, mmf_metric m) {
    double dot = 0, xn = 0, qn = 0, l2 = 0;
    for (int t = 0; t < d; t++) {
        double a = x[i * (size_t)d + (size_t)t], b = q[t];
        dot += a * b; xn += a * a; qn += b * b; l2 += (a - b) * (a - b);
    }
    return m == MMF_METRIC_L2 ? l2 : m == MMF_METRIC_DOT ? -dot : -dot / sqrt(xn * qn);
}

/* Exact search scores rows with a float GEMM, the naive scan in double, so two
 * rows closer than float rounding may swap places: the hits are right when
 * each rank's distance equals the naive rank's distance to 1e-5 (relative). */
static int same_ranking(const float *x, int d, const float *q, int k, mmf_metric m, const int64_t *got,
                        const int64_t *want) {
    for (int j = 0; j < k; j++) {
        if (got[j] < 0 || want[j] < 0) { if (got[j] != want[j]) return 0; continue; }
        double a = naive_dist(x, d, (size_t)got[j], q, m), b = naive_dist(x, d, (size_t)want[j], q, m);
        if (fabs(a - b) > 1e-5 * (1.0 + fabs(b))) return 0;
        for (int i = 0; i < j; i++) if (got[i] == got[j]) return 0;
    }
    return 1;
}

static double recall(const int64_t *got, const int64_t *want, size_t nq, int k) {
    size_t hit = 0;
    for (size_t i = 0; i < nq; i++)
        for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++)
                if (got[i * (size_t)k + (size_t)a] == want[i * (size_t)k + (size_t)b] && want[i * (size_t)k + (size_t)b] >= 0) { hit++; break; }
    return (double)hit / (double)(nq * (size_t)k);
}

static void test_exact(void) {
    int d = 37, k = 5;
    size_t n = 600, nq = 20;
    float *x = td_clustered(n, d, 8, 0.5f, 11, NULL);
    float *q = td_clustered(nq, d, 8, 0.5f, 12, NULL);
    for (int m = 0; m < 3; m++) {
        mmf_index_params p = mmf_index_params_default();
        p.kind = MMF_INDEX_FLAT;
        p.metric = (mmf_metric)m;
        mmf_index *ix;
        CHECK_OK(mmf_index_new(d, &p, &ix));
        CHECK_OK(mmf_index_add(ix, n, x, NULL));
        int64_t got[20 * 5], want[20 * 5];
        float sc[20 * 5];
        mmf_search_params sp = mmf_search_params_default();
        sp.n_threads = 2;
        CHECK_OK(mmf_index_search(ix, nq, q, k, &sp, got, sc));
        int same = 1;
        for (size_t i = 0; i < nq; i++) {
            naive_topk(x, n, d, q + i * (size_t)d, k, (mmf_metric)m, NULL, want + i * (size_t)k);
            same &= same_ranking(x, d, q + i * (size_t)d, k, (mmf_metric)m, got + i * (size_t)k, want + i * (size_t)k);
        }
        CHECK_MSG(same, "metric %s: exact search differs from the naive scan", mmf_metric_name((mmf_metric)m));
        /* the score of the best hit, recomputed by hand */
        const float *v = x + (size_t)got[0] * (size_t)d;
        double dot = 0, xn = 0, qn = 0, l2 = 0;
        for (int t = 0; t < d; t++) { dot += (double)v[t] * q[t]; xn += (double)v[t] * v[t]; qn += (double)q[t] * q[t]; l2 += ((double)v[t] - q[t]) * ((double)v[t] - q[t]); }
        double want_sc = m == MMF_METRIC_L2 ? l2 : m == MMF_METRIC_DOT ? dot : dot / sqrt(xn * qn);
        CHECK_NEAR(sc[0], want_sc, 1e-3 * (1 + fabs(want_sc)));
        mmf_index_free(ix);
    }
    free(x); free(q);
}

/* HNSW recall@10 against exact search on clustered data, each metric and int8 */
static void test_hnsw_recall(void) {
    int d = 48, k = 10;
    size_t n = 6000, nq = 200;
    /* queries from the same clusters as the data (held out) */
    float *x = td_clustered(n + nq, d, 60, 0.35f, 21, NULL);
    float *q = x + n * (size_t)d;
    int64_t *got = malloc(nq * (size_t)k * sizeof *got), *want = malloc(nq * (size_t)k * sizeof *want);
    for (int cfg = 0; cfg < 4; cfg++) {
        mmf_index_params p = mmf_index_params_default();
        p.metric = cfg == 3 ? MMF_METRIC_COSINE : (mmf_metric)cfg;
        p.quant = cfg == 3 ? MMF_QUANT_INT8 : MMF_QUANT_NONE;
        p.M = 12; p.ef_construction = 100; p.n_threads = 2;
        mmf_index *ix;
        CHECK_OK(mmf_index_new(d, &p, &ix));
        CHECK_OK(mmf_index_add(ix, n, x, NULL));
        mmf_search_params sp = mmf_search_params_default();
        sp.ef = 64; sp.n_threads = 2;
        CHECK_OK(mmf_index_search(ix, nq, q, k, &sp, got, NULL));
        sp.exact = 1;
        CHECK_OK(mmf_index_search(ix, nq, q, k, &sp, want, NULL));
        double r = recall(got, want, nq, k);
        printf("hnsw %s%s recall@10 = %.4f\n", mmf_metric_name(p.metric), cfg == 3 ? " int8" : "", r);
        CHECK_MSG(r >= 0.95, "metric %s quant %d: recall@10 %.4f < 0.95", mmf_metric_name(p.metric), (int)p.quant, r);
        mmf_index_info info;
        mmf_index_get_info(ix, &info);
        CHECK(info.count == n && info.deleted == 0 && info.max_level >= 1);
        mmf_index_free(ix);
    }
    free(x); free(got); free(want);
}

static void test_delete_and_persist(const char *dir) {
    int d = 24, k = 10;
    size_t n = 3000, nq = 50;
    float *x = td_clustered(n + nq, d, 30, 0.4f, 31, NULL);
    float *q = x + n * (size_t)d;
    int64_t *ids = malloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++) ids[i] = 1000 + 7 * (int64_t)i;
    mmf_index_params p = mmf_index_params_default();
    p.metric = MMF_METRIC_L2; p.quant = MMF_QUANT_INT8; p.M = 8; p.ef_construction = 80;
    mmf_index *ix;
    CHECK_OK(mmf_index_new(d, &p, &ix));
    CHECK_OK(mmf_index_add(ix, n, x, ids));
    /* delete every third id; deleted ids never come back */
    uint8_t *gone = calloc(n, 1);
    for (size_t i = 0; i < n; i += 3) { CHECK_OK(mmf_index_delete(ix, ids[i])); gone[i] = 1; }
    CHECK(mmf_index_delete(ix, ids[0]) == MMF_ERR_NOT_FOUND);
    CHECK(mmf_index_delete(ix, 5) == MMF_ERR_NOT_FOUND);
    int64_t *got = malloc(nq * (size_t)k * sizeof *got), *want = malloc(nq * (size_t)k * sizeof *want);
    mmf_search_params sp = mmf_search_params_default();
    sp.ef = 80;
    CHECK_OK(mmf_index_search(ix, nq, q, k, &sp, got, NULL));
    for (size_t i = 0; i < nq; i++) {
        naive_topk(x, n, d, q + i * (size_t)d, k, MMF_METRIC_L2, gone, want + i * (size_t)k);
        for (int j = 0; j < k; j++) want[i * (size_t)k + (size_t)j] = ids[want[i * (size_t)k + (size_t)j]];
    }
    int bad_hit = 0;
    for (size_t i = 0; i < nq * (size_t)k; i++) if (got[i] >= 0 && gone[(size_t)(got[i] - 1000) / 7]) bad_hit = 1;
    CHECK_MSG(!bad_hit, "a deleted id was returned");
    double r = recall(got, want, nq, k);
    CHECK_MSG(r >= 0.95, "recall after deletes %.4f", r);

    /* save, reopen (mapped), same answers */
    char path[512];
    snprintf(path, sizeof path, "%s/a.mmfidx", dir);
    CHECK_OK(mmf_index_save(ix, path));
    mmf_index *jx = NULL;
    CHECK_OK(mmf_index_open(path, &jx));
    if (jx) {
        mmf_index_info a, b;
        mmf_index_get_info(ix, &a);
        mmf_index_get_info(jx, &b);
        CHECK(a.count == b.count && a.deleted == b.deleted && a.dim == b.dim && a.M == b.M &&
              a.metric == b.metric && a.quant == b.quant && a.max_level == b.max_level);
        int64_t *got2 = malloc(nq * (size_t)k * sizeof *got2);
        CHECK_OK(mmf_index_search(jx, nq, q, k, &sp, got2, NULL));
        CHECK(memcmp(got, got2, nq * (size_t)k * sizeof *got) == 0);
        /* ids stay unique across a reopen; delete/add copy the mapping */
        CHECK(mmf_index_add(jx, 1, x, &ids[1]) == MMF_ERR_ARG);
        CHECK_OK(mmf_index_add(jx, 1, x, &ids[0]));          /* was deleted: may come back */
        CHECK_OK(mmf_index_delete(jx, ids[1]));
        CHECK_OK(mmf_index_search(jx, 1, x, 1, &sp, got2, NULL));
        CHECK(got2[0] == ids[0]);
        mmf_index_get_info(jx, &b);
        CHECK(b.count == a.count && b.deleted == a.deleted + 1);
        /* auto ids continue after the largest */
        int64_t one;
        CHECK_OK(mmf_index_add(jx, 1, x + d, NULL));
        CHECK_OK(mmf_index_search(jx, 1, x + d, 1, &sp, &one, NULL));
        CHECK(one == ids[n - 1] + 1);   /* vector 1 is deleted: only the new copy matches */
        free(got2);
        mmf_index_free(jx);
    }
    mmf_index_free(ix);
    free(x); free(ids); free(gone); free(got); free(want);
}

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*len);
    if (fread(b, 1, *len, f) != *len) { free(b); b = NULL; }
    fclose(f);
    return b;
}
static void spit(const char *path, const void *b, size_t len) {
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, len, f);
    fclose(f);
}
static void expect_open_fails(const char *path, mmf_status want, const char *needle) {
    mmf_index *ix = NULL;
    mmf_status s = mmf_index_open(path, &ix);
    CHECK_MSG(s == want, "open %s: status %s, expected %s (%s)", path, mmf_status_str(s), mmf_status_str(want), mmf_last_error());
    CHECK_MSG(strstr(mmf_last_error(), needle) != NULL, "message \"%s\" lacks \"%s\"", mmf_last_error(), needle);
    CHECK(ix == NULL);
    if (ix) mmf_index_free(ix);
}
/* Rewrite both CRCs so only the content validation can catch a change. */
static void reseal(unsigned char *b, size_t len) {   /* version 2: 10 table entries */
    uint32_t c = (uint32_t)crc32_z(0, b + 512, len - 512);
    memcpy(b + 96 + 16 * 10, &c, 4);
    uint32_t hc = (uint32_t)crc32_z(0, b, 96 + 16 * 10 + 4);
    memcpy(b + 96 + 16 * 10 + 4, &hc, 4);
}

static void test_bad_files(const char *dir) {
    int d = 8;
    size_t n = 200;
    float *x = td_clustered(n, d, 4, 0.5f, 41, NULL);
    mmf_index_params p = mmf_index_params_default();
    p.M = 4;
    mmf_index *ix;
    CHECK_OK(mmf_index_new(d, &p, &ix));
    CHECK_OK(mmf_index_add(ix, n, x, NULL));
    char path[512], bp[512];
    snprintf(path, sizeof path, "%s/good.mmfidx", dir);
    snprintf(bp, sizeof bp, "%s/bad.mmfidx", dir);
    CHECK_OK(mmf_index_save(ix, path));
    size_t len = 0;
    unsigned char *good = slurp(path, &len);
    unsigned char *b = malloc(len);

    memcpy(b, good, len); spit(bp, b, len / 2);
    expect_open_fails(bp, MMF_ERR_FORMAT, "truncated");
    spit(bp, b, 100);
    expect_open_fails(bp, MMF_ERR_FORMAT, "truncated");
    spit(bp, b, 0);
    expect_open_fails(bp, MMF_ERR_FORMAT, "truncated");
    memcpy(b, good, len); b[len - 5] ^= 0x40; spit(bp, b, len);
    expect_open_fails(bp, MMF_ERR_FORMAT, "payload checksum");
    memcpy(b, good, len); b[20] ^= 1; spit(bp, b, len);
    expect_open_fails(bp, MMF_ERR_FORMAT, "header checksum");
    memcpy(b, good, len); b[8] = 9; spit(bp, b, len);
    expect_open_fails(bp, MMF_ERR_UNSUPPORTED, "version 9");
    memcpy(b, good, len); b[0] = 'X'; spit(bp, b, len);
    expect_open_fails(bp, MMF_ERR_FORMAT, "magic");
    /* a link pointing outside the graph, with valid checksums */
    uint64_t off0;
    memcpy(b, good, len);
    memcpy(&off0, b + 96 + 16 * 7, 8);              /* links0 section */
    uint32_t cnt, far = (uint32_t)n + 5;
    memcpy(&cnt, b + off0, 4);
    CHECK(cnt > 0);
    memcpy(b + off0 + 4, &far, 4);
    reseal(b, len); spit(bp, b, len);
    expect_open_fails(bp, MMF_ERR_FORMAT, "links to");
    /* a link count beyond M0 */
    memcpy(b, good, len);
    uint32_t big = 1000;
    memcpy(b + off0, &big, 4);
    reseal(b, len); spit(bp, b, len);
    expect_open_fails(bp, MMF_ERR_FORMAT, "links");
    /* a section table entry beyond the file */
    memcpy(b, good, len);
    uint64_t huge = (uint64_t)len * 4;
    memcpy(b + 96 + 16 * 3 + 8, &huge, 8);
    reseal(b, len); spit(bp, b, len);
    expect_open_fails(bp, MMF_ERR_FORMAT, "section \"vecs\"");
    expect_open_fails("/nonexistent/x.mmfidx", MMF_ERR_IO, "cannot open");

    /* a write that fails part-way leaves the old index in place, no temp file */
    mmf_index *big_ix;
    CHECK_OK(mmf_index_new(d, &p, &big_ix));
    CHECK_OK(mmf_index_add(big_ix, n / 2, x, NULL));
    mmf_atomic_fail_after(len / 3);
    CHECK(mmf_index_save(big_ix, path) == MMF_ERR_IO);
    mmf_atomic_fail_after(SIZE_MAX);
    mmf_index *back = NULL;
    CHECK_OK(mmf_index_open(path, &back));
    if (back) {
        mmf_index_info info;
        mmf_index_get_info(back, &info);
        CHECK(info.count == n);
        mmf_index_free(back);
    }
    DIR *dd = opendir(dir);
    struct dirent *e;
    int tmp_left = 0;
    while ((e = readdir(dd))) if (strstr(e->d_name, ".tmp.")) tmp_left = 1;
    closedir(dd);
    CHECK(!tmp_left);
    mmf_index_free(big_ix);
    free(good); free(b); free(x);
    mmf_index_free(ix);
}

static void test_bad_args(void) {
    mmf_index *ix;
    mmf_index_params p = mmf_index_params_default();
    CHECK(mmf_index_new(0, &p, &ix) == MMF_ERR_ARG);
    p.M = 1;
    CHECK(mmf_index_new(8, &p, &ix) == MMF_ERR_ARG);
    p = mmf_index_params_default();
    CHECK_OK(mmf_index_new(4, &p, &ix));
    float q[4] = {1, 0, 0, 0}, z[4] = {0, 0, 0, 0}, nan4[4] = {NAN, 0, 0, 0};
    int64_t id;
    CHECK(mmf_index_search(ix, 1, q, 1, NULL, &id, NULL) == MMF_ERR_ARG);   /* empty */
    CHECK(strstr(mmf_last_error(), "no vectors") != NULL);
    CHECK(mmf_index_add(ix, 1, z, NULL) == MMF_ERR_ARG);                      /* zero under cosine */
    CHECK(mmf_index_add(ix, 1, nan4, NULL) == MMF_ERR_NUMERIC);
    int64_t dup[2] = {3, 3};
    float two[8] = {1, 0, 0, 0, 0, 1, 0, 0};
    CHECK(mmf_index_add(ix, 2, two, dup) == MMF_ERR_ARG);
    mmf_index_info info;
    mmf_index_get_info(ix, &info);
    CHECK(info.count == 0);
    CHECK_OK(mmf_index_add(ix, 2, two, NULL));
    CHECK(mmf_index_search(ix, 1, q, 0, NULL, &id, NULL) == MMF_ERR_ARG);
    CHECK(mmf_index_search(ix, 1, z, 1, NULL, &id, NULL) == MMF_ERR_NUMERIC);
    /* k beyond the count: the rest is -1 / NaN */
    int64_t ids[5];
    float sc[5];
    CHECK_OK(mmf_index_search(ix, 1, q, 5, NULL, ids, sc));
    CHECK(ids[0] == 0 && ids[1] == 1 && ids[2] == -1 && ids[4] == -1 && isnan(sc[3]));
    CHECK_NEAR(sc[0], 1.0, 1e-6);
    CHECK_NEAR(sc[1], 0.0, 1e-6);
    mmf_metric m;
    CHECK(mmf_metric_parse("cos", &m) == MMF_ERR_ARG);
    CHECK_OK(mmf_metric_parse("l2", &m));
    CHECK(m == MMF_METRIC_L2);
    mmf_index_free(ix);
}

/* An empty index saved, reopened (mapped) and then added to: the first add
 * copies the mapping onto the heap, which for an empty file holds nothing
 * (mmfuse serve starts every new --index this way). */
static void test_empty_reopened(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/empty.mmfidx", dir);
    mmf_index_params p = mmf_index_params_default();
    mmf_index *ix;
    CHECK_OK(mmf_index_new(4, &p, &ix));
    CHECK_OK(mmf_index_save(ix, path));
    mmf_index_free(ix);
    CHECK_OK(mmf_index_open(path, &ix));
    const float v[8] = {1, 0, 0, 0, 0, 1, 0, 0};
    CHECK_OK(mmf_index_add(ix, 2, v, NULL));
    int64_t id = -1;
    CHECK_OK(mmf_index_search(ix, 1, v + 4, 1, NULL, &id, NULL));
    CHECK_MSG(id == 1, "nearest to the second vector: id %lld", (long long)id);
    mmf_index_free(ix);
}

int main(void) {
    char dir[256];
    t_tmpdir(dir, sizeof dir);
    test_exact();
    test_hnsw_recall();
    test_delete_and_persist(dir);
    test_bad_files(dir);
    test_bad_args();
    test_empty_reopened(dir);
    return t_done("test_index");
}
