/* Unsupervised training of the bimodal deep autoencoder (mmf_direct_train),
 * the operator itself being fusion/op_bimodal_ae.c so that the result is an
 * ordinary fusion head.
 *
 * 1. standardisation statistics of every modality from the present rows;
 * 2. autoencoder: each batch feeds, for single_fraction of the rows that have
 *    two or more modalities, one of them only (chosen uniformly), and asks for
 *    the reconstruction of every modality the row has (Ngiam et al.'s
 *    augmentation: the code must be inferable from either modality alone);
 * 3. with labels, a linear classifier (softmax) on the frozen code, written
 *    into the head's output layer "out". */
#include "fusion/head.h"
#include "fusion/bimodal_ae.h"
#include "core/error.h"
#include "train/comm.h"
#include "train/fit.h"
#include "train/optim.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mmf_direct_params mmf_direct_params_default(void) {
    mmf_direct_params p;
    memset(&p, 0, sizeof p);
    p.model = "bimodal-ae";
    p.hidden = 128;
    p.epochs = 40;
    p.batch = 64;
    p.lr = 2e-3f;
    p.weight_decay = 1e-4f;
    p.single_fraction = 2.0f / 3.0f;
    p.probe_epochs = 100;
    p.dropout = 0.1f;
    p.seed = 1;
    p.n_threads = 1;
    return p;
}

static float *param(mmf_head *h, const char *fmt, const char *name) {
    char nm[MMF_PARAM_NAME];
    snprintf(nm, sizeof nm, fmt, name);
    int i = mmf_params_find(&h->ps, nm);
    return i < 0 ? NULL : mmf_params_value(&h->ps, i);
}

static mmf_status set_stats(mmf_head *h, const mmf_embfile *f) {
    int64_t N = mmf_embfile_rows(f);
    int FM = mmf_embfile_n_modalities(f);
    const uint8_t *mk = mmf_embfile_mask(f);
    for (int m = 0; m < h->cfg.M; m++) {
        int64_t D = h->cfg.dims[m], n = 0;
        const float *x = mmf_embfile_data(f, m);
        float *mean = param(h, "f.norm.%s.mean", h->cfg.names[m]), *sd = param(h, "f.norm.%s.std", h->cfg.names[m]);
        double *acc = calloc((size_t)D * 2, sizeof(double));
        if (!acc || !mean || !sd) { free(acc); return mmf_fail(MMF_ERR_NOMEM, "bimodal-ae: out of memory"); }
        for (int64_t r = 0; r < N; r++) {
            if (!mk[r * FM + m]) continue;
            n++;
            for (int64_t j = 0; j < D; j++) acc[j] += x[r * D + j];
        }
        if (!n) { free(acc); return mmf_fail(MMF_ERR_FORMAT, "%s: modality \"%s\" is absent in every row", mmf_embfile_path(f), h->cfg.names[m]); }
        for (int64_t j = 0; j < D; j++) acc[j] /= (double)n;
        for (int64_t r = 0; r < N; r++) {
            if (!mk[r * FM + m]) continue;
            for (int64_t j = 0; j < D; j++) { double d = x[r * D + j] - acc[j]; acc[D + j] += d * d; }
        }
        /* one scale per modality (the mean feature variance) keeps rare features
         * (bag-of-words) from being blown up by a per-feature std */
        double v = 0.0;
        for (int64_t j = 0; j < D; j++) v += acc[D + j];
        v /= (double)(n * D);
        float s = (float)sqrt(v > 1e-12 ? v : 1e-12);
        for (int64_t j = 0; j < D; j++) { mean[j] = (float)acc[j]; sd[j] = s; }
        free(acc);
    }
    return MMF_OK;
}

/* batch: xs[m] rows (absent rows zero), data mask dm, input mask im */
typedef struct aebatch { float *x[FZ_MAXM]; uint8_t *dm, *im; float *mf; } aebatch;

