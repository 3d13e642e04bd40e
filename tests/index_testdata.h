/* Deterministic clustered vectors for index and clustering tests. */
#ifndef MMF_TEST_INDEX_DATA_H
#define MMF_TEST_INDEX_DATA_H
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static uint64_t td_state = 1;
static inline uint64_t td_next(void) {
    td_state += 0x9e3779b97f4a7c15ULL;
    uint64_t x = td_state;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}
static inline double td_unif(void) { return ((double)(td_next() >> 11) + 0.5) * 0x1.0p-53; }
static inline float td_gauss(void) {
    return (float)(sqrt(-2.0 * log(td_unif())) * cos(6.283185307179586 * td_unif()));
}
/* n points around nc Gaussian centres (unit-variance centres, `spread` noise);
 * label[i] = centre of point i (label may be NULL). Returns malloc'd (n, d). */
static inline float *td_clustered(size_t n, int d, int nc, float spread, uint64_t seed, int64_t *label) {
    td_state = seed;
    float *c = malloc((size_t)nc * (size_t)d * sizeof(float));
    float *x = malloc(n * (size_t)d * sizeof(float));
    for (size_t i = 0; i < (size_t)nc * (size_t)d; i++) c[i] = td_gauss();
    for (size_t i = 0; i < n; i++) {
        int k = (int)(td_next() % (uint64_t)nc);
        if (label) label[i] = k;
        for (int j = 0; j < d; j++) x[i * (size_t)d + (size_t)j] = c[(size_t)k * (size_t)d + (size_t)j] + spread * td_gauss();
    }
    free(c);
    return x;
}
#endif
