/* bf16 layer norm and attention for the opt-in bf16 transformer path
 * (see ops_bf16.h). */
#include "core/ops_bf16.h"
#include "core/gemm_bf16.h"
#include "core/layernorm_stats.h"
#include "core/vmath512.h"
#include <math.h>
#include <omp.h>
#include <string.h>

#define TGT MMF_TGT512

static int pad2(int k) { return (k + 1) & ~1; }
static int pad16(int n) { return (n + 15) & ~15; }
static size_t al64(size_t b) { return (b + 63) & ~(size_t)63; }
static __mmask16 lenmask(int n) { return (__mmask16)(n >= 16 ? 0xFFFF : n <= 0 ? 0 : (1u << n) - 1); }

/* The row statistics are mmf_layernorm's (core/layernorm_stats.h), so the
 * fp32 output is the fp32 path's value. One row per call: the vector code sits
 * in its own target function because clang does not carry a function's target
 * attribute into the body OpenMP outlines from it. */
TGT static void layernorm_row(float *yr, uint16_t *br, const float *xr, const float *w, const float *b, int C, float eps) {
    float m_hi, m_lo, r;
    mmf_layernorm_stats(xr, C, eps, &m_hi, &m_lo, &r);
    const __m512 rstd = _mm512_set1_ps(r);
    const __m512 mh = _mm512_set1_ps(m_hi), ml = _mm512_set1_ps(m_lo);
    for (int c = 0; c < C; c += 16) {
        __mmask16 m = lenmask(C - c);
        __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, xr + c), mh), ml), rstd);
        if (w && b) v = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, w + c), _mm512_maskz_loadu_ps(m, b + c));
        else {
            if (w) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + c));
            if (b) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, b + c));
        }
        if (yr) _mm512_mask_storeu_ps(yr + c, m, v);
        _mm256_mask_storeu_epi16(br + c, m, (__m256i)_mm512_cvtneps_pbh(v));
    }
    if (C & 1) br[C] = 0;
}

TGT void mmf_bf16_layernorm(float *y, uint16_t *yb, int64_t ldyb, const float *x, const float *w, const float *b,
                            int64_t N, int C, float eps, int nt) {
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && N * C > 32768)
    for (int64_t i = 0; i < N; i++)
        layernorm_row(y ? y + i * C : NULL, yb + i * ldyb, x + i * C, w, b, C, eps);
}

/* per-thread pieces of the attention scratch */
typedef struct att_ws {
    float *S;        /* (T, Ts) scores, then exp values */
    uint16_t *P;     /* (T, Tl) probabilities, bf16 */
    uint16_t *Kp;    /* keys of one head packed as the (T, D) weight of S = Q K^T */
    uint16_t *Vp;    /* values packed as the (D, T) weight of O = P V */
} att_ws;

static size_t ws_sizes(int T, int D, size_t sz[4]) {
    sz[0] = al64((size_t)T * pad16(T) * sizeof(float));
    sz[1] = al64((size_t)T * ((T + 31) & ~31) * sizeof(uint16_t));
    sz[2] = al64(mmf_bf16_packed_size(T, D) * sizeof(uint16_t));
    sz[3] = al64(mmf_bf16_packed_size(D, T) * sizeof(uint16_t));
    return sz[0] + sz[1] + sz[2] + sz[3];
}

size_t mmf_bf16_attention_scratch(int T, int D, int nt) {
    size_t sz[4];
    return ws_sizes(T, D, sz) * (size_t)(nt < 1 ? 1 : nt) + 64;
}

/* K rows (T of D bf16, stride ld) -> the packed (N = T, K = D) layout:
 * [T/16][D/2][16] pairs, rows past T zero */
static void pack_keys(uint16_t *dst, const uint16_t *k, int64_t ld, int T, int D) {
    const int P = D / 2, Tp = pad16(T);
    uint32_t *d = (uint32_t *)dst;
    for (int nb = 0; nb < Tp; nb += 16)
        for (int p = 0; p < P; p++)
            for (int j = 0; j < 16; j++) {
                int r = nb + j;
                uint32_t v = 0;
                if (r < T) memcpy(&v, k + r * ld + 2 * p, 4);
                *d++ = v;
            }
}

/* V rows (T of D bf16, stride ld) -> the packed (N = D, K = T) layout:
 * [D/16][T/2][16][2]: pair p of column j holds V[2p][j], V[2p+1][j] */
TGT static void pack_values(uint16_t *dst, const uint16_t *v, int64_t ld, int T, int D) {
    const int P = pad2(T) / 2;
    static const uint16_t idx_init[32] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
                                          8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    const __m512i idx = _mm512_loadu_si512((const void *)idx_init);
    for (int nb = 0; nb < D; nb += 16) {
        __mmask16 m = lenmask(D - nb);
        uint16_t *d = dst + (size_t)(nb / 16) * P * 32;
        for (int p = 0; p < P; p++) {
            int r0 = 2 * p, r1 = 2 * p + 1;
            __m256i a = _mm256_maskz_loadu_epi16(m, v + r0 * ld + nb);
            __m256i b = r1 < T ? _mm256_maskz_loadu_epi16(m, v + r1 * ld + nb) : _mm256_setzero_si256();
            __m512i ab = _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
            _mm512_storeu_si512((void *)(d + (size_t)p * 32), _mm512_permutexvar_epi16(idx, ab));
        }
    }
}

