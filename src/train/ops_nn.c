/* Elementwise activations, normalisations, dropout and embedding lookup. */
#include "train/tape.h"
#include "core/error.h"
#include "core/vmath.h"
#include <math.h>
#include <string.h>

#define TV(v) mmf_tape_var(tp, (v))
#define PAR_MIN 65536

/* ------------------------------------------------------------ activations */

enum { ACT_TANH, ACT_SIGMOID, ACT_RELU, ACT_GELU, ACT_EXP, ACT_SSQRT };

/* One loop per kind, branch-free math from core/vmath.h under `omp simd`: a
 * switch inside the loop kept GCC from vectorising, ReLU's data-dependent branch
 * mispredicted on every other element, and glibc's expf is a scalar call. At
 * training batch sizes these loops are far below any parallel threshold. */
static inline float gelu_cdf(float x) {   /* Phi(x) = 0.5 (1 + erf(x / sqrt 2)) */
    float z = x * 0.70710678118654752f, e = 0.5f * mmf_v_erfc_pos(fabsf(z));
    return z < 0.0f ? e : 1.0f - e;
}

static void act_fwd_range(int k, const float *restrict xv, float *restrict yv, int64_t n, float eps) {
    switch (k) {
    case ACT_TANH:
#pragma omp simd
        for (int64_t i = 0; i < n; i++) yv[i] = mmf_v_tanh(xv[i]);
        break;
    case ACT_SIGMOID:
#pragma omp simd
        for (int64_t i = 0; i < n; i++) yv[i] = 1.0f / (1.0f + mmf_v_exp(-xv[i]));
        break;
    case ACT_RELU:
#pragma omp simd
        for (int64_t i = 0; i < n; i++) yv[i] = xv[i] > 0.0f ? xv[i] : 0.0f;
        break;
    case ACT_GELU:
#pragma omp simd
        for (int64_t i = 0; i < n; i++) yv[i] = xv[i] * gelu_cdf(xv[i]);
        break;
    case ACT_EXP:
#pragma omp simd
        for (int64_t i = 0; i < n; i++) yv[i] = mmf_v_exp(xv[i]);
        break;
    default: {
        float se = sqrtf(eps);
#pragma omp simd
        for (int64_t i = 0; i < n; i++) { float r = sqrtf(fabsf(xv[i]) + eps) - se; yv[i] = xv[i] < 0.0f ? -r : r; }
    }
    }
}

/* xg += yg * dy/dx (from x and y) */
static void act_bwd_range(int k, const float *restrict xv, const float *restrict yv, const float *restrict yg,
                          float *restrict xg, int64_t n, float eps) {
    switch (k) {
    case ACT_TANH:
#pragma omp simd
        for (int64_t i = 0; i < n; i++) xg[i] += yg[i] * (1.0f - yv[i] * yv[i]);
        break;
    case ACT_SIGMOID:
#pragma omp simd
        for (int64_t i = 0; i < n; i++) xg[i] += yg[i] * (yv[i] * (1.0f - yv[i]));
        break;
    case ACT_RELU:
#pragma omp simd
        for (int64_t i = 0; i < n; i++) xg[i] += xv[i] > 0.0f ? yg[i] : 0.0f;
        break;
    case ACT_GELU:
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            xg[i] += yg[i] * (gelu_cdf(xv[i]) + xv[i] * 0.3989422804014327f * mmf_v_exp(-0.5f * xv[i] * xv[i]));
        break;
    case ACT_EXP:
#pragma omp simd
        for (int64_t i = 0; i < n; i++) xg[i] += yg[i] * yv[i];
        break;
    default:
#pragma omp simd
        for (int64_t i = 0; i < n; i++) xg[i] += yg[i] * (0.5f / sqrtf(fabsf(xv[i]) + eps));
    }
}

/* Chunks of PAR_MIN elements: serial below that, so a small op never waits
 * for a thread team on a busy machine; every element is computed the same way
 * whatever the split. */
static void act_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *x = TV(nd->in[0]), *y = TV(nd->out);
    int k = (int)nd->i[0], nt = mmf_tape_threads(tp);
    float eps = nd->f[0];
    int64_t n = y->n, nch = (n + PAR_MIN - 1) / PAR_MIN;
    if (nt < 2 || nch < 2) { act_bwd_range(k, x->v, y->v, y->g, x->g, n, eps); return; }
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t c = 0; c < nch; c++) {
        int64_t a = c * PAR_MIN, len = n - a < PAR_MIN ? n - a : PAR_MIN;
        act_bwd_range(k, x->v + a, y->v + a, y->g + a, x->g + a, len, eps);
    }
}

