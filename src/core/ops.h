/* Forward kernels on contiguous float32 buffers (llm.c style: plain functions,
 * shapes in the comments, row-major, `nt` = threads to use). Weight layouts
 * follow PyTorch/Hugging Face so model files map in without transposes:
 * linear W is (out, in), conv W is (OC, C, KH, KW). */
#ifndef MMF_CORE_OPS_H
#define MMF_CORE_OPS_H
#include <stdint.h>
#include "mmfuse.h"

/* Make the calling thread's OpenMP/oneDNN thread count `nt` (>= 1). */
void mmf_threads_use(int nt);

/* C (M,N) = alpha * op(A) op(B) + beta * C, row-major, through oneDNN's sgemm,
 * with the calling thread's thread count (one inside our parallel regions).
 * op(A) is (M,K); transA means A is stored (K,M). beta 0: C is not read. */
void mmf_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
               int ldb, float beta, float *C, int ldc);
/* The same with nt threads. */
void mmf_gemm(int transA, int transB, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc, int nt);
/* `batch` independent GEMMs at element strides sA, sB, sC; batches run in
 * parallel, each GEMM single threaded. */
void mmf_gemm_batched(int transA, int transB, int batch, int M, int N, int K, float alpha,
                      const float *A, int lda, int64_t sA, const float *B, int ldb, int64_t sB,
                      float beta, float *C, int ldc, int64_t sC, int nt);

/* out (N,OC) = inp (N,IC) @ W^T + bias; W is (OC,IC); bias (OC) or NULL. */
void mmf_linear(float *out, const float *inp, const float *W, const float *bias,
                int64_t N, int IC, int OC, int nt);
/* out, inp (N,C); w, b (C) or NULL; biased variance as PyTorch. out may alias inp. */
void mmf_layernorm(float *out, const float *inp, const float *w, const float *b,
                   int64_t N, int C, float eps, int nt);

/* Elementwise, in place over n values. */
void mmf_gelu_erf(float *x, int64_t n, int nt);    /* 0.5 x (1 + erf(x / sqrt 2)) */
void mmf_gelu_tanh(float *x, int64_t n, int nt);   /* the "gelu_new" / tanh approximation */
void mmf_quick_gelu(float *x, int64_t n, int nt);  /* x * sigmoid(1.702 x) */
void mmf_relu(float *x, int64_t n, int nt);
void mmf_tanh(float *x, int64_t n, int nt);
void mmf_sigmoid(float *x, int64_t n, int nt);
/* out = a + b (out may alias either) */
void mmf_add(float *out, const float *a, const float *b, int64_t n, int nt);
/* x (N,C) += bias (C) */
void mmf_add_bias(float *x, const float *bias, int64_t N, int C, int nt);

/* Numerically stable softmax over each row of x (rows, cols), in place.
 * keep (cols) or NULL: entries with keep[j] == 0 get probability 0. A row with
 * nothing kept becomes all zeros (not NaN). */
void mmf_softmax_rows(float *x, int64_t rows, int cols, const uint8_t *keep, int nt);

/* Scaled dot-product attention, heads interleaved in the row as Hugging Face
 * lays them out: the vector of (batch b, position t, head h) starts at
 * q + (b*Tq + t)*ldq + h*D (likewise k, v with Tk, and out with ldo), so a fused
 * QKV projection can be passed with ld = 3*H*D.
 * key_keep (B,Tk) or NULL: 0 = padding, never attended to.
 * causal: query t sees keys <= t + (Tk - Tq).
 * scratch: at least mmf_attention_scratch(Tq, Tk, nt) floats. */
void mmf_attention(float *out, int ldo, const float *q, int ldq, const float *k, int ldk,
                   const float *v, int ldv, int B, int H, int Tq, int Tk, int D,
                   const uint8_t *key_keep, int causal, float scale, float *scratch, int nt);
/* As mmf_attention with an additive score bias (H,Tq,Tk) shared by the batch
 * (MPNet's relative position bias), or NULL. */
void mmf_attention_biased(float *out, int ldo, const float *q, int ldq, const float *k, int ldk,
                          const float *v, int ldv, int B, int H, int Tq, int Tk, int D,
                          const uint8_t *key_keep, int causal, float scale, const float *bias, float *scratch, int nt);
int64_t mmf_attention_scratch(int Tq, int Tk, int nt);

