/* The non-GEMM pieces of a bf16 transformer layer, written so that every
 * GEMM input is produced in bf16 by the op before it (no separate
 * fp32 -> bf16 pass per GEMM): layer norm that also writes bf16 rows, and
 * attention whose QK^T and PV products are bf16 GEMMs (AVX512-BF16) with a
 * vectorised fp32 softmax between them. Opt-in precision only; the fp32 path
 * (ops.h) is the parity path. Needs mmf_bf16_gemm_supported(). */
#ifndef MMF_CORE_OPS_BF16_H
#define MMF_CORE_OPS_BF16_H
#include <stddef.h>
#include <stdint.h>

/* y (N,C) = layernorm(x) exactly as mmf_layernorm (y may alias x), and the
 * same values rounded to bf16 in yb (row stride ldyb >= C rounded up to
 * even; the pad value zeroed). y may be NULL when only yb is needed. */
void mmf_bf16_layernorm(float *y, uint16_t *yb, int64_t ldyb, const float *x, const float *w, const float *b,
                        int64_t N, int C, float eps, int nt);

/* Scaled dot-product attention on bf16 rows in Hugging Face's interleaved
 * head layout: q/k/v of (batch b, position t, head h) start at
 * qkv + (b*T + t)*ldq + {0, H*D, 2*H*D} + h*D (the fused QKV projection's
 * output, written in bf16 by its GEMM epilogue). out (bf16) row (b, t) head h
 * at out + (b*T + t)*ldo + h*D. D must be even. key_keep (B,T) or NULL;
 * causal: query t sees keys <= t. Softmax in fp32, probabilities rounded to
 * bf16 for the PV product. scratch: mmf_bf16_attention_scratch bytes,
 * 64-byte aligned. */
size_t mmf_bf16_attention_scratch(int T, int D, int nt);
void mmf_bf16_attention(uint16_t *out, int64_t ldo, const uint16_t *qkv, int64_t ldq, int B, int H, int T, int D,
                        const uint8_t *key_keep, int causal, float scale, void *scratch, int nt);
#endif
