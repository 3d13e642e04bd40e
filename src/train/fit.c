/* The training loop every trainer runs (fit.h). */
#include "train/fit.h"
#include "train/fit_checkpoint.h"
#include "core/error.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double mono_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int64_t mmf_fit_steps_per_epoch(int64_t n, int64_t batch, int64_t min_batch) {
    if (n <= 0 || batch <= 0) return 0;
    int64_t full = n / batch, rest = n % batch;
    return full + (rest > 0 && rest >= (min_batch > 1 ? min_batch : 1));
}

/* the best weights (pos->best): every set's values, then the extra state */
static void snapshot(const mmf_fit *f, mmf_fit_pos *pos) {
    float *p = pos->best;
    for (int k = 0; k < f->n_sets; k++) {
        memcpy(p, f->sets[k]->data, (size_t)f->sets[k]->total * sizeof(float));
        p += f->sets[k]->total;
    }
    if (f->n_state) memcpy(p, f->state, (size_t)f->n_state * sizeof(float));
    pos->have_best = 1;
}

static void restore(const mmf_fit *f, const mmf_fit_pos *pos) {
    const float *p = pos->best;
    for (int k = 0; k < f->n_sets; k++) {
        memcpy(f->sets[k]->data, p, (size_t)f->sets[k]->total * sizeof(float));
        mmf_params_touch(f->sets[k]);   /* a bf16 shadow no longer matches */
        p += f->sets[k]->total;
    }
    if (f->n_state) memcpy(f->state, p, (size_t)f->n_state * sizeof(float));
}

static void flush(const mmf_fit *f) {
    for (int k = 0; k < f->n_sets; k++) mmf_optim_flush(f->opts[k], f->sets[k]);
}

/* Data parallel: zero what no pass wrote, weight this rank's gradients by its
 * share w of the batch, and sum them over the ranks with the loss (extra[]). */
static mmf_status allreduce_grads(const mmf_fit *f, int have, double w, double *extra, int n_extra) {
    const mmf_comm *c = f->comm;
    for (int k = 0; k < f->n_sets; k++) {
        mmf_params *ps = f->sets[k];
        for (int i = 0; i < ps->n; i++) {
            mmf_param_info *pi = &ps->p[i];
            float *g = ps->grad + pi->offset;
            if (!have || pi->grad_stale) memset(g, 0, (size_t)pi->n * sizeof *g);
            else for (int64_t j = 0; j < pi->n; j++) g[j] *= (float)w;
            pi->grad_stale = 0;
            pi->sumsq_ok = 0;   /* the clipping norm is recomputed from the summed gradient */
        }
        if (ps->total && c->allreduce(ps->grad, (size_t)ps->total, MMF_DT_F32, MMF_COMM_SUM, c->user))
            return mmf_fail(MMF_ERR_IO, "%s: the gradient all-reduce failed", f->what);
    }
    if (c->allreduce(extra, (size_t)n_extra, MMF_DT_F64, MMF_COMM_SUM, c->user))
        return mmf_fail(MMF_ERR_IO, "%s: the loss all-reduce failed", f->what);
    return MMF_OK;
}

/* Every rank continues from rank 0's generator state (an all-reduced sum of a
 * buffer only rank 0 fills: exact). */
static mmf_status sync_rng(const mmf_fit *f) {
    int64_t st[4];
    for (int i = 0; i < 4; i++) st[i] = f->comm->rank == 0 ? (int64_t)f->rng->s[i] : 0;
    if (f->comm->allreduce(st, 4, MMF_DT_I64, MMF_COMM_SUM, f->comm->user))
        return mmf_fail(MMF_ERR_IO, "%s: the all-reduce of the generator state failed", f->what);
    for (int i = 0; i < 4; i++) f->rng->s[i] = (uint64_t)st[i];
    return MMF_OK;
}

