/* Parameter gradients across optimiser steps (mmf_param_info.grad_stale): the
 * optimiser leaves gradients stale instead of zeroing them, and the next
 * backward pass overwrites them on a parameter's first use and adds on the
 * later ones. Checked against gradients computed here in double:
 *  - W used by two linear layers (through one variable) and by an elementwise
 *    product (through a second variable over the same parameter): all three
 *    contributions add up, in fp32 and in bf16 training mode;
 *  - a second step after an optimiser step gives the new gradients, not old + new;
 *  - a parameter used in the first step only gets a zero gradient in the
 *    second: plain SGD leaves it where the first step put it;
 *  - a parameter read through a reshape (an alias of its gradient buffer)
 *    after a step gets its new gradient, not old + new;
 *  - mmf_t_view (a constant over caller memory) gives the same values and
 *    gradients downstream as mmf_t_const, and has no gradient itself;
 *  - the optimiser's step gives bit-identical parameters with 1 and 2
 *    threads (its work is cut the same way for any count);
 *  - deferred AdamW updates (applied inside the next bf16 linear forward, or
 *    when a parameter is next read, or by the flush) give bit-identical
 *    parameters to the updates applied in the step, including a parameter
 *    left out of a step;
 *  - AdamW keeping the bf16 weight copy stays within 1e-6 of the plain
 *    update over steps, and the copy is the rounded weight;
 *  - bf16: a weight read by one linear layer only gets the sum of squares of
 *    its gradient from the GEMM (1 and 2 threads), and the optimiser's
 *    gradient norm equals the norm over all gradients computed here. */
#include "test_util.h"
#include "train/tape.h"
#include "train/optim.h"
#include "core/gemm_bf16.h"
#include "core/tensor.h"

enum { R = 6, IC = 48, OC = 32 };

static double bfr(float x, int bf) { return bf ? (double)mmf_bf16_to_f32(mmf_f32_to_bf16(x)) : (double)x; }

