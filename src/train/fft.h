/* Radix-2 complex FFT (our own: FFTW is GPL). n must be a power of two.
 * Used by compact bilinear pooling (circular convolution of count sketches). */
#ifndef MMF_TRAIN_FFT_H
#define MMF_TRAIN_FFT_H
#include "mmfuse.h"

typedef struct mmf_fft {
    int n, logn;
    float *cs;      /* cos(2 pi k / n), k < n/2 */
    float *sn;      /* sin(2 pi k / n) */
    int *rev;       /* bit reversal permutation */
} mmf_fft;

int mmf_is_pow2(long n);
mmf_status mmf_fft_init(mmf_fft *f, int n);
void mmf_fft_free(mmf_fft *f);
/* In place over re[n], im[n]. Forward: X_k = sum x_j e^{-2 pi i jk/n}.
 * Inverse uses e^{+...} and divides by n. */
void mmf_fft_run(const mmf_fft *f, float *re, float *im, int inverse);
#endif
