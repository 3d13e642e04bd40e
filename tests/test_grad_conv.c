/* Convolution, batchnorm and pooling on the tape: finite-difference gradient
 * checks of composite graphs (conv-bn-tanh-pool, gradients left unzeroed for
 * consumers that store them), forward values against naive loops written here
 * independently, batchnorm running statistics against the PyTorch formulas,
 * and the same numbers with 2 threads. Each op alone against PyTorch and finite
 * differences: tests/test_tape_ops.c. */
#include "grad_util.h"
#include "train/conv.h"
#include "core/ops.h"

static mmf_gc_input gin4(int64_t a, int64_t b, int64_t c, int64_t d, float lo, float hi) {
    mmf_gc_input g = gin(3, a, b, c * d, lo, hi, 0);
    g.ndim = 4;
    g.shape[2] = c;
    g.shape[3] = d;
    return g;
}

/* values with pairwise gaps >= 0.05 (shuffled grid) so max pooling has no ties
 * within the finite-difference step */
static mmf_gc_input gin4_spaced(int64_t a, int64_t b, int64_t c, int64_t d) {
    mmf_gc_input g = gin4(a, b, c, d, 0, 1);
    int64_t n = a * b * c * d;
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    mmf_rng_shuffle(&g_rng, idx, n);
    for (int64_t i = 0; i < n; i++) g.data[i] = -2.0f + 0.05f * (float)idx[i];
    free(idx);
    return g;
}

static float rm[8], rv[8];
static mmf_var b_bn(mmf_tape *tp, const mmf_var *v, void *u) {
    for (int i = 0; i < 8; i++) { rm[i] = 0.1f * i; rv[i] = 0.5f + 0.25f * i; }
    return mmf_t_batchnorm(tp, v[0], v[1], v[2], rm, rv, 0.1f, 1e-5f);
}
/* after a conv and a nonlinearity, so the batch-statistics paths see non-trivial inputs */
static mmf_var b_conv_bn_relu_pool(mmf_tape *tp, const mmf_var *v, void *u) {
    mmf_var y = mmf_t_conv2d(tp, v[0], v[1], -1, 1, 1);
    y = mmf_t_batchnorm(tp, y, v[2], v[3], NULL, NULL, 0.1f, 1e-5f);
    y = mmf_t_tanh(tp, y);
    y = mmf_t_avgpool2d(tp, y, 2, 2, 0, 1);
    return mmf_t_global_avgpool(tp, y);
}

/* gradients allocated without zeroing (conv and batchnorm outputs) taken by a
 * consumer that stores them (batchnorm, global pool, max pool over exactly
 * tiled windows) or, after another consumer, adds; u selects the graph:
 * 0 conv-bn-gap (every consumer stores), 1 the same outputs shared with tanh
 * branches (add after store, store after add), 2 bn-maxpool+gap on an even
 * input (max pool stores), 3 on an odd one (max pool leaves the last row). The
 * max pool variants take spaced inputs and gamma > 0: bn is monotone in each
 * channel, so no perturbation moves an argmax. */
static mmf_var b_lazy(mmf_tape *tp, const mmf_var *v, void *u) {
    int k = *(int *)u;
    if (k >= 2) {
        mmf_var z = mmf_t_batchnorm(tp, v[0], v[1], v[2], NULL, NULL, 0.1f, 1e-5f);
        return mmf_t_add(tp, mmf_t_global_avgpool(tp, z), mmf_t_global_avgpool(tp, mmf_t_maxpool2d(tp, z, 2, 2, 0)));
    }
    mmf_var y = mmf_t_conv2d(tp, v[0], v[1], -1, 1, 1);
    mmf_var z = mmf_t_batchnorm(tp, y, v[2], v[3], NULL, NULL, 0.1f, 1e-5f);
    if (k == 0) return mmf_t_global_avgpool(tp, z);
    mmf_var a = mmf_t_add(tp, mmf_t_global_avgpool(tp, mmf_t_tanh(tp, z)), mmf_t_global_avgpool(tp, z));
    return mmf_t_add(tp, a, mmf_t_global_avgpool(tp, mmf_t_tanh(tp, y)));
}

/* naive direct convolution */
static void conv_naive(float *y, const float *x, const float *w, const float *b, int N, int C, int H, int W, int OC,
                       int K, int stride, int pad, int OH, int OW) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++)
            for (int i = 0; i < OH; i++)
                for (int j = 0; j < OW; j++) {
                    double s = b ? b[o] : 0.0;
                    for (int c = 0; c < C; c++)
                        for (int p = 0; p < K; p++)
                            for (int q = 0; q < K; q++) {
                                int ih = i * stride - pad + p, iw = j * stride - pad + q;
                                if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                                    s += (double)x[((n * C + c) * H + ih) * W + iw] * w[((o * C + c) * K + p) * K + q];
                            }
                    y[((n * OC + o) * OH + i) * OW + j] = (float)s;
                }
}

