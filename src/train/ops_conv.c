/* Convolution, batchnorm and pooling on the tape (declared in train/conv.h).
 *
 * conv2d is im2col + one GEMM per image, parallel over the images of the batch
 * (each thread owns a column buffer and calls single-threaded BLAS): small
 * images give GEMMs too small to split well, a batch gives plenty of
 * independent work. Backward recomputes the columns instead of keeping them
 * (memory: K*P floats per thread instead of per image):
 *   dW^T += cols_n (K,P) dY_n^T (P,OC),  dcols = W^T (K,OC) dY_n (OC,P) -> col2im.
 * dW goes to per-thread buffers summed in thread order, so results depend
 * only on the thread count. */
#include "train/conv.h"
#include "core/error.h"
#include "core/ops.h"
#include <math.h>
#include <omp.h>
#include <string.h>

#define TV(v) mmf_tape_var(tp, (v))

/* ------------------------------------------------------------ col2im (the columns: mmf_im2col, core/ops.h) */

/* img += col2im(cols) for the same case; the wrapped columns of cols (a scratch
 * buffer) are zeroed first so that one flat add per row r is exact */
static void col2im_same_add(float *img, float *cols, int C, int H, int W, int KH, int KW, int pad, int OH) {
    int64_t P = (int64_t)OH * W;
    for (int r = 0; r < C * KH * KW; r++) {
        int c = r / (KH * KW), kh = (r / KW) % KH, kw = r % KW;
        float *s = cols + (int64_t)r * P;
        float *d = img + (int64_t)c * H * W;
        int64_t off = (int64_t)(kh - pad) * W + (kw - pad), lo, hi;
        int ow_lo, ow_hi;
        if (!mmf_im2col_same_rows(H, W, OH, pad, kh, kw, &lo, &hi, &ow_lo, &ow_hi)) continue;
        for (int64_t row = lo - ow_lo; row < hi; row += W) {
            for (int ow = 0; ow < ow_lo; ow++) s[row + ow] = 0.0f;
            for (int ow = ow_hi; ow < W && row + ow < hi; ow++) s[row + ow] = 0.0f;
        }
        #pragma omp simd
        for (int64_t i = lo; i < hi; i++) d[i + off] += s[i];
    }
}


/* img (C,H,W) += col2im(cols); cols is scratch and may be modified */
static void col2im_add(float *img, float *cols, int C, int H, int W, int KH, int KW, int stride, int pad, int OH, int OW) {
    if (stride == 1 && OW == W) { col2im_same_add(img, cols, C, H, W, KH, KW, pad, OH); return; }
    int rows = C * KH * KW;
    for (int r = 0; r < rows; r++) {
        int c = r / (KH * KW), kh = (r / KW) % KH, kw = r % KW;
        const float *src = cols + (int64_t)r * OH * OW;
        float *dst = img + (int64_t)c * H * W;
        for (int oh = 0; oh < OH; oh++) {
            int ih = oh * stride - pad + kh;
            if (ih < 0 || ih >= H) continue;
            const float *s = src + (int64_t)oh * OW;
            float *d = dst + (int64_t)ih * W;
            if (stride == 1) {
                /* contiguous run, as in im2col: d[ow - pad + kw] += s[ow] for ow in [lo, hi) */
                int lo = pad - kw, hi = W + pad - kw;
                if (lo < 0) lo = 0;
                if (hi > OW) hi = OW;
                int sh = kw - pad;
                #pragma omp simd
                for (int ow = lo; ow < hi; ow++) d[ow + sh] += s[ow];
                continue;
            }
            for (int ow = 0; ow < OW; ow++) {
                int iw = ow * stride - pad + kw;
                if (iw >= 0 && iw < W) d[iw] += s[ow];
            }
        }
    }
}

/* ------------------------------------------------------------ conv2d */

