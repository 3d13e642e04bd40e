/* Bimodal deep autoencoder (Ngiam et al. 2011) as a fusion operator.
 *
 *   z_m  = (x_m - mean_m) / std_m               standardised input (constants
 *                                               "f.norm.<m>.mean/std", set from
 *                                               the training data by train-direct)
 *   h_m  = relu(W_enc,m z_m + b) * present_m     modality-specific layer
 *   code = tanh(W_code [h_1 .. h_M] + b)         shared layer = the embedding (H)
 *   r_m  = W_rec,m relu(W_dec,m code + b) + b    decoders back to every modality
 *
 * Trained unsupervised by `mmfuse train-direct --model bimodal-ae`
 * (src/direct/bimodal_ae.c): inputs with all but one modality zeroed for part
 * of the samples, loss = reconstruction of every modality the sample has, so
 * the code can be inferred from either modality alone; a linear classifier on
 * the code is then fitted as the head's output layer. Under `mmfuse train`
 * (supervised) the reconstruction loss joins the task loss as the auxiliary
 * term. */
#include "fusion/fusion.h"
#include "fusion/bimodal_ae.h"
#include "core/error.h"
#include <stdio.h>
#include <string.h>

static mmf_status ae_decl(mmf_head *h, int64_t *E) {
    int H = h->cfg.hidden;
    *E = H;
    mmf_status s = MMF_OK;
    for (int m = 0; m < h->cfg.M && !s; m++) {
        char nm[MMF_PARAM_NAME];
        int64_t D = h->cfg.dims[m];
        snprintf(nm, sizeof nm, "f.norm.%s.mean", h->cfg.names[m]);
        if (fz_param(h, nm, 1, (int64_t[]){D}, MMF_INIT_ZERO, 0) < 0) return MMF_ERR_ARG;
        snprintf(nm, sizeof nm, "f.norm.%s.std", h->cfg.names[m]);
        if (fz_param(h, nm, 1, (int64_t[]){D}, MMF_INIT_ONE, 0) < 0) return MMF_ERR_ARG;
        snprintf(nm, sizeof nm, "f.enc.%s", h->cfg.names[m]);
        s = fz_linear_decl(h, nm, D, H, 1);
    }
    if (!s) s = fz_linear_decl(h, "f.code", (int64_t)h->cfg.M * H, H, 1);
    for (int m = 0; m < h->cfg.M && !s; m++) {
        char nm[MMF_PARAM_NAME];
        snprintf(nm, sizeof nm, "f.dec.%s", h->cfg.names[m]);
        s = fz_linear_decl(h, nm, H, H, 1);
        snprintf(nm, sizeof nm, "f.rec.%s", h->cfg.names[m]);
        if (!s) s = fz_linear_decl(h, nm, H, h->cfg.dims[m], 1);
    }
    return s;
}

/* a parameter's values as a constant (no gradient: the statistics are fixed) */
static mmf_var pconst(fz_ctx *c, const char *name) {
    int i = mmf_params_find(&c->h->ps, name);
    if (i < 0) return mmf_tape_fail(c->tp, mmf_fail(MMF_ERR_NOT_FOUND, "bimodal-ae: no parameter \"%s\"", name));
    const mmf_param_info *p = &c->h->ps.p[i];
    return mmf_t_const(c->tp, c->h->ps.data + p->offset, 1, p->shape);
}

mmf_var fz_bimodal_ae_input(fz_ctx *c, int m) {
    char mn[MMF_PARAM_NAME], sd[MMF_PARAM_NAME];
    snprintf(mn, sizeof mn, "f.norm.%s.mean", c->h->cfg.names[m]);
    snprintf(sd, sizeof sd, "f.norm.%s.std", c->h->cfg.names[m]);
    /* (x - mean) / std, zero where absent */
    mmf_var z = mmf_t_sub(c->tp, c->x[m], pconst(c, mn));
    mmf_var inv = pconst(c, sd);
    mmf_tvar *S = mmf_tape_var(c->tp, inv);
    if (!S) return -1;
    for (int64_t j = 0; j < S->n; j++) S->v[j] = 1.0f / (S->v[j] > 1e-6f ? S->v[j] : 1e-6f);   /* the tape's copy */
    return mmf_t_mul(c->tp, mmf_t_mul(c->tp, z, inv), c->m[m]);
}

