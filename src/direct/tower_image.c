/* Training the CNN image tower on labelled records (mmf_image_tower_train).
 * Images are decoded once and kept as the processor's uint8 geometry output
 * (S x S x 3); batches are normalised on the fly exactly as the saved
 * preprocessor_config.json does it, with an optional random shift (edge pixels
 * repeated) as the only augmentation. */
#include "direct/cnn.h"
#include "direct/tower.h"
#include "train/comm.h"
#include "core/error.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct img_set {
    int64_t n;
    int S;
    uint8_t *px;      /* n x S x S x 3 */
    int64_t *y;       /* n */
} img_set;

static void img_set_free(img_set *s) { free(s->px); free(s->y); memset(s, 0, sizeof *s); }

static mmf_status load_set(const mmf_records *rs, const int64_t *ids, const mmf_image_processor *proc, int S, img_set *out) {
    memset(out, 0, sizeof *out);
    int64_t n = 0;
    for (size_t i = 0; i < rs->n; i++) n += ids[i] >= 0 && rs->r[i].image;
    if (n == 0) return mmf_fail(MMF_ERR_FORMAT, "%s: no record has both an image and a known label", rs->path);
    out->S = S;
    out->px = malloc((size_t)n * S * S * 3);
    out->y = malloc((size_t)n * sizeof(int64_t));
    if (!out->px || !out->y) { img_set_free(out); return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory for %lld images", rs->path, (long long)n); }
    for (size_t i = 0; i < rs->n; i++) {
        if (ids[i] < 0 || !rs->r[i].image) continue;
        mmf_image im, g;
        mmf_status s = mmf_image_load(rs->r[i].image, NULL, &im);
        if (!s) {
            s = mmf_image_processor_geometry(proc, &im, &g);
            mmf_image_free(&im);
        }
        if (!s && (g.width != S || g.height != S)) {
            mmf_image_free(&g);
            s = mmf_fail(MMF_ERR_SHAPE, "%s: preprocessing gave %dx%d, expected %dx%d", rs->r[i].image, g.width, g.height, S, S);
        }
        if (s) { img_set_free(out); return s; }
        memcpy(out->px + (size_t)out->n * S * S * 3, g.rgb, (size_t)S * S * 3);
        out->y[out->n++] = ids[i];
        mmf_image_free(&g);
    }
    return MMF_OK;
}

/* the processor's rescale + normalise as a table (mean = std = 0.5) */
static void make_lut(float *lut) {
    for (int v = 0; v < 256; v++) {
        float x = (float)((double)v * (1.0 / 255.0));
        lut[v] = (x - 0.5f) / 0.5f;
    }
}

/* batch [B,3,S,S] from samples idx[0..B) shifted by (dy, dx) each */
static void fill_batch(const img_set *d, const int64_t *idx, int B, const float *lut, const int *shift, float *out) {
    int S = d->S;
    for (int b = 0; b < B; b++) {
        const uint8_t *px = d->px + (size_t)idx[b] * S * S * 3;
        int dy = shift ? shift[2 * b] : 0, dx = shift ? shift[2 * b + 1] : 0;
        for (int c = 0; c < 3; c++) {
            float *o = out + ((size_t)b * 3 + c) * S * S;
            for (int y = 0; y < S; y++) {
                int sy = y + dy;
                sy = sy < 0 ? 0 : sy >= S ? S - 1 : sy;
                for (int x = 0; x < S; x++) {
                    int sx = x + dx;
                    sx = sx < 0 ? 0 : sx >= S ? S - 1 : sx;
                    o[y * S + x] = lut[px[((size_t)sy * S + sx) * 3 + c]];
                }
            }
        }
    }
}

/* the image tower's side of the fit loop (train/fit.h) */
typedef struct image_fit {
    mmf_tower_fit f;    /* first: params, correct count, tape, validation (tower.h) */
    cnn_model *m;
    const img_set *dt, *dv;
    const float *lut;
    float *buf;         /* the batch [B, 3, S, S] */
    int *shift;         /* its random shifts (dy, dx) */
    int64_t *y;         /* its labels */
    int amax;           /* largest shift */
    mmf_rng *rng;
} image_fit;

/* shifts drawn for the whole batch (as one process draws them), samples lo..hi-1 filled */
static mmf_status if_gather(void *ctx, const int64_t *idx, int64_t B, int64_t lo, int64_t hi) {
    image_fit *c = ctx;
    for (int64_t b = 0; b < 2 * B; b++) c->shift[b] = c->amax ? (int)mmf_rng_below(c->rng, (uint32_t)(2 * c->amax + 1)) - c->amax : 0;
    fill_batch(c->dt, idx + lo, (int)(hi - lo), c->lut, c->shift + 2 * lo, c->buf);
    for (int64_t b = lo; b < hi; b++) c->y[b - lo] = c->dt->y[idx[b]];
    return MMF_OK;
}

static mmf_status if_forward(void *ctx, mmf_tape *tp, const int64_t *idx, int64_t B, mmf_var *L) {
    image_fit *c = ctx;
    int S = c->dt->S;
    (void)idx;
    mmf_var x = mmf_t_const(tp, c->buf, 4, (int64_t[]){B, 3, S, S});
    mmf_var lg = cnn_forward(tp, c->m, x, NULL);
    *L = mmf_tower_loss(tp, lg, c->y, (int)B, c->m->cfg.n_classes, &c->f.correct);
    return MMF_OK;
}

static mmf_var if_val_logits(void *ctx, const int64_t *idx, int B) {
    image_fit *c = ctx;
    int S = c->dv->S;
    fill_batch(c->dv, idx, B, c->lut, NULL, c->buf);
    mmf_var x = mmf_t_const(c->f.tp, c->buf, 4, (int64_t[]){B, 3, S, S});
    return cnn_forward(c->f.tp, c->m, x, NULL);
}

mmf_status mmf_image_tower_train(const char *train_jsonl, const char *val_jsonl, const char *out_dir, const mmf_tower_params *pp) {
    mmf_tower_params p;
    MMF_TRY(mmf_tower_params_resolve(pp, 10, "image tower", &p));
    if (p.image_size < 8 || p.image_size > 512) return mmf_fail(MMF_ERR_ARG, "image tower: image size %d should be in [8, 512]", p.image_size);
    if (p.dim < 8 || p.dim > 4096) return mmf_fail(MMF_ERR_ARG, "image tower: dim %d should be in [8, 4096]", p.dim);
    if (p.n_threads < 1) p.n_threads = 1;
    mmf_records tr = {0}, va = {0};
    const char **labels = NULL;
    int n_labels = 0;
    int64_t *ids = NULL, *vids = NULL, *vidx = NULL;
    img_set dt = {0}, dv = {0};
    cnn_model m = {0};
    mmf_tape *tp = NULL;
    mmf_optim opt = {0};
    mmf_image_processor *proc = NULL;
    float *buf = NULL;
    int64_t *ybuf = NULL;
    int *shift = NULL;
    mmf_status s = mmf_tower_records(train_jsonl, val_jsonl, p.label_field, out_dir, &tr, &va, &labels, &n_labels);
    cnn_config cfg = cnn_config_default(n_labels);
    cfg.image_size = p.image_size;
    cfg.channels[3] = p.dim;
    if (!s) s = cnn_init(&m, &cfg, p.seed);
    /* the processor the saved folder will carry: save first, load it back
     * (data parallel: rank 0 saves, the others wait for it) */
    if (!s && mmf_comm_leader(p.comm)) s = cnn_save(&m, out_dir, labels);
    s = mmf_comm_agree(p.comm, s, "image tower");
    if (!s) s = mmf_image_processor_load(out_dir, &proc);
    if (!s) {
        ids = malloc(tr.n * sizeof *ids);
        vids = malloc((va.n + 1) * sizeof *vids);
        if (!ids || !vids) s = mmf_fail(MMF_ERR_NOMEM, "out of memory");
    }
    if (!s) {
        mmf_records_class_ids(&tr, labels, n_labels, ids);
        s = load_set(&tr, ids, proc, p.image_size, &dt);
    }
    if (!s && val_jsonl) {
        if (mmf_tower_val_ids(&va, val_jsonl, labels, n_labels, vids) > 0) s = load_set(&va, vids, proc, p.image_size, &dv);
    }
    int S = p.image_size, bs = p.batch;
    /* a last batch of one is left out: batchnorm needs two samples */
    int64_t steps_per_epoch = mmf_fit_steps_per_epoch(dt.n, bs, 2);
    if (!s) {
        mmf_optim_params op = mmf_tower_optim(&p, steps_per_epoch * p.epochs);
        s = mmf_optim_init(&opt, &m.ps, &op);
    }
    if (!s) {
        tp = mmf_tape_new(p.n_threads, p.seed);
        buf = malloc((size_t)bs * 3 * S * S * sizeof(float));
        ybuf = malloc((size_t)bs * sizeof *ybuf);
        shift = malloc((size_t)bs * 2 * sizeof *shift);
        vidx = malloc((size_t)bs * sizeof *vidx);
        if (!tp || !buf || !ybuf || !shift || !vidx) s = mmf_fail(MMF_ERR_NOMEM, "image tower: out of memory");
    }
    float lut[256];
    make_lut(lut);
    mmf_rng rng;
    mmf_rng_seed(&rng, p.seed ^ 0x5eedULL);
    int64_t run_n = 0;
    for (int i = 0; i < cfg.n_stages; i++) run_n += 2 * cfg.channels[i];
    image_fit c = {.f = {.p = &p, .tp = tp, .n_val = dv.n, .y_val = dv.y, .n_classes = m.cfg.n_classes, .idx = vidx,
                         .val_logits = if_val_logits},
                   .m = &m, .dt = &dt, .dv = &dv, .lut = lut, .buf = buf, .shift = shift, .y = ybuf,
                   .amax = p.augment ? S / 16 : 0, .rng = &rng};
    /* the batchnorm running statistics go with the best weights */
    mmf_fit f = {.what = "image tower", .n = dt.n, .batch = bs, .min_batch = 2, .epochs = p.epochs, .fresh_order = 1, .rng = &rng,
                 .tp = tp, .sets = {&m.ps}, .opts = {&opt}, .n_sets = 1, .state = m.running, .n_state = run_n,
                 .ops = {.gather_slice = if_gather, .forward = if_forward, .eval = dv.n ? mmf_tower_fit_eval : NULL, .progress = mmf_tower_fit_progress},
                 .ctx = &c, .comm = p.comm, .ckpt = &p.checkpoint,
                 .blobs = {{"correct", &c.f.correct, sizeof c.f.correct, 1}}, .n_blobs = 1};
    /* data parallel: batchnorm's statistics are the whole batch's */
    if (tp) mmf_tape_set_comm(tp, p.comm);
    s = mmf_comm_agree(p.comm, s, "image tower");
    if (!s) s = mmf_fit_run(&f);
    if (!s && mmf_comm_leader(p.comm)) s = cnn_save(&m, out_dir, labels);
    s = mmf_comm_agree(p.comm, s, "image tower");
    free(buf); free(ybuf); free(shift); free(ids); free(vids); free(vidx); free(labels);
    mmf_tape_free(tp);
    mmf_optim_free(&opt);
    mmf_image_processor_free(proc);
    img_set_free(&dt); img_set_free(&dv);
    cnn_free(&m);
    mmf_records_free(&tr); mmf_records_free(&va);
    return s;
}
