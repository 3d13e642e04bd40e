/* One training loop (fit.c) for every trainer: fusion heads, VQA, the
 * captioner, the from-scratch towers, the bimodal autoencoder and its probe.
 *
 * A trainer describes its samples as positions 0..n-1 and hands over a small
 * table of functions: gather a batch, run the forward pass to a loss, and
 * (optionally) evaluate and report progress. The loop owns what used to be
 * written once per trainer: the epoch shuffle, the step (forward, NaN/Inf
 * stop, backward, a hook on the gradients, the optimiser steps), early
 * stopping with patience, keeping and restoring the best weights, the
 * phase timings, and checkpoints to restart from (fit_checkpoint.c). */
#ifndef MMF_TRAIN_FIT_H
#define MMF_TRAIN_FIT_H
#include "train/optim.h"
#include "train/rng.h"

#define MMF_FIT_MAX_SETS 4
#define MMF_FIT_MAX_BLOBS 4

/* Trainer state a checkpoint carries besides the loop's own (fit_checkpoint.c):
 * its own generators, epoch order, counters; saved and restored byte for byte.
 * per_rank: each rank holds its own value (a count over its slice of the
 * batch), gathered by rank 0 and given back to each rank on resume; else the
 * value is the same on every rank and rank 0's is kept. */
typedef struct mmf_fit_blob {
    const char *name;
    void *p;
    size_t bytes;
    int per_rank;
} mmf_fit_blob;

/* What the progress function sees. */
typedef struct mmf_fit_report {
    int epoch, epochs;        /* 1-based */
    int64_t step, steps;      /* steps done this epoch / steps per epoch */
    int end;                  /* 0: after a step; 1: the epoch's end (after eval) */
    double loss_sum;          /* this epoch: sum of the step losses */
    double loss_wsum;         /* sum of step loss x batch size */
    int64_t counted;          /* steps that had a loss */
    int64_t samples;          /* samples of those steps */
    const double *metrics;    /* at the end with eval: the metrics eval wrote; else NULL */
} mmf_fit_report;

/* mean step loss and mean per-sample loss of the epoch so far (0 before any step) */
static inline double mmf_fit_loss(const mmf_fit_report *r) { return r->counted ? r->loss_sum / (double)r->counted : 0.0; }
static inline double mmf_fit_sample_loss(const mmf_fit_report *r) { return r->samples ? r->loss_wsum / (double)r->samples : 0.0; }

typedef struct mmf_fit_ops {
    /* Samples idx[0..B) (positions in 0..n-1) into the trainer's batch; may draw
     * from mmf_fit.rng (modality drops, augmentation). NULL: forward gathers. */
    mmf_status (*gather)(void *ctx, const int64_t *idx, int64_t B);
    /* The forward pass of the gathered batch on tp (already reset, training
     * mode): *loss = a scalar variable, or -1 when the batch has nothing to
     * learn from (skipped: no backward, no update, not counted). */
    mmf_status (*forward)(void *ctx, mmf_tape *tp, const int64_t *idx, int64_t B, mmf_var *loss);
    /* After each epoch, the weights up to date: *score, higher is better, and
     * up to 4 metrics for progress (they start NaN). NULL: no validation; the
     * last epoch's weights are kept and patience does nothing. */
    mmf_status (*eval)(void *ctx, int epoch, double *score, double *metrics);
    /* After every step and every epoch (see mmf_fit_report.end); may be NULL. */
    void (*progress)(void *ctx, const mmf_fit_report *r);
    /* Instead of gather, for trainers whose gather draws (augmentation,
     * modality drops) or keeps state across batches: the whole batch is
     * idx[0..B) and this rank trains on [lo, hi) of it (one process: 0, B).
     * It draws for every sample of the batch as one process does and fills
     * the trainer's batch with samples lo..hi-1 only, so that under comm every
     * rank sees the draws one process makes (and the rng stays in step). */
    mmf_status (*gather_slice)(void *ctx, const int64_t *idx, int64_t B, int64_t lo, int64_t hi);
} mmf_fit_ops;

