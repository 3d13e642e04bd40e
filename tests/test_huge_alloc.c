/* Huge-page blocks (core/huge_alloc.c) and the arena that uses them for big
 * activation buffers (core/arena.c): 2 MiB aligned, every byte writable and
 * kept, freed with free(); an absurd size is NULL, not a wrapped small block;
 * small arenas keep plain 64-byte alignment and big ones hold their carve. */
#include "test_util.h"
#include "core/arena.h"
#include "core/huge_alloc.h"
#include <stdint.h>

int main(void) {
    const size_t huge = (size_t)2 << 20;
    size_t sizes[] = {0, 1, 4096, huge - 1, huge, huge + 1, 5 * huge + 12345};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        unsigned char *p = mmf_alloc_huge(sizes[i]);
        CHECK_MSG(p != NULL, "%zu bytes", sizes[i]);
        if (!p) continue;
        CHECK_MSG((uintptr_t)p % huge == 0, "%zu bytes at %p: not 2 MiB aligned", sizes[i], (void *)p);
        for (size_t k = 0; k < sizes[i]; k++) p[k] = (unsigned char)(k * 131u + i);
        size_t bad = 0;
        for (size_t k = 0; k < sizes[i]; k++) bad += p[k] != (unsigned char)(k * 131u + i);
        CHECK_MSG(bad == 0, "%zu bytes: %zu changed", sizes[i], bad);
        free(p);
    }
    CHECK(mmf_alloc_huge(SIZE_MAX - 100) == NULL);

    mmf_arena a;
    float *x, *y;
    size_t small[2] = {100, 200}, big[2] = {(size_t)3 << 20, (size_t)1 << 20};   /* floats: 16 MiB in all */
    float **dst[2] = {&x, &y};
    CHECK_OK(mmf_arena_carve(&a, 2, small, dst, "test"));
    CHECK((uintptr_t)x % MMF_ALIGN == 0 && (uintptr_t)y % MMF_ALIGN == 0 && y >= x + 100);
    CHECK_OK(mmf_arena_carve(&a, 2, big, dst, "test"));
    CHECK((uintptr_t)a.base % huge == 0 && y >= x + big[0] && a.cap >= (big[0] + big[1]) * sizeof(float));
    for (size_t k = 0; k < big[0]; k++) x[k] = (float)k;
    for (size_t k = 0; k < big[1]; k++) y[k] = -(float)k;
    CHECK(x[big[0] - 1] == (float)(big[0] - 1) && y[big[1] - 1] == -(float)(big[1] - 1) && x[0] == 0.0f);
    mmf_arena_free(&a);
    return t_done("test_huge_alloc");
}
