/* Every tape op through one table (in the manner of ggml's test-backend-ops).
 * Each case of the table below is checked three ways:
 *   1. value and gradient against PyTorch in float64 (tests/data/tape_ops/ref.safetensors,
 *      made by tests/ref/ref_tape_ops.py): the output, and the gradient of
 *      sum(out * R) for every input that takes one, within the case's tolerance
 *      (default |d| <= 2e-6 + 2e-5 |ref|);
 *   2. the analytic gradient against central finite differences (train/gradcheck.c;
 *      default step 1e-2, |d| <= 2e-3 + 2e-2 |numeric|);
 *   3. 1 thread against 2 on inputs grown along the batch dimension until the
 *      op's parallel paths run (values and gradients |d| <= 1e-5 max|x| + 1e-5 |x|:
 *      the reduction order may differ).
 * Inputs, how to draw larger ones, and tolerances come from the reference file;
 * the table maps a case to the op call. The test fails when an op declared in
 * src/train/tape.h or src/train/conv.h has no case, when a case has no
 * reference, or when a reference has no case. Dropout's value is random: its
 * rule (each output 0 or x / (1 - p)) replaces the reference value. */
#include "test_util.h"
#include "train/gradcheck.h"
#include "train/conv.h"
#include "io/json.h"
#include <ctype.h>

typedef struct op_case {
    const char *op;       /* the mmf_t_ function it checks, without the prefix */
    const char *name;     /* the reference's case name */
    mmf_gc_build build;
    const void *user;
} op_case;

/* ---- constant inputs read back as the op's side arguments */
static uint8_t *keep_of(mmf_tape *tp, mmf_var v) {
    mmf_tvar *t = mmf_tape_var(tp, v);
    int64_t n = t->n;
    const float *x = t->v;
    uint8_t *k = mmf_tape_scratch(tp, (size_t)n + 1);
    for (int64_t i = 0; k && i < n; i++) k[i] = x[i] != 0.0f;
    return k;
}
static int64_t *i64_of(mmf_tape *tp, mmf_var v) {
    mmf_tvar *t = mmf_tape_var(tp, v);
    int64_t n = t->n;
    const float *x = t->v;
    int64_t *k = mmf_tape_scratch(tp, (size_t)n * sizeof(int64_t) + 8);
    for (int64_t i = 0; k && i < n; i++) k[i] = (int64_t)x[i];
    return k;
}
static int32_t *i32_of(mmf_tape *tp, mmf_var v) {
    mmf_tvar *t = mmf_tape_var(tp, v);
    int64_t n = t->n;
    const float *x = t->v;
    int32_t *k = mmf_tape_scratch(tp, (size_t)n * sizeof(int32_t) + 8);
    for (int64_t i = 0; k && i < n; i++) k[i] = (int32_t)x[i];
    return k;
}
static float *f_of(mmf_tape *tp, mmf_var v) { return mmf_tape_var(tp, v)->v; }
static int64_t numel(mmf_tape *tp, mmf_var v) { return mmf_tape_var(tp, v)->n; }

