#include "train/optim.h"
#include "core/error.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Work is cut into chunks of at most CHUNK elements inside each parameter,
 * the same cut whatever the thread count: every element is updated the same
 * way, and the norm adds the chunks' partial sums in chunk order, so results
 * do not depend on n_threads. The cut is made once, in mmf_optim_init. */
#define CHUNK 16384

typedef struct chunk { int param; int64_t off, n; } chunk;

/* threads for a pass over the chunks: small parameter sets stay serial */
static int pass_threads(const mmf_optim *o, const mmf_params *ps) {
    return o->p.n_threads > 1 && ps->total >= 4 * CHUNK ? o->p.n_threads : 1;
}

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
    p.n_threads = 1;
    return p;
}

mmf_optim_params mmf_optim_adamw_cosine(float lr, float weight_decay, float clip_norm, int n_threads, int64_t total_steps,
                                        int64_t warmup_steps) {
    mmf_optim_params p = mmf_optim_params_default();
    p.lr = lr;
    p.weight_decay = weight_decay;
    p.clip_norm = clip_norm;
    p.n_threads = n_threads;
    p.sched = MMF_SCHED_COSINE;
    p.total_steps = total_steps;
    p.warmup_steps = warmup_steps;
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
    int64_t nc = 0;
    for (int i = 0; i < ps->n; i++) nc += (ps->p[i].n + CHUNK - 1) / CHUNK;
    o->chunks = malloc((size_t)(nc ? nc : 1) * sizeof *o->chunks);
    o->partial = malloc((size_t)(nc ? nc : 1) * sizeof *o->partial);
    if (!o->chunks || !o->partial) { mmf_optim_free(o); return mmf_fail(MMF_ERR_NOMEM, "optimiser: out of memory"); }
    for (int i = 0; i < ps->n; i++)
        for (int64_t off = 0; off < ps->p[i].n; off += CHUNK)
            o->chunks[o->n_chunks++] = (chunk){i, off, ps->p[i].n - off < CHUNK ? ps->p[i].n - off : CHUNK};
    return MMF_OK;
}

void mmf_optim_free(mmf_optim *o) {
    free(o->m); free(o->chunks); free(o->partial);
    o->m = o->v = NULL;
    o->chunks = NULL;
    o->partial = NULL;
    o->n_chunks = 0;
}

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

/* The first non-finite gradient, for the message (only called when the norm is not finite). */
static mmf_status report_bad(const mmf_optim *o, const mmf_params *ps) {
    for (int i = 0; i < ps->n; i++) {
        const float *g = ps->grad + ps->p[i].offset;
        for (int64_t j = 0; j < ps->p[i].n; j++)
            if (!isfinite(g[j]))
                return mmf_fail(MMF_ERR_NUMERIC, "training step %lld: gradient of parameter \"%s\" is %s (element %lld)",
                                (long long)o->step + 1, ps->p[i].name, isnan(g[j]) ? "NaN" : "Inf", (long long)j);
    }
    return mmf_fail(MMF_ERR_NUMERIC, "training step %lld: the gradient norm overflows", (long long)o->step + 1);
}

/* sum of squares of n floats: 16 float lanes (vectorisable, fixed order), summed in double */
static double sumsq(const float *g, int64_t n) {
    float lane[16] = {0};
    int64_t j = 0;
    for (; j + 16 <= n; j += 16)
        for (int k = 0; k < 16; k++) lane[k] += g[j + k] * g[j + k];
    double acc = 0.0;
    for (; j < n; j++) acc += (double)g[j] * g[j];
    for (int k = 0; k < 16; k++) acc += lane[k];
    return acc;
}

typedef struct mmf_step_consts step_consts;

/* the update of one chunk (x, g, m, v point at its first element) */
static void update_chunk(const mmf_optim_params *p, const mmf_param_info *pi, const step_consts *k, float *restrict x,
                         const float *restrict g, float *restrict m, float *restrict v, uint16_t *restrict xb, int64_t n) {
    const float clip = k->clip, lr = k->lr, step_size = k->step_size, inv_sqrt_bc2 = k->inv_sqrt_bc2;
    const float b1 = k->b1, b2 = k->b2, eps = k->eps, mom = k->mom;
    float wd = pi->no_decay ? 0.0f : p->weight_decay;
    if (p->kind == MMF_OPT_SGD) {
        for (int64_t j = 0; j < n; j++) {
            float gj = g[j] * clip + wd * x[j];
            m[j] = mom * m[j] + gj;
            x[j] -= lr * m[j];
        }
        return;
    }
    float l2 = p->kind == MMF_OPT_ADAM ? wd : 0.0f, decay = p->kind == MMF_OPT_ADAMW ? 1.0f - lr * wd : 1.0f;
    if (xb) {   /* the same update, plus the bf16 copy (round to nearest even; values are finite here) */
        for (int64_t j = 0; j < n; j++) {
            float gj = g[j] * clip + l2 * x[j];
            m[j] = b1 * m[j] + (1.0f - b1) * gj;
            v[j] = b2 * v[j] + (1.0f - b2) * gj * gj;
            float xn = x[j] * decay - step_size * m[j] / (sqrtf(v[j]) * inv_sqrt_bc2 + eps);
            x[j] = xn;
            uint32_t u;
            memcpy(&u, &xn, 4);
            xb[j] = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
        }
        return;
    }
    for (int64_t j = 0; j < n; j++) {
        float gj = g[j] * clip + l2 * x[j];
        m[j] = b1 * m[j] + (1.0f - b1) * gj;
        v[j] = b2 * v[j] + (1.0f - b2) * gj * gj;
        x[j] = x[j] * decay - step_size * m[j] / (sqrtf(v[j]) * inv_sqrt_bc2 + eps);
    }
}

