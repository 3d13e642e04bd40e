#include "tasks/rows_gather.h"
#include <string.h>

/* Hides modalities of one row's mask at random, keeping at least one. */
static void drop_some(uint8_t *mk, int M, const float *mod_drop, mmf_rng *rng) {
    uint8_t orig[FZ_MAXM];
    memcpy(orig, mk, (size_t)M);
    int left = 0;
    for (int m = 0; m < M; m++) {
        if (mk[m] && mod_drop[m] > 0.0f && mmf_rng_uniform(rng) < mod_drop[m]) mk[m] = 0;
        left += mk[m];
    }
    if (!left) {
        int cand[FZ_MAXM], nc = 0;
        for (int m = 0; m < M; m++) if (orig[m]) cand[nc++] = m;
        mk[cand[mmf_rng_below(rng, (uint32_t)nc)]] = 1;
    }
}

void mmf_rows_gather(const mmf_embfile *f, const int *col, int M, const int64_t *dims, const int64_t *rows, int64_t B,
                     int drop_m, const float *mod_drop, mmf_rng *rng, float **x, uint8_t *mask) {
    int FM = mmf_embfile_n_modalities(f);
    const uint8_t *fm = mmf_embfile_mask(f);
    for (int64_t b = 0; b < B; b++) {
        int64_t r = rows[b];
        uint8_t *mk = mask + b * M;
        int present = 0;
        for (int m = 0; m < M; m++) { mk[m] = (col[m] >= 0 && m != drop_m) ? fm[r * FM + col[m]] : 0; present += mk[m]; }
        if (rng && mod_drop && present > 1) drop_some(mk, M, mod_drop, rng);
        for (int m = 0; m < M; m++) {
            int64_t D = dims[m];
            float *dst = x[m] + b * D;
            if (!mk[m]) memset(dst, 0, (size_t)D * sizeof(float));
            else memcpy(dst, mmf_embfile_data(f, col[m]) + r * D, (size_t)D * sizeof(float));
        }
    }
}
