/* Low-rank bilinear fusion. MLB (Kim et al. 2017): z = prod_m tanh(U_m x_m + b_m).
 * MFB (Yu et al. 2017): z = l2n(ssqrt(sumpool_k(prod_m (U_m x_m + b_m)))) with k factors.
 * LMF (Liu et al. 2018): z = sum_r w_r prod_m (W_m^r [x_m; 1]) + b, linear in M. */
#include "fusion/fusion.h"
#include <stdio.h>

static mmf_status per_mod(mmf_head *h, const char *pre, int64_t out) {
    mmf_status s = fz_absent_decl(h);
    return s ? s : fz_linear_decl_each(h, pre, out, 1);
}
static mmf_var prod(fz_ctx *c, const char *pre, int act_tanh) {
    mmf_var z = -1;
    for (int m = 0; m < c->h->cfg.M; m++) {
        char nm[MMF_PARAM_NAME];
        snprintf(nm, sizeof nm, "%s.%s", pre, c->h->cfg.names[m]);
        mmf_var u = fz_lin(c, nm, fz_fill(c, m));
        if (act_tanh) u = mmf_t_tanh(c->tp, u);
        z = m ? mmf_t_mul(c->tp, z, u) : u;
    }
    return z;
}

static mmf_status mlb_decl(mmf_head *h, int64_t *E) { *E = h->cfg.hidden; return per_mod(h, "f.u", h->cfg.hidden); }
static mmf_var mlb_fwd(fz_ctx *c) { return prod(c, "f.u", 1); }
static int64_t mlb_flops(const mmf_head *h) { return 2 * fz_sum_dims(h) * h->cfg.hidden + h->cfg.M * (int64_t)h->cfg.hidden; }

const fz_op fz_op_mlb = {
    "mlb", "multimodal low-rank bilinear: z = tanh(U_1 x_1 + b_1) * tanh(U_2 x_2 + b_2) * ...",
    "params: sum(D_m+1)*H + sum(D_m); FLOPs: 2*sum(D_m)*H + M*H",
    "learned absent embedding e_m in place of x_m", 2, FZ_MAXM, mlb_decl, mlb_fwd, mlb_flops};

static mmf_status mfb_decl(mmf_head *h, int64_t *E) {
    *E = h->cfg.hidden;
    return per_mod(h, "f.u", (int64_t)h->cfg.hidden * h->cfg.rank);
}
static mmf_var mfb_fwd(fz_ctx *c) {
    int64_t H = c->h->cfg.hidden, k = c->h->cfg.rank;
    mmf_var f = mmf_t_dropout(c->tp, prod(c, "f.u", 0), 0.1f);
    mmf_var s = mmf_t_sum(c->tp, mmf_t_reshape(c->tp, f, 3, (int64_t[]){c->B, H, k}), 2);
    return mmf_t_l2norm(c->tp, mmf_t_signed_sqrt(c->tp, s, 1e-8f), 1e-12f);
}
static int64_t mfb_flops(const mmf_head *h) {
    int64_t kH = (int64_t)h->cfg.hidden * h->cfg.rank;
    return 2 * fz_sum_dims(h) * kH + h->cfg.M * kH + 4 * (int64_t)h->cfg.hidden;
}

const fz_op fz_op_mfb = {
    "mfb", "multimodal factorised bilinear: sum-pool over k factors of prod_m (U_m x_m), signed sqrt, L2 norm",
    "params: sum(D_m+1)*k*H + sum(D_m); FLOPs: 2*sum(D_m)*k*H + M*k*H, k = --rank",
    "learned absent embedding e_m in place of x_m", 2, FZ_MAXM, mfb_decl, mfb_fwd, mfb_flops};

static mmf_status lmf_decl(mmf_head *h, int64_t *E) {
    *E = h->cfg.hidden;
    mmf_status s = per_mod(h, "f.f", (int64_t)h->cfg.hidden * h->cfg.rank);
    if (s) return s;
    if (fz_param(h, "f.wr", 1, (int64_t[]){h->cfg.rank}, MMF_INIT_CONST, 1.0f / (float)h->cfg.rank) < 0) return MMF_ERR_ARG;
    return fz_param(h, "f.bias", 1, (int64_t[]){h->cfg.hidden}, MMF_INIT_ZERO, 0) < 0 ? MMF_ERR_ARG : MMF_OK;
}
static mmf_var lmf_fwd(fz_ctx *c) {
    int64_t H = c->h->cfg.hidden, r = c->h->cfg.rank;
    mmf_var p = mmf_t_reshape(c->tp, prod(c, "f.f", 0), 3, (int64_t[]){c->B, r, H});
    mmf_var w = mmf_t_reshape(c->tp, fz_p(c, "f.wr"), 2, (int64_t[]){r, 1});
    return mmf_t_add(c->tp, mmf_t_sum(c->tp, mmf_t_mul(c->tp, p, w), 1), fz_p(c, "f.bias"));
}
static int64_t lmf_flops(const mmf_head *h) {
    int64_t rH = (int64_t)h->cfg.hidden * h->cfg.rank;
    return 2 * fz_sum_dims(h) * rH + h->cfg.M * rH + 2 * rH;
}

const fz_op fz_op_lmf = {
    "lmf", "low-rank multimodal fusion: z = sum_r w_r prod_m (W_m^r [x_m; 1]) + b",
    "params: sum(D_m+1)*r*H + r + H + sum(D_m); FLOPs: 2*sum(D_m)*r*H + M*r*H, r = --rank",
    "learned absent embedding e_m in place of x_m", 2, FZ_MAXM, lmf_decl, lmf_fwd, lmf_flops};
