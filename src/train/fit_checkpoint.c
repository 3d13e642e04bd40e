/* Checkpoints of the training loop (fit_checkpoint.h).
 *
 * One safetensors file: every parameter as "s<k>.<name>" (set k), each
 * optimiser's moments "o<k>.m", "o<k>.v", the optimisers' steps and last
 * learning rates, the shuffle generator, the epoch's order, the loop's
 * position and sums, the extra state, the best weights and the trainer's
 * blobs; what each rank holds for itself (its dropout generator, per-rank
 * blobs) is one row per rank of "fit.ranks". __metadata__ holds the format
 * version, the trainer, the setup lines a resume must match, a readable
 * position and a checksum of all tensor bytes (safetensors' own checks would
 * not see a flipped byte). The tensors are streamed from where they live: the
 * writer only lays the file out, so a checkpoint costs no second copy of the
 * model. */
#include "train/fit_checkpoint.h"
#include "core/error.h"
#include "io/atomic_file.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CKPT_FORMAT "1"
#define N_POS 9   /* fit.position: epoch, step, shuffled, global, finished, since, have_best, counted, samples */

struct mmf_fit_ckpt {
    const char *path;
    int64_t every;
    int resume, optional;
    int rank, size;
    char *setup;   /* the caller's lines, then the loop's */
};

/* ------------------------------------------------------------ setup lines */

typedef struct sbuf { char *p; size_t n, cap; int oom; } sbuf;

static void sb_add(sbuf *b, const char *fmt, ...) MMF_PRINTF(2, 3);
static void sb_add(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) { b->oom = 1; return; }
        if (b->p && b->n + (size_t)k < b->cap) { b->n += (size_t)k; return; }
        size_t cap = (b->cap ? 2 * b->cap : 1024) + (size_t)k;
        char *q = realloc(b->p, cap);
        if (!q) { b->oom = 1; return; }
        b->p = q;
        b->cap = cap;
    }
}

static const char *kind_name(mmf_optim_kind k) { return k == MMF_OPT_SGD ? "sgd" : k == MMF_OPT_ADAM ? "adam" : "adamw"; }

/* the loop's own lines, after the caller's: everything here fixes the run */
static char *make_setup(const mmf_fit *f, const char *caller, int size) {
    sbuf b = {0};
    for (const char *l = caller ? caller : ""; *l;) {   /* the caller's lines, one per line, no empty ones */
        size_t len = strcspn(l, "\n");
        if (len) sb_add(&b, "%.*s\n", (int)len, l);
        l += len + (l[len] == '\n');
    }
    sb_add(&b, "samples=%lld\nbatch=%lld\nsmallest last batch=%lld\nepochs=%d\nvalidation=%s\npatience=%d\nepoch order=%s\nranks=%d\n",
           (long long)f->n, (long long)f->batch, (long long)(f->min_batch > 1 ? f->min_batch : 1), f->epochs,
           f->ops.eval ? "yes" : "no", f->ops.eval ? f->patience : 0, f->fresh_order ? "fresh" : "reshuffled", size);
    uint64_t init = mmf_hash64(f->rng->s, sizeof f->rng->s, 0);
    mmf_rng *trng = mmf_tape_rng(f->tp);
    init = mmf_hash64(trng->s, sizeof trng->s, init);
    for (int k = 0; k < f->n_sets; k++) {
        const mmf_params *ps = f->sets[k];
        uint64_t lay = 0;
        for (int i = 0; i < ps->n; i++) {
            lay = mmf_hash64(ps->p[i].name, strlen(ps->p[i].name) + 1, lay);
            lay = mmf_hash64(ps->p[i].shape, (size_t)ps->p[i].ndim * sizeof ps->p[i].shape[0], lay);
        }
        sb_add(&b, "parameter set %d=%d tensors, %lld values, names and shapes %016llx\n", k, ps->n, (long long)ps->total,
               (unsigned long long)lay);
        const mmf_optim_params *o = &f->opts[k]->p;
        sb_add(&b, "optimiser %d=%s lr %.9g weight decay %.9g clip %.9g momentum %.9g betas %.9g %.9g eps %.9g %s", k,
               kind_name(o->kind), o->lr, o->weight_decay, o->clip_norm, o->momentum, o->beta1, o->beta2, o->eps,
               o->sched == MMF_SCHED_COSINE ? "cosine" : "constant");
        if (o->sched == MMF_SCHED_COSINE)
            sb_add(&b, " warmup %lld of %lld steps", (long long)o->warmup_steps, (long long)o->total_steps);
        sb_add(&b, "\n");
        init = mmf_hash64(ps->data, (size_t)ps->total * sizeof(float), init);
    }
    sb_add(&b, "extra state=%lld values\n", (long long)f->n_state);
    if (f->n_state) init = mmf_hash64(f->state, (size_t)f->n_state * sizeof(float), init);
    sb_add(&b, "trainer state=");
    for (int i = 0; i < f->n_blobs; i++) {
        sb_add(&b, "%s%s %zu bytes%s", i ? ", " : "", f->blobs[i].name, f->blobs[i].bytes, f->blobs[i].per_rank ? " per rank" : "");
        init = mmf_hash64(f->blobs[i].p, f->blobs[i].bytes, init);
    }
    /* the seed, the model's sizes and whatever the trainer derived from its data */
    sb_add(&b, "\ninitial weights and generators=%016llx\n", (unsigned long long)init);
    if (b.oom) { free(b.p); return NULL; }
    return b.p;
}