/* i = {N, C, H, W, OC, KH, KW, stride, pad? } packed: i[0..7], pad in f[0] as int */
static void conv2d_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *x = TV(nd->in[0]), *w = TV(nd->in[1]), *b = TV(nd->in[2]), *y = TV(nd->out);
    int N = (int)nd->i[0], C = (int)nd->i[1], H = (int)nd->i[2], W = (int)nd->i[3], OC = (int)nd->i[4];
    int KH = (int)nd->i[5], KW = (int)nd->i[6], stride = (int)(nd->i[7] & 0xffff), pad = (int)(nd->i[7] >> 16);
    int OH, OW;
    mmf_conv2d_out_size(H, W, KH, KW, stride, pad, &OH, &OW);
    int64_t P = (int64_t)OH * OW, K = (int64_t)C * KH * KW;
    int nt = mmf_tape_threads(tp);
    if (nt > N) nt = N > 0 ? N : 1;
    if (b && b->g)
        for (int n = 0; n < N; n++)
            for (int oc = 0; oc < OC; oc++) {
                const float *g = y->g + ((int64_t)n * OC + oc) * P;
                float s = 0.0f;
                for (int64_t p = 0; p < P; p++) s += g[p];
                b->g[oc] += s;
            }
    if (!x->g && !w->g) return;
    size_t per = (size_t)(2 * K * P + (w->g ? OC * K : 0));
    float *buf = mmf_tape_scratch(tp, (size_t)nt * per * sizeof(float) + 64);
    if (!buf) { mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "conv2d backward: out of memory")); return; }
    mmf_threads_use(nt > 1 ? 1 : mmf_tape_threads(tp)); /* one image: let BLAS use the threads */
    #pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int tid = omp_get_thread_num();
        /* dw is dW^T (K, OC): cols (K,P) x dY^T is the faster product for the
         * small-OC layers (measured with OpenBLAS, which packed less), transposed back below */
        float *cols = buf + (size_t)tid * per, *dcols = cols + K * P, *dw = dcols + K * P;
        if (w->g) memset(dw, 0, (size_t)(OC * K) * sizeof(float));
        #pragma omp for schedule(static)
        for (int n = 0; n < N; n++) {
            const float *gy = y->g + (int64_t)n * OC * P;
            if (w->g) {
                mmf_im2col(cols, x->v + (int64_t)n * C * H * W, C, H, W, KH, KW, stride, pad, OH, OW);
                mmf_sgemm(0, 1, (int)K, OC, (int)P, 1.0f, cols, (int)P, gy, (int)P, 1.0f, dw, OC);
            }
            if (x->g) {
                mmf_sgemm(1, 0, (int)K, (int)P, OC, 1.0f, w->v, (int)K, gy, (int)P, 0.0f, dcols, (int)P);
                col2im_add(x->g + (int64_t)n * C * H * W, dcols, C, H, W, KH, KW, stride, pad, OH, OW);
            }
        }
    }
    if (w->g)
        for (int t = 0; t < nt; t++) {
            const float *dw = buf + (size_t)t * per + 2 * K * P;
            for (int64_t oc = 0; oc < OC; oc++)
                for (int64_t k = 0; k < K; k++) w->g[oc * K + k] += dw[k * OC + oc];
        }
    mmf_threads_use(mmf_tape_threads(tp));
}

mmf_var mmf_t_conv2d(mmf_tape *tp, mmf_var x, mmf_var W, mmf_var b, int stride, int pad) {
    if (x < 0 || W < 0 || mmf_tape_status(tp)) return mmf_tape_fail(tp, mmf_tape_status(tp));
    mmf_tvar *X = TV(x), *Wt = TV(W), *Bt = TV(b);
    if (X->ndim != 4 || Wt->ndim != 4 || Wt->shape[1] != X->shape[1] || (Bt && (Bt->ndim != 1 || Bt->shape[0] != Wt->shape[0])))
        return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "conv2d: expected x [N,C,H,W], W [OC,C,KH,KW] with the same C, bias [OC]"));
    if (stride < 1 || stride > 0xffff || pad < 0 || pad > 0xffff)
        return mmf_tape_fail(tp, mmf_fail(MMF_ERR_ARG, "conv2d: stride %d / padding %d out of range", stride, pad));
    int N = (int)X->shape[0], C = (int)X->shape[1], H = (int)X->shape[2], Wd = (int)X->shape[3];
    int OC = (int)Wt->shape[0], KH = (int)Wt->shape[2], KW = (int)Wt->shape[3];
    if (H + 2 * pad < KH || Wd + 2 * pad < KW)
        return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "conv2d: kernel %dx%d larger than the padded input %dx%d", KH, KW,
                                          H + 2 * pad, Wd + 2 * pad));
    int OH, OW;
    mmf_conv2d_out_size(H, Wd, KH, KW, stride, pad, &OH, &OW);
    int64_t P = (int64_t)OH * OW, K = (int64_t)C * KH * KW;
    mmf_var in[3] = {x, W, b};
    int ng = mmf_tape_needs_grad(tp, in, 3);
    /* its gradient usually comes whole from a batchnorm: not zeroed up front */
    mmf_var y = mmf_tape_alloc_lazy(tp, 4, (int64_t[]){N, OC, OH, OW}, ng);
    int nt = mmf_tape_threads(tp);
    if (nt > N) nt = N > 0 ? N : 1;
    float *cols = mmf_tape_scratch(tp, (size_t)nt * (size_t)(K * P) * sizeof(float) + 64);
    if (y < 0 || !cols) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "conv2d: out of memory"));
    X = TV(x); Wt = TV(W); Bt = TV(b);
    float *Y = TV(y)->v;
    const float *xv = X->v, *wv = Wt->v, *bv = Bt ? Bt->v : NULL;
    mmf_threads_use(nt > 1 ? 1 : mmf_tape_threads(tp));
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int n = 0; n < N; n++) {
        float *cb = cols + (size_t)omp_get_thread_num() * (size_t)(K * P);
        float *o = Y + (int64_t)n * OC * P;
        mmf_im2col(cb, xv + (int64_t)n * C * H * Wd, C, H, Wd, KH, KW, stride, pad, OH, OW);
        if (bv)
            for (int oc = 0; oc < OC; oc++)
                for (int64_t p = 0; p < P; p++) o[oc * P + p] = bv[oc];
        mmf_sgemm(0, 0, OC, (int)P, (int)K, 1.0f, wv, (int)K, cb, (int)P,
                        bv ? 1.0f : 0.0f, o, (int)P);
    }
    mmf_threads_use(mmf_tape_threads(tp));
    if (ng) {
        mmf_node nd = {.backward = conv2d_backward, .name = "conv2d", .out = y, .in = {x, W, b}, .n_in = 3,
                       .i = {N, C, H, Wd, OC, KH, KW, (int64_t)stride | ((int64_t)pad << 16)}};
        mmf_tape_record(tp, &nd);
    }
    return y;
}

