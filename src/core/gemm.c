#include "core/ops.h"
#include <cblas.h>
#include <omp.h>

void mmf_threads_use(int nt) {
    if (nt < 1) nt = 1;
    /* nthreads-var is per calling thread: this steers our OpenMP loops and the
     * OpenMP build of OpenBLAS for this thread only. */
    if (omp_get_max_threads() != nt) omp_set_num_threads(nt);
}

void mmf_gemm(int transA, int transB, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc, int nt) {
    if (M <= 0 || N <= 0) return;
    mmf_threads_use(nt);
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void mmf_gemm_batched(int transA, int transB, int batch, int M, int N, int K, float alpha,
                      const float *A, int lda, int64_t sA, const float *B, int ldb, int64_t sB,
                      float beta, float *C, int ldc, int64_t sC, int nt) {
    if (nt < 1) nt = 1;
    mmf_threads_use(nt); /* a single batch runs outside the parallel region with nt BLAS threads */
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && batch > 1)
    for (int b = 0; b < batch; b++)
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    M, N, K, alpha, A + b * sA, lda, B + b * sB, ldb, beta, C + b * sC, ldc);
}

void mmf_linear(float *out, const float *inp, const float *W, const float *bias,
                int64_t N, int IC, int OC, int nt) {
    if (N <= 0) return;
    if (bias) {
        for (int64_t i = 0; i < N; i++)
            for (int o = 0; o < OC; o++) out[i * OC + o] = bias[o];
    }
    mmf_gemm(0, 1, (int)N, OC, IC, 1.0f, inp, IC, W, IC, bias ? 1.0f : 0.0f, out, OC, nt);
}
