#include "train/rng.h"
#include <math.h>
#include <string.h>

#define SPLITMIX_GAMMA 0x9E3779B97F4A7C15ull

uint64_t mmf_splitmix64(uint64_t x) {
    uint64_t z = x + SPLITMIX_GAMMA;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* mmf_hash64 (mmfuse.h): four independent lanes of 8-byte words (several
 * GB/s), then the tail byte by byte, finished by splitmix64's mixer */
uint64_t mmf_hash64(const void *p, size_t n, uint64_t seed) {
    const unsigned char *b = p;
    const uint64_t P1 = 0x9E3779B185EBCA87ull, P2 = 0xC2B2AE3D27D4EB4Full;
    uint64_t h[4] = {seed + P1 + P2, seed + P2, seed, seed - P1};
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++) {
            uint64_t w;
            memcpy(&w, b + i + 8 * (size_t)k, 8);
            h[k] = rotl64(h[k] + w * P2, 31) * P1;
        }
    uint64_t acc = (uint64_t)n * P1 ^ seed;
    for (int k = 0; k < 4; k++) acc = rotl64(acc ^ (rotl64(h[k] * P2, 31) * P1), 27) * P1 + P2;
    for (; i < n; i++) acc = (acc ^ b[i]) * 0x100000001b3ull;
    return mmf_splitmix64(acc);
}

void mmf_rng_seed(mmf_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++, seed += SPLITMIX_GAMMA) r->s[i] = mmf_splitmix64(seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t mmf_rng_u64(mmf_rng *r) {
    uint64_t *s = r->s;
    uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = rotl(s[3], 45);
    return res;
}

void mmf_rng_fill(mmf_rng *r, uint64_t *out, int64_t n) {
    uint64_t s0 = r->s[0], s1 = r->s[1], s2 = r->s[2], s3 = r->s[3];
    for (int64_t i = 0; i < n; i++) {
        uint64_t t = s1 << 17;
        out[i] = rotl(s1 * 5, 7) * 9;
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3;
        s2 ^= t; s3 = rotl(s3, 45);
    }
    r->s[0] = s0; r->s[1] = s1; r->s[2] = s2; r->s[3] = s3;
}

float mmf_rng_uniform(mmf_rng *r) { return (float)(mmf_rng_u64(r) >> 40) * (1.0f / 16777216.0f); }

float mmf_rng_normal(mmf_rng *r) {
    double u1 = ((mmf_rng_u64(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    double u2 = (mmf_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

uint32_t mmf_rng_below(mmf_rng *r, uint32_t n) {
    if (n <= 1) return 0;
    uint64_t lim = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = mmf_rng_u64(r); while (x >= lim);
    return (uint32_t)(x % n);
}

void mmf_rng_shuffle(mmf_rng *r, int64_t *idx, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(mmf_rng_u64(r) % (uint64_t)(i + 1));
        int64_t t = idx[i]; idx[i] = idx[j]; idx[j] = t;
    }
}