/* One step on samples idx[0..B); a skipped batch (no loss) returns MMF_OK uncounted. */
static mmf_status step(const mmf_fit *f, const int64_t *idx, int64_t B, int ep, int64_t bi, int64_t global,
                       mmf_fit_report *r, double *ph) {
    mmf_tape *tp = f->tp;
    const int dp = f->comm && f->comm->size > 1;
    const int coll = dp && mmf_tape_comm(tp);   /* the forward and backward passes communicate */
    const int64_t Bg = B, *gidx = idx;
    int64_t lo = 0, hi = B;
    double w = 1.0;
    if (dp) {   /* this rank's contiguous slice of the batch */
        lo = B * f->comm->rank / f->comm->size, hi = B * (f->comm->rank + 1) / f->comm->size;
        idx += lo;
        B = hi - lo;
        w = (double)B / (double)Bg;
        if (f->comm->rank > 0 && !f->ops.gather_slice) f->rng->s[0] ^= 0x9e3779b97f4a7c15ULL * (uint64_t)f->comm->rank;
    }
    double t0 = ph ? mono_s() : 0.0;
    mmf_status s = f->ops.gather_slice ? f->ops.gather_slice(f->ctx, gidx, Bg, lo, hi)
                   : f->ops.gather && B > 0 ? f->ops.gather(f->ctx, idx, B) : MMF_OK;
    double t1 = ph ? mono_s() : 0.0;
    mmf_var L = -1;
    if ((!s || coll) && B > 0) {
        mmf_tape_reset(tp);
        mmf_tape_set_training(tp, 1);
        mmf_tape_set_slice(tp, lo, hi, Bg);   /* dropout draws the whole batch's masks */
        if (s) mmf_tape_fail(tp, s);   /* collective: the forward's collectives still run, failing every rank */
        mmf_status fs = f->ops.forward(f->ctx, tp, idx, B, &L);
        if (!s) s = fs;
    }
    if (!s) s = mmf_tape_status(tp);
    if (s && !dp) return mmf_fail_wrap(s, "%s: epoch %d step %lld", f->what, ep + 1, (long long)bi + 1);
    float lv = L >= 0 && !s ? mmf_tape_var(tp, L)->v[0] : 0.0f;
    double t2 = ph ? mono_s() : 0.0;
    if (dp) {
        /* every rank reaches the all-reduce, whatever happened here */
        int have = !s && L >= 0 && isfinite(lv);
        if (coll) {   /* the backward pass communicates: all ranks run it or none does */
            double ag[4] = {have ? 0.0 : 1.0, 0.0, 0.0, 0.0};
            if (f->comm->allreduce(ag, 1, MMF_DT_F64, MMF_COMM_SUM, f->comm->user))
                return mmf_fail(MMF_ERR_IO, "%s: epoch %d step %lld: the all-reduce before the backward pass failed", f->what, ep + 1,
                                (long long)bi + 1);
            /* a rank without a loss while others have one cannot join their backward pass
             * (no rank with one: the batch is skipped, as one process skips it) */
            if (ag[0] > 0 && ag[0] < f->comm->size && !s && L < 0)
                s = mmf_fail(MMF_ERR_ARG, "%s: epoch %d step %lld: rank %d's slice of the batch has nothing to learn from, and this "
                                          "model's batch is coupled across ranks; use a larger batch or fewer ranks",
                             f->what, ep + 1, (long long)bi + 1, f->comm->rank);
            if (ag[0] > 0) have = 0;
        }
        if (have) s = mmf_tape_backward(tp, L);
        double extra[4] = {have && !s ? w * (double)lv : 0.0, have && !s ? 1.0 : 0.0, (L >= 0 && !isfinite(lv)) ? 1.0 : 0.0,
                           s ? 1.0 : 0.0};
        mmf_status as = allreduce_grads(f, have && !s, w, extra, 4);
        if (!as) as = sync_rng(f);
        if (s) return mmf_fail_wrap(s, "%s: epoch %d step %lld", f->what, ep + 1, (long long)bi + 1);
        if (as) return as;
        if (extra[3] > 0) return mmf_fail(MMF_ERR_IO, "%s: epoch %d step %lld failed on another rank", f->what, ep + 1, (long long)bi + 1);
        if (extra[2] > 0)
            return mmf_fail(MMF_ERR_NUMERIC, "%s: epoch %d step %lld (global step %lld): the loss is not finite on a rank; lower the learning rate or check the inputs",
                            f->what, ep + 1, (long long)bi + 1, (long long)global + 1);
        if (extra[1] == 0) return MMF_OK;   /* no rank had anything to learn from */
        lv = (float)extra[0];
        L = 0;
    } else {
        if (L < 0) return MMF_OK;   /* nothing to learn from in this batch */
        if (!isfinite(lv))
            return mmf_fail(MMF_ERR_NUMERIC, "%s: epoch %d step %lld (global step %lld): the loss is %s; lower the learning rate or check the inputs",
                            f->what, ep + 1, (long long)bi + 1, (long long)global + 1, isnan(lv) ? "NaN" : "Inf");
        s = mmf_tape_backward(tp, L);
    }
    r->loss_sum += lv;
    r->loss_wsum += (double)lv * (double)Bg;
    r->counted++;
    r->samples += Bg;
    if (!s && f->grad_hook) s = f->grad_hook(f->grad_user, f->sets, f->n_sets);
    double t3 = ph ? mono_s() : 0.0;
    for (int k = 0; !s && k < f->n_sets; k++) s = mmf_optim_step(f->opts[k], f->sets[k]);
    if (s) return mmf_fail_wrap(s, "%s: epoch %d step %lld", f->what, ep + 1, (long long)bi + 1);
    if (ph) {
        double t4 = mono_s();
        ph[0] += t1 - t0; ph[1] += t2 - t1; ph[2] += t3 - t2; ph[3] += t4 - t3; ph[4] += 1.0;
    }
    return MMF_OK;
}

/* One epoch from where pos stands: its shuffle (unless a checkpoint already
 * holds it), its steps, validation, the best weights and patience. */
