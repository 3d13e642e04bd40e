/* conv2d (im2col + GEMM), batchnorm, pooling, embedding lookup. */
#include "core/ops.h"
#include "core/error.h"
#include <math.h>
#include <string.h>

void mmf_conv2d_out_size(int H, int W, int KH, int KW, int stride, int pad, int *OH, int *OW) {
    *OH = (H + 2 * pad - KH) / stride + 1;
    *OW = (W + 2 * pad - KW) / stride + 1;
}

static int conv_is_pointwise(int KH, int KW, int stride, int pad) {
    return KH == 1 && KW == 1 && stride == 1 && pad == 0;
}

int64_t mmf_conv2d_scratch(int C, int H, int W, int KH, int KW, int stride, int pad) {
    if (conv_is_pointwise(KH, KW, stride, pad)) return 0;
    int OH, OW;
    mmf_conv2d_out_size(H, W, KH, KW, stride, pad, &OH, &OW);
    return (int64_t)C * KH * KW * OH * OW;
}

/* cols (C*KH*KW, OH*OW) from one image (C,H,W). */
static void im2col(float *cols, const float *img, int C, int H, int W, int KH, int KW,
                   int stride, int pad, int OH, int OW, int nt) {
    int rows = C * KH * KW;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && rows >= 8)
    for (int r = 0; r < rows; r++) {
        int c = r / (KH * KW), kh = (r / KW) % KH, kw = r % KW;
        float *dst = cols + (int64_t)r * OH * OW;
        const float *src = img + (int64_t)c * H * W;
        for (int oh = 0; oh < OH; oh++) {
            int ih = oh * stride - pad + kh;
            float *d = dst + (int64_t)oh * OW;
            if (ih < 0 || ih >= H) { memset(d, 0, (size_t)OW * sizeof *d); continue; }
            const float *s = src + (int64_t)ih * W;
            for (int ow = 0; ow < OW; ow++) {
                int iw = ow * stride - pad + kw;
                d[ow] = (iw >= 0 && iw < W) ? s[iw] : 0.0f;
            }
        }
    }
}

void mmf_conv2d(float *out, const float *inp, const float *Wt, const float *bias,
                int N, int C, int H, int W, int OC, int KH, int KW, int stride, int pad,
                float *scratch, int nt) {
    int OH, OW;
    mmf_conv2d_out_size(H, W, KH, KW, stride, pad, &OH, &OW);
    int64_t P = (int64_t)OH * OW, K = (int64_t)C * KH * KW;
    for (int n = 0; n < N; n++) {
        const float *img = inp + (int64_t)n * C * H * W;
        float *o = out + (int64_t)n * OC * P;
        const float *cols = img;
        if (!conv_is_pointwise(KH, KW, stride, pad)) {
            im2col(scratch, img, C, H, W, KH, KW, stride, pad, OH, OW, nt);
            cols = scratch;
        }
        if (bias)
            for (int oc = 0; oc < OC; oc++)
                for (int64_t p = 0; p < P; p++) o[oc * P + p] = bias[oc];
        /* (OC,K) x (K,P) */
        mmf_gemm(0, 0, OC, (int)P, (int)K, 1.0f, Wt, (int)K, cols, (int)P, bias ? 1.0f : 0.0f, o, (int)P, nt);
    }
}

void mmf_batchnorm(float *x, int N, int C, int64_t HW, const float *mean, const float *var,
                   const float *gamma, const float *beta, float eps, int nt) {
    int NC = N * C;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && NC > 1)
    for (int nc = 0; nc < NC; nc++) {
        int c = nc % C;
        float s = (gamma ? gamma[c] : 1.0f) / sqrtf(var[c] + eps);
        float t = (beta ? beta[c] : 0.0f) - mean[c] * s;
        float *p = x + (int64_t)nc * HW;
        for (int64_t i = 0; i < HW; i++) p[i] = p[i] * s + t;
    }
}

