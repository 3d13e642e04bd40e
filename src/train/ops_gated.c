/* Gated sum of modality blocks (the gated multimodal unit's combine step) as
 * one op: y = sum_m keep_m * sigmoid(g_m) * tanh(a_m). Written as separate
 * ops it allocated, zeroed and walked ten intermediate tensors per step
 * (sigmoid, tanh, slices, products, masks, sums); here one pass forward and
 * one backward, with the gates and activations kept for the backward. */
#include "train/tape.h"
#include "core/error.h"
#include "core/vmath.h"
#include <string.h>

#define TV(v) mmf_tape_var(tp, (v))

/* aux: [0] sigmoid(g) [B, M*H], [1] tanh(a_m) as [B, M*H], [2] keep copy [B, M] or NULL */
static void gated_sum_backward(mmf_tape *tp, const mmf_node *nd) {
    const int M = (int)nd->i[0];
    const int64_t B = nd->i[1], H = nd->i[2];
    const float *S = nd->aux[0], *T = nd->aux[1];
    const uint8_t *keep = nd->aux[2];
    mmf_tvar *g = TV(nd->in[0]), *y = TV(nd->out);
    int g_fresh = (nd->lazy_ok & 1u) && mmf_tape_grad_fresh(g);
    for (int m = 0; m < M; m++) {
        mmf_tvar *a = TV(nd->in[1 + m]);
        int a_fresh = a->g && mmf_tape_grad_fresh(a);
        for (int64_t b = 0; b < B; b++) {
            const float k = keep && !keep[b * M + m] ? 0.0f : 1.0f;
            const float *dy = y->g + b * H, *s = S + (b * M + m) * H, *t = T + (b * M + m) * H;
            if (g->g) {
                float *dg = g->g + (b * M + m) * H;
                if (g_fresh) {
#pragma omp simd
                    for (int64_t j = 0; j < H; j++) dg[j] = k * dy[j] * t[j] * s[j] * (1.0f - s[j]);
                } else {
#pragma omp simd
                    for (int64_t j = 0; j < H; j++) dg[j] += k * dy[j] * t[j] * s[j] * (1.0f - s[j]);
                }
            }
            if (a->g) {
                float *da = a->g + b * H;
                if (a_fresh) {
#pragma omp simd
                    for (int64_t j = 0; j < H; j++) da[j] = k * dy[j] * s[j] * (1.0f - t[j] * t[j]);
                } else {
#pragma omp simd
                    for (int64_t j = 0; j < H; j++) da[j] += k * dy[j] * s[j] * (1.0f - t[j] * t[j]);
                }
            }
        }
    }
}

mmf_var mmf_t_gated_sum(mmf_tape *tp, mmf_var g, const mmf_var *a, int M, const uint8_t *keep) {
    if (g < 0 || mmf_tape_status(tp)) return mmf_tape_fail(tp, mmf_tape_status(tp));
    if (M < 1 || M > MMF_NODE_MAXIN - 1)
        return mmf_tape_fail(tp, mmf_fail(MMF_ERR_ARG, "gated_sum: %d blocks (1..%d)", M, MMF_NODE_MAXIN - 1));
    mmf_tvar *tg = TV(g);
    if (tg->ndim != 2 || tg->shape[1] % M)
        return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "gated_sum: gates must be [B, M*H] for M = %d", M));
    const int64_t B = tg->shape[0], H = tg->shape[1] / M;
    mmf_var in[MMF_NODE_MAXIN] = {g};
    for (int m = 0; m < M; m++) {
        mmf_tvar *t = TV(a[m]);
        if (!t) return mmf_tape_fail(tp, mmf_tape_status(tp) ? mmf_tape_status(tp) : mmf_fail(MMF_ERR_ARG, "gated_sum: block %d missing", m));
        if (t->ndim != 2 || t->shape[0] != B || t->shape[1] != H)
            return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "gated_sum: block %d must be [%lld, %lld]", m, (long long)B, (long long)H));
        in[1 + m] = a[m];
    }
    int ng = mmf_tape_needs_grad(tp, in, 1 + M);
    mmf_var y = mmf_tape_alloc(tp, 2, (int64_t[]){B, H}, ng);
    float *S = mmf_tape_scratch(tp, (size_t)(B * M * H) * sizeof(float)), *T = mmf_tape_scratch(tp, (size_t)(B * M * H) * sizeof(float));
    uint8_t *kc = keep ? mmf_tape_scratch(tp, (size_t)(B * M)) : NULL;
    if (y < 0 || !S || !T || (keep && !kc)) return mmf_tape_fail(tp, y < 0 ? mmf_tape_status(tp) : mmf_fail(MMF_ERR_NOMEM, "gated_sum: out of memory"));
    if (keep) memcpy(kc, keep, (size_t)(B * M));
    const float *gv = TV(g)->v;
    float *yv = TV(y)->v;
    for (int64_t b = 0; b < B; b++) {
        float *yr = yv + b * H;
        for (int m = 0; m < M; m++) {
            const float *gr = gv + (b * M + m) * H, *ar = TV(a[m])->v + b * H;
            float *s = S + (b * M + m) * H, *t = T + (b * M + m) * H;
            const float k = kc && !kc[b * M + m] ? 0.0f : 1.0f;
#pragma omp simd
            for (int64_t j = 0; j < H; j++) {
                s[j] = 1.0f / (1.0f + mmf_v_exp(-gr[j]));
                t[j] = mmf_v_tanh(ar[j]);
            }
            if (m == 0) {
#pragma omp simd
                for (int64_t j = 0; j < H; j++) yr[j] = k * s[j] * t[j];
            } else {
#pragma omp simd
                for (int64_t j = 0; j < H; j++) yr[j] += k * s[j] * t[j];
            }
        }
    }
    if (ng) {
        mmf_node nd = {.backward = gated_sum_backward, .name = "gated_sum", .out = y, .n_in = 1 + M,
                       .i = {M, B, H}, .aux = {S, T, kc}, .lazy_ok = (1u << (1 + M)) - 1u};
        memcpy(nd.in, in, sizeof nd.in);
        mmf_tape_record(tp, &nd);
    }
    return y;
}