static mmf_var act(mmf_tape *tp, mmf_var x, int k, float eps, const char *name) {
    mmf_var y = mmf_tape_alloc_like(tp, x);
    if (y < 0) return -1;
    int ng = TV(x)->g != NULL;
    const float *xv = TV(x)->v;
    float *yv = TV(y)->v;
    int64_t n = TV(y)->n, nch = (n + PAR_MIN - 1) / PAR_MIN;
    int nt = mmf_tape_threads(tp);
    if (nt < 2 || nch < 2) act_fwd_range(k, xv, yv, n, eps);
    else {
        #pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t c = 0; c < nch; c++) {
            int64_t a = c * PAR_MIN;
            act_fwd_range(k, xv + a, yv + a, n - a < PAR_MIN ? n - a : PAR_MIN, eps);
        }
    }
    if (ng) {
        mmf_node nd = {.backward = act_backward, .name = name, .out = y, .in = {x}, .n_in = 1, .i = {k}, .f = {eps}};
        mmf_tape_record(tp, &nd);
    }
    return y;
}

mmf_var mmf_t_tanh(mmf_tape *tp, mmf_var x) { return act(tp, x, ACT_TANH, 0, "tanh"); }
mmf_var mmf_t_sigmoid(mmf_tape *tp, mmf_var x) { return act(tp, x, ACT_SIGMOID, 0, "sigmoid"); }
mmf_var mmf_t_relu(mmf_tape *tp, mmf_var x) { return act(tp, x, ACT_RELU, 0, "relu"); }
mmf_var mmf_t_gelu(mmf_tape *tp, mmf_var x) { return act(tp, x, ACT_GELU, 0, "gelu"); }
mmf_var mmf_t_exp(mmf_tape *tp, mmf_var x) { return act(tp, x, ACT_EXP, 0, "exp"); }
mmf_var mmf_t_signed_sqrt(mmf_tape *tp, mmf_var x, float eps) {
    if (!(eps > 0.0f)) eps = 1e-8f;
    return act(tp, x, ACT_SSQRT, eps, "signed_sqrt");
}

/* ---------------------------------------------------------------- softmax */

/* rows x cols; aux[0] = keep mask copy or NULL */
static void softmax_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *x = TV(nd->in[0]), *y = TV(nd->out);
    int64_t rows = nd->i[0], cols = nd->i[1];
    int nt = mmf_tape_threads(tp);
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && rows * cols > PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = y->v + r * cols, *gr = y->g + r * cols;
        float dot = 0.0f;
        for (int64_t c = 0; c < cols; c++) dot += yr[c] * gr[c];
        for (int64_t c = 0; c < cols; c++) x->g[r * cols + c] += yr[c] * (gr[c] - dot);
    }
}

mmf_var mmf_t_softmax(mmf_tape *tp, mmf_var x, const uint8_t *keep) {
    mmf_var y = mmf_tape_alloc_like(tp, x);
    if (y < 0) return -1;
    int ng = TV(x)->g != NULL;
    mmf_tvar *X = TV(x), *Y = TV(y);
    int64_t cols = X->shape[X->ndim - 1], rows = cols ? X->n / cols : 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = X->v + r * cols;
        const uint8_t *kr = keep ? keep + r * cols : NULL;
        float *yr = Y->v + r * cols, mx = -INFINITY;
        for (int64_t c = 0; c < cols; c++) if ((!kr || kr[c]) && xr[c] > mx) mx = xr[c];
        if (mx == -INFINITY) { memset(yr, 0, (size_t)cols * sizeof(float)); continue; }
        float s = 0.0f;
        for (int64_t c = 0; c < cols; c++) { yr[c] = (!kr || kr[c]) ? expf(xr[c] - mx) : 0.0f; s += yr[c]; }
        for (int64_t c = 0; c < cols; c++) yr[c] /= s;
    }
    if (ng) {
        mmf_node nd = {.backward = softmax_backward, .name = "softmax", .out = y, .in = {x}, .n_in = 1, .i = {rows, cols}};
        mmf_tape_record(tp, &nd);
    }
    return y;
}

/* -------------------------------------------------------------- layernorm */

/* aux[0] = mean [rows], aux[1] = rstd [rows] */
static void layernorm_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *x = TV(nd->in[0]), *w = TV(nd->in[1]), *b = TV(nd->in[2]), *y = TV(nd->out);
    int64_t rows = nd->i[0], C = nd->i[1];
    const float *mean = nd->aux[0], *rstd = nd->aux[1];
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x->v + r * C, *gr = y->g + r * C;
        float m = mean[r], rs = rstd[r];
        float dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
        for (int64_t c = 0; c < C; c++) {
            float nx = (xr[c] - m) * rs;
            float dn = gr[c] * (w ? w->v[c] : 1.0f);
            dnorm_mean += dn;
            dnorm_norm_mean += dn * nx;
            if (w && w->g) w->g[c] += gr[c] * nx;
            if (b && b->g) b->g[c] += gr[c];
        }
        dnorm_mean /= (float)C;
        dnorm_norm_mean /= (float)C;
        if (x->g)
            for (int64_t c = 0; c < C; c++) {
                float nx = (xr[c] - m) * rs;
                float dn = gr[c] * (w ? w->v[c] : 1.0f);
                x->g[r * C + c] += (dn - dnorm_mean - nx * dnorm_norm_mean) * rs;
            }
    }
}

