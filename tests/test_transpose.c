/* core/transpose: every shape class (full 16 x 16 blocks, ragged edges on
 * either side, fewer than 16 rows or columns, row strides wider than the
 * rows) against the element-by-element definition, with and without the
 * per-source-row add; raw 32-bit words must come through bit for bit. */
#include "test_util.h"
#include "core/transpose.h"
#include <stdint.h>

static void check(int64_t rows, int64_t cols, int64_t lds_extra, int64_t ldd_extra, int with_add) {
    int64_t lds = cols + lds_extra, ldd = rows + ldd_extra;
    float *src = malloc(sizeof(float) * (size_t)(rows * lds + 1)), *dst = malloc(sizeof(float) * (size_t)(cols * ldd + 1));
    float *add = malloc(sizeof(float) * (size_t)(rows + 1));
    for (int64_t i = 0; i < rows * lds; i++) src[i] = (float)(i * 7 % 1009) - 500.25f;
    for (int64_t r = 0; r < rows; r++) add[r] = 0.5f * (float)r - 3.0f;
    for (int64_t i = 0; i < cols * ldd; i++) dst[i] = -12345.0f;   /* the padding past `rows` must stay */
    mmf_transpose_f32(dst, ldd, src, lds, rows, cols, with_add ? add : NULL);
    int bad = 0;
    for (int64_t c = 0; c < cols && !bad; c++) {
        for (int64_t r = 0; r < rows && !bad; r++) {
            float want = src[r * lds + c] + (with_add ? add[r] : 0.0f);
            if (dst[c * ldd + r] != want) {
                fprintf(stderr, "transpose %lldx%lld (add %d): dst[%lld][%lld] = %g, want %g\n", (long long)rows, (long long)cols,
                        with_add, (long long)c, (long long)r, dst[c * ldd + r], want);
                bad = 1;
            }
        }
        for (int64_t r = rows; r < ldd && !bad; r++)
            if (dst[c * ldd + r] != -12345.0f) { fprintf(stderr, "transpose %lldx%lld wrote past the rows\n", (long long)rows, (long long)cols); bad = 1; }
    }
    CHECK(!bad);
    free(src); free(dst); free(add);
}

int main(void) {
    int64_t sizes[] = {1, 3, 15, 16, 17, 31, 32, 64, 100};
    for (int i = 0; i < 9; i++)
        for (int j = 0; j < 9; j++) {
            check(sizes[i], sizes[j], 0, 0, 0);
            check(sizes[i], sizes[j], 5, 3, 1);
        }
    /* bit patterns (NaN payloads, bf16 pairs) survive the word transpose */
    uint32_t s[40 * 33], d[33 * 40];
    for (int i = 0; i < 40 * 33; i++) s[i] = 0x7FC00001u + (uint32_t)i * 2654435761u;
    mmf_transpose_u32(d, 40, s, 33, 40, 33);
    int ok = 1;
    for (int r = 0; r < 40; r++)
        for (int c = 0; c < 33; c++) ok &= d[c * 40 + r] == s[r * 33 + c];
    CHECK(ok);
    return t_done("test_transpose");
}
