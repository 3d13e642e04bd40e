/* mmf_bf16_transpose (16 x 16 register transposes, core/transpose16.h, plus
 * scalar edges): every shape class (full blocks, ragged edges on either side,
 * fewer than 16 rows or columns, odd row counts with their zero pad, source
 * strides wider than the rows) against the element-by-element definition. */
#include "test_util.h"
#include "core/gemm_bf16.h"
#include "core/tensor.h"
#include <stdint.h>

static void check(int rows, int cols, int lds_extra) {
    int64_t lds = cols + lds_extra, ldd = mmf_bf16_kpad(rows) + 2;
    float *src = malloc(sizeof(float) * (size_t)(rows * lds + 1));
    uint16_t *dst = malloc(sizeof(uint16_t) * (size_t)(cols * ldd + 1));
    for (int64_t i = 0; i < rows * lds; i++) src[i] = (float)(i * 7 % 1009) * 0.37f - 180.25f;
    for (int64_t i = 0; i < cols * ldd; i++) dst[i] = 0xBEEF;   /* past the pad must stay */
    mmf_bf16_transpose(dst, ldd, src, lds, rows, cols);
    int bad = 0;
    for (int c = 0; c < cols && !bad; c++) {
        for (int r = 0; r < rows && !bad; r++)
            if (dst[c * ldd + r] != mmf_f32_to_bf16(src[r * lds + c])) {
                fprintf(stderr, "bf16 transpose %dx%d: [%d][%d] = %04x, want %04x\n", rows, cols, c, r, dst[c * ldd + r],
                        mmf_f32_to_bf16(src[r * lds + c]));
                bad = 1;
            }
        if (rows & 1 && dst[c * ldd + rows] != 0) { fprintf(stderr, "bf16 transpose %dx%d: no zero pad\n", rows, cols); bad = 1; }
        for (int64_t r = mmf_bf16_kpad(rows); r < ldd && !bad; r++)
            if (dst[c * ldd + r] != 0xBEEF) { fprintf(stderr, "bf16 transpose %dx%d wrote past the pad\n", rows, cols); bad = 1; }
    }
    CHECK(!bad);
    free(src); free(dst);
}

int main(void) {
    if (!mmf_bf16_gemm_supported()) return t_skip("this CPU has no AVX512-BF16");
    int sizes[] = {1, 3, 15, 16, 17, 31, 32, 64, 100};
    for (int i = 0; i < 9; i++)
        for (int j = 0; j < 9; j++) {
            check(sizes[i], sizes[j], 0);
            check(sizes[i], sizes[j], 5);
        }
    return t_done("test_transpose");
}
