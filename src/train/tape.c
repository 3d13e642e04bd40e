/* The tape: variable table, node list, chunked arena, backward driver, and the
 * parameter block. Ops live in ops_*.c. */
#include "train/tape.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/tensor.h"
#include "core/gemm_bf16.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_MIN (4u << 20)

typedef struct chunk { unsigned char *base; size_t cap, used; } chunk;

struct mmf_tape {
    int nt, training, bf16;
    mmf_status err;
    mmf_rng rng;
    const mmf_comm *comm;
    int64_t slice[3];      /* lo, hi, B (mmf_tape_set_slice) */
    mmf_tvar *vars;
    int n_vars, cap_vars;
    mmf_node *nodes;
    int n_nodes, cap_nodes;
    chunk *chunks;
    int n_chunks, cap_chunks, cur;
};

mmf_tape *mmf_tape_new(int n_threads, uint64_t seed) {
    mmf_tape *tp = calloc(1, sizeof *tp);
    if (!tp) { mmf_fail(MMF_ERR_NOMEM, "tape: out of memory"); return NULL; }
    tp->nt = n_threads < 1 ? 1 : n_threads;
    mmf_rng_seed(&tp->rng, seed);
    return tp;
}

void mmf_tape_free(mmf_tape *tp) {
    if (!tp) return;
    for (int i = 0; i < tp->n_chunks; i++) free(tp->chunks[i].base);
    free(tp->chunks); free(tp->vars); free(tp->nodes);
    free(tp);
}

void mmf_tape_reset(mmf_tape *tp) {
    tp->n_vars = tp->n_nodes = 0;
    tp->err = MMF_OK;
    for (int i = 0; i < tp->n_chunks; i++) tp->chunks[i].used = 0;
    tp->cur = 0;
}

void mmf_tape_set_training(mmf_tape *tp, int on) { tp->training = on; }
int mmf_tape_training(const mmf_tape *tp) { return tp->training; }
int mmf_tape_bf16(const mmf_tape *tp) { return tp->bf16; }
mmf_status mmf_tape_set_bf16(mmf_tape *tp, int on) {
    if (on && !mmf_bf16_gemm_supported())
        return mmf_fail(MMF_ERR_UNSUPPORTED, "bf16 training needs a CPU with AVX512-BF16 (this one has none); use fp32");
    tp->bf16 = on != 0;
    return MMF_OK;
}
mmf_rng *mmf_tape_rng(mmf_tape *tp) { return &tp->rng; }
int mmf_tape_threads(const mmf_tape *tp) { return tp->nt; }
mmf_status mmf_tape_status(const mmf_tape *tp) { return tp->err; }
void mmf_tape_set_comm(mmf_tape *tp, const mmf_comm *comm) { tp->comm = comm && comm->size > 1 ? comm : NULL; }
const mmf_comm *mmf_tape_comm(const mmf_tape *tp) { return tp->comm; }
void mmf_tape_set_slice(mmf_tape *tp, int64_t lo, int64_t hi, int64_t B) { tp->slice[0] = lo; tp->slice[1] = hi; tp->slice[2] = B; }
int mmf_tape_slice(const mmf_tape *tp, int64_t *lo, int64_t *hi, int64_t *B) {
    if (tp->slice[2] <= 0 || tp->slice[1] - tp->slice[0] >= tp->slice[2] || tp->slice[1] <= tp->slice[0]) return 0;
    *lo = tp->slice[0]; *hi = tp->slice[1]; *B = tp->slice[2];
    return 1;
}

/* buf[n] carries the failure count, so that all ranks agree on it */
int mmf_tape_allreduce(mmf_tape *tp, double *buf, size_t n, int fail) {
    const mmf_comm *c = tp->comm;
    if (!c) return fail;
    buf[n] = fail ? 1.0 : 0.0;
    if (c->allreduce(buf, n + 1, MMF_DT_F64, MMF_COMM_SUM, c->user)) {
        mmf_fail(MMF_ERR_IO, "data parallel: an all-reduce inside the training step failed");
        return 1;
    }
    if (buf[n] > 0.0) {
        if (!fail) mmf_fail(MMF_ERR_IO, "data parallel: the training step failed on another rank");
        return 1;
    }
    return 0;
}

