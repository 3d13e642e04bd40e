/* Transposes of 32-bit elements (floats, or pairs of bf16 viewed as one
 * 32-bit word), in 16 x 16 blocks held in AVX-512 registers where the CPU
 * has it. Training moves small activation matrices between row-major [rows,
 * cols] and [cols, rows] every step (a linear layer's output computed as
 * y^T = W x^T, the weight gradient's dY^T, packing x for the bf16 GEMM); an
 * element-by-element loop with one side strided spent ~2.5 cycles per value. */
#ifndef MMF_CORE_TRANSPOSE_H
#define MMF_CORE_TRANSPOSE_H
#include <stdint.h>

/* dst[c * ldd + r] = src[r * lds + c] (+ add[r] when add != NULL, floats only)
 * for r < rows, c < cols. dst and src must not overlap. */
void mmf_transpose_f32(float *dst, int64_t ldd, const float *src, int64_t lds, int64_t rows, int64_t cols,
                       const float *add);
/* The same for raw 32-bit words (no add). */
void mmf_transpose_u32(uint32_t *dst, int64_t ldd, const uint32_t *src, int64_t lds, int64_t rows, int64_t cols);
#endif