/* Called after every backward pass, before the optimiser steps: the place for
 * a data-parallel all-reduce. The gradients are sets[k]->grad, where a
 * parameter with grad_stale set holds no gradient this step (it means zero);
 * a hook that changes a gradient clears that parameter's sumsq_ok (its
 * squared norm was summed on the way and would be stale). */
typedef mmf_status (*mmf_fit_grad_fn)(void *user, mmf_params *const *sets, int n_sets);

typedef struct mmf_fit {
    const char *what;          /* prefix of error messages, e.g. "vqa train" */
    int64_t n;                 /* samples */
    int64_t batch;             /* samples per step (the last step takes the rest) */
    int64_t min_batch;         /* a last step with fewer samples is left out (0 or 1: none is) */
    int epochs;
    int patience;              /* with eval: stop after this many epochs without a better score; 0 = never */
    /* 1: every epoch shuffles 0..n-1 afresh; 0: it shuffles the previous
     * epoch's order (both kept: each gives its trainers' existing models) */
    int fresh_order;
    mmf_rng *rng;              /* the shuffle's stream (gather may draw from it too) */
    mmf_tape *tp;
    /* the trained parameter sets and their optimisers (stepped in this order) */
    mmf_params *sets[MMF_FIT_MAX_SETS];
    mmf_optim *opts[MMF_FIT_MAX_SETS];
    int n_sets;
    /* other state kept and restored with the best weights (batchnorm running
     * statistics), or NULL */
    float *state;
    int64_t n_state;
    mmf_fit_grad_fn grad_hook; /* may be NULL */
    void *grad_user;
    /* Data parallel (NULL or size 1: one process). Every rank runs this loop with
     * the same setup; each step's batch is cut into contiguous slices by rank,
     * each rank's gradients (of a per-sample mean loss) are weighted by its share
     * of the batch and all-reduced before the optimiser, so every rank applies
     * the full batch's update. Losses are all-reduced the same way. After each
     * step every rank takes rank 0's rng state, so shuffles stay identical; a
     * rank's own draws in gather (modality drops) come from the stream mixed
     * with its rank (gather_slice: no mixing, every rank draws for the whole
     * batch). Equal to one process up to the order of the gradient sums when
     * gather draws nothing or gather_slice is used.
     * A tape with a comm (mmf_tape_set_comm: ops that couple the batch, such as
     * batchnorm) makes the step collective: every rank runs the forward pass
     * (a failed gather fails the tape rather than skipping it), the ranks agree
     * on failures before any backward pass, and every step must give each
     * rank at least one sample. */
    const mmf_comm *comm;
    /* may be NULL; else on return wall seconds in [0] gathering, [1] forward
     * passes, [2] backward passes (and the hook), [3] optimiser steps; [4] the
     * number of steps (validation not counted) */
    double *phase_seconds;
    mmf_fit_ops ops;
    void *ctx;
    /* Checkpoints (fit_checkpoint.c; NULL or a NULL path: none): see
     * mmf_checkpoint_params. ckpt_path, when set, replaces ckpt->path (a
     * trainer's later phase), and ckpt_optional lets a resume start afresh
     * where that file is absent (the earlier phase had not finished). */
    const mmf_checkpoint_params *ckpt;
    const char *ckpt_path;
    int ckpt_optional;
    /* the trainer's own state */
    mmf_fit_blob blobs[MMF_FIT_MAX_BLOBS];
    int n_blobs;
} mmf_fit;

/* Steps per epoch for n samples (what the optimiser's schedule needs). */
int64_t mmf_fit_steps_per_epoch(int64_t n, int64_t batch, int64_t min_batch);
/* Train. With eval, the best epoch's weights (and state) are restored on
 * success. Errors name f->what, the epoch and the step. */
mmf_status mmf_fit_run(const mmf_fit *f);
#endif
