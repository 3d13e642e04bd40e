/* The tape ops that reduce over the ranks of a data-parallel batch
 * (mmf_tape_set_comm): batchnorm with the whole batch's statistics and the
 * contrastive loss over all-gathered rows (mmf_t_gather_rows, mmf_t_infonce).
 * Two ranks are two threads here, joined by an in-process all-reduce, each
 * with its own tape and a slice of one batch (3 + 4 rows: unequal shares).
 * Each rank's loss is a mean over its rows and the gradients are combined the
 * way the fit loop combines them (weighted by each rank's share, summed);
 * values, losses, gradients and batchnorm's running statistics must equal one
 * process's on the whole batch. */
#include "test_util.h"
#include "train/conv.h"
#include "train/tape.h"
#include <pthread.h>
#include <string.h>

#define R 2
#define MAXN 4096

/* ------------------------------------------------------------ two ranks in one process */

typedef struct bus { pthread_barrier_t bar; double slot[R][MAXN]; } bus;
typedef struct rank_ctx { bus *b; int rank; } rank_ctx;

/* sum in rank order, so both ranks get the same bits */
static int bus_allreduce(void *buf, size_t n, mmf_dtype dt, mmf_comm_op op, void *user) {
    rank_ctx *c = user;
    if (op != MMF_COMM_SUM || n > MAXN) return 1;
    for (size_t i = 0; i < n; i++)
        c->b->slot[c->rank][i] = dt == MMF_DT_F32 ? ((float *)buf)[i] : dt == MMF_DT_F64 ? ((double *)buf)[i]
                               : dt == MMF_DT_I64 ? (double)((int64_t *)buf)[i] : (double)((int32_t *)buf)[i];
    pthread_barrier_wait(&c->b->bar);
    for (size_t i = 0; i < n; i++) {
        double s = 0.0;
        for (int r = 0; r < R; r++) s += c->b->slot[r][i];
        if (dt == MMF_DT_F32) {   /* float sums, as MPI's on floats */
            float f = 0.0f;
            for (int r = 0; r < R; r++) f += (float)c->b->slot[r][i];
            ((float *)buf)[i] = f;
        } else if (dt == MMF_DT_F64) ((double *)buf)[i] = s;
        else if (dt == MMF_DT_I64) ((int64_t *)buf)[i] = (int64_t)s;
        else ((int32_t *)buf)[i] = (int32_t)s;
    }
    pthread_barrier_wait(&c->b->bar);
    return 0;
}

/* ------------------------------------------------------------ the cases */

enum { N = 7, C = 3, HW = 4 * 4, E = 5 };
static const int LO[R + 1] = {0, 3, N};   /* rank r holds rows LO[r] .. LO[r+1]-1 */

static float X[N * C * HW], G0[C], B0[C], RW[N * C * HW];
static float A[N * E], Bv[N * E], LS[1] = {1.3f};

/* what one run returns: loss, output rows, gradients, running statistics */
typedef struct result {
    double loss;
    float y[N * C * HW], dx[N * C * HW], dg[C], db[C], rm[C], rv[C];
    float da[N * E], dbv[N * E], dls;
} result;

/* batchnorm + ReLU on rows [lo, hi) of X; loss = mean over the rows of sum(y * RW) */
static void bn_case(mmf_tape *tp, int lo, int hi, result *o) {
    int n = hi - lo;
    mmf_tape_reset(tp);
    mmf_tape_set_training(tp, 1);
    mmf_var x = mmf_t_leaf(tp, X + lo * C * HW, 4, (int64_t[]){n, C, 4, 4});
    mmf_var g = mmf_t_leaf(tp, G0, 1, (int64_t[]){C}), b = mmf_t_leaf(tp, B0, 1, (int64_t[]){C});
    for (int c = 0; c < C; c++) { o->rm[c] = 0.1f * (float)c; o->rv[c] = 1.0f + 0.5f * (float)c; }
    mmf_var y = mmf_t_batchnorm_relu(tp, x, g, b, o->rm, o->rv, 0.1f, 1e-5f);
    mmf_var w = mmf_t_const(tp, RW + lo * C * HW, 4, (int64_t[]){n, C, 4, 4});
    mmf_var L = mmf_t_scale(tp, mmf_t_sum_all(tp, mmf_t_mul(tp, y, w)), 1.0f / (float)n, 0.0f);
    CHECK_OK(mmf_tape_status(tp));
    CHECK_OK(mmf_tape_backward(tp, L));
    if (mmf_tape_status(tp)) return;
    o->loss = mmf_tape_var(tp, L)->v[0];
    memcpy(o->y + lo * C * HW, mmf_tape_var(tp, y)->v, (size_t)n * C * HW * sizeof(float));
    memcpy(o->dx + lo * C * HW, mmf_tape_var(tp, x)->g, (size_t)n * C * HW * sizeof(float));
    memcpy(o->dg, mmf_tape_var(tp, g)->g, sizeof o->dg);
    memcpy(o->db, mmf_tape_var(tp, b)->g, sizeof o->db);
}

