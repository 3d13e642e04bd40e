/* Training (mini-batch AdamW, modality dropout, early stopping on the validation
 * set), evaluation (with modalities removed, random drops, Gaussian noise),
 * prediction and writing fused embeddings. */
#include "fusion/head.h"
#include "core/error.h"
#include "core/ops.h"
#include "train/fit.h"
#include "train/optim.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mmf_train_params mmf_train_params_default(void) {
    mmf_train_params p;
    memset(&p, 0, sizeof p);
    p.fusion = "concat";
    p.task = MMF_TASK_CLASSIFY;
    p.hidden = 128;
    p.heads = 4;
    p.layers = 1;
    p.rank = 4;
    p.proj = 16;
    p.sketch = 1024;
    p.budget = 1 << 24;
    p.epochs = 20;
    p.batch = 64;
    p.lr = 1e-3f;
    p.weight_decay = 0.01f;
    p.dropout = 0.1f;
    p.clip_norm = 1.0f;
    p.cosine = 1;
    p.patience = 5;
    p.seed = 1;
    p.n_threads = 1;
    return p;
}

mmf_eval_params mmf_eval_params_default(void) {
    mmf_eval_params o;
    memset(&o, 0, sizeof o);
    o.seed = 1;
    o.n_threads = 1;
    o.batch = 256;
    return o;
}

/* ------------------------------------------------------------ data binding */

typedef struct binding {
    const mmf_embfile *f;
    int col[FZ_MAXM];       /* data column of head modality m, or -1 (absent everywhere) */
    float *std[FZ_MAXM];    /* per-feature std of present rows (for relative noise), lazily */
} binding;

static void unbind(binding *b) {
    for (int m = 0; m < FZ_MAXM; m++) free(b->std[m]);
}

static mmf_status bind(const mmf_head *h, const mmf_embfile *f, int strict, binding *b) {
    memset(b, 0, sizeof *b);
    b->f = f;
    for (int m = 0; m < h->cfg.M; m++) {
        int c = mmf_embfile_find(f, h->cfg.names[m]);
        b->col[m] = c;
        if (c < 0) {
            if (strict)
                return mmf_fail(MMF_ERR_SHAPE, "%s: no modality \"%s\" (the head was built for it)", mmf_embfile_path(f), h->cfg.names[m]);
            mmf_log(MMF_LOG_WARN, "%s: no modality \"%s\": treated as absent in every row", mmf_embfile_path(f), h->cfg.names[m]);
            continue;
        }
        if (mmf_embfile_dim(f, c) != h->cfg.dims[m])
            return mmf_fail(MMF_ERR_SHAPE, "%s: modality \"%s\" has dimension %lld, the head expects %lld",
                            mmf_embfile_path(f), h->cfg.names[m], (long long)mmf_embfile_dim(f, c), (long long)h->cfg.dims[m]);
    }
    for (int c = 0; c < mmf_embfile_n_modalities(f); c++) {
        int used = 0;
        for (int m = 0; m < h->cfg.M; m++) used |= b->col[m] == c;
        if (!used) {
            if (strict)
                return mmf_fail(MMF_ERR_SHAPE, "%s: modality \"%s\" is not one the head uses", mmf_embfile_path(f), mmf_embfile_modality(f, c));
            mmf_log(MMF_LOG_WARN, "%s: modality \"%s\" is not used by the head", mmf_embfile_path(f), mmf_embfile_modality(f, c));
        }
    }
    return MMF_OK;
}

static mmf_status check_labels(const mmf_head *h, const mmf_embfile *f) {
    const char *path = mmf_embfile_path(f);
    if (h->cfg.task == MMF_TASK_CLASSIFY) {
        if (mmf_embfile_label_kind(f) != MMF_LABELS_CLASS)
            return mmf_fail(MMF_ERR_FORMAT, "%s: task classify needs \"labels\" I64 [N] class ids", path);
        const int64_t *y = mmf_embfile_labels(f);
        for (int64_t i = 0; i < mmf_embfile_rows(f); i++)
            if (y[i] >= h->cfg.n_out)
                return mmf_fail(MMF_ERR_FORMAT, "%s: \"labels\" row %lld is class %lld, but the head has %lld classes",
                                path, (long long)i, (long long)y[i], (long long)h->cfg.n_out);
    } else if (h->cfg.task == MMF_TASK_MULTILABEL) {
        if (mmf_embfile_label_kind(f) != MMF_LABELS_MULTIHOT)
            return mmf_fail(MMF_ERR_FORMAT, "%s: task multilabel needs \"labels\" F32 [N, C] multi-hot", path);
        if (mmf_embfile_n_classes(f) != h->cfg.n_out)
            return mmf_fail(MMF_ERR_SHAPE, "%s: \"labels\" has %lld columns, the head has %lld labels", path,
                            (long long)mmf_embfile_n_classes(f), (long long)h->cfg.n_out);
    }
    return MMF_OK;
}