static void run(int bf) {
    mmf_params ps;
    mmf_params_init(&ps);
    int iw = mmf_params_add(&ps, "W", 2, (int64_t[]){OC, IC}, MMF_INIT_LINEAR, 0);
    int ib = mmf_params_add(&ps, "b", 1, (int64_t[]){OC}, MMF_INIT_UNIFORM, 0.5f);
    int iu = mmf_params_add(&ps, "u", 1, (int64_t[]){OC}, MMF_INIT_UNIFORM, 0.5f);
    mmf_rng r;
    mmf_rng_seed(&r, 7);
    CHECK_OK(mmf_params_alloc(&ps, &r));
    mmf_optim_params op = mmf_optim_params_default();
    op.kind = MMF_OPT_SGD;
    op.momentum = 0.0f;
    op.weight_decay = 0.0f;
    op.lr = 0.01f;
    mmf_optim o;
    CHECK_OK(mmf_optim_init(&o, &ps, &op));
    mmf_tape *tp = mmf_tape_new(1, 3);
    if (bf) CHECK_OK(mmf_tape_set_bf16(tp, 1));
    float x1[R * IC], x2[R * IC], G1[R * OC], G2[R * OC], G3[OC * IC], c[OC];
    float u_after_first[OC];
    for (int step = 0; step < 2; step++) {
        for (int i = 0; i < R * IC; i++) { x1[i] = mmf_rng_normal(&r); x2[i] = mmf_rng_normal(&r); }
        for (int i = 0; i < R * OC; i++) { G1[i] = mmf_rng_normal(&r); G2[i] = mmf_rng_normal(&r); }
        for (int i = 0; i < OC * IC; i++) G3[i] = mmf_rng_normal(&r);
        for (int i = 0; i < OC; i++) c[i] = mmf_rng_normal(&r);
        mmf_tape_reset(tp);
        mmf_var W = mmf_t_param(tp, &ps, iw), W2 = mmf_t_param(tp, &ps, iw), b = mmf_t_param(tp, &ps, ib);
        mmf_var y1 = mmf_t_linear(tp, mmf_t_const(tp, x1, 2, (int64_t[]){R, IC}), W, b);
        mmf_var y2 = mmf_t_linear(tp, mmf_t_const(tp, x2, 2, (int64_t[]){R, IC}), W, b);
        /* L = sum(G1 y1) + sum(G2 y2) + sum(G3 W) [+ sum(c u) in the first step only] */
        mmf_var L = mmf_t_add(tp, mmf_t_sum_all(tp, mmf_t_mul(tp, y1, mmf_t_const(tp, G1, 2, (int64_t[]){R, OC}))),
                              mmf_t_sum_all(tp, mmf_t_mul(tp, y2, mmf_t_const(tp, G2, 2, (int64_t[]){R, OC}))));
        L = mmf_t_add(tp, L, mmf_t_sum_all(tp, mmf_t_mul(tp, W2, mmf_t_const(tp, G3, 2, (int64_t[]){OC, IC}))));
        if (step == 0)
            L = mmf_t_add(tp, L, mmf_t_sum_all(tp, mmf_t_mul(tp, mmf_t_param(tp, &ps, iu), mmf_t_const(tp, c, 1, (int64_t[]){OC}))));
        CHECK_OK(mmf_tape_status(tp));
        CHECK_OK(mmf_tape_backward(tp, L));
        /* expected: dW = G1^T x1 + G2^T x2 + G3 (bf16 mode rounds the GEMM operands), db = column sums of G1 + G2 */
        float *eW = malloc(sizeof(float) * OC * IC), eb[OC];
        double sw = 0.0;
        for (int oc = 0; oc < OC; oc++) {
            double sb = 0.0;
            for (int i = 0; i < R; i++) sb += (double)G1[i * OC + oc] + G2[i * OC + oc];
            eb[oc] = (float)sb;
            for (int k = 0; k < IC; k++) {
                double s = G3[oc * IC + k], a = fabs(s);
                for (int i = 0; i < R; i++) {
                    double t1 = bfr(G1[i * OC + oc], bf) * bfr(x1[i * IC + k], bf), t2 = bfr(G2[i * OC + oc], bf) * bfr(x2[i * IC + k], bf);
                    s += t1 + t2;
                    a += fabs(t1) + fabs(t2);
                }
                eW[oc * IC + k] = (float)s;
                if (a > sw) sw = a;
            }
        }
        char what[64];
        snprintf(what, sizeof what, "%s step %d: dW", bf ? "bf16" : "fp32", step + 1);
        t_allclose(ps.grad + ps.p[iw].offset, eW, OC * IC, 1e-6 * sw, 1e-6, what);
        snprintf(what, sizeof what, "%s step %d: db", bf ? "bf16" : "fp32", step + 1);
        t_allclose(ps.grad + ps.p[ib].offset, eb, OC, 1e-5, 1e-5, what);
        if (step == 0) {
            snprintf(what, sizeof what, "%s step 1: du", bf ? "bf16" : "fp32");
            t_allclose(ps.grad + ps.p[iu].offset, c, OC, 0.0, 0.0, what);
        }
        free(eW);
        CHECK_OK(mmf_optim_step(&o, &ps));
        if (step == 0) memcpy(u_after_first, mmf_params_value(&ps, iu), sizeof u_after_first);
    }
    /* u had no gradient in the second step: SGD without momentum or decay leaves it */
    t_allclose(mmf_params_value(&ps, iu), u_after_first, OC, 0.0, 0.0, bf ? "bf16: unused parameter after step 2" : "fp32: unused parameter after step 2");
    mmf_tape_free(tp);
    mmf_optim_free(&o);
    mmf_params_free(&ps);
}

/* one linear layer, bf16, big enough (R*IC*OC >= 2^20 multiply-adds) for the
 * GEMM to use all the tape's threads */