/* symmetric InfoNCE of rows [lo, hi) of A and Bv (against the whole batch under a comm) */
static void nce_case(mmf_tape *tp, int lo, int hi, result *o) {
    int n = hi - lo;
    mmf_tape_reset(tp);
    mmf_tape_set_training(tp, 1);
    mmf_var a = mmf_t_leaf(tp, A + lo * E, 2, (int64_t[]){n, E}), b = mmf_t_leaf(tp, Bv + lo * E, 2, (int64_t[]){n, E});
    mmf_var s = mmf_t_leaf(tp, LS, 1, (int64_t[]){1});
    mmf_var L = mmf_t_infonce(tp, a, b, s);
    CHECK_OK(mmf_tape_status(tp));
    CHECK_OK(mmf_tape_backward(tp, L));
    if (mmf_tape_status(tp)) return;
    o->loss = mmf_tape_var(tp, L)->v[0];
    memcpy(o->da + lo * E, mmf_tape_var(tp, a)->g, (size_t)n * E * sizeof(float));
    memcpy(o->dbv + lo * E, mmf_tape_var(tp, b)->g, (size_t)n * E * sizeof(float));
    o->dls = mmf_tape_var(tp, s)->g[0];
}

typedef struct job { bus *b; int rank; result *out; } job;

static void *rank_main(void *arg) {
    job *j = arg;
    rank_ctx rc = {j->b, j->rank};
    mmf_comm comm = {.rank = j->rank, .size = R, .allreduce = bus_allreduce, .user = &rc};
    mmf_tape *tp = mmf_tape_new(1, 5);
    mmf_tape_set_comm(tp, &comm);
    bn_case(tp, LO[j->rank], LO[j->rank + 1], &j->out[0]);
    nce_case(tp, LO[j->rank], LO[j->rank + 1], &j->out[1]);
    mmf_tape_free(tp);
    return NULL;
}