mmf_var mmf_t_layernorm(mmf_tape *tp, mmf_var x, mmf_var w, mmf_var b, float eps) {
    if (x < 0 || mmf_tape_status(tp)) return mmf_tape_fail(tp, mmf_tape_status(tp));
    mmf_tvar *X = TV(x);
    int64_t C = X->shape[X->ndim - 1], rows = C ? X->n / C : 0;
    if ((w >= 0 && TV(w)->n != C) || (b >= 0 && TV(b)->n != C))
        return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "layernorm: weight/bias size differs from the last dim %lld", (long long)C));
    mmf_var in[3] = {x, w, b};
    int ng = mmf_tape_needs_grad(tp, in, 3);
    mmf_var y = mmf_tape_alloc(tp, X->ndim, X->shape, ng);
    float *mean = mmf_tape_scratch(tp, (size_t)rows * sizeof(float)), *rstd = mmf_tape_scratch(tp, (size_t)rows * sizeof(float));
    if (y < 0 || !mean || !rstd) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "layernorm: out of memory"));
    X = TV(x);
    mmf_tvar *Y = TV(y), *Wt = TV(w), *Bt = TV(b);
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = X->v + r * C;
        double m = 0.0, v = 0.0;
        for (int64_t c = 0; c < C; c++) m += xr[c];
        m /= (double)C;
        for (int64_t c = 0; c < C; c++) { double d = xr[c] - m; v += d * d; }
        v /= (double)C;
        mean[r] = (float)m;
        rstd[r] = (float)(1.0 / sqrt(v + eps));
        for (int64_t c = 0; c < C; c++) {
            float o = (xr[c] - mean[r]) * rstd[r];
            if (Wt) o *= Wt->v[c];
            if (Bt) o += Bt->v[c];
            Y->v[r * C + c] = o;
        }
    }
    if (ng) {
        mmf_node nd = {.backward = layernorm_backward, .name = "layernorm", .out = y, .in = {x, w, b}, .n_in = 3,
                       .i = {rows, C}, .aux = {mean, rstd}};
        mmf_tape_record(tp, &nd);
    }
    return y;
}

/* ---------------------------------------------------------------- l2norm */

/* aux[0] = 1/norm per row */
static void l2norm_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *x = TV(nd->in[0]), *y = TV(nd->out);
    int64_t rows = nd->i[0], C = nd->i[1];
    const float *inv = nd->aux[0];
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = y->v + r * C, *gr = y->g + r * C;
        float dot = 0.0f;
        for (int64_t c = 0; c < C; c++) dot += yr[c] * gr[c];
        for (int64_t c = 0; c < C; c++) x->g[r * C + c] += inv[r] * (gr[c] - yr[c] * dot);
    }
}

mmf_var mmf_t_l2norm(mmf_tape *tp, mmf_var x, float eps) {
    mmf_var y = mmf_tape_alloc_like(tp, x);
    if (y < 0) return -1;
    int ng = TV(x)->g != NULL;
    mmf_tvar *X = TV(x), *Y = TV(y);
    int64_t C = X->shape[X->ndim - 1], rows = C ? X->n / C : 0;
    float *inv = mmf_tape_scratch(tp, (size_t)rows * sizeof(float) + 4);
    if (!inv) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "l2norm: out of memory"));
    for (int64_t r = 0; r < rows; r++) {
        double s = 0.0;
        for (int64_t c = 0; c < C; c++) s += (double)X->v[r * C + c] * X->v[r * C + c];
        inv[r] = (float)(1.0 / sqrt(s + eps));
        for (int64_t c = 0; c < C; c++) Y->v[r * C + c] = X->v[r * C + c] * inv[r];
    }
    if (ng) {
        mmf_node nd = {.backward = l2norm_backward, .name = "l2norm", .out = y, .in = {x}, .n_in = 1, .i = {rows, C}, .aux = {inv}};
        mmf_tape_record(tp, &nd);
    }
    return y;
}

/* --------------------------------------------------------------- dropout */

static void dropout_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *x = TV(nd->in[0]), *y = TV(nd->out);
    const float *m = nd->aux[0];
    float *restrict xg = x->g;
    const float *restrict yg = y->g;