/* --------------------------------------------------------- batchnorm */

/* sums over one channel plane in float (vectorised), combined in double */
static inline float plane_sum(const float *x, int64_t n) {
    float s = 0.0f;
    #pragma omp simd reduction(+:s)
    for (int64_t i = 0; i < n; i++) s += x[i];
    return s;
}
static inline float plane_sqdev(const float *x, int64_t n, float m) {
    float s = 0.0f;
    #pragma omp simd reduction(+:s)
    for (int64_t i = 0; i < n; i++) { float d = x[i] - m; s += d * d; }
    return s;
}

/* i = {N, C, HW, batch, relu}; aux[0] = mean used [C], aux[1] = rstd [C].
 * With relu, y holds max(0, bn(x)) and the incoming gradient is masked by y > 0. */
static void batchnorm_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *x = TV(nd->in[0]), *gm = TV(nd->in[1]), *bt = TV(nd->in[2]), *y = TV(nd->out);
    int64_t N = nd->i[0], C = nd->i[1], HW = nd->i[2];
    int batch = (int)nd->i[3], relu = (int)nd->i[4], nt = mmf_tape_threads(tp);
    const float *mean = nd->aux[0], *rstd = nd->aux[1], *scsh = nd->aux[2];
    double M = (double)(N * HW);
    int fresh = mmf_tape_grad_fresh(x);   /* dx unwritten: store instead of add */
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && C > 1 && N * HW * C > 16384)
    for (int64_t c = 0; c < C; c++) {
        float m = mean[c], rs = rstd[c], g = gm ? gm->v[c] : 1.0f, sc = scsh[2 * c], sh = scsh[2 * c + 1];
        double sdy = 0.0, sdyx = 0.0;
        /* the ReLU mask (y > 0, recomputed from x exactly as the forward did) is
         * applied on the fly in both passes: each pass streams only x and dy */
        for (int64_t n = 0; n < N; n++) {
            const float *xr = x->v + (n * C + c) * HW, *gr = y->g + (n * C + c) * HW;
            float a = 0.0f, b = 0.0f;
            if (relu) {
                #pragma omp simd reduction(+:a, b)
                for (int64_t i = 0; i < HW; i++) { float d = fmaf(xr[i], sc, sh) > 0.0f ? gr[i] : 0.0f; a += d; b += d * (xr[i] - m); }
            } else {
                #pragma omp simd reduction(+:a, b)
                for (int64_t i = 0; i < HW; i++) { a += gr[i]; b += gr[i] * (xr[i] - m); }
            }
            sdy += a;
            sdyx += (double)b * rs;
        }
        if (gm && gm->g) gm->g[c] += (float)sdyx;
        if (bt && bt->g) bt->g[c] += (float)sdy;
        if (!x->g) continue;
        /* batch stats: dx = g rs (dy - mean(dy) - xhat mean(dy xhat)); running stats: dx = g rs dy */
        float a = batch ? (float)(sdy / M) : 0.0f, bb = batch ? (float)(sdyx / M) : 0.0f;
        float k1 = g * rs, k2 = k1 * rs * bb;
        for (int64_t n = 0; n < N; n++) {
            const float *xr = x->v + (n * C + c) * HW, *gr = y->g + (n * C + c) * HW;
            float *dx = x->g + (n * C + c) * HW;
            if (relu && fresh) {
                #pragma omp simd
                for (int64_t i = 0; i < HW; i++) dx[i] = k1 * ((fmaf(xr[i], sc, sh) > 0.0f ? gr[i] : 0.0f) - a) - k2 * (xr[i] - m);
            } else if (relu) {
                #pragma omp simd
                for (int64_t i = 0; i < HW; i++) dx[i] += k1 * ((fmaf(xr[i], sc, sh) > 0.0f ? gr[i] : 0.0f) - a) - k2 * (xr[i] - m);
            } else if (fresh) {
                #pragma omp simd
                for (int64_t i = 0; i < HW; i++) dx[i] = k1 * (gr[i] - a) - k2 * (xr[i] - m);
            } else {
                #pragma omp simd
                for (int64_t i = 0; i < HW; i++) dx[i] += k1 * (gr[i] - a) - k2 * (xr[i] - m);
            }
        }
    }
}

