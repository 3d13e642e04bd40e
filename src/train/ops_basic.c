/* Linear algebra and shape ops: linear, matmul, broadcasting add/sub/mul, scale,
 * concat, slice, reshape, sums. Each op: a forward that allocates its output and
 * records a node, and a static backward that adds into the inputs' gradients. */
#include "train/tape.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/gemm_bf16.h"
#include "core/tensor.h"
#include <string.h>

#define TV(v) mmf_tape_var(tp, (v))

static const char *shp(const mmf_tvar *t, char *buf, size_t cap) { return mmf_shape_str(t->ndim, t->shape, buf, cap); }

/* ---------------------------------------------------------------- linear */

/* Layers with at least 32 inputs and 32 outputs: below that the packing and
 * the 16-column blocks cost more than the bf16 rate saves (a 10-class output
 * layer ran slower in bf16). The kernels' index arithmetic is int; a layer
 * past that runs in fp32. */
static int use_bf16(mmf_tape *tp, int64_t R, int64_t IC, int64_t OC) {
    return mmf_tape_bf16(tp) && IC >= 32 && OC >= 32 && R > 0 && R < (1 << 30) && IC * OC < (1 << 30) &&
           R * (IC > OC ? IC : OC) < (1 << 30);
}

static int pad2i(int k) { return (k + 1) & ~1; }

/* Threads for one GEMM of `macs` multiply-adds: below ~1M (a few tens of
 * microseconds on one core) a parallel region costs more than it saves, and on
 * a busy machine it waits for a second core to be scheduled. */
static int gemm_threads(mmf_tape *tp, int64_t macs) { return macs < (1 << 20) ? 1 : mmf_tape_threads(tp); }

/* x [R, IC], W [OC, IC], b [OC]; y [R, OC]. The node takes W's and b's
 * gradients unwritten (lazy_ok): a parameter's first use in a backward pass
 * stores its gradient instead of reading, adding and writing it back. */
static void linear_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *x = TV(nd->in[0]), *W = TV(nd->in[1]), *b = TV(nd->in[2]), *y = TV(nd->out);
    int64_t R = nd->i[0];
    int IC = (int)nd->i[1], OC = (int)nd->i[2], nt = gemm_threads(tp, R * IC * OC);
    int w_acc = W->g && !mmf_tape_grad_fresh(W);
    if (nd->i[3]) { /* bf16: dX = dY W and dW = dY^T X with bf16 operands, fp32 sums */
        if (x->g) {
            uint16_t *Wt = mmf_tape_scratch(tp, mmf_bf16_packed_size(IC, OC) * 2);
            void *xs = mmf_tape_scratch(tp, mmf_bf16_scratch_bytes(R, OC));
            if (!Wt || !xs) goto fp32;   /* out of memory: the fp32 path needs none */
            mmf_bf16_pack_t(Wt, W->v, OC, IC, IC);
            mmf_bf16_linear(x->g, y->g, Wt, NULL, R, OC, IC, 1, xs, nt);
        }
        if (W->g) {
            /* dW = dY^T X: dY^T as bf16 rows (one transposing pass), X^T packed */
            const int Kp = pad2i((int)R);
            uint16_t *dyt = mmf_tape_scratch(tp, (size_t)OC * (size_t)Kp * 2);
            uint16_t *Xp = mmf_tape_scratch(tp, mmf_bf16_packed_size(IC, (int)R) * 2);
            if (!dyt || !Xp) {
                mmf_gemm(1, 0, OC, IC, (int)R, 1.0f, y->g, OC, x->v, IC, w_acc ? 1.0f : 0.0f, W->g, IC, nt);
            } else {
                mmf_bf16_transpose(dyt, Kp, y->g, OC, (int)R, OC);
                mmf_bf16_pack_t(Xp, x->v, (int)R, IC, IC);
                mmf_params *ps = W->ps;
                /* the parameter's only reader stores its final gradient here, and the
                 * GEMM sums its squares for the optimiser's norm */
                int sq_here = !w_acc && ps && ps->p[W->pidx].uses == 1 && nt <= 64;
                double part[64 * 8] = {0};
                mmf_gemm_epi e = {.accumulate = w_acc, .y = W->g, .ldy = IC, .sumsq = sq_here ? part : NULL};
                mmf_bf16_gemm(dyt, Kp, Xp, OC, (int)R, IC, &e, nt);
                if (sq_here) {
                    double sq = 0.0;
                    for (int t = 0; t < nt; t++) sq += part[8 * t];
                    ps->p[W->pidx].sumsq = sq;
                    ps->p[W->pidx].sumsq_ok = 1;
                }
            }
        }
        goto bias;
    }