/* the value of `key` (klen bytes) in setup lines, or NULL */
static const char *find_line(const char *text, const char *key, size_t klen, size_t *vlen) {
    for (const char *l = text; *l;) {
        size_t len = strcspn(l, "\n"), kl = strcspn(l, "=");
        if (kl < len && kl == klen && !memcmp(l, key, klen)) { *vlen = len - kl - 1; return l + kl + 1; }
        l += len + (l[len] == '\n');
    }
    return NULL;
}

/* every key of `a` against `b`; the first that differs, or is missing, makes the message */
static int first_diff(const char *a, const char *b, const char **key, size_t *klen, const char **va, size_t *la,
                      const char **vb, size_t *lb) {
    for (const char *l = a; *l;) {
        size_t len = strcspn(l, "\n"), kl = strcspn(l, "=");
        if (kl < len) {
            const char *v = find_line(b, l, kl, lb);
            if (!v || *lb != len - kl - 1 || memcmp(v, l + kl + 1, *lb)) {
                *key = l; *klen = kl; *va = l + kl + 1; *la = len - kl - 1; *vb = v;
                return 1;
            }
        }
        l += len + (l[len] == '\n');
    }
    return 0;
}

static mmf_status compare_setup(const mmf_fit *f, const char *path, const char *here, const char *there) {
    const char *key, *va, *vb;
    size_t kl, la, lb;
    int swap = 0;
    if (!first_diff(here, there, &key, &kl, &va, &la, &vb, &lb)) {
        if (!first_diff(there, here, &key, &kl, &va, &la, &vb, &lb)) return MMF_OK;
        swap = 1;   /* a key only the checkpoint has */
    }
    const char *vh = swap ? vb : va, *vt = swap ? va : vb;
    size_t lh = swap ? lb : la, lt = swap ? la : lb;
    return mmf_fail(MMF_ERR_FORMAT,
                    "%s: checkpoint %s comes from another training setup: %.*s is %s%.*s%s here, %s%.*s%s in the checkpoint "
                    "(resume with the same data and options, or start afresh)",
                    f->what, path, (int)kl, key, vh ? "\"" : "", vh ? (int)lh : 7, vh ? vh : "not set", vh ? "\"" : "",
                    vt ? "\"" : "", vt ? (int)lt : 7, vt ? vt : "not set", vt ? "\"" : "");
}

/* ------------------------------------------------------------ tensor list */

typedef struct ck_tensor {
    char name[MMF_PARAM_NAME + 16];
    mmf_dtype dt;
    int ndim;
    int64_t shape[MMF_T_MAXDIM];
    void *p;
    size_t bytes;
} ck_tensor;

typedef struct ck_list { ck_tensor *t; int n, cap; } ck_list;

static int add(ck_list *l, mmf_dtype dt, void *p, int64_t count, size_t esize, const char *fmt, ...) MMF_PRINTF(6, 7);
static int add(ck_list *l, mmf_dtype dt, void *p, int64_t count, size_t esize, const char *fmt, ...) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        ck_tensor *t = realloc(l->t, (size_t)cap * sizeof *t);
        if (!t) return -1;
        l->t = t;
        l->cap = cap;
    }
    ck_tensor *t = &l->t[l->n++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->dt = dt;
    t->ndim = 1;
    t->shape[0] = count;
    t->p = p;
    t->bytes = (size_t)count * esize;
    return 0;
}

