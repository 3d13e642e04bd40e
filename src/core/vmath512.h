/* AVX-512 exp and the GELU family on 16 floats at a time, for the bf16
 * inference paths (GEMM epilogues, attention softmax), which run in functions
 * compiled for AVX-512 with a target attribute. Same formulas as vmath.h
 * (Cephes exp polynomial, Abramowitz & Stegun 7.1.26 erfc), with the
 * divisions done by a reciprocal estimate and one Newton step (~1 ulp) and
 * 2^n applied by vscalefps. Only for results that are rounded to bf16 (or
 * feed a bf16 GEMM) next: the fp32 parity path keeps vmath.h.
 * Inputs below -87 give a result near 2^-126 instead of an exact 0 (harmless
 * for these uses: it is multiplied or rounded away). */
#ifndef MMF_CORE_VMATH512_H
#define MMF_CORE_VMATH512_H
#include <immintrin.h>

#define MMF_TGT512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
/* the math below needs no BF16 instruction: it inlines into both the bf16
 * kernels and the fp32 AVX-512 loops (src/core/ops_f32_512.c) */
#define MMF_TGT512F __attribute__((target("avx512f,avx512bw,avx512vl")))

/* epilogue activations (mmf_gemm_epi.act) */
enum { MMF_EPI_NONE = 0, MMF_EPI_GELU_ERF, MMF_EPI_GELU_TANH, MMF_EPI_QUICK_GELU, MMF_EPI_TANH };

MMF_TGT512F static inline __m512 mmf_v512_exp(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.5f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-0.693359375f), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* 1 / d for d >= 1 (the GELU denominators): estimate + one Newton step */
MMF_TGT512F static inline __m512 mmf_v512_recip(__m512 d) {
    __m512 r = _mm512_rcp14_ps(d);
    return _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.0f)));
}

/* 0.5 x (1 + erf(x / sqrt 2)) through erfc, as mmf_gelu_erf */
MMF_TGT512F static inline __m512 mmf_v512_gelu_erf(__m512 v) {
    __m512 z = _mm512_mul_ps(_mm512_abs_ps(v), _mm512_set1_ps(0.70710678118654752f));
    __m512 t = mmf_v512_recip(_mm512_fmadd_ps(_mm512_set1_ps(0.3275911f), z, _mm512_set1_ps(1.0f)));
    __m512 p = _mm512_set1_ps(1.061405429f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
    __m512 q = _mm512_mul_ps(_mm512_mul_ps(p, t), mmf_v512_exp(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), z), z)));
    __m512 hq = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), v), q);   /* 0.5 v erfc(|v|/sqrt2) */
    __mmask16 pos = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GE_OQ);
    return _mm512_mask_sub_ps(hq, pos, v, hq);
}

/* v * sigmoid(k v) */
MMF_TGT512F static inline __m512 mmf_v512_xsigmoid(__m512 v, __m512 kv) {
    __m512 e = mmf_v512_exp(_mm512_sub_ps(_mm512_setzero_ps(), kv));
    return _mm512_mul_ps(v, mmf_v512_recip(_mm512_add_ps(_mm512_set1_ps(1.0f), e)));
}

MMF_TGT512F static inline __m512 mmf_v512_act(int act, __m512 v) {
    switch (act) {
    case MMF_EPI_GELU_ERF: return mmf_v512_gelu_erf(v);
    case MMF_EPI_GELU_TANH: {   /* 0.5 v (1 + tanh(u)) == v sigmoid(2u), u = sqrt(2/pi)(v + 0.044715 v^3) */
        __m512 v2 = _mm512_mul_ps(v, v);
        __m512 u = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(0.044715f), v2), v, v);
        return mmf_v512_xsigmoid(v, _mm512_mul_ps(_mm512_set1_ps(2.0f * 0.7978845608028654f), u));
    }
    case MMF_EPI_QUICK_GELU: return mmf_v512_xsigmoid(v, _mm512_mul_ps(_mm512_set1_ps(1.702f), v));
    case MMF_EPI_TANH: {   /* 2 sigmoid(2v) - 1: absolute error ~1e-7, ample before bf16 rounding */
        __m512 e = mmf_v512_exp(_mm512_mul_ps(_mm512_set1_ps(-2.0f), v));
        return _mm512_fmsub_ps(_mm512_set1_ps(2.0f), mmf_v512_recip(_mm512_add_ps(_mm512_set1_ps(1.0f), e)),
                               _mm512_set1_ps(1.0f));
    }
    default: return v;
    }
}
#endif