/* out (n,dim) = table[ids]; table is (vocab,dim). MMF_ERR_ARG on an id out of range. */
mmf_status mmf_embedding(float *out, const float *table, const int32_t *ids, int64_t n, int dim, int64_t vocab);

/* conv2d, NCHW, groups = 1, square stride/padding as given, zero padding.
 * inp (N,C,H,W), W (OC,C,KH,KW), bias (OC) or NULL, out (N,OC,OH,OW).
 * scratch: mmf_conv2d_scratch(...) floats (0 for 1x1 stride-1 unpadded). */
void mmf_conv2d_out_size(int H, int W, int KH, int KW, int stride, int pad, int *OH, int *OW);
int64_t mmf_conv2d_scratch(int C, int H, int W, int KH, int KW, int stride, int pad);
void mmf_conv2d(float *out, const float *inp, const float *Wt, const float *bias,
                int N, int C, int H, int W, int OC, int KH, int KW, int stride, int pad,
                float *scratch, int nt);
/* The one NCHW im2col (inference and the training convolutions): cols
 * (C*KH*KW, OH*OW) from one image (C,H,W), zero padding; single threaded
 * (callers parallelise over images). */
void mmf_im2col(float *cols, const float *img, int C, int H, int W, int KH, int KW, int stride, int pad, int OH, int OW);
/* For stride 1 with OW == W: the flat range [*lo, *hi) of cols row (kh, kw)
 * that reads the image plane at one offset, and its valid columns
 * [*ow_lo, *ow_hi); 0 when the row reads nothing (col2im uses the same rule). */
int mmf_im2col_same_rows(int H, int W, int OH, int pad, int kh, int kw, int64_t *lo, int64_t *hi, int *ow_lo, int *ow_hi);

/* Inference batchnorm in place: x (N,C,HW). */
void mmf_batchnorm(float *x, int N, int C, int64_t HW, const float *mean, const float *var,
                   const float *gamma, const float *beta, float eps, int nt);
/* Fold batchnorm into a preceding conv/linear: W (OC, per_oc) scaled in place,
 * bias (OC) written (old bias or 0 if bias_in is NULL). */
void mmf_batchnorm_fold(float *W, float *bias_out, const float *bias_in, int OC, int64_t per_oc,
                        const float *mean, const float *var, const float *gamma, const float *beta, float eps);

/* Pooling, NCHW, floor mode as PyTorch's defaults. Max pads with -inf. */
void mmf_pool2d_out_size(int H, int W, int k, int stride, int pad, int *OH, int *OW);
void mmf_maxpool2d(float *out, const float *inp, int N, int C, int H, int W, int k, int stride, int pad, int nt);
/* The same, and argmax (N,C,OH,OW) gets for each output the index in its H*W
 * plane of the element taken (the first maximum in row-major order; a NaN
 * wins), which the training op's backward routes the gradient to. */
void mmf_maxpool2d_argmax(float *out, int32_t *argmax, const float *inp, int N, int C, int H, int W, int k, int stride,
                          int pad, int nt);
/* Output (oh, ow)'s pooling window clipped to the input, rows [h0,h1) x
 * columns [w0,w1), and the divisor average pooling uses: the clipped window's size,
 * or with count_include_pad the window clipped to the padded input (PyTorch). */
static inline void mmf_pool_window(int oh, int ow, int k, int stride, int pad, int H, int W, int count_include_pad,
                                      int *h0, int *h1, int *w0, int *w1, float *div) {
    int a0 = oh * stride - pad, b0 = ow * stride - pad;
    int a1 = a0 + k, b1 = b0 + k;
    *h0 = a0 < 0 ? 0 : a0; *h1 = a1 > H ? H : a1;
    *w0 = b0 < 0 ? 0 : b0; *w1 = b1 > W ? W : b1;
    if (count_include_pad) {
        int pa1 = a1 < H + pad ? a1 : H + pad, pb1 = b1 < W + pad ? b1 : W + pad;
        *div = (float)((pa1 - a0) * (pb1 - b0));
    } else {
        *div = (float)((*h1 - *h0) * (*w1 - *w0));
    }
}
/* count_include_pad as PyTorch's AvgPool2d argument. */
void mmf_avgpool2d(float *out, const float *inp, int N, int C, int H, int W, int k, int stride, int pad,
                   int count_include_pad, int nt);
/* out (N,C) = mean over HW of inp (N,C,HW) (adaptive average pool to 1x1) */
void mmf_global_avgpool(float *out, const float *inp, int N, int C, int64_t HW, int nt);
#endif