/* ---- data parallel (mmf_tape_comm set, training): the statistics of the
 * whole batch, every rank holding a slice of it (SyncBatchNorm). Kept apart
 * from the one-process code above, which stays as it was.
 * Forward: one small all-reduce so that every rank learns whether any failed
 * (a failed rank may not know C), then the per-channel count, sum and sum of
 * squares in double. Backward: the fit loop weights each rank's gradients by
 * its share w = M_local / M_global of the batch and sums them, so the upstream
 * gradient here is the global one divided by w; the per-channel sums of dy
 * and dy * xhat are all-reduced with weight w and divided by M_local (= w
 * M_global), which gives the global means in the same 1/w units. gamma and
 * beta keep their local sums (the fit loop weights and sums those). */

/* i = {N, C, HW, 1, relu}; aux as batchnorm_backward's */
static void batchnorm_dp_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *x = TV(nd->in[0]), *gm = TV(nd->in[1]), *bt = TV(nd->in[2]), *y = TV(nd->out);
    int64_t N = nd->i[0], C = nd->i[1], HW = nd->i[2];
    int relu = (int)nd->i[4], nt = mmf_tape_threads(tp);
    const float *mean = nd->aux[0], *rstd = nd->aux[1], *scsh = nd->aux[2];
    double Ml = (double)(N * HW), w = Ml / (double)nd->i[5];
    double *acc = (double *)(mean + 4 * C);   /* the forward's sums, done with: no allocation here */
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && C > 1 && N * HW * C > 16384)
    for (int64_t c = 0; c < C; c++) {
        float m = mean[c], sc = scsh[2 * c], sh = scsh[2 * c + 1];
        double sdy = 0.0, sdyx = 0.0;
        for (int64_t n = 0; n < N; n++) {
            const float *xr = x->v + (n * C + c) * HW, *gr = y->g + (n * C + c) * HW;
            float a = 0.0f, b = 0.0f;
            for (int64_t i = 0; i < HW; i++) {
                float d = !relu || fmaf(xr[i], sc, sh) > 0.0f ? gr[i] : 0.0f;
                a += d;
                b += d * (xr[i] - m);
            }
            sdy += a;
            sdyx += (double)b * rstd[c];
        }
        if (gm && gm->g) gm->g[c] += (float)sdyx;
        if (bt && bt->g) bt->g[c] += (float)sdy;
        acc[c] = w * sdy;
        acc[C + c] = w * sdyx;
    }
    /* every rank reaches this: the fit loop runs backward on all or none */
    if (mmf_tape_allreduce(tp, acc, (size_t)(2 * C), 0)) { mmf_tape_fail(tp, MMF_ERR_IO); return; }
    if (!x->g) return;
    int fresh = mmf_tape_grad_fresh(x);
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && C > 1 && N * HW * C > 16384)
    for (int64_t c = 0; c < C; c++) {
        float m = mean[c], rs = rstd[c], g = gm ? gm->v[c] : 1.0f, sc = scsh[2 * c], sh = scsh[2 * c + 1];
        float a = (float)(acc[c] / Ml), bb = (float)(acc[C + c] / Ml);
        float k1 = g * rs, k2 = k1 * rs * bb;
        for (int64_t n = 0; n < N; n++) {
            const float *xr = x->v + (n * C + c) * HW, *gr = y->g + (n * C + c) * HW;
            float *dx = x->g + (n * C + c) * HW;
            for (int64_t i = 0; i < HW; i++) {
                float d = !relu || fmaf(xr[i], sc, sh) > 0.0f ? gr[i] : 0.0f;
                float v = k1 * (d - a) - k2 * (xr[i] - m);
                dx[i] = fresh ? v : dx[i] + v;
            }
        }
    }
}

/* Channel c's mean and sum of squared deviations over N planes of HW: each
 * plane's mean and squared deviations while it is in cache (two passes over
 * one plane), combined over the planes (Chan et al.):
 * M2 = sum M2_n + sum HW (mean_n - mean)^2, one read of x from memory. */
static void channel_moments(const float *x, int64_t N, int64_t C, int64_t HW, int64_t c, double *mu_out, double *m2_out) {
    double mu = 0.0, m2 = 0.0;
    for (int64_t n = 0; n < N; n++) {
        const float *xr = x + (n * C + c) * HW;
        float pm = plane_sum(xr, HW) / (float)HW;
        double d = (double)pm - mu;
        mu += d / (double)(n + 1);
        m2 += (double)plane_sqdev(xr, HW, pm) + d * d * (double)HW * (double)n / (double)(n + 1);
    }
    *mu_out = mu;
    *m2_out = m2;
}

/* y = relu?(gamma (x - m) / sqrt(v + eps) + beta) over channel c, keeping
 * mean, rstd and the scale and shift for the backward. fmaf: one rounding, so
 * the backward recomputes exactly the same t (and ReLU mask) from x. */
