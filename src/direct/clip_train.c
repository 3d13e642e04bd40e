/* The contrastive dual encoder's model and training pieces (clip.h), and
 * mmf_clip_train, the loop that drives them. */
#include "direct/clip.h"
#include "train/comm.h"
#include "direct/text_vocab.h"
#include "direct/tower.h"
#include "train/fit.h"
#include "core/error.h"
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SCALE_LOG 4.6051702f   /* log(100): CLIP caps the logit scale at 100 */

mmf_clip_params mmf_clip_params_default(void) {
    mmf_clip_params p = {0};
    p.epochs = 40;
    p.patience = 8;
    p.batch = 128;
    p.lr = 2e-3f;
    p.weight_decay = 0.05f;
    p.dim = 128;
    p.text_dim = 128;
    p.image_dim = 128;
    p.image_size = 32;
    p.layers = 2;
    p.heads = 4;
    p.max_length = 32;
    p.min_count = 1;
    p.temperature = 0.07f;
    p.augment = 1;
    p.dropout = 0.1f;
    p.pair_field = "hexcode";
    p.seed = 1;
    p.n_threads = 1;
    return p;
}

/* ------------------------------------------------------------ model */

void clip_model_free(clip_model *m) {
    textnet_free(&m->txt);
    cnn_free(&m->img);
    mmf_params_free(&m->head);
    memset(m, 0, sizeof *m);
}

mmf_status clip_model_init(clip_model *m, int vocab, const mmf_clip_params *p) {
    memset(m, 0, sizeof *m);
    textnet_config tc = {.vocab = vocab, .hidden = p->text_dim, .layers = p->layers, .heads = p->heads,
                         .ffn = 2 * p->text_dim, .max_pos = p->max_length, .n_classes = 0, .eps = 1e-5f, .dropout = p->dropout};
    mmf_status s = textnet_init(&m->txt, &tc, p->seed);
    cnn_config cc = cnn_config_default(0);
    cc.image_size = p->image_size;
    cc.channels[cc.n_stages - 1] = p->image_dim;
    if (!s) s = cnn_init(&m->img, &cc, p->seed + 1);
    if (s) return s;
    for (int i = 0; i < cc.n_stages; i++) m->run_n += 2 * cc.channels[i];
    mmf_params_init(&m->head);
    m->p_tproj = mmf_params_add(&m->head, "text_projection.weight", 2, (int64_t[]){p->dim, p->text_dim}, MMF_INIT_LINEAR, 0);
    m->p_vproj = mmf_params_add(&m->head, "visual_projection.weight", 2, (int64_t[]){p->dim, p->image_dim}, MMF_INIT_LINEAR, 0);
    m->p_scale = mmf_params_add(&m->head, "logit_scale", 1, (int64_t[]){1}, MMF_INIT_CONST, logf(1.0f / p->temperature));
    if (m->p_tproj < 0 || m->p_vproj < 0 || m->p_scale < 0) return MMF_ERR_ARG;
    mmf_rng r;
    mmf_rng_seed(&r, p->seed + 2);
    return mmf_params_alloc(&m->head, &r);
}

/* ------------------------------------------------------------ training pieces */

void clip_trainer_free(clip_trainer *t) {
    mmf_tape_free(t->tp);
    mmf_optim_free(&t->opt_txt);
    mmf_optim_free(&t->opt_img);
    mmf_optim_free(&t->opt_head);
    free(t->pix);
    free(t->ids);
    free(t->keep);
    memset(t, 0, sizeof *t);
}

