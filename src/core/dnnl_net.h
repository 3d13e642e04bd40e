/* A fixed chain of oneDNN primitives over activations in the layout the
 * kernels choose (format_tag any: NHWC for AVX-512's brgconv, nChw8c with
 * AVX2; nChw16c for bf16 without AMX and for the Winograd net, see dnnl_net.c),
 * made once for one input shape and thread count and then run as is: the
 * input is reordered from NCHW fp32 once, every convolution reads its
 * producer's layout, the ReLU (eltwise) and the residual add (sum: the
 * convolution writes onto the tensor it adds) are post-ops, max pooling is a
 * oneDNN pooling, and the output is reordered back to NCHW fp32 once. In bf16
 * the activations between primitives are bf16 (weights bf16, bias fp32,
 * fp32 accumulation). Tensors live in caller-numbered slots (buffers sized by
 * the largest tensor put there), so the caller decides what may overwrite what.
 *
 * Build: mmf_dnet_new, mmf_dnet_input, then convs / pools, mmf_dnet_output,
 * mmf_dnet_ready. A step that oneDNN refuses makes every later call fail
 * (-1) and the net unusable: the caller then takes its other path. */
#ifndef MMF_CORE_DNNL_NET_H
#define MMF_CORE_DNNL_NET_H
#include <stddef.h>

typedef struct mmf_dnet mmf_dnet;

#define MMF_DNET_SLOTS 6

mmf_dnet *mmf_dnet_new(int bf16, int nt);
void mmf_dnet_free(mmf_dnet *n);
/* fp32 only, before mmf_dnet_input: 3x3 stride-1 convolutions as oneDNN's
 * Winograd convolutions (F(4x4,3x3) / F(2x2,3x3), about half the multiplies
 * of direct; their transforms cost some accuracy), direct where oneDNN refuses
 * a shape, activations nChw16c throughout (the layout those kernels need).
 * 0, or -1 where oneDNN has no Winograd kernels here (then nothing changes). */
int mmf_dnet_use_winograd(mmf_dnet *n);
int mmf_dnet_winograd_supported(void);
/* how many convolutions of the net run as Winograd */
int mmf_dnet_winograd_convs(const mmf_dnet *n);
/* the input, B x C x H x W NCHW fp32, reordered into slot: a tensor id (>= 0) or -1 */
int mmf_dnet_input(mmf_dnet *n, int B, int C, int H, int W, int slot);
/* dst = relu?(conv(src) + bias [+ sum_t]) with w (OC, K, K, IC) fp32, reordered
 * here into the kernel's layout (bf16 in a bf16 net; w is not kept). sum_t >= 0:
 * dst is sum_t itself (its slot and layout), overwritten by the result; else dst
 * goes to dst_slot. Returns the dst tensor id or -1. */
int mmf_dnet_conv(mmf_dnet *n, int src, const float *w, const float *bias, int oc, int k, int stride, int pad, int relu,
                  int dst_slot, int sum_t);
/* k x k max pooling, stride, pad (padding never wins) into dst_slot */
int mmf_dnet_maxpool(mmf_dnet *n, int src, int k, int stride, int pad, int dst_slot);
/* the tensor the run writes out, NCHW fp32; 0 or -1 */
int mmf_dnet_output(mmf_dnet *n, int t);
/* allocates the slots and the scratchpad; 0 or -1 */
int mmf_dnet_ready(mmf_dnet *n);
/* in: the input's NCHW fp32; out: the output's NCHW fp32. 0 or -1. */
int mmf_dnet_run(mmf_dnet *n, const float *in, float *out);
/* the output tensor's dims (N, C, H, W) */
void mmf_dnet_out_dims(const mmf_dnet *n, int dims[4]);
/* bytes held: reordered weights, slots, scratchpad */
size_t mmf_dnet_bytes(const mmf_dnet *n);
#endif
