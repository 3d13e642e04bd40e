/* Visual question answering as answer classification: a fusion head from the zoo
 * over (image, question) embeddings with a softmax over the K most frequent
 * training answers (docs/caption.md, "VQA"). Plus the bag-of-words question
 * featuriser used when no text encoder is wanted. */
#include "tasks/caption.h"
#include "tasks/rows_gather.h"
#include "fusion/head.h"
#include "core/error.h"
#include "io/json.h"
#include "io/model_file.h"
#include "train/fit.h"
#include "train/optim.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mmf_vqa {
    mmf_head *head;          /* classify, n_out = K */
    int K;
    char **answers;          /* [K] normalised answer strings */
    char encoders[FZ_MAXM][1024];
    mmf_caption_vocab *bow;  /* bag-of-words vocabulary of the question modality, or NULL */
    int bow_m;               /* its modality index, or -1 */
};

void mmf_vqa_free(mmf_vqa *v) {
    if (!v) return;
    mmf_head_free(v->head);
    for (int i = 0; v->answers && i < v->K; i++) free(v->answers[i]);
    free(v->answers);
    mmf_caption_vocab_free(v->bow);
    free(v);
}

/* ------------------------------------------------------------ answers */

/* "Two." -> "two": caption words joined by one space. */
static char *norm_answer(const char *a) {
    size_t cap = strlen(a ? a : "") + 1;
    char *out = malloc(cap), *q = out, buf[CAP_MAX_WORD + 1];
    if (!out) return NULL;
    const char *p = a ? a : "";
    size_t len;
    while ((len = cap_next_word(&p, buf)) > 0) {
        if (q != out) *q++ = ' ';
        memcpy(q, buf, len);
        q += len;
    }
    *q = 0;
    return out;
}

typedef struct acount { char *a; int64_t n; } acount;
static int acount_cmp(const void *x, const void *y) {
    const acount *a = x, *b = y;
    if (a->n != b->n) return a->n > b->n ? -1 : 1;
    return strcmp(a->a, b->a);
}

static int answer_id(const mmf_vqa *v, const char *norm) {
    for (int k = 0; k < v->K; k++) if (!strcmp(v->answers[k], norm)) return k;
    return -1;
}

/* The K most frequent normalised answers (ties by bytes). */
static mmf_status top_answers(const char *const *answers, int64_t n, int K, mmf_vqa *v) {
    acount *c = calloc((size_t)(n ? n : 1), sizeof *c);
    int64_t nd = 0;
    mmf_status s = c ? MMF_OK : mmf_fail(MMF_ERR_NOMEM, "vqa: out of memory");
    mmf_vocab idx;
    memset(&idx, 0, sizeof idx);
    if (!s) s = mmf_vocab_init(&idx, (size_t)n + 16);
    for (int64_t i = 0; !s && i < n; i++) {
        char *a = norm_answer(answers[i]);
        if (!a) { s = mmf_fail(MMF_ERR_NOMEM, "vqa: out of memory"); break; }
        if (!a[0]) { free(a); continue; }
        int32_t id = mmf_vocab_get(&idx, a, strlen(a));
        if (id < 0) { id = (int32_t)nd; c[nd++] = (acount){a, 0}; s = mmf_vocab_set(&idx, a, strlen(a), id, 0); }
        else free(a);
        if (!s) c[id].n++;
    }
    if (!s) {
        qsort(c, (size_t)nd, sizeof *c, acount_cmp);
        v->K = (int)(nd < K ? nd : K);
        if (v->K < 2) s = mmf_fail(MMF_ERR_ARG, "vqa: the training answers hold %d distinct answer%s, need >= 2", v->K, v->K == 1 ? "" : "s");
    }
    if (!s && !(v->answers = calloc((size_t)v->K, sizeof *v->answers))) s = mmf_fail(MMF_ERR_NOMEM, "vqa: out of memory");
    for (int k = 0; !s && k < v->K; k++) { v->answers[k] = c[k].a; c[k].a = NULL; }
    for (int64_t i = 0; c && i < nd; i++) free(c[i].a);
    free(c);
    mmf_vocab_free(&idx);
    return s;
}

/* ------------------------------------------------------------ bag of words */