/* ------------------------------------------------------------ batches */

typedef struct batchbuf {
    float *x[FZ_MAXM];
    uint8_t *mask;
    int64_t *labels;
    float *multihot;
    int64_t cap;
} batchbuf;

static void bb_free(batchbuf *bb) {
    for (int m = 0; m < FZ_MAXM; m++) free(bb->x[m]);
    free(bb->mask); free(bb->labels); free(bb->multihot);
}

static mmf_status bb_init(batchbuf *bb, const mmf_head *h, int64_t cap) {
    memset(bb, 0, sizeof *bb);
    bb->cap = cap;
    int ok = 1;
    for (int m = 0; m < h->cfg.M; m++) ok &= (bb->x[m] = malloc((size_t)(cap * h->cfg.dims[m]) * sizeof(float))) != NULL;
    ok &= (bb->mask = malloc((size_t)(cap * h->cfg.M))) != NULL;
    ok &= (bb->labels = malloc((size_t)cap * sizeof(int64_t))) != NULL;
    ok &= (bb->multihot = malloc((size_t)(cap * h->cfg.n_out) * sizeof(float))) != NULL;
    if (!ok) { bb_free(bb); return mmf_fail(MMF_ERR_NOMEM, "fusion: out of memory for a batch of %lld", (long long)cap); }
    return MMF_OK;
}

typedef struct perturb {
    const float *mod_drop;  /* per head modality, or NULL */
    float drop_rate;        /* all modalities */
    int drop_m;             /* head modality forced absent, or -1 */
    float noise;            /* relative sigma */
    mmf_rng *rng;
} perturb;

static mmf_status feature_std(const mmf_head *h, binding *bd, int m) {
    if (bd->std[m] || bd->col[m] < 0) return MMF_OK;
    int64_t D = h->cfg.dims[m], N = mmf_embfile_rows(bd->f), M = mmf_embfile_n_modalities(bd->f), cnt = 0;
    bd->std[m] = calloc((size_t)D, sizeof(float));
    double *s = calloc((size_t)D, sizeof(double)), *s2 = calloc((size_t)D, sizeof(double));
    if (!bd->std[m] || !s || !s2) { free(s); free(s2); return mmf_fail(MMF_ERR_NOMEM, "fusion: out of memory"); }
    const float *x = mmf_embfile_data(bd->f, bd->col[m]);
    const uint8_t *mk = mmf_embfile_mask(bd->f);
    for (int64_t i = 0; i < N; i++) {
        if (!mk[i * M + bd->col[m]]) continue;
        cnt++;
        for (int64_t d = 0; d < D; d++) { s[d] += x[i * D + d]; s2[d] += (double)x[i * D + d] * x[i * D + d]; }
    }
    for (int64_t d = 0; d < D && cnt; d++) {
        double mu = s[d] / cnt, v = s2[d] / cnt - mu * mu;
        bd->std[m][d] = (float)sqrt(v > 0 ? v : 0);
    }
    free(s); free(s2);
    return MMF_OK;
}

/* row r's modality mask mk[M], with the perturbation's drops (its draws) */
static void row_mask(const binding *bd, int64_t r, const perturb *pt, int M, int FM, const uint8_t *fmask, uint8_t *mk) {
    int present = 0;
    for (int m = 0; m < M; m++) {
        mk[m] = bd->col[m] >= 0 ? fmask[r * FM + bd->col[m]] : 0;
        present += mk[m];
    }
    if (pt && present > 0) {
        uint8_t orig[FZ_MAXM];
        memcpy(orig, mk, (size_t)M);
        int left = 0;
        for (int m = 0; m < M; m++) {
            float p = pt->drop_rate;
            if (pt->mod_drop) p = pt->mod_drop[m];
            if (mk[m] && p > 0.0f && mmf_rng_uniform(pt->rng) < p) mk[m] = 0;
            if (m == pt->drop_m) mk[m] = 0;
            left += mk[m];
        }
        /* random drops keep at least one modality (a forced drop may leave none) */
        if (!left && (pt->drop_rate > 0.0f || pt->mod_drop)) {
            int cand[FZ_MAXM], nc = 0;
            for (int m = 0; m < M; m++) if (orig[m] && m != pt->drop_m) cand[nc++] = m;
            if (nc) mk[cand[mmf_rng_below(pt->rng, (uint32_t)nc)]] = 1;
        }
    }
}

