/* Hugging Face config.json -> a validated struct, for every model family we
 * load (bert, vit, clip, resnet). Unknown fields are ignored; fields we use are
 * range-checked and errors name the file and the field. */
#ifndef MMF_IO_HF_CONFIG_H
#define MMF_IO_HF_CONFIG_H
#include <cjson/cJSON.h>
#include <stdint.h>
#include "mmfuse.h"

typedef enum mmf_act {
    MMF_ACT_GELU = 0,     /* "gelu": erf form */
    MMF_ACT_GELU_TANH,    /* "gelu_new", "gelu_pytorch_tanh", "gelu_fast" */
    MMF_ACT_QUICK_GELU,   /* "quick_gelu" (CLIP) */
    MMF_ACT_RELU,
    MMF_ACT_TANH
} mmf_act;

/* One transformer tower (BERT, ViT, CLIP text or vision). */
typedef struct mmf_tf_config {
    int64_t vocab_size, hidden_size, num_layers, num_heads, intermediate_size;
    int64_t max_positions, type_vocab_size, pad_token_id, bos_token_id, eos_token_id;
    int64_t image_size, patch_size, num_channels;
    double layer_norm_eps;
    mmf_act act;
    int qkv_bias;
    /* family extras, each with transformers' default for its family */
    int64_t rel_buckets;        /* mpnet: relative_attention_num_buckets (32) */
    int sinusoidal_pos;         /* distilbert: sinusoidal_pos_embds (false) */
    double layerscale_value;    /* dinov2: layerscale_value (1.0), the lambda when a checkpoint lacks it */
    int use_swiglu;             /* dinov2: use_swiglu_ffn (false) */
    int64_t projection_size;    /* siglip text: projection_size (hidden_size) */
    int vision_use_head;        /* siglip vision: vision_use_head (true) */
} mmf_tf_config;

#define MMF_RESNET_MAX_STAGES 8

typedef struct mmf_hf_config {
    char model_type[32];          /* "bert", "vit", "clip", "resnet", ... */
    mmf_tf_config tf;             /* bert, roberta, distilbert, mpnet, vit, dinov2, siglip_vision_model: the tower */
    mmf_tf_config text, vision;   /* clip, siglip: text_config, vision_config */
    int64_t projection_dim;       /* clip */
    double logit_scale_init;      /* clip */
    /* resnet */
    int64_t embedding_size, n_stages;
    int64_t hidden_sizes[MMF_RESNET_MAX_STAGES], depths[MMF_RESNET_MAX_STAGES];
    int bottleneck, downsample_in_first_stage, downsample_in_bottleneck;
} mmf_hf_config;

mmf_status mmf_act_parse(const char *name, const char *file, const char *field, mmf_act *out);
const char *mmf_act_name(mmf_act a);
/* Parse a config tree; `file` is for messages. */
mmf_status mmf_hf_config_parse(const cJSON *root, const char *file, mmf_hf_config *out);
/* Load DIR/config.json (or a path to a .json file). */
mmf_status mmf_hf_config_load(const char *dir_or_file, mmf_hf_config *out);
#endif
