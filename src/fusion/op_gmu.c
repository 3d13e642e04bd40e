/* Gated multimodal unit (Arevalo et al. 2017), M-modality form:
 * h_m = tanh(W_m x_m), z_m = sigmoid(G_m [x_1; ...; x_M]), h = sum_m present_m z_m h_m. */
#include "fusion/fusion.h"
#include <stdio.h>

static mmf_status gmu_decl(mmf_head *h, int64_t *E) {
    *E = h->cfg.hidden;
    mmf_status s = fz_absent_decl(h);
    if (!s) s = fz_linear_decl_each(h, "f.h", h->cfg.hidden, 0);
    /* all M gates in one [M*H, sum D] matrix: one GEMM instead of M over the same input */
    return s ? s : fz_linear_decl(h, "f.z", fz_sum_dims(h), (int64_t)h->cfg.M * h->cfg.hidden, 0);
}

static mmf_var gmu_fwd(fz_ctx *c) {
    int64_t H = c->h->cfg.hidden;
    const int M = c->h->cfg.M;
    if (M <= MMF_NODE_MAXIN - 1) {   /* the combine as one op (train/ops_gated.c) */
        mmf_var hm[MMF_NODE_MAXIN];
        for (int m = 0; m < M; m++) {
            char nm[MMF_PARAM_NAME];
            snprintf(nm, sizeof nm, "f.h.%s", c->h->cfg.names[m]);
            hm[m] = fz_lin(c, nm, c->x[m]);
        }
        int all = 1;
        for (int64_t i = 0; i < c->B * M && all; i++) all = c->mask[i] != 0;
        return mmf_t_gated_sum(c->tp, fz_lin(c, "f.z", fz_concat_filled(c)), hm, M, all ? NULL : c->mask);
    }
    mmf_var gates = mmf_t_sigmoid(c->tp, fz_lin(c, "f.z", fz_concat_filled(c))), out = -1;
    for (int m = 0; m < c->h->cfg.M; m++) {
        char nm[MMF_PARAM_NAME];
        snprintf(nm, sizeof nm, "f.h.%s", c->h->cfg.names[m]);
        mmf_var hm = mmf_t_tanh(c->tp, fz_lin(c, nm, c->x[m]));
        mmf_var zm = mmf_t_slice(c->tp, gates, 1, m * H, (m + 1) * H);
        mmf_var t = mmf_t_mul(c->tp, zm, hm);
        int all = 1;
        for (int64_t b = 0; b < c->B && all; b++) all = c->mask[b * c->h->cfg.M + m] != 0;
        if (!all) t = mmf_t_mul(c->tp, t, c->m[m]);   /* drop absent rows' h_m */
        out = m ? mmf_t_add(c->tp, out, t) : t;
    }
    return out;
}

static int64_t gmu_flops(const mmf_head *h) {
    return 2 * fz_sum_dims(h) * h->cfg.hidden * (1 + h->cfg.M);
}

const fz_op fz_op_gmu = {
    "gmu", "gated multimodal unit: h_m = tanh(W_m x_m), z_m = sigmoid(G_m [x]), z = sum_m z_m * h_m",
    "params: sum(D_m)*H*(1+M) + sum(D_m); FLOPs: 2*sum(D_m)*H*(1+M)",
    "absent h_m is dropped from the sum; the gates see the learned absent embedding", 2, FZ_MAXM,
    gmu_decl, gmu_fwd, gmu_flops};
