/* int8 linear layers on oneDNN's matmul with weights packed once
 * (core/matmul_int8.c), two references per case:
 *  - the same quantisation computed in float64 (weights per channel, the
 *    activations per tensor with a zero point, or per token with
 *    MMFUSE_INT8_ACT=token): the primitive's epilogue (scale, bias, residual
 *    add, activation) must match it to float rounding;
 *  - the unquantised float64 product: relative error < 2% (the int8 budget).
 * Row counts the encoders meet (1, a short text, a 128-token sequence, a
 * batch), the BERT / MiniLM / ViT shapes, bias, accumulate, every activation,
 * 1 and 2 threads; a shape met often (its matrices' own primitives, scales
 * built in, two matrices of one shape kept apart); the primitive cache past its entries; a header that is
 * not a packed weight and an input with an infinity refused (output
 * untouched). Skipped without VNNI, where int8 precision is refused. */
#include "test_util.h"
#include "core/gemm_int8.h"
#include "core/matmul_int8.h"
#include <math.h>
#include <stdlib.h>

static unsigned rs = 424242u;
static float frand(void) { rs = rs * 1664525u + 1013904223u; return (float)((rs >> 8) & 0xffff) / 32768.0f - 1.0f; }

static double act_ref(int act, double x) {
    switch (act) {
    case MMF_I8_ACT_GELU_ERF: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case MMF_I8_ACT_GELU_TANH: return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case MMF_I8_ACT_QUICK_GELU: return x / (1.0 + exp(-1.702 * x));
    case MMF_I8_ACT_RELU: return x > 0 ? x : 0;
    case MMF_I8_ACT_TANH: return tanh(x);
    }
    return x;
}

/* x quantised as the kernel does it (same float operations): q - zp per value, scale per row */
static void quantise(const float *x, int rows, int K, int token, int *qz, float *scale) {
    float lo = 0.0f, hi = 0.0f;
    for (int i = 0; i < rows * K; i++) lo = x[i] < lo ? x[i] : lo, hi = x[i] > hi ? x[i] : hi;
    for (int r = 0; r < rows; r++) {
        float s, inv;
        int z;
        if (token) {
            float amax = 0.0f;
            for (int k = 0; k < K; k++) amax = fabsf(x[r * K + k]) > amax ? fabsf(x[r * K + k]) : amax;
            s = amax > 0.0f ? amax / 127.0f : 1.0f, inv = 1.0f / s, z = 128;
        } else {
            s = hi > lo ? (hi - lo) / 255.0f : 1.0f, inv = 1.0f / s;
            z = (int)nearbyintf(-lo * inv);
            z = z < 0 ? 0 : z > 255 ? 255 : z;
        }
        scale[r] = s;
        for (int k = 0; k < K; k++) {
            float v = nearbyintf(x[r * K + k] * inv) + (float)z;
            qz[r * K + k] = (int)(v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v) - z;
        }
    }
}

typedef struct result { double quant, exact; } result;

/* worst |got - ref| / (1 + |ref|) against the quantised reference, and the
 * relative Frobenius error against the exact product; quant < 0: refused */
