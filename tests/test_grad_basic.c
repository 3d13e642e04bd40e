/* Forward values by hand for linear, sum and broadcasting mul, and sticky,
 * named shape errors. Gradients and values against PyTorch and finite
 * differences: tests/test_tape_ops.c. */
#include "test_util.h"
#include "train/tape.h"

int main(void) {
    /* forward values by hand */
    mmf_tape *tp = mmf_tape_new(1, 1);
    float x[6] = {1, 2, 3, 4, 5, 6}, w[4] = {1, 0, -1, 2}, bb[2] = {10, 20};
    mmf_var X = mmf_t_const(tp, x, 2, (int64_t[]){3, 2});
    mmf_var W = mmf_t_const(tp, w, 2, (int64_t[]){2, 2});
    mmf_var B = mmf_t_const(tp, bb, 1, (int64_t[]){2});
    mmf_var Y = mmf_t_linear(tp, X, W, B);
    float *y = mmf_tape_var(tp, Y)->v;
    CHECK(y[0] == 11 && y[1] == 23 && y[4] == 15 && y[5] == 27);
    mmf_var S = mmf_t_sum(tp, X, 0);
    CHECK(mmf_tape_var(tp, S)->v[0] == 9 && mmf_tape_var(tp, S)->v[1] == 12);
    mmf_var M = mmf_t_mul(tp, X, B); /* [3,2] * [2] */
    CHECK(mmf_tape_var(tp, M)->v[3] == 80);
    /* shape errors are sticky and named */
    mmf_var bad = mmf_t_matmul(tp, X, X, 0, 0);
    CHECK(bad == -1 && mmf_tape_status(tp) == MMF_ERR_SHAPE);
    CHECK(strstr(mmf_last_error(), "matmul") != NULL);
    CHECK(mmf_t_relu(tp, bad) == -1);
    mmf_tape_free(tp);
    return t_done("test_grad_basic");
}
