/* Activations, residual adds, layernorm, softmax. The inner loops are
 * `omp simd` over the branch-free math of vmath.h so they vectorise. */
#include "core/ops.h"
#include "core/layernorm_stats.h"
#include "core/ops_f32_512.h"
#include "core/vmath.h"
#include "core/vmath512.h"
#include <math.h>
#include <string.h>

/* small loops stay on one thread: spawning costs more than they do.
 * The `if` clauses name `parallel:` on purpose: an unmodified `if` on a
 * combined `parallel for simd` also switches off the simd part (OpenMP 5),
 * which made the single-threaded GELU scalar and 5x slower. */
#define PAR_MIN 32768

/* The AVX-512 loop over x in per-thread chunks; 0 when the CPU lacks it. */
static int act_512(int act, float *x, int64_t n, int nt) {
    if (!mmf_cpu_avx512()) return 0;
    if (nt < 2 || n <= PAR_MIN) {
        mmf_act_512(act, x, n);
        return 1;
    }
    const int64_t chunk = ((n + nt - 1) / nt + 15) & ~(int64_t)15;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++) {
        int64_t lo = t * chunk, hi = lo + chunk < n ? lo + chunk : n;
        if (lo < hi) mmf_act_512(act, x + lo, hi - lo);
    }
    return 1;
}

void mmf_gelu_erf(float *x, int64_t n, int nt) {
    /* 0.5 x (1 + erf(x/sqrt2)) = x - 0.5 x erfc(x/sqrt2) for x >= 0, 0.5 x erfc(-x/sqrt2)
     * below: written through erfc so the negative side has no cancellation */
    if (act_512(MMF_EPI_GELU_ERF, x, n, nt)) return;
#pragma omp parallel for simd num_threads(nt) schedule(static) if (parallel : nt > 1 && n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        float q = mmf_v_erfc_pos(fabsf(v) * 0.70710678118654752f);
        x[i] = v >= 0.0f ? v - 0.5f * v * q : 0.5f * v * q;
    }
}

void mmf_gelu_tanh(float *x, int64_t n, int nt) {
    /* 0.5 x (1 + tanh(u)) == x * sigmoid(2u): one exp, no cancellation */
    if (act_512(MMF_EPI_GELU_TANH, x, n, nt)) return;
    const float c2 = 2.0f * 0.7978845608028654f; /* 2 sqrt(2/pi) */
#pragma omp parallel for simd num_threads(nt) schedule(static) if (parallel : nt > 1 && n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        float u2 = c2 * fmaf(0.044715f * v * v, v, v);
        x[i] = v / (1.0f + mmf_v_exp(-u2));
    }
}

void mmf_quick_gelu(float *x, int64_t n, int nt) {
    if (act_512(MMF_EPI_QUICK_GELU, x, n, nt)) return;
#pragma omp parallel for simd num_threads(nt) schedule(static) if (parallel : nt > 1 && n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + mmf_v_exp(-1.702f * x[i]));
}

void mmf_relu(float *x, int64_t n, int nt) {
#pragma omp parallel for simd num_threads(nt) schedule(static) if (parallel : nt > 1 && n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void mmf_tanh(float *x, int64_t n, int nt) {
#pragma omp parallel for simd num_threads(nt) schedule(static) if (parallel : nt > 1 && n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) x[i] = mmf_v_tanh(x[i]);
}

void mmf_sigmoid(float *x, int64_t n, int nt) {
#pragma omp parallel for simd num_threads(nt) schedule(static) if (parallel : nt > 1 && n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) x[i] = 1.0f / (1.0f + mmf_v_exp(-x[i]));
}

void mmf_add(float *out, const float *a, const float *b, int64_t n, int nt) {
#pragma omp parallel for simd num_threads(nt) schedule(static) if (parallel : nt > 1 && n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void mmf_add_bias(float *x, const float *bias, int64_t N, int C, int nt) {
    int64_t total = N * C;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && total > PAR_MIN)
    for (int64_t i = 0; i < N; i++) {
        float *row = x + i * C;
#pragma omp simd
        for (int c = 0; c < C; c++) row[c] += bias[c];
    }
}

void mmf_layernorm(float *out, const float *inp, const float *w, const float *b,
                   int64_t N, int C, float eps, int nt) {
    int64_t total = N * C;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && total > PAR_MIN)
    for (int64_t i = 0; i < N; i++) {
        const float *x = inp + i * C;
        float *y = out + i * C;
        float m_hi, m_lo, rstd;
        mmf_layernorm_stats(x, C, eps, &m_hi, &m_lo, &rstd);
        if (w && b) {
#pragma omp simd
            for (int c = 0; c < C; c++) y[c] = fmaf(((x[c] - m_hi) - m_lo) * rstd, w[c], b[c]);
        } else {
#pragma omp simd
            for (int c = 0; c < C; c++) {
                float v = ((x[c] - m_hi) - m_lo) * rstd;
                if (w) v *= w[c];
                if (b) v += b[c];
                y[c] = v;
            }
        }
    }
}

void mmf_softmax_rows(float *x, int64_t rows, int cols, const uint8_t *keep, int nt) {
    const int v512 = mmf_cpu_avx512();
    int64_t total = rows * cols;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && total > PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        if (v512) mmf_softmax_row_512(x + r * cols, cols, cols, keep);
        else mmf_v_softmax_row(x + r * cols, cols, cols, keep);
    }
}