static void channel_normalize(const float *x, float *y, const float *gamma, const float *beta, int64_t N, int64_t C, int64_t HW,
                              int64_t c, double m, double v, float eps, int relu, float *mean, float *rstd, float *scsh) {
    mean[c] = (float)m;
    rstd[c] = (float)(1.0 / sqrt(v + eps));
    float sc = rstd[c] * (gamma ? gamma[c] : 1.0f), sh = (beta ? beta[c] : 0.0f) - mean[c] * sc;
    scsh[2 * c] = sc;
    scsh[2 * c + 1] = sh;
    for (int64_t n = 0; n < N; n++) {
        const float *xr = x + (n * C + c) * HW;
        float *yr = y + (n * C + c) * HW;
        if (relu) {
            #pragma omp simd
            for (int64_t i = 0; i < HW; i++) { float t = fmaf(xr[i], sc, sh); yr[i] = t > 0.0f ? t : 0.0f; }
        } else {
            #pragma omp simd
            for (int64_t i = 0; i < HW; i++) yr[i] = fmaf(xr[i], sc, sh);
        }
    }
}

static mmf_var batchnorm_dp(mmf_tape *tp, mmf_var x, mmf_var gamma, mmf_var beta, float *running_mean,
                            float *running_var, float momentum, float eps, int relu) {
    int fail = x < 0 || mmf_tape_status(tp) != MMF_OK;
    mmf_tvar *X = fail ? NULL : TV(x);
    if (!fail && X->ndim != 2 && X->ndim != 4)
        fail = mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "batchnorm: expected x [N,C] or [N,C,H,W], got %d dims", X->ndim)) < 0;
    int64_t N = fail ? 0 : X->shape[0], C = fail ? 0 : X->shape[1], HW = fail || X->ndim == 2 ? 1 : X->shape[2] * X->shape[3];
    if (!fail && ((gamma >= 0 && TV(gamma)->n != C) || (beta >= 0 && TV(beta)->n != C)))
        fail = mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "batchnorm: weight/bias size differs from the %lld channels", (long long)C)) < 0;
    if (!(eps > 0.0f)) eps = 1e-5f;
    mmf_var in[3] = {x, gamma, beta}, y = -1;
    int ng = !fail && mmf_tape_needs_grad(tp, in, 3);
    float *mean = NULL;
    double *acc = NULL;
    if (!fail) {
        y = mmf_tape_alloc_lazy(tp, X->ndim, X->shape, ng);
        /* mean, rstd, scale and shift [4C floats], then the sums [2C + 2 doubles], which the backward reuses */
        mean = mmf_tape_scratch(tp, (size_t)C * 4 * sizeof(float) + (size_t)(2 * C + 2) * sizeof(double) + 64);
        if (mean) acc = (double *)(mean + 4 * C);
        if (y < 0 || !mean) fail = mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "batchnorm: out of memory")) < 0;
    }
    double hdr[2] = {0.0, 0.0};
    if (mmf_tape_allreduce(tp, hdr, 1, fail)) return mmf_tape_fail(tp, MMF_ERR_IO);
    X = TV(x);
    mmf_tvar *Y = TV(y), *G = TV(gamma), *Bt = TV(beta);
    float *rstd = mean + C, *scsh = mean + 2 * C;
    int nt = mmf_tape_threads(tp);
    /* acc = [count, sum [C], sum of squares [C]] of this rank's slice */
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && C > 1 && N * HW * C > 16384)
    for (int64_t c = 0; c < C; c++) {
        double mu, m2;
        channel_moments(X->v, N, C, HW, c, &mu, &m2);
        double cnt = (double)(N * HW);
        acc[1 + c] = cnt * mu;
        acc[1 + C + c] = m2 + cnt * mu * mu;
    }
    acc[0] = (double)(N * HW);
    if (mmf_tape_allreduce(tp, acc, (size_t)(2 * C + 1), 0)) return mmf_tape_fail(tp, MMF_ERR_IO);
    double cnt = acc[0];
    if (cnt < 2.0) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "batchnorm: batch statistics need more than one value per channel"));
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && C > 1 && N * HW * C > 16384)
    for (int64_t c = 0; c < C; c++) {
        double m = acc[1 + c] / cnt, v = acc[1 + C + c] / cnt - m * m;
        if (v < 0.0) v = 0.0;
        if (running_mean && running_var) {
            running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * m);
            running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * v * cnt / (cnt - 1.0));
        }
        channel_normalize(X->v, Y->v, G ? G->v : NULL, Bt ? Bt->v : NULL, N, C, HW, c, m, v, eps, relu, mean, rstd, scsh);
    }
    if (ng) {
        mmf_node nd = {.backward = batchnorm_dp_backward, .name = relu ? "batchnorm_relu (data parallel)" : "batchnorm (data parallel)",
                       .out = y, .in = {x, gamma, beta}, .n_in = 3, .i = {N, C, HW, 1, relu, (int64_t)cnt},
                       .aux = {mean, rstd, scsh}, .lazy_ok = 1};
        mmf_tape_record(tp, &nd);
    }
    return y;
}