mmf_status clip_trainer_init(clip_trainer *t, clip_model *m, const mmf_clip_params *p, const mmf_tokenizer *tok,
                             int64_t total_steps) {
    memset(t, 0, sizeof *t);
    t->m = m;
    t->p = p;
    t->aug = mmf_image_aug_default();
    mmf_rng_seed(&t->rng, p->seed ^ 0xc11bULL);
    mmf_encoding e;
    mmf_status s = mmf_tokenizer_encode(tok, "", NULL, 1, -1, &e);   /* [CLS] [SEP] */
    if (s) return s;
    if (e.n != 2) { mmf_encoding_free(&e); return mmf_fail(MMF_ERR_FORMAT, "contrastive trainer: the tokenizer gives %d tokens for an empty text, expected [CLS] [SEP]", e.n); }
    t->cls = e.ids[0];
    t->sep = e.ids[1];
    mmf_encoding_free(&e);
    mmf_tower_params tpar = mmf_tower_params_default();
    tpar.lr = p->lr;
    tpar.weight_decay = p->weight_decay;
    tpar.n_threads = p->n_threads;
    mmf_optim_params op = mmf_tower_optim(&tpar, total_steps);
    s = mmf_optim_init(&t->opt_txt, &m->txt.ps, &op);
    if (!s) s = mmf_optim_init(&t->opt_img, &m->img.ps, &op);
    if (!s) s = mmf_optim_init(&t->opt_head, &m->head, &op);
    if (s) return s;
    int B = p->batch, S = p->image_size, T = p->max_length;
    t->tp = mmf_tape_new(p->n_threads, p->seed);
    /* one spare row: a data-parallel slice draws the other ranks' views there */
    t->pix = malloc((size_t)(B + 1) * 3 * S * S * sizeof(float));
    t->ids = malloc((size_t)(B + 1) * T * sizeof(int32_t));
    t->keep = malloc((size_t)(B + 1) * T);
    if (!t->tp || !t->pix || !t->ids || !t->keep) return mmf_fail(MMF_ERR_NOMEM, "contrastive trainer: out of memory");
    return MMF_OK;
}

/* A text view of concept c: the name; with augmentation also the name plus a
 * random subset of its tags in random order, or a subset of the tags alone. */
static int text_view(clip_trainer *t, const clip_concept *c, int augment, int32_t *ids, uint8_t *keep) {
    const int32_t *pieces[65];
    int lens[65], n = 0;
    float u = augment && c->n_tags ? mmf_rng_uniform(&t->rng) : 0.0f;
    if (u < 0.8f) { pieces[n] = c->name; lens[n++] = c->name_len; }
    if (u >= 0.5f) {
        int64_t order[64];
        int k = c->n_tags < 64 ? c->n_tags : 64, first = n;
        for (int i = 0; i < k; i++) order[i] = i;
        mmf_rng_shuffle(&t->rng, order, k);
        for (int i = 0; i < k; i++)
            if (mmf_rng_uniform(&t->rng) < 0.5f) { pieces[n] = c->tags[order[i]]; lens[n++] = c->tag_len[order[i]]; }
        if (n == first) { pieces[n] = c->tags[order[0]]; lens[n++] = c->tag_len[order[0]]; }
    }
    return mmf_compose_tokens(pieces, lens, n, t->cls, t->sep, t->p->max_length, ids, keep);
}

/* rows [B, max_length] -> [B, T] with T the longest row (at least T0), in place */
static int compact_to(int32_t *ids, uint8_t *keep, int B, int Tmax, const int *len, int T0) {
    int T = T0 > 1 ? T0 : 1;
    for (int b = 0; b < B; b++) if (len[b] > T) T = len[b];
    for (int b = 0; b < B; b++) {
        memmove(ids + (size_t)b * T, ids + (size_t)b * Tmax, (size_t)T * sizeof *ids);
        memmove(keep + (size_t)b * T, keep + (size_t)b * Tmax, (size_t)T);
    }
    return T;
}

static int compact(int32_t *ids, uint8_t *keep, int B, int Tmax, const int *len) { return compact_to(ids, keep, B, Tmax, len, 1); }

/* the two towers and projections: text [B, D] and image [B, D] (not normalised) */
static void forward(clip_trainer *t, mmf_tape *tp, int B, int T, mmf_var *te, mmf_var *ie) {
    clip_model *m = t->m;
    int S = t->p->image_size;
    mmf_var pooled = -1, feat = -1;
    textnet_forward(tp, &m->txt, t->ids, t->keep, B, T, &pooled);
    mmf_var x = mmf_t_const(tp, t->pix, 4, (int64_t[]){B, 3, S, S});
    cnn_forward(tp, &m->img, x, &feat);
    *te = mmf_t_linear(tp, pooled, mmf_t_param(tp, &m->head, m->p_tproj), -1);
    *ie = mmf_t_linear(tp, feat, mmf_t_param(tp, &m->head, m->p_vproj), -1);
}