static mmf_var ae_step_loss(mmf_head *h, mmf_tape *tp, int64_t B, aebatch *bb, const double *denom) {
    int M = h->cfg.M;
    fz_ctx ci = {.tp = tp, .h = h, .B = B, .mask = bb->im, .logits = -1, .aux_loss = -1};
    fz_ctx ct = {.tp = tp, .h = h, .B = B, .mask = bb->dm, .logits = -1, .aux_loss = -1};
    float *mf = mmf_tape_scratch(tp, (size_t)(B * M) * 2 * sizeof(float) + 64);
    if (!mf) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "bimodal-ae: out of memory"));
    for (int m = 0; m < M; m++) {
        float *pi = mf + (size_t)(2 * m) * B, *pd = pi + B;
        for (int64_t b = 0; b < B; b++) { pi[b] = bb->im[b * M + m] ? 1.0f : 0.0f; pd[b] = bb->dm[b * M + m] ? 1.0f : 0.0f; }
        ci.x[m] = ct.x[m] = mmf_t_const(tp, bb->x[m], 2, (int64_t[]){B, h->cfg.dims[m]});
        ci.m[m] = mmf_t_const(tp, pi, 2, (int64_t[]){B, 1});
        ct.m[m] = mmf_t_const(tp, pd, 2, (int64_t[]){B, 1});
    }
    mmf_var z[FZ_MAXM], target[FZ_MAXM];
    mmf_var code = fz_bimodal_ae_code(&ci, z);
    for (int m = 0; m < M; m++) target[m] = fz_bimodal_ae_input(&ct, m);
    return fz_bimodal_ae_recon_scaled(&ci, code, target, bb->dm, denom);
}

/* the linear probe's side of the fit loop (train/fit.h): rows of the frozen code */
typedef struct probe_fit {
    const mmf_direct_params *p;
    mmf_params *ps;
    int W, b;
    int64_t E, C;
    const float *code;
    const int64_t *y;
    float *bx;
    int64_t *by;
    const float *vcode;     /* validation codes and labels, NV rows (or none) */
    const int64_t *vy;
    int64_t NV;
} probe_fit;

static mmf_status pf_gather(void *ctx, const int64_t *idx, int64_t B) {
    probe_fit *c = ctx;
    for (int64_t k = 0; k < B; k++) {
        memcpy(c->bx + k * c->E, c->code + idx[k] * c->E, (size_t)c->E * sizeof(float));
        c->by[k] = c->y[idx[k]];
    }
    return MMF_OK;
}

static mmf_status pf_forward(void *ctx, mmf_tape *tp, const int64_t *idx, int64_t B, mmf_var *L) {
    probe_fit *c = ctx;
    (void)idx;
    mmf_var lg = mmf_t_linear(tp, mmf_t_const(tp, c->bx, 2, (int64_t[]){B, c->E}), mmf_t_param(tp, c->ps, c->W), mmf_t_param(tp, c->ps, c->b));
    *L = mmf_t_cross_entropy(tp, lg, c->by, 0.0f, NULL);
    return MMF_OK;
}

/* validation accuracy of the probe (every 10th epoch and the last: it is only reported) */
static double probe_accuracy(const probe_fit *c) {
    const float *w = mmf_params_value(c->ps, c->W), *bb = mmf_params_value(c->ps, c->b);
    int64_t ok = 0, E = c->E;
    for (int64_t i = 0; i < c->NV; i++) {
        int64_t best = 0;
        double bv = -INFINITY;
        for (int64_t k = 0; k < c->C; k++) {
            double v = bb[k];
            for (int64_t e = 0; e < E; e++) v += (double)w[k * E + e] * c->vcode[i * E + e];
            if (v > bv) { bv = v; best = k; }
        }
        ok += best == c->vy[i];
    }
    return (double)ok / (double)c->NV;
}

static void pf_progress(void *ctx, const mmf_fit_report *r) {
    probe_fit *c = ctx;
    if (!r->end || !c->p->progress) return;
    double vacc = c->NV && (r->epoch == r->epochs || r->epoch % 10 == 0) ? probe_accuracy(c) : -1.0;
    c->p->progress(c->p->progress_user, 1, r->epoch, r->epochs, mmf_fit_sample_loss(r), vacc);
}

