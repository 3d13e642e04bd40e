/* Sums over projected modalities: learned weighted sum, attention-weighted sum,
 * and late fusion (mean of per-modality logits). All three mask absent
 * modalities out and renormalise over the present ones. */
#include "fusion/fusion.h"
#include "core/error.h"
#include <stdio.h>
#include <string.h>

/* [B, M, H] from M vars [B, H] */
static mmf_var stack(fz_ctx *c, const mmf_var *p) {
    int M = c->h->cfg.M;
    int64_t H = c->h->cfg.hidden;
    mmf_var r[FZ_MAXM];
    for (int m = 0; m < M; m++) r[m] = mmf_t_reshape(c->tp, p[m], 3, (int64_t[]){c->B, 1, H});
    return mmf_t_concat(c->tp, r, M, 1);
}

/* z = sum_m alpha[b,m] P[b,m,:] with alpha [B, M] */
static mmf_var weighted(fz_ctx *c, mmf_var P, mmf_var alpha) {
    mmf_var a3 = mmf_t_reshape(c->tp, alpha, 3, (int64_t[]){c->B, c->h->cfg.M, 1});
    return mmf_t_sum(c->tp, mmf_t_mul(c->tp, P, a3), 1);
}

static mmf_status proj_decl(mmf_head *h) { return fz_linear_decl_each(h, "f.proj", h->cfg.hidden, 1); }
static int64_t proj_flops(const mmf_head *h) { return 2 * fz_sum_dims(h) * h->cfg.hidden; }
static void projections(fz_ctx *c, mmf_var *p, int act_tanh) {
    for (int m = 0; m < c->h->cfg.M; m++) {
        char nm[MMF_PARAM_NAME];
        snprintf(nm, sizeof nm, "f.proj.%s", c->h->cfg.names[m]);
        p[m] = fz_lin(c, nm, c->x[m]);
        if (act_tanh) p[m] = mmf_t_tanh(c->tp, p[m]);
    }
}

/* ---- weighted sum: z = sum_m softmax_present(w)_m (W_m x_m + b_m) */
static mmf_status wsum_decl(mmf_head *h, int64_t *E) {
    *E = h->cfg.hidden;
    mmf_status s = proj_decl(h);
    if (s) return s;
    return fz_param(h, "f.weight", 1, (int64_t[]){h->cfg.M}, MMF_INIT_ZERO, 0) < 0 ? MMF_ERR_ARG : MMF_OK;
}
static mmf_var wsum_fwd(fz_ctx *c) {
    mmf_var p[FZ_MAXM];
    projections(c, p, 0);
    mmf_var zeros = mmf_t_full(c->tp, 0.0f, 2, (int64_t[]){c->B, c->h->cfg.M});
    mmf_var alpha = mmf_t_softmax(c->tp, mmf_t_add(c->tp, zeros, fz_p(c, "f.weight")), c->mask);
    return weighted(c, stack(c, p), alpha);
}
static int64_t wsum_flops(const mmf_head *h) { return proj_flops(h) + 2 * h->cfg.M * h->cfg.hidden; }

const fz_op fz_op_wsum = {
    "weighted_sum", "learned scalar weights over projected modalities: z = sum_m softmax(w)_m (W_m x_m + b_m)",
    "params: sum(D_m+1)*H + M; FLOPs: 2*sum(D_m)*H + 2*M*H",
    "weights renormalised (softmax) over the present modalities; none present: z = 0", 2, FZ_MAXM,
    wsum_decl, wsum_fwd, wsum_flops};

/* ---- attention-weighted sum: p_m = tanh(W_m x_m + b_m), a = softmax_present(v . p_m), z = sum a_m p_m */
static mmf_status attnsum_decl(mmf_head *h, int64_t *E) {
    *E = h->cfg.hidden;
    mmf_status s = proj_decl(h);
    return s ? s : fz_linear_decl(h, "f.score", h->cfg.hidden, 1, 0);
}
static mmf_var attnsum_fwd(fz_ctx *c) {
    mmf_var p[FZ_MAXM];
    projections(c, p, 1);
    mmf_var P = stack(c, p);
    mmf_var s = mmf_t_reshape(c->tp, fz_lin(c, "f.score", P), 2, (int64_t[]){c->B, c->h->cfg.M});
    return weighted(c, P, mmf_t_softmax(c->tp, s, c->mask));
}
static int64_t attnsum_flops(const mmf_head *h) { return proj_flops(h) + 4 * h->cfg.M * h->cfg.hidden; }