mmf_status clip_gather(clip_trainer *t, const clip_set *d, const int64_t *img, int B) {
    return clip_gather_slice(t, d, img, B, 0, B);
}

mmf_status clip_gather_slice(clip_trainer *t, const clip_set *d, const int64_t *img, int B, int lo, int hi) {
    const mmf_clip_params *p = t->p;
    int S = d->S, Tm = p->max_length, len[4097], longest = 1;
    if (B < 2 || B > p->batch) return mmf_fail(MMF_ERR_ARG, "contrastive step: batch %d outside [2, %d]", B, p->batch);
    for (int b = 0; b < B; b++) {
        /* the other ranks' views are drawn too (into the spare row), so the draws are one process's */
        int k = b >= lo && b < hi ? b - lo : hi - lo;
        const uint8_t *px = d->px + (size_t)img[b] * S * S * 3;
        mmf_augment_image(px, S, p->augment ? &t->aug : NULL, &t->rng, t->pix + (size_t)k * 3 * S * S);
        len[k] = text_view(t, &d->c[d->img_concept[img[b]]], p->augment, t->ids + (size_t)k * Tm, t->keep + (size_t)k * Tm);
        if (len[k] > longest) longest = len[k];
    }
    t->B = hi - lo;
    /* padded to the whole batch's longest text, as one process pads it (the same dropout masks) */
    t->T = compact_to(t->ids, t->keep, hi - lo, Tm, len, longest);
    return MMF_OK;
}

/* the temperature stays in CLIP's range: logit scale in [1, 100] */
static void cap_scale(clip_model *m) {
    float *ls = mmf_params_value(&m->head, m->p_scale);
    if (ls[0] > MAX_SCALE_LOG) ls[0] = MAX_SCALE_LOG;
    if (ls[0] < 0.0f) ls[0] = 0.0f;
}

mmf_var clip_loss(clip_trainer *t, mmf_tape *tp) {
    cap_scale(t->m);   /* before the forward reads it: the cap of the previous step's update */
    mmf_var te, ie;
    forward(t, tp, t->B, t->T, &te, &ie);
    return mmf_t_infonce(tp, te, ie, mmf_t_param(tp, &t->m->head, t->m->p_scale));
}

mmf_status clip_step(clip_trainer *t, const clip_set *d, const int64_t *img, int B, double *loss) {
    mmf_status s = clip_gather(t, d, img, B);
    if (s) return s;
    mmf_tape_reset(t->tp);
    mmf_tape_set_training(t->tp, 1);
    mmf_var L = clip_loss(t, t->tp);
    s = mmf_tape_status(t->tp);
    if (!s) s = mmf_tape_backward(t->tp, L);
    if (!s) s = mmf_optim_step(&t->opt_txt, &t->m->txt.ps);
    if (!s) s = mmf_optim_step(&t->opt_img, &t->m->img.ps);
    if (!s) s = mmf_optim_step(&t->opt_head, &t->m->head);
    if (s) return s;
    cap_scale(t->m);
    *loss = mmf_tape_var(t->tp, L)->v[0];
    return MMF_OK;
}

static void unit_rows(const float *x, float *out, int B, int D) {
    for (int b = 0; b < B; b++) {
        double n = 0.0;
        for (int j = 0; j < D; j++) n += (double)x[b * D + j] * x[b * D + j];
        float inv = (float)(1.0 / (sqrt(n) > 1e-12 ? sqrt(n) : 1e-12));
        for (int j = 0; j < D; j++) out[(size_t)b * D + j] = x[b * D + j] * inv;
    }
}