/* one row of the batch: its mask (with the perturbation's drops), values and label */
static void gather_row(const mmf_head *h, const binding *bd, const int64_t *rows, int64_t b, batchbuf *bb, const perturb *pt,
                       int M, int FM, const uint8_t *fmask) {
    int64_t r = rows[b];
    uint8_t *mk = bb->mask + b * M;
    row_mask(bd, r, pt, M, FM, fmask, mk);
    for (int m = 0; m < M; m++) {
        int64_t D = h->cfg.dims[m];
        float *dst = bb->x[m] + b * D;
        if (!mk[m]) { memset(dst, 0, (size_t)D * sizeof(float)); continue; }
        memcpy(dst, mmf_embfile_data(bd->f, bd->col[m]) + r * D, (size_t)D * sizeof(float));
        if (pt && pt->noise > 0.0f && bd->std[m])
            for (int64_t d = 0; d < D; d++) dst[d] += pt->noise * bd->std[m][d] * mmf_rng_normal(pt->rng);
    }
    if (mmf_embfile_labels(bd->f)) bb->labels[b] = mmf_embfile_labels(bd->f)[r];
    else bb->labels[b] = 0;
    if (mmf_embfile_multihot(bd->f) && h->cfg.task == MMF_TASK_MULTILABEL)
        memcpy(bb->multihot + b * h->cfg.n_out, mmf_embfile_multihot(bd->f) + r * h->cfg.n_out, (size_t)h->cfg.n_out * sizeof(float));
}

/* Copy rows into the batch, applying drops and noise. */
static void gather(const mmf_head *h, const binding *bd, const int64_t *rows, int64_t B, batchbuf *bb, const perturb *pt) {
    int M = h->cfg.M, FM = mmf_embfile_n_modalities(bd->f);
    const uint8_t *fmask = mmf_embfile_mask(bd->f);
    /* rows come in shuffled order: keep the loads of the next few in flight
     * while one is copied (one row ahead left most of each row's misses exposed) */
    enum { AHEAD = 4 };
    for (int64_t b = 0; b < B + AHEAD; b++) {
        if (b < B)
            for (int m = 0; m < M; m++) {
                if (bd->col[m] < 0) continue;
                const char *nx = (const char *)(mmf_embfile_data(bd->f, bd->col[m]) + rows[b] * h->cfg.dims[m]);
                for (int64_t o = 0; o < h->cfg.dims[m] * (int64_t)sizeof(float); o += 64) __builtin_prefetch(nx + o);
            }
        if (b < AHEAD) continue;
        gather_row(h, bd, rows, b - AHEAD, bb, pt, M, FM, fmask);
    }
}

static mmf_var batch_loss(mmf_head *h, mmf_tape *tp, const fz_out *o, const batchbuf *bb, float smoothing) {
    mmf_var L;
    if (h->cfg.task == MMF_TASK_CLASSIFY) L = mmf_t_cross_entropy(tp, o->out, bb->labels, smoothing, NULL);
    else if (h->cfg.task == MMF_TASK_MULTILABEL) L = mmf_t_bce_logits(tp, o->out, bb->multihot);
    else L = mmf_t_infonce(tp, o->out, o->out2, mmf_t_param(tp, &h->ps, mmf_params_find(&h->ps, "align.logit_scale")));
    if (o->aux >= 0) L = mmf_t_add(tp, L, o->aux);
    return L;
}

/* ------------------------------------------------------------ evaluation */

/* rows where modalities 0 and 1 are both present (align) or all rows */
static int64_t *usable_rows(const mmf_head *h, const binding *bd, int64_t *n) {
    int64_t N = mmf_embfile_rows(bd->f), k = 0;
    int FM = mmf_embfile_n_modalities(bd->f);
    int64_t *rows = malloc((size_t)(N ? N : 1) * sizeof(int64_t));
    if (!rows) return NULL;
    const uint8_t *mk = mmf_embfile_mask(bd->f);
    for (int64_t i = 0; i < N; i++) {
        if (h->cfg.task == MMF_TASK_ALIGN &&
            (bd->col[0] < 0 || bd->col[1] < 0 || !mk[i * FM + bd->col[0]] || !mk[i * FM + bd->col[1]]))
            continue;
        rows[k++] = i;
    }
    *n = k;
    return rows;
}

