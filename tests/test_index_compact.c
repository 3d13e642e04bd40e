/* mmf_index_compact: after deleting most items of an HNSW index, compaction
 * keeps exactly the living ids with their names and payloads, hands out no
 * deleted id again, shrinks the saved file, and its recall@10 against brute
 * force (computed here in double precision, independent of the library's BLAS
 * path) is within 0.01 of an index built fresh from the survivors. Search over
 * the tombstoned index before compaction keeps its recall too. FLAT and INT8
 * indexes compact as well. */
#include <stdint.h>
#include <sys/stat.h>
#include "test_util.h"
#include "index_testdata.h"

#define N 3000
#define D 24
#define NQ 200
#define K 10

static int streq(const char *a, const char *b) { return a && b && !strcmp(a, b); }
static long file_size(const char *p) { struct stat st; return stat(p, &st) ? -1 : (long)st.st_size; }

/* the K nearest live rows of x to q by cosine, best first, in double */
static void brute(const float *x, const int *alive, const float *q, int64_t *out) {
    double best[K];
    for (int j = 0; j < K; j++) { best[j] = -2; out[j] = -1; }
    double qn = 0;
    for (int t = 0; t < D; t++) qn += (double)q[t] * q[t];
    for (size_t i = 0; i < N; i++) {
        if (!alive[i]) continue;
        double dot = 0, nn = 0;
        for (int t = 0; t < D; t++) { dot += (double)x[i * D + t] * q[t]; nn += (double)x[i * D + t] * x[i * D + t]; }
        double c = dot / sqrt(nn * qn);
        if (c <= best[K - 1]) continue;
        int j = K - 1;
        while (j > 0 && best[j - 1] < c) { best[j] = best[j - 1]; out[j] = out[j - 1]; j--; }
        best[j] = c;
        out[j] = (int64_t)(1000 + i);
    }
}

static double recall(const mmf_index *ix, const float *qs, const int64_t *truth) {
    int64_t got[NQ * K];
    mmf_search_params sp = mmf_search_params_default();
    if (mmf_index_search(ix, NQ, qs, K, &sp, got, NULL)) return -1;
    long hit = 0;
    for (int q = 0; q < NQ; q++)
        for (int a = 0; a < K; a++)
            for (int b = 0; b < K; b++)
                if (got[q * K + a] == truth[q * K + b] && truth[q * K + b] >= 0) { hit++; break; }
    return (double)hit / (NQ * K);
}