mmf_status clip_embed_set(clip_trainer *t, const clip_set *d, float *text, float *image) {
    const mmf_clip_params *p = t->p;
    int S = d->S, Tm = p->max_length, D = p->dim, bs = p->batch, len[4096];
    mmf_tape *tp = t->tp;
    mmf_tape_set_training(tp, 0);
    int64_t n = d->n_concepts > d->n_images ? d->n_concepts : d->n_images;
    for (int64_t st = 0; st < n; st += bs) {
        int Bt = text && st < d->n_concepts ? (int)(d->n_concepts - st < bs ? d->n_concepts - st : bs) : 0;
        int Bi = image && st < d->n_images ? (int)(d->n_images - st < bs ? d->n_images - st : bs) : 0;
        int B = Bt > Bi ? Bt : Bi;
        if (!B) continue;
        /* rows beyond one side's count repeat its last row; they are not read back */
        for (int b = 0; b < B; b++) {
            int64_t c = st + (b < Bt ? b : Bt - 1), g = st + (b < Bi ? b : Bi - 1);
            if (Bt) len[b] = text_view(t, &d->c[c], 0, t->ids + (size_t)b * Tm, t->keep + (size_t)b * Tm);
            else len[b] = mmf_compose_tokens(NULL, NULL, 0, t->cls, t->sep, Tm, t->ids + (size_t)b * Tm, t->keep + (size_t)b * Tm);
            mmf_augment_image(d->px + (size_t)(Bi ? g : 0) * S * S * 3, S, NULL, NULL, t->pix + (size_t)b * 3 * S * S);
        }
        int T = compact(t->ids, t->keep, B, Tm, len);
        mmf_tape_reset(tp);
        mmf_var te, ie;
        forward(t, tp, B, T, &te, &ie);
        mmf_status s = mmf_tape_status(tp);
        if (s) return s;
        if (Bt) unit_rows(mmf_tape_var(tp, te)->v, text + (size_t)st * D, Bt, D);
        if (Bi) unit_rows(mmf_tape_var(tp, ie)->v, image + (size_t)st * D, Bi, D);
    }
    return MMF_OK;
}

static double dot(const float *a, const float *b, int D) {
    double s = 0.0;
    for (int j = 0; j < D; j++) s += (double)a[j] * b[j];
    return s;
}

mmf_status clip_evaluate(clip_trainer *t, const clip_set *d, clip_scores *out) {
    int D = t->p->dim;
    int64_t Q = d->n_concepts, G = d->n_images;
    float *te = malloc((size_t)Q * D * sizeof(float)), *ie = malloc((size_t)G * D * sizeof(float));
    double *sim = malloc((size_t)Q * G * sizeof(double));
    if (!te || !ie || !sim) { free(te); free(ie); free(sim); return mmf_fail(MMF_ERR_NOMEM, "contrastive evaluation: out of memory"); }
    mmf_status s = clip_embed_set(t, d, te, ie);
    memset(out, 0, sizeof *out);
    if (!s) {
        for (int64_t q = 0; q < Q; q++)
            for (int64_t g = 0; g < G; g++) sim[q * G + g] = dot(te + q * D, ie + g * D, D);
        /* text -> image: rank of the best picture of the concept */
        for (int64_t q = 0; q < Q; q++) {
            double best = -DBL_MAX;
            for (int64_t g = 0; g < G; g++) if (d->img_concept[g] == q && sim[q * G + g] > best) best = sim[q * G + g];
            int64_t rank = 0;
            for (int64_t g = 0; g < G; g++) rank += d->img_concept[g] != q && sim[q * G + g] > best;
            out->t2i_r1 += rank < 1; out->t2i_r5 += rank < 5; out->t2i_r10 += rank < 10;
        }
        /* image -> text: rank of the picture's own concept among the names */
        for (int64_t g = 0; g < G; g++) {
            int64_t c = d->img_concept[g], rank = 0;
            for (int64_t q = 0; q < Q; q++) rank += q != c && sim[q * G + g] > sim[c * G + g];
            out->i2t_r1 += rank < 1; out->i2t_r5 += rank < 5; out->i2t_r10 += rank < 10;
        }
        out->t2i_r1 /= Q; out->t2i_r5 /= Q; out->t2i_r10 /= Q;
        out->i2t_r1 /= G; out->i2t_r5 /= G; out->i2t_r10 /= G;
    }
    free(te); free(ie); free(sim);
    return s;
}

