/* Training the text tower (mmf_text_tower_train): the vocabulary is learned
 * from the training texts (text_vocab.c), then the BERT-layout encoder is
 * trained to classify the label field. */
#include "direct/text_vocab.h"
#include "direct/textnet.h"
#include "direct/tower.h"
#include "train/comm.h"
#include "core/error.h"
#include "text/text_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tset { int64_t n; int T; int32_t *ids; uint8_t *keep; int64_t *y; } tset;

static void tset_free(tset *t) { free(t->ids); free(t->keep); free(t->y); memset(t, 0, sizeof *t); }

/* token ids padded to T = max_length per record with a known label */
static mmf_status encode_set(const mmf_records *rs, const int64_t *cls, const mmf_tokenizer *tok, int T, tset *out) {
    memset(out, 0, sizeof *out);
    int64_t n = 0;
    for (size_t i = 0; i < rs->n; i++) n += cls[i] >= 0 && rs->r[i].text;
    if (!n) return mmf_fail(MMF_ERR_FORMAT, "%s: no record has both a text and a known label", rs->path);
    out->T = T;
    out->ids = calloc((size_t)n * T, sizeof(int32_t));
    out->keep = calloc((size_t)n * T, 1);
    out->y = malloc((size_t)n * sizeof(int64_t));
    if (!out->ids || !out->keep || !out->y) { tset_free(out); return mmf_fail(MMF_ERR_NOMEM, "out of memory"); }
    for (size_t i = 0; i < rs->n; i++) {
        if (cls[i] < 0 || !rs->r[i].text) continue;
        mmf_encoding e;
        mmf_status s = mmf_tokenizer_encode(tok, rs->r[i].text, NULL, 1, T, &e);
        if (s) { tset_free(out); return s; }
        for (int k = 0; k < e.n && k < T; k++) {
            out->ids[out->n * T + k] = e.ids[k];
            out->keep[out->n * T + k] = 1;
        }
        mmf_encoding_free(&e);
        out->y[out->n++] = cls[i];
    }
    return MMF_OK;
}

/* rows idx[lo..hi) gathered, padded to the longest of idx[0..B) (a data-parallel
 * slice pads as one process pads the whole batch: the same dropout masks) */
static int gather_rows(const tset *d, const int64_t *idx, int B, int lo, int hi, int32_t *ids, uint8_t *keep) {
    int T = 1;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < d->T; t++) if (d->keep[idx[b] * d->T + t] && t + 1 > T) T = t + 1;
    for (int b = lo; b < hi; b++)
        for (int t = 0; t < T; t++) {
            ids[(b - lo) * T + t] = d->ids[idx[b] * d->T + t];
            keep[(b - lo) * T + t] = d->keep[idx[b] * d->T + t];
        }
    return T;
}

static int gather(const tset *d, const int64_t *idx, int B, int32_t *ids, uint8_t *keep) { return gather_rows(d, idx, B, 0, B, ids, keep); }

/* the text tower's side of the fit loop (train/fit.h) */
typedef struct text_fit {
    mmf_tower_fit f;    /* first: params, correct count, tape, validation (tower.h) */
    textnet *m;
    const tset *dt, *dv;
    int32_t *ids;
    uint8_t *keep;
    int64_t *y;         /* the batch's labels */
    int T;              /* the batch's padded length */
    double val_acc;
} text_fit;

static mmf_status tf_gather(void *ctx, const int64_t *idx, int64_t B, int64_t lo, int64_t hi) {
    text_fit *c = ctx;
    c->T = gather_rows(c->dt, idx, (int)B, (int)lo, (int)hi, c->ids, c->keep);
    for (int64_t b = lo; b < hi; b++) c->y[b - lo] = c->dt->y[idx[b]];
    return MMF_OK;
}

static mmf_status tf_forward(void *ctx, mmf_tape *tp, const int64_t *idx, int64_t B, mmf_var *L) {
    text_fit *c = ctx;
    (void)idx;
    mmf_var lg = textnet_forward(tp, c->m, c->ids, c->keep, (int)B, c->T, NULL);
    *L = mmf_tower_loss(tp, lg, c->y, (int)B, c->m->cfg.n_classes, &c->f.correct);
    return MMF_OK;
}

static mmf_var tf_val_logits(void *ctx, const int64_t *idx, int B) {
    text_fit *c = ctx;
    int T = gather(c->dv, idx, B, c->ids, c->keep);
    return textnet_forward(c->f.tp, c->m, c->ids, c->keep, B, T, NULL);
}