/* A rank's own state, as int64 words (so that an all-reduced sum of rows only
 * their rank fills gathers them exactly): the tape's generator (dropout), then
 * each per-rank blob, padded to whole words. */
static int64_t rank_words(const mmf_fit *f) {
    int64_t w = 4;
    for (int i = 0; i < f->n_blobs; i++)
        if (f->blobs[i].per_rank) w += (int64_t)((f->blobs[i].bytes + 7) / 8);
    return w;
}

static void pack_rank(const mmf_fit *f, int64_t *row) {
    memcpy(row, mmf_tape_rng(f->tp)->s, 4 * sizeof *row);
    int64_t at = 4;
    for (int i = 0; i < f->n_blobs; i++)
        if (f->blobs[i].per_rank) {
            memcpy(row + at, f->blobs[i].p, f->blobs[i].bytes);
            at += (int64_t)((f->blobs[i].bytes + 7) / 8);
        }
}

static void unpack_rank(const mmf_fit *f, const int64_t *row) {
    memcpy(mmf_tape_rng(f->tp)->s, row, 4 * sizeof *row);
    int64_t at = 4;
    for (int i = 0; i < f->n_blobs; i++)
        if (f->blobs[i].per_rank) {
            memcpy(f->blobs[i].p, row + at, f->blobs[i].bytes);
            at += (int64_t)((f->blobs[i].bytes + 7) / 8);
        }
}

/* The loop's scalars travel in these arrays (filled before a write, read after a load). */
typedef struct ck_scalars {
    int64_t pos[N_POS];
    double sums[3];            /* loss_sum, loss_wsum, best_score */
    uint64_t rng[4];
    int64_t *ranks;            /* [size][rank_words]: each rank's own state */
    int64_t steps[MMF_FIT_MAX_SETS];
    float last[2 * MMF_FIT_MAX_SETS];
} ck_scalars;

/* Every tensor of the file, pointing where its bytes live. */
static int collect(const mmf_fit *f, const mmf_fit_pos *pos, int have_best, int size, ck_scalars *sc, ck_list *l) {
    int e = 0;
    int64_t total = f->n_state;
    for (int k = 0; k < f->n_sets; k++) {
        mmf_params *ps = f->sets[k];
        total += ps->total;
        for (int i = 0; i < ps->n && !e; i++) {
            e = add(l, MMF_DT_F32, ps->data + ps->p[i].offset, ps->p[i].n, sizeof(float), "s%d.%s", k, ps->p[i].name);
            if (!e) {   /* its real shape, for whoever inspects the file */
                ck_tensor *t = &l->t[l->n - 1];
                t->ndim = ps->p[i].ndim;
                for (int d = 0; d < t->ndim; d++) t->shape[d] = ps->p[i].shape[d];
            }
        }
        if (!e && ps->total) e = add(l, MMF_DT_F32, f->opts[k]->m, ps->total, sizeof(float), "o%d.m", k);
        if (!e && ps->total) e = add(l, MMF_DT_F32, f->opts[k]->v, ps->total, sizeof(float), "o%d.v", k);
    }
    if (!e && f->n_sets) e = add(l, MMF_DT_I64, sc->steps, f->n_sets, 8, "optimiser.steps");
    if (!e && f->n_sets) e = add(l, MMF_DT_F32, sc->last, 2 * f->n_sets, 4, "optimiser.last_lr_norm");
    if (!e) e = add(l, MMF_DT_I64, sc->pos, N_POS, 8, "fit.position");
    if (!e) e = add(l, MMF_DT_F64, sc->sums, 3, 8, "fit.sums");
    if (!e) e = add(l, MMF_DT_U64, sc->rng, 4, 8, "fit.rng");
    if (!e) {
        int64_t w = rank_words(f);
        e = add(l, MMF_DT_I64, sc->ranks, w * size, 8, "fit.ranks");
        if (!e) { ck_tensor *t = &l->t[l->n - 1]; t->ndim = 2; t->shape[0] = size; t->shape[1] = w; }
    }
    if (!e) e = add(l, MMF_DT_I64, pos->order, f->n, 8, "fit.order");
    if (!e && f->n_state) e = add(l, MMF_DT_F32, f->state, f->n_state, sizeof(float), "fit.state");
    if (!e && have_best) e = add(l, MMF_DT_F32, pos->best, total, sizeof(float), "fit.best");
    for (int i = 0; i < f->n_blobs && !e; i++)
        if (f->blobs[i].bytes && !f->blobs[i].per_rank) e = add(l, MMF_DT_U8, f->blobs[i].p, (int64_t)f->blobs[i].bytes, 1, "trainer.%s", f->blobs[i].name);
    return e;
}

