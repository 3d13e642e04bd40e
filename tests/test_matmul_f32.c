/* fp32 linear layers on oneDNN's matmul with weights packed once
 * (core/matmul_f32.c) against a float64 product: y = [y +] bias + x W^T for
 * row counts the encoders meet (1, a short text, one 128-token sequence, a
 * batch) and the BERT / MiniLM shapes, with and without bias and the residual
 * add, at 1 and 2 threads; the primitive cache past its 64 entries (shapes
 * evicted and made again give the same numbers); a header that is not a
 * packed weight is refused rather than read. */
#include "test_util.h"
#include "core/matmul_f32.h"
#include <math.h>
#include <stdlib.h>

static unsigned rs = 12345u;
static float frand(void) { rs = rs * 1664525u + 1013904223u; return (float)((rs >> 8) & 0xffff) / 32768.0f - 1.0f; }

/* max |got - ref| / (1 + |ref|) over the rows */
static double check(int rows, int K, int N, int bias, int acc, int nt, const void *Wp, const float *W, const float *b) {
    float *x = malloc(sizeof(float) * (size_t)rows * K), *y = malloc(sizeof(float) * (size_t)rows * N);
    double *ref = malloc(sizeof(double) * (size_t)rows * N);
    for (size_t i = 0; i < (size_t)rows * K; i++) x[i] = frand();
    for (size_t i = 0; i < (size_t)rows * N; i++) ref[i] = acc ? (y[i] = frand()) : (y[i] = 1e30f, 0.0);
    for (int r = 0; r < rows; r++)
        for (int n = 0; n < N; n++) {
            double s = bias ? b[n] : 0.0;
            for (int k = 0; k < K; k++) s += (double)x[(size_t)r * K + k] * W[(size_t)n * K + k];
            ref[(size_t)r * N + n] += s;
        }
    double worst = -1.0;
    if (mmf_mm_f32_linear(y, x, Wp, bias ? b : NULL, rows, K, N, acc, nt) == 0) {
        worst = 0.0;
        for (size_t i = 0; i < (size_t)rows * N; i++) {
            double e = fabs(y[i] - ref[i]) / (1.0 + fabs(ref[i]));
            worst = e > worst ? e : worst;
        }
    }
    free(x);
    free(y);
    free(ref);
    return worst;
}

int main(void) {
    const int shapes[][2] = {{2304, 768}, {768, 768}, {3072, 768}, {768, 3072}, {1152, 384}, {384, 1536}, {50, 33}};
    const int rows[] = {1, 7, 128, 300};
    double worst = 0.0;
    int cases = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int N = shapes[si][0], K = shapes[si][1];
        size_t bytes = mmf_mm_f32_bytes(N, K);
        CHECK_MSG(bytes >= (size_t)N * K * sizeof(float), "%dx%d: %zu bytes packed", N, K, bytes);
        if (!bytes) continue;
        float *W = malloc(sizeof(float) * (size_t)N * K), *b = malloc(sizeof(float) * (size_t)N);
        for (size_t i = 0; i < (size_t)N * K; i++) W[i] = frand() * 0.1f;
        for (int i = 0; i < N; i++) b[i] = frand();
        void *Wp = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
        CHECK(Wp && mmf_mm_f32_pack(Wp, W, N, K) == 0);
        for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++)
            for (int mode = 0; mode < 4; mode++) {
                int nt = 1 + (int)((ri + mode) & 1);
                double e = check(rows[ri], K, N, mode & 1, mode >> 1, nt, Wp, W, b);
                CHECK_MSG(e >= 0.0 && e < 1e-5, "%dx%d rows %d bias %d acc %d threads %d: error %g", N, K, rows[ri], mode & 1,
                          mode >> 1, nt, e);
                worst = e > worst ? e : worst;
                cases++;
            }
        free(W);
        free(b);
        free(Wp);
    }
    /* more shapes than the cache holds, then the first again */
    {
        int N = 64, K = 48;
        float *W = malloc(sizeof(float) * N * K), *b = malloc(sizeof(float) * N);
        for (int i = 0; i < N * K; i++) W[i] = frand();
        for (int i = 0; i < N; i++) b[i] = frand();
        size_t bytes = mmf_mm_f32_bytes(N, K);
        void *Wp = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
        CHECK(Wp && mmf_mm_f32_pack(Wp, W, N, K) == 0);
        for (int r = 1; r <= 80; r++) {
            double e = check(r, K, N, 1, r & 1, 1, Wp, W, b);
            CHECK_MSG(e >= 0.0 && e < 1e-5, "cache pass, rows %d: error %g", r, e);
        }
        double e = check(1, K, N, 1, 1, 1, Wp, W, b);
        CHECK_MSG(e >= 0.0 && e < 1e-5, "rows 1 after eviction: error %g", e);
        /* not a packed weight: refused, output untouched */
        float junk[64 * 48] = {0}, x[48] = {0}, y[64];
        y[0] = 7.0f;
        CHECK(mmf_mm_f32_linear(y, x, junk, NULL, 1, K, N, 0, 1) != 0 && y[0] == 7.0f);
        CHECK(mmf_mm_f32_linear(y, x, Wp, NULL, 1, K + 1, N, 0, 1) != 0);
        free(W);
        free(b);
        free(Wp);
    }
    printf("%d cases, worst relative error %.2e against float64\n", cases, worst);
    return t_done("test_matmul_f32");
}