const fz_op fz_op_attnsum = {
    "attention_sum", "attention-weighted sum: p_m = tanh(W_m x_m + b_m), a = softmax_m(v.p_m), z = sum a_m p_m",
    "params: sum(D_m+1)*H + H; FLOPs: 2*sum(D_m)*H + 4*M*H",
    "absent modalities get no attention (masked softmax over the present ones); none present: z = 0", 2, FZ_MAXM,
    attnsum_decl, attnsum_fwd, attnsum_flops};

/* ---- late fusion: per-modality MLP heads, logits averaged over present modalities */
static mmf_status late_decl(mmf_head *h, int64_t *E) {
    *E = h->cfg.hidden;
    h->own_logits = 1;
    for (int m = 0; m < h->cfg.M; m++) {
        char nm[MMF_PARAM_NAME];
        snprintf(nm, sizeof nm, "f.h.%s", h->cfg.names[m]);
        mmf_status s = fz_linear_decl(h, nm, h->cfg.dims[m], h->cfg.hidden, 1);
        if (s) return s;
        snprintf(nm, sizeof nm, "f.out.%s", h->cfg.names[m]);
        if ((s = fz_linear_decl(h, nm, h->cfg.hidden, h->cfg.n_out, 1))) return s;
    }
    return MMF_OK;
}
static mmf_var late_fwd(fz_ctx *c) {
    int M = c->h->cfg.M;
    int64_t B = c->B;
    /* w[b,m] = mask / (number present), 0 when nothing is present */
    float *w = mmf_tape_scratch(c->tp, (size_t)(B * M) * sizeof(float));
    if (!w) return mmf_tape_fail(c->tp, mmf_fail(MMF_ERR_NOMEM, "late fusion: out of memory"));
    for (int64_t b = 0; b < B; b++) {
        int n = 0;
        for (int m = 0; m < M; m++) n += c->mask[b * M + m];
        for (int m = 0; m < M; m++) w[b * M + m] = n ? (float)c->mask[b * M + m] / (float)n : 0.0f;
    }
    mmf_var W = mmf_t_const(c->tp, w, 2, (int64_t[]){B, M});
    mmf_var z = -1, lg = -1;
    for (int m = 0; m < M; m++) {
        char nm[MMF_PARAM_NAME];
        snprintf(nm, sizeof nm, "f.h.%s", c->h->cfg.names[m]);
        mmf_var hm = mmf_t_relu(c->tp, fz_lin(c, nm, c->x[m]));
        snprintf(nm, sizeof nm, "f.out.%s", c->h->cfg.names[m]);
        mmf_var lm = fz_lin(c, nm, hm);
        mmf_var wm = mmf_t_slice(c->tp, W, 1, m, m + 1);
        mmf_var zh = mmf_t_mul(c->tp, hm, wm), zl = mmf_t_mul(c->tp, lm, wm);
        z = m ? mmf_t_add(c->tp, z, zh) : zh;
        lg = m ? mmf_t_add(c->tp, lg, zl) : zl;
    }
    c->logits = lg;
    return z;
}
static int64_t late_flops(const mmf_head *h) { return proj_flops(h) + 2 * (int64_t)h->cfg.M * h->cfg.hidden * h->cfg.n_out; }

const fz_op fz_op_late = {
    "late", "late fusion: a small MLP head per modality, logits averaged over present modalities",
    "params: sum(D_m+1)*H + M*(H+1)*C; FLOPs: 2*sum(D_m)*H + 2*M*H*C",
    "mean over the present modalities' logits (embedding: mean of their hidden layers); none present: 0", 2, FZ_MAXM,
    late_decl, late_fwd, late_flops};