mmf_status mmf_bow_encode(const mmf_caption_vocab *v, const char *text, float *out, int *n_unknown) {
    int32_t V = v->n;
    memset(out, 0, (size_t)V * sizeof(float));
    char buf[CAP_MAX_WORD + 1];
    const char *p = text ? text : "";
    size_t len;
    int unk = 0;
    double ss = 0.0;
    while ((len = cap_next_word(&p, buf)) > 0) {
        int32_t id = mmf_vocab_get(&v->map, buf, len);
        if (id < CAP_N_SPECIAL) { id = CAP_UNK; unk++; }
        out[id] += 1.0f;
    }
    for (int32_t i = 0; i < V; i++) ss += (double)out[i] * out[i];
    if (ss > 0) for (int32_t i = 0; i < V; i++) out[i] = (float)(out[i] / sqrt(ss));
    if (n_unknown) *n_unknown = unk;
    return MMF_OK;
}

/* ------------------------------------------------------------ training */

mmf_vqa_train_params mmf_vqa_train_params_default(void) {
    mmf_vqa_train_params p;
    memset(&p, 0, sizeof p);
    p.top_k = 1000;
    p.fusion = mmf_train_params_default();
    p.fusion.fusion = "mlb";
    return p;
}

typedef struct vbind { int col[FZ_MAXM]; } vbind;

static mmf_status bind_vqa(const mmf_vqa *v, const mmf_embfile *f, vbind *b) {
    int found = 0;
    for (int m = 0; m < v->head->cfg.M; m++) {
        b->col[m] = mmf_embfile_find(f, v->head->cfg.names[m]);
        if (b->col[m] < 0) continue;
        found++;
        if (mmf_embfile_dim(f, b->col[m]) != v->head->cfg.dims[m])
            return mmf_fail(MMF_ERR_SHAPE, "%s: modality \"%s\" has dimension %lld, the VQA model was trained with %lld",
                            mmf_embfile_path(f), v->head->cfg.names[m], (long long)mmf_embfile_dim(f, b->col[m]),
                            (long long)v->head->cfg.dims[m]);
    }
    if (!found) return mmf_fail(MMF_ERR_SHAPE, "%s: none of the VQA model's modalities is in the file", mmf_embfile_path(f));
    return MMF_OK;
}

/* logits [B, K] for rows (no dropout) */
static mmf_status logits_rows(mmf_vqa *v, mmf_tape *tp, const mmf_embfile *f, const vbind *bd, const int64_t *rows,
                              int64_t B, float **x, uint8_t *mask, float *out) {
    mmf_rows_gather(f, bd->col, v->head->cfg.M, v->head->cfg.dims, rows, B, -1, NULL, NULL, x, mask);
    mmf_tape_reset(tp);
    mmf_tape_set_training(tp, 0);
    fz_out o;
    mmf_status s = fz_head_forward(v->head, tp, B, x, mask, NULL, &o);
    if (s) return s;
    memcpy(out, mmf_tape_var(tp, o.out)->v, (size_t)(B * v->K) * sizeof(float));
    return MMF_OK;
}

typedef struct vbuf { float *x[FZ_MAXM]; uint8_t *mask; int64_t *rows, *labels; float *logits; } vbuf;
static void vbuf_free(vbuf *b) {
    for (int m = 0; m < FZ_MAXM; m++) free(b->x[m]);
    free(b->mask); free(b->rows); free(b->labels); free(b->logits);
    memset(b, 0, sizeof *b);
}
static mmf_status vbuf_init(vbuf *b, const mmf_vqa *v, int64_t B) {
    memset(b, 0, sizeof *b);
    int ok = 1;
    for (int m = 0; m < v->head->cfg.M; m++) ok &= (b->x[m] = malloc((size_t)(B * v->head->cfg.dims[m]) * sizeof(float))) != NULL;
    ok &= (b->mask = malloc((size_t)(B * v->head->cfg.M))) != NULL;
    ok &= (b->rows = malloc((size_t)B * sizeof(int64_t))) != NULL;
    ok &= (b->labels = malloc((size_t)B * sizeof(int64_t))) != NULL;
    ok &= (b->logits = malloc((size_t)(B * v->K) * sizeof(float))) != NULL;
    if (!ok) { vbuf_free(b); return mmf_fail(MMF_ERR_NOMEM, "vqa: out of memory"); }
    return MMF_OK;
}