/* ---- builders */
#define U(type) const type *u = user
static mmf_var b_linear(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_linear(tp, v[0], v[1], v[2]); }
static mmf_var b_linear_nb(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_linear(tp, v[0], v[1], -1); }
static mmf_var b_matmul(mmf_tape *tp, const mmf_var *v, void *user) { U(int); return mmf_t_matmul(tp, v[0], v[1], u[0], u[1]); }
static mmf_var b_add(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_add(tp, v[0], v[1]); }
static mmf_var b_sub(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_sub(tp, v[0], v[1]); }
static mmf_var b_mul(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_mul(tp, v[0], v[1]); }
static mmf_var b_scale(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_scale(tp, v[0], -1.5f, 0.25f); }
static mmf_var b_concat(mmf_tape *tp, const mmf_var *v, void *user) { U(int); return mmf_t_concat(tp, v, 3, *u); }
static mmf_var b_slice(mmf_tape *tp, const mmf_var *v, void *user) { U(int); return mmf_t_slice(tp, v[0], *u, 1, 3); }
static mmf_var b_reshape(mmf_tape *tp, const mmf_var *v, void *user) {
    mmf_var r = mmf_t_reshape(tp, v[0], 2, (int64_t[]){numel(tp, v[0]) / 8, 8});
    return mmf_t_mul(tp, r, r);   /* the gradient must flow back through the alias */
}
static mmf_var b_sum(mmf_tape *tp, const mmf_var *v, void *user) { U(int); return mmf_t_sum(tp, v[0], *u); }
static mmf_var b_sum_all(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_sum_all(tp, v[0]); }
static mmf_var b_mean_all(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_mean_all(tp, v[0]); }
static mmf_var b_tanh(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_tanh(tp, v[0]); }
static mmf_var b_sigmoid(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_sigmoid(tp, v[0]); }
static mmf_var b_relu(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_relu(tp, v[0]); }
static mmf_var b_gelu(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_gelu(tp, v[0]); }
static mmf_var b_exp(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_exp(tp, v[0]); }
static mmf_var b_ssqrt(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_signed_sqrt(tp, v[0], 1e-6f); }
typedef struct { int M, masked, shared; } gcfg;
static mmf_var b_gated(mmf_tape *tp, const mmf_var *v, void *user) {
    U(gcfg);
    mmf_var a[MMF_NODE_MAXIN];
    for (int m = 0; m < u->M; m++) a[m] = u->shared ? v[1] : v[1 + m];
    return mmf_t_gated_sum(tp, v[0], a, u->M, u->masked ? keep_of(tp, v[1 + u->M]) : NULL);
}
static mmf_var b_softmax(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_softmax(tp, v[0], NULL); }
static mmf_var b_softmax_masked(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_softmax(tp, v[0], keep_of(tp, v[1])); }
static mmf_var b_layernorm(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_layernorm(tp, v[0], v[1], v[2], 1e-5f); }
static mmf_var b_layernorm_plain(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_layernorm(tp, v[0], -1, -1, 1e-5f); }
static mmf_var b_l2norm(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_l2norm(tp, v[0], 1e-12f); }
#define DROP_P 0.4f
static mmf_var b_dropout(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_dropout(tp, v[0], DROP_P); }
static mmf_var b_embedding(mmf_tape *tp, const mmf_var *v, void *user) {
    return mmf_t_embedding(tp, v[0], i32_of(tp, v[1]), numel(tp, v[1]));
}
typedef struct { int H, causal, masked; } acfg;
static mmf_var b_attn(mmf_tape *tp, const mmf_var *v, void *user) {
    U(acfg);
    return mmf_t_attention(tp, v[0], v[1], v[2], u->H, u->masked ? keep_of(tp, v[3]) : NULL, u->causal);
}
static mmf_var b_gru(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_gru_cell(tp, v[0], v[1], v[2], v[3], v[4], v[5]); }
static mmf_var b_lstm(mmf_tape *tp, const mmf_var *v, void *user) {
    mmf_var h, c;
    mmf_t_lstm_cell(tp, v[0], v[1], v[2], v[3], v[4], v[5], v[6], &h, &c);
    return mmf_t_concat(tp, (mmf_var[]){h, c}, 2, 1);
}
static mmf_var b_outer(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_outer(tp, v[0], v[1]); }
static mmf_var b_sketch(mmf_tape *tp, const mmf_var *v, void *user) {
    return mmf_t_count_sketch(tp, v[0], i32_of(tp, v[1]), f_of(tp, v[2]), 4);
}
static mmf_var b_circ(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_circ_conv(tp, v[0], v[1]); }
static mmf_var b_ce(mmf_tape *tp, const mmf_var *v, void *user) { U(float); return mmf_t_cross_entropy(tp, v[0], i64_of(tp, v[1]), *u, NULL); }
static mmf_var b_ce_w(mmf_tape *tp, const mmf_var *v, void *user) {
    return mmf_t_cross_entropy(tp, v[0], i64_of(tp, v[1]), 0.1f, f_of(tp, v[2]));
}
static mmf_var b_bce(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_bce_logits(tp, v[0], f_of(tp, v[1])); }
static mmf_var b_mse(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_mse(tp, v[0], f_of(tp, v[1])); }
static mmf_var b_nce(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_infonce(tp, v[0], v[1], v[2]); }
typedef struct { int stride, pad, bias; } ccfg;
static mmf_var b_conv(mmf_tape *tp, const mmf_var *v, void *user) { U(ccfg); return mmf_t_conv2d(tp, v[0], v[1], u->bias ? v[2] : -1, u->stride, u->pad); }
static mmf_var b_bn(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_batchnorm(tp, v[0], v[1], v[2], NULL, NULL, 0.1f, 1e-5f); }
static mmf_var b_bn_eval(mmf_tape *tp, const mmf_var *v, void *user) {
    /* eval mode only reads the running statistics */
    return mmf_t_batchnorm(tp, v[0], v[1], v[2], f_of(tp, v[3]), f_of(tp, v[4]), 0.1f, 1e-5f);
}
static mmf_var b_bn_relu(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_batchnorm_relu(tp, v[0], v[1], v[2], NULL, NULL, 0.1f, 1e-5f); }
typedef struct { int k, stride, pad, cip; } pcfg;
static mmf_var b_max(mmf_tape *tp, const mmf_var *v, void *user) { U(pcfg); return mmf_t_maxpool2d(tp, v[0], u->k, u->stride, u->pad); }
static mmf_var b_avg(mmf_tape *tp, const mmf_var *v, void *user) { U(pcfg); return mmf_t_avgpool2d(tp, v[0], u->k, u->stride, u->pad, u->cip); }
static mmf_var b_gap(mmf_tape *tp, const mmf_var *v, void *user) { return mmf_t_global_avgpool(tp, v[0]); }