/* ------------------------------------------------------------------ comm */

static const mmf_comm *comm_of(const mmf_fit *f) { return f->comm && f->comm->size > 1 ? f->comm : NULL; }

/* Every rank learns the sum of v[0..n) over the ranks (no comm: v as is). */
static mmf_status agree(const mmf_fit *f, int64_t *v, size_t n) {
    const mmf_comm *c = comm_of(f);
    if (c && c->allreduce(v, n, MMF_DT_I64, MMF_COMM_SUM, c->user))
        return mmf_fail(MMF_ERR_IO, "%s: the checkpoint's all-reduce failed", f->what);
    return MMF_OK;
}

/* A local failure s, or one elsewhere, fails every rank. */
static mmf_status all_ok(const mmf_fit *f, mmf_status s) {
    int64_t bad = s != MMF_OK;
    mmf_status as = agree(f, &bad, 1);
    if (s) return s;
    if (as) return as;
    if (bad) return mmf_fail(MMF_ERR_IO, "%s: the checkpoint failed on another rank", f->what);
    return MMF_OK;
}

/* ------------------------------------------------------------------ open */

mmf_status mmf_fit_ckpt_open(const mmf_fit *f, mmf_fit_ckpt **out) {
    *out = NULL;
    const mmf_checkpoint_params *cp = f->ckpt;
    const char *path = f->ckpt_path ? f->ckpt_path : cp ? cp->path : NULL;
    if (!cp || !path || !*path) return MMF_OK;
    if (cp->every < 0) return mmf_fail(MMF_ERR_ARG, "%s: checkpoint every %lld steps: expected >= 0 (0 = each epoch)", f->what, (long long)cp->every);
    const mmf_comm *cm = comm_of(f);
    mmf_fit_ckpt *c = calloc(1, sizeof *c);
    mmf_status s = c ? MMF_OK : mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", f->what);
    if (!s) {
        c->path = path;
        c->every = cp->every;
        c->resume = cp->resume != 0;
        c->optional = f->ckpt_optional;
        c->rank = cm ? cm->rank : 0;
        c->size = cm ? cm->size : 1;
        if (!(c->setup = make_setup(f, cp->setup, c->size))) s = mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", f->what);
    }
    /* starting afresh over an earlier run's checkpoint would lose it at the first write */
    if (!s && !c->resume && access(path, F_OK) == 0)
        s = mmf_fail(MMF_ERR_ARG, "%s: checkpoint %s exists: resume from it, or remove it to start afresh", f->what, path);
    s = all_ok(f, s);
    if (s) { mmf_fit_ckpt_free(c); return s; }
    *out = c;
    return MMF_OK;
}

void mmf_fit_ckpt_free(mmf_fit_ckpt *c) {
    if (!c) return;
    free(c->setup);
    free(c);
}

int mmf_fit_ckpt_due_step(const mmf_fit_ckpt *c, int64_t global) { return c && c->every > 0 && global % c->every == 0; }
int mmf_fit_ckpt_due_epoch(const mmf_fit_ckpt *c, int finished) { return c && (finished || c->every == 0); }

/* ------------------------------------------------------------------ write */

static void position_text(const mmf_fit *f, const mmf_fit_pos *p, char *buf, size_t cap) {
    if (p->finished) snprintf(buf, cap, "finished after epoch %d of %d (%lld steps)", p->epoch, f->epochs, (long long)p->global);
    else snprintf(buf, cap, "epoch %d of %d, %lld steps done in it (%lld in all)", p->epoch + 1, f->epochs, (long long)p->step,
                  (long long)p->global);
}