static void class_metrics(const float *out, const int64_t *y, int64_t N, int64_t C, mmf_eval_result *r) {
    int64_t *tp = calloc((size_t)C, sizeof(int64_t)), *pc = calloc((size_t)C, sizeof(int64_t)), *tc = calloc((size_t)C, sizeof(int64_t));
    int64_t correct = 0;
    for (int64_t i = 0; i < N; i++) {
        int64_t best = 0;
        for (int64_t c = 1; c < C; c++) if (out[i * C + c] > out[i * C + best]) best = c;
        correct += best == y[i];
        pc[best]++; tc[y[i]]++;
        if (best == y[i]) tp[best]++;
    }
    double f1 = 0.0;
    int nc = 0;
    for (int64_t c = 0; c < C; c++) {
        if (!tc[c] && !pc[c]) continue;
        f1 += 2.0 * tp[c] / (double)(tc[c] + pc[c]);
        nc++;
    }
    r->accuracy = N ? (double)correct / N : 0.0;
    r->macro_f1 = nc ? f1 / nc : 0.0;
    free(tp); free(pc); free(tc);
}

static void multilabel_metrics(const float *out, const float *y, int64_t N, int64_t C, mmf_eval_result *r) {
    int64_t exact = 0;
    double f1 = 0.0;
    int nc = 0;
    for (int64_t i = 0; i < N; i++) {
        int ok = 1;
        for (int64_t c = 0; c < C; c++) ok &= (out[i * C + c] > 0.0f) == (y[i * C + c] > 0.5f);
        exact += ok;
    }
    for (int64_t c = 0; c < C; c++) {
        int64_t tp = 0, p = 0, t = 0;
        for (int64_t i = 0; i < N; i++) {
            int pr = out[i * C + c] > 0.0f, tr = y[i * C + c] > 0.5f;
            tp += pr && tr; p += pr; t += tr;
        }
        if (!p && !t) continue;
        f1 += 2.0 * tp / (double)(p + t);
        nc++;
    }
    r->accuracy = N ? (double)exact / N : 0.0;
    r->macro_f1 = nc ? f1 / nc : 0.0;
}

/* recall@1/5/10 of a -> b over N pairs (rows l2-normalised here) */
static mmf_status align_recall(float *a, float *b, int64_t N, int64_t E, int nt, mmf_eval_result *r) {
    for (int64_t i = 0; i < N; i++) {
        double sa = 0, sb = 0;
        for (int64_t d = 0; d < E; d++) { sa += a[i * E + d] * a[i * E + d]; sb += b[i * E + d] * b[i * E + d]; }
        for (int64_t d = 0; d < E; d++) { a[i * E + d] /= (float)sqrt(sa + 1e-24); b[i * E + d] /= (float)sqrt(sb + 1e-24); }
    }
    int64_t chunk = 256, hits[3] = {0, 0, 0};
    float *S = malloc((size_t)(chunk * (N ? N : 1)) * sizeof(float));
    if (!S) return mmf_fail(MMF_ERR_NOMEM, "align eval: out of memory");
    for (int64_t i0 = 0; i0 < N; i0 += chunk) {
        int64_t n = N - i0 < chunk ? N - i0 : chunk;
        mmf_gemm(0, 1, (int)n, (int)N, (int)E, 1.0f, a + i0 * E, (int)E, b, (int)E, 0.0f, S, (int)N, nt);
        for (int64_t i = 0; i < n; i++) {
            float self = S[i * N + i0 + i];
            int64_t rank = 0;
            for (int64_t j = 0; j < N; j++) rank += S[i * N + j] > self;
            hits[0] += rank < 1; hits[1] += rank < 5; hits[2] += rank < 10;
        }
    }
    free(S);
    for (int k = 0; k < 3; k++) r->recall[k] = N ? (double)hits[k] / N : 0.0;
    return MMF_OK;
}

