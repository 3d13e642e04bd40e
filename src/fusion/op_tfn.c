/* Tensor fusion network (Zadeh et al. 2017): each modality is projected to P
 * dims, a 1 is appended, and the outer product of the [h_m; 1] (2 or 3
 * modalities) keeps every unimodal, bimodal and trimodal term; then
 * z = ReLU(W vec(...) + b). */
#include "fusion/fusion.h"
#include <stdio.h>

static int64_t tfn_size(const mmf_head *h) {
    int64_t n = 1;
    for (int m = 0; m < h->cfg.M; m++) n *= (h->cfg.proj + 1);
    return n;
}

static mmf_status tfn_decl(mmf_head *h, int64_t *E) {
    *E = h->cfg.hidden;
    int64_t w = tfn_size(h) * h->cfg.hidden;
    if (w > h->cfg.budget) return fz_fail_budget(h, "the tensor-fusion layer", w);
    mmf_status s = fz_absent_decl(h);
    if (!s) s = fz_linear_decl_each(h, "f.p", h->cfg.proj, 1);
    return s ? s : fz_linear_decl(h, "f.post", tfn_size(h), h->cfg.hidden, 1);
}

static mmf_var tfn_fwd(fz_ctx *c) {
    mmf_var ones = mmf_t_full(c->tp, 1.0f, 2, (int64_t[]){c->B, 1}), t = -1;
    for (int m = 0; m < c->h->cfg.M; m++) {
        char nm[MMF_PARAM_NAME];
        snprintf(nm, sizeof nm, "f.p.%s", c->h->cfg.names[m]);
        mmf_var hm = mmf_t_relu(c->tp, fz_lin(c, nm, fz_fill(c, m)));
        mmf_var z = mmf_t_concat(c->tp, (mmf_var[]){hm, ones}, 2, 1);
        t = m ? mmf_t_outer(c->tp, t, z) : z;
    }
    return mmf_t_relu(c->tp, fz_lin(c, "f.post", t));
}

static int64_t tfn_flops(const mmf_head *h) {
    return 2 * fz_sum_dims(h) * h->cfg.proj + tfn_size(h) * (1 + 2 * (int64_t)h->cfg.hidden);
}

const fz_op fz_op_tfn = {
    "tfn", "tensor fusion: z = ReLU(W vec([h_1;1] outer [h_2;1] [outer [h_3;1]]) + b), h_m = ReLU(P_m x_m)",
    "params: sum(D_m+1)*P + (P+1)^M*H + H + sum(D_m); FLOPs: 2*sum(D_m)*P + (P+1)^M*(2H+1), P = --proj",
    "learned absent embedding e_m in place of x_m (the appended 1 keeps the other modalities' terms)", 2, 3,
    tfn_decl, tfn_fwd, tfn_flops};
