/* int8 linear layers through oneDNN's matmul primitive with the weights
 * quantised (symmetric, per output channel) and reordered once, at load,
 * into the blocked layout its VNNI kernels read, with the zero-point
 * compensation oneDNN keeps beside them:
 *   y (rows, N) = act([y +] bias + x (rows, K) @ W^T),   W (N, K) as nn.Linear keeps it.
 * The activations are quantised per call, per tensor and asymmetric, to u8
 * with a zero point (ONNX Runtime's DynamicQuantizeLinear), so the whole
 * dequantisation is one scale per output column: the primitive applies it,
 * the bias, the residual add and the activation on its int32 sums while they
 * are in registers, and writes fp32 once. The path it replaces (core/gemm_int8.c,
 * dnnl_gemm_u8s8s32) repacked the weights on every call and wrote int32 sums
 * for a second pass to scale; that pass and the separate GELU were a third of
 * MiniLM's int8 time at 32 x 128 tokens.
 * MMFUSE_INT8_ACT=token quantises per token (row) instead, for comparison:
 * int32 sums, then a pass that scales each row (oneDNN 2.6 has no per-row scale
 * in its fast kernels). */
#ifndef MMF_CORE_MATMUL_INT8_H
#define MMF_CORE_MATMUL_INT8_H
#include <stddef.h>
#include <stdint.h>

/* the activation applied in the epilogue */
enum { MMF_I8_ACT_NONE, MMF_I8_ACT_GELU_ERF, MMF_I8_ACT_GELU_TANH, MMF_I8_ACT_QUICK_GELU, MMF_I8_ACT_RELU, MMF_I8_ACT_TANH };

/* bytes of a packed (N, K) weight, or 0 when oneDNN has no int8 matmul for it */
size_t mmf_mm_i8_bytes(int N, int K);
/* W (N, K) -> dst (mmf_mm_i8_bytes(N, K) bytes, 64-byte aligned). 0, or -1. */
int mmf_mm_i8_pack(void *dst, const float *W, int N, int K);
/* scratch bytes for mmf_mm_i8_linear on `rows` rows, at most Kmax inputs and Nmax outputs */
size_t mmf_mm_i8_scratch_bytes(int64_t rows, int Kmax, int Nmax);
/* y = act([y +] bias + x @ W^T), Wp from mmf_mm_i8_pack, bias may be NULL.
 * 0, or -1 when oneDNN refused or x holds a NaN or infinity (y untouched:
 * the caller computes it). */
int mmf_mm_i8_linear(float *y, const float *x, const void *Wp, const float *bias, int64_t rows, int K, int N,
                     int accumulate, int act, void *scratch, int nt);
/* 1 when activations are quantised per token (MMFUSE_INT8_ACT=token), else per tensor */
int mmf_mm_i8_per_token(void);
#endif
