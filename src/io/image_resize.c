/* Pillow's Image.resize for 8-bit RGB, written from the semantics of its
 * libImaging/Resample.c so that outputs are bit-identical:
 *  - coefficients per output pixel computed in double: centre (x + 0.5) * scale,
 *    support = filter support * max(scale, 1) (the antialiasing when shrinking),
 *    bounds rounded with (int)(c -/+ support + 0.5), weights normalised to sum 1;
 *  - weights quantised to 22-bit fixed point, rounded half away from zero;
 *  - accumulation in int starting at 1 << 21, result >> 22 clamped to 0..255;
 *  - horizontal pass first (only over the source rows the vertical pass needs),
 *    8-bit rounding, then the vertical pass. A pass is skipped when that size
 *    does not change. */
#include "core/error.h"
#include "mmfuse.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS (32 - 8 - 2)

static double f_box(double x) { return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0; }
static double f_bilinear(double x) {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}
static double f_hamming(double x) {
    if (x < 0.0) x = -x;
    if (x == 0.0) return 1.0;
    if (x >= 1.0) return 0.0;
    x = x * M_PI;
    return sin(x) / x * (0.54f + 0.46f * cos(x));
}
static double f_bicubic(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}
static double sinc(double x) {
    if (x == 0.0) return 1.0;
    x = x * M_PI;
    return sin(x) / x;
}
static double f_lanczos(double x) { return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0; }

typedef struct { double (*f)(double); double support; } filt;

/* Fixed-point coefficients: k is (out, ksize), bounds (out, 2) = (first, count). */
static int coeffs(int in_size, int out_size, const filt *fp, int **bounds_out, int32_t **kk_out) {
    double scale = (double)(float)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = fp->support * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *w = malloc(sizeof(double) * (size_t)ksize);
    int32_t *kk = calloc((size_t)out_size * (size_t)ksize, sizeof(int32_t));
    int *bounds = malloc(sizeof(int) * 2 * (size_t)out_size);
    if (!w || !kk || !bounds) { free(w); free(kk); free(bounds); return 0; }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            double v = fp->f((x + xmin - center + 0.5) * ss);
            w[x] = v;
            ww += v;
        }
        int32_t *k = kk + (size_t)xx * ksize;
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? w[x] / ww : w[x];
            k[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PRECISION_BITS)) : (int32_t)(0.5 + v * (1 << PRECISION_BITS));
        }
        bounds[2 * xx] = xmin;
        bounds[2 * xx + 1] = xmax;
    }
    free(w);
    *bounds_out = bounds;
    *kk_out = kk;
    return ksize;
}

static inline uint8_t clip8(int v) {
    v >>= PRECISION_BITS;   /* arithmetic shift: floor, as Pillow's lookup table */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

mmf_status mmf_image_resize(const mmf_image *in, int out_w, int out_h, mmf_resample filter, mmf_image *out) {
    static const filt F[6] = {{NULL, 0}, {f_lanczos, 3.0}, {f_bilinear, 1.0}, {f_bicubic, 2.0}, {f_box, 0.5}, {f_hamming, 1.0}};
    out->width = out->height = 0;
    out->rgb = NULL;
    if ((int)filter < 1 || (int)filter > 5)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "resample filter %d is not supported (bilinear 2, bicubic 3, lanczos 1, box 4, hamming 5)", (int)filter);
    if (!in || !in->rgb || in->width < 1 || in->height < 1 || out_w < 1 || out_h < 1 || out_w > 1000000 || out_h > 1000000)
        return mmf_fail(MMF_ERR_ARG, "resize: bad sizes (%dx%d -> %dx%d)", in ? in->width : 0, in ? in->height : 0, out_w, out_h);
    const filt *fp = &F[filter];
    int W = in->width, H = in->height;
    int need_h = out_w != W, need_v = out_h != H;
    int *bv = NULL, *bh = NULL;
    int32_t *kv = NULL, *kh = NULL;
    int ksv = coeffs(H, out_h, fp, &bv, &kv);
    if (!ksv) return mmf_fail(MMF_ERR_NOMEM, "resize: out of memory");
    int y_first = bv[0], y_last = bv[2 * out_h - 2] + bv[2 * out_h - 1];
    const uint8_t *src = in->rgb;
    uint8_t *tmp = NULL;
    if (need_h) {
        int ksh = coeffs(W, out_w, fp, &bh, &kh);
        int rows = y_last - y_first;
        tmp = ksh ? malloc((size_t)out_w * rows * 3) : NULL;
        if (!tmp) { free(bv); free(kv); free(bh); free(kh); return mmf_fail(MMF_ERR_NOMEM, "resize: out of memory"); }
        for (int i = 0; i < out_h; i++) bv[2 * i] -= y_first;
        for (int y = 0; y < rows; y++) {
            const uint8_t *r = in->rgb + (size_t)(y + y_first) * W * 3;
            uint8_t *o = tmp + (size_t)y * out_w * 3;
            for (int xx = 0; xx < out_w; xx++) {
                int xmin = bh[2 * xx], xmax = bh[2 * xx + 1];
                const int32_t *k = kh + (size_t)xx * ksh;
                int s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
                const uint8_t *p = r + (size_t)xmin * 3;
                for (int x = 0; x < xmax; x++, p += 3) {
                    s0 += p[0] * k[x];
                    s1 += p[1] * k[x];
                    s2 += p[2] * k[x];
                }
                o[3 * xx] = clip8(s0);
                o[3 * xx + 1] = clip8(s1);
                o[3 * xx + 2] = clip8(s2);
            }
        }
        free(bh);
        free(kh);
        src = tmp;
    }
    uint8_t *dst = malloc((size_t)out_w * out_h * 3);
    if (!dst) { free(tmp); free(bv); free(kv); return mmf_fail(MMF_ERR_NOMEM, "resize: out of memory"); }
    if (need_v) {
        /* row-wise accumulation: contiguous, vectorisable inner loop */
        int32_t *acc = malloc(sizeof(int32_t) * (size_t)out_w * 3);
        if (!acc) { free(dst); free(tmp); free(bv); free(kv); return mmf_fail(MMF_ERR_NOMEM, "resize: out of memory"); }
        size_t n = (size_t)out_w * 3;
        for (int yy = 0; yy < out_h; yy++) {
            int ymin = bv[2 * yy], ymax = bv[2 * yy + 1];
            const int32_t *k = kv + (size_t)yy * ksv;
            for (size_t i = 0; i < n; i++) acc[i] = 1 << (PRECISION_BITS - 1);
            for (int y = 0; y < ymax; y++) {
                const uint8_t *p = src + (size_t)(ymin + y) * n;
                int32_t ky = k[y];
                for (size_t i = 0; i < n; i++) acc[i] += p[i] * ky;
            }
            uint8_t *o = dst + (size_t)yy * n;
            for (size_t i = 0; i < n; i++) o[i] = clip8(acc[i]);
        }
        free(acc);
    } else {
        memcpy(dst, src, (size_t)out_w * out_h * 3);
    }
    free(tmp);
    free(bv);
    free(kv);
    out->width = out_w;
    out->height = out_h;
    out->rgb = dst;
    return MMF_OK;
}