mmf_status mmf_text_tower_train(const char *train_jsonl, const char *val_jsonl, const char *out_dir, const mmf_tower_params *pp) {
    mmf_tower_params p;
    MMF_TRY(mmf_tower_params_resolve(pp, 40, "text tower", &p));
    if (p.max_length < 4 || p.max_length > 4096) return mmf_fail(MMF_ERR_ARG, "text tower: max_length %d should be in [4, 4096]", p.max_length);
    if (!(p.dropout >= 0.0f && p.dropout < 1.0f)) return mmf_fail(MMF_ERR_ARG, "text tower: dropout %g should be in [0, 1)", p.dropout);
    /* one thread: the matrices are tiny (about 10 tokens x 128), so parallel
     * regions cost more than they save, badly so on a loaded machine */
    p.n_threads = 1;
    if (p.min_count < 1) p.min_count = 1;
    mmf_records tr = {0}, va = {0};
    const char **labels = NULL;
    int n_labels = 0;
    int64_t *cls = NULL, *vcls = NULL, vsize = 0, *idx = NULL;
    mmf_tokenizer *tok = NULL;
    tset dt = {0}, dv = {0};
    textnet m = {0};
    mmf_tape *tp = NULL;
    mmf_optim opt = {0};
    int32_t *bids = NULL;
    uint8_t *bkeep = NULL;
    mmf_status s = mmf_tower_records(train_jsonl, val_jsonl, p.label_field, out_dir, &tr, &va, &labels, &n_labels);
    const char **texts = NULL;
    if (!s && !(texts = malloc((tr.n + 1) * sizeof *texts))) s = mmf_fail(MMF_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !s && i < tr.n; i++) texts[i] = tr.r[i].text;
    /* data parallel: rank 0 writes the vocabulary, the others read it */
    s = mmf_text_vocab_learn_comm(p.comm, s, texts, tr.n, out_dir, p.max_length, p.min_count, &vsize, &tok);
    free(texts);
    if (!s) {
        cls = malloc(tr.n * sizeof *cls);
        vcls = malloc((va.n + 1) * sizeof *vcls);
        if (!cls || !vcls) s = mmf_fail(MMF_ERR_NOMEM, "out of memory");
    }
    if (!s) { mmf_records_class_ids(&tr, labels, n_labels, cls); s = encode_set(&tr, cls, tok, p.max_length, &dt); }
    if (!s && val_jsonl) {
        if (mmf_tower_val_ids(&va, val_jsonl, labels, n_labels, vcls) > 0) s = encode_set(&va, vcls, tok, p.max_length, &dv);
    }
    textnet_config cfg = {.vocab = (int)vsize, .hidden = p.dim, .layers = p.layers, .heads = p.heads, .ffn = 2 * p.dim,
                          .max_pos = p.max_length, .n_classes = n_labels, .eps = 1e-5f, .dropout = p.dropout};
    if (!s) s = textnet_init(&m, &cfg, p.seed);
    int bs = p.batch;
    int64_t steps = mmf_fit_steps_per_epoch(dt.n, bs, 1);
    if (!s) {
        mmf_optim_params op = mmf_tower_optim(&p, steps * p.epochs);
        s = mmf_optim_init(&opt, &m.ps, &op);
    }
    int64_t *ybuf = NULL;
    if (!s) {
        tp = mmf_tape_new(p.n_threads, p.seed);
        bids = malloc((size_t)bs * p.max_length * sizeof *bids);
        bkeep = malloc((size_t)bs * p.max_length);
        idx = malloc((size_t)bs * sizeof *idx);
        ybuf = malloc((size_t)bs * sizeof *ybuf);
        if (!tp || !bids || !bkeep || !idx || !ybuf) s = mmf_fail(MMF_ERR_NOMEM, "text tower: out of memory");
    }
    mmf_rng rng;
    mmf_rng_seed(&rng, p.seed ^ 0x7e47ULL);
    text_fit c = {.f = {.p = &p, .tp = tp, .n_val = dv.n, .y_val = dv.y, .n_classes = m.cfg.n_classes, .idx = idx,
                        .val_logits = tf_val_logits},
                  .m = &m, .dt = &dt, .dv = &dv, .ids = bids, .keep = bkeep, .y = ybuf};
    mmf_fit f = {.what = "text tower", .n = dt.n, .batch = bs, .epochs = p.epochs, .fresh_order = 1, .rng = &rng, .tp = tp,
                 .sets = {&m.ps}, .opts = {&opt}, .n_sets = 1,
                 .ops = {.gather_slice = tf_gather, .forward = tf_forward, .eval = dv.n ? mmf_tower_fit_eval : NULL, .progress = mmf_tower_fit_progress},
                 .ctx = &c, .comm = p.comm, .ckpt = &p.checkpoint,
                 .blobs = {{"correct", &c.f.correct, sizeof c.f.correct, 1}}, .n_blobs = 1};
    /* data parallel: every rank set up, or none trains; rank 0 writes the model */
    s = mmf_comm_agree(p.comm, s, "text tower");
    if (!s) s = mmf_fit_run(&f);
    if (!s && mmf_comm_leader(p.comm)) s = textnet_save(&m, out_dir, labels);
    s = mmf_comm_agree(p.comm, s, "text tower");
    free(bids); free(bkeep); free(idx); free(ybuf); free(cls); free(vcls); free(labels);
    mmf_tokenizer_free(tok);
    mmf_tape_free(tp);
    mmf_optim_free(&opt);
    tset_free(&dt); tset_free(&dv);
    textnet_free(&m);
    mmf_records_free(&tr); mmf_records_free(&va);
    return s;
}
