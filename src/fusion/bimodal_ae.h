/* Pieces of the bimodal autoencoder operator (op_bimodal_ae.c) that its
 * unsupervised trainer (src/direct/bimodal_ae.c) drives separately: the
 * trainer feeds inputs with modalities zeroed on purpose while reconstructing
 * every modality the sample really has. */
#ifndef MMF_FUSION_BIMODAL_AE_H
#define MMF_FUSION_BIMODAL_AE_H
#include "fusion/fusion.h"

/* standardised input of modality m, zero in rows where c->m[m] is 0: [B, D_m] */
mmf_var fz_bimodal_ae_input(fz_ctx *c, int m);
/* shared code [B, H] from c->x / c->m; z[m] receives the standardised inputs */
mmf_var fz_bimodal_ae_code(fz_ctx *c, mmf_var *z);
/* sum over modalities of the mean squared reconstruction error of target[m]
 * over the rows with tmask[b*M + m] != 0 (-1 if no row has any) */
mmf_var fz_bimodal_ae_recon(fz_ctx *c, mmf_var code, const mmf_var *target, const uint8_t *tmask);
/* The same with modality m's squared errors divided by denom[m] instead of
 * (rows of the batch having m) x D_m: a data-parallel slice normalises by the
 * whole batch's count, scaled by the slice's share (direct/bimodal_ae.c). */
mmf_var fz_bimodal_ae_recon_scaled(fz_ctx *c, mmf_var code, const mmf_var *target, const uint8_t *tmask, const double *denom);
#endif
