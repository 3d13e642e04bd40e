/* BF16 GEMM for inference: y (M,N) = [y +] bias + x (M,K) @ W^T, with W (N,K)
 * packed once into bf16 panels and x rounded to bf16 per call (round to
 * nearest even), products accumulated in fp32 with AVX512-BF16 (vdpbf16ps),
 * twice the fp32 FMA rate on CPUs that have it. Opt-in: results differ from
 * fp32 by bf16 rounding (~3 significant digits per operand).
 *
 * Packed layout: for each block of 16 output columns, for each pair of K
 * positions, 16 x 2 bf16 (column-major pairs): one 64-byte load feeds one
 * vdpbf16ps. N is padded to 16 and K to 2 with zeros. */
#ifndef MMF_CORE_GEMM_BF16_H
#define MMF_CORE_GEMM_BF16_H
#include <stddef.h>
#include <stdint.h>

/* 1 if this CPU runs the bf16 kernels. */
int mmf_bf16_gemm_supported(void);
/* uint16 elements of a packed (N,K) weight. */
size_t mmf_bf16_packed_size(int N, int K);
void mmf_bf16_pack(uint16_t *dst, const float *W, int N, int K);
/* The same packing for a weight changing every step (training): W (N,K) with
 * row stride ldw, vectorised (one pass, 16 x 16 register transposes). */
void mmf_bf16_pack_fast(uint16_t *dst, const float *W, int N, int K, int ldw);
/* Pack the (N,K) operand W = S^T from S (K,N) with row stride lds: the weight
 * gradient dW = dY^T X takes W = X^T, the input gradient dX = dY W takes W^T. */
void mmf_bf16_pack_t(uint16_t *dst, const float *S, int K, int N, int lds);
/* dst[c * ldd + r] = bf16(src[r * lds + c]) for r < rows, c < cols, and a 0
 * after each output row when rows is odd: src^T as the bf16 rows (row stride
 * ldd >= mmf_bf16_kpad(rows)) that mmf_bf16_gemm takes (a weight gradient's dY^T). */
void mmf_bf16_transpose(uint16_t *dst, int64_t ldd, const float *src, int64_t lds, int rows, int cols);
/* bytes of scratch mmf_bf16_linear needs for M rows of K inputs */
size_t mmf_bf16_scratch_bytes(int64_t M, int K);
/* y (M,N) = (accumulate ? y : 0) + bias + x @ W^T; bias (N) or NULL.
 * scratch: mmf_bf16_scratch_bytes(M, K) bytes, 64-byte aligned. */
void mmf_bf16_linear(float *y, const float *x, const uint16_t *Wp, const float *bias, int64_t M, int K, int N,
                     int accumulate, void *scratch, int nt);

/* What happens to each fp32 sum s = x_row . W_col before it is stored
 * (convolutions fuse their batchnorm bias, residual and ReLU here):
 *   v = s + bias[j] (+ y[i,j] if accumulate) (+ res[i,j]); v = relu ? max(v, 0) : v
 * then v goes to y (fp32) and/or yb (bf16, round to nearest even). */
typedef struct mmf_gemm_epi {
    const float *bias;               /* (N) or NULL */
    const float *res; int64_t ldr;   /* residual rows, or NULL */
    int relu;
    int accumulate;                  /* add the old y */
    float *y; int64_t ldy;           /* fp32 output rows, or NULL */
    uint16_t *yb; int64_t ldyb;      /* bf16 output rows (N values each), or NULL */
    int act;                         /* MMF_EPI_* (core/vmath512.h), after the adds, before relu:
                                      * fuses an FFN's GELU into its first GEMM (bf16 kernel only) */
    float *yt; int64_t ldyt;         /* bf16 kernel only, instead of y/yb and the rest: the output
                                      * stored transposed, yt[j * ldyt + i] = s + bias_row[i] (a
                                      * linear layer computed as y^T = W x^T writes y directly) */
    const float *bias_row;           /* with yt: (M) or NULL */
    const char *pf[4]; int64_t pf_bytes; /* up to 4 regions of pf_bytes to prefetch while this GEMM
                                      * computes (sequential calls only: mmf_bf16_gemm_1t); spread
                                      * over its tiles, one line of each per step */
    double *sumsq;                   /* bf16 kernel only: the sum of squares of the sums (the stored
                                      * values when nothing else applies: a weight gradient) is
                                      * added to sumsq[8 * t], t = the thread's number in the parallel
                                      * region (one slot per thread, 8 apart: no shared lines); each
                                      * thread sums its tiles in a fixed order */
} mmf_gemm_epi;

/* K rounded up to the pair the packed layout works in: a bf16 input row
 * holds this many values, the last one 0 when K is odd. */
int mmf_bf16_kpad(int K);
/* rows of fp32 src (stride lds, K values) -> bf16 dst (stride ldd >= kpad(K)),
 * the pad value zeroed. */
void mmf_bf16_convert(uint16_t *dst, int64_t ldd, const float *src, int64_t lds, int64_t rows, int K, int nt);
/* rows (M, K) of bf16 x already converted (row stride ldx >= mmf_bf16_kpad(K),
 * values K..kpad-1 zero) times the packed W, through the epilogue. Call from
 * outside or inside an OpenMP parallel region (nt is ignored inside one). */
void mmf_bf16_gemm(const uint16_t *xb, int64_t ldx, const uint16_t *Wp, int64_t M, int K, int N, const mmf_gemm_epi *e,
                   int nt);
/* The same on the calling thread alone, also inside a parallel region where
 * each thread runs its own small GEMMs (attention heads). */
void mmf_bf16_gemm_1t(const uint16_t *xb, int64_t ldx, const uint16_t *Wp, int64_t M, int K, int N,
                      const mmf_gemm_epi *e);
#endif