static const int ax0 = 0, ax1 = 1, ax2 = 2, t00[2] = {0, 0}, t01[2] = {0, 1}, t10[2] = {1, 0}, t11[2] = {1, 1};
static const float sm0 = 0.0f, sm2 = 0.2f;

static const op_case cases[] = {
    {"linear", "linear", b_linear, NULL},
    {"linear", "linear_3d_nobias", b_linear_nb, NULL},
    {"matmul", "matmul_ta0_tb0", b_matmul, t00}, {"matmul", "matmul_ta0_tb1", b_matmul, t01},
    {"matmul", "matmul_ta1_tb0", b_matmul, t10}, {"matmul", "matmul_ta1_tb1", b_matmul, t11},
    {"matmul", "bmm_ta0_tb0", b_matmul, t00}, {"matmul", "bmm_ta0_tb1", b_matmul, t01},
    {"matmul", "bmm_ta1_tb0", b_matmul, t10}, {"matmul", "bmm_ta1_tb1", b_matmul, t11},
    {"add", "add", b_add, NULL}, {"add", "add_row_bcast", b_add, NULL},
    {"sub", "sub_both_bcast", b_sub, NULL},
    {"mul", "mul_3d_bcast", b_mul, NULL}, {"mul", "mul_scalar", b_mul, NULL},
    {"scale", "scale", b_scale, NULL},
    {"concat", "concat_axis0", b_concat, &ax0}, {"concat", "concat_axis1", b_concat, &ax1},
    {"slice", "slice_axis0", b_slice, &ax0}, {"slice", "slice_axis1", b_slice, &ax1}, {"slice", "slice_axis2", b_slice, &ax2},
    {"reshape", "reshape", b_reshape, NULL},
    {"sum", "sum_axis0", b_sum, &ax0}, {"sum", "sum_axis1", b_sum, &ax1}, {"sum", "sum_axis2", b_sum, &ax2},
    {"sum_all", "sum_all", b_sum_all, NULL},
    {"mean_all", "mean_all", b_mean_all, NULL},
    {"tanh", "tanh", b_tanh, NULL}, {"sigmoid", "sigmoid", b_sigmoid, NULL}, {"relu", "relu", b_relu, NULL},
    {"gelu", "gelu", b_gelu, NULL}, {"exp", "exp", b_exp, NULL}, {"signed_sqrt", "signed_sqrt", b_ssqrt, NULL},
    {"gated_sum", "gated_sum_m2", b_gated, &(gcfg){2, 0, 0}},
    {"gated_sum", "gated_sum_m2_masked", b_gated, &(gcfg){2, 1, 0}},
    {"gated_sum", "gated_sum_m3_masked", b_gated, &(gcfg){3, 1, 0}},
    {"gated_sum", "gated_sum_shared_block", b_gated, &(gcfg){2, 0, 1}},
    {"softmax", "softmax", b_softmax, NULL}, {"softmax", "softmax_masked", b_softmax_masked, NULL},
    {"layernorm", "layernorm", b_layernorm, NULL}, {"layernorm", "layernorm_plain", b_layernorm_plain, NULL},
    {"l2norm", "l2norm", b_l2norm, NULL},
    {"dropout", "dropout", b_dropout, NULL},
    {"embedding", "embedding", b_embedding, NULL},
    {"attention", "attention", b_attn, &(acfg){2, 0, 0}},
    {"attention", "attention_key_mask_cross", b_attn, &(acfg){2, 0, 1}},
    {"attention", "attention_causal", b_attn, &(acfg){1, 1, 0}},
    {"attention", "attention_causal_cross", b_attn, &(acfg){2, 1, 0}},
    {"attention", "attention_all_masked_row", b_attn, &(acfg){1, 0, 1}},
    {"gru_cell", "gru_cell", b_gru, NULL}, {"lstm_cell", "lstm_cell", b_lstm, NULL},
    {"outer", "outer", b_outer, NULL}, {"count_sketch", "count_sketch", b_sketch, NULL},
    {"circ_conv", "circ_conv", b_circ, NULL}, {"circ_conv", "circ_conv_d1", b_circ, NULL},
    {"cross_entropy", "cross_entropy", b_ce, &sm0}, {"cross_entropy", "cross_entropy_smooth", b_ce, &sm2},
    {"cross_entropy", "cross_entropy_weighted", b_ce_w, NULL},
    {"bce_logits", "bce_logits", b_bce, NULL}, {"mse", "mse", b_mse, NULL}, {"infonce", "infonce", b_nce, NULL},
    {"conv2d", "conv2d_3x3_s1_p1", b_conv, &(ccfg){1, 1, 1}},
    {"conv2d", "conv2d_3x3_s1_p1_width1", b_conv, &(ccfg){1, 1, 0}},
    {"conv2d", "conv2d_3x3_s1_p1_width2", b_conv, &(ccfg){1, 1, 0}},
    {"conv2d", "conv2d_5x5_s1_p2", b_conv, &(ccfg){1, 2, 0}},
    {"conv2d", "conv2d_2x3_s1_p1", b_conv, &(ccfg){1, 1, 0}},
    {"conv2d", "conv2d_3x3_s1_p1_16ch", b_conv, &(ccfg){1, 1, 1}},
    {"conv2d", "conv2d_3x2_s2_p0", b_conv, &(ccfg){2, 0, 0}},
    {"conv2d", "conv2d_4x4_s2_p2", b_conv, &(ccfg){2, 2, 1}},
    {"batchnorm", "batchnorm2d_train", b_bn, NULL}, {"batchnorm", "batchnorm1d_train", b_bn, NULL},
    {"batchnorm", "batchnorm2d_eval", b_bn_eval, NULL},
    {"batchnorm_relu", "batchnorm_relu_train", b_bn_relu, NULL},
    {"maxpool2d", "maxpool2d_k2_s2", b_max, &(pcfg){2, 2, 0, 0}},
    {"maxpool2d", "maxpool2d_k3_s2_p1", b_max, &(pcfg){3, 2, 1, 0}},
    {"avgpool2d", "avgpool2d_k3_s2_p1_cip", b_avg, &(pcfg){3, 2, 1, 1}},
    {"avgpool2d", "avgpool2d_k3_s1_p1_nocip", b_avg, &(pcfg){3, 1, 1, 0}},
    {"global_avgpool", "global_avgpool", b_gap, NULL},
};
#define N_CASES ((int)(sizeof cases / sizeof *cases))