static mmf_status fit_probe(mmf_head *h, const mmf_embfile *train, const mmf_embfile *val, const mmf_direct_params *p) {
    int64_t N = mmf_embfile_rows(train), E = h->emb_dim, C = h->cfg.n_out;
    const int64_t *y = mmf_embfile_labels(train);
    mmf_eval_params eo = mmf_eval_params_default();
    eo.n_threads = p->n_threads;
    float *code = malloc((size_t)(N * E + 1) * sizeof(float));
    float *vcode = NULL;
    int64_t NV = val && mmf_embfile_label_kind(val) == MMF_LABELS_CLASS ? mmf_embfile_rows(val) : 0;
    if (NV) vcode = malloc((size_t)(NV * E + 1) * sizeof(float));
    mmf_params ps;
    mmf_params_init(&ps);
    int W = mmf_params_add(&ps, "w", 2, (int64_t[]){C, E}, MMF_INIT_LINEAR, 0);
    int b = mmf_params_add(&ps, "b", 1, (int64_t[]){C}, MMF_INIT_ZERO, 0);
    mmf_rng r;
    mmf_rng_seed(&r, p->seed + 17);
    mmf_status s = (!code || (NV && !vcode) || W < 0 || b < 0) ? mmf_fail(MMF_ERR_NOMEM, "bimodal-ae: out of memory") : MMF_OK;
    if (!s) s = mmf_params_alloc(&ps, &r);
    if (!s) s = mmf_head_predict(h, train, &eo, code, NULL);
    if (!s && NV) s = mmf_head_predict(h, val, &eo, vcode, NULL);
    int64_t bs = 256, steps = mmf_fit_steps_per_epoch(N, bs, 1);
    mmf_optim opt = {0};
    mmf_optim_params op = mmf_optim_adamw_cosine(1e-2f, 1e-4f, 0.0f, p->n_threads, steps * p->probe_epochs, 1);
    if (!s) s = mmf_optim_init(&opt, &ps, &op);
    mmf_tape *tp = s ? NULL : mmf_tape_new(p->n_threads, p->seed);
    float *bx = malloc((size_t)(bs * E) * sizeof(float));
    int64_t by[256];
    if (!s && (!tp || !bx)) s = mmf_fail(MMF_ERR_NOMEM, "bimodal-ae: out of memory");
    mmf_rng_seed(&r, p->seed + 18);
    probe_fit c = {.p = p, .ps = &ps, .W = W, .b = b, .E = E, .C = C, .code = code, .y = y, .bx = bx, .by = by,
                   .vcode = vcode, .vy = NV ? mmf_embfile_labels(val) : NULL, .NV = NV};
    /* its own checkpoint beside the autoencoder's: a resume whose autoencoder
     * had finished starts this phase afresh when that file is not there yet */
    char *probe_path = NULL;
    if (p->checkpoint.path && !(probe_path = malloc(strlen(p->checkpoint.path) + 7))) s = mmf_fail(MMF_ERR_NOMEM, "bimodal-ae: out of memory");
    if (probe_path) sprintf(probe_path, "%s.probe", p->checkpoint.path);
    mmf_fit f = {.what = "bimodal-ae classifier", .n = N, .batch = bs, .epochs = p->probe_epochs, .fresh_order = 1, .rng = &r,
                 .tp = tp, .sets = {&ps}, .opts = {&opt}, .n_sets = 1, .ops = {pf_gather, pf_forward, NULL, pf_progress}, .ctx = &c,
                 .comm = p->comm, .ckpt = &p->checkpoint, .ckpt_path = probe_path, .ckpt_optional = 1};
    s = mmf_comm_agree(p->comm, s, "bimodal-ae classifier");
    if (!s) s = mmf_fit_run(&f);
    if (!s) {
        float *ow = param(h, "%s.w", "out"), *ob = param(h, "%s.b", "out");
        if (!ow || !ob) s = mmf_fail(MMF_ERR_ARG, "bimodal-ae: the head has no output layer");
        else {
            memcpy(ow, mmf_params_value(&ps, W), (size_t)(C * E) * sizeof(float));
            memcpy(ob, mmf_params_value(&ps, b), (size_t)C * sizeof(float));
        }
    }
    mmf_tape_free(tp);
    mmf_optim_free(&opt);
    mmf_params_free(&ps);
    free(code); free(vcode); free(bx); free(probe_path);
    return s;
}

/* The cross-modal transformer (fusion/op_xmodal.c) is trained end to end by
 * the fusion trainer: classification + the operator's InfoNCE alignment term. */
typedef struct xm_prog { const mmf_direct_params *p; } xm_prog;
static void xm_progress(void *user, int epoch, int epochs, int64_t batch, int64_t batches, double loss, const double *val) {
    const mmf_direct_params *p = ((xm_prog *)user)->p;
    (void)batch; (void)batches;
    if (val || batch == batches) p->progress(p->progress_user, 1, epoch, epochs, loss, val ? val[1] : -1.0);
}

