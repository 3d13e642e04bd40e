/* Small helpers for trainers that run data parallel (train/fit.h, docs/scale.md):
 * every rank calls the same trainer; these keep the ranks agreeing on what
 * happened outside the fit loop. comm NULL or of size 1: one process, no
 * communication, and each helper is what one process would do. */
#ifndef MMF_TRAIN_COMM_H
#define MMF_TRAIN_COMM_H
#include <stdint.h>
#include "mmfuse.h"

/* 1 when comm is NULL, of size 1, or this is rank 0: the rank that writes the outputs. */
static inline int mmf_comm_leader(const mmf_comm *c) { return !c || c->size <= 1 || c->rank == 0; }
static inline const mmf_comm *mmf_comm_multi(const mmf_comm *c) { return c && c->size > 1 ? c : NULL; }
/* Collective: s on this rank; MMF_OK only when every rank passed MMF_OK, else
 * a failure naming `what` on the ranks that were fine. */
mmf_status mmf_comm_agree(const mmf_comm *c, mmf_status s, const char *what);
/* Collective: the sum of n int64 over the ranks, in place (fails with a message). */
mmf_status mmf_comm_sum_i64(const mmf_comm *c, int64_t *v, size_t n, const char *what);
#endif
