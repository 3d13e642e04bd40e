/* Attention + GRU: modality tokens p_m = tanh(W_m x_m + b_m) read in order by a
 * GRU (an absent modality leaves the state unchanged); attention over the GRU
 * states of the present modalities gives z = sum_m a_m o_m. */
#include "fusion/fusion.h"
#include <stdio.h>

static mmf_status ag_decl(mmf_head *h, int64_t *E) {
    int64_t H = h->cfg.hidden;
    *E = H;
    mmf_status s = fz_linear_decl_each(h, "f.tok", H, 1);
    if (!s) s = fz_linear_decl(h, "f.gru.ih", H, 3 * H, 1);
    if (!s) s = fz_linear_decl(h, "f.gru.hh", H, 3 * H, 1);
    if (!s) s = fz_linear_decl(h, "f.att", H, H, 1);
    if (!s) s = fz_linear_decl(h, "f.att.v", H, 1, 0);
    return s;
}

static mmf_var ag_fwd(fz_ctx *c) {
    int M = c->h->cfg.M;
    int64_t B = c->B, H = c->h->cfg.hidden;
    mmf_tape *tp = c->tp;
    mmf_var h = mmf_t_full(tp, 0.0f, 2, (int64_t[]){B, H});
    mmf_var Wih = fz_p(c, "f.gru.ih.w"), Whh = fz_p(c, "f.gru.hh.w"), bih = fz_p(c, "f.gru.ih.b"), bhh = fz_p(c, "f.gru.hh.b");
    mmf_var o[FZ_MAXM];
    for (int m = 0; m < M; m++) {
        char nm[MMF_PARAM_NAME];
        snprintf(nm, sizeof nm, "f.tok.%s", c->h->cfg.names[m]);
        mmf_var p = mmf_t_tanh(tp, fz_lin(c, nm, c->x[m]));
        mmf_var hn = mmf_t_gru_cell(tp, p, h, Wih, Whh, bih, bhh);
        h = mmf_t_add(tp, h, mmf_t_mul(tp, c->m[m], mmf_t_sub(tp, hn, h)));
        o[m] = mmf_t_reshape(tp, h, 3, (int64_t[]){B, 1, H});
    }
    mmf_var O = mmf_t_concat(tp, o, M, 1);
    mmf_var s = fz_lin(c, "f.att.v", mmf_t_tanh(tp, fz_lin(c, "f.att", O)));
    mmf_var a = mmf_t_softmax(tp, mmf_t_reshape(tp, s, 2, (int64_t[]){B, M}), c->mask);
    return mmf_t_sum(tp, mmf_t_mul(tp, O, mmf_t_reshape(tp, a, 3, (int64_t[]){B, M, 1})), 1);
}

static int64_t ag_flops(const mmf_head *h) {
    int64_t H = h->cfg.hidden, M = h->cfg.M;
    return 2 * fz_sum_dims(h) * H + M * (12 * H * H + 2 * H * H + 4 * H);
}

const fz_op fz_op_attngru = {
    "attention_gru", "GRU over modality tokens, attention over its states: z = sum_m a_m o_m",
    "params: sum(D_m+1)*H + 6H^2+6H + H^2+2H; FLOPs: 2*sum(D_m)*H + M*(14H^2 + 4H)",
    "an absent modality leaves the GRU state unchanged and gets no attention", 2, FZ_MAXM,
    ag_decl, ag_fwd, ag_flops};