static mmf_status train_xmodal(const mmf_embfile *train, const mmf_embfile *val, const mmf_direct_params *p, mmf_head **out) {
    if (mmf_embfile_label_kind(train) != MMF_LABELS_CLASS)
        return mmf_fail(MMF_ERR_FORMAT, "%s: xmodal trains for classification and needs class labels", mmf_embfile_path(train));
    mmf_train_params tp = mmf_train_params_default();
    tp.fusion = "xmodal";
    tp.hidden = p->hidden;
    tp.heads = 4;
    tp.layers = 1;
    tp.epochs = p->epochs;
    tp.batch = p->batch;
    tp.lr = p->lr;
    tp.weight_decay = p->weight_decay;
    tp.patience = 0;
    /* each modality dropped from a quarter of the rows (one always kept), so
     * that either stream alone still gives a usable embedding */
    for (int m = 0; m < mmf_embfile_n_modalities(train) && m < MMF_EMB_MAX_MODALITIES; m++) tp.modality_dropout[m] = 0.25f;
    tp.seed = p->seed;
    tp.n_threads = p->n_threads;
    tp.dropout = p->dropout;
    tp.checkpoint = p->checkpoint;
    xm_prog xp = {p};
    if (p->progress) { tp.progress = xm_progress; tp.progress_user = &xp; }
    return mmf_head_train_comm(train, val, &tp, p->comm, out);
}

/* the autoencoder's side of the fit loop (train/fit.h) */
typedef struct ae_fit {
    const mmf_direct_params *p;
    mmf_head *h;
    const mmf_embfile *train;
    aebatch *bb;
    mmf_rng *rng;
    int sliced;                 /* data parallel: this step's batch is a slice, normalised by denom */
    double denom[FZ_MAXM];
} ae_fit;

/* rows idx[0..B): every present modality is a target; single_fraction of the
 * rows with two or more feed one of them only (chosen uniformly). The draws
 * are made for the whole batch, rows lo..hi-1 filled (train/fit.h), and a
 * slice's losses are normalised by the whole batch's target counts. */
static mmf_status ae_gather(void *ctx, const int64_t *idx, int64_t B, int64_t lo, int64_t hi) {
    ae_fit *c = ctx;
    int M = c->h->cfg.M;
    const int64_t *dims = c->h->cfg.dims;
    const uint8_t *fmask = mmf_embfile_mask(c->train);
    aebatch *bb = c->bb;
    int64_t count[FZ_MAXM] = {0};
    for (int64_t b = 0; b < B; b++) {
        int64_t row = idx[b], k = b - lo;
        int mine = b >= lo && b < hi, present[FZ_MAXM], np = 0;
        for (int m = 0; m < M; m++) {
            if (fmask[row * M + m]) present[np++] = m;
            count[m] += fmask[row * M + m] != 0;
            if (!mine) continue;
            bb->dm[k * M + m] = fmask[row * M + m];
            memcpy(bb->x[m] + k * dims[m], mmf_embfile_data(c->train, m) + row * dims[m], (size_t)dims[m] * sizeof(float));
        }
        int keep_one = np >= 2 && mmf_rng_uniform(c->rng) < c->p->single_fraction ? present[mmf_rng_below(c->rng, (uint32_t)np)] : -1;
        if (mine)
            for (int m = 0; m < M; m++) bb->im[k * M + m] = bb->dm[k * M + m] && (keep_one < 0 || keep_one == m);
    }
    c->sliced = hi - lo < B;
    for (int m = 0; m < M; m++) c->denom[m] = (double)count[m] * (double)dims[m] * (double)(hi - lo) / (double)B;
    return MMF_OK;
}

/* a batch with nothing to reconstruct gives no loss (-1) and is skipped */
static mmf_status ae_forward(void *ctx, mmf_tape *tp, const int64_t *idx, int64_t B, mmf_var *L) {
    ae_fit *c = ctx;
    (void)idx;
    *L = ae_step_loss(c->h, tp, B, c->bb, c->sliced ? c->denom : NULL);
    return MMF_OK;
}

static void ae_progress(void *ctx, const mmf_fit_report *r) {
    const mmf_direct_params *p = ((ae_fit *)ctx)->p;
    if (r->end && p->progress) p->progress(p->progress_user, 0, r->epoch, r->epochs, mmf_fit_loss(r), -1.0);
}

