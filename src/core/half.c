/* IEEE half and bfloat16 <-> float32, bit-exact with PyTorch's conversions
 * (round to nearest even on the way down). */
#include "core/tensor.h"
#include "core/error.h"
#include <string.h>

static inline float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

float mmf_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0) {
        if (man == 0) return bits_f32(sign);
        /* subnormal half: value = man * 2^-24 */
        float v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    if (exp == 31) return bits_f32(sign | 0x7f800000u | (man << 13));
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

float mmf_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t mmf_f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

uint16_t mmf_f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00;               /* NaN */
    if (a >= 0x477ff000u) return sign | 0x7c00;              /* overflow -> inf */
    if (a < 0x38800000u) {                                   /* subnormal or zero */
        float v = bits_f32(a) * 16777216.0f;                 /* scale by 2^24 */
        uint32_t m = (uint32_t)v;
        float rem = v - (float)m;
        if (rem > 0.5f || (rem == 0.5f && (m & 1))) m++;
        return sign | (uint16_t)m;
    }
    uint32_t mant_odd = (a >> 13) & 1;
    a += 0xfffu + mant_odd;
    a -= 112u << 23;
    return sign | (uint16_t)(a >> 13);
}

mmf_status mmf_convert_to_f32(mmf_dtype dt, const void *src, float *dst, size_t n) {
    const unsigned char *p = src;
    switch (dt) {
    case MMF_DT_F32: memcpy(dst, src, n * 4); return MMF_OK;
    case MMF_DT_F16:
        for (size_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, p + 2 * i, 2); dst[i] = mmf_f16_to_f32(h); }
        return MMF_OK;
    case MMF_DT_BF16:
        for (size_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, p + 2 * i, 2); dst[i] = mmf_bf16_to_f32(h); }
        return MMF_OK;
    case MMF_DT_F64:
        for (size_t i = 0; i < n; i++) { double d; memcpy(&d, p + 8 * i, 8); dst[i] = (float)d; }
        return MMF_OK;
    default:
        return mmf_fail(MMF_ERR_UNSUPPORTED, "cannot convert dtype %s to F32", mmf_dtype_name(dt));
    }
}