mmf_var fz_bimodal_ae_code(fz_ctx *c, mmf_var *z) {
    int M = c->h->cfg.M;
    mmf_var hs[FZ_MAXM];
    for (int m = 0; m < M; m++) {
        char nm[MMF_PARAM_NAME];
        z[m] = fz_bimodal_ae_input(c, m);
        snprintf(nm, sizeof nm, "f.enc.%s", c->h->cfg.names[m]);
        hs[m] = mmf_t_mul(c->tp, mmf_t_relu(c->tp, fz_lin(c, nm, z[m])), c->m[m]);
    }
    return mmf_t_tanh(c->tp, fz_lin(c, "f.code", mmf_t_concat(c->tp, hs, M, 1)));
}

mmf_var fz_bimodal_ae_recon(fz_ctx *c, mmf_var code, const mmf_var *target, const uint8_t *tmask) {
    return fz_bimodal_ae_recon_scaled(c, code, target, tmask, NULL);
}

mmf_var fz_bimodal_ae_recon_scaled(fz_ctx *c, mmf_var code, const mmf_var *target, const uint8_t *tmask, const double *denom) {
    int M = c->h->cfg.M;
    int64_t B = c->B;
    mmf_var loss = -1;
    for (int m = 0; m < M; m++) {
        int64_t n = 0;
        for (int64_t b = 0; b < B; b++) n += tmask[b * M + m] != 0;
        if (!n) continue;
        float *w = mmf_tape_scratch(c->tp, (size_t)B * sizeof(float) + 64);
        if (!w) return mmf_tape_fail(c->tp, mmf_fail(MMF_ERR_NOMEM, "bimodal-ae: out of memory"));
        for (int64_t b = 0; b < B; b++) w[b] = tmask[b * M + m] ? 1.0f : 0.0f;
        mmf_var wm = mmf_t_const(c->tp, w, 2, (int64_t[]){B, 1});
        char nd[MMF_PARAM_NAME], nr[MMF_PARAM_NAME];
        snprintf(nd, sizeof nd, "f.dec.%s", c->h->cfg.names[m]);
        snprintf(nr, sizeof nr, "f.rec.%s", c->h->cfg.names[m]);
        mmf_var r = fz_lin(c, nr, mmf_t_relu(c->tp, fz_lin(c, nd, code)));
        /* mean squared error over the rows that have modality m */
        mmf_var d = mmf_t_mul(c->tp, mmf_t_sub(c->tp, r, target[m]), wm);
        mmf_var l = mmf_t_scale(c->tp, mmf_t_sum_all(c->tp, mmf_t_mul(c->tp, d, d)),
                                denom ? (float)(1.0 / denom[m]) : 1.0f / (float)(n * c->h->cfg.dims[m]), 0.0f);
        loss = loss < 0 ? l : mmf_t_add(c->tp, loss, l);
    }
    return loss;
}

static mmf_var ae_fwd(fz_ctx *c) {
    mmf_var z[FZ_MAXM];
    mmf_var code = fz_bimodal_ae_code(c, z);
    if (mmf_tape_training(c->tp)) c->aux_loss = fz_bimodal_ae_recon(c, code, z, c->mask);
    return code;
}

static int64_t ae_flops(const mmf_head *h) {
    int64_t H = h->cfg.hidden;
    return 2 * fz_sum_dims(h) * H + 2 * (int64_t)h->cfg.M * H * H;
}

const fz_op fz_op_bimodal_ae = {
    "bimodal-ae",
    "bimodal deep autoencoder (Ngiam et al. 2011): per-modality ReLU layers -> shared tanh code; decoders reconstruct every modality",
    "params: sum(D_m*H) + M*H^2 (code) + M*(H^2 + H*D_m) (decoders); FLOPs: 2*sum(D_m)*H + 2*M*H^2 (encoder path)",
    "absent modalities are zeroed before the shared layer (the training zeroes them on purpose, so the code is inferred from what is there)",
    2, FZ_MAXM, ae_decl, ae_fwd, ae_flops};