static result check(int rows, int K, int N, int bias, int acc, int act, int nt, int token, const void *Wp, const float *W,
                    const float *b) {
    float *x = malloc(sizeof(float) * (size_t)rows * K), *y = malloc(sizeof(float) * (size_t)rows * N);
    float *y0 = malloc(sizeof(float) * (size_t)rows * N), *ws = malloc(sizeof(float) * N), *scale = malloc(sizeof(float) * rows);
    int *qz = malloc(sizeof(int) * (size_t)rows * K), *wq = malloc(sizeof(int) * (size_t)N * K);
    for (size_t i = 0; i < (size_t)rows * K; i++) x[i] = frand() * 3.0f + 0.5f;   /* off-centre: the zero point is not 128 */
    for (size_t i = 0; i < (size_t)rows * N; i++) y0[i] = y[i] = acc ? frand() : 1e30f;
    for (int n = 0; n < N; n++) {   /* the weights as mmf_mm_i8_pack quantises them */
        float amax = 0.0f;
        for (int k = 0; k < K; k++) amax = fabsf(W[n * K + k]) > amax ? fabsf(W[n * K + k]) : amax;
        ws[n] = amax > 0.0f ? amax / 127.0f : 1.0f;
        for (int k = 0; k < K; k++) {
            float v = nearbyintf(W[n * K + k] * (1.0f / ws[n]));
            wq[n * K + k] = (int)(v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v);
        }
    }
    quantise(x, rows, K, token, qz, scale);
    void *scr = malloc(mmf_mm_i8_scratch_bytes(rows, K, N));
    result res = {-1.0, -1.0};
    if (mmf_mm_i8_linear(y, x, Wp, bias ? b : NULL, rows, K, N, acc, act, scr, nt) == 0) {
        double worst = 0.0, num = 0.0, den = 0.0;
        for (int r = 0; r < rows; r++)
            for (int n = 0; n < N; n++) {
                long long s = 0;
                double e = bias ? b[n] : 0.0;
                for (int k = 0; k < K; k++) {
                    s += (long long)qz[(size_t)r * K + k] * wq[(size_t)n * K + k];
                    e += (double)x[(size_t)r * K + k] * W[(size_t)n * K + k];
                }
                double q = (double)scale[r] * ws[n] * (double)s + (bias ? b[n] : 0.0);
                if (acc) q += y0[(size_t)r * N + n], e += y0[(size_t)r * N + n];
                q = act_ref(act, q), e = act_ref(act, e);
                double got = y[(size_t)r * N + n], d = fabs(got - q) / (1.0 + fabs(q));
                worst = d > worst ? d : worst;
                num += (got - e) * (got - e), den += e * e;
            }
        res.quant = worst, res.exact = sqrt(num / (den + 1e-30));
    }
    free(x), free(y), free(y0), free(ws), free(scale), free(qz), free(wq), free(scr);
    return res;
}

