/* What a head trained on embeddings (trainer.c, VQA, the captioner's fusion)
 * takes from mmf_train_params: its operator sizes and its optimiser. */
#include "fusion/head.h"
#include "core/error.h"

void fz_config_sizes(fz_config *cfg, const mmf_train_params *p) {
    cfg->hidden = p->hidden;
    cfg->heads = p->heads;
    cfg->layers = p->layers;
    cfg->rank = p->rank;
    cfg->proj = p->proj;
    cfg->sketch = p->sketch;
    cfg->budget = p->budget;
    cfg->dropout = p->dropout;
    cfg->seed = p->seed;
}

mmf_optim_params fz_optim_params(const mmf_train_params *p, int64_t steps_per_epoch) {
    int64_t total = steps_per_epoch * p->epochs;
    mmf_optim_params op = mmf_optim_adamw_cosine(p->lr, p->weight_decay, p->clip_norm, p->n_threads, total, total / 20);
    if (!p->cosine) {   /* a constant rate */
        op.sched = MMF_SCHED_CONSTANT;
        op.total_steps = op.warmup_steps = 0;
    }
    return op;
}

/* bf16 training: the tape's GEMMs, the weights' bf16 shadow, and (one thread)
 * AdamW deferred into the next forward GEMM that reads each weight
 * (mmf_optim_params.defer); with more threads the step's own update pass is
 * parallel and the fused one is not. Shared with VQA. */
mmf_status fz_train_precision(const mmf_train_params *p, mmf_tape *tp, mmf_params *ps, mmf_optim_params *op) {
    if (p->precision == MMF_PRECISION_F32) return MMF_OK;
    if (p->precision != MMF_PRECISION_BF16) return mmf_fail(MMF_ERR_ARG, "train: unknown precision %d", (int)p->precision);
    op->defer = p->n_threads <= 1;
    mmf_status s = mmf_tape_set_bf16(tp, 1);
    return s ? s : mmf_params_bf16_shadow(ps);
}