static void fill_scalars(const mmf_fit *f, const mmf_fit_pos *p, ck_scalars *sc) {
    int64_t v[N_POS] = {p->epoch, p->step, p->shuffled, p->global, p->finished, p->since, p->have_best, p->r.counted, p->r.samples};
    memcpy(sc->pos, v, sizeof v);
    sc->sums[0] = p->r.loss_sum;
    sc->sums[1] = p->r.loss_wsum;
    sc->sums[2] = p->best_score;
    memcpy(sc->rng, f->rng->s, sizeof sc->rng);
    for (int k = 0; k < f->n_sets; k++) {
        sc->steps[k] = f->opts[k]->step;
        sc->last[2 * k] = f->opts[k]->last_lr;
        sc->last[2 * k + 1] = f->opts[k]->last_grad_norm;
    }
}

static int by_offset(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static mmf_status write_file(const mmf_fit_ckpt *c, const mmf_fit *f, const mmf_fit_pos *p, ck_scalars *sc) {
    ck_list l = {0};
    mmf_st_writer *w = mmf_st_writer_new();
    uint64_t *off = NULL;   /* each tensor's offset in the file */
    void *hdr = NULL;
    size_t hlen = 0;
    uint64_t total = 0;
    mmf_status s = w ? MMF_OK : mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", f->what);
    if (!s && collect(f, p, p->have_best, c->size, sc, &l)) s = mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", f->what);
    for (int i = 0; !s && i < l.n; i++) s = mmf_st_writer_reserve(w, l.t[i].name, l.t[i].dt, l.t[i].ndim, l.t[i].shape);
    if (!s && !(off = malloc((size_t)(l.n ? l.n : 1) * sizeof *off))) s = mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", f->what);
    /* the file order first (the checksum follows it), then the header with the checksum in it */
    if (!s) s = mmf_st_writer_layout(w, &hdr, &hlen, off, &total);
    free(hdr);
    hdr = NULL;
    uint64_t *pairs = NULL;   /* (offset, index): the tensors in file order */
    if (!s && !(pairs = malloc((size_t)(l.n ? l.n : 1) * 2 * sizeof *pairs))) s = mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", f->what);
    for (int i = 0; !s && i < l.n; i++) { pairs[2 * i] = off[i]; pairs[2 * i + 1] = (uint64_t)i; }
    if (!s) qsort(pairs, (size_t)l.n, 2 * sizeof *pairs, by_offset);
    uint64_t sum = 0;
    for (int i = 0; !s && i < l.n; i++) sum = mmf_hash64(l.t[pairs[2 * i + 1]].p, l.t[pairs[2 * i + 1]].bytes, sum);
    char buf[256];
    if (!s) s = mmf_st_writer_meta(w, "mmfuse.checkpoint", CKPT_FORMAT);
    if (!s) s = mmf_st_writer_meta(w, "mmfuse.trainer", f->what);
    if (!s) s = mmf_st_writer_meta(w, "mmfuse.version", mmf_version());
    if (!s) s = mmf_st_writer_meta(w, "mmfuse.setup", c->setup);
    position_text(f, p, buf, sizeof buf);
    if (!s) s = mmf_st_writer_meta(w, "mmfuse.position", buf);
    snprintf(buf, sizeof buf, "%016llx", (unsigned long long)sum);
    if (!s) s = mmf_st_writer_meta(w, "mmfuse.checksum", buf);
    if (!s) s = mmf_st_writer_layout(w, &hdr, &hlen, off, &total);
    mmf_atomic_file *af = NULL;
    if (!s) s = mmf_atomic_open(c->path, &af);
    if (!s) s = mmf_atomic_write(af, hdr, hlen);
    uint64_t at = hlen;
    for (int i = 0; !s && i < l.n; i++) {
        const ck_tensor *t = &l.t[pairs[2 * i + 1]];
        if (off[pairs[2 * i + 1]] != at) s = mmf_fail(MMF_ERR_IO, "%s: checkpoint %s: unexpected layout", f->what, c->path);
        if (!s && t->bytes) s = mmf_atomic_write(af, t->p, t->bytes);
        at += t->bytes;
    }
    if (!s && at != total) s = mmf_fail(MMF_ERR_IO, "%s: checkpoint %s: unexpected layout", f->what, c->path);
    if (af) {
        if (s) mmf_atomic_abort(af);
        else s = mmf_atomic_commit(af);
    }
    if (s) s = mmf_fail_wrap(s, "%s: writing checkpoint %s", f->what, c->path);
    free(hdr);
    free(pairs);
    free(off);
    free(l.t);
    mmf_st_writer_free(w);
    return s;
}

mmf_status mmf_fit_ckpt_save(mmf_fit_ckpt *c, const mmf_fit *f, const mmf_fit_pos *p) {
    for (int k = 0; k < f->n_sets; k++) mmf_optim_flush(f->opts[k], f->sets[k]);   /* the weights as they stand */
    ck_scalars sc;
    fill_scalars(f, p, &sc);
    /* each rank's dropout stream and counters are its own: rank 0 writes them all */
    int64_t w = rank_words(f), *tr = calloc((size_t)(c->size * w), sizeof *tr);
    if (!tr) return all_ok(f, mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", f->what));
    pack_rank(f, tr + w * c->rank);
    mmf_status s = agree(f, tr, (size_t)(c->size * w));
    sc.ranks = tr;
    if (!s && c->rank == 0) s = write_file(c, f, p, &sc);
    free(tr);
    s = all_ok(f, s);
    if (!s && c->rank == 0 && f->ckpt->notice)
        f->ckpt->notice(f->ckpt->notice_user, 0, c->path, p->finished ? p->epoch : p->epoch + 1, p->finished ? 0 : p->step, p->finished);
    return s;
}

/* ------------------------------------------------------------------ load */

static mmf_status get(const mmf_fit *f, const mmf_safetensors *st, const char *path, const ck_tensor *t) {
    const mmf_tensor_info *ti = mmf_st_find(st, t->name);
    if (!ti || ti->dtype != t->dt || ti->nbytes != t->bytes)
        return mmf_fail(MMF_ERR_FORMAT, "%s: checkpoint %s: tensor \"%s\" is %s (the file is damaged)", f->what, path, t->name,
                        ti ? "of another size or type" : "missing");
    if (t->bytes) memcpy(t->p, ti->data, t->bytes);
    return MMF_OK;
}

static mmf_status load_file(const mmf_fit_ckpt *c, const mmf_fit *f, mmf_fit_pos *p) {
    const char *path = c->path;
    mmf_safetensors *st = NULL;
    mmf_status s = mmf_st_open(path, &st);
    if (s) return mmf_fail_wrap(MMF_ERR_FORMAT, "%s: checkpoint %s is damaged or not a checkpoint", f->what, path);
    const char *fmt = mmf_st_metadata(st, "mmfuse.checkpoint"), *tr = mmf_st_metadata(st, "mmfuse.trainer");
    const char *setup = mmf_st_metadata(st, "mmfuse.setup"), *sum = mmf_st_metadata(st, "mmfuse.checksum");
    if (!fmt || !tr || !setup || !sum)
        s = mmf_fail(MMF_ERR_FORMAT, "%s: %s is not an mmfuse training checkpoint (no mmfuse.checkpoint metadata)", f->what, path);
    else if (strcmp(fmt, CKPT_FORMAT))
        s = mmf_fail(MMF_ERR_FORMAT, "%s: checkpoint %s has format %s; this mmfuse reads format %s", f->what, path, fmt, CKPT_FORMAT);
    if (!s) {   /* every tensor byte, in file order (mmf_st_at is sorted by offset) */
        uint64_t h = 0;
        for (size_t i = 0; i < mmf_st_count(st); i++) h = mmf_hash64(mmf_st_at(st, i)->data, mmf_st_at(st, i)->nbytes, h);
        char want[32];
        snprintf(want, sizeof want, "%016llx", (unsigned long long)h);
        if (strcmp(want, sum)) s = mmf_fail(MMF_ERR_FORMAT, "%s: checkpoint %s is damaged: its checksum does not match its contents", f->what, path);
    }
    if (!s && strcmp(tr, f->what))
        s = mmf_fail(MMF_ERR_FORMAT, "%s: checkpoint %s was written by another trainer (%s)", f->what, path, tr);
    if (!s) s = compare_setup(f, path, c->setup, setup);
    ck_scalars sc;
    memset(&sc, 0, sizeof sc);
    ck_tensor pt = {.name = "fit.position", .dt = MMF_DT_I64, .p = sc.pos, .bytes = sizeof sc.pos};
    if (!s) s = get(f, st, path, &pt);
    int64_t w = rank_words(f), *rows = s ? NULL : calloc((size_t)(c->size * w), sizeof *rows);
    if (!s && !rows) s = mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", f->what);
    sc.ranks = rows;
    ck_list l = {0};
    if (!s && sc.pos[6] && !p->best) s = mmf_fail(MMF_ERR_FORMAT, "%s: checkpoint %s holds best weights without validation (the file is damaged)", f->what, path);
    if (!s && collect(f, p, sc.pos[6] != 0, c->size, &sc, &l)) s = mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", f->what);
    /* a position out of range would be a damaged file that kept its checksum: refuse it anyway */
    if (!s && (sc.pos[0] < 0 || sc.pos[0] > f->epochs || sc.pos[1] < 0 || sc.pos[1] > mmf_fit_steps_per_epoch(f->n, f->batch, f->min_batch)))
        s = mmf_fail(MMF_ERR_FORMAT, "%s: checkpoint %s: position out of range (the file is damaged)", f->what, path);
    for (int i = 0; !s && i < l.n; i++) s = get(f, st, path, &l.t[i]);
    for (int64_t i = 0; !s && i < f->n; i++)
        if (p->order[i] < 0 || p->order[i] >= f->n) s = mmf_fail(MMF_ERR_FORMAT, "%s: checkpoint %s: epoch order out of range", f->what, path);
    if (!s) {
        p->epoch = (int)sc.pos[0];
        p->step = sc.pos[1];
        p->shuffled = sc.pos[2] != 0;
        p->global = sc.pos[3];
        p->finished = sc.pos[4] != 0;
        p->since = (int)sc.pos[5];
        p->have_best = sc.pos[6] != 0;
        p->r = (mmf_fit_report){.epoch = p->epoch + 1, .epochs = f->epochs, .steps = mmf_fit_steps_per_epoch(f->n, f->batch, f->min_batch),
                                .step = p->step, .loss_sum = sc.sums[0], .loss_wsum = sc.sums[1], .counted = sc.pos[7], .samples = sc.pos[8]};
        p->best_score = sc.sums[2];
        memcpy(f->rng->s, sc.rng, sizeof sc.rng);
        unpack_rank(f, rows + w * c->rank);
        for (int k = 0; k < f->n_sets; k++) {
            mmf_params *ps = f->sets[k];
            f->opts[k]->step = sc.steps[k];
            f->opts[k]->last_lr = sc.last[2 * k];
            f->opts[k]->last_grad_norm = sc.last[2 * k + 1];
            for (int i = 0; i < ps->n; i++) ps->p[i].grad_stale = 1;   /* as the optimiser leaves them */
            /* the bf16 copy as the optimiser leaves it (round(data)); without one, stale */
            if (ps->bf16) s = mmf_params_bf16_shadow(ps);
            else mmf_params_touch(ps);
        }
    }
    free(rows);
    free(l.t);
    mmf_st_close(st);
    return s;
}

mmf_status mmf_fit_ckpt_load(mmf_fit_ckpt *c, const mmf_fit *f, mmf_fit_pos *p, int *resumed) {
    *resumed = 0;
    if (!c || !c->resume) return MMF_OK;
    mmf_status s = MMF_OK;
    int64_t seen[2] = {0, 0};   /* ranks that found the file, ranks that did not */
    int absent = access(c->path, F_OK) != 0;
    if (absent && errno != ENOENT)
        s = mmf_fail(MMF_ERR_IO, "%s: checkpoint %s: %s", f->what, c->path, strerror(errno));
    else if (absent && !c->optional)
        s = mmf_fail(MMF_ERR_NOT_FOUND, "%s: checkpoint %s does not exist: nothing to resume (start without resuming)", f->what, c->path);
    seen[absent ? 1 : 0] = 1;
    mmf_status as = agree(f, seen, 2);
    if (!s && !as && seen[0] && seen[1])
        s = mmf_fail(MMF_ERR_IO, "%s: checkpoint %s is seen by %lld of %d ranks: put it where every rank reads it", f->what, c->path,
                     (long long)seen[0], c->size);
    if (!s) s = as;
    s = all_ok(f, s);
    if (s || absent) return s;
    s = all_ok(f, load_file(c, f, p));
    if (s) return s;
    *resumed = 1;
    if (f->ckpt->notice)
        f->ckpt->notice(f->ckpt->notice_user, 1, c->path, p->finished ? p->epoch : p->epoch + 1, p->finished ? 0 : p->step, p->finished);
    return MMF_OK;
}
