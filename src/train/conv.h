/* Convolutional ops for the autograd tape (ops_conv.c): conv2d, batchnorm with
 * running statistics, max/average pooling, global average pooling. NCHW, the
 * same conventions and output sizes as PyTorch (floor mode, zero padding).
 * Declared here rather than in tape.h so tape.h stays the core op set. */
#ifndef MMF_TRAIN_CONV_H
#define MMF_TRAIN_CONV_H
#include "train/tape.h"

/* y [N,OC,OH,OW] = conv(x [N,C,H,W], W [OC,C,KH,KW]) + b [OC] (b may be -1).
 * Square stride and zero padding; groups = 1. */
mmf_var mmf_t_conv2d(mmf_tape *tp, mmf_var x, mmf_var W, mmf_var b, int stride, int pad);

/* Batch normalisation over channel dim 1 of x [N,C] or [N,C,H,W]
 * (nn.BatchNorm1d/2d). gamma, beta [C] or -1.
 * Training mode (mmf_tape_training): normalises with the batch mean and biased
 * variance, and, when running_mean/var are given, updates them as PyTorch does:
 * r = (1 - momentum) r + momentum * batch (unbiased variance for r_var).
 * Eval mode: normalises with running_mean/var (required then). */
mmf_var mmf_t_batchnorm(mmf_tape *tp, mmf_var x, mmf_var gamma, mmf_var beta, float *running_mean,
                        float *running_var, float momentum, float eps);

/* max(0, batchnorm(x)) in one pass (the common conv-BN-ReLU block). */
mmf_var mmf_t_batchnorm_relu(mmf_tape *tp, mmf_var x, mmf_var gamma, mmf_var beta, float *running_mean,
                             float *running_var, float momentum, float eps);

/* Pooling over x [N,C,H,W] with a k x k window; max pads with -inf, average
 * counts padding iff count_include_pad (nn.AvgPool2d's default is 1). */
mmf_var mmf_t_maxpool2d(mmf_tape *tp, mmf_var x, int k, int stride, int pad);
mmf_var mmf_t_avgpool2d(mmf_tape *tp, mmf_var x, int k, int stride, int pad, int count_include_pad);
/* [N,C,H,W] -> [N,C]: mean over H and W (adaptive average pool to 1x1 + flatten). */
mmf_var mmf_t_global_avgpool(mmf_tape *tp, mmf_var x);
#endif