/* Accuracy against free-text answers: an answer outside the top K counts as wrong. */
static mmf_status accuracy(mmf_vqa *v, mmf_tape *tp, const mmf_embfile *f, const char *const *answers, const char *drop,
                           double *acc) {
    vbind bd;
    mmf_status s = bind_vqa(v, f, &bd);
    if (s) return s;
    if (drop) {
        int dm = -1;
        for (int m = 0; m < v->head->cfg.M; m++) if (!strcmp(v->head->cfg.names[m], drop)) dm = m;
        if (dm < 0) return mmf_fail(MMF_ERR_ARG, "vqa: cannot drop \"%s\": no such modality", drop);
        bd.col[dm] = -1;
    }
    int64_t N = mmf_embfile_rows(f), CH = 256, correct = 0, counted = 0;
    vbuf b;
    if ((s = vbuf_init(&b, v, CH))) return s;
    for (int64_t i0 = 0; i0 < N && !s; i0 += CH) {
        int64_t B = N - i0 < CH ? N - i0 : CH;
        for (int64_t r = 0; r < B; r++) b.rows[r] = i0 + r;
        s = logits_rows(v, tp, f, &bd, b.rows, B, b.x, b.mask, b.logits);
        for (int64_t r = 0; !s && r < B; r++) {
            int best = 0;
            for (int k = 1; k < v->K; k++) if (b.logits[r * v->K + k] > b.logits[r * v->K + best]) best = k;
            if (!answers[i0 + r]) continue;   /* a row without an answer is not scored */
            char *a = norm_answer(answers[i0 + r]);
            if (!a) { s = mmf_fail(MMF_ERR_NOMEM, "vqa: out of memory"); break; }
            counted++;
            correct += !strcmp(a, v->answers[best]);
            free(a);
        }
    }
    vbuf_free(&b);
    *acc = counted ? (double)correct / (double)counted : 0.0;
    return s;
}

/* VQA's side of the fit loop (train/fit.h) */
typedef struct vqa_fit {
    mmf_vqa *v;
    const mmf_train_params *p;
    const mmf_embfile *train, *val;
    const char *const *val_answers;
    vbind bd;
    const int64_t *rows, *lab;   /* training rows; answer id of each file row */
    vbuf b;
    mmf_rng *rng;
    int any_drop;
} vqa_fit;

static mmf_status vf_gather(void *ctx, const int64_t *idx, int64_t B) {
    vqa_fit *c = ctx;
    for (int64_t r = 0; r < B; r++) c->b.rows[r] = c->rows[idx[r]];
    mmf_rows_gather(c->train, c->bd.col, c->v->head->cfg.M, c->v->head->cfg.dims, c->b.rows, B, -1, c->p->modality_dropout,
                    c->any_drop ? c->rng : NULL, c->b.x, c->b.mask);
    for (int64_t r = 0; r < B; r++) c->b.labels[r] = c->lab[c->b.rows[r]];
    return MMF_OK;
}

static mmf_status vf_forward(void *ctx, mmf_tape *tp, const int64_t *idx, int64_t B, mmf_var *L) {
    vqa_fit *c = ctx;
    fz_out o;
    (void)idx;
    mmf_status s = fz_head_forward(c->v->head, tp, B, c->b.x, c->b.mask, c->b.labels, &o);
    if (s) return s;
    *L = mmf_t_cross_entropy(tp, o.out, c->b.labels, c->p->label_smoothing, NULL);
    if (o.aux >= 0) *L = mmf_t_add(tp, *L, o.aux);
    return MMF_OK;
}

static mmf_status vf_eval(void *ctx, int epoch, double *score, double *vm) {
    vqa_fit *c = ctx;
    mmf_tape *tp = mmf_tape_new(c->p->n_threads, 1);
    if (!tp) return mmf_fail(MMF_ERR_NOMEM, "vqa: out of memory");
    (void)epoch;
    mmf_status s = accuracy(c->v, tp, c->val, c->val_answers, NULL, &vm[1]);
    mmf_tape_free(tp);
    *score = vm[1];
    return s;
}

static void vf_progress(void *ctx, const mmf_fit_report *r) {
    const mmf_train_params *p = ((vqa_fit *)ctx)->p;
    if (!p->progress || !r->end) return;
    double none[3] = {NAN, NAN, NAN};
    p->progress(p->progress_user, r->epoch, r->epochs, r->steps, r->steps, mmf_fit_loss(r), r->metrics ? r->metrics : none);
}

