/* Checkpoints of the training loop (fit.c): everything mmf_fit_run needs to
 * continue a run exactly, in one safetensors file (mmf_checkpoint_params in
 * mmfuse.h; the format in docs/fusion.md "Checkpoints and restart").
 *
 * The loop's side is a position (mmf_fit_pos) it keeps in one place; this file
 * saves it with the trainer's sets, optimisers, generators and blobs, and loads
 * it back after checking that the file is whole (a checksum over the tensor
 * bytes) and that it comes from the same setup (the caller's key=value lines
 * and the loop's own). Under data parallelism every call is collective: rank 0
 * writes, every rank reads, and a failure on one rank fails all of them. */
#ifndef MMF_TRAIN_FIT_CHECKPOINT_H
#define MMF_TRAIN_FIT_CHECKPOINT_H
#include "train/fit.h"

/* Where the loop stands between two steps. */
typedef struct mmf_fit_pos {
    int epoch;              /* 0-based: the epoch in progress (or next, at a boundary) */
    int64_t step;           /* steps done in it */
    int shuffled;           /* order holds this epoch's shuffle (0 at a boundary) */
    int64_t global;         /* steps done in the run */
    int finished;           /* training is over (last epoch or patience) */
    int since;              /* epochs without a better validation score */
    int have_best;          /* best holds the best epoch's weights */
    double best_score;
    float *best;            /* every set's values, then the extra state */
    int64_t *order;         /* f->n positions */
    mmf_fit_report r;       /* the epoch's sums so far */
} mmf_fit_pos;

typedef struct mmf_fit_ckpt mmf_fit_ckpt;

/* Before any step, the weights as initialised: *out NULL when f has no
 * checkpoint. Fingerprints the setup; not resuming, an existing file is refused. */
mmf_status mmf_fit_ckpt_open(const mmf_fit *f, mmf_fit_ckpt **out);
/* Resume (when asked): verify and load the file into f and *pos; *resumed 0
 * when there was nothing to load (not resuming, or an optional file absent). */
mmf_status mmf_fit_ckpt_load(mmf_fit_ckpt *c, const mmf_fit *f, mmf_fit_pos *pos, int *resumed);
/* Whether a checkpoint is due after the run's step number `global` (mid-epoch),
 * and at an epoch's end (finished: the run's last). */
int mmf_fit_ckpt_due_step(const mmf_fit_ckpt *c, int64_t global);
int mmf_fit_ckpt_due_epoch(const mmf_fit_ckpt *c, int finished);
/* Flush the optimisers and write *pos (collective). */
mmf_status mmf_fit_ckpt_save(mmf_fit_ckpt *c, const mmf_fit *f, const mmf_fit_pos *pos);
void mmf_fit_ckpt_free(mmf_fit_ckpt *c);
#endif
