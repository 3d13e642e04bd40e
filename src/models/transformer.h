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
 *   layer scale (DINOv2, pre-norm): x = x + ls1 * Attn(LN1(x)); x = x + ls2 * FFN(LN2(x)).
 *   attention bias (MPNet): softmax(QK^T / sqrt(D) + bias + mask).
 * Layer scale and attention bias run the per-GEMM path (bf16 / int8 GEMMs
 * still apply), not the fused bf16 layer.
 * Padding rows (keep == 0) are computed but never attended to; their values
 * are unspecified garbage that the caller must mask out when pooling.
 */
#ifndef MMF_MODELS_TRANSFORMER_H
#define MMF_MODELS_TRANSFORMER_H
#include <stddef.h>
#include <stdint.h>
#include "io/hf_config.h"
#include "core/error.h"

typedef struct mmf_tf_layer_w {
    const float *qkv_w;          /* (3C, C): rows [0,C) query, [C,2C) key, [2C,3C) value */
    const float *qkv_b;          /* (3C) or NULL */
    const float *o_w, *o_b;      /* attention output projection (C, C), (C) or NULL */
    const float *ln1_w, *ln1_b;  /* post-norm: after attention; pre-norm: before attention */
    const float *fc1_w, *fc1_b;  /* (F, C), (F) or NULL */
    const float *fc2_w, *fc2_b;  /* (C, F), (C) or NULL */
    const float *ln2_w, *ln2_b;  /* post-norm: after FFN; pre-norm: before FFN */
    const float *ls1, *ls2;      /* layer scale (C) of the attention / FFN branch before its residual add
                                    (DINOv2), or NULL; used when spec.layer_scaled */
    /* packed copies of the four matrices (core/gemm_bf16.h layouts), used
     * when spec.packed is set; filled by mmf_tf_pack */
    const void *qkv_p, *o_p, *fc1_p, *fc2_p;
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
    int packed;        /* MMF_TF_PACK_*: how the four matrices run (set by mmf_tf_pack) */
    int layer_scaled;  /* 1 = each branch is scaled by the layer's ls1 / ls2 before its residual add */
    int attn_biased;   /* 1 = scores get attn_bias added (set at load: it changes the scratch) */
    const float *attn_bias;   /* (H,T,T) for the T of the next forward, shared by the batch and every
                                 layer (MPNet's relative position bias); set by the caller per forward */
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

enum {
    MMF_TF_PACK_NONE = 0,  /* fp32: the engine's sgemm on the plain (out, in) matrices */
    MMF_TF_PACK_F32 = 1,   /* fp32 in oneDNN's blocked matmul layout, packed once (core/matmul_f32.h) */
    MMF_TF_PACK_BF16 = 2,  /* bf16 panels, AVX512-BF16: ~2x GEMM rate, ~3 significant digits */
    MMF_TF_PACK_INT8 = 3,  /* int8 per-channel weights, per-token int8 activations (core/gemm_int8.h) */
    MMF_TF_PACK_INT8_MM = 4 /* int8 per-channel weights in oneDNN's matmul layout, per-tensor u8 activations,
                             * dequantisation, bias, residual and activation in the primitive (core/matmul_int8.h) */
};
/* Pack the four matrices of n layers (one allocation, returned for the
 * caller to free; NULL when out of memory), point the layers' *_p at it and
 * set s->packed. `how` is MMF_TF_PACK_F32, _BF16 or _INT8; check the CPU
 * first (mmf_bf16_gemm_supported / mmf_int8_supported). F32 also drops
 * this process's pages of plain matrices that lie in the mmapped checkpoint
 * (MADV_DONTNEED: read back from the file if touched), so RSS holds about
 * one copy; NULL when oneDNN cannot pack a shape.
 * Attention stays fp32. */
void *mmf_tf_pack(mmf_tf_spec *s, mmf_tf_layer_w *layers, int n_layers, int how);
/* The encoder precision (mmfuse.h mmf_precision) applied to a stack: fp32
 * leaves it alone (*packed = NULL); bf16 and int8 check the CPU
 * (MMF_ERR_UNSUPPORTED naming dir and the missing feature: AVX512-BF16, VNNI)
 * and pack (*packed to free); auto is bf16 where the CPU has it, else fp32.
 * Call before sizing the scratch (mmf_tf_layer_scratch depends on it). */
mmf_status mmf_tf_use_precision(mmf_tf_spec *s, mmf_tf_layer_w *layers, int n_layers, int precision, const char *dir,
                                void **packed);

/* x = act(x) over n values. */
void mmf_act_apply(mmf_act a, float *x, int64_t n, int nt);

/* Build the fused projection from separate Hugging Face q/k/v weights:
 * qkv_w (3C, C) <- [q_w; k_w; v_w], qkv_b (3C) <- [q_b; k_b; v_b] (a NULL
 * source bias writes zeros; qkv_b NULL skips biases). */
void mmf_tf_fuse_qkv(float *qkv_w, float *qkv_b, const float *q_w, const float *k_w, const float *v_w,
                     const float *q_b, const float *k_b, const float *v_b, int C);
#endif
