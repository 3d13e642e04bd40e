/* bf16 training mode (mmf_tape_set_bf16, mmf_train_params.precision):
 * 1. linear forward, input gradient and weight gradient against a float64
 *    computation on the bf16-rounded operands (what the kernels promise: bf16
 *    inputs, fp32 sums), on sizes that exercise every padding path;
 * 2. the XOR task (tests/synth.h, 32-d features) trained in fp32 and in bf16 reaches the same
 *    accuracy within 0.03, and bf16 training is deterministic;
 * 3. fp32 training is unaffected by a bf16 run in the same process.
 * Skipped (77) on a CPU without AVX512-BF16, after checking the refusal. */
#include "synth.h"
#include "train/tape.h"
#include "core/gemm_bf16.h"
#include "core/tensor.h"
#include "io/json.h"

static double bf(float x) { return (double)mmf_bf16_to_f32(mmf_f32_to_bf16(x)); }

static void check_linear(int R, int IC, int OC, int with_bias) {
    mmf_rng r;
    mmf_rng_seed(&r, (uint64_t)(R * 1000 + IC * 10 + OC));
    float *x = malloc(sizeof(float) * (size_t)(R * IC)), *W = malloc(sizeof(float) * (size_t)(OC * IC));
    float *b = malloc(sizeof(float) * (size_t)OC), *G = malloc(sizeof(float) * (size_t)(R * OC));
    for (int i = 0; i < R * IC; i++) x[i] = mmf_rng_normal(&r);
    for (int i = 0; i < OC * IC; i++) W[i] = mmf_rng_normal(&r) * 0.1f;
    for (int i = 0; i < OC; i++) b[i] = mmf_rng_normal(&r);
    for (int i = 0; i < R * OC; i++) G[i] = mmf_rng_normal(&r);
    mmf_tape *tp = mmf_tape_new(1, 1);
    CHECK_OK(mmf_tape_set_bf16(tp, 1));
    mmf_var vx = mmf_t_leaf(tp, x, 2, (int64_t[]){R, IC});
    mmf_var vw = mmf_t_leaf(tp, W, 2, (int64_t[]){OC, IC});
    mmf_var vb = with_bias ? mmf_t_leaf(tp, b, 1, (int64_t[]){OC}) : -1;
    mmf_var y = mmf_t_linear(tp, vx, vw, vb);
    /* loss = sum(y * G): dL/dy = G exactly */
    mmf_var L = mmf_t_sum_all(tp, mmf_t_mul(tp, y, mmf_t_const(tp, G, 2, (int64_t[]){R, OC})));
    CHECK_OK(mmf_tape_status(tp));
    CHECK_OK(mmf_tape_backward(tp, L));
    float *ey = malloc(sizeof(float) * (size_t)(R * OC)), *ex = malloc(sizeof(float) * (size_t)(R * IC));
    float *ew = malloc(sizeof(float) * (size_t)(OC * IC));
    double sy = 0, sx = 0, sw = 0;  /* scale: sum of |terms|, for the tolerance */
    for (int i = 0; i < R; i++)
        for (int o = 0; o < OC; o++) {
            double s = with_bias ? b[o] : 0.0, a = 0.0;
            for (int k = 0; k < IC; k++) { s += bf(x[i * IC + k]) * bf(W[o * IC + k]); a += fabs(bf(x[i * IC + k]) * bf(W[o * IC + k])); }
            ey[i * OC + o] = (float)s;
            if (a > sy) sy = a;
        }
    for (int i = 0; i < R; i++)
        for (int k = 0; k < IC; k++) {
            double s = 0.0, a = 0.0;
            for (int o = 0; o < OC; o++) { s += bf(G[i * OC + o]) * bf(W[o * IC + k]); a += fabs(bf(G[i * OC + o]) * bf(W[o * IC + k])); }
            ex[i * IC + k] = (float)s;
            if (a > sx) sx = a;
        }
    for (int o = 0; o < OC; o++)
        for (int k = 0; k < IC; k++) {
            double s = 0.0, a = 0.0;
            for (int i = 0; i < R; i++) { s += bf(G[i * OC + o]) * bf(x[i * IC + k]); a += fabs(bf(G[i * OC + o]) * bf(x[i * IC + k])); }
            ew[o * IC + k] = (float)s;
            if (a > sw) sw = a;
        }
    char what[96];
    /* fp32 sums of exact bf16 products: error well below K * 2^-24 * sum|terms| */
    snprintf(what, sizeof what, "bf16 linear %dx%dx%d forward", R, IC, OC);
    t_allclose(mmf_tape_var(tp, y)->v, ey, (size_t)(R * OC), 4e-6 * sy, 1e-6, what);
    snprintf(what, sizeof what, "bf16 linear %dx%dx%d dX", R, IC, OC);
    t_allclose(mmf_tape_var(tp, vx)->g, ex, (size_t)(R * IC), 4e-6 * sx, 1e-6, what);
    snprintf(what, sizeof what, "bf16 linear %dx%dx%d dW", R, IC, OC);
    t_allclose(mmf_tape_var(tp, vw)->g, ew, (size_t)(OC * IC), 4e-6 * sw, 1e-6, what);
    if (with_bias) {
        float *eb = calloc((size_t)OC, sizeof(float));
        for (int i = 0; i < R; i++)
            for (int o = 0; o < OC; o++) eb[o] += G[i * OC + o];
        t_allclose(mmf_tape_var(tp, vb)->g, eb, (size_t)OC, 1e-5, 1e-5, "bf16 linear bias gradient (fp32)");
        free(eb);
    }
    mmf_tape_free(tp);
    free(x); free(W); free(b); free(G); free(ey); free(ex); free(ew);
}

