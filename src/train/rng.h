/* Deterministic RNG (xoshiro256**, seeded through splitmix64): same seed, same
 * stream on every machine. Used for initialisation, dropout, shuffling. */
#ifndef MMF_TRAIN_RNG_H
#define MMF_TRAIN_RNG_H
#include <stdint.h>

typedef struct mmf_rng { uint64_t s[4]; } mmf_rng;

void mmf_rng_seed(mmf_rng *r, uint64_t seed);
/* splitmix64's output for state x (the seeding's mixer): a stateless hash of
 * x, for values that must depend only on their inputs (HNSW levels). */
uint64_t mmf_splitmix64(uint64_t x);
uint64_t mmf_rng_u64(mmf_rng *r);
/* n draws of mmf_rng_u64 in a row (the same stream), the state in registers */
void mmf_rng_fill(mmf_rng *r, uint64_t *out, int64_t n);
float mmf_rng_uniform(mmf_rng *r);          /* [0, 1) */
float mmf_rng_normal(mmf_rng *r);           /* N(0, 1), Box-Muller */
uint32_t mmf_rng_below(mmf_rng *r, uint32_t n); /* [0, n), unbiased */
void mmf_rng_shuffle(mmf_rng *r, int64_t *idx, int64_t n);
#endif
