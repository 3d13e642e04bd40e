/* Every forward kernel of src/core/ops.h against PyTorch references
 * (tests/data/kernels/kernels_ref.safetensors, made by tests/ref/ref_kernels.py; the
 * expected values are float64 PyTorch results on the same float32 inputs).
 *
 * Tolerance: |got - expected| <= tol * max(1, |expected|) with tol = TOL = 1e-5 for
 * the BLAS-backed kernels (linear, GEMM, attention, conv2d, batchnorm folding),
 * the tighter TIGHT = 1e-6 for our own loops (activations, layernorm, softmax,
 * batchnorm, average pooling), and exact (0) where float32 is exact (ReLU,
 * residual add, embedding, max pooling, F16/BF16 conversions).
 * Every case runs with n_threads 1 and 2; small inputs are tiled until the
 * kernels' parallel paths switch on (> 32768 values) so both paths are checked.
 * The worst error per kernel is printed at the end. */
#include "test_util.h"
#include "core/ops.h"
#include "core/tensor.h"
#include <stdint.h>

#define TOL 1e-5
#define TIGHT 1e-6

static mmf_safetensors *st;

/* ---- worst error per kernel, for the summary ---- */
typedef struct { const char *kernel; double worst, tol; int cases; } stat;
static stat stats[64];
static int n_stats;

static stat *stat_for(const char *kernel, double tol) {
    for (int i = 0; i < n_stats; i++)
        if (!strcmp(stats[i].kernel, kernel)) return &stats[i];
    stats[n_stats] = (stat){kernel, 0.0, tol, 0};
    return &stats[n_stats++];
}

/* relative-or-absolute error as in the header comment; NaN counts as infinite */
/* got has n values; expected repeats with the given period (tiled inputs) */
static void compare_tiled(const char *kernel, const char *what, int nt, const float *got, const float *exp,
                          size_t n, size_t period, double tol) {
    stat *s = stat_for(kernel, tol);
    double worst = 0.0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        float e = exp[i % period];
        double d = fabs((double)got[i] - (double)e) / fmax(1.0, fabs((double)e));
        if (isnan(d) || (isinf(e) && got[i] != e)) d = INFINITY;
        if (d > worst) { worst = d; at = i; }
    }
    s->cases++;
    if (worst > s->worst) s->worst = worst;
    CHECK_MSG(worst <= tol, "%s (%s, threads %d): element %zu = %.9g, expected %.9g (error %.3g > %.3g)",
              kernel, what, nt, at, got[at], exp[at % period], worst, tol);
}

static void compare(const char *kernel, const char *what, int nt, const float *got, const float *exp,
                    size_t n, double tol) {
    compare_tiled(kernel, what, nt, got, exp, n, n, tol);
}

static const mmf_tensor_info *info(const char *name) {
    const mmf_tensor_info *t = mmf_st_find(st, name);
    CHECK_MSG(t != NULL, "reference tensor %s missing", name);
    return t;
}

static int has(const char *prefix, const char *suffix) {
    char nm[300];
    snprintf(nm, sizeof nm, "%s.%s", prefix, suffix);
    return mmf_st_find(st, nm) != NULL;
}

/* float copy of PREFIX.SUFFIX (caller frees); *n gets the element count */
static float *getf(const char *prefix, const char *suffix, size_t *n) {
    char nm[300];
    snprintf(nm, sizeof nm, "%s.%s", prefix, suffix);
    const mmf_tensor_info *t = info(nm);
    if (!t) exit(1);
    float *p = malloc(((size_t)t->numel + 1) * sizeof *p);
    CHECK_OK(mmf_st_read_f32(st, nm, p, (size_t)t->numel));
    if (n) *n = (size_t)t->numel;
    return p;
}

static const uint8_t *getu8(const char *prefix, const char *suffix) {
    char nm[300];
    snprintf(nm, sizeof nm, "%s.%s", prefix, suffix);
    const mmf_tensor_info *t = info(nm);
    if (!t) exit(1);
    CHECK(t->dtype == MMF_DT_U8);
    return t->data;
}

