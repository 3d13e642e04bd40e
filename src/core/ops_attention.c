#include "core/ops.h"
#include "core/ops_f32_512.h"
#include "core/vmath.h"
#include <math.h>
#include <omp.h>
#include <string.h>

int64_t mmf_attention_scratch(int Tq, int Tk, int nt) {
    return (int64_t)(nt < 1 ? 1 : nt) * Tq * Tk;
}

/* One (batch, head) pair per task: S = scale Q K^T (Tq,Tk), masked softmax,
 * O = S V. Each thread owns one Tq x Tk score buffer in scratch. */
void mmf_attention(float *out, int ldo, const float *q, int ldq, const float *k, int ldk,
                   const float *v, int ldv, int B, int H, int Tq, int Tk, int D,
                   const uint8_t *key_keep, int causal, float scale, float *scratch, int nt) {
    mmf_attention_biased(out, ldo, q, ldq, k, ldk, v, ldv, B, H, Tq, Tk, D, key_keep, causal, scale, NULL, scratch, nt);
}

/* bias (H,Tq,Tk) or NULL: copied into the score buffer, which the QK^T GEMM
 * then accumulates into (beta = 1), so the bias costs one copy per pair. */
void mmf_attention_biased(float *out, int ldo, const float *q, int ldq, const float *k, int ldk,
                          const float *v, int ldv, int B, int H, int Tq, int Tk, int D,
                          const uint8_t *key_keep, int causal, float scale, const float *bias, float *scratch, int nt) {
    if (nt < 1) nt = 1;
    int pairs = B * H;
    const int v512 = mmf_cpu_avx512();
    /* in the parallel region each GEMM is single threaded; a lone pair gets all nt */
    mmf_threads_use(pairs > 1 ? 1 : nt);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && pairs > 1)
    for (int p = 0; p < pairs; p++) {
        int b = p / H, h = p % H;
        float *S = scratch + (int64_t)omp_get_thread_num() * Tq * Tk;
        const float *qb = q + (int64_t)b * Tq * ldq + h * D;
        const float *kb = k + (int64_t)b * Tk * ldk + h * D;
        const float *vb = v + (int64_t)b * Tk * ldv + h * D;
        float *ob = out + (int64_t)b * Tq * ldo + h * D;
        if (bias) memcpy(S, bias + (int64_t)h * Tq * Tk, sizeof(float) * (size_t)Tq * Tk);
        mmf_sgemm(0, 1, Tq, Tk, D, scale, qb, ldq, kb, ldk, bias ? 1.0f : 0.0f, S, Tk);
        const uint8_t *keep = key_keep ? key_keep + (int64_t)b * Tk : NULL;
        for (int t = 0; t < Tq; t++) {
            /* causal: keys after t + (Tk - Tq) are invisible */
            int visible = causal ? t + (Tk - Tq) + 1 : Tk;
            if (v512) mmf_softmax_row_512(S + (int64_t)t * Tk, Tk, visible, keep);
            else mmf_v_softmax_row(S + (int64_t)t * Tk, Tk, visible, keep);
        }
        mmf_sgemm(0, 0, Tq, D, Tk, 1.0f, S, Tk, vb, ldv, 0.0f, ob, ldo);
    }
}
