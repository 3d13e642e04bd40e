/* The F16/BF16 conversions and the arena. */
#include "test_util.h"
#include "core/tensor.h"
#include "core/arena.h"
#include <stdint.h>

static void test_half(void) {
    /* every finite half survives half -> float -> half exactly */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        uint16_t x = (uint16_t)h;
        if ((x & 0x7c00) == 0x7c00 && (x & 0x3ff)) continue;   /* NaN */
        if (mmf_f32_to_f16(mmf_f16_to_f32(x)) != x) bad++;
    }
    CHECK_MSG(bad == 0, "%d halves did not round-trip", bad);
    CHECK(mmf_f16_to_f32(0x3c00) == 1.0f);
    CHECK(mmf_f16_to_f32(0xc000) == -2.0f);
    CHECK(mmf_f16_to_f32(0x0001) == 5.9604644775390625e-8f);
    CHECK(mmf_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(isinf(mmf_f16_to_f32(0x7c00)));
    CHECK(mmf_f32_to_f16(65520.0f) == 0x7c00);            /* rounds to inf */
    CHECK(mmf_f32_to_f16(1.0f + 1.0f / 4096) == 0x3c00);  /* tie -> even */
    CHECK(mmf_f32_to_f16(1.0f + 3.0f / 2048) == 0x3c02);  /* tie -> even (up) */
    CHECK(mmf_bf16_to_f32(0x3f80) == 1.0f);
    CHECK(mmf_f32_to_bf16(1.0f) == 0x3f80);
    CHECK(mmf_f32_to_bf16(1.00390625f) == 0x3f80);        /* tie -> even */
    CHECK(mmf_f32_to_bf16(1.01171875f) == 0x3f82);
    for (uint32_t h = 0; h < 65536; h += 7) {
        uint16_t x = (uint16_t)h;
        if ((x & 0x7f80) == 0x7f80 && (x & 0x7f)) continue;
        CHECK(mmf_f32_to_bf16(mmf_bf16_to_f32(x)) == x);
    }
}

static void test_arena(void) {
    mmf_arena a;
    CHECK_OK(mmf_arena_init(&a, 1000));
    float *p = mmf_arena_floats(&a, 10);
    CHECK(p && ((uintptr_t)p % 64) == 0);
    size_t m = mmf_arena_mark(&a);
    CHECK(mmf_arena_floats(&a, 100) != NULL);
    CHECK(mmf_arena_floats(&a, 1000) == NULL);
    CHECK(strstr(mmf_last_error(), "arena exhausted") != NULL);
    mmf_arena_rewind(&a, m);
    CHECK(mmf_arena_floats(&a, 100) != NULL);
    CHECK(mmf_arena_alloc(&a, SIZE_MAX) == NULL);
    mmf_arena_free(&a);
}

int main(void) {
    test_half();
    test_arena();
    return t_done("test_tensor");
}