mmf_status mmf_vqa_train(const mmf_embfile *train, const char *const *answers, const mmf_embfile *val,
                         const char *const *val_answers, const mmf_vqa_train_params *vp, mmf_vqa **out) {
    *out = NULL;
    const mmf_train_params *p = &vp->fusion;
    const char *tpath = mmf_embfile_path(train);
    int M = mmf_embfile_n_modalities(train);
    int64_t N = mmf_embfile_rows(train);
    if (vp->top_k < 2) return mmf_fail(MMF_ERR_ARG, "vqa: top_k %d, expected >= 2", vp->top_k);
    if (p->epochs < 1 || p->batch < 1 || !(p->lr > 0.0f) || p->n_threads < 1 || p->dropout < 0.0f || p->dropout >= 1.0f)
        return mmf_fail(MMF_ERR_ARG, "vqa: epochs %d, batch %d, lr %g, dropout %g or threads %d out of range", p->epochs, p->batch,
                        p->lr, p->dropout, p->n_threads);
    if (M < 2) return mmf_fail(MMF_ERR_ARG, "%s: VQA fuses an image and a question: the file has %d modality", tpath, M);
    mmf_vqa *v = calloc(1, sizeof *v);
    if (!v) return mmf_fail(MMF_ERR_NOMEM, "vqa: out of memory");
    v->bow_m = -1;
    mmf_status s = top_answers(answers, N, vp->top_k, v);
    fz_config cfg;
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.op, sizeof cfg.op, "%s", p->fusion ? p->fusion : "mlb");
    cfg.task = MMF_TASK_CLASSIFY;
    cfg.M = M;
    for (int m = 0; m < M; m++) {
        snprintf(cfg.names[m], sizeof cfg.names[m], "%s", mmf_embfile_modality(train, m));
        cfg.dims[m] = mmf_embfile_dim(train, m);
    }
    cfg.n_out = v->K;
    fz_config_sizes(&cfg, p);
    if (!s) s = fz_head_new(&cfg, &v->head);
    if (s) { mmf_vqa_free(v); return s; }
    /* training rows: those whose answer is among the K */
    int64_t *rows = malloc((size_t)(N ? N : 1) * sizeof *rows), *lab = malloc((size_t)(N ? N : 1) * sizeof *lab), n = 0;
    if (!rows || !lab) s = mmf_fail(MMF_ERR_NOMEM, "vqa: out of memory");
    for (int64_t i = 0; !s && i < N; i++) {
        char *a = norm_answer(answers[i]);
        if (!a) { s = mmf_fail(MMF_ERR_NOMEM, "vqa: out of memory"); break; }
        int k = answer_id(v, a);
        free(a);
        if (k >= 0) { rows[n] = i; lab[i] = k; n++; }
    }
    mmf_rng rng;
    mmf_rng_seed(&rng, p->seed ^ 0xDA7Aull);
    vqa_fit c = {.v = v, .p = p, .train = train, .val = val, .val_answers = val_answers, .rows = rows, .lab = lab, .rng = &rng};
    for (int m = 0; m < M; m++) c.any_drop |= p->modality_dropout[m] > 0.0f;
    if (!s) s = bind_vqa(v, train, &c.bd);
    int64_t bs = p->batch < n ? p->batch : n;
    mmf_optim opt = {0};
    mmf_optim_params op = fz_optim_params(p, mmf_fit_steps_per_epoch(n, bs, 1));
    mmf_tape *tp = mmf_tape_new(p->n_threads, p->seed ^ 0x7A9Eull);
    if (!s && !tp) s = mmf_fail(MMF_ERR_NOMEM, "vqa: out of memory");
    if (!s) s = fz_train_precision(p, tp, &v->head->ps, &op);
    if (!s) s = mmf_optim_init(&opt, &v->head->ps, &op);
    if (!s) s = vbuf_init(&c.b, v, bs > 0 ? bs : 1);
    mmf_fit f = {.what = "vqa train", .n = n, .batch = bs, .epochs = p->epochs, .patience = p->patience, .rng = &rng, .tp = tp,
                 .sets = {&v->head->ps}, .opts = {&opt}, .n_sets = 1, .phase_seconds = p->phase_seconds,
                 .ops = {vf_gather, vf_forward, val ? vf_eval : NULL, vf_progress}, .ctx = &c, .ckpt = &p->checkpoint};
    if (!s) s = mmf_fit_run(&f);
    mmf_tape_free(tp);
    vbuf_free(&c.b);
    mmf_optim_free(&opt);
    free(rows);
    free(lab);
    if (s) { mmf_vqa_free(v); return s; }
    *out = v;
    return MMF_OK;
}