/* I32 tensor into out[], count checked */
static void geti32(const char *name, int32_t *out, int count) {
    const mmf_tensor_info *t = info(name);
    if (!t) exit(1);
    CHECK(t->dtype == MMF_DT_I32 && t->numel == count);
    if (t->dtype != MMF_DT_I32 || t->numel != count) exit(1);
    memcpy(out, t->data, (size_t)count * 4);
}

/* Calls fn(prefix, nt) for every case "AREA.NAME" that has a cfg tensor. */
static void each_case(const char *area, void (*fn)(const char *, int), int nt) {
    size_t alen = strlen(area);
    for (size_t i = 0; i < mmf_st_count(st); i++) {
        const char *nm = mmf_st_at(st, i)->name;
        size_t len = strlen(nm);
        if (strncmp(nm, area, alen) || nm[alen] != '.' || len < 4 || strcmp(nm + len - 4, ".cfg")) continue;
        char prefix[200];
        snprintf(prefix, sizeof prefix, "%.*s", (int)(len - 4), nm);
        fn(prefix, nt);
    }
}

/* rep copies of x (n values) back to back */
static float *tile(const float *x, size_t n, int rep) {
    float *t = malloc(n * rep * sizeof *t);
    for (int r = 0; r < rep; r++) memcpy(t + r * n, x, n * sizeof *t);
    return t;
}
static int reps_for(size_t n) { return (int)(40000 / n) + 1; }


/* ---------------- cases ---------------- */

static void linear_case(const char *p, int nt) {
    int32_t c[4];
    char nm[300];
    snprintf(nm, sizeof nm, "%s.cfg", p);
    geti32(nm, c, 4);
    int N = c[0], IC = c[1], OC = c[2];
    float *x = getf(p, "x", NULL), *w = getf(p, "w", NULL), *y = getf(p, "y", NULL);
    float *b = c[3] ? getf(p, "b", NULL) : NULL;
    float *out = malloc((size_t)N * OC * sizeof *out);
    for (int i = 0; i < N * OC; i++) out[i] = NAN;   /* must be overwritten, bias or not */
    mmf_linear(out, x, w, b, N, IC, OC, nt);
    compare("linear", p, nt, out, y, (size_t)N * OC, TOL);
    free(x); free(w); free(y); free(b); free(out);
}

static void layernorm_case(const char *p, int nt) {
    int32_t c[3];
    char nm[300];
    snprintf(nm, sizeof nm, "%s.cfg", p);
    geti32(nm, c, 3);
    int N = c[0], C = c[1];
    float *x = getf(p, "x", NULL), *y = getf(p, "y", NULL), *eps = getf(p, "eps", NULL);
    float *w = c[2] ? getf(p, "w", NULL) : NULL, *b = c[2] ? getf(p, "b", NULL) : NULL;
    size_t n = (size_t)N * C;
    int rep = reps_for(n);
    float *big = tile(x, n, rep), *out = malloc(n * rep * sizeof *out);
    mmf_layernorm(out, big, w, b, (int64_t)N * rep, C, eps[0], nt);
    compare_tiled("layernorm", p, nt, out, y, n * rep, n, TIGHT);
    mmf_layernorm(big, big, w, b, N, C, eps[0], nt);               /* in place */
    compare("layernorm", p, nt, big, y, n, TIGHT);
    free(x); free(y); free(eps); free(w); free(b); free(big); free(out);
}