fp32:
    if (x->g) mmf_gemm(0, 0, (int)R, IC, OC, 1.0f, y->g, OC, W->v, IC, 1.0f, x->g, IC, nt);
    if (W->g) mmf_gemm(1, 0, OC, IC, (int)R, 1.0f, y->g, OC, x->v, IC, w_acc ? 1.0f : 0.0f, W->g, IC, nt);
bias:
    if (b && b->g) {
        if (mmf_tape_grad_fresh(b)) memset(b->g, 0, (size_t)OC * sizeof(float));
        for (int64_t r = 0; r < R; r++)
            for (int o = 0; o < OC; o++) b->g[o] += y->g[r * OC + o];
    }
}

/* y^T = W x^T on one thread with W's pending optimiser update applied on the
 * way (mmf_optim_params.defer): UPDATE_ROWS rows of W (x, m, v and the bf16
 * copy) are updated, then multiplied while in cache, and the next rows'
 * update streams are prefetched during the multiply. y [R, OC] is stored
 * transposed by the GEMM, with the bias. */
#define UPDATE_ROWS 24
static void gemm_applying_update(mmf_tvar *tw, const uint16_t *Xp, float *y, const float *bias, int64_t R, int64_t IC,
                                 int64_t OC) {
    mmf_params *ps = tw->ps;
    const int64_t base = ps->p[tw->pidx].offset;
    for (int64_t r0 = 0; r0 < OC; r0 += UPDATE_ROWS) {
        int64_t rows = OC - r0 < UPDATE_ROWS ? OC - r0 : UPDATE_ROWS, next = r0 + rows;
        ps->apply_pending(ps->pending_opt, ps, tw->pidx, r0 * IC, rows * IC);
        mmf_gemm_epi e = {.yt = y + r0, .ldyt = OC, .bias_row = bias ? bias + r0 : NULL};
        if (next < OC) {
            int64_t at = base + next * IC, nr = OC - next < UPDATE_ROWS ? OC - next : UPDATE_ROWS;
            e.pf[0] = (const char *)(ps->data + at);
            e.pf[1] = (const char *)(ps->grad + at);
            e.pf[2] = (const char *)(ps->pending_m + at);
            e.pf[3] = (const char *)(ps->pending_v + at);
            e.pf_bytes = nr * IC * (int64_t)sizeof(float);
        }
        mmf_bf16_gemm_1t(tw->b16 + r0 * IC, IC, Xp, rows, (int)IC, (int)R, &e);
    }
    ps->p[tw->pidx].pending = 0;
}

