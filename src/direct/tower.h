/* Shared pieces of the from-scratch tower trainers (tower_image.c, tower_text.c). */
#ifndef MMF_DIRECT_TOWER_H
#define MMF_DIRECT_TOWER_H
#include "direct/records.h"
#include "train/optim.h"

/* mkdir -p */
mmf_status mmf_mkdirs(const char *dir);
/* Class ids of the records against a sorted label set: -1 for a record whose
 * label is missing or unknown. Returns how many got an id. */
int64_t mmf_records_class_ids(const mmf_records *rs, const char *const *labels, int n_labels, int64_t *ids);
/* AdamW + cosine schedule with 5% warmup over total_steps, clip 5. */
mmf_optim_params mmf_tower_optim(const mmf_tower_params *p, int64_t total_steps);
#endif
