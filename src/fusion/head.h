/* Internal head API shared by head.c and trainer.c. */
#ifndef MMF_FUSION_HEAD_H
#define MMF_FUSION_HEAD_H
#include "fusion/fusion.h"
#include "core/tensor.h"
#include "train/optim.h"

typedef struct fz_out {
    mmf_var emb;   /* [B, E] the multimodal embedding */
    mmf_var out;   /* [B, C] logits (align: projection of modality 0) */
    mmf_var out2;  /* align: projection of modality 1 */
    mmf_var aux;   /* extra loss term or -1 */
} fz_out;

mmf_status fz_head_new(const fz_config *cfg, mmf_head **out);
/* From training parameters (train_params.c): a head's operator sizes, dropout
 * and seed; its AdamW settings, cosine schedule with 5% warmup if p->cosine. */
void fz_config_sizes(fz_config *cfg, const mmf_train_params *p);
mmf_optim_params fz_optim_params(const mmf_train_params *p, int64_t steps_per_epoch);
/* p->precision onto the tape, the weights (bf16 shadow) and the optimiser (defer) */
mmf_status fz_train_precision(const mmf_train_params *p, mmf_tape *tp, mmf_params *ps, mmf_optim_params *op);
/* xs[m]: [B, D_m] rows (absent rows zero), mask [B, M]; labels only when training. */
mmf_status fz_head_forward(mmf_head *h, mmf_tape *tp, int64_t B, float *const *xs, const uint8_t *mask,
                           const int64_t *labels, fz_out *o);
/* The same, an xmodal head also writing its attention maps into *capture (xmodal.h). */
mmf_status fz_head_forward_capture(mmf_head *h, mmf_tape *tp, int64_t B, float *const *xs, const uint8_t *mask,
                                   const int64_t *labels, struct fz_xmodal_maps *capture, fz_out *o);
#endif