mmf_var mmf_t_linear(mmf_tape *tp, mmf_var x, mmf_var W, mmf_var b) {
    if (x < 0 || W < 0 || mmf_tape_status(tp)) return mmf_tape_fail(tp, mmf_tape_status(tp));
    mmf_tvar *tx = TV(x), *tw = TV(W), *tb = TV(b);
    int64_t IC = tx->shape[tx->ndim - 1];
    char b1[64], b2[64];
    if (tw->ndim != 2 || tw->shape[1] != IC || (tb && (tb->ndim != 1 || tb->shape[0] != tw->shape[0])))
        return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "linear: input %s does not fit weight %s (expected [OC, %lld]) or bias",
                                          shp(tx, b1, 64), shp(tw, b2, 64), (long long)IC));
    int64_t OC = tw->shape[0], R = tx->n / (IC ? IC : 1);
    int64_t shape[MMF_T_MAXDIM];
    memcpy(shape, tx->shape, sizeof shape);
    shape[tx->ndim - 1] = OC;
    mmf_var in[3] = {x, W, b};
    int ng = mmf_tape_needs_grad(tp, in, 3);
    /* lazy: a consumer that overwrites its input's gradient (mmf_t_gated_sum) saves the zeroing */
    mmf_var y = mmf_tape_alloc_lazy(tp, tx->ndim, shape, ng);
    if (y < 0) return -1;
    tx = TV(x); tw = TV(W); tb = TV(b);
    int bf = use_bf16(tp, R, IC, OC);
    /* a weight with a pending optimiser update (mmf_t_param_deferred): applied
     * below block by block just before the GEMM multiplies those rows, where
     * that path is taken; at once otherwise */
    const int have_b16 = tw->b16 && IC % 2 == 0;   /* the optimiser's bf16 copy of W, usable as GEMM rows */
    const int pend = mmf_var_pending(tw);
    int fuse_update = pend && bf && OC > R && have_b16 && gemm_threads(tp, R * IC * OC) == 1;
    if (pend && !fuse_update) mmf_params_apply_pending(tw->ps, tw->pidx);
    if (bf && OC > R) {
        /* y^T = W x^T: the bigger operand, W, goes in as plain bf16 rows (converted
         * on the fly) and only x is packed: packing is a transpose, and the gemm
         * products are the same pairs in the same order (bit-identical result) */
        int nt = gemm_threads(tp, R * IC * OC);
        uint16_t *Xp = mmf_tape_scratch(tp, mmf_bf16_packed_size((int)R, (int)IC) * 2);
        uint16_t *xs = have_b16 ? NULL : mmf_tape_scratch(tp, (size_t)OC * (size_t)pad2i((int)IC) * 2);
        if (!Xp || (!xs && !have_b16)) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "linear: out of memory"));
        tx = TV(x); tw = TV(W); tb = TV(b);
        mmf_bf16_pack_fast(Xp, tx->v, (int)R, (int)IC, (int)IC);
        /* the GEMM stores its tiles transposed, with the bias: y directly */
        mmf_gemm_epi e = {.yt = TV(y)->v, .ldyt = OC, .bias_row = tb ? tb->v : NULL};
        if (fuse_update) {
            gemm_applying_update(tw, Xp, TV(y)->v, tb ? tb->v : NULL, R, IC, OC);
        } else if (have_b16) {   /* the optimiser's bf16 copy of W: no conversion */
            mmf_bf16_gemm(tw->b16, IC, Xp, OC, (int)IC, (int)R, &e, nt);
        } else {
            mmf_bf16_convert(xs, pad2i((int)IC), tw->v, IC, OC, (int)IC, nt);
            mmf_bf16_gemm(xs, pad2i((int)IC), Xp, OC, (int)IC, (int)R, &e, nt);
        }
    } else if (bf) {
        uint16_t *Wp = mmf_tape_scratch(tp, mmf_bf16_packed_size((int)OC, (int)IC) * 2);
        void *xs = mmf_tape_scratch(tp, mmf_bf16_scratch_bytes(R, (int)IC));
        if (!Wp || !xs) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "linear: out of memory"));
        tx = TV(x); tw = TV(W); tb = TV(b);
        mmf_bf16_pack_fast(Wp, tw->v, (int)OC, (int)IC, (int)IC);
        mmf_bf16_linear(TV(y)->v, tx->v, Wp, tb ? tb->v : NULL, R, (int)IC, (int)OC, 0, xs, gemm_threads(tp, R * IC * OC));
    } else {
        mmf_linear(TV(y)->v, tx->v, tw->v, tb ? tb->v : NULL, R, (int)IC, (int)OC, gemm_threads(tp, R * IC * OC));
    }
    if (ng) {
        mmf_node nd = {.backward = linear_backward, .name = "linear", .out = y, .in = {x, W, b}, .n_in = 3,
                       .i = {R, IC, OC, bf}, .lazy_ok = 2u | 4u};
        mmf_tape_record(tp, &nd);
    }
    return y;
}

/* ---------------------------------------------------------------- matmul */