size_t mmf_tape_bytes(const mmf_tape *tp) {
    size_t b = 0;
    for (int i = 0; i < tp->n_chunks; i++) b += tp->chunks[i].cap;
    return b;
}

void *mmf_tape_scratch(mmf_tape *tp, size_t bytes) {
    bytes = (bytes + 63) & ~(size_t)63;
    if (!bytes) bytes = 64;
    while (tp->cur < tp->n_chunks) {
        chunk *c = &tp->chunks[tp->cur];
        if (c->cap - c->used >= bytes) { void *p = c->base + c->used; c->used += bytes; return p; }
        tp->cur++;
    }
    if (tp->n_chunks == tp->cap_chunks) {
        int cap = tp->cap_chunks ? 2 * tp->cap_chunks : 8;
        chunk *nc = realloc(tp->chunks, (size_t)cap * sizeof *nc);
        if (!nc) return NULL;
        tp->chunks = nc;
        tp->cap_chunks = cap;
    }
    size_t cap = bytes > CHUNK_MIN ? bytes : CHUNK_MIN;
    /* grow geometrically so a big model settles in a few chunks */
    if (tp->n_chunks && tp->chunks[tp->n_chunks - 1].cap > cap) cap = tp->chunks[tp->n_chunks - 1].cap;
    void *mem = aligned_alloc(64, cap);
    if (!mem) return NULL;
    tp->chunks[tp->n_chunks] = (chunk){mem, cap, bytes};
    tp->cur = tp->n_chunks++;
    return mem;
}

mmf_var mmf_tape_fail(mmf_tape *tp, mmf_status s) {
    if (!tp->err) tp->err = s ? s : MMF_ERR_ARG;
    return -1;
}

mmf_var mmf_tape_alloc_like(mmf_tape *tp, mmf_var x) {
    if (x < 0 || tp->err) return mmf_tape_fail(tp, tp->err);
    int64_t shape[MMF_T_MAXDIM];   /* a copy: making the variable may move tp->vars */
    memcpy(shape, tp->vars[x].shape, sizeof shape);
    return mmf_tape_alloc(tp, tp->vars[x].ndim, shape, tp->vars[x].g != NULL);
}

mmf_tvar *mmf_tape_var(mmf_tape *tp, mmf_var v) {
    return (v >= 0 && v < tp->n_vars) ? &tp->vars[v] : NULL;
}

static mmf_var push_var(mmf_tape *tp, const mmf_tvar *tv) {
    if (tp->n_vars == tp->cap_vars) {
        int cap = tp->cap_vars ? 2 * tp->cap_vars : 256;
        mmf_tvar *nv = realloc(tp->vars, (size_t)cap * sizeof *nv);
        if (!nv) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "tape: out of memory"));
        tp->vars = nv;
        tp->cap_vars = cap;
    }
    tp->vars[tp->n_vars] = *tv;
    return tp->n_vars++;
}

static mmf_var tape_alloc(mmf_tape *tp, int ndim, const int64_t *shape, int needs_grad, int lazy);

mmf_var mmf_tape_alloc(mmf_tape *tp, int ndim, const int64_t *shape, int needs_grad) {
    return tape_alloc(tp, ndim, shape, needs_grad, 0);
}

mmf_var mmf_tape_alloc_lazy(mmf_tape *tp, int ndim, const int64_t *shape, int needs_grad) {
    return tape_alloc(tp, ndim, shape, needs_grad, 1);
}

static mmf_var tape_alloc(mmf_tape *tp, int ndim, const int64_t *shape, int needs_grad, int lazy) {
    if (tp->err) return -1;
    if (ndim < 1 || ndim > MMF_T_MAXDIM)
        return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "tape: %d dims (1..%d supported)", ndim, MMF_T_MAXDIM));
    mmf_tvar tv = {0};
    tv.ndim = ndim;
    tv.n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || (shape[d] && tv.n > INT64_MAX / 4 / shape[d]))
            return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "tape: bad dimension %lld", (long long)shape[d]));
        tv.shape[d] = shape[d];
        tv.n *= shape[d];
    }
    tv.v = mmf_tape_scratch(tp, (size_t)tv.n * sizeof(float));
    if (!tv.v) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "tape: out of memory for %lld floats", (long long)tv.n));
    if (needs_grad) {
        tv.g = mmf_tape_scratch(tp, (size_t)tv.n * sizeof(float));
        if (!tv.g) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "tape: out of memory for %lld floats", (long long)tv.n));
        if (lazy) tv.g_lazy = 1;
        else memset(tv.g, 0, (size_t)tv.n * sizeof(float));
    }
    return push_var(tp, &tv);
}

