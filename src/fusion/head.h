/* Internal head API shared by head.c and trainer.c. */
#ifndef MMF_FUSION_HEAD_H
#define MMF_FUSION_HEAD_H
#include "fusion/fusion.h"
#include "core/tensor.h"

typedef struct fz_out {
    mmf_var emb;   /* [B, E] the multimodal embedding */
    mmf_var out;   /* [B, C] logits (align: projection of modality 0) */
    mmf_var out2;  /* align: projection of modality 1 */
    mmf_var aux;   /* extra loss term or -1 */
} fz_out;

mmf_status fz_head_new(const fz_config *cfg, mmf_head **out);
/* The operator sizes, dropout and seed of a head from training parameters
 * (every head trained on embeddings: trainer.c, the captioner's fusion, VQA). */
void fz_config_sizes(fz_config *cfg, const mmf_train_params *p);
/* xs[m]: [B, D_m] rows (absent rows zero), mask [B, M]; labels only when training. */
mmf_status fz_head_forward(mmf_head *h, mmf_tape *tp, int64_t B, float *const *xs, const uint8_t *mask,
                           const int64_t *labels, fz_out *o);
#endif