static void matmul_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *a = TV(nd->in[0]), *b = TV(nd->in[1]), *c = TV(nd->out);
    int B = (int)nd->i[0], M = (int)nd->i[1], K = (int)nd->i[2], N = (int)nd->i[3];
    int ta = (int)nd->i[4], tb = (int)nd->i[5], nt = mmf_tape_threads(tp);
    int64_t sa = (int64_t)M * K, sb = (int64_t)K * N, sc = (int64_t)M * N;
    int lda = ta ? M : K, ldb = tb ? K : N;
    if (a->g) {
        if (!ta) mmf_gemm_batched(0, !tb, B, M, K, N, 1.0f, c->g, N, sc, b->v, ldb, sb, 1.0f, a->g, K, sa, nt);
        else mmf_gemm_batched(tb, 1, B, K, M, N, 1.0f, b->v, ldb, sb, c->g, N, sc, 1.0f, a->g, M, sa, nt);
    }
    if (b->g) {
        if (!tb) mmf_gemm_batched(!ta, 0, B, K, N, M, 1.0f, a->v, lda, sa, c->g, N, sc, 1.0f, b->g, N, sb, nt);
        else mmf_gemm_batched(1, ta, B, N, K, M, 1.0f, c->g, N, sc, a->v, lda, sa, 1.0f, b->g, K, sb, nt);
    }
}

mmf_var mmf_t_matmul(mmf_tape *tp, mmf_var a, mmf_var b, int ta, int tb) {
    if (a < 0 || b < 0 || mmf_tape_status(tp)) return mmf_tape_fail(tp, mmf_tape_status(tp));
    mmf_tvar *A = TV(a), *Bv = TV(b);
    char b1[64], b2[64];
    if (A->ndim != Bv->ndim || (A->ndim != 2 && A->ndim != 3) || (A->ndim == 3 && A->shape[0] != Bv->shape[0]))
        return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "matmul: %s and %s (expected both 2-D or both [B,.,.])", shp(A, b1, 64), shp(Bv, b2, 64)));
    int o = A->ndim - 2;
    int64_t Bn = A->ndim == 3 ? A->shape[0] : 1;
    int64_t M = ta ? A->shape[o + 1] : A->shape[o], K = ta ? A->shape[o] : A->shape[o + 1];
    int64_t K2 = tb ? Bv->shape[o + 1] : Bv->shape[o], N = tb ? Bv->shape[o] : Bv->shape[o + 1];
    if (K != K2)
        return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "matmul: inner dims differ: %s%s x %s%s", shp(A, b1, 64), ta ? "^T" : "",
                                          shp(Bv, b2, 64), tb ? "^T" : ""));
    int64_t shape[3] = {Bn, M, N};
    mmf_var in[2] = {a, b};
    int ng = mmf_tape_needs_grad(tp, in, 2);
    mmf_var c = mmf_tape_alloc(tp, A->ndim, A->ndim == 3 ? shape : shape + 1, ng);
    if (c < 0) return -1;
    A = TV(a); Bv = TV(b);
    mmf_gemm_batched(ta, tb, (int)Bn, (int)M, (int)N, (int)K, 1.0f, A->v, (int)(ta ? M : K), M * K,
                     Bv->v, (int)(tb ? K : N), K * N, 0.0f, TV(c)->v, (int)N, M * N, mmf_tape_threads(tp));
    if (ng) {
        mmf_node nd = {.backward = matmul_backward, .name = "matmul", .out = c, .in = {a, b}, .n_in = 2,
                       .i = {Bn, M, K, N, ta, tb}};
        mmf_tape_record(tp, &nd);
    }
    return c;
}

/* ---------------------------------------------------- broadcasting binary */

enum { BIN_ADD, BIN_SUB, BIN_MUL };

/* One innermost row, strides 0 or 1 on each side: separate loops so each vectorises. */
static void bin_row(float *o, const float *a, int64_t ia, const float *b, int64_t ib, int64_t n, int op) {
#define BIN_LOOPS(EXPR) \
    if (ia && ib) for (int64_t i = 0; i < n; i++) { float x = a[i], z = b[i]; o[i] = EXPR; } \
    else if (ia) { float z = b[0]; for (int64_t i = 0; i < n; i++) { float x = a[i]; o[i] = EXPR; } } \
    else if (ib) { float x = a[0]; for (int64_t i = 0; i < n; i++) { float z = b[i]; o[i] = EXPR; } } \
    else { float x = a[0], z = b[0]; for (int64_t i = 0; i < n; i++) o[i] = EXPR; }
    if (op == BIN_ADD) { BIN_LOOPS(x + z) }
    else if (op == BIN_SUB) { BIN_LOOPS(x - z) }
    else { BIN_LOOPS(x * z) }
#undef BIN_LOOPS
}

