/* The operator registry and the helpers operators share: parameter declaration,
 * linear layers by name, learned absent embeddings. */
#include "fusion/fusion.h"
#include "core/error.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

extern const fz_op fz_op_concat, fz_op_mlp, fz_op_wsum, fz_op_attnsum, fz_op_late, fz_op_gmu,
    fz_op_transformer, fz_op_attngru, fz_op_bilinear, fz_op_compact, fz_op_mlb, fz_op_mfb, fz_op_tfn,
    fz_op_lmf, fz_op_centralnet, fz_op_bimodal_ae, fz_op_xmodal;

static const fz_op *const registry[] = {
    &fz_op_concat, &fz_op_mlp, &fz_op_wsum, &fz_op_attnsum, &fz_op_late, &fz_op_gmu, &fz_op_transformer,
    &fz_op_attngru, &fz_op_bilinear, &fz_op_compact, &fz_op_mlb, &fz_op_mfb, &fz_op_tfn, &fz_op_lmf,
    &fz_op_centralnet, &fz_op_bimodal_ae, &fz_op_xmodal,
};

int fz_count(void) { return (int)(sizeof registry / sizeof *registry); }
const fz_op *fz_at(int i) { return (i >= 0 && i < fz_count()) ? registry[i] : NULL; }
const fz_op *fz_find(const char *name) {
    for (int i = 0; i < fz_count(); i++)
        if (!strcmp(registry[i]->name, name)) return registry[i];
    return NULL;
}

int mmf_fusion_count(void) { return fz_count(); }
const char *mmf_fusion_name(int i) { return fz_at(i) ? fz_at(i)->name : NULL; }
const char *mmf_fusion_summary(int i) { return fz_at(i) ? fz_at(i)->summary : NULL; }
const char *mmf_fusion_cost(int i) { return fz_at(i) ? fz_at(i)->cost : NULL; }
const char *mmf_fusion_absent(int i) { return fz_at(i) ? fz_at(i)->absent : NULL; }

int fz_param(mmf_head *h, const char *name, int ndim, const int64_t *shape, mmf_init init, float scale) {
    return mmf_params_add(&h->ps, name, ndim, shape, init, scale);
}

mmf_status fz_linear_decl(mmf_head *h, const char *name, int64_t in, int64_t out, int bias) {
    char nm[MMF_PARAM_NAME];
    snprintf(nm, sizeof nm, "%s.w", name);
    if (fz_param(h, nm, 2, (int64_t[]){out, in}, MMF_INIT_LINEAR, 0) < 0) return MMF_ERR_ARG;
    if (bias) {
        snprintf(nm, sizeof nm, "%s.b", name);
        if (fz_param(h, nm, 1, (int64_t[]){out}, MMF_INIT_UNIFORM, 1.0f / sqrtf((float)in)) < 0) return MMF_ERR_ARG;
    }
    return MMF_OK;
}

mmf_status fz_linear_decl_each(mmf_head *h, const char *prefix, int64_t out, int bias) {
    mmf_status s = MMF_OK;
    for (int m = 0; m < h->cfg.M && !s; m++) {
        char nm[MMF_PARAM_NAME];
        snprintf(nm, sizeof nm, "%s.%s", prefix, h->cfg.names[m]);
        s = fz_linear_decl(h, nm, h->cfg.dims[m], out, bias);
    }
    return s;
}

mmf_var fz_p(fz_ctx *c, const char *name) {
    int i = mmf_params_find(&c->h->ps, name);
    if (i < 0) return mmf_tape_fail(c->tp, mmf_fail(MMF_ERR_NOT_FOUND, "fusion %s: no parameter \"%s\"", c->h->cfg.op, name));
    return mmf_t_param(c->tp, &c->h->ps, i);
}

mmf_var fz_lin(fz_ctx *c, const char *name, mmf_var x) {
    char nm[MMF_PARAM_NAME];
    snprintf(nm, sizeof nm, "%s.w", name);
    int wi = mmf_params_find(&c->h->ps, nm);
    if (wi < 0) return mmf_tape_fail(c->tp, mmf_fail(MMF_ERR_NOT_FOUND, "fusion %s: no parameter \"%s\"", c->h->cfg.op, nm));
    /* the linear layer applies a pending optimiser update to W itself, as it multiplies */
    mmf_var W = mmf_t_param_deferred(c->tp, &c->h->ps, wi);
    snprintf(nm, sizeof nm, "%s.b", name);
    mmf_var b = mmf_params_find(&c->h->ps, nm) >= 0 ? fz_p(c, nm) : -1;
    return mmf_t_linear(c->tp, x, W, b);
}

mmf_status fz_absent_decl(mmf_head *h) {
    for (int m = 0; m < h->cfg.M; m++) {
        char nm[MMF_PARAM_NAME];
        snprintf(nm, sizeof nm, "absent.%s", h->cfg.names[m]);
        if (fz_param(h, nm, 1, (int64_t[]){h->cfg.dims[m]}, MMF_INIT_ZERO, 0) < 0) return MMF_ERR_ARG;
    }
    return MMF_OK;
}

/* x_m where present, the learned absent embedding e_m elsewhere:
 * x + (1 - m) * e  (absent rows of x are zero). A batch where the modality is
 * present in every row skips the arithmetic: x + 0 * e is x, and e's gradient is 0. */
mmf_var fz_fill(fz_ctx *c, int m) {
    int all = 1;
    for (int64_t b = 0; b < c->B && all; b++) all = c->mask[b * c->h->cfg.M + m] != 0;
    if (all) return c->x[m];
    char nm[MMF_PARAM_NAME];
    snprintf(nm, sizeof nm, "absent.%s", c->h->cfg.names[m]);
    return mmf_t_add(c->tp, c->x[m], mmf_t_mul(c->tp, c->inv_m[m], fz_p(c, nm)));
}

mmf_var fz_concat_filled(fz_ctx *c) {
    mmf_var xs[FZ_MAXM];
    for (int m = 0; m < c->h->cfg.M; m++) xs[m] = fz_fill(c, m);
    return mmf_t_concat(c->tp, xs, c->h->cfg.M, 1);
}

int64_t fz_sum_dims(const mmf_head *h) {
    int64_t s = 0;
    for (int m = 0; m < h->cfg.M; m++) s += h->cfg.dims[m];
    return s;
}

mmf_status fz_fail_budget(const mmf_head *h, const char *what, int64_t n) {
    char dims[256] = "";
    for (int m = 0; m < h->cfg.M; m++) {
        char b[32];
        snprintf(b, sizeof b, "%s%lld", m ? " x " : "", (long long)h->cfg.dims[m]);
        strncat(dims, b, sizeof dims - strlen(dims) - 1);
    }
    return mmf_fail(MMF_ERR_NOMEM, "fusion %s: %s needs %lld weights (inputs %s, hidden %d), over the budget of %lld; "
                    "raise --budget or use compact_bilinear, mlb, mfb or lmf",
                    h->cfg.op, what, (long long)n, dims, h->cfg.hidden, (long long)h->cfg.budget);
}
