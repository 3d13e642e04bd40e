/* Captioner training (teacher forcing, AdamW, modality dropout, early stopping on
 * the validation loss), teacher-forced evaluation and generation over files. */
#include "tasks/caption_model.h"
#include "tasks/rows_gather.h"
#include "core/error.h"
#include "train/fit.h"
#include "train/optim.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ data */

typedef struct capdata {
    const mmf_embfile *f;
    int col[FZ_MAXM];       /* file column of captioner modality m, or -1 */
    int64_t n;              /* samples: (row, caption) pairs */
    int64_t *row;
    int32_t *ids;           /* n * max_len word ids */
    int *len;
} capdata;

static void capdata_free(capdata *d) { free(d->row); free(d->ids); free(d->len); }

/* Match the captioner's modalities to a file by name; dimensions must agree. */
static mmf_status bind_cols(const mmf_captioner *c, const mmf_embfile *f, int *col) {
    int found = 0;
    for (int m = 0; m < c->cfg.M; m++) {
        col[m] = mmf_embfile_find(f, c->cfg.names[m]);
        if (col[m] < 0) continue;
        found++;
        if (mmf_embfile_dim(f, col[m]) != c->cfg.dims[m])
            return mmf_fail(MMF_ERR_SHAPE, "%s: modality \"%s\" has dimension %lld, the captioner was trained with %lld",
                            mmf_embfile_path(f), c->cfg.names[m], (long long)mmf_embfile_dim(f, col[m]),
                            (long long)c->cfg.dims[m]);
    }
    if (!found) {
        char names[600] = "";
        for (int m = 0; m < c->cfg.M; m++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", m ? ", " : "", c->cfg.names[m]);
        return mmf_fail(MMF_ERR_SHAPE, "%s: none of the captioner's modalities (%s) is in the file", mmf_embfile_path(f), names);
    }
    return MMF_OK;
}

static mmf_status capdata_init(const mmf_captioner *c, const mmf_embfile *f, const char *const *caps,
                               const size_t *off, capdata *d) {
    memset(d, 0, sizeof *d);
    d->f = f;
    mmf_status s = bind_cols(c, f, d->col);
    if (s) return s;
    int64_t N = mmf_embfile_rows(f), n = (int64_t)(off[N] - off[0]), L = c->cfg.max_len;
    for (int64_t i = 0; i < N; i++)
        if (off[i + 1] < off[i]) return mmf_fail(MMF_ERR_ARG, "%s: caption offsets decrease at row %lld", mmf_embfile_path(f), (long long)i);
    d->row = malloc((size_t)(n ? n : 1) * sizeof *d->row);
    d->ids = malloc((size_t)(n ? n : 1) * (size_t)L * sizeof *d->ids);
    d->len = malloc((size_t)(n ? n : 1) * sizeof *d->len);
    if (!d->row || !d->ids || !d->len) { capdata_free(d); return mmf_fail(MMF_ERR_NOMEM, "captioner: out of memory for %lld captions", (long long)n); }
    int64_t k = 0;
    for (int64_t i = 0; i < N; i++)
        for (size_t j = off[i]; j < off[i + 1]; j++) {
            int len;
            cap_encode(c->vocab, caps[j], d->ids + k * L, (int)L, &len, NULL);
            d->row[k] = i;
            d->len[k] = len;
            k++;
        }
    d->n = k;
    return MMF_OK;
}

typedef struct batchmem {
    cap_batch b;
    int64_t *rows;
    int64_t cap_B, cap_T;
} batchmem;

static void bm_free(batchmem *m) {
    for (int i = 0; i < FZ_MAXM; i++) free(m->b.x[i]);
    free(m->b.mask); free(m->b.in); free(m->b.tgt); free(m->b.w); free(m->rows);
}

static mmf_status bm_init(batchmem *m, const mmf_captioner *c, int64_t B) {
    memset(m, 0, sizeof *m);
    int64_t T = c->cfg.max_len + 1;
    m->cap_B = B;
    m->cap_T = T;
    int ok = 1;
    for (int i = 0; i < c->cfg.M; i++) ok &= (m->b.x[i] = malloc((size_t)(B * c->cfg.dims[i]) * sizeof(float))) != NULL;
    ok &= (m->b.mask = malloc((size_t)(B * c->cfg.M))) != NULL;
    ok &= (m->b.in = malloc((size_t)(B * T) * sizeof(int32_t))) != NULL;
    ok &= (m->b.tgt = malloc((size_t)(B * T) * sizeof(int64_t))) != NULL;
    ok &= (m->b.w = malloc((size_t)(B * T) * sizeof(float))) != NULL;
    ok &= (m->rows = malloc((size_t)B * sizeof(int64_t))) != NULL;
    if (!ok) {
        bm_free(m);
        memset(m, 0, sizeof *m);
        return mmf_fail(MMF_ERR_NOMEM, "captioner: out of memory for a batch of %lld", (long long)B);
    }
    return MMF_OK;
}

/* Samples idx[0..B) into a teacher-forced batch. */
static void fill_batch(const mmf_captioner *c, const capdata *d, const int64_t *idx, int64_t B, batchmem *bm,
                       const float *mod_drop, mmf_rng *rng) {
    cap_batch *bt = &bm->b;
    int64_t *rp = bm->rows;
    int maxlen = 0;
    for (int64_t b = 0; b < B; b++) {
        rp[b] = d->row[idx[b]];
        if (d->len[idx[b]] > maxlen) maxlen = d->len[idx[b]];
    }
    mmf_rows_gather(d->f, d->col, c->cfg.M, c->cfg.dims, rp, B, -1, mod_drop, rng, bt->x, bt->mask);
    int64_t T = maxlen + 1, L = c->cfg.max_len;
    bt->B = B;
    bt->T = T;
    for (int64_t b = 0; b < B; b++) {
        const int32_t *w = d->ids + idx[b] * L;
        int n = d->len[idx[b]];
        for (int64_t t = 0; t < T; t++) {
            int64_t q = t * B + b;
            bt->in[q] = t == 0 ? CAP_BOS : (t <= n ? w[t - 1] : CAP_EOS);
            bt->tgt[q] = t < n ? w[t] : CAP_EOS;
            bt->w[q] = t <= n ? 1.0f : 0.0f;
        }
    }
}

/* Mean teacher-forced loss per word over all samples (no dropout). */
static mmf_status eval_loss(mmf_captioner *c, mmf_tape *tp, const capdata *d, batchmem *bm, double *loss) {
    double sum = 0.0, words = 0.0;
    int64_t *idx = malloc((size_t)(bm->cap_B) * sizeof *idx);
    if (!idx) return mmf_fail(MMF_ERR_NOMEM, "captioner: out of memory");
    mmf_status s = MMF_OK;
    for (int64_t i0 = 0; i0 < d->n && !s; i0 += bm->cap_B) {
        int64_t B = d->n - i0 < bm->cap_B ? d->n - i0 : bm->cap_B;
        for (int64_t b = 0; b < B; b++) idx[b] = i0 + b;
        fill_batch(c, d, idx, B, bm, NULL, NULL);
        mmf_tape_reset(tp);
        mmf_tape_set_training(tp, 0);
        mmf_var L = cap_forward_loss(c, tp, &bm->b);
        s = mmf_tape_status(tp);
        if (s) break;
        double nw = 0.0;
        for (int64_t q = 0; q < bm->b.T * B; q++) nw += bm->b.w[q];
        sum += mmf_tape_var(tp, L)->v[0] * nw;
        words += nw;
    }
    free(idx);
    *loss = words > 0 ? sum / words : NAN;
    return s;
}

/* the captioner's side of the fit loop (train/fit.h): samples are (row, caption) pairs */
typedef struct cap_fit {
    mmf_captioner *c;
    const mmf_caption_train_params *p;
    const capdata *dt, *dv;
    batchmem bm;
    mmf_rng *rng;
    int any_drop;
    mmf_tape *tp;   /* validation reuses the training tape */
} cap_fit;

static mmf_status cf_gather(void *ctx, const int64_t *idx, int64_t B) {
    cap_fit *f = ctx;
    fill_batch(f->c, f->dt, idx, B, &f->bm, f->any_drop ? f->p->modality_dropout : NULL, f->any_drop ? f->rng : NULL);
    return MMF_OK;
}

static mmf_status cf_forward(void *ctx, mmf_tape *tp, const int64_t *idx, int64_t B, mmf_var *L) {
    cap_fit *f = ctx;
    (void)idx; (void)B;
    *L = cap_forward_loss(f->c, tp, &f->bm.b);
    return MMF_OK;
}

/* the lowest teacher-forced validation loss wins */
static mmf_status cf_eval(void *ctx, int epoch, double *score, double *metrics) {
    cap_fit *f = ctx;
    (void)epoch;
    mmf_status s = eval_loss(f->c, f->tp, f->dv, &f->bm, &metrics[0]);
    *score = isfinite(metrics[0]) ? -metrics[0] : -INFINITY;
    return s;
}

static void cf_progress(void *ctx, const mmf_fit_report *r) {
    const mmf_caption_train_params *p = ((cap_fit *)ctx)->p;
    if (p->progress && r->end) p->progress(p->progress_user, r->epoch, r->epochs, mmf_fit_loss(r), r->metrics ? r->metrics[0] : NAN);
}

/* ------------------------------------------------------------ training */

mmf_status mmf_captioner_train(const mmf_embfile *train, const char *const *caps, const size_t *cap_off,
                               const mmf_embfile *val, const char *const *val_caps, const size_t *val_off,
                               const mmf_caption_train_params *p, mmf_captioner **out) {
    *out = NULL;
    const char *tpath = mmf_embfile_path(train);
    int M = mmf_embfile_n_modalities(train);
    int64_t N = mmf_embfile_rows(train);
    if (p->epochs < 1 || p->batch < 1 || !(p->lr > 0.0f) || p->dropout < 0.0f || p->dropout >= 1.0f || p->n_threads < 1 ||
        p->patience < 0)
        return mmf_fail(MMF_ERR_ARG, "caption train: epochs %d, batch %d, lr %g, dropout %g, patience %d or threads %d out of range",
                        p->epochs, p->batch, p->lr, p->dropout, p->patience, p->n_threads);
    for (int m = 0; m < M; m++)
        if (p->modality_dropout[m] < 0.0f || p->modality_dropout[m] >= 1.0f)
            return mmf_fail(MMF_ERR_ARG, "caption train: modality dropout %g for \"%s\" outside [0, 1)", p->modality_dropout[m],
                            mmf_embfile_modality(train, m));
    if (cap_off[N] == cap_off[0]) return mmf_fail(MMF_ERR_ARG, "%s: no training captions", tpath);
    if (val && !val_off) return mmf_fail(MMF_ERR_ARG, "caption train: validation data without captions");

    mmf_caption_vocab *vocab;
    mmf_status s = mmf_caption_vocab_build(caps + cap_off[0], cap_off[N] - cap_off[0], p->min_count, p->max_words, &vocab);
    if (s) return s;
    cap_cfg k;
    memset(&k, 0, sizeof k);
    k.cell = p->cell;
    k.inject = p->inject;
    k.hidden = p->hidden;
    k.embed = p->embed;
    k.max_len = p->max_len;
    k.dropout = p->dropout;
    k.seed = p->seed;
    k.M = M;
    for (int m = 0; m < M; m++) {
        snprintf(k.names[m], sizeof k.names[m], "%s", mmf_embfile_modality(train, m));
        k.dims[m] = mmf_embfile_dim(train, m);
    }
    /* the fusion operator: the zoo's defaults, with the operator and size asked for;
     * its dropout is 0: the decoder drops out z itself (--dropout) */
    mmf_train_params fd = mmf_train_params_default();
    fd.hidden = p->fusion_hidden;
    fd.dropout = 0.0f;
    fd.seed = p->seed;
    fz_config fz;
    memset(&fz, 0, sizeof fz);
    snprintf(fz.op, sizeof fz.op, "%s", p->fusion ? p->fusion : "concat");
    fz.task = MMF_TASK_MULTILABEL;   /* the head's output layer (1 unit) is unused: only its embedding is */
    fz.M = M;
    memcpy(fz.names, k.names, sizeof fz.names);
    memcpy(fz.dims, k.dims, sizeof fz.dims);
    fz.n_out = 1;
    fz_config_sizes(&fz, &fd);
    mmf_captioner *c;
    s = cap_build(&k, &fz, vocab, &c);
    if (s) return s;

    capdata dt = {0}, dv = {0};
    s = capdata_init(c, train, caps, cap_off, &dt);
    if (!s && val) s = capdata_init(c, val, val_caps, val_off, &dv);
    int64_t bs = p->batch < dt.n ? p->batch : dt.n;
    mmf_optim od = {0}, of = {0};
    int64_t total = mmf_fit_steps_per_epoch(dt.n, bs, 1) * p->epochs;
    mmf_optim_params op = mmf_optim_adamw_cosine(p->lr, p->weight_decay, p->clip_norm, p->n_threads, total, total / 20);
    if (!s) s = mmf_optim_init(&od, &c->ps, &op);
    if (!s && c->fusion) s = mmf_optim_init(&of, &c->fusion->ps, &op);
    mmf_rng rng;
    mmf_rng_seed(&rng, p->seed ^ 0xDA7Aull);
    cap_fit cf = {.c = c, .p = p, .dt = &dt, .dv = &dv, .rng = &rng};
    for (int m = 0; m < M; m++) cf.any_drop |= p->modality_dropout[m] > 0.0f;
    if (!s) s = bm_init(&cf.bm, c, bs);
    mmf_tape *tp = mmf_tape_new(p->n_threads, p->seed ^ 0x7A9Eull);
    cf.tp = tp;
    if (!s && !tp) s = mmf_fail(MMF_ERR_NOMEM, "caption train: out of memory");
    mmf_fit f = {.what = "caption train", .n = dt.n, .batch = bs, .epochs = p->epochs, .patience = p->patience, .rng = &rng,
                 .tp = tp, .sets = {&c->ps, c->fusion ? &c->fusion->ps : NULL}, .opts = {&od, &of}, .n_sets = c->fusion ? 2 : 1,
                 .ops = {cf_gather, cf_forward, val ? cf_eval : NULL, cf_progress}, .ctx = &cf, .ckpt = &p->checkpoint};
    if (!s) s = mmf_fit_run(&f);
    mmf_tape_free(tp);
    bm_free(&cf.bm);
    mmf_optim_free(&od);
    if (c->fusion) mmf_optim_free(&of);
    capdata_free(&dt);
    capdata_free(&dv);
    if (s) { mmf_captioner_free(c); return s; }
    *out = c;
    return MMF_OK;
}

mmf_status mmf_captioner_loss(mmf_captioner *c, const mmf_embfile *f, const char *const *caps, const size_t *cap_off,
                              int n_threads, double *loss) {
    capdata d;
    mmf_status s = capdata_init(c, f, caps, cap_off, &d);
    if (s) return s;
    batchmem bm = {0};
    s = bm_init(&bm, c, 256);
    mmf_tape *tp = s ? NULL : mmf_tape_new(n_threads < 1 ? 1 : n_threads, 1);
    if (!s && !tp) s = mmf_fail(MMF_ERR_NOMEM, "captioner: out of memory");
    if (!s) s = eval_loss(c, tp, &d, &bm, loss);
    mmf_tape_free(tp);
    bm_free(&bm);
    capdata_free(&d);
    return s;
}

/* ------------------------------------------------------------ generation */

static mmf_status encode_prefix(const mmf_captioner *c, const char *prefix, int32_t *ids, int *n) {
    *n = 0;
    if (!prefix || !*prefix) return MMF_OK;
    int unk = 0;
    cap_encode(c->vocab, prefix, ids, CAP_MAX_LEN, n, &unk);
    if (unk) {
        /* name the words the caller asked for */
        char list[512] = "", buf[CAP_MAX_WORD + 1];
        const char *p = prefix;
        size_t len;
        while ((len = cap_next_word(&p, buf)) > 0)
            if (mmf_vocab_get(&c->vocab->map, buf, len) < 0 && strlen(list) + len + 4 < sizeof list)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\"", list[0] ? ", " : "", buf);
        /* a caption cannot honestly start with a word the decoder never learned */
        return mmf_fail(MMF_ERR_ARG, "caption: %d prefix word%s not in the captioner's vocabulary: %s", unk,
                        unk == 1 ? " is" : "s are", list);
    }
    return MMF_OK;
}

