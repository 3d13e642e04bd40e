/* Internal head API shared by head.c and trainer.c. */
#ifndef MMF_FUSION_HEAD_H
#define MMF_FUSION_HEAD_H
#include "fusion/fusion.h"
#include "core/tensor.h"
#include "train/optim.h"
#include "io/json.h"

typedef struct fz_out {
    mmf_var emb;   /* [B, E] the multimodal embedding */
    mmf_var out;   /* [B, C] logits (align: projection of modality 0) */
    mmf_var out2;  /* align: projection of modality 1 */
    mmf_var aux;   /* extra loss term or -1 */
} fz_out;

mmf_status fz_head_new(const fz_config *cfg, mmf_head **out);
/* The operator sizes of a config (hidden, heads, layers, rank, proj, sketch,
 * budget) as JSON fields, and read back with the seed; errors name `file`.
 * A head's config and a captioner's "fusion" object both hold them. */
void fz_config_sizes_to_json(cJSON *o, const fz_config *c);
mmf_status fz_config_sizes_from_json(const cJSON *o, const char *file, fz_config *c);
/* A model file (io/model_file.h): config under __metadata__[key] and the
 * parameter sets, set k's tensors named prefixes[k] + parameter name; a NaN
 * or Inf parameter is refused. config NULL: out of memory. */
mmf_status fz_model_save(const char *path, const char *key, const char *config, int n_sets, const mmf_params *const *sets,
                         const char *const *prefixes);
/* Every parameter of ps read from st as prefix + its name, with the shape it
 * was declared with; finite: NaN/Inf refused. Errors name path and tensor. */
mmf_status fz_params_read(mmf_safetensors *st, mmf_params *ps, const char *prefix, const char *path, int finite);
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
