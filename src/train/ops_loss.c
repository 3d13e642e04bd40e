/* Losses (scalar [1] outputs) and the recurrent cells, which are composites of
 * the primitive ops and so need no backward of their own. */
#include "train/tape.h"
#include "core/error.h"
#include <math.h>
#include <string.h>

#define TV(v) mmf_tape_var(tp, (v))

/* ---------------------------------------------------------- cross-entropy */

/* i = {B, C}; f[0] = smoothing, f[1] = 1/weight sum; aux[0] = probs, aux[1] = labels, aux[2] = weights */
static void ce_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *x = TV(nd->in[0]), *L = TV(nd->out);
    int64_t B = nd->i[0], C = nd->i[1];
    float eps = nd->f[0], inv = nd->f[1], g = L->g[0];
    const float *P = nd->aux[0], *w = nd->aux[2];
    const int64_t *y = nd->aux[1];
    for (int64_t r = 0; r < B; r++) {
        float wr = (w ? w[r] : 1.0f) * inv * g;
        if (wr == 0.0f) continue;
        for (int64_t c = 0; c < C; c++) {
            float t = eps / (float)C + (c == y[r] ? 1.0f - eps : 0.0f);
            x->g[r * C + c] += wr * (P[r * C + c] - t);
        }
    }
}

mmf_var mmf_t_cross_entropy(mmf_tape *tp, mmf_var logits, const int64_t *labels, float smoothing, const float *weight) {
    if (logits < 0 || mmf_tape_status(tp)) return mmf_tape_fail(tp, mmf_tape_status(tp));
    mmf_tvar *X = TV(logits);
    if (X->ndim != 2) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "cross_entropy: logits must be [B, C]"));
    int64_t B = X->shape[0], C = X->shape[1];
    if (!(smoothing >= 0.0f && smoothing < 1.0f)) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_ARG, "cross_entropy: label smoothing %g outside [0, 1)", smoothing));
    for (int64_t r = 0; r < B; r++)
        if (labels[r] < 0 || labels[r] >= C)
            return mmf_tape_fail(tp, mmf_fail(MMF_ERR_ARG, "cross_entropy: label %lld of row %lld outside [0, %lld)",
                                              (long long)labels[r], (long long)r, (long long)C));
    int ng = X->g != NULL;
    mmf_var L = mmf_tape_alloc(tp, 1, (int64_t[]){1}, ng);
    float *P = mmf_tape_scratch(tp, (size_t)(B * C) * sizeof(float) + 4);
    int64_t *lab = mmf_tape_scratch(tp, (size_t)B * sizeof(int64_t) + 8);
    float *w = weight ? mmf_tape_scratch(tp, (size_t)B * sizeof(float) + 4) : NULL;
    if (L < 0 || !P || !lab || (weight && !w)) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "cross_entropy: out of memory"));
    memcpy(lab, labels, (size_t)B * sizeof(int64_t));
    if (w) memcpy(w, weight, (size_t)B * sizeof(float));
    X = TV(logits);
    double total = 0.0, wsum = 0.0;
    for (int64_t r = 0; r < B; r++) {
        float wr = w ? w[r] : 1.0f;
        wsum += wr;
        const float *xr = X->v + r * C;
        float mx = xr[0];
        for (int64_t c = 1; c < C; c++) if (xr[c] > mx) mx = xr[c];
        double s = 0.0;
        for (int64_t c = 0; c < C; c++) { P[r * C + c] = expf(xr[c] - mx); s += P[r * C + c]; }
        double lse = mx + log(s);
        double lr = 0.0;
        for (int64_t c = 0; c < C; c++) {
            P[r * C + c] = (float)(P[r * C + c] / s);
            double t = smoothing / (double)C + (c == lab[r] ? 1.0 - smoothing : 0.0);
            lr += t * (lse - xr[c]);
        }
        if (wr != 0.0f) total += wr * lr;
    }
    float inv = wsum > 0.0 ? (float)(1.0 / wsum) : 0.0f;
    TV(L)->v[0] = (float)(total * inv);
    if (ng) {
        mmf_node nd = {.backward = ce_backward, .name = "cross_entropy", .out = L, .in = {logits}, .n_in = 1,
                       .i = {B, C}, .f = {smoothing, inv}, .aux = {P, lab, w}};
        mmf_tape_record(tp, &nd);
    }
    return L;
}