int main(void) {
    if (!mmf_int8_supported()) return t_skip("the engine has no VNNI here; int8 precision is refused (test_int8 checks the message)");
    const int shapes[][2] = {{2304, 768}, {768, 768}, {3072, 768}, {768, 3072}, {1152, 384}, {384, 1536}, {50, 33}};
    const int rows[] = {1, 7, 128, 300};
    double worst = 0.0, worst_exact = 0.0;
    int cases = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int N = shapes[si][0], K = shapes[si][1];
        size_t bytes = mmf_mm_i8_bytes(N, K);
        CHECK_MSG(bytes >= (size_t)N * K, "%dx%d: %zu bytes packed", N, K, bytes);
        if (!bytes) continue;
        float *W = malloc(sizeof(float) * (size_t)N * K), *b = malloc(sizeof(float) * (size_t)N);
        for (size_t i = 0; i < (size_t)N * K; i++) W[i] = frand() * 0.1f;
        for (int i = 0; i < N; i++) b[i] = frand();
        void *Wp = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
        CHECK(Wp && mmf_mm_i8_pack(Wp, W, N, K) == 0);
        const int big = (size_t)N * K > 1000000;   /* the float64 references are the test's cost: fewer cases */
        for (size_t ri = 0; ri < sizeof rows / sizeof rows[0] - (size_t)big; ri++)
            for (int mode = 0; mode < 8; mode++) {
                if (big && (mode == 1 || mode == 2 || mode == 4 || mode == 7)) continue;
                int nt = 1 + (int)((ri + mode) & 1), bias = mode & 1, acc = (mode >> 1) & 1, token = mode >> 2;
                /* every activation on the small shape, GELU (BERT's) on fc1's shapes */
                int act = N == 50 ? (int)((ri * 2 + mode) % 6) : (N == 3072 || N == 1536) && !acc ? MMF_I8_ACT_GELU_ERF : 0;
                setenv("MMFUSE_INT8_ACT", token ? "token" : "tensor", 1);
                result e = check(rows[ri], K, N, bias, acc, act, nt, token, Wp, W, b);
                CHECK_MSG(e.quant >= 0.0 && e.quant < 1e-4 && e.exact < 0.02,
                          "%dx%d rows %d bias %d acc %d act %d threads %d per-%s: error %g vs quantised, %g vs exact", N, K,
                          rows[ri], bias, acc, act, nt, token ? "token" : "tensor", e.quant, e.exact);
                worst = e.quant > worst ? e.quant : worst;
                worst_exact = e.exact > worst_exact ? e.exact : worst_exact;
                cases++;
            }
        free(W);
        free(b);
        free(Wp);
    }
    unsetenv("MMFUSE_INT8_ACT");
    /* a shape met often: from its 16th call a matrix runs its own primitive
     * (its scales built in), which must give the same numbers */
    {
        int N = 768, K = 768;
        float *W = malloc(sizeof(float) * (size_t)N * K), *b = malloc(sizeof(float) * (size_t)N);
        for (size_t i = 0; i < (size_t)N * K; i++) W[i] = frand() * 0.1f;
        for (int i = 0; i < N; i++) b[i] = frand();
        size_t bytes = mmf_mm_i8_bytes(N, K);
        void *Wp = aligned_alloc(64, (bytes + 63) & ~(size_t)63), *Wq = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
        CHECK(Wp && Wq && mmf_mm_i8_pack(Wp, W, N, K) == 0);
        for (size_t i = 0; i < (size_t)N * K; i++) W[i] *= -0.5f;   /* a second matrix of the shape */
        CHECK(mmf_mm_i8_pack(Wq, W, N, K) == 0);
        for (int it = 0; it < 80; it++) {
            int act = it & 1 ? MMF_I8_ACT_GELU_ERF : MMF_I8_ACT_NONE;
            result e = check(5, K, N, 1, 0, act, 1, 0, it & 2 ? Wq : Wp, W, b);
            if (!(it & 2)) continue;   /* W holds the second matrix */
            CHECK_MSG(e.quant >= 0.0 && e.quant < 1e-4, "call %d on the second matrix: error %g", it, e.quant);
        }
        for (size_t i = 0; i < (size_t)N * K; i++) W[i] *= -2.0f;   /* back to the first */
        for (int it = 0; it < 4; it++) {
            result e = check(5, K, N, 1, 0, it & 1 ? MMF_I8_ACT_GELU_ERF : 0, 1, 0, Wp, W, b);
            CHECK_MSG(e.quant >= 0.0 && e.quant < 1e-4, "first matrix after its own primitive: error %g", e.quant);
        }
        free(W);
        free(b);
        free(Wp);
        free(Wq);
    }
    /* more shapes than the cache holds, then the first again */
    {
        int N = 64, K = 48;
        float *W = malloc(sizeof(float) * N * K), *b = malloc(sizeof(float) * N);
        for (int i = 0; i < N * K; i++) W[i] = frand();
        for (int i = 0; i < N; i++) b[i] = frand();
        size_t bytes = mmf_mm_i8_bytes(N, K);
        void *Wp = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
        CHECK(Wp && mmf_mm_i8_pack(Wp, W, N, K) == 0);
        for (int r = 1; r <= 300; r++) {
            result e = check(r, K, N, 1, r & 1, 0, 1, 0, Wp, W, b);
            CHECK_MSG(e.quant >= 0.0 && e.quant < 1e-4, "cache pass, rows %d: error %g", r, e.quant);
        }
        result e = check(1, K, N, 1, 1, 0, 1, 0, Wp, W, b);
        CHECK_MSG(e.quant >= 0.0 && e.quant < 1e-4, "rows 1 after eviction: error %g", e.quant);
        /* not a packed weight, a wrong shape, an infinite input: refused, output untouched */
        static float junk[64 * 48], x[48], y[64];
        static unsigned char scr[4096];
        y[0] = 7.0f;
        CHECK(mmf_mm_i8_linear(y, x, junk, NULL, 1, K, N, 0, 0, scr, 1) != 0 && y[0] == 7.0f);
        CHECK(mmf_mm_i8_linear(y, x, Wp, NULL, 1, K + 1, N, 0, 0, scr, 1) != 0);
        x[3] = INFINITY;
        CHECK(mmf_mm_i8_linear(y, x, Wp, NULL, 1, K, N, 0, 0, scr, 1) != 0 && y[0] == 7.0f);
        free(W);
        free(b);
        free(Wp);
    }
    printf("%d cases, worst error %.2e against the quantised float64 product, %.4f (relative) against the exact one\n", cases,
           worst, worst_exact);
    return t_done("test_matmul_int8");
}