mmf_status mmf_direct_train(const mmf_embfile *train, const mmf_embfile *val, const mmf_direct_params *pp, mmf_head **out) {
    *out = NULL;
    mmf_direct_params p = pp ? *pp : mmf_direct_params_default();
    if (!p.model) p.model = "bimodal-ae";
    if (!strcmp(p.model, "xmodal")) return train_xmodal(train, val, &p, out);
    if (strcmp(p.model, "bimodal-ae"))
        return mmf_fail(MMF_ERR_UNSUPPORTED, "direct model \"%s\": expected bimodal-ae or xmodal", p.model);
    if (p.batch < 2 || p.epochs < 1 || p.hidden < 2 || !(p.lr > 0) || p.single_fraction < 0 || p.single_fraction > 1)
        return mmf_fail(MMF_ERR_ARG, "bimodal-ae: batch %d, epochs %d, hidden %d, lr %g or single_fraction %g out of range", p.batch,
                        p.epochs, p.hidden, p.lr, p.single_fraction);
    if (p.n_threads < 1) p.n_threads = 1;
    int M = mmf_embfile_n_modalities(train);
    if (M < 2 || M > FZ_MAXM)
        return mmf_fail(MMF_ERR_FORMAT, "%s: %d modalities; the bimodal autoencoder needs 2..%d", mmf_embfile_path(train), M, FZ_MAXM);
    int labelled = mmf_embfile_label_kind(train) == MMF_LABELS_CLASS && mmf_embfile_n_classes(train) >= 2;
    fz_config cfg;
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.op, sizeof cfg.op, "bimodal-ae");
    cfg.task = MMF_TASK_CLASSIFY;
    cfg.M = M;
    for (int m = 0; m < M; m++) {
        snprintf(cfg.names[m], sizeof cfg.names[m], "%s", mmf_embfile_modality(train, m));
        cfg.dims[m] = mmf_embfile_dim(train, m);
    }
    cfg.n_out = labelled ? mmf_embfile_n_classes(train) : 2;
    cfg.hidden = p.hidden;
    cfg.heads = 4; cfg.layers = 1; cfg.rank = 4; cfg.proj = 16; cfg.sketch = 1024; cfg.budget = 1 << 24;
    cfg.seed = p.seed;
    mmf_head *h;
    mmf_status s = fz_head_new(&cfg, &h);
    if (s) return s;
    s = set_stats(h, train);
    int64_t N = mmf_embfile_rows(train), bs = p.batch;
    aebatch bb = {0};
    for (int m = 0; m < M && !s; m++)
        if (!(bb.x[m] = malloc((size_t)(bs * cfg.dims[m]) * sizeof(float)))) s = mmf_fail(MMF_ERR_NOMEM, "bimodal-ae: out of memory");
    bb.dm = malloc((size_t)(bs * M));
    bb.im = malloc((size_t)(bs * M));
    if (!s && (!bb.dm || !bb.im)) s = mmf_fail(MMF_ERR_NOMEM, "bimodal-ae: out of memory");
    mmf_optim opt = {0};
    int64_t total = mmf_fit_steps_per_epoch(N, bs, 1) * p.epochs;
    mmf_optim_params op = mmf_optim_adamw_cosine(p.lr, p.weight_decay, 5.0f, p.n_threads, total, total / 20 > 0 ? total / 20 : 1);
    if (!s) s = mmf_optim_init(&opt, &h->ps, &op);
    mmf_tape *tp = s ? NULL : mmf_tape_new(p.n_threads, p.seed);
    if (!s && !tp) s = mmf_fail(MMF_ERR_NOMEM, "bimodal-ae: out of memory");
    mmf_rng r;
    mmf_rng_seed(&r, p.seed + 3);
    ae_fit c = {.p = &p, .h = h, .train = train, .bb = &bb, .rng = &r};
    mmf_fit f = {.what = "bimodal-ae", .n = N, .batch = bs, .epochs = p.epochs, .fresh_order = 1, .rng = &r, .tp = tp,
                 .sets = {&h->ps}, .opts = {&opt}, .n_sets = 1,
                 .ops = {.gather_slice = ae_gather, .forward = ae_forward, .progress = ae_progress}, .ctx = &c, .comm = p.comm,
                 .ckpt = &p.checkpoint};
    s = mmf_comm_agree(p.comm, s, "bimodal-ae");
    if (!s) s = mmf_fit_run(&f);
    if (!s && labelled && p.probe_epochs > 0) s = fit_probe(h, train, val, &p);
    s = mmf_comm_agree(p.comm, s, "bimodal-ae");
    for (int m = 0; m < M; m++) free(bb.x[m]);
    free(bb.dm); free(bb.im);
    mmf_tape_free(tp);
    mmf_optim_free(&opt);
    if (s) { mmf_head_free(h); return s; }
    *out = h;
    return MMF_OK;
}