static void test_hnsw(const char *dir) {
    float *x = td_clustered(N + NQ, D, 30, 1.0f, 11, NULL);
    const float *qs = x + (size_t)N * D;   /* the queries: further draws around the same centres */
    int64_t *ids = malloc(N * sizeof *ids);
    char **names = malloc(N * sizeof *names), **pays = malloc(N * sizeof *pays);
    int *alive = malloc(N * sizeof *alive);
    for (size_t i = 0; i < N; i++) {
        ids[i] = (int64_t)(1000 + i);
        names[i] = malloc(32); snprintf(names[i], 32, "item-%zu", i);
        pays[i] = malloc(48); snprintf(pays[i], 48, "{\"i\":%zu}", i);
        alive[i] = 1;
    }
    mmf_index_params p = mmf_index_params_default();
    p.ef_construction = 40;
    p.M = 8;
    p.ef_search = 10;   /* a narrow walk, so recall is not trivially 1 */
    mmf_index *ix;
    CHECK_OK(mmf_index_new(D, &p, &ix));
    CHECK_OK(mmf_index_add_named(ix, N, x, ids, (const char *const *)names, (const char *const *)pays));
    CHECK_OK(mmf_index_set_source(ix, "bert-0123456789abcdef", "text"));
    /* delete 70%: two thirds at random, then whole stretches */
    size_t n_del = 0;
    td_state = 99;
    for (size_t i = 0; i < N; i++)
        if (td_next() % 3 != 0 || (i >= 500 && i < 900) || i == N - 1) { CHECK_OK(mmf_index_delete(ix, ids[i])); alive[i] = 0; n_del++; }
    char before[300], after[300];
    snprintf(before, sizeof before, "%s/tomb.idx", dir);
    snprintf(after, sizeof after, "%s/compact.idx", dir);
    CHECK_OK(mmf_index_save(ix, before));

    int64_t *truth = malloc(NQ * K * sizeof *truth);
    for (int q = 0; q < NQ; q++) brute(x, alive, qs + q * D, truth + q * K);
    double r_tomb = recall(ix, qs, truth);

    /* a fresh index of the survivors, in the same order */
    size_t live = N - n_del, j = 0;
    float *xs = malloc(live * D * sizeof *xs);
    int64_t *is = malloc(live * sizeof *is);
    for (size_t i = 0; i < N; i++)
        if (alive[i]) { memcpy(xs + j * D, x + i * D, D * sizeof *xs); is[j++] = ids[i]; }
    mmf_index *fresh;
    CHECK_OK(mmf_index_new(D, &p, &fresh));
    CHECK_OK(mmf_index_add(fresh, live, xs, is));
    double r_fresh = recall(fresh, qs, truth);

    CHECK_OK(mmf_index_compact(ix));
    mmf_index_info in;
    mmf_index_get_info(ix, &in);
    CHECK_MSG(in.count == live && in.deleted == 0, "count %zu deleted %zu, want %zu and 0", in.count, in.deleted, live);
    double r_comp = recall(ix, qs, truth);
    printf("recall@%d on %zu survivors of %d: tombstoned %.4f, compacted %.4f, fresh %.4f\n", K, live, N, r_tomb, r_comp, r_fresh);
    CHECK_MSG(r_fresh > 0.9, "fresh recall %.4f", r_fresh);
    CHECK_MSG(fabs(r_comp - r_fresh) <= 0.01, "compacted recall %.4f vs fresh %.4f", r_comp, r_fresh);
    CHECK_MSG(r_tomb >= r_fresh - 0.01, "tombstoned recall %.4f vs fresh %.4f", r_tomb, r_fresh);

    CHECK_OK(mmf_index_save(ix, after));
    long sb = file_size(before), sa = file_size(after);
    printf("index file: %ld bytes with tombstones, %ld compacted\n", sb, sa);
    CHECK_MSG(sa > 0 && sa < sb * 0.5, "compacted file %ld bytes vs %ld", sa, sb);
    mmf_index_free(ix);
    CHECK_OK(mmf_index_open(after, &ix));   /* what a restart sees */
    const char *model, *tensor;
    mmf_index_get_source(ix, &model, &tensor);
    CHECK(streq(model, "bert-0123456789abcdef") && streq(tensor, "text"));
    int bad_live = 0, bad_dead = 0;
    for (size_t i = 0; i < N; i++) {
        const char *nm = mmf_index_item_name(ix, ids[i]), *pl = mmf_index_item_payload(ix, ids[i]);
        if (alive[i]) bad_live += !streq(nm, names[i]) || !streq(pl, pays[i]);
        else bad_dead += nm != NULL || mmf_index_delete(ix, ids[i]) != MMF_ERR_NOT_FOUND;
    }
    CHECK_MSG(bad_live == 0, "%d living items lost their name or payload", bad_live);
    CHECK_MSG(bad_dead == 0, "%d deleted items came back", bad_dead);
    /* exact search over everything never returns a deleted id */
    int64_t *all = malloc(live * sizeof *all);
    mmf_search_params sp = mmf_search_params_default();
    sp.exact = 1;
    CHECK_OK(mmf_index_search(ix, 1, qs, (int)live, &sp, all, NULL));
    int dead_hits = 0, dup = 0;
    for (size_t a = 0; a < live; a++) {
        dead_hits += all[a] < 1000 || all[a] >= 1000 + N || !alive[all[a] - 1000];
        for (size_t b = 0; b < a; b++) dup += all[a] == all[b];
    }
    CHECK_MSG(dead_hits == 0 && dup == 0, "%d deleted and %d repeated ids among all hits", dead_hits, dup);
    CHECK_NEAR(recall(ix, qs, truth), r_comp, 1e-9);
    /* automatic ids continue after every id ever given, deleted ones included */
    CHECK_OK(mmf_index_add(ix, 1, x, NULL));
    mmf_index_info in2;
    mmf_index_get_info(ix, &in2);
    CHECK(in2.count == live + 1);
    CHECK(mmf_index_delete(ix, 1000 + N) == MMF_OK);   /* the new item took id 1000+N: the largest, deleted, id is not reused */
    /* nothing to drop: a no-op */
    CHECK_OK(mmf_index_compact(fresh));
    mmf_index_free(ix);
    mmf_index_free(fresh);
    for (size_t i = 0; i < N; i++) { free(names[i]); free(pays[i]); }
    free(x); free(ids); free(names); free(pays); free(alive); free(truth); free(xs); free(is); free(all);
}

/* FLAT and INT8 HNSW, unnamed items, everything deleted, the empty result */
static void test_kinds(void) {
    for (int v = 0; v < 2; v++) {
        float *x = td_clustered(300, 8, 4, 0.5f, 5, NULL);
        mmf_index_params p = mmf_index_params_default();
        if (v == 0) p.kind = MMF_INDEX_FLAT; else p.quant = MMF_QUANT_INT8;
        mmf_index *ix;
        CHECK_OK(mmf_index_new(8, &p, &ix));
        CHECK_OK(mmf_index_add(ix, 300, x, NULL));
        for (int64_t i = 0; i < 300; i += 2) CHECK_OK(mmf_index_delete(ix, i));
        CHECK_OK(mmf_index_compact(ix));
        mmf_index_info in;
        mmf_index_get_info(ix, &in);
        CHECK(in.count == 150 && in.deleted == 0 && in.quant == p.quant && in.kind == p.kind);
        int64_t got[5];
        float sc[5];
        CHECK_OK(mmf_index_search(ix, 1, x + 3 * 8, 5, NULL, got, sc));
        CHECK_MSG(got[0] == 3 && fabs(sc[0] - 1) < 1e-3, "kind %d: nearest to item 3 is %lld (%g)", v, (long long)got[0], sc[0]);
        for (int a = 0; a < 5; a++) CHECK(got[a] % 2 == 1);
        for (int64_t i = 1; i < 300; i += 2) CHECK_OK(mmf_index_delete(ix, i));
        CHECK_OK(mmf_index_compact(ix));
        mmf_index_get_info(ix, &in);
        CHECK(in.count == 0 && in.deleted == 0);
        CHECK_OK(mmf_index_add(ix, 1, x, NULL));
        CHECK_OK(mmf_index_delete(ix, 300));   /* ids keep counting after the dropped ones */
        mmf_index_free(ix);
        free(x);
    }
    CHECK(mmf_index_compact(NULL) == MMF_ERR_ARG);
}

int main(void) {
    char dir[256];
    t_tmpdir(dir, sizeof dir);
    test_hnsw(dir);
    test_kinds();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return t_done("test_index_compact");
}
