/* Attention maps of a cross-modal transformer head (mmf_xmodal_attention):
 * for every row, which of the 4 x 4 image patches each word token attends to in
 * the last layer (averaged over heads), written as safetensors. */
#include "fusion/head.h"
#include "fusion/xmodal.h"
#include "core/error.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mmf_status mmf_xmodal_attention(mmf_head *h, const mmf_embfile *data, const char *out_path) {
    if (strcmp(h->cfg.op, "xmodal") || h->cfg.task == MMF_TASK_ALIGN)
        return mmf_fail(MMF_ERR_ARG, "attention maps: the head is \"%s\", not an xmodal head", mmf_head_fusion(h));
    int M = h->cfg.M, col[FZ_MAXM];
    for (int m = 0; m < M; m++) {
        col[m] = mmf_embfile_find(data, h->cfg.names[m]);
        if (col[m] < 0 || mmf_embfile_dim(data, col[m]) != h->cfg.dims[m])
            return mmf_fail(MMF_ERR_SHAPE, "%s: modality \"%s\" missing or not of dimension %lld", mmf_embfile_path(data),
                            h->cfg.names[m], (long long)h->cfg.dims[m]);
    }
    int64_t N = mmf_embfile_rows(data), bs = 64, W = FZ_XMODAL_WORDS, P = FZ_XMODAL_PATCHES;
    int FM = mmf_embfile_n_modalities(data);
    const uint8_t *fmask = mmf_embfile_mask(data);
    float *maps = malloc((size_t)(N * W * P + 1) * sizeof(float));
    int32_t *words = malloc((size_t)(N * W + 1) * sizeof(int32_t));
    uint8_t *mask = malloc((size_t)(bs * M));
    float *xs[FZ_MAXM] = {0};
    mmf_status s = (!maps || !words || !mask) ? mmf_fail(MMF_ERR_NOMEM, "attention maps: out of memory") : MMF_OK;
    for (int m = 0; m < M && !s; m++)
        if (!(xs[m] = malloc((size_t)(bs * h->cfg.dims[m]) * sizeof(float)))) s = mmf_fail(MMF_ERR_NOMEM, "attention maps: out of memory");
    mmf_tape *tp = s ? NULL : mmf_tape_new(1, 1);
    if (!s && !tp) s = mmf_fail(MMF_ERR_NOMEM, "attention maps: out of memory");
    for (int64_t st = 0; st < N && !s; st += bs) {
        int64_t B = N - st < bs ? N - st : bs;
        for (int64_t b = 0; b < B; b++)
            for (int m = 0; m < M; m++) {
                int64_t D = h->cfg.dims[m];
                mask[b * M + m] = fmask[(st + b) * FM + col[m]];
                if (mask[b * M + m]) memcpy(xs[m] + b * D, mmf_embfile_data(data, col[m]) + (st + b) * D, (size_t)D * sizeof(float));
                else memset(xs[m] + b * D, 0, (size_t)D * sizeof(float));
            }
        mmf_tape_reset(tp);
        mmf_tape_set_training(tp, 0);
        fz_out o;
        fz_xmodal_maps cap = {maps + st * W * P, words + st * W};
        s = fz_head_forward_capture(h, tp, B, xs, mask, NULL, &cap, &o);
    }
    if (!s) {
        mmf_st_writer *w = mmf_st_writer_new();
        if (!w) s = mmf_fail(MMF_ERR_NOMEM, "out of memory");
        if (!s) s = mmf_st_writer_meta(w, "layout", "attention[n, word slot, patch]: last layer, mean over heads; patches 4x4 row-major; words[n, slot] = vocabulary line (0-based) or -1");
        if (!s) s = mmf_st_writer_add(w, "attention", MMF_DT_F32, 3, (int64_t[]){N, W, P}, maps);
        if (!s) s = mmf_st_writer_add(w, "words", MMF_DT_I32, 2, (int64_t[]){N, W}, words);
        if (!s && mmf_embfile_ids(data)) s = mmf_st_writer_add(w, "ids", MMF_DT_I64, 1, (int64_t[]){N}, mmf_embfile_ids(data));
        if (!s) s = mmf_st_writer_finish(w, out_path);
        mmf_st_writer_free(w);
    }
    for (int m = 0; m < M; m++) free(xs[m]);
    free(maps); free(words); free(mask);
    mmf_tape_free(tp);
    return s;
}
