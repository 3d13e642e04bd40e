#include "train/gradcheck.h"
#include "core/error.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GC_SEED 1234

/* A fresh tape in the same state for every evaluation (same dropout draws):
 * the inputs as leaves, or constants where they take no gradient. */
static void start(mmf_tape *tp, mmf_gc_input *in, int n_in, int training, mmf_var *v) {
    mmf_tape_reset(tp);
    mmf_rng_seed(mmf_tape_rng(tp), GC_SEED);
    mmf_tape_set_training(tp, training);
    for (int i = 0; i < n_in; i++)
        v[i] = in[i].no_grad ? mmf_t_const(tp, in[i].data, in[i].ndim, in[i].shape)
                             : mmf_t_leaf(tp, in[i].data, in[i].ndim, in[i].shape);
}

/* Build once; return sum(out * R) in double (R made on first use). */
static mmf_status eval(mmf_tape *tp, mmf_gc_build build, void *user, mmf_gc_input *in, int n_in,
                       int training, float **R, int64_t *rn, double *loss) {
    mmf_var v[MMF_NODE_MAXIN];
    start(tp, in, n_in, training, v);
    mmf_var out = build(tp, v, user);
    mmf_status s = mmf_tape_status(tp);
    if (s) return s;
    mmf_tvar *o = mmf_tape_var(tp, out);
    if (!o) return mmf_fail(MMF_ERR_ARG, "gradcheck: build returned no variable");
    if (!*R) {
        mmf_rng r;
        mmf_rng_seed(&r, 99);
        *rn = o->n;
        *R = malloc((size_t)o->n * sizeof(float) + 4);
        for (int64_t i = 0; i < o->n; i++) (*R)[i] = mmf_rng_normal(&r);
    }
    if (o->n != *rn) return mmf_fail(MMF_ERR_SHAPE, "gradcheck: output size changed");
    double L = 0.0;
    for (int64_t i = 0; i < o->n; i++) L += (double)o->v[i] * (*R)[i];
    *loss = L;
    return MMF_OK;
}

/* Weighted-sum wrapper so the backward seed is R. */
typedef struct wrap { mmf_gc_build build; void *user; const float *R; int64_t rn; } wrap;
static mmf_var weighted(mmf_tape *tp, const mmf_var *in, void *u) {
    wrap *w = u;
    mmf_var o = w->build(tp, in, w->user);
    mmf_tvar *t = mmf_tape_var(tp, o);
    if (!t) return -1;
    mmf_var r = mmf_t_const(tp, w->R, t->ndim, t->shape);
    return mmf_t_sum_all(tp, mmf_t_mul(tp, o, r));
}

mmf_status mmf_gradcheck(mmf_gc_build build, void *user, mmf_gc_input *in, int n_in, float eps,
                         double atol, double rtol, int training, mmf_gc_result *res) {
    memset(res, 0, sizeof *res);
    if (n_in < 1 || n_in > MMF_NODE_MAXIN) return mmf_fail(MMF_ERR_ARG, "gradcheck: 1..%d inputs", MMF_NODE_MAXIN);
    mmf_tape *tp = mmf_tape_new(1, GC_SEED);
    if (!tp) return MMF_ERR_NOMEM;
    float *R = NULL;
    int64_t rn = 0;
    double L;
    mmf_status s = eval(tp, build, user, in, n_in, training, &R, &rn, &L);
    if (s) { free(R); mmf_tape_free(tp); return s; }
    wrap w = {build, user, R, rn};
    /* analytic gradients of sum(out * R) */
    mmf_var v[MMF_NODE_MAXIN];
    start(tp, in, n_in, training, v);
    mmf_var loss = weighted(tp, v, &w);
    s = mmf_tape_status(tp);
    if (!s) s = mmf_tape_backward(tp, loss);
    float *grads[MMF_NODE_MAXIN] = {0};
    for (int i = 0; i < n_in && !s; i++) {
        if (in[i].no_grad) continue;
        mmf_tvar *t = mmf_tape_var(tp, v[i]);
        grads[i] = malloc((size_t)t->n * sizeof(float) + 4);
        memcpy(grads[i], t->g, (size_t)t->n * sizeof(float));
    }
    /* numeric */
    wrap *wp = &w;
    for (int i = 0; i < n_in && !s; i++) {
        if (in[i].no_grad) continue;
        int64_t n = 1;
        for (int d = 0; d < in[i].ndim; d++) n *= in[i].shape[d];
        for (int64_t j = 0; j < n && !s; j++) {
            float keep = in[i].data[j];
            double lp, lm;
            in[i].data[j] = keep + eps;
            s = eval(tp, build, user, in, n_in, training, (float **)&wp->R, &rn, &lp);
            in[i].data[j] = keep - eps;
            if (!s) s = eval(tp, build, user, in, n_in, training, (float **)&wp->R, &rn, &lm);
            in[i].data[j] = keep;
            double num = (lp - lm) / (2.0 * (double)eps), an = grads[i][j];
            double e = fabs(an - num) / (atol + rtol * fabs(num));
            res->checked++;
            if (e > res->worst || isnan(e)) {
                res->worst = isnan(e) ? INFINITY : e;
                res->worst_input = i;
                res->worst_index = j;
                res->analytic = an;
                res->numeric = num;
            }
        }
    }
    for (int i = 0; i < n_in; i++) free(grads[i]);
    free(R);
    mmf_tape_free(tp);
    return s;
}
