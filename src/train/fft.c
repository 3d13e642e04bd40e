/* Iterative radix-2 Cooley-Tukey: bit-reversal permutation, then log2(n)
 * butterfly passes with precomputed twiddles (computed in double). */
#include "train/fft.h"
#include "core/error.h"
#include <math.h>
#include <stdlib.h>

int mmf_is_pow2(long n) { return n > 0 && (n & (n - 1)) == 0; }

mmf_status mmf_fft_init(mmf_fft *f, int n) {
    f->cs = f->sn = NULL;
    f->rev = NULL;
    if (!mmf_is_pow2(n) || n > (1 << 24)) return mmf_fail(MMF_ERR_ARG, "fft: size %d is not a power of two in [1, 2^24]", n);
    f->n = n;
    f->logn = 0;
    while ((1 << f->logn) < n) f->logn++;
    f->cs = malloc(sizeof(float) * (size_t)(n / 2 + 1));
    f->sn = malloc(sizeof(float) * (size_t)(n / 2 + 1));
    f->rev = malloc(sizeof(int) * (size_t)n);
    if (!f->cs || !f->sn || !f->rev) { mmf_fft_free(f); return mmf_fail(MMF_ERR_NOMEM, "fft: out of memory"); }
    for (int k = 0; k < n / 2; k++) {
        double a = 2.0 * M_PI * k / n;
        f->cs[k] = (float)cos(a);
        f->sn[k] = (float)sin(a);
    }
    for (int i = 0; i < n; i++) {
        int r = 0;
        for (int b = 0; b < f->logn; b++) if (i & (1 << b)) r |= 1 << (f->logn - 1 - b);
        f->rev[i] = r;
    }
    return MMF_OK;
}

void mmf_fft_free(mmf_fft *f) {
    free(f->cs); free(f->sn); free(f->rev);
    f->cs = f->sn = NULL;
    f->rev = NULL;
}

void mmf_fft_run(const mmf_fft *f, float *re, float *im, int inverse) {
    int n = f->n;
    for (int i = 0; i < n; i++) {
        int j = f->rev[i];
        if (j > i) {
            float t = re[i]; re[i] = re[j]; re[j] = t;
            t = im[i]; im[i] = im[j]; im[j] = t;
        }
    }
    float sgn = inverse ? 1.0f : -1.0f;
    for (int len = 2; len <= n; len <<= 1) {
        int half = len >> 1, step = n / len;
        for (int s = 0; s < n; s += len)
            for (int k = 0; k < half; k++) {
                float wr = f->cs[k * step], wi = sgn * f->sn[k * step];
                int a = s + k, b = a + half;
                float xr = re[b] * wr - im[b] * wi, xi = re[b] * wi + im[b] * wr;
                re[b] = re[a] - xr; im[b] = im[a] - xi;
                re[a] += xr; im[a] += xi;
            }
    }
    if (inverse) {
        float inv = 1.0f / (float)n;
        for (int i = 0; i < n; i++) { re[i] *= inv; im[i] *= inv; }
    }
}
