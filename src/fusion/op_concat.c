/* Concatenation (+ the head's linear output) and an MLP over the concatenation.
 * Absent modalities: replaced by a learned absent embedding per modality. */
#include "fusion/fusion.h"
#include <stdio.h>

static mmf_status concat_decl(mmf_head *h, int64_t *E) {
    *E = fz_sum_dims(h);
    return fz_absent_decl(h);
}
static mmf_var concat_fwd(fz_ctx *c) { return fz_concat_filled(c); }
static int64_t concat_flops(const mmf_head *h) { return 0; }

const fz_op fz_op_concat = {
    "concat", "concatenate the modality embeddings; the output layer is linear on top",
    "params: sum(D_m) (absent embeddings); FLOPs: 0 (+ output 2*sum(D_m)*C)",
    "learned absent embedding e_m in place of x_m", 1, FZ_MAXM, concat_decl, concat_fwd, concat_flops};

static mmf_status mlp_decl(mmf_head *h, int64_t *E) {
    *E = h->cfg.hidden;
    mmf_status s = fz_absent_decl(h);
    return s ? s : fz_linear_decl(h, "f.fc1", fz_sum_dims(h), h->cfg.hidden, 1);
}
static mmf_var mlp_fwd(fz_ctx *c) { return mmf_t_relu(c->tp, fz_lin(c, "f.fc1", fz_concat_filled(c))); }
static int64_t mlp_flops(const mmf_head *h) { return 2 * fz_sum_dims(h) * h->cfg.hidden; }

const fz_op fz_op_mlp = {
    "mlp", "MLP over the concatenation: z = ReLU(W [x_1; ...; x_M] + b)",
    "params: sum(D_m)*(H+1) + H; FLOPs: 2*sum(D_m)*H",
    "learned absent embedding e_m in place of x_m", 1, FZ_MAXM, mlp_decl, mlp_fwd, mlp_flops};