static void activations(int nt) {
    size_t n;
    float *x = getf("act", "x", &n);
    int rep = reps_for(n);
    struct { const char *name; void (*fn)(float *, int64_t, int); double tol; } acts[] = {
        {"gelu_erf", mmf_gelu_erf, TIGHT}, {"gelu_tanh", mmf_gelu_tanh, TIGHT},
        {"quick_gelu", mmf_quick_gelu, TIGHT}, {"relu", mmf_relu, 0.0},
        {"tanh", mmf_tanh, TIGHT}, {"sigmoid", mmf_sigmoid, TIGHT},
    };
    for (size_t a = 0; a < sizeof acts / sizeof *acts; a++) {
        float *y = getf("act", acts[a].name, NULL), *big = tile(x, n, rep);
        acts[a].fn(big, (int64_t)n * rep, nt);
        compare_tiled(acts[a].name, "act.x", nt, big, y, n * rep, n, acts[a].tol);
        /* an odd length exercises any vector tail */
        memcpy(big, x, 7 * sizeof *big);
        acts[a].fn(big, 7, nt);
        compare(acts[a].name, "act.x[:7]", nt, big, y, 7, acts[a].tol);
        free(y); free(big);
    }
    free(x);
    /* NaN goes through every activation (hand-checked property, no reference needed) */
    void (*fns[])(float *, int64_t, int) = {mmf_gelu_erf, mmf_gelu_tanh, mmf_quick_gelu, mmf_tanh, mmf_sigmoid};
    for (size_t a = 0; a < sizeof fns / sizeof *fns; a++) {
        float v[3] = {NAN, 1.0f, -NAN};
        fns[a](v, 3, nt);
        CHECK_MSG(isnan(v[0]) && !isnan(v[1]) && isnan(v[2]), "activation %zu lost a NaN", a);
    }
}

static void adds(int nt) {
    size_t n;
    float *a = getf("add", "a", &n), *b = getf("add", "b", NULL), *y = getf("add", "y", NULL);
    int rep = reps_for(n);
    float *ba = tile(a, n, rep), *bb = tile(b, n, rep), *out = malloc(n * rep * sizeof *out);
    mmf_add(out, ba, bb, (int64_t)n * rep, nt);
    compare_tiled("add", "add", nt, out, y, n * rep, n, 0.0);
    mmf_add(ba, ba, bb, (int64_t)n * rep, nt);                   /* aliasing */
    compare_tiled("add", "add in place", nt, ba, y, n * rep, n, 0.0);
    free(a); free(b); free(y); free(ba); free(bb); free(out);

    int32_t c[2];
    geti32("add_bias.cfg", c, 2);
    float *x = getf("add_bias", "x", &n), *bias = getf("add_bias", "bias", NULL);
    y = getf("add_bias", "y", NULL);
    rep = reps_for(n);
    float *bx = tile(x, n, rep);
    mmf_add_bias(bx, bias, (int64_t)c[0] * rep, c[1], nt);
    compare_tiled("add_bias", "add_bias", nt, bx, y, n * rep, n, 0.0);
    free(x); free(bias); free(y); free(bx);
}

static void softmax_case(const char *p, int nt) {
    int32_t c[3];
    char nm[300];
    snprintf(nm, sizeof nm, "%s.cfg", p);
    geti32(nm, c, 3);
    int rows = c[0], cols = c[1];
    float *x = getf(p, "x", NULL), *y = getf(p, "y", NULL);
    const uint8_t *keep = c[2] ? getu8(p, "keep") : NULL;
    size_t n = (size_t)rows * cols;
    int rep = reps_for(n);
    float *big = tile(x, n, rep);
    mmf_softmax_rows(big, (int64_t)rows * rep, cols, keep, nt);
    compare_tiled("softmax", p, nt, big, y, n * rep, n, TIGHT);
    free(x); free(y); free(big);
}

static void attention_case(const char *p, int nt) {
    int32_t c[8];
    char nm[300];
    snprintf(nm, sizeof nm, "%s.cfg", p);
    geti32(nm, c, 8);
    int B = c[0], H = c[1], Tq = c[2], Tk = c[3], D = c[4], causal = c[5], fused = c[7], HD = H * D;
    const uint8_t *keep = c[6] ? getu8(p, "keep") : NULL;
    float *y = getf(p, "y", NULL), *scale = getf(p, "scale", NULL);
    float *q, *k, *v, *buf = NULL, *qb = NULL, *kb = NULL, *vb = NULL;
    int ldq, ldk, ldv;
    if (fused) {
        buf = getf(p, "qkv", NULL);
        q = buf; k = buf + HD; v = buf + 2 * HD;
        ldq = ldk = ldv = 3 * HD;
    } else {
        q = qb = getf(p, "q", NULL); k = kb = getf(p, "k", NULL); v = vb = getf(p, "v", NULL);
        ldq = ldk = ldv = HD;
    }
    /* a wider output row: the gap must stay untouched */
    int ldo = fused ? HD : HD + 3;
    size_t on = (size_t)B * Tq * ldo;
    float *out = malloc(on * sizeof *out), *scratch = malloc(mmf_attention_scratch(Tq, Tk, nt) * sizeof(float));
    for (size_t i = 0; i < on; i++) out[i] = -777.0f;
    mmf_attention(out, ldo, q, ldq, k, ldk, v, ldv, B, H, Tq, Tk, D, keep, causal, scale[0], scratch, nt);
    float *packed = malloc((size_t)B * Tq * HD * sizeof *packed);
    int gap_ok = 1;
    for (int r = 0; r < B * Tq; r++) {
        memcpy(packed + (size_t)r * HD, out + (size_t)r * ldo, HD * sizeof *packed);
        for (int j = HD; j < ldo; j++) gap_ok &= out[(size_t)r * ldo + j] == -777.0f;
    }
    CHECK_MSG(gap_ok, "%s: attention wrote outside its ldo row", p);
    compare("attention", p, nt, packed, y, (size_t)B * Tq * HD, TOL);
    free(y); free(scale); free(buf); free(qb); free(kb); free(vb); free(out); free(scratch); free(packed);
}