static char dir[256];

static mmf_head *train(const char *fusion, mmf_embfile *tr, mmf_embfile *va, mmf_precision prec) {
    mmf_train_params p = synth_train_params(fusion);
    p.precision = prec;
    mmf_head *h = NULL;
    mmf_status s = mmf_head_train(tr, va, &p, &h);
    CHECK_MSG(s == MMF_OK, "%s: %s", fusion, mmf_last_error());
    return h;
}

static double acc(mmf_head *h, mmf_embfile *te) {
    mmf_eval_params o = mmf_eval_params_default();
    mmf_eval_result r;
    CHECK_OK(mmf_head_eval(h, te, &o, &r));
    return r.accuracy;
}

static int same_weights(mmf_head *a, mmf_head *b, const char *dir, const char *tag) {
    char pa[512], pb[512];
    snprintf(pa, sizeof pa, "%s/%s_a.safetensors", dir, tag);
    snprintf(pb, sizeof pb, "%s/%s_b.safetensors", dir, tag);
    CHECK_OK(mmf_head_save(a, pa));
    CHECK_OK(mmf_head_save(b, pb));
    size_t na = 0, nb = 0;
    char *ba = NULL, *bb = NULL;
    int same = mmf_read_file(pa, 1 << 26, &ba, &na) == MMF_OK && mmf_read_file(pb, 1 << 26, &bb, &nb) == MMF_OK && na == nb && !memcmp(ba, bb, na);
    free(ba); free(bb);
    return same;
}

int main(void) {
    if (!mmf_bf16_gemm_supported()) {
        mmf_tape *tp = mmf_tape_new(1, 1);
        CHECK(mmf_tape_set_bf16(tp, 1) == MMF_ERR_UNSUPPORTED);
        CHECK(strstr(mmf_last_error(), "AVX512-BF16") != NULL);
        mmf_tape_free(tp);
        if (t_failures) return t_done("test_train_bf16");
        printf("SKIP: this CPU has no AVX512-BF16 (the refusal was checked)\n");
        return 77;
    }
    /* 1. the kernels against float64 on the rounded operands */
    check_linear(5, 33, 32, 1);      /* fewer rows than a tile, odd K */
    check_linear(13, 33, 49, 1);     /* one past a row tile, one past a column block; y^T = W x^T path */
    check_linear(64, 96, 48, 0);
    check_linear(40, 130, 70, 1);
    check_linear(70, 45, 34, 1);

    /* 2. XOR task: same accuracy within 0.03 */
    t_tmpdir(dir, sizeof dir);
    int D = 32;   /* every layer of the three heads has >= 32 inputs and outputs: all run in bf16 */
    mmf_embfile *tr = synth_open(dir, "xtr", SYN_XOR, 2000, D, 1, 1.0f, -1);
    mmf_embfile *va = synth_open(dir, "xva", SYN_XOR, 400, D, 2, 1.0f, -1);
    mmf_embfile *te = synth_open(dir, "xte", SYN_XOR, 1000, D, 3, 1.0f, -1);
    static const char *ops[] = {"mlp", "gmu", "transformer"};
    for (int k = 0; k < 3; k++) {
        mmf_head *f0 = train(ops[k], tr, va, MMF_PRECISION_F32), *b0 = train(ops[k], tr, va, MMF_PRECISION_BF16);
        if (!f0 || !b0) { mmf_head_free(f0); mmf_head_free(b0); continue; }
        double af = acc(f0, te), ab = acc(b0, te);
        printf("XOR task: %-12s fp32 %.3f  bf16 %.3f  (difference %+.3f)\n", ops[k], af, ab, ab - af);
        CHECK_MSG(fabs(ab - af) <= 0.03, "%s: bf16 accuracy %.3f vs fp32 %.3f", ops[k], ab, af);
        CHECK_MSG(ab > 0.8, "%s: bf16 accuracy %.3f (chance is 0.5)", ops[k], ab);
        if (k == 0) {
            /* bf16 is deterministic, and the fp32 run after a bf16 run matches the first fp32 run */
            mmf_head *b1 = train(ops[k], tr, va, MMF_PRECISION_BF16), *f1 = train(ops[k], tr, va, MMF_PRECISION_F32);
            CHECK_MSG(b1 && same_weights(b0, b1, dir, "b"), "bf16 training is not deterministic");
            CHECK_MSG(f1 && same_weights(f0, f1, dir, "f"), "fp32 training changed after a bf16 run");
            CHECK_MSG(!same_weights(f0, b0, dir, "fb"), "bf16 and fp32 gave identical heads: bf16 mode did nothing");
            mmf_head_free(b1); mmf_head_free(f1);
        }
        mmf_head_free(f0); mmf_head_free(b0);
    }
    mmf_embfile_close(tr); mmf_embfile_close(va); mmf_embfile_close(te);
    synth_cleanup(dir);
    return t_done("test_train_bf16");
}