int main(void) {
    mmf_rng_seed(&g_rng, 21);
    /* batchnorm updating its running statistics inside the graph (they are reset per build) */
    { mmf_gc_input in[3] = {gin4(3, 4, 3, 2, -2, 2), gin(1, 4, 0, 0, 0.5f, 1.5f, 0), gin(1, 4, 0, 0, -1, 1, 0)};
      GC("batchnorm2d train, running stats", b_bn, NULL, in, 3, 1); }
    { mmf_gc_input in[4] = {gin4(3, 2, 4, 4, -1, 1), gin4(3, 2, 3, 3, -0.5f, 0.5f), gin(1, 3, 0, 0, 0.5f, 1.5f, 0),
                            gin(1, 3, 0, 0, -1, 1, 0)};
      GC("conv-bn-tanh-avgpool-gap", b_conv_bn_relu_pool, NULL, in, 4, 1); }
    for (int k = 0; k < 2; k++) {
        mmf_gc_input in[4] = {gin4(2, 2, 4, 4, -1, 1), gin4(3, 2, 3, 3, -0.5f, 0.5f), gin(1, 3, 0, 0, 0.5f, 1.5f, 0),
                              gin(1, 3, 0, 0, -1, 1, 0)};
        GC(k ? "unzeroed gradients, shared" : "unzeroed gradients, stored", b_lazy, &k, in, 4, 1);
    }
    for (int k = 2; k < 4; k++) {
        mmf_gc_input in[3] = {gin4_spaced(2, 2, k == 2 ? 4 : 5, 4), gin(1, 2, 0, 0, 0.5f, 1.5f, 0), gin(1, 2, 0, 0, -1, 1, 0)};
        GC(k == 2 ? "unzeroed gradients, max pool even" : "unzeroed gradients, max pool odd", b_lazy, &k, in, 3, 1);
    }

    /* forward values: conv vs the naive loop, at 1 and 2 threads */
    for (int same = 0; same <= 2; same++) /* 1: 3x3 s1 p1 on 7x5 takes the flat im2col path; 2: 32 channels on 8x6, the blocked GEMM */
    for (int nt = 1; nt <= 2; nt++) {
        int N = 3, C = 3, H = same ? 7 : 9, W = same ? 5 : 7, OC = same == 2 ? 32 : 5, K = 3, stride = same ? 1 : 2, pad = 1, OH, OW;
        if (same == 2) H = 8, W = 6;
        mmf_conv2d_out_size(H, W, K, K, stride, pad, &OH, &OW);
        mmf_gc_input x = gin4(N, C, H, W, -1, 1), w = gin4(OC, C, K, K, -1, 1), b = gin(1, OC, 0, 0, -1, 1, 0);
        float *ref = malloc(sizeof(float) * N * OC * OH * OW);
        conv_naive(ref, x.data, w.data, b.data, N, C, H, W, OC, K, stride, pad, OH, OW);
        mmf_tape *tp = mmf_tape_new(nt, 1);
        mmf_var y = mmf_t_conv2d(tp, mmf_t_const(tp, x.data, 4, x.shape), mmf_t_const(tp, w.data, 4, w.shape),
                                 mmf_t_const(tp, b.data, 1, b.shape), stride, pad);
        CHECK_OK(mmf_tape_status(tp));
        CHECK(mmf_tape_var(tp, y)->shape[2] == (same ? H : 5) && mmf_tape_var(tp, y)->shape[3] == (same ? W : 4));
        t_allclose(mmf_tape_var(tp, y)->v, ref, (size_t)N * OC * OH * OW, 1e-5, 1e-5, "conv2d vs naive");
        /* max pool vs the core kernel; global average pool by hand */
        mmf_var xv = mmf_t_const(tp, x.data, 4, x.shape);
        int MP = same == 2 ? 4 * 3 : same ? 4 * 3 : 5 * 4; /* 3x3 s2 p1 max pool of 8x6 / 7x5 / 9x7 */
        float *mp = malloc(sizeof(float) * N * C * MP);
        mmf_maxpool2d(mp, x.data, N, C, H, W, 3, 2, 1, 1);
        mmf_var m = mmf_t_maxpool2d(tp, xv, 3, 2, 1);
        t_allclose(mmf_tape_var(tp, m)->v, mp, (size_t)N * C * MP, 0, 0, "maxpool2d vs core kernel");
        mmf_var g = mmf_t_global_avgpool(tp, xv);
        double s = 0;
        for (int i = 0; i < H * W; i++) s += x.data[(1 * C + 2) * H * W + i];
        CHECK_NEAR(mmf_tape_var(tp, g)->v[1 * C + 2], s / (H * W), 1e-6);
        /* batchnorm running stats as torch: mean, unbiased var, momentum 0.1 */
        float mean0[3] = {0, 0, 0}, var0[3] = {1, 1, 1};
        mmf_tape_set_training(tp, 1);
        mmf_var bn = mmf_t_batchnorm(tp, xv, -1, -1, mean0, var0, 0.1f, 1e-5f);
        CHECK_OK(mmf_tape_status(tp));
        double mu = 0, v2 = 0;
        int cnt = N * H * W;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < H * W; i++) mu += x.data[(n * C + 1) * H * W + i];
        mu /= cnt;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < H * W; i++) { double d = x.data[(n * C + 1) * H * W + i] - mu; v2 += d * d; }
        CHECK_NEAR(mean0[1], 0.1 * mu, 1e-6);
        CHECK_NEAR(var0[1], 0.9 + 0.1 * v2 / (cnt - 1), 1e-6);
        CHECK_NEAR(mmf_tape_var(tp, bn)->v[(0 * C + 1) * H * W + 3], (x.data[(0 * C + 1) * H * W + 3] - mu) / sqrt(v2 / cnt + 1e-5), 1e-4);
        /* eval mode uses the running statistics */
        mmf_tape_set_training(tp, 0);
        mmf_var be = mmf_t_batchnorm(tp, xv, -1, -1, mean0, var0, 0.1f, 1e-5f);
        CHECK_NEAR(mmf_tape_var(tp, be)->v[(2 * C + 1) * H * W + 5], (x.data[(2 * C + 1) * H * W + 5] - mean0[1]) / sqrt(var0[1] + 1e-5), 1e-5);
        /* bad shapes fail cleanly */
        mmf_var bad = mmf_t_conv2d(tp, mmf_t_const(tp, x.data, 3, (int64_t[]){N, C, H * W}), mmf_t_const(tp, w.data, 4, w.shape), -1, 1, 0);
        CHECK(bad < 0 && mmf_tape_status(tp) == MMF_ERR_SHAPE);
        mmf_tape_free(tp);
        free(ref); free(mp); free(x.data); free(w.data); free(b.data);
    }
    /* dW over long rows (2048 pixels: the dot-product kernel of conv_gemm.c) against
     * the sum written out: L = sum(conv(x, W) * r), dL/dW[o,c,p,q] = sum_ij r[o,i,j] x[c,i+p-1,j+q-1] */
    {
        int C = 2, H = 64, W = 32, OC = 5;
        mmf_gc_input x = gin4(1, C, H, W, -1, 1), w = gin4(OC, C, 3, 3, -1, 1), r = gin4(1, OC, H, W, -1, 1);
        mmf_tape *tp = mmf_tape_new(1, 1);
        mmf_var X = mmf_t_const(tp, x.data, 4, x.shape), Wv = mmf_t_leaf(tp, w.data, 4, w.shape);
        mmf_var L = mmf_t_sum_all(tp, mmf_t_mul(tp, mmf_t_conv2d(tp, X, Wv, -1, 1, 1), mmf_t_const(tp, r.data, 4, r.shape)));
        CHECK_OK(mmf_tape_backward(tp, L));
        float ref[5 * 2 * 9];
        for (int o = 0; o < OC; o++)
            for (int c = 0; c < C; c++)
                for (int p = 0; p < 3; p++)
                    for (int q = 0; q < 3; q++) {
                        double sum = 0;
                        for (int i = 0; i < H; i++)
                            for (int j = 0; j < W; j++) {
                                int ih = i + p - 1, iw = j + q - 1;
                                if (ih >= 0 && ih < H && iw >= 0 && iw < W) sum += (double)r.data[(o * H + i) * W + j] * x.data[(c * H + ih) * W + iw];
                            }
                        ref[((o * C + c) * 3 + p) * 3 + q] = (float)sum;
                    }
        t_allclose(mmf_tape_var(tp, Wv)->g, ref, OC * C * 9, 1e-4, 1e-4, "conv dW over 2048 pixels vs the written-out sum");
        mmf_tape_free(tp);
        free(x.data); free(w.data); free(r.data);
    }
    /* conv backward is the same with 1 and 2 threads, to rounding: the GEMMs may split
     * their work otherwise with another thread count (dW sums in another order) */
    {
        mmf_gc_input x = gin4(4, 3, 8, 8, -1, 1), w = gin4(6, 3, 3, 3, -1, 1), r = gin4(4, 6, 8, 8, -1, 1);
        float *gw[2], *gx[2];
        for (int nt = 1; nt <= 2; nt++) {
            mmf_tape *tp = mmf_tape_new(nt, 1);
            mmf_var X = mmf_t_leaf(tp, x.data, 4, x.shape), W = mmf_t_leaf(tp, w.data, 4, w.shape);
            mmf_var L = mmf_t_sum_all(tp, mmf_t_mul(tp, mmf_t_conv2d(tp, X, W, -1, 1, 1), mmf_t_const(tp, r.data, 4, r.shape)));
            CHECK_OK(mmf_tape_backward(tp, L));
            gw[nt - 1] = malloc(sizeof(float) * 6 * 27);
            gx[nt - 1] = malloc(sizeof(float) * 4 * 3 * 64);
            memcpy(gw[nt - 1], mmf_tape_var(tp, W)->g, sizeof(float) * 6 * 27);
            memcpy(gx[nt - 1], mmf_tape_var(tp, X)->g, sizeof(float) * 4 * 3 * 64);
            mmf_tape_free(tp);
        }
        t_allclose(gw[1], gw[0], 6 * 27, 1e-4, 1e-5, "conv dW threads 2 vs 1");
        t_allclose(gx[1], gx[0], 4 * 3 * 64, 1e-6, 1e-6, "conv dX threads 2 vs 1");
        free(gw[0]); free(gw[1]); free(gx[0]); free(gx[1]); free(x.data); free(w.data); free(r.data);
    }
    /* fused batchnorm + ReLU equals batchnorm then ReLU, values and gradients
     * (the composite is gradchecked above; comparing analytically avoids the kink) */
    {
        mmf_gc_input x = gin4(3, 4, 5, 5, -2, 2), g = gin(1, 4, 0, 0, 0.5f, 1.5f, 0), b = gin(1, 4, 0, 0, -1, 1, 0),
                     r = gin4(3, 4, 5, 5, -1, 1);
        float *val[2], *gx[2], *gg[2], *gb[2];
        for (int fused = 0; fused < 2; fused++) {
            mmf_tape *tp = mmf_tape_new(2, 1);
            mmf_tape_set_training(tp, 1);
            mmf_var X = mmf_t_leaf(tp, x.data, 4, x.shape), G = mmf_t_leaf(tp, g.data, 1, g.shape), B = mmf_t_leaf(tp, b.data, 1, b.shape);
            /* an inner batchnorm, so the fused op's input gradient is an unzeroed one (stored, not added) */
            mmf_var X2 = mmf_t_batchnorm(tp, X, -1, -1, NULL, NULL, 0.1f, 1e-5f);
            mmf_var y = fused ? mmf_t_batchnorm_relu(tp, X2, G, B, NULL, NULL, 0.1f, 1e-5f)
                              : mmf_t_relu(tp, mmf_t_batchnorm(tp, X2, G, B, NULL, NULL, 0.1f, 1e-5f));
            mmf_var L = mmf_t_sum_all(tp, mmf_t_mul(tp, y, mmf_t_const(tp, r.data, 4, r.shape)));
            CHECK_OK(mmf_tape_backward(tp, L));
            size_t n = 3 * 4 * 25;
            val[fused] = malloc(n * 4); gx[fused] = malloc(n * 4); gg[fused] = malloc(16); gb[fused] = malloc(16);
            memcpy(val[fused], mmf_tape_var(tp, y)->v, n * 4);
            memcpy(gx[fused], mmf_tape_var(tp, X)->g, n * 4);
            memcpy(gg[fused], mmf_tape_var(tp, G)->g, 16);
            memcpy(gb[fused], mmf_tape_var(tp, B)->g, 16);
            mmf_tape_free(tp);
        }
        t_allclose(val[1], val[0], 300, 1e-6, 1e-6, "batchnorm_relu values");
        t_allclose(gx[1], gx[0], 300, 1e-5, 1e-4, "batchnorm_relu dx");
        t_allclose(gg[1], gg[0], 4, 1e-5, 1e-4, "batchnorm_relu dgamma");
        t_allclose(gb[1], gb[0], 4, 1e-5, 1e-4, "batchnorm_relu dbeta");
        for (int i = 0; i < 2; i++) { free(val[i]); free(gx[i]); free(gg[i]); free(gb[i]); }
        free(x.data); free(g.data); free(b.data); free(r.data);
    }
    printf("%d checks, %d failures\n", t_checks, t_failures);
    return t_failures ? 1 : 0;
}