mmf_status mmf_vqa_eval(mmf_vqa *v, const mmf_embfile *f, const char *const *answers, const char *drop, int n_threads,
                            double *acc) {
    mmf_tape *tp = mmf_tape_new(n_threads < 1 ? 1 : n_threads, 1);
    if (!tp) return mmf_fail(MMF_ERR_NOMEM, "vqa: out of memory");
    mmf_status s = accuracy(v, tp, f, answers, drop, acc);
    mmf_tape_free(tp);
    return s;
}

mmf_status mmf_vqa_predict(mmf_vqa *v, int64_t B, const float *const *xs, const uint8_t *mask, int n_threads,
                           int32_t *answer, float *prob) {
    int M = v->head->cfg.M;
    float *x[FZ_MAXM] = {0};
    uint8_t *mk = malloc((size_t)(B * M) + 1);
    int ok = mk != NULL;
    for (int m = 0; m < M; m++) ok &= (x[m] = calloc((size_t)(B * v->head->cfg.dims[m]) + 1, sizeof(float))) != NULL;
    mmf_tape *tp = ok ? mmf_tape_new(n_threads < 1 ? 1 : n_threads, 1) : NULL;
    mmf_status s = tp ? MMF_OK : mmf_fail(MMF_ERR_NOMEM, "vqa: out of memory");
    for (int64_t b = 0; !s && b < B; b++)
        for (int m = 0; m < M; m++) {
            mk[b * M + m] = xs[m] != NULL && (!mask || mask[b * M + m]);
            if (!mk[b * M + m]) continue;
            for (int64_t d = 0; d < v->head->cfg.dims[m]; d++)
                if (!isfinite(xs[m][b * v->head->cfg.dims[m] + d])) { s = mmf_fail(MMF_ERR_NUMERIC, "vqa: sample %lld, modality \"%s\" is not finite", (long long)b, v->head->cfg.names[m]); break; }
            memcpy(x[m] + b * v->head->cfg.dims[m], xs[m] + b * v->head->cfg.dims[m], (size_t)v->head->cfg.dims[m] * sizeof(float));
        }
    fz_out o;
    if (!s) {
        mmf_tape_set_training(tp, 0);
        s = fz_head_forward(v->head, tp, B, x, mk, NULL, &o);
    }
    if (!s) {
        const float *lg = mmf_tape_var(tp, o.out)->v;
        for (int64_t b = 0; b < B; b++) {
            const float *r = lg + b * v->K;
            int best = 0;
            for (int k = 1; k < v->K; k++) if (r[k] > r[best]) best = k;
            double z = 0.0;
            for (int k = 0; k < v->K; k++) z += exp((double)(r[k] - r[best]));
            answer[b] = best;
            if (prob) prob[b] = (float)(1.0 / z);
        }
    }
    mmf_tape_free(tp);
    for (int m = 0; m < M; m++) free(x[m]);
    free(mk);
    return s;
}

int mmf_vqa_n_answers(const mmf_vqa *v) { return v->K; }
const char *mmf_vqa_answer(const mmf_vqa *v, int k) { return k >= 0 && k < v->K ? v->answers[k] : NULL; }
int mmf_vqa_n_modalities(const mmf_vqa *v) { return v->head->cfg.M; }
const char *mmf_vqa_modality(const mmf_vqa *v, int m) { return m >= 0 && m < v->head->cfg.M ? v->head->cfg.names[m] : NULL; }
int64_t mmf_vqa_dim(const mmf_vqa *v, int m) { return m >= 0 && m < v->head->cfg.M ? v->head->cfg.dims[m] : 0; }
const char *mmf_vqa_encoder(const mmf_vqa *v, int m) { return m >= 0 && m < v->head->cfg.M ? v->encoders[m] : NULL; }
const mmf_caption_vocab *mmf_vqa_bow(const mmf_vqa *v, int m) { return m == v->bow_m ? v->bow : NULL; }

