/* Losses: gradient checks and values against hand computation. */
#include "grad_util.h"

static const int64_t labels[3] = {2, 0, 3};
static const float weights[3] = {1.0f, 0.0f, 2.0f};
static mmf_var b_ce(mmf_tape *tp, const mmf_var *v, void *u) { return mmf_t_cross_entropy(tp, v[0], labels, *(float *)u, NULL); }
static mmf_var b_cew(mmf_tape *tp, const mmf_var *v, void *u) { return mmf_t_cross_entropy(tp, v[0], labels, 0.1f, weights); }
static float tgt[12] = {1, 0, 0, 1, 0.5f, 1, 0, 0, 1, 1, 0, 0};
static mmf_var b_bce(mmf_tape *tp, const mmf_var *v, void *u) { return mmf_t_bce_logits(tp, v[0], tgt); }
static mmf_var b_mse(mmf_tape *tp, const mmf_var *v, void *u) { return mmf_t_mse(tp, v[0], tgt); }
static mmf_var b_nce(mmf_tape *tp, const mmf_var *v, void *u) { return mmf_t_infonce(tp, v[0], v[1], v[2]); }

int main(void) {
    mmf_rng_seed(&g_rng, 12);
    float sm0 = 0.0f, sm1 = 0.2f;
    { mmf_gc_input in[1] = {gin(2, 3, 4, 0, -2, 2, 0)}; GC("cross_entropy", b_ce, &sm0, in, 1, 0); }
    { mmf_gc_input in[1] = {gin(2, 3, 4, 0, -2, 2, 0)}; GC("cross_entropy smooth", b_ce, &sm1, in, 1, 0); }
    { mmf_gc_input in[1] = {gin(2, 3, 4, 0, -2, 2, 0)}; GC("cross_entropy weighted", b_cew, NULL, in, 1, 0); }
    { mmf_gc_input in[1] = {gin(2, 3, 4, 0, -3, 3, 0)}; GC("bce_logits", b_bce, NULL, in, 1, 0); }
    { mmf_gc_input in[1] = {gin(2, 3, 4, 0, -3, 3, 0)}; GC("mse", b_mse, NULL, in, 1, 0); }
    { mmf_gc_input in[3] = {gin(2, 4, 3, 0, -1, 1, 0), gin(2, 4, 3, 0, -1, 1, 0), gin(1, 1, 0, 0, 0.5f, 1.5f, 0)};
      GC("infonce", b_nce, NULL, in, 3, 0); }

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