/* Right-align shapes to 4 dims; stride 0 on broadcast dims. */
static int bcast(const mmf_tvar *a, const mmf_tvar *b, int64_t *os, int64_t *sa, int64_t *sb) {
    int64_t as[4], bs[4];
    for (int d = 0; d < 4; d++) {
        int da = d - (4 - a->ndim), db = d - (4 - b->ndim);
        as[d] = da >= 0 ? a->shape[da] : 1;
        bs[d] = db >= 0 ? b->shape[db] : 1;
        if (as[d] != bs[d] && as[d] != 1 && bs[d] != 1) return 0;
        os[d] = as[d] > bs[d] ? as[d] : bs[d];
        if (as[d] == 0 || bs[d] == 0) os[d] = 0;
    }
    int64_t ra = 1, rb = 1;
    for (int d = 3; d >= 0; d--) {
        sa[d] = as[d] == 1 ? 0 : ra; ra *= as[d];
        sb[d] = bs[d] == 1 ? 0 : rb; rb *= bs[d];
    }
    return 1;
}

static void binary_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *a = TV(nd->in[0]), *b = TV(nd->in[1]), *y = TV(nd->out);
    int op = (int)nd->i[0];
    const int64_t *os = &nd->i[1];
    int64_t sa[4], sb[4], tmp[4];
    bcast(a, b, tmp, sa, sb);
    if (a->n == y->n && b->n == y->n) { /* same shape: the common case, no index arithmetic */
        int64_t n = y->n;
        if (a->g) {
            if (op == BIN_MUL) for (int64_t i = 0; i < n; i++) a->g[i] += y->g[i] * b->v[i];
            else for (int64_t i = 0; i < n; i++) a->g[i] += y->g[i];
        }
        if (b->g) {
            if (op == BIN_MUL) for (int64_t i = 0; i < n; i++) b->g[i] += y->g[i] * a->v[i];
            else if (op == BIN_SUB) for (int64_t i = 0; i < n; i++) b->g[i] -= y->g[i];
            else for (int64_t i = 0; i < n; i++) b->g[i] += y->g[i];
        }
        return;
    }
    int64_t k = 0;
    for (int64_t i0 = 0; i0 < os[0]; i0++)
        for (int64_t i1 = 0; i1 < os[1]; i1++)
            for (int64_t i2 = 0; i2 < os[2]; i2++) {
                int64_t pa = i0 * sa[0] + i1 * sa[1] + i2 * sa[2], pb = i0 * sb[0] + i1 * sb[1] + i2 * sb[2];
                for (int64_t i3 = 0; i3 < os[3]; i3++, k++) {
                    float g = y->g[k];
                    int64_t ja = pa + i3 * sa[3], jb = pb + i3 * sb[3];
                    if (a->g) a->g[ja] += op == BIN_MUL ? g * b->v[jb] : g;
                    if (b->g) b->g[jb] += op == BIN_MUL ? g * a->v[ja] : (op == BIN_SUB ? -g : g);
                }
            }
}