static void sumsq_check(int threads) {
    enum { R2 = 64, I2 = 128, O2 = 160 };
    mmf_params ps;
    mmf_params_init(&ps);
    int iw = mmf_params_add(&ps, "W", 2, (int64_t[]){O2, I2}, MMF_INIT_LINEAR, 0);
    int ib = mmf_params_add(&ps, "b", 1, (int64_t[]){O2}, MMF_INIT_UNIFORM, 0.5f);
    mmf_rng r;
    mmf_rng_seed(&r, 11);
    CHECK_OK(mmf_params_alloc(&ps, &r));
    mmf_optim_params op = mmf_optim_params_default();
    op.clip_norm = 1e-3f;   /* clipping on: the norm matters */
    mmf_optim o;
    CHECK_OK(mmf_optim_init(&o, &ps, &op));
    mmf_tape *tp = mmf_tape_new(threads, 5);
    CHECK_OK(mmf_tape_set_bf16(tp, 1));
    float *x = malloc(sizeof(float) * R2 * I2), *G = malloc(sizeof(float) * R2 * O2);
    for (int step = 0; step < 2; step++) {   /* the first step's gradients are not stale yet: no fusion */
        for (int i = 0; i < R2 * I2; i++) x[i] = mmf_rng_normal(&r);
        for (int i = 0; i < R2 * O2; i++) G[i] = mmf_rng_normal(&r);
        mmf_tape_reset(tp);
        mmf_var y = mmf_t_linear(tp, mmf_t_const(tp, x, 2, (int64_t[]){R2, I2}), mmf_t_param(tp, &ps, iw), mmf_t_param(tp, &ps, ib));
        mmf_var L = mmf_t_sum_all(tp, mmf_t_mul(tp, y, mmf_t_const(tp, G, 2, (int64_t[]){R2, O2})));
        CHECK_OK(mmf_tape_status(tp));
        CHECK_OK(mmf_tape_backward(tp, L));
        double all = 0.0, w = 0.0;
        for (int64_t j = 0; j < ps.p[iw].n; j++) w += (double)ps.grad[ps.p[iw].offset + j] * ps.grad[ps.p[iw].offset + j];
        for (int64_t j = 0; j < ps.p[ib].n; j++) all += (double)ps.grad[ps.p[ib].offset + j] * ps.grad[ps.p[ib].offset + j];
        all += w;
        CHECK(ps.p[iw].sumsq_ok == (step == 1));
        if (step == 1) CHECK_NEAR(ps.p[iw].sumsq, w, 1e-5 * w);
        CHECK_OK(mmf_optim_step(&o, &ps));
        CHECK_NEAR(o.last_grad_norm, sqrt(all), 1e-5 * sqrt(all));
    }
    free(x); free(G);
    mmf_tape_free(tp);
    mmf_optim_free(&o);
    mmf_params_free(&ps);
}

static void reshape_check(void) {
    mmf_params ps;
    mmf_params_init(&ps);
    int ic = mmf_params_add(&ps, "c", 1, (int64_t[]){6}, MMF_INIT_UNIFORM, 1.0f);
    mmf_rng r;
    mmf_rng_seed(&r, 9);
    CHECK_OK(mmf_params_alloc(&ps, &r));
    mmf_optim_params op = mmf_optim_params_default();
    op.kind = MMF_OPT_SGD;
    op.momentum = 0.0f;
    mmf_optim o;
    CHECK_OK(mmf_optim_init(&o, &ps, &op));
    mmf_tape *tp = mmf_tape_new(1, 1);
    for (int step = 0; step < 3; step++) {
        float w[6];
        for (int i = 0; i < 6; i++) w[i] = (float)(step * 6 + i) - 4.0f;
        mmf_tape_reset(tp);
        mmf_var c2 = mmf_t_reshape(tp, mmf_t_param(tp, &ps, ic), 2, (int64_t[]){2, 3});
        mmf_var L = mmf_t_sum_all(tp, mmf_t_mul(tp, c2, mmf_t_const(tp, w, 2, (int64_t[]){2, 3})));
        CHECK_OK(mmf_tape_status(tp));
        CHECK_OK(mmf_tape_backward(tp, L));
        t_allclose(ps.grad + ps.p[ic].offset, w, 6, 0.0, 0.0, "gradient through a reshape of a parameter");
        CHECK_OK(mmf_optim_step(&o, &ps));
    }
    mmf_tape_free(tp);
    mmf_optim_free(&o);
    mmf_params_free(&ps);
}