void mmf_batchnorm_fold(float *W, float *bias_out, const float *bias_in, int OC, int64_t per_oc,
                        const float *mean, const float *var, const float *gamma, const float *beta, float eps) {
    for (int oc = 0; oc < OC; oc++) {
        float s = (gamma ? gamma[oc] : 1.0f) / sqrtf(var[oc] + eps);
        for (int64_t i = 0; i < per_oc; i++) W[oc * per_oc + i] *= s;
        float b0 = bias_in ? bias_in[oc] : 0.0f;
        bias_out[oc] = (beta ? beta[oc] : 0.0f) + (b0 - mean[oc]) * s;
    }
}

void mmf_pool2d_out_size(int H, int W, int k, int stride, int pad, int *OH, int *OW) {
    *OH = (H + 2 * pad - k) / stride + 1;
    *OW = (W + 2 * pad - k) / stride + 1;
}

void mmf_maxpool2d(float *out, const float *inp, int N, int C, int H, int W, int k, int stride, int pad, int nt) {
    int OH, OW;
    mmf_pool2d_out_size(H, W, k, stride, pad, &OH, &OW);
    int NC = N * C;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && NC > 1)
    for (int nc = 0; nc < NC; nc++) {
        const float *src = inp + (int64_t)nc * H * W;
        float *dst = out + (int64_t)nc * OH * OW;
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                float m = -INFINITY;
                for (int i = 0; i < k; i++) {
                    int ih = oh * stride - pad + i;
                    if (ih < 0 || ih >= H) continue;
                    for (int j = 0; j < k; j++) {
                        int iw = ow * stride - pad + j;
                        if (iw < 0 || iw >= W) continue;
                        float v = src[ih * W + iw];
                        if (v > m || isnan(v)) m = v;
                    }
                }
                dst[oh * OW + ow] = m;
            }
    }
}

void mmf_avgpool2d(float *out, const float *inp, int N, int C, int H, int W, int k, int stride, int pad,
                   int count_include_pad, int nt) {
    int OH, OW;
    mmf_pool2d_out_size(H, W, k, stride, pad, &OH, &OW);
    int NC = N * C;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && NC > 1)
    for (int nc = 0; nc < NC; nc++) {
        const float *src = inp + (int64_t)nc * H * W;
        float *dst = out + (int64_t)nc * OH * OW;
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                float s = 0.0f;
                int cnt = 0;
                for (int i = 0; i < k; i++) {
                    int ih = oh * stride - pad + i;
                    if (ih < 0 || ih >= H) continue;
                    for (int j = 0; j < k; j++) {
                        int iw = ow * stride - pad + j;
                        if (iw < 0 || iw >= W) continue;
                        s += src[ih * W + iw];
                        cnt++;
                    }
                }
                if (count_include_pad) {
                    /* PyTorch counts the window clipped to the padded input */
                    int h0 = oh * stride - pad, w0 = ow * stride - pad;
                    int h1 = h0 + k < H + pad ? h0 + k : H + pad, w1 = w0 + k < W + pad ? w0 + k : W + pad;
                    cnt = (h1 - h0) * (w1 - w0);
                }
                dst[oh * OW + ow] = cnt ? s / (float)cnt : 0.0f;
            }
    }
}

void mmf_global_avgpool(float *out, const float *inp, int N, int C, int64_t HW, int nt) {
    int NC = N * C;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && NC > 64)
    for (int nc = 0; nc < NC; nc++) {
        const float *p = inp + (int64_t)nc * HW;
        double s = 0.0;
        for (int64_t i = 0; i < HW; i++) s += p[i];
        out[nc] = (float)(s / (double)HW);
    }
}

mmf_status mmf_embedding(float *out, const float *table, const int32_t *ids, int64_t n, int dim, int64_t vocab) {
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= vocab)
            return mmf_fail(MMF_ERR_ARG, "embedding: id %d at position %lld outside the table of %lld rows",
                            ids[i], (long long)i, (long long)vocab);
        memcpy(out + i * dim, table + (int64_t)ids[i] * dim, (size_t)dim * sizeof *out);
    }
    return MMF_OK;
}