void mmf_tape_record(mmf_tape *tp, const mmf_node *nd) {
    if (tp->err) return;
    if (tp->n_nodes == tp->cap_nodes) {
        int cap = tp->cap_nodes ? 2 * tp->cap_nodes : 256;
        mmf_node *nn = realloc(tp->nodes, (size_t)cap * sizeof *nn);
        if (!nn) { mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "tape: out of memory")); return; }
        tp->nodes = nn;
        tp->cap_nodes = cap;
    }
    tp->nodes[tp->n_nodes++] = *nd;
}

int mmf_tape_needs_grad(mmf_tape *tp, const mmf_var *in, int n) {
    for (int i = 0; i < n; i++)
        if (in[i] >= 0 && tp->vars[in[i]].g) return 1;
    return 0;
}

/* the parameter behind a variable, or NULL */
static mmf_param_info *param_of(const mmf_tvar *t) { return t->ps ? &t->ps->p[t->pidx] : NULL; }

int mmf_tape_grad_fresh(mmf_tvar *t) {
    if (!t) return 0;
    mmf_param_info *pi = param_of(t);
    int f = t->g && (t->g_lazy || (pi && pi->grad_stale));
    t->g_lazy = 0;
    if (pi) pi->grad_stale = 0;
    return f;
}

static void zero_lazy(mmf_tvar *t) {
    if (mmf_tape_grad_fresh(t)) memset(t->g, 0, (size_t)t->n * sizeof(float));
}

void mmf_tape_grad_define(mmf_tvar *t) { if (t) zero_lazy(t); }

mmf_status mmf_tape_backward(mmf_tape *tp, mmf_var loss) {
    if (tp->err) return tp->err;
    mmf_tvar *L = mmf_tape_var(tp, loss);
    if (!L) return mmf_fail(MMF_ERR_ARG, "tape: backward from an invalid variable");
    if (!L->g) return mmf_fail(MMF_ERR_ARG, "tape: backward from a variable that depends on no parameter");
    for (int64_t i = 0; i < L->n; i++) L->g[i] = 1.0f;
    L->g_lazy = 0;
    /* who reads each parameter in this pass (a gradient written by its only
     * reader is final when written; see mmf_param_info.uses) */
    for (int v = 0; v < tp->n_vars; v++) {
        mmf_param_info *pi = param_of(&tp->vars[v]);
        if (pi) pi->uses = pi->sumsq_ok = 0;
    }
    for (int i = 0; i < tp->n_nodes; i++)
        for (int k = 0; k < tp->nodes[i].n_in; k++) {
            mmf_param_info *pi = tp->nodes[i].in[k] >= 0 ? param_of(&tp->vars[tp->nodes[i].in[k]]) : NULL;
            if (pi) pi->uses++;
        }
    mmf_threads_use(tp->nt);
    for (int i = tp->n_nodes - 1; i >= 0; i--) {
        const mmf_node *nd = &tp->nodes[i];
        /* lazily allocated gradients get their zeros now unless this node overwrites them */
        zero_lazy(&tp->vars[nd->out]);
        for (int k = 0; k < nd->n_in; k++)
            if (nd->in[k] >= 0 && !(nd->lazy_ok & (1u << k))) zero_lazy(&tp->vars[nd->in[k]]);
        nd->backward(tp, nd);
    }
    for (int v = 0; v < tp->n_vars; v++) zero_lazy(&tp->vars[v]);  /* every gradient defined afterwards */
    return tp->err;   /* set only by a data-parallel backward whose all-reduce failed */
}

