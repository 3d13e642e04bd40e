/* GEMM through oneDNN's dnnl_sgemm: row-major like ours, and it picks its
 * kernel (AVX2, AVX-512, AMX) from the CPU at run time, capped by
 * ONEDNN_MAX_CPU_ISA. With the OpenMP runtime it uses omp_get_max_threads()
 * threads outside a parallel region and one inside ours. */
#include "core/ops.h"
#include "core/error.h"
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

void mmf_threads_use(int nt) {
    if (nt < 1) nt = 1;
    /* nthreads-var is per calling thread: this steers our OpenMP loops and
     * oneDNN's for this thread only. */
    if (omp_get_max_threads() != nt) omp_set_num_threads(nt);
}

/* dnnl_sgemm fails only on bad arguments or memory for its packing buffers;
 * then the product is still owed, so a plain loop computes it (slowly). */
static void gemm_plain(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                       const float *B, int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float acc = 0.0f;
            for (int k = 0; k < K; k++)
                acc += (transA ? A[(int64_t)k * lda + i] : A[(int64_t)i * lda + k]) *
                       (transB ? B[(int64_t)j * ldb + k] : B[(int64_t)k * ldb + j]);
            float *c = C + (int64_t)i * ldc + j;
            *c = alpha * acc + (beta == 0.0f ? 0.0f : beta * *c);
        }
}

void mmf_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
               int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    dnnl_status_t st = dnnl_sgemm(transA ? 'T' : 'N', transB ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    if (st != dnnl_success) {
        static int warned;
        if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
            mmf_log(MMF_LOG_WARN, "oneDNN sgemm failed (status %d) for %dx%dx%d: using the plain loop", (int)st, M, N, K);
        gemm_plain(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    }
}

void mmf_gemm(int transA, int transB, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc, int nt) {
    if (M <= 0 || N <= 0) return;
    mmf_threads_use(nt);
    mmf_sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void mmf_gemm_batched(int transA, int transB, int batch, int M, int N, int K, float alpha,
                      const float *A, int lda, int64_t sA, const float *B, int ldb, int64_t sB,
                      float beta, float *C, int ldc, int64_t sC, int nt) {
    if (nt < 1) nt = 1;
    mmf_threads_use(nt); /* a single batch runs outside the parallel region with nt threads */
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && batch > 1)
    for (int b = 0; b < batch; b++)
        mmf_sgemm(transA, transB, M, N, K, alpha, A + b * sA, lda, B + b * sB, ldb, beta, C + b * sC, ldc);
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
