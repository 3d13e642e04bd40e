/* fp32 NHWC convolutions as oneDNN convolution primitives: direct (JIT)
 * kernels instead of im2col + GEMM, with the bias, the residual add and the
 * ReLU fused, and the weights reordered once into the kernel's layout. A
 * primitive is made on first use for each (batch, height, width, threads,
 * residual) it meets (a few slots); a convolution is used by one thread at a
 * time (its encoder handle is), so each slot's scratchpad is its own. */
#ifndef MMF_CORE_CONV_DNNL_H
#define MMF_CORE_CONV_DNNL_H

typedef struct mmf_dconv mmf_dconv;

/* w (OC, K, K, IC) and bias (OC) must outlive the convolution. NULL if out of memory. */
mmf_dconv *mmf_dconv_new(const float *w, const float *bias, int ic, int oc, int k, int stride, int pad);
void mmf_dconv_free(mmf_dconv *c);
/* out (B, OH, OW, OC) = relu?(conv(in (B, H, W, IC)) + bias [+ out when accumulate]).
 * Returns 0, or -1 when oneDNN refused (out may then hold anything: recompute it). */
int mmf_dconv_run(mmf_dconv *c, const float *in, int B, int H, int W, float *out, int accumulate, int relu, int nt);
#endif
