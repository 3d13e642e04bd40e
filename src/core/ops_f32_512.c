/* AVX-512 versions of the fp32 loops that dominate encoder time after the
 * GEMMs: the attention softmax and the GELU family. GCC vectorises the
 * portable loops (vmath.h) too, but with masked epilogues, scalar in-order
 * reductions and true divisions; these take 16 lanes at a time with the
 * vmath512.h math (same polynomials; reciprocals by estimate + Newton step).
 * Chosen at run time by mmf_cpu_avx512(); results agree with the portable
 * loops to a few ulp (tests/test_kernels.c checks both against float64). */
#include "core/ops_f32_512.h"
#include "core/vmath512.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* MMFUSE_NO_AVX512=1 runs the portable loops, as on a CPU without AVX-512:
 * the test suite runs the kernel tests both ways (the bf16 kernels need
 * AVX-512 BF16 and ignore it). */
int mmf_cpu_avx512(void) {
    static int known = -1;   /* a benign race: every thread computes the same value */
    if (known < 0) {
        const char *off = getenv("MMFUSE_NO_AVX512");
        known = !(off && *off && strcmp(off, "0") != 0) && __builtin_cpu_supports("avx512f") &&
                __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    }
    return known;
}

static __mmask16 tail16(int n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u); }

MMF_TGT512F void mmf_softmax_row_512(float *row, int cols, int visible, const uint8_t *keep) {
    if (visible > cols) visible = cols;
    if (visible < 0) visible = 0;
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int j = 0; j < visible; j += 16) {
        __mmask16 m = tail16(visible - j);
        if (keep) {
            __m128i kb = _mm_maskz_loadu_epi8(m, keep + j);
            m &= _mm_test_epi8_mask(kb, kb);
        }
        mx = _mm512_mask_max_ps(mx, m, mx, _mm512_maskz_loadu_ps(m, row + j));
    }
    const float top = _mm512_reduce_max_ps(mx);
    if (top == -INFINITY) {   /* nothing visible (or only -inf scores) */
        memset(row, 0, (size_t)cols * sizeof *row);
        return;
    }
    const __m512 vt = _mm512_set1_ps(top);
    __m512 sum = _mm512_setzero_ps();
    for (int j = 0; j < visible; j += 16) {
        __mmask16 m = tail16(visible - j), vis = m;
        if (keep) {
            __m128i kb = _mm_maskz_loadu_epi8(m, keep + j);
            vis &= _mm_test_epi8_mask(kb, kb);
        }
        /* -inf scores (and hidden keys) give exactly 0, as the portable loop */
        __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(vis, row + j), vt);
        vis &= _mm512_cmp_ps_mask(d, _mm512_set1_ps(-104.0f), _CMP_GT_OQ);
        __m512 e = _mm512_maskz_mov_ps(vis, mmf_v512_exp(d));
        sum = _mm512_add_ps(sum, e);
        _mm512_mask_storeu_ps(row + j, m, e);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int j = 0; j < visible; j += 16) {
        __mmask16 m = tail16(visible - j);
        _mm512_mask_storeu_ps(row + j, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, row + j), inv));
    }
    for (int j = visible; j < cols; j++) row[j] = 0.0f;
}

MMF_TGT512F void mmf_act_512(int act, float *x, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail16(n - i > 16 ? 16 : (int)(n - i));
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        _mm512_mask_storeu_ps(x + i, m, mmf_v512_act(act, v));
    }
}