static mmf_var binary(mmf_tape *tp, mmf_var a, mmf_var b, int op) {
    if (a < 0 || b < 0 || mmf_tape_status(tp)) return mmf_tape_fail(tp, mmf_tape_status(tp));
    mmf_tvar *A = TV(a), *B = TV(b);
    int64_t os[4], sa[4], sb[4];
    char b1[64], b2[64];
    static const char *names[] = {"add", "sub", "mul"};
    if (!bcast(A, B, os, sa, sb))
        return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "%s: shapes %s and %s do not broadcast", names[op], shp(A, b1, 64), shp(B, b2, 64)));
    int nd_out = A->ndim > B->ndim ? A->ndim : B->ndim;
    mmf_var in[2] = {a, b};
    int ng = mmf_tape_needs_grad(tp, in, 2);
    mmf_var y = mmf_tape_alloc(tp, nd_out, os + (4 - nd_out), ng);
    if (y < 0) return -1;
    A = TV(a); B = TV(b);
    float *out = TV(y)->v;
    int64_t n = TV(y)->n;
    if (A->n == n && B->n == n) {
        const float *x = A->v, *z = B->v;
        int nt = mmf_tape_threads(tp);
        #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && n > 65536)
        for (int64_t i = 0; i < n; i++) out[i] = op == BIN_ADD ? x[i] + z[i] : op == BIN_SUB ? x[i] - z[i] : x[i] * z[i];
    } else {
        int64_t k = 0, n3 = os[3];
        for (int64_t i0 = 0; i0 < os[0]; i0++)
            for (int64_t i1 = 0; i1 < os[1]; i1++)
                for (int64_t i2 = 0; i2 < os[2]; i2++, k += n3) {
                    const float *pa = A->v + i0 * sa[0] + i1 * sa[1] + i2 * sa[2];
                    const float *pb = B->v + i0 * sb[0] + i1 * sb[1] + i2 * sb[2];
                    bin_row(out + k, pa, sa[3], pb, sb[3], n3, op);
                }
    }
    if (ng) {
        mmf_node nd = {.backward = binary_backward, .name = names[op], .out = y, .in = {a, b}, .n_in = 2,
                       .i = {op, os[0], os[1], os[2], os[3]}};
        mmf_tape_record(tp, &nd);
    }
    return y;
}

mmf_var mmf_t_add(mmf_tape *tp, mmf_var a, mmf_var b) { return binary(tp, a, b, BIN_ADD); }
mmf_var mmf_t_sub(mmf_tape *tp, mmf_var a, mmf_var b) { return binary(tp, a, b, BIN_SUB); }
mmf_var mmf_t_mul(mmf_tape *tp, mmf_var a, mmf_var b) { return binary(tp, a, b, BIN_MUL); }

/* ----------------------------------------------------------------- scale */

static void scale_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *x = TV(nd->in[0]), *y = TV(nd->out);
    float a = nd->f[0];
    for (int64_t i = 0; i < y->n; i++) x->g[i] += a * y->g[i];
}

mmf_var mmf_t_scale(mmf_tape *tp, mmf_var x, float alpha, float beta) {
    mmf_var y = mmf_tape_alloc_like(tp, x);
    if (y < 0) return -1;
    int ng = TV(x)->g != NULL;
    const float *xv = TV(x)->v;
    float *yv = TV(y)->v;
    for (int64_t i = 0; i < TV(y)->n; i++) yv[i] = alpha * xv[i] + beta;
    if (ng) {
        mmf_node nd = {.backward = scale_backward, .name = "scale", .out = y, .in = {x}, .n_in = 1, .f = {alpha, beta}};
        mmf_tape_record(tp, &nd);
    }
    return y;
}

/* --------------------------------------------------------- concat, slice */

static void outer_inner(const mmf_tvar *t, int axis, int64_t *outer, int64_t *inner) {
    *outer = 1; *inner = 1;
    for (int d = 0; d < axis; d++) *outer *= t->shape[d];
    for (int d = axis + 1; d < t->ndim; d++) *inner *= t->shape[d];
}

/* i[0] = axis; y viewed as [outer, S*inner], input j as [outer, s_j*inner] */
static void concat_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *y = TV(nd->out);
    int axis = (int)nd->i[0];
    int64_t outer, inner;
    outer_inner(y, axis, &outer, &inner);
    int64_t row = y->shape[axis] * inner, off = 0;
    for (int j = 0; j < nd->n_in; j++) {
        mmf_tvar *x = TV(nd->in[j]);
        int64_t w = x->shape[axis] * inner;
        if (x->g)
            for (int64_t o = 0; o < outer; o++)
                for (int64_t c = 0; c < w; c++) x->g[o * w + c] += y->g[o * row + off + c];
        off += w;
    }
}

