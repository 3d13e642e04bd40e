/* Ops for bilinear pooling: per-row outer product, count sketch, and circular
 * convolution through our radix-2 FFT (compact bilinear pooling, Gao et al. 2016:
 * psi(x) * psi(y) = FFT^-1(FFT(psi(x)) . FFT(psi(y)))). */
#include "train/tape.h"
#include "train/fft.h"
#include "core/error.h"
#include <omp.h>
#include <string.h>

#define TV(v) mmf_tape_var(tp, (v))

/* ----------------------------------------------------------------- outer */

static void outer_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *a = TV(nd->in[0]), *b = TV(nd->in[1]), *y = TV(nd->out);
    int64_t B = nd->i[0], M = nd->i[1], N = nd->i[2];
    int nt = mmf_tape_threads(tp);
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && B * M * N > 65536)
    for (int64_t r = 0; r < B; r++) {
        const float *g = y->g + r * M * N, *av = a->v + r * M, *bv = b->v + r * N;
        for (int64_t i = 0; i < M; i++) {
            const float *gi = g + i * N;
            if (a->g) {
                float s = 0.0f;
                for (int64_t j = 0; j < N; j++) s += gi[j] * bv[j];
                a->g[r * M + i] += s;
            }
            if (b->g) {
                float ai = av[i];
                float *gb = b->g + r * N;
                for (int64_t j = 0; j < N; j++) gb[j] += gi[j] * ai;
            }
        }
    }
}

mmf_var mmf_t_outer(mmf_tape *tp, mmf_var a, mmf_var b) {
    if (a < 0 || b < 0 || mmf_tape_status(tp)) return mmf_tape_fail(tp, mmf_tape_status(tp));
    mmf_tvar *A = TV(a), *Bv = TV(b);
    if (A->ndim != 2 || Bv->ndim != 2 || A->shape[0] != Bv->shape[0])
        return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "outer: expected a [B,M] and b [B,N]"));
    int64_t B = A->shape[0], M = A->shape[1], N = Bv->shape[1];
    mmf_var in[2] = {a, b};
    int ng = mmf_tape_needs_grad(tp, in, 2);
    mmf_var y = mmf_tape_alloc(tp, 2, (int64_t[]){B, M * N}, ng);
    if (y < 0) return -1;
    A = TV(a); Bv = TV(b);
    float *yv = TV(y)->v;
    int nt = mmf_tape_threads(tp);
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && B * M * N > 65536)
    for (int64_t r = 0; r < B; r++)
        for (int64_t i = 0; i < M; i++) {
            float ai = A->v[r * M + i];
            float *o = yv + (r * M + i) * N;
            const float *bv = Bv->v + r * N;
            for (int64_t j = 0; j < N; j++) o[j] = ai * bv[j];
        }
    if (ng) {
        mmf_node nd = {.backward = outer_backward, .name = "outer", .out = y, .in = {a, b}, .n_in = 2, .i = {B, M, N}};
        mmf_tape_record(tp, &nd);
    }
    return y;
}

/* ---------------------------------------------------------- count sketch */

static void sketch_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *x = TV(nd->in[0]), *y = TV(nd->out);
    int64_t B = nd->i[0], D = nd->i[1], d = nd->i[2];
    const int32_t *h = nd->aux[0];
    const float *s = nd->aux[1];
    for (int64_t r = 0; r < B; r++)
        for (int64_t i = 0; i < D; i++) x->g[r * D + i] += s[i] * y->g[r * d + h[i]];
}

mmf_var mmf_t_count_sketch(mmf_tape *tp, mmf_var x, const int32_t *h, const float *s, int d) {
    if (x < 0 || mmf_tape_status(tp)) return mmf_tape_fail(tp, mmf_tape_status(tp));
    mmf_tvar *X = TV(x);
    if (X->ndim != 2 || d < 1) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "count_sketch: expected x [B,D] and d >= 1"));
    int64_t B = X->shape[0], D = X->shape[1];
    for (int64_t i = 0; i < D; i++)
        if (h[i] < 0 || h[i] >= d || (s[i] != 1.0f && s[i] != -1.0f))
            return mmf_tape_fail(tp, mmf_fail(MMF_ERR_ARG, "count_sketch: hash %d or sign %g at %lld out of range", h[i], s[i], (long long)i));
    int ng = X->g != NULL;
    mmf_var y = mmf_tape_alloc(tp, 2, (int64_t[]){B, d}, ng);
    int32_t *hc = mmf_tape_scratch(tp, (size_t)D * sizeof(int32_t));
    float *sc = mmf_tape_scratch(tp, (size_t)D * sizeof(float));
    if (y < 0 || !hc || !sc) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "count_sketch: out of memory"));
    memcpy(hc, h, (size_t)D * sizeof(int32_t));
    memcpy(sc, s, (size_t)D * sizeof(float));
    X = TV(x);
    float *yv = TV(y)->v;
    memset(yv, 0, (size_t)(B * d) * sizeof(float));
    for (int64_t r = 0; r < B; r++)
        for (int64_t i = 0; i < D; i++) yv[r * d + hc[i]] += sc[i] * X->v[r * D + i];
    if (ng) {
        mmf_node nd = {.backward = sketch_backward, .name = "count_sketch", .out = y, .in = {x}, .n_in = 1,
                       .i = {B, D, d}, .aux = {hc, sc}};
        mmf_tape_record(tp, &nd);
    }
    return y;
}

