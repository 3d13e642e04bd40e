/* fp32 linear layers through oneDNN's matmul primitive with the weights
 * reordered once, at load, into the blocked layout its kernels read:
 *   y (rows, N) = [y +] bias + x (rows, K) @ W^T,   W (N, K) as nn.Linear keeps it.
 * dnnl_sgemm (core/gemm.c) repacks W on every call; for one sequence
 * (rows = 128) that repacking is 10-15% of the GEMM: BERT-base's 48
 * projection GEMMs took 142 ms this way against 158 ms with dnnl_sgemm, one
 * thread, Intel Xeon (Emerald Rapids). The layout is fixed when packing (the
 * kernels' choice for 128 rows, which oneDNN keeps for every row count
 * measured: 1, 37, 128, 512, 1024); a row count it would refuse falls back to
 * an unpacked copy. Bias and the residual add (accumulate) run inside the
 * primitive. */
#ifndef MMF_CORE_MATMUL_F32_H
#define MMF_CORE_MATMUL_F32_H
#include <stddef.h>
#include <stdint.h>

/* bytes of a packed (N, K) weight (a header, then the blocked weights), or 0
 * when oneDNN has no matmul for it (keep the plain weight and dnnl_sgemm) */
size_t mmf_mm_f32_bytes(int N, int K);
/* W (N, K) -> dst (mmf_mm_f32_bytes(N, K) bytes, 64-byte aligned). 0, or -1. */
int mmf_mm_f32_pack(void *dst, const float *W, int N, int K);
/* y = [y +] bias + x @ W^T with Wp from mmf_mm_f32_pack; bias may be NULL.
 * 0, or -1 when oneDNN refused (y untouched: the caller computes it). */
int mmf_mm_f32_linear(float *y, const float *x, const void *Wp, const float *bias, int64_t rows, int K, int N,
                      int accumulate, int nt);
#endif
