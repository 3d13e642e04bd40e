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

/* Stride 1 with OW == W ("same" width, e.g. 3x3 pad 1): row r = (c, kh, kw) of
 * the columns is the image plane read at a fixed flat offset (kh-pad)*W + kw-pad,
 * so it is one long copy (vectorises well even for 8-pixel rows); the columns
 * that wrapped around a row edge are then zeroed, as are the rows [0, oh_lo) and
 * [oh_hi, OH) that fall outside the image. [*lo, *hi) = flat valid range. */
int mmf_im2col_same_rows(int H, int W, int OH, int pad, int kh, int kw, int64_t *lo, int64_t *hi, int *ow_lo, int *ow_hi) {
    int oh_lo = pad - kh, oh_hi = H + pad - kh;
    if (oh_lo < 0) oh_lo = 0;
    if (oh_hi > OH) oh_hi = OH;
    *ow_lo = pad - kw > 0 ? pad - kw : 0;
    *ow_hi = W + pad - kw < W ? W + pad - kw : W;
    if (oh_hi <= oh_lo || *ow_hi <= *ow_lo) { *lo = *hi = 0; return 0; }
    *lo = (int64_t)oh_lo * W + *ow_lo;
    *hi = (int64_t)(oh_hi - 1) * W + *ow_hi;
    return 1;
}

static void im2col_same(float *cols, const float *img, int C, int H, int W, int KH, int KW, int pad, int OH) {
    int64_t P = (int64_t)OH * W;
    for (int r = 0; r < C * KH * KW; r++) {
        int c = r / (KH * KW), kh = (r / KW) % KH, kw = r % KW;
        float *d = cols + (int64_t)r * P;
        const float *s = img + (int64_t)c * H * W;
        int64_t off = (int64_t)(kh - pad) * W + (kw - pad), lo, hi;
        int ow_lo, ow_hi;
        if (!mmf_im2col_same_rows(H, W, OH, pad, kh, kw, &lo, &hi, &ow_lo, &ow_hi)) { memset(d, 0, (size_t)P * sizeof *d); continue; }
        memset(d, 0, (size_t)lo * sizeof *d);
        #pragma omp simd
        for (int64_t i = lo; i < hi; i++) d[i] = s[i + off];
        memset(d + hi, 0, (size_t)(P - hi) * sizeof *d);
        for (int64_t row = lo - ow_lo; row < hi; row += W) { /* wrapped edge columns */
            for (int ow = 0; ow < ow_lo; ow++) d[row + ow] = 0.0f;
            for (int ow = ow_hi; ow < W && row + ow < P; ow++) d[row + ow] = 0.0f;
        }
    }
}

/* cols (C*KH*KW, OH*OW) from one image (C,H,W). */
void mmf_im2col(float *cols, const float *img, int C, int H, int W, int KH, int KW, int stride, int pad, int OH, int OW) {
    if (stride == 1 && OW == W) { im2col_same(cols, img, C, H, W, KH, KW, pad, OH); return; }
    int rows = C * KH * KW;
    for (int r = 0; r < rows; r++) {
        int c = r / (KH * KW), kh = (r / KW) % KH, kw = r % KW;
        float *dst = cols + (int64_t)r * OH * OW;
        const float *src = img + (int64_t)c * H * W;
        for (int oh = 0; oh < OH; oh++) {
            int ih = oh * stride - pad + kh;
            float *d = dst + (int64_t)oh * OW;
            if (ih < 0 || ih >= H) { memset(d, 0, (size_t)OW * sizeof *d); continue; }
            const float *s = src + (int64_t)ih * W;
            if (stride == 1) {
                /* contiguous run: [ow_lo, ow_hi) reads s[ow - pad + kw] */
                int lo = pad - kw, hi = W + pad - kw;
                if (lo < 0) lo = 0;
                if (hi > OW) hi = OW;
                /* short rows (8..64 floats here): an inline loop beats a memcpy call */
                for (int ow = 0; ow < lo && ow < OW; ow++) d[ow] = 0.0f;
                int sh = kw - pad;
                #pragma omp simd
                for (int ow = lo; ow < hi; ow++) d[ow] = s[ow + sh];
                for (int ow = hi > lo ? hi : lo; ow < OW; ow++) d[ow] = 0.0f;
            } else {
                for (int ow = 0; ow < OW; ow++) {
                    int iw = ow * stride - pad + kw;
                    d[ow] = (iw >= 0 && iw < W) ? s[iw] : 0.0f;
                }
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
            mmf_im2col(scratch, img, C, H, W, KH, KW, stride, pad, OH, OW);
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

/* One loop for both poolings over each output's window clipped to the input:
 * the max (and, with argmax, where it was: the first maximum in row-major
 * order, a NaN wins) or the sum over the divisor. */
static void pool2d(float *out, int32_t *argmax, const float *inp, int N, int C, int H, int W, int k, int stride, int pad,
                   int avg, int count_include_pad, int nt) {
    int OH, OW;
    mmf_pool2d_out_size(H, W, k, stride, pad, &OH, &OW);
    int NC = N * C;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && NC > 1)
    for (int nc = 0; nc < NC; nc++) {
        const float *src = inp + (int64_t)nc * H * W;
        float *dst = out + (int64_t)nc * OH * OW;
        int32_t *am = argmax ? argmax + (int64_t)nc * OH * OW : NULL;
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                int h0, h1, w0, w1;
                float div;
                mmf_pool_window(oh, ow, k, stride, pad, H, W, count_include_pad, &h0, &h1, &w0, &w1, &div);
                if (avg) {
                    float sum = 0.0f;
                    for (int ih = h0; ih < h1; ih++)
                        for (int iw = w0; iw < w1; iw++) sum += src[ih * W + iw];
                    dst[oh * OW + ow] = div > 0.0f ? sum / div : 0.0f;
                    continue;
                }
                float m = -INFINITY;
                int32_t best = -1;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) {
                        float v = src[ih * W + iw];
                        if (best < 0 || v > m || isnan(v)) { m = v; best = (int32_t)(ih * W + iw); }
                    }
                dst[oh * OW + ow] = m;
                if (am) am[oh * OW + ow] = best;
            }
    }
}

void mmf_maxpool2d_argmax(float *out, int32_t *argmax, const float *inp, int N, int C, int H, int W, int k, int stride,
                          int pad, int nt) {
    pool2d(out, argmax, inp, N, C, H, W, k, stride, pad, 0, 0, nt);
}

void mmf_maxpool2d(float *out, const float *inp, int N, int C, int H, int W, int k, int stride, int pad, int nt) {
    pool2d(out, NULL, inp, N, C, H, W, k, stride, pad, 0, 0, nt);
}

void mmf_avgpool2d(float *out, const float *inp, int N, int C, int H, int W, int k, int stride, int pad,
                   int count_include_pad, int nt) {
    pool2d(out, NULL, inp, N, C, H, W, k, stride, pad, 1, count_include_pad, nt);
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
