/* Gradient checks for linear, matmul, broadcasting add/sub/mul, scale, concat,
 * slice, reshape, sum, sum_all, mean_all; plus forward values by hand. */
#include "grad_util.h"

static mmf_var b_linear(mmf_tape *tp, const mmf_var *v, void *u) { return mmf_t_linear(tp, v[0], v[1], v[2]); }
static mmf_var b_linear3d(mmf_tape *tp, const mmf_var *v, void *u) { return mmf_t_linear(tp, v[0], v[1], -1); }
static mmf_var b_matmul(mmf_tape *tp, const mmf_var *v, void *u) { int *t = u; return mmf_t_matmul(tp, v[0], v[1], t[0], t[1]); }
static mmf_var b_add(mmf_tape *tp, const mmf_var *v, void *u) { return mmf_t_add(tp, v[0], v[1]); }
static mmf_var b_sub(mmf_tape *tp, const mmf_var *v, void *u) { return mmf_t_sub(tp, v[0], v[1]); }
static mmf_var b_mul(mmf_tape *tp, const mmf_var *v, void *u) { return mmf_t_mul(tp, v[0], v[1]); }
static mmf_var b_scale(mmf_tape *tp, const mmf_var *v, void *u) { return mmf_t_scale(tp, v[0], -1.5f, 0.25f); }
static mmf_var b_concat(mmf_tape *tp, const mmf_var *v, void *u) { return mmf_t_concat(tp, v, 3, *(int *)u); }
static mmf_var b_slice(mmf_tape *tp, const mmf_var *v, void *u) { return mmf_t_slice(tp, v[0], *(int *)u, 1, 3); }
static mmf_var b_reshape(mmf_tape *tp, const mmf_var *v, void *u) {
    mmf_var r = mmf_t_reshape(tp, v[0], 2, (int64_t[]){3, 8});
    return mmf_t_mul(tp, r, r); /* the gradient must flow back through the alias */
}
static mmf_var b_sum(mmf_tape *tp, const mmf_var *v, void *u) { return mmf_t_sum(tp, v[0], *(int *)u); }
static mmf_var b_sum_all(mmf_tape *tp, const mmf_var *v, void *u) { return mmf_t_sum_all(tp, v[0]); }
static mmf_var b_mean_all(mmf_tape *tp, const mmf_var *v, void *u) { return mmf_t_mean_all(tp, v[0]); }

int main(void) {
    mmf_rng_seed(&g_rng, 7);
    { mmf_gc_input in[3] = {gin(2, 4, 5, 0, -1, 1, 0), gin(2, 3, 5, 0, -1, 1, 0), gin(1, 3, 0, 0, -1, 1, 0)};
      GC("linear", b_linear, NULL, in, 3, 0); }
    { mmf_gc_input in[2] = {gin(3, 2, 3, 4, -1, 1, 0), gin(2, 5, 4, 0, -1, 1, 0)};
      GC("linear [B,T,C]", b_linear3d, NULL, in, 2, 0); }
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int t[2] = {ta, tb};
            mmf_gc_input in[2] = {ta ? gin(2, 4, 3, 0, -1, 1, 0) : gin(2, 3, 4, 0, -1, 1, 0),
                                  tb ? gin(2, 5, 4, 0, -1, 1, 0) : gin(2, 4, 5, 0, -1, 1, 0)};
            char name[32];
            snprintf(name, sizeof name, "matmul ta=%d tb=%d", ta, tb);
            GC(name, b_matmul, t, in, 2, 0);
            mmf_gc_input in3[2] = {ta ? gin(3, 2, 4, 3, -1, 1, 0) : gin(3, 2, 3, 4, -1, 1, 0),
                                   tb ? gin(3, 2, 5, 4, -1, 1, 0) : gin(3, 2, 4, 5, -1, 1, 0)};
            snprintf(name, sizeof name, "bmm ta=%d tb=%d", ta, tb);
            GC(name, b_matmul, t, in3, 2, 0);
        }
    { mmf_gc_input in[2] = {gin(2, 3, 4, 0, -1, 1, 0), gin(2, 3, 4, 0, -1, 1, 0)}; GC("add same", b_add, NULL, in, 2, 0); }
    { mmf_gc_input in[2] = {gin(2, 3, 4, 0, -1, 1, 0), gin(1, 4, 0, 0, -1, 1, 0)}; GC("add row bcast", b_add, NULL, in, 2, 0); }
    { mmf_gc_input in[2] = {gin(2, 3, 1, 0, -1, 1, 0), gin(2, 1, 4, 0, -1, 1, 0)}; GC("sub both bcast", b_sub, NULL, in, 2, 0); }
    { mmf_gc_input in[2] = {gin(3, 2, 3, 4, -1, 1, 0), gin(2, 3, 1, 0, -1, 1, 0)}; GC("mul [2,3,4]*[3,1]", b_mul, NULL, in, 2, 0); }
    { mmf_gc_input in[2] = {gin(2, 3, 4, 0, -1, 1, 0), gin(1, 1, 0, 0, -1, 1, 0)}; GC("mul scalar", b_mul, NULL, in, 2, 0); }
    { mmf_gc_input in[1] = {gin(2, 3, 4, 0, -1, 1, 0)}; GC("scale", b_scale, NULL, in, 1, 0); }
    for (int ax = 0; ax < 2; ax++) {
        int a = ax;
        mmf_gc_input in[3] = {gin(2, 2, 3, 0, -1, 1, 0), ax ? gin(2, 2, 1, 0, -1, 1, 0) : gin(2, 4, 3, 0, -1, 1, 0), gin(2, 2, 3, 0, -1, 1, 0)};
        in[2].no_grad = 1; /* a constant among the inputs */
        GC(ax ? "concat axis 1" : "concat axis 0", b_concat, &a, in, 3, 0);
    }
    for (int ax = 0; ax < 3; ax++) { int a = ax; mmf_gc_input in[1] = {gin(3, 4, 4, 4, -1, 1, 0)}; GC("slice", b_slice, &a, in, 1, 0); }
    { mmf_gc_input in[1] = {gin(3, 2, 3, 4, -1, 1, 0)}; GC("reshape", b_reshape, NULL, in, 1, 0); }
    for (int ax = 0; ax < 3; ax++) { int a = ax; mmf_gc_input in[1] = {gin(3, 2, 3, 4, -1, 1, 0)}; GC("sum axis", b_sum, &a, in, 1, 0); }
    { mmf_gc_input in[1] = {gin(2, 3, 4, 0, -1, 1, 0)}; GC("sum_all", b_sum_all, NULL, in, 1, 0); }
    { mmf_gc_input in[1] = {gin(2, 3, 4, 0, -1, 1, 0)}; GC("mean_all", b_mean_all, NULL, in, 1, 0); }

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