static void gemm_case(const char *p, int nt) {
    int32_t c[9];
    char nm[300];
    snprintf(nm, sizeof nm, "%s.cfg", p);
    geti32(nm, c, 9);
    int ta = c[0], tb = c[1], batch = c[2], M = c[3], N = c[4], K = c[5], lda = c[6], ldb = c[7], ldc = c[8];
    size_t na, nb, nc;
    float *A = getf(p, "a", &na), *Bm = getf(p, "b", &nb), *C0 = getf(p, "c0", &nc), *Cx = getf(p, "c", NULL);
    float *ab = getf(p, "alpha_beta", NULL);
    int64_t sA = (int64_t)(na / batch), sB = (int64_t)(nb / batch), sC = (int64_t)(nc / batch);
    float *C = malloc(nc * sizeof *C);
    memcpy(C, C0, nc * sizeof *C);
    mmf_gemm_batched(ta, tb, batch, M, N, K, ab[0], A, lda, sA, Bm, ldb, sB, ab[1], C, ldc, sC, nt);
    compare("gemm_batched", p, nt, C, Cx, nc, TOL);
    memcpy(C, C0, nc * sizeof *C);
    for (int b = 0; b < batch; b++)
        mmf_gemm(ta, tb, M, N, K, ab[0], A + b * sA, lda, Bm + b * sB, ldb, ab[1], C + b * sC, ldc, nt);
    compare("gemm", p, nt, C, Cx, nc, TOL);
    free(A); free(Bm); free(C0); free(Cx); free(ab); free(C);
}

static void embedding(int nt) {
    (void)nt;
    const mmf_tensor_info *ti = info("embedding.ids");
    if (!ti) return;
    int n = (int)ti->numel;
    int32_t ids[64];
    geti32("embedding.ids", ids, n);
    size_t tn;
    float *table = getf("embedding", "table", &tn), *y = getf("embedding", "y", NULL);
    const mmf_tensor_info *tt = info("embedding.table");
    int dim = (int)tt->shape[1];
    int64_t vocab = tt->shape[0];
    float *out = malloc((size_t)n * dim * sizeof *out);
    CHECK_OK(mmf_embedding(out, table, ids, n, dim, vocab));
    compare("embedding", "embedding", nt, out, y, (size_t)n * dim, 0.0);
    ids[3] = (int32_t)vocab;
    CHECK(mmf_embedding(out, table, ids, n, dim, vocab) == MMF_ERR_ARG);
    CHECK(strstr(mmf_last_error(), "id 11 at position 3") != NULL);
    ids[3] = -1;
    CHECK(mmf_embedding(out, table, ids, n, dim, vocab) == MMF_ERR_ARG);
    free(table); free(y); free(out);
}

