/* The fused bf16 transformer pieces (core/ops_bf16.h, the GEMM epilogue's
 * activations) against independent references:
 *  - attention (bf16 QK^T and PV GEMMs, vectorised softmax) against a
 *    double-precision attention over the same bf16-rounded q, k, v, with
 *    padding masks, a batch whose keys are all padding, causal masking, odd
 *    and 16-unaligned lengths, head sizes 8/32/64 and 1-2 threads. Bound: the
 *    output is a convex combination of v rows; rounding the probabilities to
 *    bf16 moves it by at most 2^-9 max|v|, rounding the result by 2^-9 |o|,
 *    so |o - ref| <= 2^-8 max|v| plus fp32 noise (we allow 1.5 * 2^-8);
 *  - layer norm with bf16 output: its fp32 output equals mmf_layernorm's
 *    bit for bit, its bf16 output is that value rounded;
 *  - the epilogue activations (erf/tanh GELU, quick GELU, tanh) against the
 *    fp32 kernels of ops.h (themselves checked against PyTorch in
 *    test_kernels) applied to the same GEMM's plain output. */
#include "test_util.h"
#include "core/gemm_bf16.h"
#include "core/ops.h"
#include "core/ops_bf16.h"
#include "core/tensor.h"
#include "core/vmath512.h"
#include <stdint.h>
#include <string.h>

static float rnd(uint32_t *s) { *s = *s * 1664525u + 1013904223u; return (float)((*s >> 8) & 0xFFFF) / 65536.0f - 0.5f; }
static float bf(float v) { return mmf_bf16_to_f32(mmf_f32_to_bf16(v)); }
static void *al(size_t bytes) { return aligned_alloc(64, (bytes + 63) / 64 * 64); }

static void attention_case(int B, int H, int T, int D, int causal, int nt, uint32_t *seed) {
    const int C = H * D, ld = 3 * C;
    uint16_t *qkv = al((size_t)B * T * ld * 2), *out = al((size_t)B * T * C * 2);
    float *f = malloc((size_t)B * T * ld * 4);
    uint8_t *keep = malloc((size_t)B * T);
    for (int i = 0; i < B * T * ld; i++) {
        f[i] = bf(3.0f * rnd(seed));
        qkv[i] = mmf_f32_to_bf16(f[i]);
    }
    /* batch 0: every key real; batch 1: a few padded; batch 2: all padding */
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) keep[b * T + t] = b == 0 ? 1 : b == 1 ? (t % 3 != 1) : 0;
    memset(out, 0xFF, (size_t)B * T * C * 2);
    const float scale = 1.0f / sqrtf((float)D);
    void *sc = al(mmf_bf16_attention_scratch(T, D, nt));
    mmf_bf16_attention(out, C, qkv, ld, B, H, T, D, keep, causal, scale, sc, nt);
    double worst = 0, vmax = 0;
    int zero_ok = 1;
    double *s = malloc((size_t)T * sizeof(double));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                const float *q = f + ((size_t)b * T + t) * ld + h * D;
                double mx = -INFINITY;
                int vis = causal ? t + 1 : T, any = 0;
                for (int j = 0; j < T; j++) {
                    s[j] = -INFINITY;
                    if (j >= vis || !keep[b * T + j]) continue;
                    const float *k = f + ((size_t)b * T + j) * ld + C + h * D;
                    double d = 0;
                    for (int c = 0; c < D; c++) d += (double)q[c] * k[c];
                    s[j] = d * scale;
                    if (s[j] > mx) mx = s[j];
                    any = 1;
                }
                double sum = 0;
                for (int j = 0; j < T; j++) { s[j] = any && s[j] > -INFINITY ? exp(s[j] - mx) : 0.0; sum += s[j]; }
                for (int c = 0; c < D; c++) {
                    double o = 0;
                    for (int j = 0; j < T; j++) {
                        if (s[j] == 0.0) continue;
                        double v = f[((size_t)b * T + j) * ld + 2 * C + h * D + c];
                        o += s[j] / sum * v;
                        if (fabs(v) > vmax) vmax = fabs(v);
                    }
                    float got = mmf_bf16_to_f32(out[((size_t)b * T + t) * C + h * D + c]);
                    if (!any && got != 0.0f) zero_ok = 0;
                    double d = fabs(got - o);
                    if (!(d <= worst)) worst = d;
                }
            }
    double tol = 1.5 * vmax / 256.0 + 1e-6;
    CHECK_MSG(worst <= tol, "attention B=%d H=%d T=%d D=%d causal=%d nt=%d: max abs diff %g > %g", B, H, T, D, causal,
              nt, worst, tol);
    CHECK_MSG(zero_ok, "attention T=%d D=%d: rows with no visible key must be all zeros", T, D);
    free(s); free(sc); free(keep); free(f); free(out); free(qkv);
}