/* ---- a case's description in the reference metadata */
typedef struct in_spec { char kind[8]; double lo, hi, away; int grad, batched; } in_spec;
typedef struct case_spec {
    in_spec in[MMF_NODE_MAXIN];
    int n_in, big, training, has_ref;
    double tol_abs, tol_rel, fd_eps, fd_abs, fd_rel;
} case_spec;

static int parse_spec(const char *json, const char *name, case_spec *cs) {
    cJSON *o;
    memset(cs, 0, sizeof *cs);
    if (mmf_json_parse(json, strlen(json), name, &o)) return 0;
    const cJSON *ins = cJSON_GetObjectItemCaseSensitive(o, "inputs"), *tol = cJSON_GetObjectItemCaseSensitive(o, "tol"),
                *fd = cJSON_GetObjectItemCaseSensitive(o, "fd");
    int ok = cJSON_IsArray(ins) && cJSON_GetArraySize(ins) >= 1 && cJSON_GetArraySize(ins) <= MMF_NODE_MAXIN &&
             cJSON_GetArraySize(tol) == 2 && cJSON_GetArraySize(fd) == 3;
    for (int k = 0; ok && k < cJSON_GetArraySize(ins); k++) {
        const cJSON *e = cJSON_GetArrayItem(ins, k);
        const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "kind"));
        in_spec *s = &cs->in[k];
        ok = kind && strlen(kind) < sizeof s->kind;
        if (!ok) break;
        snprintf(s->kind, sizeof s->kind, "%s", kind);
        s->lo = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "lo"));
        s->hi = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "hi"));
        s->away = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "away"));
        s->grad = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "grad"));
        s->batched = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "batched"));
        cs->n_in = k + 1;
    }
    if (ok) {
        cs->big = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "big"));
        cs->training = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "training"));
        cs->has_ref = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "ref"));
        cs->tol_abs = cJSON_GetNumberValue(cJSON_GetArrayItem(tol, 0));
        cs->tol_rel = cJSON_GetNumberValue(cJSON_GetArrayItem(tol, 1));
        cs->fd_eps = cJSON_GetNumberValue(cJSON_GetArrayItem(fd, 0));
        cs->fd_abs = cJSON_GetNumberValue(cJSON_GetArrayItem(fd, 1));
        cs->fd_rel = cJSON_GetNumberValue(cJSON_GetArrayItem(fd, 2));
        ok = cs->big >= 1;
    }
    cJSON_Delete(o);
    return ok;
}

