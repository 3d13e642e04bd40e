/* What a head trained on embeddings (trainer.c, VQA, the captioner's fusion)
 * takes from mmf_train_params: its operator sizes and its optimiser. */
#include "fusion/head.h"

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
    mmf_optim_params op = mmf_optim_params_default();
    op.kind = MMF_OPT_ADAMW;
    op.lr = p->lr;
    op.weight_decay = p->weight_decay;
    op.clip_norm = p->clip_norm;
    op.n_threads = p->n_threads;
    if (p->cosine) {
        op.sched = MMF_SCHED_COSINE;
        op.total_steps = steps_per_epoch * p->epochs;
        op.warmup_steps = op.total_steps / 20;
    }
    return op;
}