static void threads_check(void) {
    float *res[2];
    for (int t = 0; t < 2; t++) {
        mmf_params ps;
        mmf_params_init(&ps);
        mmf_params_add(&ps, "A", 2, (int64_t[]){300, 301}, MMF_INIT_LINEAR, 0);
        mmf_params_add(&ps, "b", 1, (int64_t[]){301}, MMF_INIT_UNIFORM, 0.1f);
        mmf_params_add(&ps, "C", 2, (int64_t[]){17, 1000}, MMF_INIT_LINEAR, 0);
        mmf_rng r;
        mmf_rng_seed(&r, 21);
        CHECK_OK(mmf_params_alloc(&ps, &r));
        mmf_optim_params op = mmf_optim_params_default();
        op.clip_norm = 1.0f;
        op.n_threads = t + 1;
        mmf_optim o;
        CHECK_OK(mmf_optim_init(&o, &ps, &op));
        for (int step = 0; step < 3; step++) {
            mmf_params_zero_grad(&ps);
            for (int64_t j = 0; j < ps.total; j++) ps.grad[j] = mmf_rng_normal(&r) * 0.01f;
            CHECK_OK(mmf_optim_step(&o, &ps));
        }
        res[t] = malloc(sizeof(float) * (size_t)ps.total);
        memcpy(res[t], ps.data, sizeof(float) * (size_t)ps.total);
        if (t == 1) CHECK_MSG(!memcmp(res[0], res[1], sizeof(float) * (size_t)ps.total), "optimiser: 1 and 2 threads differ");
        mmf_optim_free(&o);
        mmf_params_free(&ps);
    }
    free(res[0]); free(res[1]);
}

static void view_check(void) {
    float x[4 * 5], w[3 * 5];
    for (int i = 0; i < 20; i++) x[i] = (float)(i % 7) - 3.0f;
    for (int i = 0; i < 15; i++) w[i] = 0.25f * (float)(i % 5) - 0.5f;
    float out[2][12], gw[2][15];
    for (int k = 0; k < 2; k++) {
        mmf_tape *tp = mmf_tape_new(1, 1);
        mmf_var X = k ? mmf_t_view(tp, x, 2, (int64_t[]){4, 5}) : mmf_t_const(tp, x, 2, (int64_t[]){4, 5});
        mmf_var W = mmf_t_leaf(tp, w, 2, (int64_t[]){3, 5});
        mmf_var y = mmf_t_linear(tp, X, W, -1);
        CHECK_OK(mmf_tape_backward(tp, mmf_t_sum_all(tp, mmf_t_mul(tp, y, y))));
        CHECK(mmf_tape_var(tp, X)->g == NULL);
        if (k) CHECK(mmf_tape_var(tp, X)->v == x);
        memcpy(out[k], mmf_tape_var(tp, y)->v, sizeof out[k]);
        memcpy(gw[k], mmf_tape_var(tp, W)->g, sizeof gw[k]);
        mmf_tape_free(tp);
    }
    CHECK(!memcmp(out[0], out[1], sizeof out[0]) && !memcmp(gw[0], gw[1], sizeof gw[0]));
}

/* W [O3, I3] through a bf16 linear layer (rows > batch: the y^T = W x^T
 * path with the fused update), bias b, and c used in steps 0 and 2 only; in
 * step 3 W is read through two deferred variables made before either layer
 * runs (the second must not apply the update again) */