static mmf_status check_gen(const mmf_captioner *c, const mmf_caption_gen_params *g) {
    if (g->beam < 1 || g->beam > CAP_MAX_BEAM) return mmf_fail(MMF_ERR_ARG, "caption: beam %d out of range 1..%d", g->beam, CAP_MAX_BEAM);
    if (!(g->repetition_penalty >= 0.0f) || !isfinite(g->repetition_penalty))
        return mmf_fail(MMF_ERR_ARG, "caption: repetition penalty %g, expected a finite number >= 0", (double)g->repetition_penalty);
    if (g->max_len < 0 || g->max_len > CAP_MAX_LEN) return mmf_fail(MMF_ERR_ARG, "caption: max_len %d out of range 0..%d", g->max_len, CAP_MAX_LEN);
    if (!isfinite(g->length_penalty)) return mmf_fail(MMF_ERR_ARG, "caption: length penalty is not finite");
    if (g->n_threads < 1) return mmf_fail(MMF_ERR_ARG, "caption: threads %d, expected >= 1", g->n_threads);
    return MMF_OK;
}

/* z for each of B rows (given as x/mask), then a beam per row. */
static mmf_status generate_rows(mmf_captioner *c, mmf_tape *tp, int64_t B, float *const *x, const uint8_t *mask,
                                const int32_t *prefix, int n_prefix, const mmf_caption_gen_params *g, char **captions) {
    float *z = malloc((size_t)(B * c->E) * sizeof(float));
    int32_t *words = malloc((size_t)(CAP_MAX_LEN + 1) * sizeof(int32_t));
    mmf_status s = (z && words) ? MMF_OK : mmf_fail(MMF_ERR_NOMEM, "caption: out of memory");
    if (!s) s = cap_condition_values(c, tp, B, x, mask, z);
    if (s) { free(z); free(words); return s; }
    /* rows are independent: one beam per row, rows spread over the threads (each
     * beam's BLAS calls single threaded); the first failing row's status wins */
    mmf_caption_gen_params g1 = *g;
    g1.n_threads = 1;
    int nt = g->n_threads;
    mmf_status first = MMF_OK;
    int64_t first_row = B;
    #pragma omp parallel for num_threads(nt) schedule(dynamic, 4) if (nt > 1 && B > 1)
    for (int64_t b = 0; b < B; b++) {
        int32_t buf[CAP_MAX_LEN + 1];
        int n = 0;
        mmf_status r = cap_beam_search(c, z + b * c->E, prefix, n_prefix, nt > 1 ? &g1 : g, buf, &n);
        if (!r && !(captions[b] = cap_decode(c->vocab, buf, n))) r = MMF_ERR_NOMEM;
        if (r) {
            #pragma omp critical(cap_gen_status)
            if (b < first_row) { first_row = b; first = r; }
        }
    }
    if (first) s = mmf_fail(first, "caption: generation failed at row %lld (out of memory)", (long long)first_row);
    free(z);
    free(words);
    return s;
}