/* ------------------------------------------------------------ BCE, MSE */

/* i[0] = kind (0 bce, 1 mse); aux[0] = target copy */
static void pointwise_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *x = TV(nd->in[0]), *L = TV(nd->out);
    const float *t = nd->aux[0];
    float g = L->g[0] / (float)x->n;
    for (int64_t i = 0; i < x->n; i++) {
        float d = nd->i[0] == 0 ? 1.0f / (1.0f + expf(-x->v[i])) - t[i] : 2.0f * (x->v[i] - t[i]);
        x->g[i] += g * d;
    }
}

static mmf_var pointwise(mmf_tape *tp, mmf_var x, const float *target, int kind) {
    if (x < 0 || mmf_tape_status(tp)) return mmf_tape_fail(tp, mmf_tape_status(tp));
    int64_t n = TV(x)->n;
    int ng = TV(x)->g != NULL;
    mmf_var L = mmf_tape_alloc(tp, 1, (int64_t[]){1}, ng);
    float *t = mmf_tape_scratch(tp, (size_t)n * sizeof(float) + 4);
    if (L < 0 || !t) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "loss: out of memory"));
    memcpy(t, target, (size_t)n * sizeof(float));
    const float *xv = TV(x)->v;
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        if (kind == 0) {
            if (!(t[i] >= 0.0f && t[i] <= 1.0f))
                return mmf_tape_fail(tp, mmf_fail(MMF_ERR_ARG, "bce: target %g at %lld outside [0, 1]", t[i], (long long)i));
            float v = xv[i];
            s += (v > 0 ? v : 0) - v * t[i] + log1pf(expf(-fabsf(v)));
        } else {
            double d = xv[i] - t[i];
            s += d * d;
        }
    }
    TV(L)->v[0] = n ? (float)(s / (double)n) : 0.0f;
    if (ng) {
        mmf_node nd = {.backward = pointwise_backward, .name = kind ? "mse" : "bce", .out = L, .in = {x}, .n_in = 1,
                       .i = {kind}, .aux = {t}};
        mmf_tape_record(tp, &nd);
    }
    return L;
}

mmf_var mmf_t_bce_logits(mmf_tape *tp, mmf_var logits, const float *targets) { return pointwise(tp, logits, targets, 0); }
mmf_var mmf_t_mse(mmf_tape *tp, mmf_var pred, const float *target) { return pointwise(tp, pred, target, 1); }

/* --------------------------------------------------------------- InfoNCE */

/* Data parallel: this rank's rows a, b [B_r, E] against the whole batch's
 * (mmf_t_gather_rows), the cross-entropies' means over its own rows; the fit
 * loop's share-weighted sum over the ranks is the whole batch's loss. Every
 * rank makes the same collectives whatever failed before. */
static mmf_var infonce_dp(mmf_tape *tp, mmf_var a, mmf_var b, mmf_var logit_scale) {
    mmf_var an = mmf_t_l2norm(tp, a, 1e-12f), bn = mmf_t_l2norm(tp, b, 1e-12f);
    int64_t lo = 0, lo2 = 0;
    mmf_var ga = mmf_t_gather_rows(tp, an, &lo), gb = mmf_t_gather_rows(tp, bn, &lo2);
    if (mmf_tape_status(tp)) return -1;
    int64_t Br = TV(a)->shape[0];
    int64_t *diag = mmf_tape_scratch(tp, (size_t)Br * sizeof(int64_t) + 8);
    if (!diag) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "infonce: out of memory"));
    for (int64_t i = 0; i < Br; i++) diag[i] = lo + i;
    mmf_var s = mmf_t_exp(tp, logit_scale);
    mmf_var ab = mmf_t_mul(tp, mmf_t_matmul(tp, an, gb, 0, 1), s);   /* [B_r, B] */
    mmf_var ba = mmf_t_mul(tp, mmf_t_matmul(tp, bn, ga, 0, 1), s);
    mmf_var l = mmf_t_add(tp, mmf_t_cross_entropy(tp, ab, diag, 0.0f, NULL), mmf_t_cross_entropy(tp, ba, diag, 0.0f, NULL));
    return mmf_t_scale(tp, l, 0.5f, 0.0f);
}