/* ------------------------------------------------------------ the loop */

/* The epoch's picture order: rounds over the concepts in a fresh random order,
 * round k taking each concept's k-th picture (pictures shuffled per concept),
 * so two pictures of one concept share a batch only across a round boundary. */
static void epoch_order(const clip_set *d, const int64_t *first, const int64_t *by_concept, int64_t *tmp, mmf_rng *r,
                        int64_t *order) {
    int64_t n = 0, rounds = 0;
    for (int64_t c = 0; c < d->n_concepts; c++) {
        int64_t k = first[c + 1] - first[c];
        if (k > rounds) rounds = k;
        memcpy(tmp + first[c], by_concept + first[c], (size_t)k * sizeof *tmp);
        mmf_rng_shuffle(r, tmp + first[c], k);
    }
    int64_t *perm = order + d->n_images;   /* order has room for n_images + n_concepts */
    for (int64_t k = 0; k < rounds; k++) {
        for (int64_t c = 0; c < d->n_concepts; c++) perm[c] = c;
        mmf_rng_shuffle(r, perm, d->n_concepts);
        for (int64_t i = 0; i < d->n_concepts; i++) {
            int64_t c = perm[i];
            if (first[c] + k < first[c + 1]) order[n++] = tmp[first[c] + k];
        }
    }
}

/* The contrastive trainer's side of the fit loop (train/fit.h). The loop's
 * positions are the slots of an epoch: gather fills them from the trainer's
 * own epoch order (epoch_order, rebuilt when an epoch ends), which keeps a
 * concept's pictures out of one batch, where they would be each other's
 * negatives. */
typedef struct clip_fit {
    clip_trainer *t;
    const clip_set *tr, *va;
    const int64_t *first, *by_concept;
    int64_t *tmp, *order, cursor;
} clip_fit;

static mmf_status cf_gather(void *ctx, const int64_t *idx, int64_t B, int64_t lo, int64_t hi) {
    clip_fit *c = ctx;
    (void)idx;
    if (c->cursor + B > c->tr->n_images) return mmf_fail(MMF_ERR_ARG, "contrastive trainer: epoch order exhausted");
    mmf_status s = clip_gather_slice(c->t, c->tr, c->order + c->cursor, (int)B, (int)lo, (int)hi);
    c->cursor += B;
    return s;
}

static mmf_status cf_forward(void *ctx, mmf_tape *tp, const int64_t *idx, int64_t B, mmf_var *loss) {
    clip_fit *c = ctx;
    (void)idx; (void)B;
    *loss = clip_loss(c->t, tp);
    return mmf_tape_status(tp);
}

/* score: text -> image R@10, R@1 breaking ties (R@10 saturates on small validation sets) */
static mmf_status cf_eval(void *ctx, int epoch, double *score, double *metrics) {
    clip_fit *c = ctx;
    (void)epoch;
    clip_scores sc;
    mmf_status s = clip_evaluate(c->t, c->va, &sc);
    *score = sc.t2i_r10 + 1e-6 * sc.t2i_r1;
    metrics[0] = sc.t2i_r1;
    metrics[1] = sc.t2i_r10;
    return s;
}

static void cf_progress(void *ctx, const mmf_fit_report *r) {
    clip_fit *c = ctx;
    if (!r->end) return;
    c->cursor = 0;
    epoch_order(c->tr, c->first, c->by_concept, c->tmp, &c->t->rng, c->order);
    const mmf_clip_params *p = c->t->p;
    clip_model *m = c->t->m;
    if (p->progress)
        p->progress(p->progress_user, r->epoch, r->epochs, mmf_fit_sample_loss(r), expf(mmf_params_value(&m->head, m->p_scale)[0]),
                    r->metrics ? r->metrics[0] : -1.0, r->metrics ? r->metrics[1] : -1.0);
}