static void defer_check(void) {
    enum { R3 = 8, I3 = 40, O3 = 61 };
    float *res[2];
    for (int d = 0; d < 2; d++) {
        mmf_params ps;
        mmf_params_init(&ps);
        int iw = mmf_params_add(&ps, "W", 2, (int64_t[]){O3, I3}, MMF_INIT_LINEAR, 0);
        int ib = mmf_params_add(&ps, "b", 1, (int64_t[]){O3}, MMF_INIT_UNIFORM, 0.3f);
        int ic = mmf_params_add(&ps, "c", 1, (int64_t[]){O3}, MMF_INIT_UNIFORM, 0.3f);
        mmf_rng r;
        mmf_rng_seed(&r, 33);
        CHECK_OK(mmf_params_alloc(&ps, &r));
        CHECK_OK(mmf_params_bf16_shadow(&ps));
        mmf_optim_params op = mmf_optim_params_default();
        op.clip_norm = 0.5f;
        op.defer = d;
        mmf_optim o;
        CHECK_OK(mmf_optim_init(&o, &ps, &op));
        mmf_tape *tp = mmf_tape_new(1, 2);
        CHECK_OK(mmf_tape_set_bf16(tp, 1));
        float x[R3 * I3], G[R3 * O3];
        for (int step = 0; step < 4; step++) {
            for (int i = 0; i < R3 * I3; i++) x[i] = mmf_rng_normal(&r);
            for (int i = 0; i < R3 * O3; i++) G[i] = mmf_rng_normal(&r);
            mmf_tape_reset(tp);
            mmf_var W1 = mmf_t_param_deferred(tp, &ps, iw), W2 = step == 3 ? mmf_t_param_deferred(tp, &ps, iw) : -1;
            mmf_var xv = mmf_t_const(tp, x, 2, (int64_t[]){R3, I3});
            mmf_var y = mmf_t_linear(tp, xv, W1, mmf_t_param(tp, &ps, ib));
            if (W2 >= 0) y = mmf_t_add(tp, y, mmf_t_linear(tp, xv, W2, -1));
            if (step % 2 == 0) y = mmf_t_mul(tp, y, mmf_t_param(tp, &ps, ic));
            mmf_var L = mmf_t_sum_all(tp, mmf_t_mul(tp, y, mmf_t_const(tp, G, 2, (int64_t[]){R3, O3})));
            CHECK_OK(mmf_tape_status(tp));
            CHECK_OK(mmf_tape_backward(tp, L));
            CHECK_OK(mmf_optim_step(&o, &ps));
            CHECK(ps.p[iw].pending == (d == 1));
        }
        mmf_optim_flush(&o, &ps);
        CHECK(!ps.p[iw].pending && !ps.p[ib].pending && !ps.p[ic].pending);
        res[d] = malloc(sizeof(float) * (size_t)ps.total);
        memcpy(res[d], ps.data, sizeof(float) * (size_t)ps.total);
        if (d == 1) CHECK_MSG(!memcmp(res[0], res[1], sizeof(float) * (size_t)ps.total), "deferred AdamW updates differ from immediate ones");
        mmf_tape_free(tp);
        mmf_optim_free(&o);
        mmf_params_free(&ps);
    }
    free(res[0]); free(res[1]);
}

static void shadow_update_check(void) {
    float *res[2];
    mmf_params keep;
    for (int d = 0; d < 2; d++) {
        mmf_params ps;
        mmf_params_init(&ps);
        mmf_params_add(&ps, "W", 2, (int64_t[]){37, 29}, MMF_INIT_LINEAR, 0);
        mmf_params_add(&ps, "b", 1, (int64_t[]){37}, MMF_INIT_UNIFORM, 0.2f);
        mmf_rng r;
        mmf_rng_seed(&r, 44);
        CHECK_OK(mmf_params_alloc(&ps, &r));
        if (d) CHECK_OK(mmf_params_bf16_shadow(&ps));
        mmf_optim_params op = mmf_optim_params_default();
        op.clip_norm = 1.0f;
        mmf_optim o;
        CHECK_OK(mmf_optim_init(&o, &ps, &op));
        for (int step = 0; step < 5; step++) {
            mmf_params_zero_grad(&ps);
            for (int64_t j = 0; j < ps.total; j++) ps.grad[j] = mmf_rng_normal(&r) * (step == 2 ? 0.0f : 0.05f);
            CHECK_OK(mmf_optim_step(&o, &ps));
        }
        res[d] = malloc(sizeof(float) * (size_t)ps.total);
        memcpy(res[d], ps.data, sizeof(float) * (size_t)ps.total);
        if (d) {
            int ok = 1;
            for (int64_t j = 0; j < ps.total; j++) ok &= ps.bf16[j] == mmf_f32_to_bf16(ps.data[j]);
            CHECK_MSG(ok, "bf16 copy is not the rounded weight");
            t_allclose(res[1], res[0], (size_t)ps.total, 1e-7, 1e-6, "AdamW with the bf16 copy vs the plain update");
        }
        mmf_optim_free(&o);
        if (d) mmf_params_free(&ps); else keep = ps;
    }
    mmf_params_free(&keep);
    free(res[0]); free(res[1]);
}

int main(void) {
    run(0);
    view_check();
    threads_check();
    reshape_check();
    if (mmf_bf16_gemm_supported()) { run(1); sumsq_check(1); sumsq_check(2); defer_check(); shadow_update_check(); }
    else fprintf(stderr, "test_tape_params: no AVX512-BF16 on this CPU, bf16 mode not checked\n");
    return t_done("test_tape_params");
}
