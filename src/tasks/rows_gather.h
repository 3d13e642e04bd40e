/* Rows of an embedding file as a batch of modality inputs for the task heads
 * (captioner, VQA): the file's columns in the model's modality order, with the
 * mask the fusion operators read and the random modality drops of training. */
#ifndef MMF_TASKS_ROWS_GATHER_H
#define MMF_TASKS_ROWS_GATHER_H
#include <stdint.h>
#include "fusion/fusion.h"
#include "train/rng.h"

/* rows[0..B) into x[m] ([B, dims[m]], absent entries zero) and mask ([B, M]).
 * col[m] is the file column of model modality m (-1: not in the file); drop_m is
 * a modality hidden in every row (-1: none). With rng and mod_drop, modality m
 * of a row is hidden with probability mod_drop[m], but a row keeps at least one
 * of the modalities it had (one chosen at random) so every sample still says
 * something. */
void mmf_rows_gather(const mmf_embfile *f, const int *col, int M, const int64_t *dims, const int64_t *rows, int64_t B,
                     int drop_m, const float *mod_drop, mmf_rng *rng, float **x, uint8_t *mask);
#endif