mmf_status mmf_captioner_generate(mmf_captioner *c, int64_t B, const float *const *xs, const uint8_t *mask,
                                  const mmf_caption_gen_params *g, char **captions) {
    for (int64_t b = 0; b < B; b++) captions[b] = NULL;
    mmf_status s = check_gen(c, g);
    if (s) return s;
    int M = c->cfg.M;
    int32_t prefix[CAP_MAX_LEN];
    int n_prefix;
    if ((s = encode_prefix(c, g->prefix, prefix, &n_prefix))) return s;
    float *x[FZ_MAXM] = {0};
    uint8_t *mk = malloc((size_t)(B * M) + 1);
    int ok = mk != NULL;
    for (int m = 0; m < M; m++) ok &= (x[m] = calloc((size_t)(B * c->cfg.dims[m]) + 1, sizeof(float))) != NULL;
    mmf_tape *tp = ok ? mmf_tape_new(g->n_threads, 1) : NULL;
    if (!tp) s = mmf_fail(MMF_ERR_NOMEM, "caption: out of memory");
    for (int64_t b = 0; !s && b < B; b++)
        for (int m = 0; m < M; m++) {
            uint8_t on = xs[m] != NULL && (!mask || mask[b * M + m]);
            mk[b * M + m] = on;
            if (!on) continue;
            const float *src = xs[m] + b * c->cfg.dims[m];
            for (int64_t d = 0; d < c->cfg.dims[m]; d++)
                if (!isfinite(src[d])) { s = mmf_fail(MMF_ERR_NUMERIC, "caption: sample %lld, modality \"%s\": value %lld is not finite", (long long)b, c->cfg.names[m], (long long)d); break; }
            memcpy(x[m] + b * c->cfg.dims[m], src, (size_t)c->cfg.dims[m] * sizeof(float));
        }
    if (!s) s = generate_rows(c, tp, B, x, mk, prefix, n_prefix, g, captions);
    mmf_tape_free(tp);
    for (int m = 0; m < M; m++) free(x[m]);
    free(mk);
    if (s) for (int64_t b = 0; b < B; b++) { free(captions[b]); captions[b] = NULL; }
    return s;
}