/* One pass over `rows`: loss and metrics into r; embeddings/outputs optional. */
static mmf_status run_eval(mmf_head *h, binding *bd, const int64_t *rows, int64_t N, const mmf_eval_params *o,
                           mmf_eval_result *r, float *emb_all, float *out_all, int metrics) {
    memset(r, 0, sizeof *r);
    r->n = N;
    int M = h->cfg.M;
    int64_t E = h->emb_dim, C = h->cfg.n_out, bs = o->batch > 0 ? o->batch : 256;
    perturb pt = {0};
    mmf_rng rng;
    mmf_rng_seed(&rng, o->seed);
    pt.rng = &rng;
    pt.drop_rate = o->drop_rate;
    pt.noise = o->noise;
    pt.drop_m = -1;
    if (o->drop) {
        for (int m = 0; m < M; m++) if (!strcmp(h->cfg.names[m], o->drop)) pt.drop_m = m;
        if (pt.drop_m < 0) {
            char list[600] = "";
            for (int m = 0; m < M; m++) { strcat(list, m ? ", " : ""); strcat(list, h->cfg.names[m]); }
            return mmf_fail(MMF_ERR_ARG, "no modality \"%s\" to drop (the head has: %s)", o->drop, list);
        }
    }
    if (o->noise > 0.0f)
        for (int m = 0; m < M; m++) { mmf_status s = feature_std(h, bd, m); if (s) return s; }
    int use_pt = o->drop || o->drop_rate > 0.0f || o->noise > 0.0f;
    float *outs = malloc((size_t)(N * (h->cfg.task == MMF_TASK_ALIGN ? 2 * C : C) + 1) * sizeof(float));
    batchbuf bb;
    mmf_status s = bb_init(&bb, h, bs);
    mmf_tape *tp = mmf_tape_new(o->n_threads, o->seed);
    if (!outs || !tp) s = s ? s : mmf_fail(MMF_ERR_NOMEM, "fusion eval: out of memory");
    double loss = 0.0;
    for (int64_t i0 = 0; i0 < N && !s; i0 += bs) {
        int64_t B = N - i0 < bs ? N - i0 : bs;
        gather(h, bd, rows + i0, B, &bb, use_pt ? &pt : NULL);
        mmf_tape_reset(tp);
        fz_out fo;
        s = fz_head_forward(h, tp, B, bb.x, bb.mask, NULL, &fo);
        if (s) break;
        mmf_var L = -1;
        if (!metrics)
            ;
        else if (h->cfg.task != MMF_TASK_ALIGN && (mmf_embfile_labels(bd->f) || mmf_embfile_multihot(bd->f)))
            L = batch_loss(h, tp, &fo, &bb, 0.0f);
        else if (h->cfg.task == MMF_TASK_ALIGN && B > 1)
            L = batch_loss(h, tp, &fo, &bb, 0.0f);
        if ((s = mmf_tape_status(tp))) break;
        if (L >= 0) loss += mmf_tape_var(tp, L)->v[0] * (double)B;
        if (emb_all) memcpy(emb_all + i0 * E, mmf_tape_var(tp, fo.emb)->v, (size_t)(B * E) * sizeof(float));
        if (h->cfg.task == MMF_TASK_ALIGN) {
            memcpy(outs + i0 * C, mmf_tape_var(tp, fo.out)->v, (size_t)(B * C) * sizeof(float));
            memcpy(outs + N * C + i0 * C, mmf_tape_var(tp, fo.out2)->v, (size_t)(B * C) * sizeof(float));
        } else {
            memcpy(outs + i0 * C, mmf_tape_var(tp, fo.out)->v, (size_t)(B * C) * sizeof(float));
        }
    }
    if (!s && out_all) memcpy(out_all, outs, (size_t)(N * C) * sizeof(float));
    if (!s && metrics) {
        r->loss = N ? loss / N : 0.0;
        if (h->cfg.task == MMF_TASK_CLASSIFY && mmf_embfile_labels(bd->f)) {
            int64_t *y = malloc((size_t)(N ? N : 1) * sizeof(int64_t));
            if (!y) s = mmf_fail(MMF_ERR_NOMEM, "out of memory");
            else {
                for (int64_t i = 0; i < N; i++) y[i] = mmf_embfile_labels(bd->f)[rows[i]];
                class_metrics(outs, y, N, C, r);
                free(y);
            }
        } else if (h->cfg.task == MMF_TASK_MULTILABEL && mmf_embfile_multihot(bd->f)) {
            float *y = malloc((size_t)(N * C + 1) * sizeof(float));
            if (!y) s = mmf_fail(MMF_ERR_NOMEM, "out of memory");
            else {
                for (int64_t i = 0; i < N; i++) memcpy(y + i * C, mmf_embfile_multihot(bd->f) + rows[i] * C, (size_t)C * sizeof(float));
                multilabel_metrics(outs, y, N, C, r);
                free(y);
            }
        } else if (h->cfg.task == MMF_TASK_ALIGN) {
            s = align_recall(outs, outs + N * C, N, C, o->n_threads, r);
        }
    }
    mmf_tape_free(tp);
    bb_free(&bb);
    free(outs);
    return s;
}