static mmf_var make_input(mmf_tape *tp, const float *data, int ndim, const int64_t *shape, int grad) {
    mmf_var v = mmf_tape_alloc(tp, ndim, shape, grad);
    if (v < 0) return -1;
    mmf_tvar *t = &tp->vars[v];
    if (data) memcpy(t->v, data, (size_t)t->n * sizeof(float));
    return v;
}

mmf_var mmf_t_const(mmf_tape *tp, const float *data, int ndim, const int64_t *shape) {
    return make_input(tp, data, ndim, shape, 0);
}
mmf_var mmf_t_view(mmf_tape *tp, const float *data, int ndim, const int64_t *shape) {
    if (tp->err) return -1;
    if (ndim < 1 || ndim > MMF_T_MAXDIM) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "view: %d dims", ndim));
    mmf_var v = mmf_tape_alloc(tp, 1, (int64_t[]){0}, 0);   /* no storage of its own */
    if (v < 0) return -1;
    mmf_tvar *t = &tp->vars[v];
    t->v = (float *)data;   /* read only: ops never write their inputs' values */
    t->ndim = ndim;
    t->n = 1;
    memset(t->shape, 0, sizeof t->shape);
    for (int d = 0; d < ndim; d++) { t->shape[d] = shape[d]; t->n *= shape[d]; }
    return v;
}
mmf_var mmf_t_leaf(mmf_tape *tp, const float *data, int ndim, const int64_t *shape) {
    return make_input(tp, data, ndim, shape, 1);
}
mmf_var mmf_t_full(mmf_tape *tp, float value, int ndim, const int64_t *shape) {
    mmf_var v = make_input(tp, NULL, ndim, shape, 0);
    if (v < 0) return -1;
    for (int64_t i = 0; i < tp->vars[v].n; i++) tp->vars[v].v[i] = value;
    return v;
}

/* ------------------------------------------------------------ parameters */

void mmf_params_init(mmf_params *ps) { memset(ps, 0, sizeof *ps); }

void mmf_params_free(mmf_params *ps) {
    free(ps->p); free(ps->data); free(ps->grad); free(ps->bf16);
    memset(ps, 0, sizeof *ps);
}

int mmf_params_add(mmf_params *ps, const char *name, int ndim, const int64_t *shape, mmf_init init, float scale) {
    if (ps->data) { mmf_fail(MMF_ERR_ARG, "params: \"%s\" declared after allocation", name); return -1; }
    if (strlen(name) >= MMF_PARAM_NAME || ndim < 1 || ndim > MMF_T_MAXDIM) {
        mmf_fail(MMF_ERR_ARG, "params: bad declaration of \"%s\"", name);
        return -1;
    }
    if (mmf_params_find(ps, name) >= 0) { mmf_fail(MMF_ERR_ARG, "params: \"%s\" declared twice", name); return -1; }
    if (ps->n == ps->cap) {
        int cap = ps->cap ? 2 * ps->cap : 32;
        mmf_param_info *np = realloc(ps->p, (size_t)cap * sizeof *np);
        if (!np) { mmf_fail(MMF_ERR_NOMEM, "params: out of memory"); return -1; }
        ps->p = np;
        ps->cap = cap;
    }
    mmf_param_info *pi = &ps->p[ps->n];
    memset(pi, 0, sizeof *pi);
    snprintf(pi->name, sizeof pi->name, "%s", name);
    pi->ndim = ndim;
    pi->n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 1 || shape[d] > (1 << 28) || pi->n > ((int64_t)1 << 40) / shape[d]) {
            mmf_fail(MMF_ERR_NOMEM, "params: \"%s\": dimension %lld out of range", name, (long long)shape[d]);
            return -1;
        }
        pi->shape[d] = shape[d];
        pi->n *= shape[d];
    }
    pi->init = init;
    pi->scale = scale;
    pi->no_decay = (ndim == 1);
    /* keep every parameter 16-float aligned inside the block */
    pi->offset = ps->total;
    ps->total += (pi->n + 15) & ~(int64_t)15;
    return ps->n++;
}

int mmf_params_find(const mmf_params *ps, const char *name) {
    for (int i = 0; i < ps->n; i++)
        if (!strcmp(ps->p[i].name, name)) return i;
    return -1;
}

float *mmf_params_value(mmf_params *ps, int idx) { return ps->data + ps->p[idx].offset; }

