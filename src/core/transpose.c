#include "core/transpose.h"
#include "core/transpose16.h"
#include <immintrin.h>
#include <string.h>

static int have_avx512(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    return cached;
#else
    return 0;
#endif
}

#define TGT __attribute__((target("avx512f")))

/* one full 16 x 16 block of 32-bit lanes: rows -> columns (+ add[] of the 16 source rows) */
TGT static inline void block16(uint32_t *dst, int64_t ldd, const uint32_t *src, int64_t lds, const float *add) {
    __m512 r[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps((const float *)(src + i * lds));
    mmf_transpose16_regs(r);
    __m512 a = add ? _mm512_loadu_ps(add) : _mm512_setzero_ps();
    for (int c = 0; c < 16; c++) _mm512_storeu_ps((float *)(dst + c * ldd), add ? _mm512_add_ps(r[c], a) : r[c]);
}

TGT static void transpose_avx512(uint32_t *dst, int64_t ldd, const uint32_t *src, int64_t lds, int64_t rows, int64_t cols,
                                 const float *add) {
    int64_t R16 = rows & ~(int64_t)15, C16 = cols & ~(int64_t)15;
    for (int64_t c0 = 0; c0 < C16; c0 += 16)
        for (int64_t r0 = 0; r0 < R16; r0 += 16)
            block16(dst + c0 * ldd + r0, ldd, src + r0 * lds + c0, lds, add ? add + r0 : NULL);
    /* edges: the columns past C16 for all rows, the rows past R16 for the first C16 columns */
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = r < R16 ? C16 : 0; c < cols; c++) {
            if (add) {
                float v;
                memcpy(&v, src + r * lds + c, 4);
                v += add[r];
                memcpy(dst + c * ldd + r, &v, 4);
            } else {
                dst[c * ldd + r] = src[r * lds + c];
            }
        }
}

static void transpose_plain(uint32_t *dst, int64_t ldd, const uint32_t *src, int64_t lds, int64_t rows, int64_t cols,
                            const float *add) {
    /* blocks of 16 keep both sides' lines in cache */
    for (int64_t r0 = 0; r0 < rows; r0 += 16)
        for (int64_t c0 = 0; c0 < cols; c0 += 16)
            for (int64_t r = r0; r < rows && r < r0 + 16; r++)
                for (int64_t c = c0; c < cols && c < c0 + 16; c++) {
                    if (add) {
                        float v;
                        memcpy(&v, src + r * lds + c, 4);
                        v += add[r];
                        memcpy(dst + c * ldd + r, &v, 4);
                    } else {
                        dst[c * ldd + r] = src[r * lds + c];
                    }
                }
}

void mmf_transpose_u32(uint32_t *dst, int64_t ldd, const uint32_t *src, int64_t lds, int64_t rows, int64_t cols) {
    if (have_avx512()) transpose_avx512(dst, ldd, src, lds, rows, cols, NULL);
    else transpose_plain(dst, ldd, src, lds, rows, cols, NULL);
}

void mmf_transpose_f32(float *dst, int64_t ldd, const float *src, int64_t lds, int64_t rows, int64_t cols, const float *add) {
    if (have_avx512()) transpose_avx512((uint32_t *)dst, ldd, (const uint32_t *)src, lds, rows, cols, add);
    else transpose_plain((uint32_t *)dst, ldd, (const uint32_t *)src, lds, rows, cols, add);
}
