/* Shared pieces of the from-scratch tower trainers (tower_image.c, tower_text.c). */
#ifndef MMF_DIRECT_TOWER_H
#define MMF_DIRECT_TOWER_H
#include "direct/records.h"
#include "train/fit.h"
#include "train/optim.h"
#include "train/tape.h"

/* mkdir -p */
mmf_status mmf_mkdirs(const char *dir);
/* Class ids of the records against a sorted label set: -1 for a record whose
 * label is missing or unknown. Returns how many got an id. */
int64_t mmf_records_class_ids(const mmf_records *rs, const char *const *labels, int n_labels, int64_t *ids);
/* AdamW + cosine schedule with 5% warmup over total_steps, clip 5. */
mmf_optim_params mmf_tower_optim(const mmf_tower_params *p, int64_t total_steps);

/* The labelled records both towers start from: TRAIN (and VAL when given),
 * the sorted label set of TRAIN (at least two labels), and OUT_DIR created. */
mmf_status mmf_tower_records(const char *train_jsonl, const char *val_jsonl, const char *label_field, const char *out_dir,
                             mmf_records *tr, mmf_records *va, const char ***labels, int *n_labels);
/* Class ids of the validation records; warns about the records whose label the
 * training records lack (they leave validation). Returns how many got an id. */
int64_t mmf_tower_val_ids(const mmf_records *va, const char *val_jsonl, const char *const *labels, int n_labels, int64_t *ids);

/* How many rows of logits L [B, C] have their largest value at the label y[b]. */
int64_t mmf_tower_correct(const float *L, int B, int C, const int64_t *y);
/* Cross-entropy (label smoothing 0.1) of logits LG [B, C] against labels Y,
 * adding the batch's correct predictions to *correct. */
mmf_var mmf_tower_loss(mmf_tape *tp, mmf_var lg, const int64_t *y, int B, int C, int64_t *correct);
/* What both trainers' fit contexts begin with: what the shared progress and
 * validation callbacks below need. */
typedef struct mmf_tower_fit {
    const mmf_tower_params *p;
    int64_t correct;      /* the epoch's correct predictions so far (mmf_tower_loss adds to it) */
    mmf_tape *tp;         /* validation reuses the training tape */
    int64_t n_val;        /* validation samples 0..n_val-1, labels y_val, n_classes classes */
    const int64_t *y_val;
    int n_classes;
    int64_t *idx;         /* room for p->batch sample ids */
    /* the logits [B, C] of validation samples idx[0..B) on tp (reset, not training) */
    mmf_var (*val_logits)(void *ctx, const int64_t *idx, int B);
} mmf_tower_fit;
/* The fit loop's eval callback of both trainers (ctx begins with an
 * mmf_tower_fit): validation accuracy in batches of p->batch, the score and metrics[0]. */
mmf_status mmf_tower_fit_eval(void *ctx, int epoch, double *score, double *metrics);
/* The fit loop's progress callback of both trainers (ctx begins with an
 * mmf_tower_fit): at an epoch's end (r->end) reports it through p->progress,
 * if any, from the loop's numbers, the validation accuracy (metrics[0]) and
 * the correct count, which it then resets. */
void mmf_tower_fit_progress(void *ctx, const mmf_fit_report *r);
/* *pp (NULL: the defaults) with epochs <= 0 made default_epochs and the batch
 * checked; `what` ("image tower") names the trainer in the error. */
mmf_status mmf_tower_params_resolve(const mmf_tower_params *pp, int default_epochs, const char *what, mmf_tower_params *out);
#endif
