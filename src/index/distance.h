/* Distance kernels for the vector index and k-means: float dot / squared L2 and
 * an int8 dot for quantised codes. Inline because the HNSW walk calls them a
 * few thousand times per query; explicit AVX-512 / AVX2 paths because they
 * decide the queries per second (the scalar tail serves other machines). */
#ifndef MMF_INDEX_DISTANCE_H
#define MMF_INDEX_DISTANCE_H
#include <math.h>
#include <stdint.h>
#include <stddef.h>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

static inline float mmf_dot_f32(const float *a, const float *b, int d) {
    int i = 0;
#if defined(__AVX512F__)
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    for (; i + 32 <= d; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    if (i < d) {
        for (; i + 16 <= d; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        if (i < d) {
            __mmask16 m = (__mmask16)((1u << (d - i)) - 1u);
            s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
            i = d;
        }
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
#elif defined(__AVX2__) && defined(__FMA__)
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    for (; i + 16 <= d; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    s0 = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    float r = _mm_cvtss_f32(h);
    for (; i < d; i++) r += a[i] * b[i];
    return r;
#else
    float r = 0.0f;
    for (; i < d; i++) r += a[i] * b[i];
    return r;
#endif
}

static inline float mmf_l2sq_f32(const float *a, const float *b, int d) {
    int i = 0;
#if defined(__AVX512F__)
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    for (; i + 32 <= d; i += 32) {
        __m512 x0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        __m512 x1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
        s0 = _mm512_fmadd_ps(x0, x0, s0);
        s1 = _mm512_fmadd_ps(x1, x1, s1);
    }
    for (; i + 16 <= d; i += 16) {
        __m512 x0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        s0 = _mm512_fmadd_ps(x0, x0, s0);
    }
    if (i < d) {
        __mmask16 m = (__mmask16)((1u << (d - i)) - 1u);
        __m512 x0 = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
        s1 = _mm512_fmadd_ps(x0, x0, s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
#elif defined(__AVX2__) && defined(__FMA__)
    __m256 s0 = _mm256_setzero_ps();
    for (; i + 8 <= d; i += 8) {
        __m256 x = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        s0 = _mm256_fmadd_ps(x, x, s0);
    }
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    float r = _mm_cvtss_f32(h);
    for (; i < d; i++) { float x = a[i] - b[i]; r += x * x; }
    return r;
#else
    float r = 0.0f;
    for (; i < d; i++) { float x = a[i] - b[i]; r += x * x; }
    return r;
#endif
}

/* Sum of a[i]*b[i] over int8 codes, exact in int32 for d < 2^17. */
static inline int32_t mmf_dot_i8(const int8_t *a, const int8_t *b, int d) {
    int i = 0;
    int32_t r = 0;
#if defined(__AVX512BW__)
    __m512i acc = _mm512_setzero_si512();
    for (; i + 32 <= d; i += 32) {
        __m512i x = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(a + i)));
        __m512i y = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(b + i)));
#if defined(__AVX512VNNI__)
        acc = _mm512_dpwssd_epi32(acc, x, y);
#else
        acc = _mm512_add_epi32(acc, _mm512_madd_epi16(x, y));
#endif
    }
    r = _mm512_reduce_add_epi32(acc);
#elif defined(__AVX2__)
    __m256i acc = _mm256_setzero_si256();
    for (; i + 16 <= d; i += 16) {
        __m256i x = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(a + i)));
        __m256i y = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + i)));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, y));
    }
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
    r = _mm_cvtsi128_si32(h);
#endif
    for (; i < d; i++) r += (int32_t)a[i] * (int32_t)b[i];
    return r;
}

/* Symmetric per-vector int8 code: q = round(x / s), s = max|x| / 127. Returns s. */
static inline float mmf_quantize_i8(const float *x, int8_t *q, int d) {
    float m = 0.0f;
    for (int i = 0; i < d; i++) { float a = fabsf(x[i]); if (a > m) m = a; }
    if (m == 0.0f) { for (int i = 0; i < d; i++) q[i] = 0; return 0.0f; }
    float s = m / 127.0f, inv = 127.0f / m;
    for (int i = 0; i < d; i++) {
        long v = lrintf(x[i] * inv);
        q[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
    return s;
}
#endif
