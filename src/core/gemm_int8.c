#include "core/gemm_int8.h"
#include "core/ops.h"
#include "core/ops_f32_512.h"
#include <immintrin.h>
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <string.h>

int mmf_int8_supported(void) {
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return isa == dnnl_cpu_isa_avx512_core_vnni || isa == dnnl_cpu_isa_avx512_core_bf16 ||
           isa == dnnl_cpu_isa_avx512_core_amx || isa == dnnl_cpu_isa_avx2_vnni;
}

const char *mmf_engine_isa_name(void) {
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "other";
    }
}

static size_t up64(size_t n) { return (n + 63) & ~(size_t)63; }

size_t mmf_int8_packed_bytes(int N, int K) { return up64((size_t)N * sizeof(float)) + up64((size_t)N * (size_t)K); }

void mmf_int8_pack(void *dst, const float *W, int N, int K) {
    float *scale = dst;
    int8_t *q = (int8_t *)dst + up64((size_t)N * sizeof(float));
    for (int n = 0; n < N; n++) {
        const float *w = W + (size_t)n * K;
        float amax = 0.0f;
        for (int k = 0; k < K; k++) amax = fabsf(w[k]) > amax ? fabsf(w[k]) : amax;
        float s = amax > 0.0f ? amax / 127.0f : 1.0f, inv = 1.0f / s;
        scale[n] = s;
        for (int k = 0; k < K; k++) {
            float v = nearbyintf(w[k] * inv);
            q[(size_t)n * K + k] = (int8_t)(v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v);
        }
    }
}

size_t mmf_int8_scratch_bytes(int64_t rows, int Kmax, int Nmax) {
    return up64((size_t)rows * (size_t)Kmax) + up64((size_t)rows * sizeof(float)) +
           up64((size_t)rows * (size_t)Nmax * sizeof(int32_t)) + 64;
}

/* One row's symmetric quantisation, q = round(x / s) with s = max|x| / 127,
 * stored as u8 = q + 128; returns s. Round half to even in both versions, so
 * the AVX-512 one gives the same bytes as the portable one. */
static float quant_row(uint8_t *q, const float *x, int K) {
    float amax = 0.0f;
    for (int k = 0; k < K; k++) {
        float a = fabsf(x[k]);
        amax = a > amax ? a : amax;   /* not fmaxf: that is a libm call per element */
    }
    float s = amax > 0.0f ? amax / 127.0f : 1.0f, inv = 1.0f / s;
    for (int k = 0; k < K; k++) {
        float v = nearbyintf(x[k] * inv);
        v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
        q[k] = (uint8_t)((int)v + 128);
    }
    return s;
}

static void dequant_row(float *y, const int32_t *c, float s, const float *wscale, const float *bias, int N, int acc) {
    for (int n = 0; n < N; n++) {
        float v = (float)c[n] * s * wscale[n] + (bias ? bias[n] : 0.0f);
        y[n] = acc ? y[n] + v : v;
    }
}

#define TGT_Q __attribute__((target("avx512f,avx512bw,avx512vl")))
static __mmask16 tail16(int n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u); }

TGT_Q static float quant_row_512(uint8_t *q, const float *x, int K) {
    __m512 mx = _mm512_setzero_ps();
    for (int k = 0; k < K; k += 16) mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_maskz_loadu_ps(tail16(K - k), x + k)));
    float amax = _mm512_reduce_max_ps(mx);
    float s = amax > 0.0f ? amax / 127.0f : 1.0f;
    const __m512 inv = _mm512_set1_ps(1.0f / s);
    const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127), off = _mm512_set1_epi32(128);
    for (int k = 0; k < K; k += 16) {
        __mmask16 m = tail16(K - k);
        __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + k), inv));   /* nearest even */
        v = _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(v, lo), hi), off);
        _mm512_mask_cvtepi32_storeu_epi8(q + k, m, v);
    }
    return s;
}

TGT_Q static void dequant_row_512(float *y, const int32_t *c, float s, const float *wscale, const float *bias, int N,
                                  int acc) {
    const __m512 vs = _mm512_set1_ps(s);
    for (int n = 0; n < N; n += 16) {
        __mmask16 m = tail16(N - n);
        __m512 v = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(m, c + n)), vs),
                                 _mm512_maskz_loadu_ps(m, wscale + n));
        if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias + n));
        if (acc) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, y + n));
        _mm512_mask_storeu_ps(y + n, m, v);
    }
}

int mmf_int8_linear(float *y, const float *x, const void *Wp, const float *bias, int64_t rows, int K, int N,
                    int accumulate, void *scratch, int nt) {
    if (rows <= 0) return 0;
    if (nt < 1) nt = 1;
    unsigned char *p = (unsigned char *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    uint8_t *a = p;
    float *ascale = (float *)(p + up64((size_t)rows * K));
    int32_t *c = (int32_t *)((unsigned char *)ascale + up64((size_t)rows * sizeof(float)));
    const float *wscale = Wp;
    const int8_t *wq = (const int8_t *)Wp + up64((size_t)N * sizeof(float));
    const int v512 = mmf_cpu_avx512();
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && rows * K >= 65536)
    for (int64_t r = 0; r < rows; r++)
        ascale[r] = v512 ? quant_row_512(a + r * K, x + r * K, K) : quant_row(a + r * K, x + r * K, K);
    mmf_threads_use(nt);
    const int32_t co = 0;
    /* C = (A - 128) (B - 0)^T: the A offset undoes the +128 of the storage */
    if (dnnl_gemm_u8s8s32('N', 'T', 'F', rows, N, K, 1.0f, a, K, 128, wq, K, 0, 0.0f, c, N, &co) != dnnl_success)
        return -1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && rows * N >= 65536)
    for (int64_t r = 0; r < rows; r++) {
        if (v512) dequant_row_512(y + r * N, c + r * N, ascale[r], wscale, bias, N, accumulate);
        else dequant_row(y + r * N, c + r * N, ascale[r], wscale, bias, N, accumulate);
    }
    return 0;
}

int mmf_quant_u8(uint8_t *q, const float *x, int64_t n, float *scale, int nt) {
    if (nt < 1) nt = 1;
    float lo = 0.0f, hi = 0.0f;
#pragma omp parallel for simd num_threads(nt) schedule(static) reduction(min : lo) reduction(max : hi) \
    if (parallel : nt > 1 && n >= 65536)
    for (int64_t i = 0; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    if (lo < 0.0f || !(hi < INFINITY)) return -1;   /* NaN or inf fail the second test */
    const float s = hi > 0.0f ? hi / 255.0f : 1.0f, inv = 1.0f / s;
#pragma omp parallel for simd num_threads(nt) schedule(static) if (parallel : nt > 1 && n >= 65536)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] * inv + 0.5f;   /* x >= 0: round half up */
        q[i] = (uint8_t)(v < 255.0f ? v : 255.0f);
    }
    *scale = s;
    return 0;
}
