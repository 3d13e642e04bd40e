/* CLIP internals reachable for tests and tools (the public path is
 * mmf_encoder_embed_text / mmf_encoder_embed_image_files). */
#ifndef MMF_MODELS_CLIP_H
#define MMF_MODELS_CLIP_H
#include <stdint.h>
#include "mmfuse.h"

/* pixels (B,3,S,S) -> image_embeds (B,D); last_hidden (B,T,Cv) before post_layernorm, or NULL. */
mmf_status mmf_clip_vision(mmf_encoder *e, const float *pixels, int B, float *image_embeds, float *last_hidden);
/* ids, keep (B,T) -> text_embeds (B,D) or NULL; last_hidden (B,T,Ct) after final_layer_norm, or NULL. */
mmf_status mmf_clip_text_ids(mmf_encoder *e, const int32_t *ids, const uint8_t *keep, int B, int T, float *text_embeds,
                             float *last_hidden);
/* ViT token states (B,T,C) after the final layernorm. */
mmf_status mmf_vit_tokens(mmf_encoder *e, const float *pixels, int B, float *x);
/* SigLIP: ids (B,T) padded here to max_position_embeddings with the pad id, no mask ->
 * text_embeds (B,D) or NULL, last_hidden (B,T,Ct) (the first T positions) or NULL. */
mmf_status mmf_siglip_text_ids(mmf_encoder *e, const int32_t *ids, int B, int T, float *text_embeds, float *last_hidden);
/* SigLIP vision last_hidden_state (B,N,C) after post_layernorm. */
mmf_status mmf_siglip_vision(mmf_encoder *e, const float *pixels, int B, float *last_hidden);
/* DINOv2 last_hidden_state (B,T,C) (after the final layernorm). */
mmf_status mmf_dinov2_tokens(mmf_encoder *e, const float *pixels, int B, float *x);
#endif