mmf_status mmf_vqa_set_encoder(mmf_vqa *v, const char *modality, const char *dir) {
    for (int m = 0; m < v->head->cfg.M; m++)
        if (!strcmp(v->head->cfg.names[m], modality)) {
            if (strlen(dir) >= sizeof v->encoders[m]) return mmf_fail(MMF_ERR_ARG, "vqa: encoder path too long");
            snprintf(v->encoders[m], sizeof v->encoders[m], "%s", dir);
            return MMF_OK;
        }
    return mmf_fail(MMF_ERR_ARG, "vqa: the model has no modality \"%s\"", modality);
}

/* Record a bag-of-words question featuriser (its vocabulary is copied into the model file). */
mmf_status mmf_vqa_set_bow(mmf_vqa *v, const char *modality, const mmf_caption_vocab *bow) {
    for (int m = 0; m < v->head->cfg.M; m++)
        if (!strcmp(v->head->cfg.names[m], modality)) {
            if (bow->n != v->head->cfg.dims[m])
                return mmf_fail(MMF_ERR_SHAPE, "vqa: bag of words has %d entries, modality \"%s\" has dimension %lld", bow->n,
                                modality, (long long)v->head->cfg.dims[m]);
            const char **w = malloc((size_t)bow->n * sizeof *w);
            if (!w) return mmf_fail(MMF_ERR_NOMEM, "vqa: out of memory");
            for (int32_t i = 0; i < bow->n; i++) w[i] = mmf_caption_vocab_word(bow, i);
            mmf_caption_vocab *copy;
            mmf_status s = cap_vocab_from_list(w, bow->n, "bag of words", &copy);
            free(w);
            if (s) return s;
            mmf_caption_vocab_free(v->bow);
            v->bow = copy;
            v->bow_m = m;
            snprintf(v->encoders[m], sizeof v->encoders[m], "bow");
            return MMF_OK;
        }
    return mmf_fail(MMF_ERR_ARG, "vqa: the model has no modality \"%s\"", modality);
}

/* ------------------------------------------------------------ save / load */

mmf_status mmf_vqa_save(const mmf_vqa *v, const char *path) {
    /* the head's own file format, plus __metadata__ "mmfuse.vqa" (answers, encoders, bag of words) */
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", "mmfuse.vqa/1");
    cJSON *ans = cJSON_AddArrayToObject(o, "answers");
    for (int k = 0; k < v->K; k++) cJSON_AddItemToArray(ans, cJSON_CreateString(v->answers[k]));
    cJSON *enc = cJSON_AddObjectToObject(o, "encoders");
    for (int m = 0; m < v->head->cfg.M; m++) cJSON_AddStringToObject(enc, v->head->cfg.names[m], v->encoders[m]);
    if (v->bow) {
        cJSON *bw = cJSON_AddObjectToObject(o, "bow");
        cJSON_AddStringToObject(bw, "modality", v->head->cfg.names[v->bow_m]);
        cJSON *words = cJSON_AddArrayToObject(bw, "vocab");
        for (int32_t i = 0; i < v->bow->n; i++) cJSON_AddItemToArray(words, cJSON_CreateString(mmf_caption_vocab_word(v->bow, i)));
    }
    char *meta = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!meta) return mmf_fail(MMF_ERR_NOMEM, "out of memory");
    /* the head's saver writes a sibling temp file; its tensors and metadata are copied
     * into the final file with the extra key (atomic: the previous file stays until then) */
    size_t pl = strlen(path) + 16;
    char *tmp = malloc(pl);
    if (!tmp) { free(meta); return mmf_fail(MMF_ERR_NOMEM, "out of memory"); }
    snprintf(tmp, pl, "%s.head.tmp", path);
    mmf_status s = mmf_head_save(v->head, tmp);
    mmf_safetensors *st = NULL;
    mmf_st_writer *w = NULL;
    if (!s) s = mmf_st_open(tmp, &st);
    if (!s && !(w = mmf_st_writer_new())) s = mmf_fail(MMF_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !s && i < mmf_st_metadata_count(st); i++) {
        const char *k, *val;
        mmf_st_metadata_at(st, i, &k, &val);
        s = mmf_st_writer_meta(w, k, val);
    }
    if (!s) s = mmf_st_writer_meta(w, "mmfuse.vqa", meta);
    for (size_t i = 0; !s && i < mmf_st_count(st); i++) {
        const mmf_tensor_info *t = mmf_st_at(st, i);
        s = mmf_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data);
    }
    if (!s) s = mmf_st_writer_finish(w, path);
    mmf_st_writer_free(w);
    mmf_st_close(st);
    remove(tmp);
    free(tmp);
    free(meta);
    return s;
}

