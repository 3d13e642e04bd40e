/* Bilinear pooling. Full: z = W vec(x_1 (x) x_2 (x) ...) + b, refused above the
 * weight budget (the M x N outer product times H is what makes it costly).
 * Compact (Gao et al. 2016 / MCB): z = l2n(ssqrt(FFT^-1(prod_m FFT(CS_m(x_m))))),
 * count sketches with fixed random hashes drawn from the head's seed. */
#include "fusion/fusion.h"
#include "core/error.h"
#include "train/fft.h"
#include <stdio.h>
#include <stdlib.h>

static int64_t outer_size(const mmf_head *h) {
    int64_t n = 1;
    for (int m = 0; m < h->cfg.M; m++) {
        if (n > ((int64_t)1 << 40) / h->cfg.dims[m]) return (int64_t)1 << 40;
        n *= h->cfg.dims[m];
    }
    return n;
}

static mmf_status bil_decl(mmf_head *h, int64_t *E) {
    *E = h->cfg.hidden;
    int64_t n = outer_size(h), w = n > ((int64_t)1 << 40) / h->cfg.hidden ? ((int64_t)1 << 40) : n * h->cfg.hidden;
    if (w > h->cfg.budget) return fz_fail_budget(h, "the bilinear layer", w);
    mmf_status s = fz_absent_decl(h);
    return s ? s : fz_linear_decl(h, "f.bil", n, h->cfg.hidden, 1);
}
static mmf_var bil_fwd(fz_ctx *c) {
    mmf_var t = fz_fill(c, 0);
    for (int m = 1; m < c->h->cfg.M; m++) t = mmf_t_outer(c->tp, t, fz_fill(c, m));
    return fz_lin(c, "f.bil", t);
}
static int64_t bil_flops(const mmf_head *h) { return outer_size(h) * (1 + 2 * (int64_t)h->cfg.hidden); }

const fz_op fz_op_bilinear = {
    "bilinear", "full bilinear pooling: z = W vec(x_1 outer x_2 [outer ...]) + b (refused above --budget)",
    "params: prod(D_m)*H + H + sum(D_m); FLOPs: prod(D_m)*(2H+1)",
    "learned absent embedding e_m in place of x_m", 2, FZ_MAXM, bil_decl, bil_fwd, bil_flops};

static mmf_status cbp_decl(mmf_head *h, int64_t *E) {
    int d = h->cfg.sketch;
    if (!mmf_is_pow2(d) || d > (1 << 16))
        return mmf_fail(MMF_ERR_ARG, "fusion compact_bilinear: sketch size %d must be a power of two <= 65536", d);
    *E = d;
    /* fixed hashes: a function of the seed only, so a reloaded head redraws the same ones */
    mmf_rng r;
    mmf_rng_seed(&r, h->cfg.seed ^ 0x5EEDC0DEull);
    for (int m = 0; m < h->cfg.M; m++) {
        int64_t D = h->cfg.dims[m];
        h->sk_h[m] = malloc((size_t)D * sizeof(int32_t));
        h->sk_s[m] = malloc((size_t)D * sizeof(float));
        if (!h->sk_h[m] || !h->sk_s[m]) return mmf_fail(MMF_ERR_NOMEM, "compact bilinear: out of memory");
        for (int64_t i = 0; i < D; i++) {
            h->sk_h[m][i] = (int32_t)mmf_rng_below(&r, (uint32_t)d);
            h->sk_s[m][i] = (mmf_rng_u64(&r) >> 63) ? 1.0f : -1.0f;
        }
    }
    return fz_absent_decl(h);
}
static mmf_var cbp_fwd(fz_ctx *c) {
    mmf_head *h = c->h;
    mmf_var p = mmf_t_count_sketch(c->tp, fz_fill(c, 0), h->sk_h[0], h->sk_s[0], h->cfg.sketch);
    for (int m = 1; m < h->cfg.M; m++)
        p = mmf_t_circ_conv(c->tp, p, mmf_t_count_sketch(c->tp, fz_fill(c, m), h->sk_h[m], h->sk_s[m], h->cfg.sketch));
    return mmf_t_l2norm(c->tp, mmf_t_signed_sqrt(c->tp, p, 1e-8f), 1e-12f);
}
static int64_t cbp_flops(const mmf_head *h) {
    int64_t d = h->cfg.sketch, lg = 0;
    while (((int64_t)1 << lg) < d) lg++;
    /* a complex radix-2 FFT is ~5 d log2 d flops; 3 per convolution */
    return 2 * fz_sum_dims(h) + (h->cfg.M - 1) * (15 * d * lg + 6 * d) + 6 * d;
}

const fz_op fz_op_compact = {
    "compact_bilinear", "compact bilinear pooling: count sketches convolved by FFT, signed sqrt, L2 norm",
    "params: sum(D_m) (absent embeddings; hashes fixed); FLOPs: 2*sum(D_m) + (M-1)*(15 d log2 d + 6d), d = --sketch",
    "learned absent embedding e_m in place of x_m", 2, FZ_MAXM, cbp_decl, cbp_fwd, cbp_flops};