static void layernorm_case(int N, int C, int nt, uint32_t *seed) {
    float *x = malloc((size_t)N * C * 4), *w = malloc((size_t)C * 4), *b = malloc((size_t)C * 4);
    float *ref = malloc((size_t)N * C * 4), *y = malloc((size_t)N * C * 4);
    const int Cp = mmf_bf16_kpad(C);
    uint16_t *yb = malloc((size_t)N * Cp * 2);
    for (int i = 0; i < N * C; i++) x[i] = 5.0f + 2.0f * rnd(seed);
    for (int i = 0; i < C; i++) { w[i] = 1.0f + rnd(seed); b[i] = rnd(seed); }
    mmf_layernorm(ref, x, w, b, N, C, 1e-12f, 1);
    memcpy(y, x, (size_t)N * C * 4);
    memset(yb, 0xFF, (size_t)N * Cp * 2);
    mmf_bf16_layernorm(y, yb, Cp, y, w, b, N, C, 1e-12f, nt);   /* in place, as the layer runs it */
    int same = 1, rounded = 1;
    for (int i = 0; i < N; i++) {
        for (int c = 0; c < C; c++) {
            if (memcmp(&y[i * C + c], &ref[i * C + c], 4)) same = 0;
            if (yb[i * Cp + c] != mmf_f32_to_bf16(ref[i * C + c])) rounded = 0;
        }
        if (Cp > C && yb[i * Cp + C] != 0) rounded = 0;
    }
    CHECK_MSG(same, "layernorm N=%d C=%d nt=%d: fp32 output differs from mmf_layernorm", N, C, nt);
    CHECK_MSG(rounded, "layernorm N=%d C=%d nt=%d: bf16 output is not the rounded fp32 output (or pad not 0)", N, C, nt);
    free(x); free(w); free(b); free(ref); free(y); free(yb);
}

static void act_case(int act, void (*fp32)(float *, int64_t, int), const char *name, uint32_t *seed) {
    const int M = 13, N = 40, K = 24;
    float *x = malloc((size_t)M * K * 4), *W = malloc((size_t)N * K * 4), *bias = malloc((size_t)N * 4);
    float *ref = malloc((size_t)M * N * 4), *y = malloc((size_t)M * N * 4);
    uint16_t *xb = al((size_t)M * K * 2), *Wp = al(mmf_bf16_packed_size(N, K) * 2), *yb = malloc((size_t)M * N * 2);
    for (int i = 0; i < M * K; i++) x[i] = 2.0f * rnd(seed);
    for (int i = 0; i < N * K; i++) W[i] = 2.0f * rnd(seed);
    for (int i = 0; i < N; i++) bias[i] = 4.0f * rnd(seed);
    mmf_bf16_convert(xb, K, x, K, M, K, 1);
    mmf_bf16_pack(Wp, W, N, K);
    mmf_gemm_epi e0 = {.bias = bias, .y = ref, .ldy = N};
    mmf_bf16_gemm(xb, K, Wp, M, K, N, &e0, 1);
    fp32(ref, (int64_t)M * N, 1);
    mmf_gemm_epi e1 = {.bias = bias, .act = act, .y = y, .ldy = N, .yb = yb, .ldyb = N};
    mmf_bf16_gemm(xb, K, Wp, M, K, N, &e1, 2);
    char what[64];
    snprintf(what, sizeof what, "epilogue %s", name);
    t_allclose(y, ref, (size_t)M * N, 2e-6, 2e-6, what);
    int rounded = 1;
    for (int i = 0; i < M * N; i++) rounded &= yb[i] == mmf_f32_to_bf16(y[i]);
    CHECK_MSG(rounded, "%s: bf16 output is not the fp32 output rounded", what);
    free(x); free(W); free(bias); free(ref); free(y); free(xb); free(Wp); free(yb);
}

int main(void) {
    if (!mmf_bf16_gemm_supported()) return t_skip("this CPU has no AVX512-BF16");
    uint32_t seed = 7;
    const int geo[][2] = {{1, 32}, {5, 8}, {17, 32}, {128, 32}, {197, 64}, {40, 64}};
    for (size_t g = 0; g < sizeof geo / sizeof geo[0]; g++)
        for (int causal = 0; causal <= 1; causal++)
            for (int nt = 1; nt <= 2; nt++) attention_case(3, 2, geo[g][0], geo[g][1], causal, nt, &seed);
    layernorm_case(7, 384, 1, &seed);
    layernorm_case(70, 37, 2, &seed);
    act_case(MMF_EPI_GELU_ERF, mmf_gelu_erf, "gelu (erf)", &seed);
    act_case(MMF_EPI_GELU_TANH, mmf_gelu_tanh, "gelu (tanh)", &seed);
    act_case(MMF_EPI_QUICK_GELU, mmf_quick_gelu, "quick gelu", &seed);
    act_case(MMF_EPI_TANH, mmf_tanh, "tanh", &seed);
    return t_done("test_ops_bf16");
}
