/* Activations, residual adds, layernorm, softmax. */
#include "core/ops.h"
#include <math.h>
#include <string.h>

/* small loops stay on one thread: spawning costs more than they do */

void mmf_gelu_erf(float *x, int64_t n, int nt) {
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && n > 32768)
    for (int64_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void mmf_gelu_tanh(float *x, int64_t n, int nt) {
    const float c = 0.7978845608028654f; /* sqrt(2/pi) */
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && n > 32768)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v)));
    }
}

void mmf_quick_gelu(float *x, int64_t n, int nt) {
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && n > 32768)
    for (int64_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-1.702f * x[i]));
}

void mmf_relu(float *x, int64_t n, int nt) {
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && n > 32768)
    for (int64_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void mmf_tanh(float *x, int64_t n, int nt) {
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && n > 32768)
    for (int64_t i = 0; i < n; i++) x[i] = tanhf(x[i]);
}

void mmf_sigmoid(float *x, int64_t n, int nt) {
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && n > 32768)
    for (int64_t i = 0; i < n; i++) x[i] = 1.0f / (1.0f + expf(-x[i]));
}

void mmf_add(float *out, const float *a, const float *b, int64_t n, int nt) {
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && n > 32768)
    for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void mmf_add_bias(float *x, const float *bias, int64_t N, int C, int nt) {
    int64_t total = N * C;
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && total > 32768)
    for (int64_t i = 0; i < N; i++)
        for (int c = 0; c < C; c++) x[i * C + c] += bias[c];
}

void mmf_layernorm(float *out, const float *inp, const float *w, const float *b,
                   int64_t N, int C, float eps, int nt) {
    int64_t total = N * C;
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && total > 32768)
    for (int64_t i = 0; i < N; i++) {
        const float *x = inp + i * C;
        float *y = out + i * C;
        /* two passes in double: matches PyTorch to ~1 ulp even for large C */
        double mean = 0.0, var = 0.0;
        for (int c = 0; c < C; c++) mean += x[c];
        mean /= C;
        for (int c = 0; c < C; c++) { double d = x[c] - mean; var += d * d; }
        var /= C;
        float rstd = (float)(1.0 / sqrt(var + eps)), m = (float)mean;
        for (int c = 0; c < C; c++) {
            float v = (x[c] - m) * rstd;
            if (w) v *= w[c];
            if (b) v += b[c];
            y[c] = v;
        }
    }
}

void mmf_softmax_rows(float *x, int64_t rows, int cols, const uint8_t *keep, int nt) {
    int64_t total = rows * cols;
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && total > 32768)
    for (int64_t r = 0; r < rows; r++) {
        float *row = x + r * cols;
        float mx = -INFINITY;
        for (int j = 0; j < cols; j++)
            if ((!keep || keep[j]) && row[j] > mx) mx = row[j];
        if (mx == -INFINITY) { memset(row, 0, (size_t)cols * sizeof *row); continue; }
        float sum = 0.0f;
        for (int j = 0; j < cols; j++) {
            float e = (!keep || keep[j]) ? expf(row[j] - mx) : 0.0f;
            row[j] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
        for (int j = 0; j < cols; j++) row[j] *= inv;
    }
}