/* runs the conv described by PREFIX.cfg with weights w and bias b */
static float *run_conv(const char *p, const float *w, const float *b, int nt, size_t *on) {
    int32_t c[10];
    char nm[300];
    snprintf(nm, sizeof nm, "%s.cfg", p);
    geti32(nm, c, 10);
    int N = c[0], C = c[1], H = c[2], W = c[3], OC = c[4], KH = c[5], KW = c[6], s = c[7], pad = c[8], OH, OW;
    float *x = getf(p, "x", NULL);
    mmf_conv2d_out_size(H, W, KH, KW, s, pad, &OH, &OW);
    *on = (size_t)N * OC * OH * OW;
    float *out = malloc(*on * sizeof *out);
    for (size_t i = 0; i < *on; i++) out[i] = NAN;
    float *scratch = malloc((mmf_conv2d_scratch(C, H, W, KH, KW, s, pad) + 1) * sizeof(float));
    mmf_conv2d(out, x, w, b, N, C, H, W, OC, KH, KW, s, pad, scratch, nt);
    free(x); free(scratch);
    return out;
}

static void conv_case(const char *p, int nt) {
    size_t on, yn;
    float *w = getf(p, "w", NULL), *b = has(p, "b") ? getf(p, "b", NULL) : NULL, *y = getf(p, "y", &yn);
    float *out = run_conv(p, w, b, nt, &on);
    CHECK(on == yn);
    if (on == yn) compare("conv2d", p, nt, out, y, on, TOL);
    free(w); free(b); free(y); free(out);
}

static void bnfold_case(const char *p, int nt) {
    size_t wn, on, yn;
    float *w = getf(p, "w", &wn), *b = has(p, "b") ? getf(p, "b", NULL) : NULL, *y = getf(p, "y", &yn);
    size_t oc;
    float *mean = getf(p, "mean", &oc), *var = getf(p, "var", NULL), *eps = getf(p, "eps", NULL);
    float *gamma = getf(p, "gamma", NULL), *beta = getf(p, "beta", NULL);
    float *bias = malloc(oc * sizeof *bias);
    mmf_batchnorm_fold(w, bias, b, (int)oc, (int64_t)(wn / oc), mean, var, gamma, beta, eps[0]);
    float *out = run_conv(p, w, bias, nt, &on);
    CHECK(on == yn);
    if (on == yn) compare("batchnorm_fold", p, nt, out, y, on, TOL);
    free(w); free(b); free(y); free(mean); free(var); free(eps); free(gamma); free(beta); free(bias); free(out);
}

static void bn_case(const char *p, int nt) {
    int32_t c[4];
    char nm[300];
    snprintf(nm, sizeof nm, "%s.cfg", p);
    geti32(nm, c, 4);
    size_t n;
    float *x = getf(p, "x", &n), *y = getf(p, "y", NULL), *mean = getf(p, "mean", NULL), *var = getf(p, "var", NULL);
    float *eps = getf(p, "eps", NULL);
    float *gamma = c[3] ? getf(p, "gamma", NULL) : NULL, *beta = c[3] ? getf(p, "beta", NULL) : NULL;
    mmf_batchnorm(x, c[0], c[1], c[2], mean, var, gamma, beta, eps[0], nt);
    compare("batchnorm", p, nt, x, y, n, TIGHT);
    free(x); free(y); free(mean); free(var); free(eps); free(gamma); free(beta);
}

static void pool_case(const char *p, int nt) {
    int32_t c[8];
    char nm[300];
    snprintf(nm, sizeof nm, "%s.cfg", p);
    geti32(nm, c, 8);
    int N = c[0], C = c[1], H = c[2], W = c[3], k = c[4], s = c[5], pad = c[6], mode = c[7], OH, OW;
    size_t yn;
    float *x = getf(p, "x", NULL), *y = getf(p, "y", &yn);
    mmf_pool2d_out_size(H, W, k, s, pad, &OH, &OW);
    size_t on = (size_t)N * C * OH * OW;
    CHECK(on == yn);
    float *out = malloc(on * sizeof *out);
    if (mode == 0) mmf_maxpool2d(out, x, N, C, H, W, k, s, pad, nt);
    else mmf_avgpool2d(out, x, N, C, H, W, k, s, pad, mode == 1, nt);
    if (on == yn) compare(mode == 0 ? "maxpool2d" : "avgpool2d", p, nt, out, y, on, mode == 0 ? 0.0 : TIGHT);
    free(x); free(y); free(out);
}