/* mmf_params.apply_pending: the pending step on elements [off, off + n) of parameter idx */
static void apply_pending(void *opt, mmf_params *ps, int idx, int64_t off, int64_t n) {
    mmf_optim *o = opt;
    const mmf_param_info *pi = &ps->p[idx];
    int64_t at = pi->offset + off;
    uint16_t *sh = ps->bf16 && o->p.kind != MMF_OPT_SGD ? ps->bf16 : NULL;
    update_chunk(&o->p, pi, &o->pk, ps->data + at, ps->grad + at, o->m + at, o->v + at, sh ? sh + at : NULL, n);
}

void mmf_optim_flush(mmf_optim *o, mmf_params *ps) {
    if (!o->pending) return;
    const chunk *ck = o->chunks;
    const int64_t nc = o->n_chunks;
    const int nt = pass_threads(o, ps);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t c = 0; c < nc; c++)
        if (ps->p[ck[c].param].pending) apply_pending(o, ps, ck[c].param, ck[c].off, ck[c].n);
    for (int i = 0; i < ps->n; i++) ps->p[i].pending = 0;
    o->pending = 0;
}

mmf_status mmf_optim_step(mmf_optim *o, mmf_params *ps) {
    const mmf_optim_params *p = &o->p;
    /* the previous step first, where nothing read a parameter since (it uses that step's gradient) */
    mmf_optim_flush(o, ps);
    /* a gradient no backward pass wrote since the last step means zero */
    for (int i = 0; i < ps->n; i++)
        if (ps->p[i].grad_stale) {
            memset(ps->grad + ps->p[i].offset, 0, (size_t)ps->p[i].n * sizeof(float));
            ps->p[i].grad_stale = ps->p[i].sumsq_ok = 0;
        }
    const chunk *ck = o->chunks;
    const int64_t nc = o->n_chunks;
    /* one pass for the norm (skipping gradients whose GEMM summed them); NaN/Inf anywhere makes it non-finite */
    const int nt = pass_threads(o, ps);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t c = 0; c < nc; c++)
        o->partial[c] = ps->p[ck[c].param].sumsq_ok ? 0.0
                        : sumsq(ps->grad + ps->p[ck[c].param].offset + ck[c].off, ck[c].n);
    double norm2 = 0.0;
    for (int64_t c = 0; c < nc; c++) {
        int i = ck[c].param;
        if (ps->p[i].sumsq_ok) { if (ck[c].off == 0) norm2 += ps->p[i].sumsq; }
        else norm2 += o->partial[c];
    }
    for (int i = 0; i < ps->n; i++) ps->p[i].sumsq_ok = 0;
    if (!isfinite(norm2)) return report_bad(o, ps);
    float gnorm = (float)sqrt(norm2), clip = 1.0f;
    o->last_grad_norm = gnorm;
    if (p->clip_norm > 0.0f && gnorm > p->clip_norm) clip = p->clip_norm / (gnorm + 1e-6f);
    float lr = mmf_optim_lr(o, o->step);
    o->last_lr = lr;
    o->step++;
    /* PyTorch's Adam: x -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps) */
    step_consts k = {.clip = clip, .lr = lr,
                     .step_size = (float)(lr / (1.0 - pow(p->beta1, (double)o->step))),
                     .inv_sqrt_bc2 = (float)(1.0 / sqrt(1.0 - pow(p->beta2, (double)o->step))),
                     .b1 = p->beta1, .b2 = p->beta2, .eps = p->eps, .mom = p->momentum};
    uint16_t *sh = ps->bf16 && p->kind != MMF_OPT_SGD ? ps->bf16 : NULL;
    if (p->defer && p->kind != MMF_OPT_SGD) {   /* applied where each parameter is next read */
        o->pk = k;
        o->pending = 1;
        ps->apply_pending = apply_pending;
        ps->pending_opt = o;
        ps->pending_m = o->m;
        ps->pending_v = o->v;
        for (int i = 0; i < ps->n; i++) ps->p[i].pending = ps->p[i].grad_stale = 1;
        ps->bf16_fresh = sh != NULL;
        return MMF_OK;
    }
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t c = 0; c < nc; c++) {
        const mmf_param_info *pi = &ps->p[ck[c].param];
        int64_t at = pi->offset + ck[c].off;
        update_chunk(p, pi, &k, ps->data + at, ps->grad + at, o->m + at, o->v + at, sh ? sh + at : NULL, ck[c].n);
    }
    /* SGD keeps no copy: the linear layers convert for themselves */
    ps->bf16_fresh = sh != NULL;
    /* the gradients are used up: the next backward pass overwrites them (no zeroing pass) */
    for (int i = 0; i < ps->n; i++) ps->p[i].grad_stale = 1;
    return MMF_OK;
}