static mmf_var batchnorm(mmf_tape *tp, mmf_var x, mmf_var gamma, mmf_var beta, float *running_mean,
                         float *running_var, float momentum, float eps, int relu) {
    if (mmf_tape_training(tp) && mmf_tape_comm(tp))
        return batchnorm_dp(tp, x, gamma, beta, running_mean, running_var, momentum, eps, relu);
    if (x < 0 || mmf_tape_status(tp)) return mmf_tape_fail(tp, mmf_tape_status(tp));
    mmf_tvar *X = TV(x);
    if (X->ndim != 2 && X->ndim != 4)
        return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "batchnorm: expected x [N,C] or [N,C,H,W], got %d dims", X->ndim));
    int64_t N = X->shape[0], C = X->shape[1], HW = X->ndim == 4 ? X->shape[2] * X->shape[3] : 1;
    if ((gamma >= 0 && TV(gamma)->n != C) || (beta >= 0 && TV(beta)->n != C))
        return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "batchnorm: weight/bias size differs from the %lld channels", (long long)C));
    int train = mmf_tape_training(tp);
    int batch = train || !running_mean || !running_var;
    if (batch && N * HW < 2)
        return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "batchnorm: batch statistics need more than one value per channel"));
    if (!(eps > 0.0f)) eps = 1e-5f;
    mmf_var in[3] = {x, gamma, beta};
    int ng = mmf_tape_needs_grad(tp, in, 3);
    mmf_var y = mmf_tape_alloc_lazy(tp, X->ndim, X->shape, ng);
    float *mean = mmf_tape_scratch(tp, (size_t)C * 4 * sizeof(float) + 64);
    if (y < 0 || !mean) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "batchnorm: out of memory"));
    float *rstd = mean + C, *scsh = mean + 2 * C;   /* scale and shift of each channel, for the backward's ReLU mask */
    X = TV(x);
    mmf_tvar *Y = TV(y), *G = TV(gamma), *Bt = TV(beta);
    int nt = mmf_tape_threads(tp);
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && C > 1 && N * HW * C > 16384)
    for (int64_t c = 0; c < C; c++) {
        double m, v;
        if (batch) {
            double mu, m2;
            channel_moments(X->v, N, C, HW, c, &mu, &m2);
            m = mu;
            v = m2 / (double)(N * HW);
            if (train && running_mean && running_var) {
                double cnt = (double)(N * HW);
                running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * m);
                running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * v * cnt / (cnt - 1.0));
            }
        } else {
            m = running_mean[c];
            v = running_var[c];
        }
        channel_normalize(X->v, Y->v, G ? G->v : NULL, Bt ? Bt->v : NULL, N, C, HW, c, m, v, eps, relu, mean, rstd, scsh);
    }
    if (ng) {
        mmf_node nd = {.backward = batchnorm_backward, .name = relu ? "batchnorm_relu" : "batchnorm", .out = y,
                       .in = {x, gamma, beta}, .n_in = 3, .i = {N, C, HW, batch, relu}, .aux = {mean, rstd, scsh}, .lazy_ok = 1};
        mmf_tape_record(tp, &nd);
    }
    return y;
}

mmf_var mmf_t_batchnorm(mmf_tape *tp, mmf_var x, mmf_var gamma, mmf_var beta, float *running_mean,
                        float *running_var, float momentum, float eps) {
    return batchnorm(tp, x, gamma, beta, running_mean, running_var, momentum, eps, 0);
}

mmf_var mmf_t_batchnorm_relu(mmf_tape *tp, mmf_var x, mmf_var gamma, mmf_var beta, float *running_mean,
                             float *running_var, float momentum, float eps) {
    return batchnorm(tp, x, gamma, beta, running_mean, running_var, momentum, eps, 1);
}

/* ------------------------------------------------------------ pooling */

static mmf_status pool_check(mmf_tape *tp, mmf_var x, int k, int stride, int pad, const char *name, int *OH, int *OW) {
    mmf_tvar *X = TV(x);
    if (X->ndim != 4) return mmf_fail(MMF_ERR_SHAPE, "%s: expected x [N,C,H,W], got %d dims", name, X->ndim);
    if (k < 1 || stride < 1 || pad < 0 || 2 * pad > k)
        return mmf_fail(MMF_ERR_ARG, "%s: kernel %d, stride %d, padding %d (padding at most half the kernel)", name, k, stride, pad);
    if (X->shape[2] + 2 * pad < k || X->shape[3] + 2 * pad < k)
        return mmf_fail(MMF_ERR_SHAPE, "%s: kernel %d larger than the padded input", name, k);
    mmf_pool2d_out_size((int)X->shape[2], (int)X->shape[3], k, stride, pad, OH, OW);
    return MMF_OK;
}