mmf_status mmf_head_eval(mmf_head *h, const mmf_embfile *data, const mmf_eval_params *o, mmf_eval_result *r) {
    binding bd;
    mmf_status s = bind(h, data, 0, &bd);
    if (!s) s = check_labels(h, data);
    int64_t N = 0, *rows = NULL;
    if (!s && !(rows = usable_rows(h, &bd, &N))) s = mmf_fail(MMF_ERR_NOMEM, "out of memory");
    if (!s) s = run_eval(h, &bd, rows, N, o, r, NULL, NULL, 1);
    free(rows);
    unbind(&bd);
    return s;
}

mmf_status mmf_head_predict(mmf_head *h, const mmf_embfile *data, const mmf_eval_params *o, float *emb, float *out) {
    binding bd;
    mmf_status s = bind(h, data, 0, &bd);
    int64_t N = mmf_embfile_rows(data);
    int64_t *rows = malloc((size_t)(N ? N : 1) * sizeof(int64_t));
    if (!rows) s = s ? s : mmf_fail(MMF_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; rows && i < N; i++) rows[i] = i;
    mmf_eval_result r;
    /* labels are not needed to predict (they may even name classes the head lacks) */
    if (!s) s = run_eval(h, &bd, rows, N, o, &r, emb, out, 0);
    free(rows);
    unbind(&bd);
    return s;
}

mmf_status mmf_head_fuse(mmf_head *h, const mmf_embfile *data, const char *out_path, int n_threads) {
    int64_t N = mmf_embfile_rows(data), E = h->emb_dim;
    float *emb = malloc((size_t)(N * E + 1) * sizeof(float));
    uint8_t *mask = malloc((size_t)N + 1);
    if (!emb || !mask) { free(emb); free(mask); return mmf_fail(MMF_ERR_NOMEM, "fuse: out of memory"); }
    mmf_eval_params o = mmf_eval_params_default();
    o.n_threads = n_threads;
    mmf_status s = mmf_head_predict(h, data, &o, emb, NULL);
    if (!s) {
        /* a row with none of the head's modalities present has no fused embedding */
        int FM = mmf_embfile_n_modalities(data);
        for (int64_t i = 0; i < N; i++) {
            mask[i] = 0;
            for (int m = 0; m < h->cfg.M; m++) {
                int c = mmf_embfile_find(data, h->cfg.names[m]);
                if (c >= 0 && mmf_embfile_mask(data)[i * FM + c]) mask[i] = 1;
            }
        }
        const char *names[1] = {"fused"};
        int64_t dims[1] = {E};
        const float *d[1] = {emb};
        /* the head stands for the encoder of "fused": an index over these
         * vectors then refuses queries fused by another head */
        const char *enc[1] = {h->path};
        mmf_embfile_spec sp = {.n_rows = N, .n_modalities = 1, .names = names, .dims = dims, .data = d, .mask = mask,
                               .ids = mmf_embfile_ids(data), .encoders = h->path ? enc : NULL};
        if (mmf_embfile_label_kind(data) == MMF_LABELS_CLASS) { sp.labels = mmf_embfile_labels(data); sp.n_classes = mmf_embfile_n_classes(data); }
        else if (mmf_embfile_label_kind(data) == MMF_LABELS_MULTIHOT) { sp.multihot = mmf_embfile_multihot(data); sp.n_classes = mmf_embfile_n_classes(data); }
        s = mmf_embfile_write(out_path, &sp);
    }
    free(emb);
    free(mask);
    return s;
}

/* ------------------------------------------------------------ training */

static double score(const mmf_head *h, const mmf_eval_result *r) {
    if (h->cfg.task == MMF_TASK_CLASSIFY) return r->accuracy - 1e-6 * r->loss;  /* loss breaks ties */
    if (h->cfg.task == MMF_TASK_MULTILABEL) return r->macro_f1 - 1e-6 * r->loss;
    return -r->loss;
}

/* the fusion head's side of the fit loop (train/fit.h) */
typedef struct head_fit {
    mmf_head *h;
    const mmf_train_params *p;
    binding *bt, *bv;
    const int64_t *rows, *vrows;   /* usable training / validation rows */
    int64_t NV;
    int64_t *sel;                  /* the batch's rows */
    batchbuf bb;
    perturb pt;
    int any_drop;
    mmf_eval_params eo;
} head_fit;

/* The batch idx[0..B), this rank's slice [lo, hi) filled; the modality drops
 * of the other ranks' rows are drawn too (in order), so they are one process's. */
