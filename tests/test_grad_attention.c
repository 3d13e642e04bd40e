/* Attention's forward against a naive single-head computation, and the
 * gradcheck harness's own test: an op with a wrong backward must fail it.
 * Attention's gradients (plain, key padding, causal, cross Tq != Tk, all keys
 * masked) against PyTorch and finite differences: tests/test_tape_ops.c. */
#include "grad_util.h"

/* a deliberately wrong op: y = 2x, backward adds 1 * gy */
static void wrong_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *x = mmf_tape_var(tp, nd->in[0]), *y = mmf_tape_var(tp, nd->out);
    for (int64_t i = 0; i < y->n; i++) x->g[i] += y->g[i];
}
static mmf_var b_wrong(mmf_tape *tp, const mmf_var *v, void *u) {
    mmf_tvar *x = mmf_tape_var(tp, v[0]);
    mmf_var y = mmf_tape_alloc(tp, x->ndim, x->shape, 1);
    x = mmf_tape_var(tp, v[0]);
    for (int64_t i = 0; i < x->n; i++) mmf_tape_var(tp, y)->v[i] = 2.0f * x->v[i];
    mmf_node nd = {.backward = wrong_backward, .name = "wrong", .out = y, .in = {v[0]}, .n_in = 1};
    mmf_tape_record(tp, &nd);
    return y;
}

int main(void) {
    mmf_rng_seed(&g_rng, 9);

    /* harness self-test */
    {
        mmf_gc_input in[1] = {gin(2, 2, 3, 0, -1, 1, 0)};
        mmf_gc_result r;
        CHECK_OK(mmf_gradcheck(b_wrong, NULL, in, 1, 1e-2f, 2e-3, 2e-2, 0, &r));
        CHECK_MSG(r.worst > 10.0, "the harness accepted a wrong gradient (worst %g)", r.worst);
        free(in[0].data);
    }

    /* forward: naive single-head softmax(q k^T / sqrt(D)) v with a key mask */
    {
        int T = 3, D = 2;
        float q[6] = {0.1f, 0.2f, -0.3f, 0.4f, 0.5f, -0.6f}, k[6] = {1, 0, 0, 1, 1, 1}, v[6] = {1, 2, 3, 4, 5, 6};
        uint8_t keep[3] = {1, 1, 0};
        mmf_tape *tp = mmf_tape_new(1, 1);
        mmf_var Q = mmf_t_const(tp, q, 3, (int64_t[]){1, T, D}), K = mmf_t_const(tp, k, 3, (int64_t[]){1, T, D}),
                V = mmf_t_const(tp, v, 3, (int64_t[]){1, T, D});
        const float *o = mmf_tape_var(tp, mmf_t_attention(tp, Q, K, V, 1, keep, 0))->v;
        for (int t = 0; t < T; t++) {
            double s0 = (q[t * 2] * 1 + q[t * 2 + 1] * 0) / sqrt(2.0), s1 = (q[t * 2] * 0 + q[t * 2 + 1] * 1) / sqrt(2.0);
            double p0 = exp(s0) / (exp(s0) + exp(s1)), p1 = 1 - p0;
            CHECK_NEAR(o[t * 2], p0 * 1 + p1 * 3, 1e-5);
            CHECK_NEAR(o[t * 2 + 1], p0 * 2 + p1 * 4, 1e-5);
        }
        mmf_tape_free(tp);
    }
    return t_done("test_grad_attention");
}