static mmf_safetensors *st;

static float *read_tensor(const char *name, int *ndim, int64_t *shape) {
    const mmf_tensor_info *t = mmf_st_find(st, name);
    if (!t) return NULL;
    float *p = malloc((size_t)t->numel * sizeof(float) + 4);
    mmf_st_read_f32(st, name, p, (size_t)t->numel);
    if (ndim) *ndim = t->ndim;
    for (int d = 0; shape && d < t->ndim; d++) shape[d] = t->shape[d];
    return p;
}

/* values and leaf gradients of the case at n_threads (R weights the output) */
typedef struct run_out { float *y, *g[MMF_NODE_MAXIN]; int64_t ny, ng[MMF_NODE_MAXIN]; } run_out;

static int run(const op_case *oc, const case_spec *cs, mmf_gc_input *in, const float *R, int nt, run_out *o) {
    memset(o, 0, sizeof *o);
    mmf_tape *tp = mmf_tape_new(nt, 77);
    mmf_tape_set_training(tp, cs->training);
    mmf_var v[MMF_NODE_MAXIN];
    for (int k = 0; k < cs->n_in; k++)
        v[k] = in[k].no_grad ? mmf_t_const(tp, in[k].data, in[k].ndim, in[k].shape) : mmf_t_leaf(tp, in[k].data, in[k].ndim, in[k].shape);
    mmf_var y = oc->build(tp, v, (void *)oc->user);
    mmf_status s = mmf_tape_status(tp);
    if (!s) {
        mmf_tvar *t = mmf_tape_var(tp, y);
        o->ny = t->n;
        o->y = malloc((size_t)t->n * sizeof(float) + 4);
        memcpy(o->y, t->v, (size_t)t->n * sizeof(float));
        mmf_var L = mmf_t_sum_all(tp, mmf_t_mul(tp, y, mmf_t_const(tp, R, t->ndim, t->shape)));
        s = mmf_tape_status(tp);
        if (!s) s = mmf_tape_backward(tp, L);
    }
    for (int k = 0; !s && k < cs->n_in; k++) {
        if (in[k].no_grad) continue;
        mmf_tvar *t = mmf_tape_var(tp, v[k]);
        o->ng[k] = t->n;
        o->g[k] = malloc((size_t)t->n * sizeof(float) + 4);
        memcpy(o->g[k], t->g, (size_t)t->n * sizeof(float));
    }
    if (s) CHECK_MSG(0, "%s (threads %d): %s", oc->name, nt, mmf_last_error());
    mmf_tape_free(tp);
    return !s;
}
static void run_free(run_out *o) {
    free(o->y);
    for (int k = 0; k < MMF_NODE_MAXIN; k++) free(o->g[k]);
}

