/* ResNetModel as in Hugging Face microsoft/resnet-* folders: a 7x7/2 stem
 * conv + BN + ReLU + 3x3/2 max pool, stages of basic or bottleneck layers,
 * global average pool. Batchnorm is folded into every convolution at load;
 * activations run channels-last so 1x1 convolutions are one GEMM per batch. */
#ifndef MMF_MODELS_RESNET_H
#define MMF_MODELS_RESNET_H
#include "io/hf_config.h"
#include "mmfuse.h"

typedef struct mmf_resnet mmf_resnet;

/* dir: folder with config.json + model.safetensors (names with or without "resnet."). */
mmf_status mmf_resnet_load(const char *dir, mmf_resnet **out);
void mmf_resnet_free(mmf_resnet *m);
int mmf_resnet_out_dim(const mmf_resnet *m);
/* Switch to bf16 precision: every convolution a bf16 GEMM with fp32
 * accumulation (weights packed now, fp32 copies freed). MMF_ERR_UNSUPPORTED
 * on a CPU without AVX512-BF16; dir names the model in messages. */
mmf_status mmf_resnet_use_bf16(mmf_resnet *m, const char *dir);
/* fp32 on oneDNN (the encoder's default): one blocked net with Winograd 3x3
 * convolutions where oneDNN has them (avx512_core), else direct convolutions
 * per layer on NHWC (see resnet.c for the switches). */
mmf_status mmf_resnet_use_dnnl(mmf_resnet *m);
/* how many convolutions of the handle's oneDNN nets run as Winograd (the most of its nets; 0: none) */
int mmf_resnet_winograd_convs(const mmf_resnet *m);
/* int8 convolutions (VNNI; MMF_ERR_UNSUPPORTED naming it otherwise). */
mmf_status mmf_resnet_use_int8(mmf_resnet *m, const char *dir);
/* Carve the handle's one workspace arena from the size table of B images of
 * H x W (after choosing the precision: it decides the buffers). The encoder
 * does this at load for its batch and the processor's size. */
mmf_status mmf_resnet_reserve(mmf_resnet *m, int B, int H, int W);
/* pixels (B,3,H,W) NCHW -> pooled (B, C_last). last_hidden (B, C, h, w) NCHW, or NULL.
 * Runs in the reserved workspace: more images than reserved go through in
 * chunks; another H x W is reserved afresh (the only allocation a forward makes). */
mmf_status mmf_resnet_forward(mmf_resnet *m, const float *pixels, int B, int H, int W,
                              float *pooled, float *last_hidden, int nt);
/* Spatial size of last_hidden for an H x W input. */
void mmf_resnet_out_hw(const mmf_resnet *m, int H, int W, int *oh, int *ow);
#endif
