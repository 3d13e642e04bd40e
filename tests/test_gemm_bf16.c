/* The bf16 GEMM against a double-precision product of the same bf16-rounded
 * operands (so only fp32 accumulation order may differ), over shapes with
 * row, column and K tails, with bias, accumulation and 1-2 threads; and the
 * convolution path: pre-converted bf16 rows with a stride, bias + residual +
 * ReLU epilogue, fp32 and bf16 outputs; the one-pass packing used in
 * training (mmf_bf16_pack_fast) against the reference packing, bit for bit. */
#include "test_util.h"
#include "core/gemm_bf16.h"
#include "core/tensor.h"
#include <stdint.h>
#include <string.h>

static float rnd(uint32_t *s) { *s = *s * 1664525u + 1013904223u; return (float)((*s >> 8) & 0xFFFF) / 65536.0f - 0.5f; }
static float bf(float v) { return mmf_bf16_to_f32(mmf_f32_to_bf16(v)); }

int main(void) {
    if (!mmf_bf16_gemm_supported()) return t_skip("this CPU has no AVX512-BF16");
    /* full tiles of 12, 8 (128 = 10 x 12 + 8) and 4 rows (28 = 2 x 12 + 4), and partial ones */
    const int shapes[][3] = {{1, 1, 1}, {37, 24, 50}, {12, 32, 2}, {13, 33, 3}, {128, 96, 64}, {25, 1152, 384}, {7, 17, 1537}, {28, 40, 21}};
    uint32_t seed = 1;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
        float *x = malloc((size_t)M * K * 4), *W = malloc((size_t)N * K * 4), *b = malloc((size_t)N * 4);
        float *y = malloc((size_t)M * N * 4);
        double *ref = malloc((size_t)M * N * sizeof(double));
        for (int i = 0; i < M * K; i++) x[i] = rnd(&seed);
        for (int i = 0; i < N * K; i++) W[i] = rnd(&seed);
        for (int i = 0; i < N; i++) b[i] = rnd(&seed);
        uint16_t *Wp = aligned_alloc(64, (mmf_bf16_packed_size(N, K) * 2 + 63) / 64 * 64);
        void *sc = aligned_alloc(64, (mmf_bf16_scratch_bytes(M, K) + 63) / 64 * 64);
        mmf_bf16_pack(Wp, W, N, K);
        for (int acc = 0; acc <= 1; acc++)
            for (int nt = 1; nt <= 2; nt++) {
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) {
                        double s = (acc ? 0.25 : 0.0) + b[j];
                        for (int k = 0; k < K; k++) s += (double)bf(x[i * K + k]) * bf(W[j * K + k]);
                        ref[i * N + j] = s;
                        y[i * N + j] = 0.25f;
                    }
                mmf_bf16_linear(y, x, Wp, b, M, K, N, acc, sc, nt);
                double worst = 0;
                for (int i = 0; i < M * N; i++) { double d = fabs(y[i] - ref[i]); if (d > worst) worst = d; }
                CHECK_MSG(worst <= 2e-6 * (K + 1), "M=%d N=%d K=%d acc=%d nt=%d: max abs diff %g", M, N, K, acc, nt, worst);
            }
        /* pre-converted rows with a wider stride and the full epilogue:
         * bias + residual + ReLU to fp32 and bf16 outputs (the convolutions' path) */
        {
            const int Kp = mmf_bf16_kpad(K), ldx = Kp + 4, ldr = N + 3, ldb = N + 1;
            uint16_t *xb = malloc((size_t)M * ldx * 2), *yb = malloc((size_t)M * ldb * 2);
            float *res = malloc((size_t)M * ldr * 4), *xs = malloc((size_t)M * (K + 5) * 4);
            mmf_bf16_convert(xb, ldx, x, K, M, K, 1);
            for (int i = 0; i < M * ldr; i++) res[i] = rnd(&seed);
            for (int i = 0; i < M; i++) memcpy(xs + (size_t)i * (K + 5), x + (size_t)i * K, (size_t)K * 4);
            for (int nt = 1; nt <= 2; nt++) {
                mmf_gemm_epi e = {.bias = b, .res = res, .ldr = ldr, .relu = 1, .y = y, .ldy = N, .yb = yb, .ldyb = ldb};
                mmf_bf16_gemm(xb, ldx, Wp, M, K, N, &e, nt);
                double worst = 0, worst_b = 0;
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) {
                        double s = b[j] + res[(size_t)i * ldr + j];
                        for (int k = 0; k < K; k++) s += (double)bf(x[i * K + k]) * bf(W[j * K + k]);
                        if (s < 0) s = 0;
                        double d = fabs(y[i * N + j] - s);
                        if (d > worst) worst = d;
                        /* the bf16 copy is the fp32 value rounded */
                        double db = fabs(mmf_bf16_to_f32(yb[(size_t)i * ldb + j]) - bf(y[i * N + j]));
                        if (db > worst_b) worst_b = db;
                    }
                CHECK_MSG(worst <= 2e-6 * (K + 1), "epilogue M=%d N=%d K=%d nt=%d: max abs diff %g", M, N, K, nt, worst);
                CHECK_MSG(worst_b == 0, "bf16 output M=%d N=%d K=%d: %g", M, N, K, worst_b);
            }
            free(xb); free(yb); free(res); free(xs);
        }
        free(x); free(W); free(b); free(y); free(ref); free(Wp); free(sc);
    }
    /* mmf_bf16_pack_fast == mmf_bf16_pack, including a row stride wider than K and every tail */
    const int ps[][2] = {{1, 1}, {16, 32}, {17, 33}, {5, 70}, {64, 896}, {70, 45}, {33, 1}};
    for (size_t si = 0; si < sizeof ps / sizeof ps[0]; si++) {
        int N = ps[si][0], K = ps[si][1], ld = K + 3;
        float *W = malloc((size_t)N * ld * 4), *Wc = malloc((size_t)N * K * 4);
        for (int n = 0; n < N; n++)
            for (int k = 0; k < ld; k++) W[n * ld + k] = rnd(&seed) * 8.0f;
        for (int n = 0; n < N; n++) memcpy(Wc + n * K, W + n * ld, (size_t)K * 4);
        size_t sz = mmf_bf16_packed_size(N, K);
        uint16_t *a = malloc(sz * 2), *b2 = malloc(sz * 2);
        memset(b2, 0xAB, sz * 2);
        mmf_bf16_pack(a, Wc, N, K);
        mmf_bf16_pack_fast(b2, W, N, K, ld);
        CHECK_MSG(!memcmp(a, b2, sz * 2), "pack_fast %dx%d (ld %d) differs from pack", N, K, ld);
        free(W); free(Wc); free(a); free(b2);
    }
    return t_done("test_gemm_bf16");
}