/* the keys of columns j..j+15 that are visible and kept */
TGT static inline __mmask16 visible_keys(int j, int visible, const uint8_t *keep) {
    __mmask16 m = lenmask(visible - j);
    if (keep && m) {
        __m128i kb = _mm_maskz_loadu_epi8(m, keep + j);
        m &= _mm_test_epi8_mask(kb, kb);
    }
    return m;
}

/* Softmax of one score row over the visible, kept keys (scale applied
 * here), written as bf16 probabilities; everything else (and the pad up to
 * the pair) 0. A row with nothing visible is all zeros, as mmf_attention.
 * (The masks are recomputed in the second pass rather than kept in a
 * T-long array on the stack: clang's realignment of such a VLA frame
 * misaligned the 64-byte spill of the __m512 argument to mmf_v512_exp
 * when it was not inlined (the fuzz build), a #GP on the first bf16 row.) */
TGT static void softmax_row_bf16(uint16_t *out, float *s, int T, int visible, const uint8_t *keep, float scale) {
    if (visible > T) visible = T;
    __m512 mx = _mm512_set1_ps(-INFINITY);
    int any = 0;
    for (int j = 0; j < T; j += 16) {
        __mmask16 m = visible_keys(j, visible, keep);
        any |= m;
        mx = _mm512_mask_max_ps(mx, m, mx, _mm512_maskz_loadu_ps(m, s + j));
    }
    const int Tp = pad2(T);
    if (!any) {
        memset(out, 0, (size_t)Tp * sizeof *out);
        return;
    }
    const __m512 ms = _mm512_set1_ps(_mm512_reduce_max_ps(mx) * scale), sc = _mm512_set1_ps(scale);
    __m512 sum = _mm512_setzero_ps();
    for (int j = 0; j < T; j += 16) {
        const __mmask16 m = visible_keys(j, visible, keep);
        __m512 e = _mm512_maskz_mov_ps(m, mmf_v512_exp(_mm512_fmsub_ps(_mm512_maskz_loadu_ps(m, s + j), sc, ms)));
        sum = _mm512_add_ps(sum, e);
        _mm512_storeu_ps(s + j, e);   /* s has pad16(T) columns */
    }
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int j = 0; j < T; j += 16)
        _mm256_mask_storeu_epi16(out + j, lenmask(T - j), (__m256i)_mm512_cvtneps_pbh(_mm512_mul_ps(_mm512_loadu_ps(s + j), inv)));
    if (T & 1) out[T] = 0;
}

TGT void mmf_bf16_attention(uint16_t *out, int64_t ldo, const uint16_t *qkv, int64_t ldq, int B, int H, int T, int D,
                            const uint8_t *key_keep, int causal, float scale, void *scratch, int nt) {
    if (nt < 1) nt = 1;
    size_t sz[4];
    const size_t per = ws_sizes(T, D, sz);
    unsigned char *base = (unsigned char *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    const int pairs = B * H, C = H * D, Ts = pad16(T), Tl = (T + 31) & ~31;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && pairs > 1)
    for (int pi = 0; pi < pairs; pi++) {
        const int b = pi / H, h = pi % H;
        unsigned char *wsb = base + per * (size_t)omp_get_thread_num();
        att_ws ws = {(float *)wsb, (uint16_t *)(wsb + sz[0]), (uint16_t *)(wsb + sz[0] + sz[1]),
                     (uint16_t *)(wsb + sz[0] + sz[1] + sz[2])};
        const uint16_t *q = qkv + (int64_t)b * T * ldq + h * D;
        pack_keys(ws.Kp, q + C, ldq, T, D);
        pack_values(ws.Vp, q + 2 * C, ldq, T, D);
        mmf_gemm_epi es = {.y = ws.S, .ldy = Ts};
        mmf_bf16_gemm_1t(q, ldq, ws.Kp, T, D, T, &es);
        const uint8_t *keep = key_keep ? key_keep + (int64_t)b * T : NULL;
        for (int t = 0; t < T; t++)
            softmax_row_bf16(ws.P + (int64_t)t * Tl, ws.S + (int64_t)t * Ts, T, causal ? t + 1 : T, keep, scale);
        mmf_gemm_epi eo = {.yb = out + (int64_t)b * T * ldo + h * D, .ldyb = ldo};
        mmf_bf16_gemm_1t(ws.P, Tl, ws.Vp, T, T, D, &eo);
    }
}