static double maxdiff(const float *a, const float *b, int n) {
    double m = 0.0;
    for (int i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

int main(void) {
    mmf_rng rng;
    mmf_rng_seed(&rng, 11);
    for (int i = 0; i < N * C * HW; i++) { X[i] = 2.0f * mmf_rng_normal(&rng) + 0.5f; RW[i] = mmf_rng_normal(&rng); }
    for (int c = 0; c < C; c++) { G0[c] = 1.0f + 0.3f * mmf_rng_normal(&rng); B0[c] = 0.2f * mmf_rng_normal(&rng); }
    for (int i = 0; i < N * E; i++) { A[i] = mmf_rng_normal(&rng); Bv[i] = A[i] + 0.7f * mmf_rng_normal(&rng); }

    static result one[2], two[R][2];
    mmf_tape *tp = mmf_tape_new(1, 5);
    bn_case(tp, 0, N, &one[0]);
    nce_case(tp, 0, N, &one[1]);
    mmf_tape_free(tp);

    static bus b;
    pthread_barrier_init(&b.bar, NULL, R);
    pthread_t th[R];
    job jobs[R];
    for (int r = 0; r < R; r++) {
        jobs[r] = (job){&b, r, two[r]};
        pthread_create(&th[r], NULL, rank_main, &jobs[r]);
    }
    for (int r = 0; r < R; r++) pthread_join(th[r], NULL);
    pthread_barrier_destroy(&b.bar);

    /* combine as the fit loop does: share-weighted sums of losses and parameter gradients;
     * a rank's input gradient times its share is one process's for those rows */
    static result comb;
    for (int r = 0; r < R; r++) {
        double w = (double)(LO[r + 1] - LO[r]) / N;
        for (int c = 0; c < C; c++) { comb.dg[c] += (float)(w * two[r][0].dg[c]); comb.db[c] += (float)(w * two[r][0].db[c]); }
        for (int i = LO[r] * C * HW; i < LO[r + 1] * C * HW; i++) { comb.y[i] = two[r][0].y[i]; comb.dx[i] = (float)(w * two[r][0].dx[i]); }
        for (int i = LO[r] * E; i < LO[r + 1] * E; i++) { comb.da[i] = (float)(w * two[r][1].da[i]); comb.dbv[i] = (float)(w * two[r][1].dbv[i]); }
        comb.dls += (float)(w * two[r][1].dls);
    }
    double bl = 0.0, nl = 0.0;
    for (int r = 0; r < R; r++) {
        double w = (double)(LO[r + 1] - LO[r]) / N;
        bl += w * two[r][0].loss;
        nl += w * two[r][1].loss;
    }
    double ys = 0.0;
    for (int i = 0; i < N * C * HW; i++) ys = fmax(ys, fabs(one[0].y[i]));
    CHECK_MSG(maxdiff(comb.y, one[0].y, N * C * HW) <= 1e-5 * ys, "batchnorm values: %g", maxdiff(comb.y, one[0].y, N * C * HW));
    CHECK_NEAR(bl, one[0].loss, 1e-5 * fabs(one[0].loss) + 1e-6);
    CHECK_MSG(maxdiff(comb.dx, one[0].dx, N * C * HW) <= 1e-5, "batchnorm dx: %g", maxdiff(comb.dx, one[0].dx, N * C * HW));
    CHECK_MSG(maxdiff(comb.dg, one[0].dg, C) <= 1e-5, "batchnorm dgamma: %g", maxdiff(comb.dg, one[0].dg, C));
    CHECK_MSG(maxdiff(comb.db, one[0].db, C) <= 1e-5, "batchnorm dbeta: %g", maxdiff(comb.db, one[0].db, C));
    for (int r = 0; r < R; r++) {   /* every rank keeps the whole batch's running statistics */
        CHECK_MSG(maxdiff(two[r][0].rm, one[0].rm, C) <= 1e-6, "rank %d running mean: %g", r, maxdiff(two[r][0].rm, one[0].rm, C));
        CHECK_MSG(maxdiff(two[r][0].rv, one[0].rv, C) <= 1e-5, "rank %d running var: %g", r, maxdiff(two[r][0].rv, one[0].rv, C));
    }
    CHECK_NEAR(nl, one[1].loss, 1e-5 * fabs(one[1].loss));
    CHECK_MSG(maxdiff(comb.da, one[1].da, N * E) <= 1e-6, "infonce da: %g", maxdiff(comb.da, one[1].da, N * E));
    CHECK_MSG(maxdiff(comb.dbv, one[1].dbv, N * E) <= 1e-6, "infonce db: %g", maxdiff(comb.dbv, one[1].dbv, N * E));
    CHECK_NEAR(comb.dls, one[1].dls, 1e-5);
    /* the gradients are not trivially zero */
    CHECK(fabs(one[1].dls) > 1e-4 && fabs(one[0].dg[0]) > 1e-4 && fabs(one[0].dx[5]) > 0.0f && fabs(one[1].da[0]) > 0.0f);
    printf("batchnorm: dx %.2g, dgamma %.2g; infonce: loss %.2g, da %.2g, dscale %.2g\n", maxdiff(comb.dx, one[0].dx, N * C * HW),
           maxdiff(comb.dg, one[0].dg, C), fabs(nl - one[1].loss), maxdiff(comb.da, one[1].da, N * E), fabs(comb.dls - one[1].dls));
    printf("%d checks, %d failures\n", t_checks, t_failures);
    return t_failures ? 1 : 0;
}