static mmf_status check_params(const mmf_clip_params *p) {
    if (p->epochs < 1 || p->epochs > 100000) return mmf_fail(MMF_ERR_ARG, "contrastive training: epochs %d outside [1, 100000]", p->epochs);
    if (p->batch < 2 || p->batch > 4096) return mmf_fail(MMF_ERR_ARG, "contrastive training: batch %d outside [2, 4096]", p->batch);
    if (p->image_size < 8 || p->image_size > 512) return mmf_fail(MMF_ERR_ARG, "contrastive training: image size %d outside [8, 512]", p->image_size);
    if (p->dim < 2 || p->dim > 4096 || p->text_dim < 4 || p->text_dim > 4096 || p->image_dim < 2 || p->image_dim > 4096)
        return mmf_fail(MMF_ERR_ARG, "contrastive training: dims %d / %d / %d outside [2, 4096]", p->dim, p->text_dim, p->image_dim);
    if (p->max_length < 4 || p->max_length > 512) return mmf_fail(MMF_ERR_ARG, "contrastive training: max_length %d outside [4, 512]", p->max_length);
    if (!(p->temperature >= 0.01f && p->temperature <= 1.0f)) return mmf_fail(MMF_ERR_ARG, "contrastive training: temperature %g outside [0.01, 1]", p->temperature);
    if (p->patience < 0) return mmf_fail(MMF_ERR_ARG, "contrastive training: patience %d < 0", p->patience);
    if (!(p->dropout >= 0.0f && p->dropout < 1.0f)) return mmf_fail(MMF_ERR_ARG, "contrastive training: dropout %g outside [0, 1)", p->dropout);
    return MMF_OK;
}