static void gap(int nt) {
    int32_t c[3];
    geti32("gap.cfg", c, 3);
    float *x = getf("gap", "x", NULL), *y = getf("gap", "y", NULL);
    float *out = malloc((size_t)c[0] * c[1] * sizeof *out);
    mmf_global_avgpool(out, x, c[0], c[1], c[2], nt);
    compare("global_avgpool", "gap", nt, out, y, (size_t)c[0] * c[1], TIGHT);
    free(x); free(y); free(out);
}

/* storage conversions are exact: compare bit patterns */
static void halves(void) {
    const char *pairs[2][2] = {{"half.f16", "half.f16_as_f32"}, {"half.bf16", "half.bf16_as_f32"}};
    for (int i = 0; i < 2; i++) {
        const mmf_tensor_info *t = info(pairs[i][0]);
        if (!t) return;
        size_t n = (size_t)t->numel;
        float *got = malloc(n * sizeof *got), *exp = malloc(n * sizeof *exp);
        CHECK_OK(mmf_st_read_f32(st, pairs[i][0], got, n));
        CHECK_OK(mmf_st_read_f32(st, pairs[i][1], exp, n));
        CHECK_MSG(memcmp(got, exp, n * sizeof *got) == 0, "%s -> F32 differs from PyTorch's", pairs[i][0]);
        stat_for(i ? "bf16->f32" : "f16->f32", 0.0)->cases++;
        free(got); free(exp);
    }
    const mmf_tensor_info *src = info("round.f32"), *h = info("round.f16"), *b = info("round.bf16");
    if (!src || !h || !b) return;
    size_t n = (size_t)src->numel;
    float *x = malloc(n * sizeof *x);
    CHECK_OK(mmf_st_read_f32(st, "round.f32", x, n));
    int bad_h = 0, bad_b = 0;
    for (size_t i = 0; i < n; i++) {
        uint16_t eh, eb;
        memcpy(&eh, (const char *)h->data + 2 * i, 2);
        memcpy(&eb, (const char *)b->data + 2 * i, 2);
        if (mmf_f32_to_f16(x[i]) != eh) { if (!bad_h++) fprintf(stderr, "f32->f16 %.9g: got %04x want %04x\n", x[i], mmf_f32_to_f16(x[i]), eh); }
        if (mmf_f32_to_bf16(x[i]) != eb) { if (!bad_b++) fprintf(stderr, "f32->bf16 %.9g: got %04x want %04x\n", x[i], mmf_f32_to_bf16(x[i]), eb); }
    }
    CHECK_MSG(bad_h == 0, "%d of %zu float32 -> F16 roundings differ from PyTorch's", bad_h, n);
    CHECK_MSG(bad_b == 0, "%d of %zu float32 -> BF16 roundings differ from PyTorch's", bad_b, n);
    stat_for("f32->f16", 0.0)->cases++;
    stat_for("f32->bf16", 0.0)->cases++;
    free(x);
}

int main(void) {
    char path[1024];
    t_src_path("tests/data/kernels/kernels_ref.safetensors", path, sizeof path);
    if (mmf_st_open(path, &st) != MMF_OK) {
        fprintf(stderr, "cannot open the references (run `make refs`): %s\n", mmf_last_error());
        return 1;
    }
    for (int nt = 1; nt <= 2; nt++) {
        each_case("linear", linear_case, nt);
        each_case("layernorm", layernorm_case, nt);
        activations(nt);
        adds(nt);
        each_case("softmax", softmax_case, nt);
        each_case("attn", attention_case, nt);
        each_case("gemm", gemm_case, nt);
        embedding(nt);
        each_case("conv", conv_case, nt);
        each_case("bn", bn_case, nt);
        each_case("bnfold", bnfold_case, nt);
        each_case("pool", pool_case, nt);
        gap(nt);
    }
    halves();
    printf("%-16s %6s %12s %10s\n", "kernel", "checks", "max error", "tolerance");
    for (int i = 0; i < n_stats; i++)
        printf("%-16s %6d %12.3g %10.3g\n", stats[i].kernel, stats[i].cases, stats[i].worst, stats[i].tol);
    mmf_st_close(st);
    return t_done("test_kernels");
}
