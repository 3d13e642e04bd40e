/* Branch-free float32 exp / tanh / erfc that GCC vectorises inside
 * `#pragma omp simd` loops. glibc's expf/tanhf/erff are scalar calls unless
 * -ffast-math is on (which we do not want library-wide: it breaks NaN/inf
 * handling), and they dominate GELU and softmax otherwise.
 * Accuracy (checked against float64 PyTorch in tests/test_kernels.c):
 * exp ~1 ulp (Cephes expf polynomial), tanh ~2 ulp, erfc absolute error
 * < 2e-7 (Abramowitz & Stegun 7.1.26, as PyTorch's own vectorised erf). */
#ifndef MMF_CORE_VMATH_H
#define MMF_CORE_VMATH_H
#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float mmf_v_pow2i(int32_t n) {   /* 2^n for -126 <= n <= 127 */
    int32_t bits = (n + 127) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* e^x; 0 below -104 (where float underflows completely), inf above 88.72, NaN kept. */
static inline float mmf_v_exp(float x) {
    const float hi = 88.72283935546875f, lo = -103.97208404541015625f;
    float xc = x > hi ? hi : (x < lo ? lo : x);
    xc = xc != xc ? 0.0f : xc;   /* NaN: keep the int conversion below defined */
    /* round to nearest by the 1.5*2^23 trick: floorf/rintf do not vectorise
     * without -ffast-math (|xc * log2 e| < 151, far inside the trick's range) */
    float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    /* r = x - n ln2 with ln2 split in two for an exact product */
    float r = fmaf(n, -0.693359375f, xc);
    r = fmaf(n, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    p = fmaf(p, r * r, r) + 1.0f;
    /* scale by 2^n in two steps so that neither factor leaves the normal range
     * (n spans -150..128): subnormal results round once, at the last multiply */
    int32_t ni = (int32_t)n, n1 = ni >> 1, n2 = ni - n1;
    float y = p * mmf_v_pow2i(n1) * mmf_v_pow2i(n2);
    y = x > hi ? INFINITY : y;
    y = x < lo ? 0.0f : y;
    return x != x ? x : y;
}

/* tanh: odd polynomial near 0 (no cancellation), 1 - 2/(e^{2|x|}+1) beyond */
static inline float mmf_v_tanh(float x) {
    float a = fabsf(x), z = x * x;
    float p = -5.70498872745e-3f;
    p = fmaf(p, z, 2.06390887954e-2f);
    p = fmaf(p, z, -5.37397155531e-2f);
    p = fmaf(p, z, 1.33314422036e-1f);
    p = fmaf(p, z, -3.33332819422e-1f);
    float small = fmaf(p * z, x, x);
    float big = copysignf(1.0f - 2.0f / (mmf_v_exp(2.0f * a) + 1.0f), x);
    return a < 0.625f ? small : big;
}

/* erfc(z) for z >= 0 (A&S 7.1.26: absolute error < 1.5e-7) */
static inline float mmf_v_erfc_pos(float z) {
    float t = 1.0f / fmaf(0.3275911f, z, 1.0f);
    float p = 1.061405429f;
    p = fmaf(p, t, -1.453152027f);
    p = fmaf(p, t, 1.421413741f);
    p = fmaf(p, t, -0.284496736f);
    p = fmaf(p, t, 0.254829592f);
    return p * t * mmf_v_exp(-z * z);
}

/* Softmax of row[0..cols) over the entries j < visible with keep[j] != 0 (keep
 * may be NULL); everything else becomes 0, and a row with nothing visible
 * becomes all zeros. Shared by mmf_softmax_rows and mmf_attention. */
static inline void mmf_v_softmax_row(float *row, int cols, int visible, const uint8_t *keep) {
    if (visible > cols) visible = cols;
    if (visible < 0) visible = 0;
    float mx = -INFINITY;
    if (keep) {
#pragma omp simd reduction(max : mx)
        for (int j = 0; j < visible; j++) {
            float v = keep[j] ? row[j] : -INFINITY;
            mx = v > mx ? v : mx;
        }
    } else {
#pragma omp simd reduction(max : mx)
        for (int j = 0; j < visible; j++) mx = row[j] > mx ? row[j] : mx;
    }
    if (mx == -INFINITY) {   /* nothing visible (or only -inf scores) */
        memset(row, 0, (size_t)cols * sizeof *row);
        return;
    }
    float sum = 0.0f;
    if (keep) {
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < visible; j++) {
            float e = mmf_v_exp(row[j] - mx);
            e = keep[j] ? e : 0.0f;
            row[j] = e;
            sum += e;
        }
    } else {
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < visible; j++) {
            float e = mmf_v_exp(row[j] - mx);
            row[j] = e;
            sum += e;
        }
    }
    float inv = 1.0f / sum;
#pragma omp simd
    for (int j = 0; j < visible; j++) row[j] *= inv;
    for (int j = visible; j < cols; j++) row[j] = 0.0f;
}
#endif