mmf_status mmf_captioner_generate_file(mmf_captioner *c, const mmf_embfile *f, const mmf_caption_gen_params *g,
                                       char **captions) {
    int64_t N = mmf_embfile_rows(f);
    mmf_status s = check_gen(c, g);
    if (s) return s;
    for (int64_t i = 0; i < N; i++) captions[i] = NULL;
    int col[FZ_MAXM], drop_m = -1;
    if (!s) s = bind_cols(c, f, col);
    if (!s && g->drop) {
        for (int m = 0; m < c->cfg.M; m++) if (!strcmp(c->cfg.names[m], g->drop)) drop_m = m;
        if (drop_m < 0) s = mmf_fail(MMF_ERR_ARG, "caption: cannot drop \"%s\": the captioner has no such modality", g->drop);
    }
    if (s) return s;
    int32_t prefix[CAP_MAX_LEN];
    int n_prefix;
    if ((s = encode_prefix(c, g->prefix, prefix, &n_prefix))) return s;
    const int64_t CH = 256;
    float *x[FZ_MAXM] = {0};
    uint8_t *mk = malloc((size_t)(CH * c->cfg.M));
    int64_t *rows = malloc((size_t)CH * sizeof *rows);
    int ok = mk && rows;
    for (int m = 0; m < c->cfg.M; m++) ok &= (x[m] = malloc((size_t)(CH * c->cfg.dims[m]) * sizeof(float))) != NULL;
    mmf_tape *tp = ok ? mmf_tape_new(g->n_threads, 1) : NULL;
    if (!tp) s = mmf_fail(MMF_ERR_NOMEM, "caption: out of memory");
    for (int64_t i0 = 0; !s && i0 < N; i0 += CH) {
        int64_t B = N - i0 < CH ? N - i0 : CH;
        for (int64_t b = 0; b < B; b++) rows[b] = i0 + b;
        mmf_rows_gather(f, col, c->cfg.M, c->cfg.dims, rows, B, drop_m, NULL, NULL, x, mk);
        s = generate_rows(c, tp, B, x, mk, prefix, n_prefix, g, captions + i0);
    }
    mmf_tape_free(tp);
    for (int m = 0; m < c->cfg.M; m++) free(x[m]);
    free(mk);
    free(rows);
    if (s) for (int64_t i = 0; i < N; i++) { free(captions[i]); captions[i] = NULL; }
    return s;
}

