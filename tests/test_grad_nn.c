/* Activations, softmax, layernorm, l2norm, signed sqrt against closed forms;
 * dropout's statistics (off when not training; keeps about 1 - p, scaled);
 * embedding refuses an id out of range. Gradients and values against PyTorch
 * and finite differences: tests/test_tape_ops.c. */
#include "test_util.h"
#include "train/tape.h"

int main(void) {
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
