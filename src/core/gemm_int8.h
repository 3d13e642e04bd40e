/* int8 linear layers on oneDNN's u8s8s32 GEMM (VNNI): weights quantised once,
 * symmetric per output channel; activations quantised per row (token) at each
 * call, symmetric, stored as u8 = q + 128 so that one A offset (128) serves
 * every row; the int32 products are scaled back to fp32 with the bias and the
 * residual in one pass. LayerNorm, softmax, GELU and attention stay fp32.
 *
 * Packed weights, per (N, K) matrix: N float scales, then N x K int8, row-major
 * (the (out, in) layout of the fp32 matrix). */
#ifndef MMF_CORE_GEMM_INT8_H
#define MMF_CORE_GEMM_INT8_H
#include <stddef.h>
#include <stdint.h>

/* 1 when the engine's ISA has VNNI (AVX512-VNNI or AVX-VNNI): without it the
 * u8 x s8 pair sums of the older instructions can saturate. */
int mmf_int8_supported(void);
/* The instruction set oneDNN's kernels use (the best the CPU has, capped by
 * ONEDNN_MAX_CPU_ISA): "avx2", "avx512_core_bf16", for messages and machine info. */
const char *mmf_engine_isa_name(void);

size_t mmf_int8_packed_bytes(int N, int K);
void mmf_int8_pack(void *dst, const float *W, int N, int K);
/* Scratch bytes for mmf_int8_linear on `rows` rows, at most Kmax inputs and Nmax outputs. */
size_t mmf_int8_scratch_bytes(int64_t rows, int Kmax, int Nmax);
/* y (rows, N) = (accumulate ? y : 0) + bias + x (rows, K) @ W^T, W packed by
 * mmf_int8_pack. Returns 0, or -1 when the engine refused (then y is untouched
 * and the caller runs the fp32 path). */
int mmf_int8_linear(float *y, const float *x, const void *Wp, const float *bias, int64_t rows, int K, int N,
                    int accumulate, void *scratch, int nt);
/* q = round(x / s) as u8 with s = max(x) / 255, for a non-negative x (a ReLU
 * output); *scale = s. Returns -1, writing nothing useful, when x has a
 * negative, NaN or infinite value. */
int mmf_quant_u8(uint8_t *q, const float *x, int64_t n, float *scale, int nt);
#endif
