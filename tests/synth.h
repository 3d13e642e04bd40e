/* Synthetic two-modality data for the fusion tests (each test makes its own):
 *  kind XOR:  label = [text_0 > 0] xor [image_0 > 0]; needs both modalities.
 *  kind SUM:  label = [text_0 + image_0 > 0]; either modality alone helps; the image
 *             features sit around +3 so an all-zero image is out of distribution.
 * Other features are noise. present_p: probability each modality is present
 * (one always kept); drop_all = index of a modality absent in every row, or -1. */
#ifndef MMF_TEST_SYNTH_H
#define MMF_TEST_SYNTH_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif
#include <ftw.h>
#include <unistd.h>
#include "test_util.h"
#include "train/rng.h"

static int synth_rm1(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}
/* remove the test's temp folder (tests leave nothing behind in $TMPDIR) */
__attribute__((unused)) static void synth_cleanup(const char *dir) { nftw(dir, synth_rm1, 16, FTW_DEPTH | FTW_PHYS); }

enum { SYN_XOR, SYN_SUM };

static mmf_status synth_write(const char *path, int kind, int64_t N, int D, uint64_t seed, float present_p, int drop_all) {
    mmf_rng r;
    mmf_rng_seed(&r, seed);
    float *t = malloc(sizeof(float) * (size_t)(N * D)), *im = malloc(sizeof(float) * (size_t)(N * D));
    uint8_t *mask = malloc((size_t)N * 2);
    int64_t *y = malloc(sizeof(int64_t) * (size_t)N);
    for (int64_t i = 0; i < N; i++) {
        for (int d = 0; d < D; d++) { t[i * D + d] = mmf_rng_normal(&r); im[i * D + d] = mmf_rng_normal(&r); }
        float a = t[i * D], b = im[i * D];
        if (kind == SYN_XOR) y[i] = (a > 0) ^ (b > 0);
        else {
            y[i] = a + b > 0;
            for (int d = 0; d < D; d++) im[i * D + d] += 3.0f;
        }
        mask[i * 2] = mmf_rng_uniform(&r) < present_p;
        mask[i * 2 + 1] = mmf_rng_uniform(&r) < present_p;
        if (!mask[i * 2] && !mask[i * 2 + 1]) mask[i * 2 + (mmf_rng_u64(&r) & 1)] = 1;
        if (drop_all >= 0) { mask[i * 2 + drop_all] = 0; mask[i * 2 + 1 - drop_all] = 1; }
    }
    const char *names[2] = {"text", "image"};
    int64_t dims[2] = {D, D};
    const float *data[2] = {t, im};
    mmf_embfile_spec sp = {.n_rows = N, .n_modalities = 2, .names = names, .dims = dims, .data = data,
                           .mask = mask, .labels = y, .n_classes = 2};
    mmf_status s = mmf_embfile_write(path, &sp);
    free(t); free(im); free(mask); free(y);
    return s;
}

__attribute__((unused)) static mmf_embfile *synth_open(const char *dir, const char *name, int kind, int64_t N, int D, uint64_t seed,
                               float present_p, int drop_all) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
    mmf_embfile *f = NULL;
    if (synth_write(path, kind, N, D, seed, present_p, drop_all) || mmf_embfile_open(path, &f)) {
        fprintf(stderr, "synth: %s\n", mmf_last_error());
        exit(1);
    }
    return f;
}
/* The training settings the synthetic-task tests share: a small head (H = 32)
 * trained 30 epochs at batch 32, lr 3e-3, patience 8, no dropout, seed 5. */
__attribute__((unused)) static mmf_train_params synth_train_params(const char *fusion) {
    mmf_train_params p = mmf_train_params_default();
    p.fusion = fusion;
    p.hidden = 32;
    p.epochs = 30;
    p.batch = 32;
    p.lr = 3e-3f;
    p.patience = 8;
    p.dropout = 0.0f;
    p.seed = 5;
    return p;
}
#endif
