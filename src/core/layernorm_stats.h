/* One row's layer-norm statistics, shared by the fp32 (mmf_layernorm) and the
 * bf16 (mmf_bf16_layernorm) paths so that both normalise with the same numbers. */
#ifndef MMF_CORE_LAYERNORM_STATS_H
#define MMF_CORE_LAYERNORM_STATS_H
#include <math.h>

/* Mean in double, then centred values (x - m_hi) - m_lo with the mean split
 * into two floats: x - m_hi is exact near the mean, so a large offset with a
 * small spread (|mean| >> std) keeps full precision without double arithmetic
 * in the vector loops. Callers normalise as ((x - m_hi) - m_lo) * rstd. */
static inline void mmf_layernorm_stats(const float *x, int C, float eps, float *m_hi, float *m_lo, float *rstd) {
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int c = 0; c < C; c++) s += x[c];
    double mean = s / C;
    float hi = (float)mean, lo = (float)(mean - (double)hi);
    double ss = 0.0;
#pragma omp simd reduction(+ : ss)
    for (int c = 0; c < C; c++) {
        float d = (x[c] - hi) - lo;
        ss += (double)d * d;
    }
    *m_hi = hi;
    *m_lo = lo;
    *rstd = (float)(1.0 / sqrt(ss / C + (double)eps));
}

#endif
