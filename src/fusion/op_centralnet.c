/* CentralNet (Vielzeuf et al. 2018): two-layer unimodal networks plus a central
 * network whose input at each depth is a learned weighted sum of the previous
 * central state and the unimodal hidden layers; the unimodal networks keep their
 * own classifiers, trained jointly (auxiliary loss, classify task). */
#include "fusion/fusion.h"
#include "core/error.h"
#include <stdio.h>

static mmf_status cn_decl(mmf_head *h, int64_t *E) {
    int64_t H = h->cfg.hidden;
    *E = H;
    mmf_status s = MMF_OK;
    for (int m = 0; m < h->cfg.M && !s; m++) {
        char nm[MMF_PARAM_NAME];
        snprintf(nm, sizeof nm, "f.u1.%s", h->cfg.names[m]);
        s = fz_linear_decl(h, nm, h->cfg.dims[m], H, 1);
        snprintf(nm, sizeof nm, "f.u2.%s", h->cfg.names[m]);
        if (!s) s = fz_linear_decl(h, nm, H, H, 1);
        snprintf(nm, sizeof nm, "f.uo.%s", h->cfg.names[m]);
        if (!s && h->cfg.task == MMF_TASK_CLASSIFY) s = fz_linear_decl(h, nm, H, h->cfg.n_out, 1);
    }
    if (!s) s = fz_linear_decl(h, "f.c1", H, H, 1);
    if (!s) s = fz_linear_decl(h, "f.c2", H, H, 1);
    if (!s && fz_param(h, "f.alpha0", 1, (int64_t[]){h->cfg.M}, MMF_INIT_ONE, 0) < 0) s = MMF_ERR_ARG;
    if (!s && fz_param(h, "f.alpha1", 1, (int64_t[]){h->cfg.M + 1}, MMF_INIT_ONE, 0) < 0) s = MMF_ERR_ARG;
    return s;
}

static mmf_var cn_fwd(fz_ctx *c) {
    mmf_tape *tp = c->tp;
    int M = c->h->cfg.M;
    mmf_var a0 = fz_p(c, "f.alpha0"), a1 = fz_p(c, "f.alpha1");
    mmf_var c0 = -1, c1in = -1, aux = -1;
    mmf_var h2s[FZ_MAXM];
    for (int m = 0; m < M; m++) {
        char nm[MMF_PARAM_NAME];
        snprintf(nm, sizeof nm, "f.u1.%s", c->h->cfg.names[m]);
        mmf_var h1 = mmf_t_relu(tp, fz_lin(c, nm, c->x[m]));
        snprintf(nm, sizeof nm, "f.u2.%s", c->h->cfg.names[m]);
        mmf_var h2 = mmf_t_relu(tp, fz_lin(c, nm, h1));
        h2s[m] = h2;
        /* absent modalities contribute nothing to the central sums */
        mmf_var t0 = mmf_t_mul(tp, mmf_t_mul(tp, h1, c->m[m]), mmf_t_slice(tp, a0, 0, m, m + 1));
        mmf_var t1 = mmf_t_mul(tp, mmf_t_mul(tp, h2, c->m[m]), mmf_t_slice(tp, a1, 0, m + 1, m + 2));
        c0 = m ? mmf_t_add(tp, c0, t0) : t0;
        c1in = m ? mmf_t_add(tp, c1in, t1) : t1;
    }
    mmf_var c1 = mmf_t_relu(tp, fz_lin(c, "f.c1", c0));
    c1in = mmf_t_add(tp, c1in, mmf_t_mul(tp, c1, mmf_t_slice(tp, a1, 0, 0, 1)));
    mmf_var z = mmf_t_relu(tp, fz_lin(c, "f.c2", c1in));
    if (c->labels && c->h->cfg.task == MMF_TASK_CLASSIFY) {
        /* unimodal heads: cross-entropy over the rows where the modality is present */
        float *w = mmf_tape_scratch(tp, (size_t)c->B * sizeof(float));
        if (!w) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "centralnet: out of memory"));
        for (int m = 0; m < M; m++) {
            int any = 0;
            for (int64_t b = 0; b < c->B; b++) any |= (w[b] = (float)c->mask[b * M + m]) != 0.0f;
            if (!any) continue;
            char nm[MMF_PARAM_NAME];
            snprintf(nm, sizeof nm, "f.uo.%s", c->h->cfg.names[m]);
            mmf_var l = mmf_t_scale(tp, mmf_t_cross_entropy(tp, fz_lin(c, nm, h2s[m]), c->labels, 0.0f, w), 1.0f / (float)M, 0.0f);
            aux = aux < 0 ? l : mmf_t_add(tp, aux, l);
        }
        c->aux_loss = aux;
    }
    return z;
}

static int64_t cn_flops(const mmf_head *h) {
    int64_t H = h->cfg.hidden;
    return 2 * fz_sum_dims(h) * H + 2 * h->cfg.M * H * H + 4 * H * H + 4 * h->cfg.M * H;
}

const fz_op fz_op_centralnet = {
    "centralnet", "CentralNet: unimodal 2-layer nets + a central net fed learned weighted sums of their layers",
    "params: sum(D_m+1)*H + M*(H+1)*(H+C) + 2H(H+1) + 2M+1; FLOPs: 2*sum(D_m)*H + 2*M*H^2 + 4H^2 (+ unimodal heads when training)",
    "absent modalities drop out of the central weighted sums and of the auxiliary unimodal losses", 2, FZ_MAXM,
    cn_decl, cn_fwd, cn_flops};
