/* The transformer encoder layer shared by every tower: BERT (post-norm),
 * CLIP text/vision and ViT (pre-norm), optionally causal (CLIP text).
 *
 * Weights are plain float pointers so each family maps its own tensor names
 * onto the same struct; the query/key/value projections are one fused
 * (3C, C) matrix so one GEMM produces the interleaved (rows, 3C) buffer that
 * mmf_attention reads in place (ld = 3C). Use mmf_tf_fuse_qkv (or read the
 * three tensors straight into the three row blocks) when loading.
 *
 * Activations: the caller passes `scratch` of mmf_tf_layer_scratch() floats,
 * sized once for the largest (batch, length) it will run (typically carved
 * from an mmf_arena at load time); the layer allocates nothing.
 *
 * Shapes: B sequences of T tokens, C = hidden, H heads of D = C/H, F = ffn.
 *   post-norm (BERT):    x = LN1(x + Attn(x));      x = LN2(x + FFN(x))
 *   pre-norm (CLIP/ViT): x = x + Attn(LN1(x));      x = x + FFN(LN2(x))
 *   FFN(x) = fc2(act(fc1(x))).
 * Padding rows (keep == 0) are computed but never attended to; their values
 * are unspecified garbage that the caller must mask out when pooling.
 */
#ifndef MMF_MODELS_TRANSFORMER_H
#define MMF_MODELS_TRANSFORMER_H
#include <stddef.h>
#include <stdint.h>
#include "io/hf_config.h"

typedef struct mmf_tf_layer_w {
    const float *qkv_w;          /* (3C, C): rows [0,C) query, [C,2C) key, [2C,3C) value */
    const float *qkv_b;          /* (3C) or NULL */
    const float *o_w, *o_b;      /* attention output projection (C, C), (C) or NULL */
    const float *ln1_w, *ln1_b;  /* post-norm: after attention; pre-norm: before attention */
    const float *fc1_w, *fc1_b;  /* (F, C), (F) or NULL */
    const float *fc2_w, *fc2_b;  /* (C, F), (C) or NULL */
    const float *ln2_w, *ln2_b;  /* post-norm: after FFN; pre-norm: before FFN */
    /* bf16 copies of the four matrices (core/gemm_bf16.h layout), used when
     * spec.bf16 is set; filled by mmf_tf_pack_bf16 */
    const uint16_t *qkv_wp, *o_wp, *fc1_wp, *fc2_wp;
} mmf_tf_layer_w;

typedef struct mmf_tf_spec {
    int hidden;        /* C */
    int heads;         /* H; C % H == 0 */
    int ffn;           /* F */
    float eps;         /* layer norm epsilon */
    mmf_act act;       /* FFN activation */
    int pre_norm;      /* 0 = BERT arrangement, 1 = CLIP/ViT arrangement */
    int causal;        /* 1 = token t attends to keys <= t (CLIP text) */
    float attn_scale;  /* 0 = 1/sqrt(D) */
    int bf16;          /* 1 = projections and FFN in bf16 (AVX512-BF16; opt-in, ~3 digits) */
} mmf_tf_spec;

/* Floats of scratch one layer (or a whole stack) needs for B x T tokens with
 * nt threads. */
size_t mmf_tf_layer_scratch(const mmf_tf_spec *s, int B, int T, int nt);

/* One layer, in place. x (B,T,C). keep (B,T): 1 = real token, 0 = padding;
 * NULL = every token real. */
void mmf_tf_layer_forward(const mmf_tf_spec *s, const mmf_tf_layer_w *w, float *x,
                          const uint8_t *keep, int B, int T, float *scratch, int nt);

/* n_layers layers in sequence (same spec), in place; same scratch. */
void mmf_tf_stack_forward(const mmf_tf_spec *s, const mmf_tf_layer_w *layers, int n_layers,
                          float *x, const uint8_t *keep, int B, int T, float *scratch, int nt);

/* Pack the four matrices of n layers to bf16 (one allocation, returned for
 * the caller to free; NULL when out of memory) and point the layers' *_wp
 * at it. Attention scores and softmax stay fp32. */
uint16_t *mmf_tf_pack_bf16(const mmf_tf_spec *s, mmf_tf_layer_w *layers, int n_layers);

/* x = act(x) over n values. */
void mmf_act_apply(mmf_act a, float *x, int64_t n, int nt);

/* Build the fused projection from separate Hugging Face q/k/v weights:
 * qkv_w (3C, C) <- [q_w; k_w; v_w], qkv_b (3C) <- [q_b; k_b; v_b] (a NULL
 * source bias writes zeros; qkv_b NULL skips biases). */
void mmf_tf_fuse_qkv(float *qkv_w, float *qkv_b, const float *q_w, const float *k_w, const float *v_w,
                     const float *q_b, const float *k_b, const float *v_b, int C);
#endif