mmf_var mmf_t_concat(mmf_tape *tp, const mmf_var *xs, int n, int axis) {
    if (mmf_tape_status(tp)) return -1;
    if (n < 1 || n > MMF_NODE_MAXIN)
        return mmf_tape_fail(tp, mmf_fail(MMF_ERR_ARG, "concat: %d inputs (1..%d)", n, MMF_NODE_MAXIN));
    for (int j = 0; j < n; j++) if (xs[j] < 0) return mmf_tape_fail(tp, MMF_ERR_ARG);
    mmf_tvar *x0 = TV(xs[0]);
    if (axis < 0) axis += x0->ndim;
    if (axis < 0 || axis >= x0->ndim) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_ARG, "concat: bad axis %d", axis));
    int64_t shape[MMF_T_MAXDIM];
    memcpy(shape, x0->shape, sizeof shape);
    shape[axis] = 0;
    for (int j = 0; j < n; j++) {
        mmf_tvar *x = TV(xs[j]);
        char b1[64], b2[64];
        int ok = x->ndim == x0->ndim;
        for (int d = 0; ok && d < x->ndim; d++) ok = d == axis || x->shape[d] == x0->shape[d];
        if (!ok)
            return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "concat: input %d has shape %s, input 0 has %s (axis %d)", j,
                                              shp(x, b1, 64), shp(x0, b2, 64), axis));
        shape[axis] += x->shape[axis];
    }
    int ng = mmf_tape_needs_grad(tp, xs, n);
    mmf_var y = mmf_tape_alloc(tp, x0->ndim, shape, ng);
    if (y < 0) return -1;
    mmf_tvar *Y = TV(y);
    int64_t outer, inner;
    outer_inner(Y, axis, &outer, &inner);
    int64_t row = Y->shape[axis] * inner, off = 0;
    for (int j = 0; j < n; j++) {
        mmf_tvar *x = TV(xs[j]);
        int64_t w = x->shape[axis] * inner;
        for (int64_t o = 0; o < outer; o++) memcpy(Y->v + o * row + off, x->v + o * w, (size_t)w * sizeof(float));
        off += w;
    }
    if (ng) {
        mmf_node nd = {.backward = concat_backward, .name = "concat", .out = y, .n_in = n, .i = {axis}};
        for (int j = 0; j < n; j++) nd.in[j] = xs[j];
        mmf_tape_record(tp, &nd);
    }
    return y;
}

/* i = {axis, start, stop} */
static void slice_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *x = TV(nd->in[0]), *y = TV(nd->out);
    int axis = (int)nd->i[0];
    int64_t outer, inner;
    outer_inner(x, axis, &outer, &inner);
    int64_t row = x->shape[axis] * inner, w = y->shape[axis] * inner, off = nd->i[1] * inner;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < w; c++) x->g[o * row + off + c] += y->g[o * w + c];
}

mmf_var mmf_t_slice(mmf_tape *tp, mmf_var x, int axis, int64_t start, int64_t stop) {
    if (x < 0 || mmf_tape_status(tp)) return mmf_tape_fail(tp, mmf_tape_status(tp));
    mmf_tvar *X = TV(x);
    if (axis < 0) axis += X->ndim;
    if (axis < 0 || axis >= X->ndim || start < 0 || stop > X->shape[axis] || start >= stop) {
        char b1[64];
        return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "slice: [%lld:%lld] on axis %d of %s", (long long)start,
                                          (long long)stop, axis, shp(X, b1, 64)));
    }
    int64_t shape[MMF_T_MAXDIM];
    memcpy(shape, X->shape, sizeof shape);
    shape[axis] = stop - start;
    int ng = X->g != NULL;
    mmf_var y = mmf_tape_alloc(tp, X->ndim, shape, ng);
    if (y < 0) return -1;
    X = TV(x);
    mmf_tvar *Y = TV(y);
    int64_t outer, inner;
    outer_inner(X, axis, &outer, &inner);
    int64_t row = X->shape[axis] * inner, w = Y->shape[axis] * inner, off = start * inner;
    for (int64_t o = 0; o < outer; o++) memcpy(Y->v + o * w, X->v + o * row + off, (size_t)w * sizeof(float));
    if (ng) {
        mmf_node nd = {.backward = slice_backward, .name = "slice", .out = y, .in = {x}, .n_in = 1, .i = {axis, start, stop}};
        mmf_tape_record(tp, &nd);
    }
    return y;
}