#pragma omp simd
    for (int64_t i = 0; i < y->n; i++) xg[i] += yg[i] * m[i];
}

mmf_var mmf_t_dropout(mmf_tape *tp, mmf_var x, float p) {
    if (x < 0 || mmf_tape_status(tp)) return mmf_tape_fail(tp, mmf_tape_status(tp));
    if (!mmf_tape_training(tp) || p <= 0.0f) return x;
    if (p >= 1.0f) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_ARG, "dropout: p = %g, expected [0, 1)", p));
    mmf_var y = mmf_tape_alloc_like(tp, x);
    if (y < 0) return -1;
    int ng = TV(x)->g != NULL;
    int64_t n = TV(y)->n;
    float *m = mmf_tape_scratch(tp, (size_t)n * sizeof(float));
    if (!m) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "dropout: out of memory"));
    float keep = 1.0f / (1.0f - p);
    mmf_rng *rng = mmf_tape_rng(tp);
    const float *xv = TV(x)->v;
    float *yv = TV(y)->v;
    /* four 16-bit uniforms per 64-bit draw: drop when u < p * 2^16 */
    uint32_t thr = (uint32_t)(p * 65536.0f + 0.5f);
    /* the u64 draws read as uint16s, little-endian: element 4j+k takes bits
     * 16k..16k+15 of draw j (the stream this op has always used) */
    /* a data-parallel slice of samples lo..hi-1 of a batch of B, x batch-major
     * ([B, ...] or [B * T, ...]) with per elements a sample: the whole batch's
     * draws, this slice's taken (a tensor of another layout still gets a
     * valid mask, only not one process's) */
    int64_t lo, hi, Bb, total = n, off = 0;
    if (mmf_tape_slice(tp, &lo, &hi, &Bb) && TV(x)->shape[0] % (hi - lo) == 0) {
        int64_t per = n / (hi - lo);
        total = Bb * per;
        off = lo * per;
    }
    uint64_t *draws = mmf_tape_scratch(tp, (size_t)((total + 3) / 4) * sizeof(uint64_t));
    if (!draws) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "dropout: out of memory"));
    mmf_rng_fill(rng, draws, (total + 3) / 4);
    const uint16_t *u = (const uint16_t *)draws + off;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float mk = (uint32_t)u[i] < thr ? 0.0f : keep;
        m[i] = mk;
        yv[i] = xv[i] * mk;
    }
    if (ng) {
        mmf_node nd = {.backward = dropout_backward, .name = "dropout", .out = y, .in = {x}, .n_in = 1, .aux = {m}};
        mmf_tape_record(tp, &nd);
    }
    return y;
}

/* ------------------------------------------------------------- embedding */

static void embedding_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *tab = TV(nd->in[0]), *y = TV(nd->out);
    const int32_t *ids = nd->aux[0];
    int64_t n = nd->i[0], D = nd->i[1];
    for (int64_t r = 0; r < n; r++) /* serial: repeated ids accumulate in a fixed order */
        for (int64_t c = 0; c < D; c++) tab->g[(int64_t)ids[r] * D + c] += y->g[r * D + c];
}

mmf_var mmf_t_embedding(mmf_tape *tp, mmf_var table, const int32_t *ids, int64_t n) {
    if (table < 0 || mmf_tape_status(tp)) return mmf_tape_fail(tp, mmf_tape_status(tp));
    mmf_tvar *T = TV(table);
    if (T->ndim != 2) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "embedding: table must be [V, D]"));
    int64_t V = T->shape[0], D = T->shape[1];
    for (int64_t r = 0; r < n; r++)
        if (ids[r] < 0 || ids[r] >= V)
            return mmf_tape_fail(tp, mmf_fail(MMF_ERR_ARG, "embedding: id %d at position %lld is outside [0, %lld)", ids[r], (long long)r, (long long)V));
    int ng = T->g != NULL;
    mmf_var y = mmf_tape_alloc(tp, 2, (int64_t[]){n, D}, ng);
    int32_t *idc = mmf_tape_scratch(tp, (size_t)n * sizeof(int32_t) + 4);
    if (y < 0 || !idc) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "embedding: out of memory"));
    memcpy(idc, ids, (size_t)n * sizeof(int32_t));
    T = TV(table);
    for (int64_t r = 0; r < n; r++) memcpy(TV(y)->v + r * D, T->v + (int64_t)ids[r] * D, (size_t)D * sizeof(float));
    if (ng) {
        mmf_node nd = {.backward = embedding_backward, .name = "embedding", .out = y, .in = {table}, .n_in = 1,
                       .i = {n, D}, .aux = {idc}};
        mmf_tape_record(tp, &nd);
    }
    return y;
}
