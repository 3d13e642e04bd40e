/* mmf_t_gated_sum (train/ops_gated.c): forward values against the formula
 * computed here in double; behind linear layers (whose output gradients it
 * then writes instead of adding to), the weight gradients equal those through
 * the same head spelt with separate ops. Gradients for 2 and 3 blocks, masked
 * rows and one variable given as two blocks, against PyTorch and finite
 * differences: tests/test_tape_ops.c. */
#include "test_util.h"
#include "train/tape.h"

static mmf_rng g_rng;
static const uint8_t keep2[3 * 2] = {1, 1, 0, 1, 1, 0};

int main(void) {
    mmf_rng_seed(&g_rng, 17);

    /* forward: y[b, j] = sum_m keep * sigmoid(g[b, m*H + j]) * tanh(a_m[b, j]) */
    enum { B = 3, H = 17, M = 2 };
    float g[B * M * H], a0[B * H], a1[B * H];
    for (int i = 0; i < B * M * H; i++) g[i] = 6.0f * mmf_rng_uniform(&g_rng) - 3.0f;
    for (int i = 0; i < B * H; i++) { a0[i] = 4.0f * mmf_rng_uniform(&g_rng) - 2.0f; a1[i] = 4.0f * mmf_rng_uniform(&g_rng) - 2.0f; }
    mmf_tape *tp = mmf_tape_new(1, 1);
    mmf_var a[2] = {mmf_t_const(tp, a0, 2, (int64_t[]){B, H}), mmf_t_const(tp, a1, 2, (int64_t[]){B, H})};
    mmf_var y = mmf_t_gated_sum(tp, mmf_t_const(tp, g, 2, (int64_t[]){B, M * H}), a, M, keep2);
    CHECK_OK(mmf_tape_status(tp));
    const float *yv = mmf_tape_var(tp, y)->v;
    double worst = 0.0;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < H; j++) {
            double want = 0.0;
            const float *am[2] = {a0, a1};
            for (int m = 0; m < M; m++)
                if (keep2[b * M + m]) want += 1.0 / (1.0 + exp(-(double)g[(b * M + m) * H + j])) * tanh((double)am[m][b * H + j]);
            double d = fabs(yv[b * H + j] - want);
            if (d > worst) worst = d;
        }
    CHECK_MSG(worst < 2e-6, "gated_sum forward: worst difference %g from the double formula", worst);
    /* shapes: the gates must be [B, M*H] and the blocks [B, H] */
    CHECK(mmf_t_gated_sum(tp, a[0], a, 3, NULL) == -1);
    CHECK(strstr(mmf_last_error(), "gated_sum") != NULL);
    mmf_tape_free(tp);

    /* behind linear layers: parameters' gradients against the separate-op spelling */
    enum { D = 6 };
    float x[B * D];
    for (int i = 0; i < B * D; i++) x[i] = 2.0f * mmf_rng_uniform(&g_rng) - 1.0f;
    float *grads[2];
    for (int variant = 0; variant < 2; variant++) {
        mmf_params ps;
        mmf_params_init(&ps);
        int iz = mmf_params_add(&ps, "z", 2, (int64_t[]){M * H, D}, MMF_INIT_LINEAR, 0);
        int i0 = mmf_params_add(&ps, "h0", 2, (int64_t[]){H, D}, MMF_INIT_LINEAR, 0);
        int i1 = mmf_params_add(&ps, "h1", 2, (int64_t[]){H, D}, MMF_INIT_LINEAR, 0);
        mmf_rng r;
        mmf_rng_seed(&r, 3);
        CHECK_OK(mmf_params_alloc(&ps, &r));
        tp = mmf_tape_new(1, 1);
        mmf_var X = mmf_t_const(tp, x, 2, (int64_t[]){B, D});
        mmf_var Z = mmf_t_linear(tp, X, mmf_t_param(tp, &ps, iz), -1);
        mmf_var hm[2] = {mmf_t_linear(tp, X, mmf_t_param(tp, &ps, i0), -1), mmf_t_linear(tp, X, mmf_t_param(tp, &ps, i1), -1)};
        mmf_var out;
        if (variant == 0) {
            out = mmf_t_gated_sum(tp, Z, hm, M, keep2);
        } else {   /* sigmoid, slice, tanh, product, mask, sum */
            mmf_var s = mmf_t_sigmoid(tp, Z);
            out = -1;
            for (int m = 0; m < M; m++) {
                float col[B];
                for (int b = 0; b < B; b++) col[b] = keep2[b * M + m];
                mmf_var t = mmf_t_mul(tp, mmf_t_mul(tp, mmf_t_slice(tp, s, 1, m * H, (m + 1) * H), mmf_t_tanh(tp, hm[m])),
                                      mmf_t_const(tp, col, 2, (int64_t[]){B, 1}));
                out = m ? mmf_t_add(tp, out, t) : t;
            }
        }
        float w[B * H];
        for (int i = 0; i < B * H; i++) w[i] = (float)(i % 5) - 2.0f;
        mmf_var L = mmf_t_sum_all(tp, mmf_t_mul(tp, out, mmf_t_const(tp, w, 2, (int64_t[]){B, H})));
        CHECK_OK(mmf_tape_status(tp));
        CHECK_OK(mmf_tape_backward(tp, L));
        grads[variant] = malloc(sizeof(float) * (size_t)ps.total);
        memcpy(grads[variant], ps.grad, sizeof(float) * (size_t)ps.total);
        mmf_tape_free(tp);
        if (variant == 1) t_allclose(grads[0], grads[1], (size_t)ps.total, 1e-6, 1e-5, "gated_sum behind linear layers: weight gradients");
        mmf_params_free(&ps);
    }
    free(grads[0]); free(grads[1]);
    return t_done("test_grad_gated");
}