mmf_status mmf_clip_train(const char *train_jsonl, const char *val_jsonl, const char *out_dir, const mmf_clip_params *pp) {
    mmf_clip_params p = pp ? *pp : mmf_clip_params_default();
    if (p.n_threads < 1) p.n_threads = 1;
    if (p.min_count < 1) p.min_count = 1;
    if (!p.pair_field) p.pair_field = "hexcode";
    mmf_status s = check_params(&p);
    if (s) return s;
    if (!train_jsonl || !out_dir) return mmf_fail(MMF_ERR_ARG, "contrastive training: training records and an output folder are required");
    char tdir[4096], vdir[4096];
    snprintf(tdir, sizeof tdir, "%s/text", out_dir);
    snprintf(vdir, sizeof vdir, "%s/vision", out_dir);
    char **texts = NULL;
    size_t n_texts = 0;
    int64_t vocab = 0;
    mmf_tokenizer *tok = NULL;
    mmf_image_processor *proc = NULL;
    clip_model m = {0};
    clip_set tr = {0}, va = {0};
    clip_trainer t = {0};
    int64_t *first = NULL, *by_concept = NULL, *tmp = NULL, *order = NULL;
    s = mmf_mkdirs(tdir);
    if (!s) s = mmf_mkdirs(vdir);
    if (!s) s = clip_texts_load(train_jsonl, &texts, &n_texts);
    /* data parallel: rank 0 writes the vocabulary, the others read it */
    s = mmf_text_vocab_learn_comm(p.comm, s, (const char *const *)texts, n_texts, tdir, p.max_length, p.min_count, &vocab, &tok);
    for (size_t i = 0; i < n_texts; i++) free(texts[i]);
    free(texts);
    if (!s) s = clip_model_init(&m, (int)vocab, &p);
    /* the processor the saved folder carries: save the vision tower once, load it back
     * (data parallel: rank 0 saves, the others wait for it) */
    if (!s && mmf_comm_leader(p.comm)) s = cnn_save(&m.img, vdir, NULL);
    s = mmf_comm_agree(p.comm, s, "contrastive training");
    if (!s) s = mmf_image_processor_load(vdir, &proc);
    if (!s) s = clip_set_load(train_jsonl, p.pair_field, tok, proc, p.image_size, &tr);
    if (!s && val_jsonl) s = clip_set_load(val_jsonl, p.pair_field, tok, proc, p.image_size, &va);
    if (!s) {
        first = calloc((size_t)tr.n_concepts + 1, sizeof *first);
        by_concept = malloc((size_t)tr.n_images * sizeof *by_concept);
        tmp = malloc((size_t)tr.n_images * sizeof *tmp);
        order = malloc((size_t)(tr.n_images + tr.n_concepts) * sizeof *order);
        if (!first || !by_concept || !tmp || !order) s = mmf_fail(MMF_ERR_NOMEM, "contrastive training: out of memory");
    }
    if (!s) {   /* pictures grouped by concept (counting sort) */
        for (int64_t g = 0; g < tr.n_images; g++) first[tr.img_concept[g] + 1]++;
        for (int64_t c = 0; c < tr.n_concepts; c++) first[c + 1] += first[c];
        int64_t *fill = calloc((size_t)tr.n_concepts, sizeof *fill);
        if (!fill) s = mmf_fail(MMF_ERR_NOMEM, "contrastive training: out of memory");
        for (int64_t g = 0; !s && g < tr.n_images; g++) {
            int64_t c = tr.img_concept[g];
            by_concept[first[c] + fill[c]++] = g;
        }
        free(fill);
    }
    int bs = p.batch < tr.n_images ? p.batch : (int)tr.n_images;
    if (!s && bs < 2) s = mmf_fail(MMF_ERR_FORMAT, "%s: fewer than 2 pairs", train_jsonl);
    int64_t steps = mmf_fit_steps_per_epoch(tr.n_images, bs, 2);
    if (!s) { p.batch = bs; s = clip_trainer_init(&t, &m, &p, tok, steps * p.epochs); }
    clip_fit c = {.t = &t, .tr = &tr, .va = &va, .first = first, .by_concept = by_concept, .tmp = tmp, .order = order};
    mmf_rng shuffle;   /* the loop's own shuffle; the slots it orders are filled from c.order */
    mmf_rng_seed(&shuffle, p.seed ^ 0x5107ULL);
    s = mmf_comm_agree(p.comm, s, "contrastive training");   /* every rank set up, or none trains */
    if (!s) {
        epoch_order(&tr, first, by_concept, tmp, &t.rng, order);
        mmf_fit f = {.what = "contrastive training", .n = tr.n_images, .batch = bs, .min_batch = 2, .epochs = p.epochs,
                     .patience = va.n_concepts ? p.patience : 0, .fresh_order = 1, .rng = &shuffle, .tp = t.tp,
                     .sets = {&m.txt.ps, &m.img.ps, &m.head}, .opts = {&t.opt_txt, &t.opt_img, &t.opt_head}, .n_sets = 3,
                     .state = m.img.running, .n_state = m.run_n,
                     .ops = {.gather_slice = cf_gather, .forward = cf_forward, .eval = va.n_concepts ? cf_eval : NULL,
                             .progress = cf_progress},
                     .ctx = &c, .comm = p.comm, .ckpt = &p.checkpoint,
                     /* the views' generator and the concept-aware epoch order it draws */
                     .blobs = {{"rng", &t.rng, sizeof t.rng},
                               {"order", order, (size_t)(tr.n_images + tr.n_concepts) * sizeof *order},
                               {"cursor", &c.cursor, sizeof c.cursor}},
                     .n_blobs = 3};
        /* data parallel: InfoNCE over the whole batch (gathered embeddings), batchnorm's statistics too */
        mmf_tape_set_comm(t.tp, p.comm);
        s = mmf_fit_run(&f);
    }
    if (!s) cap_scale(&m);
    s = mmf_comm_agree(p.comm, s, "contrastive training");
    if (!s && mmf_comm_leader(p.comm)) s = clip_save(&m, &p, out_dir);
    s = mmf_comm_agree(p.comm, s, "contrastive training");
    clip_trainer_free(&t);
    free(first); free(by_concept); free(tmp); free(order);
    clip_set_free(&tr);
    clip_set_free(&va);
    mmf_image_processor_free(proc);
    mmf_tokenizer_free(tok);
    clip_model_free(&m);
    return s;
}