/* 2x2 stride-2 windows without padding: the forward keeps no argmax; the
 * backward finds it again as the first window element equal to the output, in
 * the forward's order (r0[j], r0[j+1], r1[j], r1[j+1]). If none is equal the
 * output is NaN, which the forward takes only from r0[j]. Every input element of
 * a window gets its share (the argmax its gradient, the others zero), so the
 * rows stream sequentially. i = {NC, H, W, OH, OW} */
static void maxpool2_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *x = TV(nd->in[0]), *y = TV(nd->out);
    int64_t NC = nd->i[0], H = nd->i[1], W = nd->i[2], OH = nd->i[3], OW = nd->i[4];
    int nt = mmf_tape_threads(tp);
    /* the windows tile the input exactly when lazy_ok was set: then an unwritten dx is stored, not added */
    int fresh = (nd->lazy_ok & 1) && mmf_tape_grad_fresh(x);
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && NC * OH * OW > 16384)
    for (int64_t p = 0; p < NC; p++)
        for (int64_t oh = 0; oh < OH; oh++) {
            const float *r0 = x->v + (p * H + 2 * oh) * W, *r1 = r0 + W;
            float *d0 = x->g + (p * H + 2 * oh) * W, *d1 = d0 + W;
            const float *yo = y->v + (p * OH + oh) * OW, *go = y->g + (p * OH + oh) * OW;
            #pragma omp simd
            for (int64_t ow = 0; ow < OW; ow++) {
                /* g passes to the first element equal to m; what is left (NaN) goes to r0[j] */
                float m = yo[ow], r = go[ow];
                float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
                float ga = a == m ? r : 0.0f; r = a == m ? 0.0f : r;
                float gb = b == m ? r : 0.0f; r = b == m ? 0.0f : r;
                float gc = c == m ? r : 0.0f; r = c == m ? 0.0f : r;
                float gd = d == m ? r : 0.0f; r = d == m ? 0.0f : r;
                if (fresh) {
                    d0[2 * ow] = ga + r; d0[2 * ow + 1] = gb; d1[2 * ow] = gc; d1[2 * ow + 1] = gd;
                } else {
                    d0[2 * ow] += ga + r; d0[2 * ow + 1] += gb; d1[2 * ow] += gc; d1[2 * ow + 1] += gd;
                }
            }
        }
}

/* aux[0] = argmax (int32, index inside the input plane; -1 if the window saw only padding) */
static void maxpool_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *x = TV(nd->in[0]), *y = TV(nd->out);
    int64_t NC = nd->i[0], HWi = nd->i[1], HWo = nd->i[2];
    const int32_t *am = nd->aux[0];
    int nt = mmf_tape_threads(tp);
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && NC * HWo > 16384)
    for (int64_t p = 0; p < NC; p++)
        for (int64_t o = 0; o < HWo; o++)
            if (am[p * HWo + o] >= 0) x->g[p * HWi + am[p * HWo + o]] += y->g[p * HWo + o];
}

mmf_var mmf_t_maxpool2d(mmf_tape *tp, mmf_var x, int k, int stride, int pad) {
    if (x < 0 || mmf_tape_status(tp)) return mmf_tape_fail(tp, mmf_tape_status(tp));
    int OH, OW;
    mmf_status s = pool_check(tp, x, k, stride, pad, "maxpool2d", &OH, &OW);
    if (s) return mmf_tape_fail(tp, s);
    mmf_tvar *X = TV(x);
    int64_t N = X->shape[0], C = X->shape[1], H = X->shape[2], W = X->shape[3];
    int ng = X->g != NULL, fast = k == 2 && stride == 2 && pad == 0;
    mmf_var y = mmf_tape_alloc(tp, 4, (int64_t[]){N, C, OH, OW}, ng);
    int32_t *am = ng && !fast ? mmf_tape_scratch(tp, (size_t)(N * C * OH * OW) * sizeof(int32_t) + 64) : NULL;
    if (y < 0 || (ng && !fast && !am)) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "maxpool2d: out of memory"));
    X = TV(x);
    float *Y = TV(y)->v;
    int nt = mmf_tape_threads(tp);
    int64_t NC = N * C;
    if (fast) {
        /* the common case, without bounds checks (every window lies inside) and
         * vectorised: max(max(r0[j], r0[j+1]), max(r1[j], r1[j+1])) with strict
         * '>' keeping the earlier element on ties gives the same value as the
         * sequential scan, NaN in r0[j] included */
        #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && NC > 1)
        for (int64_t p = 0; p < NC; p++)
            for (int oh = 0; oh < OH; oh++) {
                const float *r0 = X->v + (p * H + 2 * oh) * W, *r1 = r0 + W;
                float *dst = Y + (p * OH + oh) * OW;
                #pragma omp simd
                for (int ow = 0; ow < OW; ow++) {
                    float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
                    float m1 = b > a ? b : a, m2 = d > c ? d : c;
                    dst[ow] = m2 > m1 ? m2 : m1;
                }
            }
        if (ng) {
            mmf_node nd = {.backward = maxpool2_backward, .name = "maxpool2d", .out = y, .in = {x}, .n_in = 1,
                           .i = {NC, H, W, OH, OW}, .lazy_ok = H == 2 * OH && W == 2 * OW};
            mmf_tape_record(tp, &nd);
        }
        return y;
    }
    mmf_maxpool2d_argmax(Y, am, X->v, (int)N, (int)C, (int)H, (int)W, k, stride, pad, nt);
    if (ng) {
        mmf_node nd = {.backward = maxpool_backward, .name = "maxpool2d", .out = y, .in = {x}, .n_in = 1,
                       .i = {NC, H * W, (int64_t)OH * OW}, .aux = {am}};
        mmf_tape_record(tp, &nd);
    }
    return y;
}

