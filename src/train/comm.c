/* Agreement between the ranks of a data-parallel trainer (comm.h). */
#include "train/comm.h"
#include "core/error.h"

mmf_status mmf_comm_agree(const mmf_comm *c, mmf_status s, const char *what) {
    if (!mmf_comm_multi(c)) return s;
    int32_t bad = s != MMF_OK;
    if (c->allreduce(&bad, 1, MMF_DT_I32, MMF_COMM_SUM, c->user))
        return mmf_fail(MMF_ERR_IO, "%s: the all-reduce that agrees on failures failed", what);
    if (s) return s;
    return bad ? mmf_fail(MMF_ERR_IO, "%s: failed on another rank (see its message)", what) : MMF_OK;
}

mmf_status mmf_comm_sum_i64(const mmf_comm *c, int64_t *v, size_t n, const char *what) {
    if (!mmf_comm_multi(c) || !n) return MMF_OK;
    if (c->allreduce(v, n, MMF_DT_I64, MMF_COMM_SUM, c->user)) return mmf_fail(MMF_ERR_IO, "%s: an all-reduce failed", what);
    return MMF_OK;
}
