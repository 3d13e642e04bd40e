/* Shared pieces of the tower trainers and the public defaults. */
#include "direct/tower.h"
#include "core/error.h"
#include "train/comm.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

mmf_tower_params mmf_tower_params_default(void) {
    mmf_tower_params p = {0};
    p.batch = 64;
    p.lr = 2e-3f;
    p.weight_decay = 1e-4f;
    p.dim = 128;
    p.image_size = 64;
    p.layers = 2;
    p.heads = 4;
    p.max_length = 32;
    p.min_count = 1;
    p.augment = 1;
    p.dropout = 0.1f;
    p.seed = 1;
    p.n_threads = 1;
    return p;
}

mmf_status mmf_mkdirs(const char *dir) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) return mmf_fail(MMF_ERR_ARG, "%s: path too long", dir);
    for (char *p = buf + 1; ; p++) {
        char c = *p;
        if (c == '/' || c == 0) {
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) return mmf_fail(MMF_ERR_IO, "%s: cannot create folder: %s", buf, strerror(errno));
            *p = c;
        }
        if (!c) break;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) return mmf_fail(MMF_ERR_IO, "%s: not a folder", dir);
    return MMF_OK;
}

int64_t mmf_records_class_ids(const mmf_records *rs, const char *const *labels, int n_labels, int64_t *ids) {
    int64_t k = 0;
    for (size_t i = 0; i < rs->n; i++) {
        ids[i] = mmf_label_index(labels, n_labels, rs->r[i].label);
        if (ids[i] >= 0) k++;
    }
    return k;
}

mmf_optim_params mmf_tower_optim(const mmf_tower_params *p, int64_t total_steps) {
    return mmf_optim_adamw_cosine(p->lr, p->weight_decay, 5.0f, p->n_threads, total_steps, total_steps / 20 > 0 ? total_steps / 20 : 1);
}

mmf_status mmf_tower_records(const char *train_jsonl, const char *val_jsonl, const char *label_field, const char *out_dir,
                             mmf_records *tr, mmf_records *va, const char ***labels, int *n_labels) {
    mmf_status s = mmf_records_load(train_jsonl, label_field, tr);
    if (!s && val_jsonl) s = mmf_records_load(val_jsonl, label_field, va);
    if (!s) s = mmf_records_label_set(tr, labels, n_labels);
    if (!s && *n_labels < 2)
        s = mmf_fail(MMF_ERR_FORMAT, "%s: %d distinct values of \"%s\"; classification needs at least 2", train_jsonl, *n_labels,
                     label_field ? label_field : "label");
    if (!s) s = mmf_mkdirs(out_dir);
    return s;
}

int64_t mmf_tower_val_ids(const mmf_records *va, const char *val_jsonl, const char *const *labels, int n_labels, int64_t *ids) {
    int64_t k = mmf_records_class_ids(va, labels, n_labels, ids);
    if (k < (int64_t)va->n)
        mmf_log(MMF_LOG_WARN, "%s: %lld of %zu records have a label absent from the training records; left out of validation",
                val_jsonl, (long long)(va->n - k), va->n);
    return k;
}

int64_t mmf_tower_correct(const float *L, int B, int C, const int64_t *y) {
    int64_t correct = 0;
    for (int b = 0; b < B; b++) {
        int best = 0;
        for (int c = 1; c < C; c++) if (L[b * C + c] > L[b * C + best]) best = c;
        correct += best == y[b];
    }
    return correct;
}

mmf_var mmf_tower_loss(mmf_tape *tp, mmf_var lg, const int64_t *y, int B, int C, int64_t *correct) {
    if (mmf_tape_status(tp)) return -1;
    *correct += mmf_tower_correct(mmf_tape_var(tp, lg)->v, B, C, y);
    return mmf_t_cross_entropy(tp, lg, y, 0.1f, NULL);
}

mmf_status mmf_tower_params_resolve(const mmf_tower_params *pp, int default_epochs, const char *what, mmf_tower_params *out) {
    *out = pp ? *pp : mmf_tower_params_default();
    if (out->epochs <= 0) out->epochs = default_epochs;
    if (out->batch < 2 || out->batch > 4096) return mmf_fail(MMF_ERR_ARG, "%s: batch %d should be in [2, 4096]", what, out->batch);
    return MMF_OK;
}

mmf_status mmf_tower_fit_eval(void *ctx, int epoch, double *score, double *metrics) {
    mmf_tower_fit *f = ctx;
    (void)epoch;
    int64_t correct = 0;
    const int bs = f->p->batch;
    mmf_tape_set_training(f->tp, 0);
    for (int64_t s = 0; s < f->n_val; s += bs) {
        int B = (int)(f->n_val - s < bs ? f->n_val - s : bs);
        for (int b = 0; b < B; b++) f->idx[b] = s + b;
        mmf_tape_reset(f->tp);
        mmf_var lg = f->val_logits(ctx, f->idx, B);
        if (mmf_tape_status(f->tp)) break;
        correct += mmf_tower_correct(mmf_tape_var(f->tp, lg)->v, B, f->n_classes, f->y_val + s);
    }
    *score = metrics[0] = f->n_val ? (double)correct / (double)f->n_val : 0.0;
    return mmf_tape_status(f->tp);
}

void mmf_tower_fit_progress(void *ctx, const mmf_fit_report *r) {
    mmf_tower_fit *f = ctx;
    const mmf_tower_params *p = f->p;
    int64_t *correct = &f->correct;
    double val_acc = r->metrics ? r->metrics[0] : -1.0;
    if (!r->end) return;
    /* data parallel: every rank counted its slices (progress runs on all ranks at the same points) */
    if (mmf_comm_sum_i64(p->comm, correct, 1, "tower progress")) *correct = 0;
    if (p->progress)
        p->progress(p->progress_user, r->epoch, r->epochs, mmf_fit_sample_loss(r), r->samples ? (double)*correct / (double)r->samples : 0,
                    val_acc);
    *correct = 0;   /* the next epoch counts afresh */
}
