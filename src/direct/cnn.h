/* The small from-scratch CNN image tower ("mmfuse_cnn"): stages of
 * conv3x3 (pad 1, no bias) -> batchnorm -> ReLU -> maxpool 2x2 (every stage but
 * the last), then global average pooling (the embedding) and a linear
 * classifier. Tensor names as a PyTorch module would give them:
 *   stages.{i}.conv.weight [C_i, C_{i-1}, 3, 3]
 *   stages.{i}.bn.{weight,bias,running_mean,running_var} [C_i]
 *   classifier.{weight,bias} [n_classes, C_last]   (absent when n_classes == 0)
 * The same model in PyTorch is bench/direct_cnn.py. */
#ifndef MMF_DIRECT_CNN_H
#define MMF_DIRECT_CNN_H
#include "train/tape.h"

#define CNN_MAX_STAGES 8

typedef struct cnn_config {
    int image_size, in_channels, n_stages;
    int channels[CNN_MAX_STAGES];
    int n_classes;
    float bn_eps, bn_momentum;
} cnn_config;

typedef struct cnn_model {
    cnn_config cfg;
    mmf_params ps;
    float *running;          /* per stage: mean [C_i] then var [C_i] */
    int64_t running_off[CNN_MAX_STAGES];
    int p_conv[CNN_MAX_STAGES], p_gamma[CNN_MAX_STAGES], p_beta[CNN_MAX_STAGES], p_cls_w, p_cls_b;
} cnn_model;

cnn_config cnn_config_default(int n_classes);
mmf_status cnn_init(cnn_model *m, const cnn_config *cfg, uint64_t seed);
void cnn_free(cnn_model *m);
/* x [B, in_channels, S, S] -> features [B, C_last] (*feat) and logits [B, n_classes]
 * (returned; -1 when n_classes == 0). Training mode: batch statistics and
 * running-stat updates. */
mmf_var cnn_forward(mmf_tape *tp, cnn_model *m, mmf_var x, mmf_var *feat);
/* config.json + model.safetensors + preprocessor_config.json into dir. */
mmf_status cnn_save(const cnn_model *m, const char *dir, const char *const *labels);
#endif