/* ------------------------------------------------------ circular convolution */

/* aux[0] = FFT(a) rows (re[d], im[d]), aux[1] = FFT(b) rows */
static void circ_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *a = TV(nd->in[0]), *b = TV(nd->in[1]), *y = TV(nd->out);
    int64_t B = nd->i[0];
    int d = (int)nd->i[1], nt = mmf_tape_threads(tp);
    const float *FA = nd->aux[0], *FB = nd->aux[1];
    mmf_fft f;
    if (mmf_fft_init(&f, d)) return;
    float *buf = mmf_tape_scratch(tp, (size_t)nt * 4 * (size_t)d * sizeof(float));
    if (!buf) { mmf_fft_free(&f); return; }
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && B > 1 && (int64_t)B * d > 16384)
    for (int64_t r = 0; r < B; r++) {
        float *gr = buf + (size_t)omp_get_thread_num() * 4 * d, *gi = gr + d, *tr = gi + d, *ti = tr + d;
        memcpy(gr, y->g + r * d, (size_t)d * sizeof(float));
        memset(gi, 0, (size_t)d * sizeof(float));
        mmf_fft_run(&f, gr, gi, 0);
        /* d/da = IFFT(G conj(FB)), d/db = IFFT(G conj(FA)) */
        for (int pass = 0; pass < 2; pass++) {
            mmf_tvar *t = pass ? b : a;
            if (!t->g) continue;
            const float *F = (pass ? FA : FB) + r * 2 * d;
            for (int k = 0; k < d; k++) {
                float xr = F[k], xi = -F[d + k];
                tr[k] = gr[k] * xr - gi[k] * xi;
                ti[k] = gr[k] * xi + gi[k] * xr;
            }
            mmf_fft_run(&f, tr, ti, 1);
            for (int k = 0; k < d; k++) t->g[r * d + k] += tr[k];
        }
    }
    mmf_fft_free(&f);
}

mmf_var mmf_t_circ_conv(mmf_tape *tp, mmf_var a, mmf_var b) {
    if (a < 0 || b < 0 || mmf_tape_status(tp)) return mmf_tape_fail(tp, mmf_tape_status(tp));
    mmf_tvar *A = TV(a), *Bv = TV(b);
    if (A->ndim != 2 || Bv->ndim != 2 || A->shape[0] != Bv->shape[0] || A->shape[1] != Bv->shape[1] || !mmf_is_pow2((long)A->shape[1]))
        return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "circ_conv: expected a, b [B,d] of equal shape with d a power of two"));
    int64_t B = A->shape[0];
    int d = (int)A->shape[1], nt = mmf_tape_threads(tp);
    mmf_var in[2] = {a, b};
    int ng = mmf_tape_needs_grad(tp, in, 2);
    mmf_var y = mmf_tape_alloc(tp, 2, (int64_t[]){B, d}, ng);
    float *FA = mmf_tape_scratch(tp, (size_t)(B * 2 * d) * sizeof(float));
    float *FB = mmf_tape_scratch(tp, (size_t)(B * 2 * d) * sizeof(float));
    float *buf = mmf_tape_scratch(tp, (size_t)nt * 2 * (size_t)d * sizeof(float));
    mmf_fft f;
    if (y < 0 || !FA || !FB || !buf) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "circ_conv: out of memory"));
    mmf_status st = mmf_fft_init(&f, d);
    if (st) return mmf_tape_fail(tp, st);
    A = TV(a); Bv = TV(b);
    float *yv = TV(y)->v;
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && B > 1 && (int64_t)B * d > 16384)
    for (int64_t r = 0; r < B; r++) {
        float *ar = FA + r * 2 * d, *ai = ar + d, *br = FB + r * 2 * d, *bi = br + d;
        float *tr = buf + (size_t)omp_get_thread_num() * 2 * d, *ti = tr + d;
        memcpy(ar, A->v + r * d, (size_t)d * sizeof(float));
        memset(ai, 0, (size_t)d * sizeof(float));
        memcpy(br, Bv->v + r * d, (size_t)d * sizeof(float));
        memset(bi, 0, (size_t)d * sizeof(float));
        mmf_fft_run(&f, ar, ai, 0);
        mmf_fft_run(&f, br, bi, 0);
        for (int k = 0; k < d; k++) {
            tr[k] = ar[k] * br[k] - ai[k] * bi[k];
            ti[k] = ar[k] * bi[k] + ai[k] * br[k];
        }
        mmf_fft_run(&f, tr, ti, 1);
        memcpy(yv + r * d, tr, (size_t)d * sizeof(float));
    }
    mmf_fft_free(&f);
    if (ng) {
        mmf_node nd = {.backward = circ_backward, .name = "circ_conv", .out = y, .in = {a, b}, .n_in = 2,
                       .i = {B, d}, .aux = {FA, FB}};
        mmf_tape_record(tp, &nd);
    }
    return y;
}