mmf_var mmf_t_infonce(mmf_tape *tp, mmf_var a, mmf_var b, mmf_var logit_scale) {
    if (mmf_tape_training(tp) && mmf_tape_comm(tp)) return infonce_dp(tp, a, b, logit_scale);
    if (a < 0 || b < 0 || logit_scale < 0 || mmf_tape_status(tp)) return mmf_tape_fail(tp, mmf_tape_status(tp));
    int64_t B = TV(a)->shape[0];
    int64_t *diag = mmf_tape_scratch(tp, (size_t)B * sizeof(int64_t) + 8);
    if (!diag) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "infonce: out of memory"));
    for (int64_t i = 0; i < B; i++) diag[i] = i;
    mmf_var an = mmf_t_l2norm(tp, a, 1e-12f), bn = mmf_t_l2norm(tp, b, 1e-12f);
    mmf_var s = mmf_t_exp(tp, logit_scale);
    mmf_var ab = mmf_t_mul(tp, mmf_t_matmul(tp, an, bn, 0, 1), s);
    mmf_var ba = mmf_t_mul(tp, mmf_t_matmul(tp, bn, an, 0, 1), s);
    mmf_var l = mmf_t_add(tp, mmf_t_cross_entropy(tp, ab, diag, 0.0f, NULL), mmf_t_cross_entropy(tp, ba, diag, 0.0f, NULL));
    return mmf_t_scale(tp, l, 0.5f, 0.0f);
}

/* ------------------------------------------------------------ recurrent cells */

mmf_var mmf_t_gru_cell(mmf_tape *tp, mmf_var x, mmf_var h, mmf_var Wih, mmf_var Whh, mmf_var bih, mmf_var bhh) {
    if (h < 0 || mmf_tape_status(tp)) return mmf_tape_fail(tp, mmf_tape_status(tp));
    int64_t Hd = TV(h)->shape[1];
    mmf_var gi = mmf_t_linear(tp, x, Wih, bih), gh = mmf_t_linear(tp, h, Whh, bhh);
    mmf_var r = mmf_t_sigmoid(tp, mmf_t_add(tp, mmf_t_slice(tp, gi, 1, 0, Hd), mmf_t_slice(tp, gh, 1, 0, Hd)));
    mmf_var z = mmf_t_sigmoid(tp, mmf_t_add(tp, mmf_t_slice(tp, gi, 1, Hd, 2 * Hd), mmf_t_slice(tp, gh, 1, Hd, 2 * Hd)));
    mmf_var n = mmf_t_tanh(tp, mmf_t_add(tp, mmf_t_slice(tp, gi, 1, 2 * Hd, 3 * Hd),
                                         mmf_t_mul(tp, r, mmf_t_slice(tp, gh, 1, 2 * Hd, 3 * Hd))));
    /* h' = (1 - z) n + z h = n + z (h - n) */
    return mmf_t_add(tp, n, mmf_t_mul(tp, z, mmf_t_sub(tp, h, n)));
}

void mmf_t_lstm_cell(mmf_tape *tp, mmf_var x, mmf_var h, mmf_var c, mmf_var Wih, mmf_var Whh,
                     mmf_var bih, mmf_var bhh, mmf_var *h_out, mmf_var *c_out) {
    *h_out = *c_out = -1;
    if (h < 0 || c < 0 || mmf_tape_status(tp)) { mmf_tape_fail(tp, mmf_tape_status(tp)); return; }
    int64_t Hd = TV(h)->shape[1];
    mmf_var g = mmf_t_add(tp, mmf_t_linear(tp, x, Wih, bih), mmf_t_linear(tp, h, Whh, bhh));
    mmf_var i = mmf_t_sigmoid(tp, mmf_t_slice(tp, g, 1, 0, Hd));
    mmf_var f = mmf_t_sigmoid(tp, mmf_t_slice(tp, g, 1, Hd, 2 * Hd));
    mmf_var gg = mmf_t_tanh(tp, mmf_t_slice(tp, g, 1, 2 * Hd, 3 * Hd));
    mmf_var o = mmf_t_sigmoid(tp, mmf_t_slice(tp, g, 1, 3 * Hd, 4 * Hd));
    *c_out = mmf_t_add(tp, mmf_t_mul(tp, f, c), mmf_t_mul(tp, i, gg));
    *h_out = mmf_t_mul(tp, o, mmf_t_tanh(tp, *c_out));
}