/* ------------------------------------------------------------ accessors */

int mmf_captioner_n_modalities(const mmf_captioner *c) { return c->cfg.M; }
const char *mmf_captioner_modality(const mmf_captioner *c, int m) { return m >= 0 && m < c->cfg.M ? c->cfg.names[m] : NULL; }
int64_t mmf_captioner_dim(const mmf_captioner *c, int m) { return m >= 0 && m < c->cfg.M ? c->cfg.dims[m] : 0; }
const char *mmf_captioner_encoder(const mmf_captioner *c, int m) { return m >= 0 && m < c->cfg.M ? c->cfg.encoders[m] : NULL; }
const mmf_caption_vocab *mmf_captioner_vocab(const mmf_captioner *c) { return c->vocab; }

mmf_status mmf_captioner_set_encoder(mmf_captioner *c, const char *modality, const char *dir) {
    for (int m = 0; m < c->cfg.M; m++)
        if (!strcmp(c->cfg.names[m], modality)) {
            if (strlen(dir) >= CAP_ENC_PATH) return mmf_fail(MMF_ERR_ARG, "caption: encoder path longer than %d bytes", CAP_ENC_PATH - 1);
            snprintf(c->cfg.encoders[m], CAP_ENC_PATH, "%s", dir);
            return MMF_OK;
        }
    return mmf_fail(MMF_ERR_ARG, "caption: the captioner has no modality \"%s\"", modality);
}

const char *mmf_captioner_describe(const mmf_captioner *c, char *buf, size_t cap) {
    int64_t np = c->ps.total + (c->fusion ? c->fusion->ps.total : 0);
    snprintf(buf, cap, "{\"cell\": \"%s\", \"fusion\": \"%s\", \"modalities\": %d, \"fused_dim\": %lld, \"hidden\": %d, "
             "\"embed\": %d, \"vocab\": %d, \"max_len\": %d, \"parameters\": %lld}",
             c->cfg.cell == MMF_CELL_LSTM ? "lstm" : "gru", c->fusion ? c->fusion->cfg.op : "none", c->cfg.M,
             (long long)c->E, c->cfg.hidden, c->cfg.embed, c->vocab->n, c->cfg.max_len, (long long)np);
    return buf;
}