static mmf_status hf_gather(void *ctx, const int64_t *idx, int64_t B, int64_t lo, int64_t hi) {
    head_fit *c = ctx;
    int M = c->h->cfg.M, FM = mmf_embfile_n_modalities(c->bt->f);
    const uint8_t *fmask = mmf_embfile_mask(c->bt->f);
    uint8_t mk[FZ_MAXM];
    for (int64_t b = 0; c->any_drop && b < lo; b++) row_mask(c->bt, c->rows[idx[b]], &c->pt, M, FM, fmask, mk);
    for (int64_t b = lo; b < hi; b++) c->sel[b - lo] = c->rows[idx[b]];
    gather(c->h, c->bt, c->sel, hi - lo, &c->bb, c->any_drop ? &c->pt : NULL);
    for (int64_t b = hi; c->any_drop && b < B; b++) row_mask(c->bt, c->rows[idx[b]], &c->pt, M, FM, fmask, mk);
    return MMF_OK;
}

static mmf_status hf_forward(void *ctx, mmf_tape *tp, const int64_t *idx, int64_t B, mmf_var *L) {
    head_fit *c = ctx;
    fz_out fo;
    (void)idx;
    mmf_status s = fz_head_forward(c->h, tp, B, c->bb.x, c->bb.mask, c->h->cfg.task == MMF_TASK_CLASSIFY ? c->bb.labels : NULL, &fo);
    if (!s) *L = batch_loss(c->h, tp, &fo, &c->bb, c->p->label_smoothing);
    return s;
}

static mmf_status hf_eval(void *ctx, int epoch, double *sc, double *vm) {
    head_fit *c = ctx;
    mmf_eval_result r;
    mmf_status s = run_eval(c->h, c->bv, c->vrows, c->NV, &c->eo, &r, NULL, NULL, 1);
    if (s) return s;
    if (!isfinite(r.loss)) return mmf_fail(MMF_ERR_NUMERIC, "train: epoch %d: validation loss is not finite", epoch);
    int align = c->h->cfg.task == MMF_TASK_ALIGN;
    vm[0] = r.loss;
    vm[1] = align ? r.recall[0] : r.accuracy;
    vm[2] = align ? r.recall[1] : r.macro_f1;
    *sc = score(c->h, &r);
    return MMF_OK;
}

static void hf_progress(void *ctx, const mmf_fit_report *r) {
    const mmf_train_params *p = ((head_fit *)ctx)->p;
    if (!p->progress) return;
    if (!r->end) { p->progress(p->progress_user, r->epoch, r->epochs, r->step, r->steps, mmf_fit_loss(r), NULL); return; }
    double train_only[3] = {mmf_fit_loss(r), 0, 0};
    p->progress(p->progress_user, r->epoch, r->epochs, r->steps, r->steps, mmf_fit_loss(r), r->metrics ? r->metrics : train_only);
}

mmf_status mmf_head_train(const mmf_embfile *train, const mmf_embfile *val, const mmf_train_params *p, mmf_head **out) {
    return mmf_head_train_comm(train, val, p, NULL, out);
}