mmf_status mmf_params_alloc(mmf_params *ps, mmf_rng *rng) {
    size_t bytes = (size_t)(ps->total ? ps->total : 16) * sizeof(float);
    free(ps->data); free(ps->grad);
    ps->bf16_fresh = 0;
    ps->data = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    ps->grad = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!ps->data || !ps->grad) return mmf_fail(MMF_ERR_NOMEM, "params: out of memory for %lld floats", (long long)ps->total);
    memset(ps->data, 0, bytes);
    memset(ps->grad, 0, bytes);
    for (int i = 0; i < ps->n; i++) {
        mmf_param_info *pi = &ps->p[i];
        pi->grad_stale = pi->sumsq_ok = pi->pending = 0;
        pi->uses = 0;
        float *x = ps->data + pi->offset;
        float a = pi->scale;
        if (pi->init == MMF_INIT_LINEAR) a = 1.0f / sqrtf((float)pi->shape[pi->ndim - 1]);
        for (int64_t j = 0; j < pi->n; j++) {
            switch (pi->init) {
            case MMF_INIT_ZERO: x[j] = 0.0f; break;
            case MMF_INIT_ONE: x[j] = 1.0f; break;
            case MMF_INIT_CONST: x[j] = pi->scale; break;
            case MMF_INIT_UNIFORM: case MMF_INIT_LINEAR: x[j] = (2.0f * mmf_rng_uniform(rng) - 1.0f) * a; break;
            case MMF_INIT_NORMAL: x[j] = mmf_rng_normal(rng) * a; break;
            }
        }
    }
    return MMF_OK;
}

mmf_status mmf_params_bf16_shadow(mmf_params *ps) {
    if (!ps->data) return mmf_fail(MMF_ERR_ARG, "params: bf16 copy before allocation");
    if (!ps->bf16 && !(ps->bf16 = aligned_alloc(64, ((size_t)(ps->total ? ps->total : 32) * 2 + 63) & ~(size_t)63)))
        return mmf_fail(MMF_ERR_NOMEM, "params: out of memory for the bf16 copy");
    for (int64_t j = 0; j < ps->total; j++) ps->bf16[j] = mmf_f32_to_bf16(ps->data[j]);
    ps->bf16_fresh = 1;
    return MMF_OK;
}

void mmf_params_touch(mmf_params *ps) { ps->bf16_fresh = 0; }

void mmf_params_zero_grad(mmf_params *ps) {
    if (ps->grad) memset(ps->grad, 0, (size_t)ps->total * sizeof(float));
    for (int i = 0; i < ps->n; i++) ps->p[i].grad_stale = ps->p[i].sumsq_ok = 0;
}

void mmf_params_apply_pending(mmf_params *ps, int idx) {
    if (!ps->p[idx].pending) return;
    ps->apply_pending(ps->pending_opt, ps, idx, 0, ps->p[idx].n);
    ps->p[idx].pending = 0;
}

static mmf_var param_var(mmf_tape *tp, mmf_params *ps, int idx, int deferred) {
    if (tp->err) return -1;
    if (idx < 0 || idx >= ps->n || !ps->data)
        return mmf_tape_fail(tp, mmf_fail(MMF_ERR_ARG, "tape: parameter %d does not exist", idx));
    if (!deferred) mmf_params_apply_pending(ps, idx);
    mmf_param_info *pi = &ps->p[idx];
    mmf_tvar tv = {0};
    tv.v = ps->data + pi->offset;
    tv.g = ps->grad + pi->offset;
    tv.b16 = ps->bf16 && ps->bf16_fresh ? ps->bf16 + pi->offset : NULL;
    tv.ps = ps;
    tv.pidx = idx;
    tv.deferred = deferred;
    tv.ndim = pi->ndim;
    memcpy(tv.shape, pi->shape, sizeof tv.shape);
    tv.n = pi->n;
    return push_var(tp, &tv);
}

mmf_var mmf_t_param(mmf_tape *tp, mmf_params *ps, int idx) { return param_var(tp, ps, idx, 0); }
mmf_var mmf_t_param_deferred(mmf_tape *tp, mmf_params *ps, int idx) { return param_var(tp, ps, idx, 1); }
