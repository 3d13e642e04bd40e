/* The training loop every trainer runs (fit.h). */
#include "train/fit.h"
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

/* the best weights: every set's values, then the extra state */
typedef struct best_copy { float *buf; int have; } best_copy;

static void snapshot(const mmf_fit *f, best_copy *b) {
    float *p = b->buf;
    for (int k = 0; k < f->n_sets; k++) {
        memcpy(p, f->sets[k]->data, (size_t)f->sets[k]->total * sizeof(float));
        p += f->sets[k]->total;
    }
    if (f->n_state) memcpy(p, f->state, (size_t)f->n_state * sizeof(float));
    b->have = 1;
}

static void restore(const mmf_fit *f, const best_copy *b) {
    const float *p = b->buf;
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

/* One step on samples idx[0..B); a skipped batch (no loss) returns MMF_OK uncounted. */
static mmf_status step(const mmf_fit *f, const int64_t *idx, int64_t B, int ep, int64_t bi, int64_t global,
                       mmf_fit_report *r, double *ph) {
    mmf_tape *tp = f->tp;
    double t0 = ph ? mono_s() : 0.0;
    mmf_status s = f->ops.gather ? f->ops.gather(f->ctx, idx, B) : MMF_OK;
    double t1 = ph ? mono_s() : 0.0;
    mmf_var L = -1;
    if (!s) {
        mmf_tape_reset(tp);
        mmf_tape_set_training(tp, 1);
        s = f->ops.forward(f->ctx, tp, idx, B, &L);
    }
    if (!s) s = mmf_tape_status(tp);
    if (s) return mmf_fail_wrap(s, "%s: epoch %d step %lld", f->what, ep + 1, (long long)bi + 1);
    if (L < 0) return MMF_OK;   /* nothing to learn from in this batch */
    float lv = mmf_tape_var(tp, L)->v[0];
    if (!isfinite(lv))
        return mmf_fail(MMF_ERR_NUMERIC, "%s: epoch %d step %lld (global step %lld): the loss is %s; lower the learning rate or check the inputs",
                        f->what, ep + 1, (long long)bi + 1, (long long)global + 1, isnan(lv) ? "NaN" : "Inf");
    r->loss_sum += lv;
    r->loss_wsum += (double)lv * (double)B;
    r->counted++;
    r->samples += B;
    double t2 = ph ? mono_s() : 0.0;
    s = mmf_tape_backward(tp, L);
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

mmf_status mmf_fit_run(const mmf_fit *f) {
    double *ph = f->phase_seconds;
    if (ph) memset(ph, 0, 5 * sizeof *ph);
    if (f->n_sets < 0 || f->n_sets > MMF_FIT_MAX_SETS || !f->ops.forward || !f->tp || !f->rng)
        return mmf_fail(MMF_ERR_ARG, "%s: incomplete training setup", f->what);
    if (f->n <= 0 || f->batch <= 0 || f->epochs < 1)
        return mmf_fail(MMF_ERR_ARG, "%s: %lld samples, batch %lld, %d epochs: nothing to train", f->what, (long long)f->n,
                        (long long)f->batch, f->epochs);
    int64_t steps = mmf_fit_steps_per_epoch(f->n, f->batch, f->min_batch), total = f->n_state;
    for (int k = 0; k < f->n_sets; k++) total += f->sets[k]->total;
    int64_t *order = malloc((size_t)f->n * sizeof *order);
    best_copy best = {NULL, 0};
    if (f->ops.eval) best.buf = malloc((size_t)(total + 1) * sizeof(float));
    if (!order || (f->ops.eval && !best.buf)) {
        free(order);
        free(best.buf);
        return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", f->what);
    }
    for (int64_t i = 0; i < f->n; i++) order[i] = i;
    mmf_status s = MMF_OK;
    double best_score = -INFINITY;
    int since = 0;
    int64_t global = 0;
    for (int ep = 0; ep < f->epochs && !s; ep++) {
        if (f->fresh_order)
            for (int64_t i = 0; i < f->n; i++) order[i] = i;
        mmf_rng_shuffle(f->rng, order, f->n);
        mmf_fit_report r = {.epoch = ep + 1, .epochs = f->epochs, .steps = steps};
        for (int64_t bi = 0; bi < steps && !s; bi++, global++) {
            int64_t i0 = bi * f->batch, B = f->n - i0 < f->batch ? f->n - i0 : f->batch;
            s = step(f, order + i0, B, ep, bi, global, &r, ph);
            r.step = bi + 1;
            if (!s && f->ops.progress) f->ops.progress(f->ctx, &r);
        }
        flush(f);   /* the epoch's last update, before eval reads the weights */
        if (s) break;
        double sc = 0.0, metrics[4] = {NAN, NAN, NAN, NAN};
        if (f->ops.eval && (s = f->ops.eval(f->ctx, ep + 1, &sc, metrics))) break;
        r.end = 1;
        r.metrics = f->ops.eval ? metrics : NULL;
        if (f->ops.progress) f->ops.progress(f->ctx, &r);
        if (!f->ops.eval) continue;
        if (sc > best_score) {
            best_score = sc;
            since = 0;
            snapshot(f, &best);
        } else if (f->patience > 0 && ++since >= f->patience) {
            break;
        }
    }
    flush(f);
    if (!s && best.have) restore(f, &best);
    free(best.buf);
    free(order);
    return s;
}