static mmf_status epoch(const mmf_fit *f, mmf_fit_ckpt *ck, mmf_fit_pos *pos, int64_t steps, double *ph) {
    const int ep = pos->epoch;
    mmf_status s = MMF_OK;
    if (!pos->shuffled) {
        if (f->fresh_order)
            for (int64_t i = 0; i < f->n; i++) pos->order[i] = i;
        mmf_rng_shuffle(f->rng, pos->order, f->n);
        pos->shuffled = 1;
        pos->step = 0;
        pos->r = (mmf_fit_report){.epoch = ep + 1, .epochs = f->epochs, .steps = steps};
    }
    mmf_fit_report *r = &pos->r;
    while (pos->step < steps && !s) {
        int64_t bi = pos->step, i0 = bi * f->batch, B = f->n - i0 < f->batch ? f->n - i0 : f->batch;
        s = step(f, pos->order + i0, B, ep, bi, pos->global, r, ph);
        pos->step++;
        pos->global++;
        r->step = pos->step;
        if (!s && f->ops.progress) f->ops.progress(f->ctx, r);
        if (!s && mmf_fit_ckpt_due_step(ck, pos->global)) s = mmf_fit_ckpt_save(ck, f, pos);
    }
    flush(f);   /* the epoch's last update, before eval reads the weights */
    if (s) return s;
    double sc = 0.0, metrics[4] = {NAN, NAN, NAN, NAN};
    if (f->ops.eval && (s = f->ops.eval(f->ctx, ep + 1, &sc, metrics))) return s;
    r->end = 1;
    r->metrics = f->ops.eval ? metrics : NULL;
    if (f->ops.progress) f->ops.progress(f->ctx, r);
    r->metrics = NULL;
    int stop = ep + 1 >= f->epochs;
    if (f->ops.eval) {
        if (sc > pos->best_score) {
            pos->best_score = sc;
            pos->since = 0;
            snapshot(f, pos);
        } else if (f->patience > 0 && ++pos->since >= f->patience) {
            stop = 1;
        }
    }
    pos->epoch++;
    pos->shuffled = 0;
    pos->step = 0;
    pos->finished = stop;
    if (mmf_fit_ckpt_due_epoch(ck, stop)) s = mmf_fit_ckpt_save(ck, f, pos);
    return s;
}

mmf_status mmf_fit_run(const mmf_fit *f) {
    double *ph = f->phase_seconds;
    if (ph) memset(ph, 0, 5 * sizeof *ph);
    if (f->n_sets < 0 || f->n_sets > MMF_FIT_MAX_SETS || f->n_blobs < 0 || f->n_blobs > MMF_FIT_MAX_BLOBS || !f->ops.forward || !f->tp ||
        !f->rng)
        return mmf_fail(MMF_ERR_ARG, "%s: incomplete training setup", f->what);
    if (f->n <= 0 || f->batch <= 0 || f->epochs < 1)
        return mmf_fail(MMF_ERR_ARG, "%s: %lld samples, batch %lld, %d epochs: nothing to train", f->what, (long long)f->n,
                        (long long)f->batch, f->epochs);
    int64_t steps = mmf_fit_steps_per_epoch(f->n, f->batch, f->min_batch), total = f->n_state;
    if (f->comm && f->comm->size > 1 && mmf_tape_comm(f->tp)) {
        /* a collective step needs every rank in it: the smallest step must give each rank a sample */
        int64_t small = f->n < f->batch ? f->n : f->batch, rest = f->n % f->batch;
        if (f->n > f->batch && rest > 0 && rest >= (f->min_batch > 1 ? f->min_batch : 1) && rest < small) small = rest;
        if (small < f->comm->size)
            return mmf_fail(MMF_ERR_ARG, "%s: %lld samples in batches of %lld make a step of %lld, fewer samples than the %d ranks "
                                         "(each needs a share of every batch); use fewer ranks or another batch size",
                            f->what, (long long)f->n, (long long)f->batch, (long long)small, f->comm->size);
    }
    for (int k = 0; k < f->n_sets; k++) total += f->sets[k]->total;
    mmf_fit_pos pos = {.best_score = -INFINITY};
    pos.order = malloc((size_t)f->n * sizeof *pos.order);
    if (f->ops.eval) pos.best = malloc((size_t)(total + 1) * sizeof(float));
    if (!pos.order || (f->ops.eval && !pos.best)) {
        free(pos.order);
        free(pos.best);
        return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", f->what);
    }
    for (int64_t i = 0; i < f->n; i++) pos.order[i] = i;
    /* a checkpoint fingerprints the weights as initialised, then may replace everything */
    mmf_fit_ckpt *ck = NULL;
    int resumed = 0;
    mmf_status s = mmf_fit_ckpt_open(f, &ck);
    if (!s) s = mmf_fit_ckpt_load(ck, f, &pos, &resumed);
    while (!s && !pos.finished && pos.epoch < f->epochs) s = epoch(f, ck, &pos, steps, ph);
    flush(f);
    if (!s && pos.have_best) restore(f, &pos);
    mmf_fit_ckpt_free(ck);
    free(pos.best);
    free(pos.order);
    return s;
}
