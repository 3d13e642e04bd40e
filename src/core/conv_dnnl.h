/* fp32 NHWC convolutions as oneDNN convolution primitives: direct (JIT)
 * kernels instead of im2col + GEMM, with the bias, the residual add and the
 * ReLU fused, and the weights reordered once into the kernel's layout. A
 * primitive is made on first use for each (batch, height, width, threads,
 * residual) it meets (a few slots); a convolution is used by one thread at a
 * time (its encoder handle is), so each slot's scratchpad is its own. */
#ifndef MMF_CORE_CONV_DNNL_H
#define MMF_CORE_CONV_DNNL_H
#include <stdint.h>

typedef struct mmf_dconv mmf_dconv;

/* w (OC, K, K, IC) and bias (OC) must outlive the convolution. NULL if out of memory. */
mmf_dconv *mmf_dconv_new(const float *w, const float *bias, int ic, int oc, int k, int stride, int pad);
void mmf_dconv_free(mmf_dconv *c);
/* out (B, OH, OW, OC) = relu?(conv(in (B, H, W, IC)) + bias [+ out when accumulate]).
 * Returns 0, or -1 when oneDNN refused (out may then hold anything: recompute it). */
int mmf_dconv_run(mmf_dconv *c, const float *in, int B, int H, int W, float *out, int accumulate, int relu, int nt);

/* int8: weights quantised here, symmetric per output channel; the input is
 * u8 = round(x / in_scale) of a non-negative fp32 tensor (a ReLU output: see
 * mmf_quant_u8). out = relu?(conv + bias [+ residual]) in fp32, the residual
 * (B, OH, OW, OC) not aliasing out; the scales, bias, residual and ReLU are
 * one pass after the primitive (2.6's int8 convolutions take no run-time
 * output scales). Returns 0 or -1 as mmf_dconv_run. */
mmf_dconv *mmf_dconv_new_u8(const float *w, const float *bias, int ic, int oc, int k, int stride, int pad);
int mmf_dconv_run_u8(mmf_dconv *c, const uint8_t *in, float in_scale, int B, int H, int W, float *out,
                     const float *residual, int relu, int nt);
/* bf16: weights rounded to bf16 in the primitive's layout at first use, the
 * input NHWC bf16, accumulation and out in fp32, as mmf_dconv_run. */
/* 1 when oneDNN runs its AVX512-BF16 kernels here (not under ONEDNN_MAX_CPU_ISA=AVX2, say). */
int mmf_dconv_bf16_supported(void);
mmf_dconv *mmf_dconv_new_bf16(const float *w, const float *bias, int ic, int oc, int k, int stride, int pad);
int mmf_dconv_run_bf16(mmf_dconv *c, const uint16_t *in, int B, int H, int W, float *out, int accumulate, int relu, int nt);
#endif
