#include "train/optim.h"
#include "core/error.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

mmf_optim_params mmf_optim_params_default(void) {
    mmf_optim_params p = {0};
    p.kind = MMF_OPT_ADAMW;
    p.lr = 1e-3f;
    p.momentum = 0.9f;
    p.beta1 = 0.9f;
    p.beta2 = 0.999f;
    p.eps = 1e-8f;
    p.weight_decay = 0.01f;
    p.sched = MMF_SCHED_CONSTANT;
    return p;
}

mmf_status mmf_optim_init(mmf_optim *o, const mmf_params *ps, const mmf_optim_params *p) {
    memset(o, 0, sizeof *o);
    o->p = *p;
    if (!(p->lr > 0.0f) || p->weight_decay < 0.0f || p->clip_norm < 0.0f)
        return mmf_fail(MMF_ERR_ARG, "optimiser: lr %g must be > 0, weight decay %g and clip norm %g >= 0", p->lr, p->weight_decay, p->clip_norm);
    size_t n = (size_t)(ps->total ? ps->total : 1);
    o->m = calloc(2 * n, sizeof(float));
    if (!o->m) return mmf_fail(MMF_ERR_NOMEM, "optimiser: out of memory");
    o->v = o->m + n;
    return MMF_OK;
}

void mmf_optim_free(mmf_optim *o) { free(o->m); o->m = o->v = NULL; }

float mmf_optim_lr(const mmf_optim *o, int64_t step) {
    const mmf_optim_params *p = &o->p;
    if (p->sched == MMF_SCHED_CONSTANT) return p->lr;
    if (step < p->warmup_steps) return p->lr * (float)(step + 1) / (float)p->warmup_steps;
    int64_t span = p->total_steps - p->warmup_steps;
    if (span <= 0) return p->lr;
    double t = (double)(step - p->warmup_steps) / (double)span;
    if (t > 1.0) t = 1.0;
    return (float)(p->lr * 0.5 * (1.0 + cos(M_PI * t)));
}

mmf_status mmf_optim_step(mmf_optim *o, mmf_params *ps) {
    const mmf_optim_params *p = &o->p;
    double norm2 = 0.0;
    for (int i = 0; i < ps->n; i++) {
        const float *g = ps->grad + ps->p[i].offset;
        for (int64_t j = 0; j < ps->p[i].n; j++) {
            if (!isfinite(g[j]))
                return mmf_fail(MMF_ERR_NUMERIC, "training step %lld: gradient of parameter \"%s\" is %s (element %lld)",
                                (long long)o->step + 1, ps->p[i].name, isnan(g[j]) ? "NaN" : "Inf", (long long)j);
            norm2 += (double)g[j] * g[j];
        }
    }
    float gnorm = (float)sqrt(norm2), clip = 1.0f;
    o->last_grad_norm = gnorm;
    if (p->clip_norm > 0.0f && gnorm > p->clip_norm) clip = p->clip_norm / (gnorm + 1e-6f);
    float lr = mmf_optim_lr(o, o->step);
    o->last_lr = lr;
    o->step++;
    double bc1 = 1.0 - pow(p->beta1, (double)o->step), bc2 = 1.0 - pow(p->beta2, (double)o->step);
    for (int i = 0; i < ps->n; i++) {
        const mmf_param_info *pi = &ps->p[i];
        float *x = ps->data + pi->offset, *g = ps->grad + pi->offset, *m = o->m + pi->offset, *v = o->v + pi->offset;
        float wd = pi->no_decay ? 0.0f : p->weight_decay;
        for (int64_t j = 0; j < pi->n; j++) {
            float gj = g[j] * clip;
            if (p->kind != MMF_OPT_ADAMW) gj += wd * x[j];
            if (p->kind == MMF_OPT_SGD) {
                m[j] = p->momentum * m[j] + gj;
                x[j] -= lr * m[j];
            } else {
                m[j] = p->beta1 * m[j] + (1.0f - p->beta1) * gj;
                v[j] = p->beta2 * v[j] + (1.0f - p->beta2) * gj * gj;
                float mh = (float)(m[j] / bc1), vh = (float)(v[j] / bc2);
                if (p->kind == MMF_OPT_ADAMW) x[j] -= lr * wd * x[j];
                x[j] -= lr * mh / (sqrtf(vh) + p->eps);
            }
        }
    }
    mmf_params_zero_grad(ps);
    return MMF_OK;
}
