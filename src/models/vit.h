/* The vision transformer tower shared by ViT and CLIP's vision model:
 * patch embedding (a stride = kernel conv, done as one GEMM over unfolded
 * patches), a CLS token, position embeddings, optional pre-layernorm (CLIP),
 * pre-norm transformer layers (models/transformer.h), then
 *   ViT:  a final layernorm over every token (sequence_output);
 *   CLIP: nothing on the tokens (last_hidden_state), post_layernorm on CLS.
 * Also used by clip.c; the ViT encoder family lives in vit.c. */
#ifndef MMF_MODELS_VIT_H
#define MMF_MODELS_VIT_H
#include "models/transformer.h"
#include "core/arena.h"
#include "mmfuse.h"

typedef struct mmf_wbag {
    mmf_safetensors *st;
    const char *dir;       /* for messages */
    char prefix[64];
    float **ptrs;          /* every allocation, freed together */
    int n, cap;
} mmf_wbag;

/* Read prefix+name with shape (d0), (d0,d1) or (d0,d1,d2,d3) (dims of 0 end the shape) into a new
 * float array. `why` names the config fields that imply the shape. */
mmf_status mmf_wbag_take(mmf_wbag *w, const char *name, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                         const char *why, float **out);
/* As take, but *out = NULL (and MMF_OK) when the tensor is absent. */
mmf_status mmf_wbag_take_opt(mmf_wbag *w, const char *name, int64_t d0, int64_t d1, const char *why, float **out);
/* A zero-filled array of n floats owned by the bag. */
float *mmf_wbag_zeros(mmf_wbag *w, size_t n);
void mmf_wbag_free(mmf_wbag *w);
/* Fuse q/k/v weights (and biases, zeros when absent) of one layer into a (3C,C) block. */
mmf_status mmf_wbag_qkv(mmf_wbag *w, const char *q, const char *k, const char *v, const char *qb, const char *kb,
                        const char *vb, int64_t C, mmf_tf_layer_w *ly);

/* Tensor names of one transformer layer, each a printf format with one %d for
 * the layer index (relative to the bag's prefix), in mmf_tf_layer_w order. */
typedef struct mmf_tf_layer_names {
    const char *q_w, *k_w, *v_w, *q_b, *k_b, *v_b;
    const char *o_w, *o_b, *ln1_w, *ln1_b, *ln2_w, *ln2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b;
} mmf_tf_layer_names;
extern const mmf_tf_layer_names mmf_vit_layer_names;   /* ViTModel: encoder.layer.%d.attention... */
extern const mmf_tf_layer_names mmf_clip_layer_names;  /* CLIP towers: encoder.layers.%d.self_attn... */
/* Map L layers (hidden C, ffn F) into a new array owned by the bag; fails when
 * the checkpoint holds a layer L (config and weights disagree). `cfg` prefixes
 * the config field names in messages ("" or "text_config "). */
mmf_status mmf_wbag_layers(mmf_wbag *w, const mmf_tf_layer_names *nm, int L, int64_t C, int64_t F,
                           const char *cfg, mmf_tf_layer_w **out);

/* What the impl of every family over the weight bag begins with (ViT,
 * DINOv2, CLIP, SigLIP, and DistilBERT / MPNet through mmf_text_tower): its
 * weights, its activation arena and the bf16 / int8 blocks of its towers'
 * layers. */
typedef struct mmf_impl_base {
    mmf_wbag bag;
    mmf_arena arena;
    void *packed[2];   /* the vision and the text tower's layers, NULL in fp32 or when absent */
} mmf_impl_base;
/* mmf_encoder_ops.free_impl of those families: the base and the whole impl
 * (a checkpoint still open when a load failed included) */
void mmf_impl_base_release(mmf_encoder *e);
/* A load begins here: a zeroed impl of impl_size bytes made e->impl (NULL:
 * out of memory, message set). */
void *mmf_impl_base_new(mmf_encoder *e, size_t impl_size);
/* The checkpoint opened into b->bag, its tensor names under `prefix` when
 * probe is NULL or prefix + probe is in it, else without a prefix. */
mmf_status mmf_impl_base_open(mmf_encoder *e, mmf_impl_base *b, const char *prefix, const char *probe);
/* The image processor's output is the S x S the tower was built for; `what`
 * names S in the error ("config.json's image_size"). */
mmf_status mmf_vis_check_input(const mmf_encoder *e, int S, const char *what);

typedef struct mmf_vis_tower {
    int C, L, F, P, S, N, T;   /* hidden, layers, ffn, patch, image size, patches, tokens (N + 1, or N without CLS) */
    float eps;
    float *patch_w, *patch_b;  /* (C, 3*P*P), (C) or NULL */
    float *cls, *pos;          /* (C) or NULL (SigLIP: no CLS token, T = N), (T, C) */
    float *pre_w, *pre_b;      /* CLIP pre_layrnorm, or NULL */
    float *post_w, *post_b;    /* ViT final layernorm / CLIP post_layernorm */
    int post_all_tokens;       /* 1 = ViT */
    mmf_tf_layer_w *layers;
    mmf_tf_spec spec;
} mmf_vis_tower;

/* From a ViT (embeddings.*, encoder.layer.*, layernorm.*) or CLIP
 * (vision_model.*) checkpoint; w->prefix already set ("vit.", "", "vision_model."). */
mmf_status mmf_vis_tower_load_vit(mmf_vis_tower *t, const mmf_tf_config *c, mmf_wbag *w);
mmf_status mmf_vis_tower_load_clip(mmf_vis_tower *t, const mmf_tf_config *c, mmf_wbag *w);
/* Floats of scratch for a batch of B images. */
size_t mmf_vis_tower_scratch(const mmf_vis_tower *t, int B, int nt);
/* pixels (B,3,S,S) -> x (B,T,C): tokens after the layers (ViT: after the final
 * layernorm). */
void mmf_vis_tower_forward(const mmf_vis_tower *t, const float *pixels, int B, float *x, float *scratch, int nt);
/* What every family over the tower does first: B <= max_batch images through
 * the tower into x with scratch (both carved for max_batch) on nt threads,
 * and the token states (B,T,C) copied to `tokens` unless it is NULL. `who`
 * names the family in the batch error ("vit"). */
mmf_status mmf_vis_tower_run(const mmf_vis_tower *t, const char *who, const float *pixels, int B, int max_batch, float *x,
                             float *scratch, int nt, float *tokens);
#endif