mmf_status mmf_head_train_comm(const mmf_embfile *train, const mmf_embfile *val, const mmf_train_params *p,
                               const mmf_comm *comm, mmf_head **out) {
    *out = NULL;
    int M = mmf_embfile_n_modalities(train);
    const char *tpath = mmf_embfile_path(train);
    if (p->epochs < 1 || p->batch < 1 || !(p->lr > 0.0f) || p->dropout < 0.0f || p->dropout >= 1.0f || p->n_threads < 1)
        return mmf_fail(MMF_ERR_ARG, "train: epochs %d, batch %d, lr %g, dropout %g or threads %d out of range",
                        p->epochs, p->batch, p->lr, p->dropout, p->n_threads);
    /* the operator checks its own range (concat/mlp take one: the unimodal baselines) */
    if (M < 1) return mmf_fail(MMF_ERR_ARG, "%s: the file has no modality", tpath);
    fz_config cfg;
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.op, sizeof cfg.op, "%s", p->task == MMF_TASK_ALIGN ? "align" : (p->fusion ? p->fusion : "concat"));
    cfg.task = p->task;
    cfg.M = M;
    for (int m = 0; m < M; m++) {
        snprintf(cfg.names[m], sizeof cfg.names[m], "%s", mmf_embfile_modality(train, m));
        cfg.dims[m] = mmf_embfile_dim(train, m);
        if (p->modality_dropout[m] < 0.0f || p->modality_dropout[m] >= 1.0f)
            return mmf_fail(MMF_ERR_ARG, "train: modality dropout %g for \"%s\" outside [0, 1)", p->modality_dropout[m], cfg.names[m]);
    }
    if (p->task == MMF_TASK_CLASSIFY) {
        if (mmf_embfile_label_kind(train) != MMF_LABELS_CLASS)
            return mmf_fail(MMF_ERR_FORMAT, "%s: task classify needs \"labels\" I64 [N] class ids", tpath);
        cfg.n_out = mmf_embfile_n_classes(train);
    } else if (p->task == MMF_TASK_MULTILABEL) {
        if (mmf_embfile_label_kind(train) != MMF_LABELS_MULTIHOT)
            return mmf_fail(MMF_ERR_FORMAT, "%s: task multilabel needs \"labels\" F32 [N, C] multi-hot", tpath);
        cfg.n_out = mmf_embfile_n_classes(train);
    } else {
        cfg.n_out = p->hidden;
    }
    fz_config_sizes(&cfg, p);
    mmf_head *h;
    mmf_status s = fz_head_new(&cfg, &h);
    if (s) return s;
    binding bt, bv;
    memset(&bv, 0, sizeof bv);
    s = bind(h, train, 1, &bt);
    if (!s && val) s = bind(h, val, 1, &bv);
    if (!s) s = check_labels(h, train);
    if (!s && val) s = check_labels(h, val);
    int64_t N = 0, NV = 0, *rows = NULL, *vrows = NULL;
    if (!s && !(rows = usable_rows(h, &bt, &N))) s = mmf_fail(MMF_ERR_NOMEM, "out of memory");
    if (!s && val && !(vrows = usable_rows(h, &bv, &NV))) s = mmf_fail(MMF_ERR_NOMEM, "out of memory");
    if (!s && N == 0) s = mmf_fail(MMF_ERR_ARG, "%s: no usable training rows%s", tpath, p->task == MMF_TASK_ALIGN ? " (align needs both modalities present)" : "");
    int64_t bs = p->batch < N ? p->batch : N;
    mmf_optim opt = {0};
    mmf_optim_params op = fz_optim_params(p, mmf_fit_steps_per_epoch(N, bs, 1));
    mmf_tape *tp = mmf_tape_new(p->n_threads, p->seed ^ 0x7A9Eull);
    if (!s && !tp) s = mmf_fail(MMF_ERR_NOMEM, "train: out of memory");
    if (!s) s = fz_train_precision(p, tp, &h->ps, &op);
    if (!s) s = mmf_optim_init(&opt, &h->ps, &op);
    mmf_rng rng;
    mmf_rng_seed(&rng, p->seed ^ 0xDA7Aull);
    head_fit c = {.h = h, .p = p, .bt = &bt, .bv = &bv, .rows = rows, .vrows = vrows, .NV = NV,
                  .pt = {.mod_drop = p->modality_dropout, .drop_m = -1, .rng = &rng}, .eo = mmf_eval_params_default()};
    c.eo.n_threads = p->n_threads;
    for (int m = 0; m < M; m++) c.any_drop |= p->modality_dropout[m] > 0.0f;
    if (!s) s = bb_init(&c.bb, h, bs);
    if (!s && !(c.sel = malloc((size_t)bs * sizeof *c.sel))) s = mmf_fail(MMF_ERR_NOMEM, "train: out of memory");
    mmf_fit f = {.what = "train", .n = N, .batch = bs, .epochs = p->epochs, .patience = p->patience, .rng = &rng, .tp = tp,
                 .sets = {&h->ps}, .opts = {&opt}, .n_sets = 1, .phase_seconds = p->phase_seconds,
                 .ops = {.gather_slice = hf_gather, .forward = hf_forward, .eval = val ? hf_eval : NULL, .progress = hf_progress},
                 .ctx = &c, .comm = comm, .ckpt = &p->checkpoint};
    /* data parallel: contrastive terms (align's loss, xmodal's alignment) over the whole batch */
    if (tp && (p->task == MMF_TASK_ALIGN || !strcmp(cfg.op, "xmodal"))) mmf_tape_set_comm(tp, comm);
    if (!s) s = mmf_fit_run(&f);
    else if (p->phase_seconds) memset(p->phase_seconds, 0, 5 * sizeof *p->phase_seconds);
    mmf_tape_free(tp);
    bb_free(&c.bb);
    free(c.sel);
    mmf_optim_free(&opt);
    free(rows);
    free(vrows);
    unbind(&bt);
    unbind(&bv);
    if (s) { mmf_head_free(h); return s; }
    *out = h;
    return MMF_OK;
}
