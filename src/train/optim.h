/* Optimisers over a parameter block (mmf_params): SGD with momentum, Adam, AdamW
 * (decoupled weight decay), L2 weight decay for SGD/Adam, constant or
 * cosine-with-warmup learning rate, global gradient-norm clipping.
 * State lives in one allocation parallel to the parameters. Parameters flagged
 * no_decay (1-D: biases, norms, temperatures) get no weight decay. */
#ifndef MMF_TRAIN_OPTIM_H
#define MMF_TRAIN_OPTIM_H
#include "train/tape.h"

typedef enum mmf_optim_kind { MMF_OPT_SGD, MMF_OPT_ADAM, MMF_OPT_ADAMW } mmf_optim_kind;
typedef enum mmf_sched_kind { MMF_SCHED_CONSTANT, MMF_SCHED_COSINE } mmf_sched_kind;

typedef struct mmf_optim_params {
    mmf_optim_kind kind;
    float lr;
    float momentum;          /* SGD */
    float beta1, beta2, eps; /* Adam */
    float weight_decay;      /* L2 for SGD/Adam, decoupled for AdamW */
    float clip_norm;         /* 0 = no clipping */
    mmf_sched_kind sched;
    int64_t warmup_steps, total_steps; /* cosine: linear warmup, then cosine to 0 */
    int n_threads;           /* threads for the step's passes (default 1); the result does not depend on it */
    /* 1: mmf_optim_step checks the gradients and fixes the step (clipping,
     * learning rate) but leaves each parameter's update pending until the
     * parameter is next read (mmf_param_info.pending): mmf_t_param applies it at
     * once, a bf16 linear layer block by block just before its GEMM reads
     * those rows, so the weights it multiplies come straight from the update
     * instead of from memory. The results are bit-identical to 0. Call
     * mmf_optim_flush before reading ps->data outside a tape and before
     * mmf_optim_free. Adam/AdamW only (SGD ignores it). */
    int defer;
} mmf_optim_params;

mmf_optim_params mmf_optim_params_default(void); /* AdamW, lr 1e-3, wd 0.01, constant */
/* The trainers' optimiser: AdamW, clip_norm (0 = off), a cosine schedule to 0
 * over total_steps after warmup_steps of linear warmup. */
mmf_optim_params mmf_optim_adamw_cosine(float lr, float weight_decay, float clip_norm, int n_threads, int64_t total_steps,
                                        int64_t warmup_steps);

typedef struct mmf_optim {
    mmf_optim_params p;
    float *m, *v;            /* one allocation: moments (SGD uses m as velocity) */
    int64_t step;
    float last_lr, last_grad_norm;
    struct mmf_step_consts { float clip, lr, step_size, inv_sqrt_bc2, b1, b2, eps, mom; } pk;   /* the pending step */
    int pending;             /* pk holds a step not yet applied everywhere (defer) */
    struct chunk *chunks;    /* the step's work split (optim.c), made by mmf_optim_init */
    double *partial;
    int64_t n_chunks;
} mmf_optim;

mmf_status mmf_optim_init(mmf_optim *o, const mmf_params *ps, const mmf_optim_params *p);
void mmf_optim_free(mmf_optim *o);
float mmf_optim_lr(const mmf_optim *o, int64_t step);
/* Clip, update, and leave the gradients stale (meaning zero: see
 * mmf_param_info.grad_stale; no zeroing pass). Fails (MMF_ERR_NUMERIC, naming the step and
 * the parameter) when a gradient is NaN/Inf; the parameters are then untouched. */
mmf_status mmf_optim_step(mmf_optim *o, mmf_params *ps);
/* Apply every pending update (defer); a no-op otherwise. */
void mmf_optim_flush(mmf_optim *o, mmf_params *ps);
#endif
