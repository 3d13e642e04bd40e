/* Gradient checks for activations, softmax (masked), layernorm, l2norm, dropout,
 * signed sqrt, exp, embedding. Forward values against closed forms. */
#include "grad_util.h"

static int k_act;
static mmf_var b_act(mmf_tape *tp, const mmf_var *v, void *u) {
    switch (k_act) {
    case 0: return mmf_t_tanh(tp, v[0]);
    case 1: return mmf_t_sigmoid(tp, v[0]);
    case 2: return mmf_t_relu(tp, v[0]);
    case 3: return mmf_t_gelu(tp, v[0]);
    case 4: return mmf_t_exp(tp, v[0]);
    default: return mmf_t_signed_sqrt(tp, v[0], 1e-6f);
    }
}
static mmf_var b_softmax(mmf_tape *tp, const mmf_var *v, void *u) { return mmf_t_softmax(tp, v[0], u); }
static mmf_var b_layernorm(mmf_tape *tp, const mmf_var *v, void *u) { return mmf_t_layernorm(tp, v[0], v[1], v[2], 1e-5f); }
static mmf_var b_layernorm_plain(mmf_tape *tp, const mmf_var *v, void *u) { return mmf_t_layernorm(tp, v[0], -1, -1, 1e-5f); }
static mmf_var b_l2norm(mmf_tape *tp, const mmf_var *v, void *u) { return mmf_t_l2norm(tp, v[0], 1e-12f); }
static mmf_var b_dropout(mmf_tape *tp, const mmf_var *v, void *u) { return mmf_t_dropout(tp, v[0], 0.4f); }
static mmf_var b_embedding(mmf_tape *tp, const mmf_var *v, void *u) {
    static const int32_t ids[5] = {2, 0, 2, 3, 2};
    return mmf_t_embedding(tp, v[0], ids, 5);
}

int main(void) {
    mmf_rng_seed(&g_rng, 8);
    static const char *names[] = {"tanh", "sigmoid", "relu", "gelu", "exp", "signed_sqrt"};
    for (k_act = 0; k_act < 6; k_act++) {
        /* relu and signed sqrt: stay away from the point of non-smoothness */
        float away = (k_act == 2 || k_act == 5) ? 0.1f : 0.0f;
        mmf_gc_input in[1] = {gin(2, 3, 5, 0, -2, 2, away)};
        GC(names[k_act], b_act, NULL, in, 1, 0);
    }
    { mmf_gc_input in[1] = {gin(2, 4, 5, 0, -2, 2, 0)}; GC("softmax", b_softmax, NULL, in, 1, 0); }
    { uint8_t keep[20] = {1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0};
      mmf_gc_input in[1] = {gin(2, 4, 5, 0, -2, 2, 0)}; GC("softmax masked", b_softmax, keep, in, 1, 0); }
    { mmf_gc_input in[3] = {gin(2, 3, 6, 0, -2, 2, 0), gin(1, 6, 0, 0, 0.5f, 1.5f, 0), gin(1, 6, 0, 0, -1, 1, 0)};
      GC("layernorm", b_layernorm, NULL, in, 3, 0); }
    { mmf_gc_input in[1] = {gin(3, 2, 2, 6, -2, 2, 0)}; GC("layernorm no affine", b_layernorm_plain, NULL, in, 1, 0); }
    { mmf_gc_input in[1] = {gin(2, 3, 6, 0, -2, 2, 0)}; GC("l2norm", b_l2norm, NULL, in, 1, 0); }
    { mmf_gc_input in[1] = {gin(2, 4, 6, 0, -2, 2, 0)}; GC("dropout", b_dropout, NULL, in, 1, 1); }
    { mmf_gc_input in[1] = {gin(2, 4, 3, 0, -2, 2, 0)}; GC("embedding", b_embedding, NULL, in, 1, 0); }

    /* forward values against closed forms */
    mmf_tape *tp = mmf_tape_new(1, 3);
    float x[4] = {-1.0f, 0.0f, 0.5f, 2.0f};
    mmf_var X = mmf_t_const(tp, x, 1, (int64_t[]){4});
    const float *g = mmf_tape_var(tp, mmf_t_gelu(tp, X))->v;
    CHECK_NEAR(g[0], -0.15865525393145707, 1e-6); /* -Phi(-1) */
    CHECK_NEAR(g[3], 1.9544997361036416, 1e-6);
    const float *s = mmf_tape_var(tp, mmf_t_softmax(tp, X, NULL))->v;
    double z = exp(-1.0) + 1 + exp(0.5) + exp(2.0);
    CHECK_NEAR(s[3], exp(2.0) / z, 1e-6);
    uint8_t none[4] = {0, 0, 0, 0};
    const float *s0 = mmf_tape_var(tp, mmf_t_softmax(tp, X, none))->v;
    CHECK(s0[0] == 0 && s0[3] == 0);
    const float *l = mmf_tape_var(tp, mmf_t_layernorm(tp, X, -1, -1, 0.0f))->v;
    double mean = 0.375, var = ((1.375 * 1.375) + (0.375 * 0.375) + (0.125 * 0.125) + (1.625 * 1.625)) / 4;
    CHECK_NEAR(l[3], (2.0 - mean) / sqrt(var), 1e-5);
    const float *n = mmf_tape_var(tp, mmf_t_l2norm(tp, X, 0.0f))->v;
    CHECK_NEAR(n[3], 2.0 / sqrt(5.25), 1e-6);
    const float *q = mmf_tape_var(tp, mmf_t_signed_sqrt(tp, X, 1e-12f))->v;
    CHECK_NEAR(q[0], -1.0, 1e-5);
    CHECK_NEAR(q[3], sqrt(2.0), 1e-5);
    /* dropout: off when not training; when training, keeps about 1-p scaled by 1/(1-p) */
    CHECK(mmf_t_dropout(tp, X, 0.5f) == X);
    mmf_tape_set_training(tp, 1);
    float ones[10000];
    for (int i = 0; i < 10000; i++) ones[i] = 1.0f;
    const float *d = mmf_tape_var(tp, mmf_t_dropout(tp, mmf_t_const(tp, ones, 1, (int64_t[]){10000}), 0.25f))->v;
    double sum = 0.0;
    int zeros = 0;
    for (int i = 0; i < 10000; i++) { sum += d[i]; zeros += d[i] == 0.0f; }
    CHECK_NEAR(sum / 10000, 1.0, 0.03);
    CHECK(zeros > 2300 && zeros < 2700);
    /* embedding refuses an id out of range */
    int32_t bad[2] = {0, 7};
    CHECK(mmf_t_embedding(tp, mmf_t_reshape(tp, X, 2, (int64_t[]){4, 1}), bad, 2) == -1);
    CHECK(strstr(mmf_last_error(), "id 7") != NULL);
    mmf_tape_free(tp);
    return t_done("test_grad_nn");
}