/* i = {NC, H, W, OH, OW, k, stride, pad | cip << 16} */
static void avgpool_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *x = TV(nd->in[0]), *y = TV(nd->out);
    int64_t NC = nd->i[0];
    int H = (int)nd->i[1], W = (int)nd->i[2], OH = (int)nd->i[3], OW = (int)nd->i[4], k = (int)nd->i[5];
    int stride = (int)nd->i[6], pad = (int)(nd->i[7] & 0xffff), cip = (int)(nd->i[7] >> 16);
    int nt = mmf_tape_threads(tp);
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && NC > 1)
    for (int64_t p = 0; p < NC; p++) {
        float *dx = x->g + p * H * W;
        const float *gy = y->g + p * OH * OW;
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                int h0, h1, w0, w1;
                float div;
                mmf_pool_window(oh, ow, k, stride, pad, H, W, cip, &h0, &h1, &w0, &w1, &div);
                if (div <= 0.0f) continue;
                float g = gy[oh * OW + ow] / div;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) dx[ih * W + iw] += g;
            }
    }
}

mmf_var mmf_t_avgpool2d(mmf_tape *tp, mmf_var x, int k, int stride, int pad, int count_include_pad) {
    if (x < 0 || mmf_tape_status(tp)) return mmf_tape_fail(tp, mmf_tape_status(tp));
    int OH, OW;
    mmf_status s = pool_check(tp, x, k, stride, pad, "avgpool2d", &OH, &OW);
    if (s) return mmf_tape_fail(tp, s);
    mmf_tvar *X = TV(x);
    int64_t N = X->shape[0], C = X->shape[1];
    int H = (int)X->shape[2], W = (int)X->shape[3], cip = count_include_pad ? 1 : 0;
    int ng = X->g != NULL;
    mmf_var y = mmf_tape_alloc(tp, 4, (int64_t[]){N, C, OH, OW}, ng);
    if (y < 0) return -1;
    X = TV(x);
    int64_t NC = N * C;
    mmf_avgpool2d(TV(y)->v, X->v, (int)N, (int)C, H, W, k, stride, pad, cip, mmf_tape_threads(tp));
    if (ng) {
        mmf_node nd = {.backward = avgpool_backward, .name = "avgpool2d", .out = y, .in = {x}, .n_in = 1,
                       .i = {NC, H, W, OH, OW, k, stride, (int64_t)pad | ((int64_t)cip << 16)}};
        mmf_tape_record(tp, &nd);
    }
    return y;
}

static void gap_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *x = TV(nd->in[0]), *y = TV(nd->out);
    int64_t NC = nd->i[0], HW = nd->i[1];
    float inv = 1.0f / (float)HW;
    int fresh = mmf_tape_grad_fresh(x);
    for (int64_t p = 0; p < NC; p++) {
        float g = y->g[p] * inv;
        float *dx = x->g + p * HW;
        if (fresh)
            for (int64_t i = 0; i < HW; i++) dx[i] = g;
        else
            for (int64_t i = 0; i < HW; i++) dx[i] += g;
    }
}

mmf_var mmf_t_global_avgpool(mmf_tape *tp, mmf_var x) {
    if (x < 0 || mmf_tape_status(tp)) return mmf_tape_fail(tp, mmf_tape_status(tp));
    mmf_tvar *X = TV(x);
    if (X->ndim != 4 || X->shape[2] * X->shape[3] < 1)
        return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "global_avgpool: expected x [N,C,H,W] with H, W >= 1"));
    int64_t N = X->shape[0], C = X->shape[1], HW = X->shape[2] * X->shape[3];
    int ng = X->g != NULL;
    mmf_var y = mmf_tape_alloc(tp, 2, (int64_t[]){N, C}, ng);
    if (y < 0) return -1;
    mmf_global_avgpool(TV(y)->v, TV(x)->v, (int)N, (int)C, HW, mmf_tape_threads(tp));
    if (ng) {
        mmf_node nd = {.backward = gap_backward, .name = "global_avgpool", .out = y, .in = {x}, .n_in = 1, .i = {N * C, HW},
                       .lazy_ok = 1};
        mmf_tape_record(tp, &nd);
    }
    return y;
}
