/* A register-blocked kernel for the convolution GEMMs of small images: 16 rows
 * of C times 16 columns held in 16 AVX-512 accumulators, B read straight from
 * the im2col buffer (no packing), A broadcast from memory. For the
 * conv-as-GEMM shapes (M = 16..576 output rows, P = 64..4096 pixels, K = 27..576)
 * OpenBLAS spends much of its time packing; this kernel measured 1.1-2x faster
 * on them (CNN tower, batch 64, 1 thread). Without AVX-512 it declines and the
 * caller uses BLAS. */
#include "train/conv_gemm.h"

#if defined(__AVX512F__)
#include <immintrin.h>

int mmf_conv_gemm(float *C, const float *A, long a_m, long a_k, const float *B, int M, int K, int P, int accumulate) {
    if (M % 16 || P % 16 || M <= 0 || P <= 0 || K <= 0) return 0;
    for (int m0 = 0; m0 < M; m0 += 16) {
        const float *a = A + (long)m0 * a_m;
        for (int p = 0; p < P; p += 16) {
            __m512 acc[16];
            #pragma GCC unroll 16
            for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_ps();
            for (int k = 0; k < K; k++) {
                __m512 b = _mm512_loadu_ps(B + (long)k * P + p);
                const float *ak = a + (long)k * a_k;
                #pragma GCC unroll 16
                for (int i = 0; i < 16; i++) acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(ak[i * a_m]), b, acc[i]);
            }
            #pragma GCC unroll 16
            for (int i = 0; i < 16; i++) {
                float *c = C + (long)(m0 + i) * P + p;
                _mm512_storeu_ps(c, accumulate ? _mm512_add_ps(_mm512_loadu_ps(c), acc[i]) : acc[i]);
            }
        }
    }
    return 1;
}
/* C (M,N) += A (M,P) B (N,P)^T: dot products of rows, 4 x 4 of them at a time in
 * 16 accumulators over the long P; rows past M or N repeat the last row and
 * their results are dropped. Only for long rows: it re-reads A and B once per
 * block, which at P = 4096 (the first layer's dW, 16 x 27 outputs) measured
 * 1.4x OpenBLAS, and at P <= 1024 up to 2.5x slower. */
int mmf_conv_gemm_nt(float *C, const float *A, const float *B, int M, int N, int P) {
    if (P % 16 || P < 2048 || M <= 0 || N <= 0) return 0;
    for (int i0 = 0; i0 < M; i0 += 4)
        for (int j0 = 0; j0 < N; j0 += 4) {
            const float *a[4], *b[4];
            for (int t = 0; t < 4; t++) {
                a[t] = A + (long)(i0 + t < M ? i0 + t : M - 1) * P;
                b[t] = B + (long)(j0 + t < N ? j0 + t : N - 1) * P;
            }
            __m512 acc[4][4];
            #pragma GCC unroll 4
            for (int u = 0; u < 4; u++)
                #pragma GCC unroll 4
                for (int v = 0; v < 4; v++) acc[u][v] = _mm512_setzero_ps();
            for (int p = 0; p < P; p += 16) {
                __m512 av[4], bv[4];
                #pragma GCC unroll 4
                for (int t = 0; t < 4; t++) { av[t] = _mm512_loadu_ps(a[t] + p); bv[t] = _mm512_loadu_ps(b[t] + p); }
                #pragma GCC unroll 4
                for (int u = 0; u < 4; u++)
                    #pragma GCC unroll 4
                    for (int v = 0; v < 4; v++) acc[u][v] = _mm512_fmadd_ps(av[u], bv[v], acc[u][v]);
            }
            for (int u = 0; u < 4 && i0 + u < M; u++)
                for (int v = 0; v < 4 && j0 + v < N; v++) C[(long)(i0 + u) * N + j0 + v] += _mm512_reduce_add_ps(acc[u][v]);
        }
    return 1;
}
#else
int mmf_conv_gemm_nt(float *C, const float *A, const float *B, int M, int N, int P) {
    (void)C; (void)A; (void)B; (void)M; (void)N; (void)P;
    return 0;
}
int mmf_conv_gemm(float *C, const float *A, long a_m, long a_k, const float *B, int M, int K, int P, int accumulate) {
    (void)C; (void)A; (void)a_m; (void)a_k; (void)B; (void)M; (void)K; (void)P; (void)accumulate;
    return 0;
}
#endif
