/* The one tape op that moves rows between ranks (tape.h, mmf_t_gather_rows):
 * the data-parallel form of a loss that compares every sample of a batch with
 * every other (InfoNCE). Each rank holds its slice x [B_r, E] of the batch; the
 * gathered matrix [B, E] is an all-reduced sum of a zero-filled buffer into
 * which each rank wrote its rows at its offset (exact: the other terms are 0).
 *
 * Backward: each rank's loss is the mean over its own rows, and the fit loop
 * weights every rank's gradients by its share w_r = B_r / B before summing
 * them (train/fit.c), so the gradient a rank computes is the global one
 * divided by w_r. The gathered matrix's gradient is therefore summed over the
 * ranks with weight w_q each and divided by w_r again for this rank's rows:
 * x's gradient is what one process's backward gives those rows, over w_r. */
#include "train/tape.h"
#include "core/error.h"
#include <stdlib.h>
#include <string.h>

#define TV(v) mmf_tape_var(tp, (v))

/* i = {lo, B_r, B, E}; aux[0] = a buffer of B * E + 1 floats (the forward's) */
static void gather_rows_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *x = TV(nd->in[0]), *y = TV(nd->out);
    int64_t lo = nd->i[0], Br = nd->i[1], B = nd->i[2], E = nd->i[3];
    float *buf = nd->aux[0];
    const mmf_comm *c = mmf_tape_comm(tp);
    float w = (float)((double)Br / (double)B), inv = (float)((double)B / (double)Br);
    for (int64_t k = 0; k < B * E; k++) buf[k] = w * y->g[k];
    buf[B * E] = 0.0f;
    /* every rank reaches this: the fit loop runs backward on all ranks or none */
    if (c->allreduce(buf, (size_t)(B * E + 1), MMF_DT_F32, MMF_COMM_SUM, c->user)) {
        mmf_tape_fail(tp, mmf_fail(MMF_ERR_IO, "gather rows: the all-reduce of the gradient failed"));
        return;
    }
    if (!x->g) return;
    const float *mine = buf + lo * E;
    for (int64_t k = 0; k < Br * E; k++) x->g[k] += inv * mine[k];
}

mmf_var mmf_t_gather_rows(mmf_tape *tp, mmf_var x, int64_t *lo_out) {
    *lo_out = 0;
    const mmf_comm *c = mmf_tape_training(tp) ? mmf_tape_comm(tp) : NULL;
    if (!c) return x;
    int R = c->size, fail = x < 0 || mmf_tape_status(tp) != MMF_OK;
    if (!fail && TV(x)->ndim != 2)
        fail = mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "gather rows: expected x [B, E], got %d dims", TV(x)->ndim)) < 0;
    int64_t Br = fail ? 0 : TV(x)->shape[0], E = fail ? 0 : TV(x)->shape[1];
    /* every rank's row count (its slot) and width, and whether any failed
     * (R + 2 doubles from the tape: a rank without them cannot take part) */
    double *hdr = mmf_tape_scratch(tp, (size_t)(R + 2) * sizeof(double));
    if (!hdr) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "gather rows: out of memory"));
    memset(hdr, 0, (size_t)(R + 2) * sizeof(double));
    hdr[c->rank] = (double)Br;
    hdr[R] = (double)E;
    if (mmf_tape_allreduce(tp, hdr, (size_t)R + 1, fail)) return mmf_tape_fail(tp, MMF_ERR_IO);
    int64_t B = 0, lo = 0;
    for (int r = 0; r < R; r++) {
        if (r == c->rank) lo = B;
        B += (int64_t)hdr[r];
    }
    if ((int64_t)hdr[R] != E * R)
        return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "gather rows: the ranks' rows have different widths"));
    int ng = TV(x)->g != NULL;
    mmf_var y = mmf_tape_alloc(tp, 2, (int64_t[]){B, E}, ng);
    float *buf = mmf_tape_scratch(tp, (size_t)(B * E + 1) * sizeof(float));
    int own = 0;
    if (y < 0 || !buf) {   /* still take part (with a buffer of the same size), failing everyone */
        buf = calloc((size_t)(B * E + 1), sizeof(float));
        own = 1;
        if (!buf) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "gather rows: out of memory for %lld x %lld", (long long)B, (long long)E));
        buf[B * E] = 1.0f;
    } else {
        memset(buf, 0, (size_t)(B * E + 1) * sizeof(float));
        memcpy(buf + lo * E, TV(x)->v, (size_t)(Br * E) * sizeof(float));
    }
    int bad = c->allreduce(buf, (size_t)(B * E + 1), MMF_DT_F32, MMF_COMM_SUM, c->user);
    float failed = buf[B * E];
    if (own) { free(buf); return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "gather rows: out of memory")); }
    if (bad) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_IO, "gather rows: the all-reduce failed"));
    if (failed > 0.0f) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_IO, "gather rows: the training step failed on another rank"));
    memcpy(TV(y)->v, buf, (size_t)(B * E) * sizeof(float));
    *lo_out = lo;
    if (ng) {
        mmf_node nd = {.backward = gather_rows_backward, .name = "gather_rows", .out = y, .in = {x}, .n_in = 1,
                       .i = {lo, Br, B, E}, .aux = {buf}};
        mmf_tape_record(tp, &nd);
    }
    return y;
}
