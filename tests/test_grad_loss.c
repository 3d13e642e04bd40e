/* Losses against hand computation (cross-entropy with and without label
 * smoothing, BCE, MSE, InfoNCE of aligned pairs) and a label out of range
 * refused. Gradients and values against PyTorch and finite differences:
 * tests/test_tape_ops.c. */
#include "test_util.h"
#include "train/tape.h"

int main(void) {
    mmf_tape *tp = mmf_tape_new(1, 1);
    float lg[8] = {1, 2, 3, 4, 0, 0, 0, 0};
    int64_t lab[2] = {3, 1};
    mmf_var X = mmf_t_const(tp, lg, 2, (int64_t[]){2, 4});
    double lse0 = log(exp(1) + exp(2) + exp(3) + exp(4)), lse1 = log(4.0);
    CHECK_NEAR(mmf_tape_var(tp, mmf_t_cross_entropy(tp, X, lab, 0.0f, NULL))->v[0], ((lse0 - 4) + lse1) / 2, 1e-5);
    /* smoothing 0.1: target = 0.9 onehot + 0.025 */
    double l0 = 0.9 * (lse0 - 4) + 0.025 * (4 * lse0 - 10), l1 = lse1;
    CHECK_NEAR(mmf_tape_var(tp, mmf_t_cross_entropy(tp, X, lab, 0.1f, NULL))->v[0], (l0 + l1) / 2, 1e-5);
    float t2[8] = {1, 0, 1, 0, 0, 1, 0, 1};
    double b = 0;
    for (int i = 0; i < 8; i++) b += -(t2[i] * log(1 / (1 + exp(-lg[i]))) + (1 - t2[i]) * log(1 - 1 / (1 + exp(-lg[i]))));
    CHECK_NEAR(mmf_tape_var(tp, mmf_t_bce_logits(tp, X, t2))->v[0], b / 8, 1e-5);
    CHECK_NEAR(mmf_tape_var(tp, mmf_t_mse(tp, X, t2))->v[0], (0 + 4 + 4 + 16 + 0 + 1 + 0 + 1) / 8.0, 1e-6);
    int64_t badlab[2] = {4, 0};
    CHECK(mmf_t_cross_entropy(tp, X, badlab, 0.0f, NULL) == -1);
    CHECK(strstr(mmf_last_error(), "label 4") != NULL);
    mmf_tape_free(tp);
    /* InfoNCE of perfectly aligned, orthogonal pairs with a large scale is ~0 */
    tp = mmf_tape_new(1, 1);
    float e[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, ls = logf(100.0f);
    mmf_var A = mmf_t_const(tp, e, 2, (int64_t[]){3, 3}), S = mmf_t_const(tp, &ls, 1, (int64_t[]){1});
    CHECK_NEAR(mmf_tape_var(tp, mmf_t_infonce(tp, A, A, S))->v[0], log(1 + 2 * exp(-100.0)), 1e-6);
    mmf_tape_free(tp);
    return t_done("test_grad_loss");
}