mmf_status mmf_vqa_load(const char *path, mmf_vqa **out) {
    *out = NULL;
    mmf_safetensors *st;
    const char *meta;
    MMF_TRY(mmf_model_file_open(path, "mmfuse.vqa", "VQA model", &st, &meta));
    char file[700];
    snprintf(file, sizeof file, "%s: __metadata__ \"mmfuse.vqa\"", path);
    cJSON *o = NULL;
    mmf_status s = mmf_json_parse(meta, strlen(meta), file, &o);
    mmf_st_close(st);
    mmf_vqa *v = NULL;
    if (!s && !(v = calloc(1, sizeof *v))) s = mmf_fail(MMF_ERR_NOMEM, "out of memory");
    if (v) v->bow_m = -1;
    if (!s) s = mmf_head_load(path, &v->head);
    if (!s && (v->head->cfg.task != MMF_TASK_CLASSIFY))
        s = mmf_fail(MMF_ERR_FORMAT, "%s: the VQA head must be a classify head", path);
    const cJSON *ans = o ? cJSON_GetObjectItemCaseSensitive(o, "answers") : NULL;
    if (!s && (!cJSON_IsArray(ans) || cJSON_GetArraySize(ans) != v->head->cfg.n_out))
        s = mmf_fail(MMF_ERR_FORMAT, "%s: field \"answers\": expected an array of %lld strings (the head's outputs)", file,
                     (long long)v->head->cfg.n_out);
    if (!s) {
        v->K = cJSON_GetArraySize(ans);
        if (!(v->answers = calloc((size_t)v->K, sizeof *v->answers))) s = mmf_fail(MMF_ERR_NOMEM, "out of memory");
        for (int k = 0; !s && k < v->K; k++) {
            const cJSON *e = cJSON_GetArrayItem(ans, k);
            if (!cJSON_IsString(e)) { s = mmf_fail(MMF_ERR_FORMAT, "%s: answer %d is not a string", file, k); break; }
            if (!(v->answers[k] = strdup(e->valuestring))) s = mmf_fail(MMF_ERR_NOMEM, "out of memory");
        }
    }
    const cJSON *enc = o ? cJSON_GetObjectItemCaseSensitive(o, "encoders") : NULL;
    for (int m = 0; !s && v && m < v->head->cfg.M; m++) {
        const char *e;
        s = mmf_json_str(enc, v->head->cfg.names[m], "", file, &e);
        if (!s) snprintf(v->encoders[m], sizeof v->encoders[m], "%s", e);
    }
    const cJSON *bw = o ? cJSON_GetObjectItemCaseSensitive(o, "bow") : NULL;
    if (!s && bw) {
        const char *mod;
        s = mmf_json_str(bw, "modality", NULL, file, &mod);
        for (int m = 0; !s && mod && m < v->head->cfg.M; m++) if (!strcmp(v->head->cfg.names[m], mod)) v->bow_m = m;
        if (!s && v->bow_m < 0) s = mmf_fail(MMF_ERR_FORMAT, "%s: field \"bow\".\"modality\" names no modality of the head", file);
        const cJSON *words = cJSON_GetObjectItemCaseSensitive(bw, "vocab");
        if (!s && (!cJSON_IsArray(words) || cJSON_GetArraySize(words) != v->head->cfg.dims[v->bow_m]))
            s = mmf_fail(MMF_ERR_FORMAT, "%s: field \"bow\".\"vocab\": expected %lld strings", file, (long long)v->head->cfg.dims[v->bow_m]);
        if (!s) {
            int n = cJSON_GetArraySize(words);
            const char **w = malloc((size_t)n * sizeof *w);
            if (!w) s = mmf_fail(MMF_ERR_NOMEM, "out of memory");
            for (int i = 0; !s && i < n; i++) { const cJSON *e = cJSON_GetArrayItem(words, i); w[i] = cJSON_IsString(e) ? e->valuestring : NULL; }
            if (!s) s = cap_vocab_from_list(w, n, file, &v->bow);
            free(w);
        }
    }
    cJSON_Delete(o);
    if (s) { mmf_vqa_free(v); return s; }
    *out = v;
    return MMF_OK;
}
