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
/* At an epoch's end (r->end) reports it through p->progress, if any, from the
 * fit loop's numbers and *correct, which it then resets. */
void mmf_tower_progress(const mmf_tower_params *p, const mmf_fit_report *r, int64_t *correct, double val_acc);
#endif