mmf_var mmf_t_reshape(mmf_tape *tp, mmf_var x, int ndim, const int64_t *shape) {
    if (x < 0 || mmf_tape_status(tp)) return mmf_tape_fail(tp, mmf_tape_status(tp));
    mmf_tvar t = *TV(x);
    int64_t n = 1;
    if (ndim < 1 || ndim > MMF_T_MAXDIM) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "reshape: %d dims", ndim));
    for (int d = 0; d < ndim; d++) n *= shape[d];
    if (n != t.n) {
        char b1[64], b2[64];
        return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "reshape: %s to %s changes the element count",
                                          shp(&t, b1, 64), mmf_shape_str(ndim, shape, b2, 64)));
    }
    /* an alias: a zero-size op with no node; gradients land in the same buffer,
     * so that buffer must hold zeros before anyone adds through the alias */
    mmf_tape_grad_define(TV(x));
    if (mmf_var_pending(TV(x))) mmf_params_apply_pending(TV(x)->ps, TV(x)->pidx);
    mmf_var y = mmf_tape_alloc(tp, 1, (int64_t[]){0}, 0);
    if (y < 0) return -1;
    mmf_tvar *Y = TV(y);
    Y->v = t.v;
    Y->g = t.g;
    Y->ndim = ndim;
    Y->n = n;
    memset(Y->shape, 0, sizeof Y->shape);
    memcpy(Y->shape, shape, (size_t)ndim * sizeof *shape);
    return y;
}

/* ------------------------------------------------------------------ sums */

static void sum_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *x = TV(nd->in[0]), *y = TV(nd->out);
    int64_t outer = nd->i[0], len = nd->i[1], inner = nd->i[2];
    float sc = nd->f[0];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < len; k++)
            for (int64_t c = 0; c < inner; c++) x->g[(o * len + k) * inner + c] += sc * y->g[o * inner + c];
}

static mmf_var reduce(mmf_tape *tp, mmf_var x, int64_t outer, int64_t len, int64_t inner, int ndim,
                      const int64_t *shape, float sc) {
    int ng = TV(x)->g != NULL;
    mmf_var y = mmf_tape_alloc(tp, ndim, shape, ng);
    if (y < 0) return -1;
    const float *xv = TV(x)->v;
    float *yv = TV(y)->v;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < inner; c++) {
            double s = 0.0; /* double: sums over large batches stay exact enough */
            for (int64_t k = 0; k < len; k++) s += xv[(o * len + k) * inner + c];
            yv[o * inner + c] = (float)(s * sc);
        }
    if (ng) {
        mmf_node nd = {.backward = sum_backward, .name = "sum", .out = y, .in = {x}, .n_in = 1,
                       .i = {outer, len, inner}, .f = {sc}};
        mmf_tape_record(tp, &nd);
    }
    return y;
}

mmf_var mmf_t_sum(mmf_tape *tp, mmf_var x, int axis) {
    if (x < 0 || mmf_tape_status(tp)) return mmf_tape_fail(tp, mmf_tape_status(tp));
    mmf_tvar *X = TV(x);
    if (axis < 0) axis += X->ndim;
    if (axis < 0 || axis >= X->ndim) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_ARG, "sum: bad axis %d", axis));
    int64_t outer, inner, shape[MMF_T_MAXDIM] = {1};
    outer_inner(X, axis, &outer, &inner);
    int nd = 0;
    for (int d = 0; d < X->ndim; d++) if (d != axis) shape[nd++] = X->shape[d];
    if (!nd) { nd = 1; shape[0] = 1; }
    return reduce(tp, x, outer, X->shape[axis], inner, nd, shape, 1.0f);
}

mmf_var mmf_t_sum_all(mmf_tape *tp, mmf_var x) {
    if (x < 0 || mmf_tape_status(tp)) return mmf_tape_fail(tp, mmf_tape_status(tp));
    return reduce(tp, x, 1, TV(x)->n, 1, 1, (int64_t[]){1}, 1.0f);
}

mmf_var mmf_t_mean_all(mmf_tape *tp, mmf_var x) {
    if (x < 0 || mmf_tape_status(tp)) return mmf_tape_fail(tp, mmf_tape_status(tp));
    int64_t n = TV(x)->n;
    return reduce(tp, x, 1, n, 1, 1, (int64_t[]){1}, n ? 1.0f / (float)n : 0.0f);
}
