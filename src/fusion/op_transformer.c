/* Transformer fusion: one token per modality (W_m x_m + b_m, the bias acting as a
 * modality-type embedding) plus a learned CLS token; pre-LN encoder layers with
 * masked self-attention (absent modalities are never attended to); the fused
 * embedding is the final layer-normed CLS state. */
#include "fusion/fusion.h"
#include "core/error.h"
#include <stdio.h>

static mmf_status ln_decl(mmf_head *h, const char *name) {
    char nm[MMF_PARAM_NAME];
    snprintf(nm, sizeof nm, "%s.w", name);
    if (fz_param(h, nm, 1, (int64_t[]){h->cfg.hidden}, MMF_INIT_ONE, 0) < 0) return MMF_ERR_ARG;
    snprintf(nm, sizeof nm, "%s.b", name);
    if (fz_param(h, nm, 1, (int64_t[]){h->cfg.hidden}, MMF_INIT_ZERO, 0) < 0) return MMF_ERR_ARG;
    return MMF_OK;
}

static mmf_var ln(fz_ctx *c, const char *name, mmf_var x) {
    char w[MMF_PARAM_NAME], b[MMF_PARAM_NAME];
    snprintf(w, sizeof w, "%s.w", name);
    snprintf(b, sizeof b, "%s.b", name);
    return mmf_t_layernorm(c->tp, x, fz_p(c, w), fz_p(c, b), 1e-5f);
}

static mmf_status tr_decl(mmf_head *h, int64_t *E) {
    int H = h->cfg.hidden;
    *E = H;
    if (h->cfg.heads < 1 || H % h->cfg.heads)
        return mmf_fail(MMF_ERR_ARG, "fusion transformer: %d heads do not divide hidden size %d", h->cfg.heads, H);
    if (h->cfg.layers < 1 || h->cfg.layers > 12)
        return mmf_fail(MMF_ERR_ARG, "fusion transformer: %d layers, expected 1..12", h->cfg.layers);
    mmf_status s = fz_linear_decl_each(h, "f.tok", H, 1);
    if (s || fz_param(h, "f.cls", 1, (int64_t[]){H}, MMF_INIT_NORMAL, 0.02f) < 0) return MMF_ERR_ARG;
    for (int l = 0; l < h->cfg.layers && !s; l++) {
        char nm[MMF_PARAM_NAME];
        snprintf(nm, sizeof nm, "f.l%d.ln1", l); s = ln_decl(h, nm);
        snprintf(nm, sizeof nm, "f.l%d.qkv", l); if (!s) s = fz_linear_decl(h, nm, H, 3 * H, 1);
        snprintf(nm, sizeof nm, "f.l%d.o", l); if (!s) s = fz_linear_decl(h, nm, H, H, 1);
        snprintf(nm, sizeof nm, "f.l%d.ln2", l); if (!s) s = ln_decl(h, nm);
        snprintf(nm, sizeof nm, "f.l%d.ff1", l); if (!s) s = fz_linear_decl(h, nm, H, 2 * H, 1);
        snprintf(nm, sizeof nm, "f.l%d.ff2", l); if (!s) s = fz_linear_decl(h, nm, 2 * H, H, 1);
    }
    return s ? s : ln_decl(h, "f.lnf");
}

static mmf_var tr_fwd(fz_ctx *c) {
    int M = c->h->cfg.M, H = c->h->cfg.hidden;
    int64_t B = c->B, T = M + 1;
    mmf_tape *tp = c->tp;
    mmf_var toks[FZ_MAXM + 1];
    toks[0] = mmf_t_add(tp, mmf_t_full(tp, 0.0f, 3, (int64_t[]){B, 1, H}), fz_p(c, "f.cls"));
    for (int m = 0; m < M; m++) {
        char nm[MMF_PARAM_NAME];
        snprintf(nm, sizeof nm, "f.tok.%s", c->h->cfg.names[m]);
        toks[m + 1] = mmf_t_reshape(tp, fz_lin(c, nm, c->x[m]), 3, (int64_t[]){B, 1, H});
    }
    mmf_var X = mmf_t_concat(tp, toks, (int)T, 1);
    uint8_t *keep = mmf_tape_scratch(tp, (size_t)(B * T));
    if (!keep) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "transformer fusion: out of memory"));
    for (int64_t b = 0; b < B; b++) {
        keep[b * T] = 1;
        for (int m = 0; m < M; m++) keep[b * T + 1 + m] = c->mask[b * M + m];
    }
    for (int l = 0; l < c->h->cfg.layers; l++) {
        char nm[MMF_PARAM_NAME];
        snprintf(nm, sizeof nm, "f.l%d.ln1", l);
        mmf_var a = ln(c, nm, X);
        snprintf(nm, sizeof nm, "f.l%d.qkv", l);
        mmf_var qkv = fz_lin(c, nm, a);
        mmf_var q = mmf_t_slice(tp, qkv, 2, 0, H), k = mmf_t_slice(tp, qkv, 2, H, 2 * H), v = mmf_t_slice(tp, qkv, 2, 2 * H, 3 * H);
        mmf_var att = mmf_t_attention(tp, q, k, v, c->h->cfg.heads, keep, 0);
        snprintf(nm, sizeof nm, "f.l%d.o", l);
        X = mmf_t_add(tp, X, fz_lin(c, nm, att));
        snprintf(nm, sizeof nm, "f.l%d.ln2", l);
        mmf_var f = ln(c, nm, X);
        snprintf(nm, sizeof nm, "f.l%d.ff1", l);
        f = mmf_t_gelu(tp, fz_lin(c, nm, f));
        snprintf(nm, sizeof nm, "f.l%d.ff2", l);
        X = mmf_t_add(tp, X, fz_lin(c, nm, f));
    }
    mmf_var cls = mmf_t_reshape(tp, mmf_t_slice(tp, X, 1, 0, 1), 2, (int64_t[]){B, H});
    return ln(c, "f.lnf", cls);
}

static int64_t tr_flops(const mmf_head *h) {
    int64_t H = h->cfg.hidden, T = h->cfg.M + 1;
    return 2 * fz_sum_dims(h) * H + h->cfg.layers * (T * 2 * H * (3 * H + H + 4 * H) + 4 * T * T * H);
}

const fz_op fz_op_transformer = {
    "transformer", "transformer over modality tokens + CLS (pre-LN, masked self-attention); z = LN(CLS)",
    "params: sum(D_m+1)*H + L*(12H^2+13H) + 3H; FLOPs: 2*sum(D_m)*H + L*(16*T*H^2 + 4*T^2*H), T = M+1",
    "absent modality tokens are masked out of attention (keys); CLS always present", 2, FZ_MAXM - 1,
    tr_decl, tr_fwd, tr_flops};
