/* The FFT against a naive O(n^2) DFT in double, circular convolution against
 * the direct sum, count sketch by hand. Gradients of outer, count sketch and
 * circular convolution against PyTorch and finite differences:
 * tests/test_tape_ops.c. */
#include "test_util.h"
#include "train/tape.h"
#include "train/fft.h"

static mmf_rng g_rng;
static const int32_t hsh[5] = {3, 0, 3, 1, 2};
static const float sgn[5] = {1, -1, -1, 1, 1};

int main(void) {
    mmf_rng_seed(&g_rng, 11);

    /* FFT vs naive DFT, sizes 1..1024, forward and inverse */
    for (int n = 1; n <= 1024; n *= 2) {
        mmf_fft f;
        CHECK_OK(mmf_fft_init(&f, n));
        float *re = malloc(sizeof(float) * n), *im = malloc(sizeof(float) * n);
        double *xr = malloc(sizeof(double) * n), *xi = malloc(sizeof(double) * n);
        for (int i = 0; i < n; i++) { xr[i] = re[i] = mmf_rng_normal(&g_rng); xi[i] = im[i] = mmf_rng_normal(&g_rng); }
        mmf_fft_run(&f, re, im, 0);
        double worst = 0.0;
        for (int k = 0; k < n; k++) {
            double sr = 0, si = 0;
            for (int j = 0; j < n; j++) {
                double a = -2 * M_PI * (double)j * k / n;
                sr += xr[j] * cos(a) - xi[j] * sin(a);
                si += xr[j] * sin(a) + xi[j] * cos(a);
            }
            double e = fmax(fabs(sr - re[k]), fabs(si - im[k])) / sqrt((double)n);
            if (e > worst) worst = e;
        }
        CHECK_MSG(worst < 2e-5, "fft n=%d worst %g", n, worst);
        mmf_fft_run(&f, re, im, 1);
        worst = 0.0;
        for (int i = 0; i < n; i++) worst = fmax(worst, fmax(fabs(re[i] - xr[i]), fabs(im[i] - xi[i])));
        CHECK_MSG(worst < 2e-5, "ifft(fft) n=%d worst %g", n, worst);
        free(re); free(im); free(xr); free(xi);
        mmf_fft_free(&f);
    }
    mmf_fft f;
    CHECK(mmf_fft_init(&f, 12) == MMF_ERR_ARG);

    /* circular convolution vs the direct sum, and count sketch by hand */
    mmf_tape *tp = mmf_tape_new(2, 1);
    int d = 64;
    float a[64], b[64];
    for (int i = 0; i < d; i++) { a[i] = mmf_rng_normal(&g_rng); b[i] = mmf_rng_normal(&g_rng); }
    const float *y = mmf_tape_var(tp, mmf_t_circ_conv(tp, mmf_t_const(tp, a, 2, (int64_t[]){1, d}), mmf_t_const(tp, b, 2, (int64_t[]){1, d})))->v;
    double worst = 0;
    for (int k = 0; k < d; k++) {
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)a[j] * b[((k - j) % d + d) % d];
        worst = fmax(worst, fabs(s - y[k]));
    }
    CHECK_MSG(worst < 1e-4, "circ_conv vs direct sum: %g", worst);
    float x[5] = {1, 2, 3, 4, 5};
    const float *cs = mmf_tape_var(tp, mmf_t_count_sketch(tp, mmf_t_const(tp, x, 2, (int64_t[]){1, 5}), hsh, sgn, 4))->v;
    CHECK(cs[0] == -2 && cs[1] == 4 && cs[2] == 5 && cs[3] == 1 - 3);
    mmf_tape_free(tp);
    return t_done("test_grad_bilinear");
}