/* |a - b| <= abs + rel |b| everywhere */
static void compare(const char *name, const char *what, const float *a, const float *b, int64_t n, double abs, double rel) {
    double w = 0.0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / (abs + rel * fabs((double)b[i]));
        if (!(e <= w)) { w = isnan(e) ? INFINITY : e; at = i; }
    }
    CHECK_MSG(w <= 1.0, "%s: %s[%lld] = %.9g, expected %.9g (%.3g x tolerance)", name, what, (long long)at,
              n ? a[at] : 0.0f, n ? b[at] : 0.0f, w);
}
static double max_abs(const float *a, int64_t n) {
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

/* 1. reference value and gradient, 2. finite differences */
static void check_small(const op_case *oc, const case_spec *cs) {
    char nm[160];
    mmf_gc_input in[MMF_NODE_MAXIN];
    memset(in, 0, sizeof in);
    for (int k = 0; k < cs->n_in; k++) {
        snprintf(nm, sizeof nm, "%s.in%d", oc->name, k);
        in[k].data = read_tensor(nm, &in[k].ndim, in[k].shape);
        in[k].no_grad = !cs->in[k].grad;
        if (!in[k].data) { CHECK_MSG(0, "%s: reference has no %s", oc->name, nm); goto out; }
    }
    snprintf(nm, sizeof nm, "%s.in%d", oc->name, cs->n_in);
    CHECK_MSG(!mmf_st_find(st, nm), "%s: the reference has more inputs than its description", oc->name);
    if (cs->has_ref) {
        snprintf(nm, sizeof nm, "%s.out", oc->name);
        int nd;
        int64_t shp[MMF_T_MAXDIM];
        float *ref = read_tensor(nm, &nd, shp);
        snprintf(nm, sizeof nm, "%s.r", oc->name);
        float *R = read_tensor(nm, NULL, NULL);
        run_out o;
        if (ref && R && run(oc, cs, in, R, 1, &o)) {
            const mmf_tensor_info *t = mmf_st_find(st, nm);
            CHECK_MSG((int64_t)t->numel == o.ny, "%s: %lld outputs, the reference has %lld", oc->name, (long long)o.ny, (long long)t->numel);
            if ((int64_t)t->numel == o.ny) compare(oc->name, "value", o.y, ref, o.ny, cs->tol_abs, cs->tol_rel);
            for (int k = 0; k < cs->n_in; k++) {
                if (in[k].no_grad) continue;
                snprintf(nm, sizeof nm, "%s.grad%d", oc->name, k);
                float *gr = read_tensor(nm, NULL, NULL);
                char what[32];
                snprintf(what, sizeof what, "gradient of input %d", k);
                if (gr) compare(oc->name, what, o.g[k], gr, o.ng[k], cs->tol_abs, cs->tol_rel);
                else CHECK_MSG(0, "%s: reference has no %s", oc->name, nm);
                free(gr);
            }
            run_free(&o);
        } else CHECK_MSG(ref && R, "%s: reference has no output or R", oc->name);
        free(ref); free(R);
    } else {
        /* dropout: every output is 0 or x / (1 - p), and not all of one kind */
        int64_t n = 1;
        for (int d = 0; d < in[0].ndim; d++) n *= in[0].shape[d];
        float *R = calloc((size_t)n, sizeof(float));
        run_out o;
        if (run(oc, cs, in, R, 1, &o)) {
            int zeros = 0, bad = 0;
            for (int64_t i = 0; i < n; i++) {
                zeros += o.y[i] == 0.0f;
                bad += o.y[i] != 0.0f && fabsf(o.y[i] - in[0].data[i] / (1.0f - DROP_P)) > 1e-6f * fabsf(o.y[i]);
            }
            CHECK_MSG(!bad && zeros > 0 && zeros < n, "%s: %d outputs neither 0 nor x/(1-p), %d zeros of %lld", oc->name, bad, zeros, (long long)n);
            run_free(&o);
        }
        free(R);
    }
    mmf_gc_result r;
    mmf_status s = mmf_gradcheck(oc->build, (void *)oc->user, in, cs->n_in, (float)cs->fd_eps, cs->fd_abs, cs->fd_rel, cs->training, &r);
    CHECK_MSG(!s && r.worst <= 1.0 && r.checked > 0, "%s: finite differences: status %s (%s), worst %.3g at input %d [%lld]: "
              "analytic %.6g numeric %.6g", oc->name, mmf_status_str(s), s ? mmf_last_error() : "", r.worst, r.worst_input,
              (long long)r.worst_index, r.analytic, r.numeric);
    printf("%-26s %-14s ok: reference, %lld partials by finite differences (worst %.2f of tolerance)\n", oc->name, oc->op,
           (long long)r.checked, r.worst);
out:
    for (int k = 0; k < cs->n_in; k++) free(in[k].data);
}

/* 3. 1 thread against 2 on inputs grown along dim 0 */
static void check_threads(const op_case *oc, const case_spec *cs) {
    mmf_rng rng;
    mmf_rng_seed(&rng, 31);
    mmf_gc_input in[MMF_NODE_MAXIN];
    memset(in, 0, sizeof in);
    for (int k = 0; k < cs->n_in; k++) {
        char nm[160];
        snprintf(nm, sizeof nm, "%s.in%d", oc->name, k);
        const mmf_tensor_info *t = mmf_st_find(st, nm);
        const in_spec *s = &cs->in[k];
        in[k].ndim = t->ndim;
        int64_t n = 1;
        for (int d = 0; d < t->ndim; d++) n *= (in[k].shape[d] = t->shape[d] * (d == 0 && s->batched ? cs->big : 1));
        in[k].no_grad = !s->grad;
        in[k].data = malloc((size_t)n * sizeof(float) + 4);
        for (int64_t i = 0; i < n; i++) {
            float x;
            if (!strcmp(s->kind, "mask")) x = mmf_rng_uniform(&rng) < 0.6f;
            else if (!strcmp(s->kind, "int")) x = (float)mmf_rng_below(&rng, (uint32_t)s->hi);
            else if (!strcmp(s->kind, "sign")) x = mmf_rng_uniform(&rng) < 0.5f ? -1.0f : 1.0f;
            else if (!strcmp(s->kind, "spaced")) x = -2.0f + 4.0f * mmf_rng_uniform(&rng);
            else do x = (float)(s->lo + (s->hi - s->lo) * mmf_rng_uniform(&rng)); while (fabs(x) < s->away);
            in[k].data[i] = x;
        }
    }
    /* the output size, from a forward */
    mmf_tape *tp = mmf_tape_new(1, 77);
    mmf_tape_set_training(tp, cs->training);
    mmf_var v[MMF_NODE_MAXIN];
    for (int k = 0; k < cs->n_in; k++) v[k] = mmf_t_const(tp, in[k].data, in[k].ndim, in[k].shape);
    mmf_var y = oc->build(tp, v, (void *)oc->user);
    int64_t ny = mmf_tape_status(tp) ? 0 : mmf_tape_var(tp, y)->n;
    mmf_tape_free(tp);
    CHECK_MSG(ny > 0, "%s: the grown inputs fail: %s", oc->name, mmf_last_error());
    float *R = malloc((size_t)ny * sizeof(float) + 4);
    for (int64_t i = 0; i < ny; i++) R[i] = mmf_rng_normal(&rng);
    run_out o1, o2;
    if (ny > 0 && run(oc, cs, in, R, 1, &o1)) {
        if (run(oc, cs, in, R, 2, &o2)) {
            compare(oc->name, "value at 2 threads", o2.y, o1.y, ny, 1e-5 * max_abs(o1.y, ny) + 1e-30, 1e-5);
            for (int k = 0; k < cs->n_in; k++)
                if (o1.g[k]) compare(oc->name, "gradient at 2 threads", o2.g[k], o1.g[k], o1.ng[k], 1e-5 * max_abs(o1.g[k], o1.ng[k]) + 1e-30, 1e-5);
            run_free(&o2);
        }
        run_free(&o1);
    }
    free(R);
    for (int k = 0; k < cs->n_in; k++) free(in[k].data);
}

/* every op declared in the tape's headers has a case */
static void check_coverage(const char *header) {
    char path[512], *text;
    size_t len;
    if (mmf_read_file(t_src_path(header, path, sizeof path), 1 << 20, &text, &len)) { CHECK_MSG(0, "%s", mmf_last_error()); return; }
    /* gather_rows is the identity in one process: tests/test_tape_dp.c runs it on two ranks */
    static const char *not_ops[] = {"const", "view", "leaf", "full", "param", "param_deferred", "gather_rows"};
    for (char *p = text; (p = strstr(p, " mmf_t_")); ) {
        p += 7;
        char name[64];
        int n = 0;
        while ((isalnum((unsigned char)p[n]) || p[n] == '_') && n < 63) { name[n] = p[n]; n++; }
        name[n] = 0;
        /* a declaration: "mmf_var mmf_t_NAME(" or "void mmf_t_NAME(" at the start of a line */
        int decl = p[n] == '(' && ((p - text >= 15 && !strncmp(p - 15, "\nmmf_var", 8)) || (p - text >= 12 && !strncmp(p - 12, "\nvoid", 5)));
        if (!decl) continue;
        int skip = 0, found = 0;
        for (size_t i = 0; i < sizeof not_ops / sizeof *not_ops; i++) skip |= !strcmp(name, not_ops[i]);
        for (int i = 0; i < N_CASES; i++) found |= !strcmp(cases[i].op, name);
        CHECK_MSG(skip || found, "%s: mmf_t_%s has no case in tests/test_tape_ops.c", header, name);
    }
    free(text);
}

int main(void) {
    char path[512];
    if (mmf_st_open(t_src_path("tests/data/tape_ops/ref.safetensors", path, sizeof path), &st)) {
        fprintf(stderr, "%s\n", mmf_last_error());
        return 1;
    }
    for (int i = 0; i < N_CASES; i++) {
        const char *json = mmf_st_metadata(st, cases[i].name);
        case_spec cs;
        if (!json || !parse_spec(json, cases[i].name, &cs)) {
            CHECK_MSG(0, "%s: no usable description in the reference (run make refs)", cases[i].name);
            continue;
        }
        check_small(&cases[i], &cs);
        check_threads(&cases[i], &cs);
    }
    /* a reference without a case is a table entry lost */
    for (size_t i = 0; i < mmf_st_metadata_count(st); i++) {
        const char *key, *val;
        mmf_st_metadata_at(st, i, &key, &val);
        if (!strcmp(key, "generator") || !strcmp(key, "torch")) continue;
        int found = 0;
        for (int k = 0; k < N_CASES; k++) found |= !strcmp(cases[k].name, key);
        CHECK_MSG(found, "reference case %s has no entry in the table", key);
    }
    check_coverage("src/train/tape.h");
    check_coverage("src/train/conv.h");
    mmf_st_close(st);
    return t_done("test_tape_ops");
}
