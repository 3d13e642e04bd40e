/* In-register transpose of a 16 x 16 block of 32-bit lanes (AVX-512F):
 * r[i] lane j becomes r[j] lane i. Used by the bf16 GEMM epilogue that stores
 * its tile transposed, the one-pass bf16 packing and mmf_bf16_transpose
 * (core/gemm_bf16.c): training moves small activation matrices between [rows,
 * cols] and [cols, rows] every step, and element loops with one strided side
 * cost ~2.5 cycles per value. Include only from code compiled for, or
 * dispatched to, AVX-512F. */
#ifndef MMF_CORE_TRANSPOSE16_H
#define MMF_CORE_TRANSPOSE16_H
#include <immintrin.h>

__attribute__((target("avx512f"), always_inline)) static inline void mmf_transpose16_regs(__m512 r[16]) {
    __m512 t[16];
    /* interleave 32-bit lanes of row pairs, then 64-bit pairs, then 128-bit lanes twice */
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    }
    /* r[4q + j] holds, in each 128-bit lane L, column 4L + j of rows 4q..4q+3 */
    for (int j = 0; j < 4; j++) {
        t[j] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88);        /* lanes 0,2 of each */
        t[4 + j] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xDD);    /* lanes 1,3 */
        t[8 + j] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88);
        t[12 + j] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xDD);
    }
    for (int j = 0; j < 4; j++) {
        /* columns j (lane 0), 4 + j (lane 1), 8 + j, 12 + j */
        r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xDD);
        r[4 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0x88);
        r[12 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0xDD);
    }
}
#endif
