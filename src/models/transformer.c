#include "models/transformer.h"
#include "core/ops.h"
#include "core/bf16_probe.h"
#include "core/gemm_bf16.h"
#include "core/gemm_int8.h"
#include "core/huge_alloc.h"
#include "core/matmul_f32.h"
#include "core/matmul_int8.h"
#include "core/ops_bf16.h"
#include "core/vmath512.h"
#include "io/mapped_read.h"
#include "mmfuse.h"
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <math.h>
#include <omp.h>
#include <string.h>

/* The bf16 layer keeps every GEMM input in bf16, each written by the op
 * before it (layer norm, the QKV and PV epilogues, fc1's epilogue with the
 * activation fused); x, the residual stream, stays fp32. Needs an even head
 * size (q/k/v rows are read in bf16 pairs); otherwise the layer runs the
 * per-GEMM conversion path. */
static int fused_bf16(const mmf_tf_spec *s) {
    return s->packed == MMF_TF_PACK_BF16 && s->heads > 0 && (s->hidden / s->heads) % 2 == 0 && !s->layer_scaled &&
           !s->attn_biased;
}

/* uint16 counts of the fused bf16 layer's buffers, in carve order */
static void bf16_sizes(const mmf_tf_spec *s, size_t rows, size_t n[4]) {
    size_t C = (size_t)s->hidden, F = (size_t)s->ffn;
    n[0] = rows * 3 * C;                                  /* qkv */
    n[1] = rows * C;                                      /* attention output */
    n[2] = rows * (size_t)mmf_bf16_kpad((int)C);          /* layer-norm output (GEMM input) */
    n[3] = rows * (size_t)mmf_bf16_kpad((int)F);          /* activation of fc1 */
}

/* bytes of int8 scratch: inputs up to max(C, F) wide, outputs up to max(3C, F) */
static size_t int8_scratch(const mmf_tf_spec *s, size_t rows) {
    int C = s->hidden, F = s->ffn, K = C > F ? C : F, N = 3 * C > F ? 3 * C : F;
    return s->packed == MMF_TF_PACK_INT8_MM ? mmf_mm_i8_scratch_bytes((int64_t)rows, K, N)
                                            : mmf_int8_scratch_bytes((int64_t)rows, K, N);
}
static int is_int8(const mmf_tf_spec *s) { return s->packed == MMF_TF_PACK_INT8 || s->packed == MMF_TF_PACK_INT8_MM; }

size_t mmf_tf_layer_scratch(const mmf_tf_spec *s, int B, int T, int nt) {
    size_t rows = (size_t)B * (size_t)T, C = (size_t)s->hidden, F = (size_t)s->ffn;
    if (fused_bf16(s)) {
        size_t n[4], tot = 0;
        bf16_sizes(s, rows, n);
        for (int i = 0; i < 4; i++) tot += (n[i] + 1) / 2 + 16;
        return tot + (mmf_bf16_attention_scratch(T, s->hidden / s->heads, nt) + 3) / 4 + 16;
    }
    /* qkv (rows,3C) + attention out (rows,C) + ln/ffn input (rows,C) + ffn hidden (rows,F)
     * + attention scores; each block padded so the next stays 64-byte aligned. */
    size_t pad = 16;
    size_t bf = s->packed == MMF_TF_PACK_BF16 ? (mmf_bf16_scratch_bytes((int64_t)rows, (int)(C > F ? C : F)) + 3) / 4 + pad : 0;
    if (is_int8(s)) bf = (int8_scratch(s, rows) + 3) / 4 + pad;
    return rows * 3 * C + pad + rows * C + pad + rows * C + pad + rows * F + pad +
           (size_t)mmf_attention_scratch(T, T, nt) + pad + bf;
}

void mmf_act_apply(mmf_act a, float *x, int64_t n, int nt) {
    switch (a) {
    case MMF_ACT_GELU: mmf_gelu_erf(x, n, nt); break;
    case MMF_ACT_GELU_TANH: mmf_gelu_tanh(x, n, nt); break;
    case MMF_ACT_QUICK_GELU: mmf_quick_gelu(x, n, nt); break;
    case MMF_ACT_RELU: mmf_relu(x, n, nt); break;
    case MMF_ACT_TANH: mmf_tanh(x, n, nt); break;
    }
}

void mmf_tf_fuse_qkv(float *qkv_w, float *qkv_b, const float *q_w, const float *k_w, const float *v_w,
                     const float *q_b, const float *k_b, const float *v_b, int C) {
    size_t cc = (size_t)C * C;
    memcpy(qkv_w, q_w, cc * sizeof(float));
    memcpy(qkv_w + cc, k_w, cc * sizeof(float));
    memcpy(qkv_w + 2 * cc, v_w, cc * sizeof(float));
    if (!qkv_b) return;
    const float *bs[3] = {q_b, k_b, v_b};
    for (int i = 0; i < 3; i++) {
        if (bs[i]) memcpy(qkv_b + (size_t)i * C, bs[i], (size_t)C * sizeof(float));
        else memset(qkv_b + (size_t)i * C, 0, (size_t)C * sizeof(float));
    }
}

static float *carve(float **p, size_t n) {
    float *r = *p;
    *p += (n + 15) & ~(size_t)15;
    return r;
}

/* y (rows, OC) = (accumulate ? y : 0) + bias + x @ W^T. Accumulating folds the
 * residual add into the GEMM (beta = 1) so no extra pass over the rows.
 * With nt > 1 the output columns are split across threads, each running a
 * single-threaded GEMM on its slice: for one sequence (rows = T) OpenBLAS's
 * own threading barely scales, the split does, and for big batches it is no
 * worse. Slices are multiples of 16 columns (the kernel's width). */
static void dense(float *y, const float *x, const float *W, const float *b, int64_t rows, int IC, int OC,
                  int accumulate, int nt) {
    int chunks = nt;
    while (chunks > 1 && OC / chunks < 64) chunks--;
    if (chunks <= 1) {
        if (b) {
            if (accumulate) mmf_add_bias(y, b, rows, OC, 1 < nt ? nt : 1);
            else
                for (int64_t i = 0; i < rows; i++) memcpy(y + i * OC, b, (size_t)OC * sizeof(float));
        }
        mmf_gemm(0, 1, (int)rows, OC, IC, 1.0f, x, IC, W, IC, (b || accumulate) ? 1.0f : 0.0f, y, OC, nt);
        return;
    }
    mmf_threads_use(1);   /* GEMMs inside the region run single threaded */
#pragma omp parallel num_threads(chunks)
    {
        int t = omp_get_thread_num();
        int n0 = (int)(((int64_t)OC * t / chunks) & ~15), n1 = t == chunks - 1 ? OC : (int)(((int64_t)OC * (t + 1) / chunks) & ~15);
        int w = n1 - n0;
        if (w > 0) {
            if (b) {
                for (int64_t i = 0; i < rows; i++) {
                    float *yr = y + i * OC + n0;
                    if (accumulate) for (int c = 0; c < w; c++) yr[c] += b[n0 + c];
                    else memcpy(yr, b + n0, (size_t)w * sizeof(float));
                }
            }
            mmf_sgemm(0, 1, (int)rows, w, IC, 1.0f, x, IC, W + (size_t)n0 * IC, IC,
                        (b || accumulate) ? 1.0f : 0.0f, y + n0, OC);
        }
    }
    mmf_threads_use(nt);
}

/* x (rows,C) += g (C) * y (rows,C); g NULL = 1 */
static void scaled_add(float *x, const float *y, const float *g, int64_t rows, int C, int nt) {
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && rows > 16)
    for (int64_t r = 0; r < rows; r++) {
        float *xr = x + r * C;
        const float *yr = y + r * C;
        if (g) for (int c = 0; c < C; c++) xr[c] += g[c] * yr[c];
        else for (int c = 0; c < C; c++) xr[c] += yr[c];
    }
}

static int epi_act(mmf_act a, int *relu) {
    *relu = 0;
    switch (a) {
    case MMF_ACT_GELU: return MMF_EPI_GELU_ERF;
    case MMF_ACT_GELU_TANH: return MMF_EPI_GELU_TANH;
    case MMF_ACT_QUICK_GELU: return MMF_EPI_QUICK_GELU;
    case MMF_ACT_TANH: return MMF_EPI_TANH;
    case MMF_ACT_RELU: *relu = 1; return MMF_EPI_NONE;
    }
    return MMF_EPI_NONE;
}

/* One fused bf16 layer (see fused_bf16). xb_ready: post-norm only, the
 * bf16 copy of x is already in the scratch (the previous layer's last layer
 * norm wrote it). */
static void layer_bf16(const mmf_tf_spec *s, const mmf_tf_layer_w *w, float *x, const uint8_t *keep, int B, int T,
                       float *scratch, int nt, int xb_ready) {
    const int C = s->hidden, H = s->heads, D = C / H, F = s->ffn, Cp = mmf_bf16_kpad(C), Fp = mmf_bf16_kpad(F);
    const int64_t rows = (int64_t)B * T;
    size_t n[4];
    bf16_sizes(s, (size_t)rows, n);
    float *p = scratch;
    uint16_t *qkvb = (uint16_t *)carve(&p, (n[0] + 1) / 2);
    uint16_t *attb = (uint16_t *)carve(&p, (n[1] + 1) / 2);
    uint16_t *xb = (uint16_t *)carve(&p, (n[2] + 1) / 2);
    uint16_t *hb = (uint16_t *)carve(&p, (n[3] + 1) / 2);
    void *asc = carve(&p, (mmf_bf16_attention_scratch(T, D, nt) + 3) / 4);
    float scale = s->attn_scale > 0 ? s->attn_scale : 1.0f / sqrtf((float)D);
    int relu, act = epi_act(s->act, &relu);

    if (s->pre_norm) mmf_bf16_layernorm(NULL, xb, Cp, x, w->ln1_w, w->ln1_b, rows, C, s->eps, nt);
    else if (!xb_ready) mmf_bf16_convert(xb, Cp, x, C, rows, C, nt);
    mmf_gemm_epi eq = {.bias = w->qkv_b, .yb = qkvb, .ldyb = 3 * C};
    mmf_bf16_gemm(xb, Cp, w->qkv_p, rows, C, 3 * C, &eq, nt);
    mmf_bf16_attention(attb, C, qkvb, 3 * C, B, H, T, D, keep, s->causal, scale, asc, nt);
    mmf_gemm_epi eo = {.bias = w->o_b, .accumulate = 1, .y = x, .ldy = C};   /* x += proj(att) */
    mmf_bf16_gemm(attb, C, w->o_p, rows, C, C, &eo, nt);
    mmf_bf16_layernorm(s->pre_norm ? NULL : x, xb, Cp, x, s->pre_norm ? w->ln2_w : w->ln1_w,
                       s->pre_norm ? w->ln2_b : w->ln1_b, rows, C, s->eps, nt);
    mmf_gemm_epi e1 = {.bias = w->fc1_b, .act = act, .relu = relu, .yb = hb, .ldyb = Fp};
    mmf_bf16_gemm(xb, Cp, w->fc1_p, rows, C, F, &e1, nt);
    if (F & 1)
        for (int64_t r = 0; r < rows; r++) hb[r * Fp + F] = 0;
    mmf_gemm_epi e2 = {.bias = w->fc2_b, .accumulate = 1, .y = x, .ldy = C};   /* x += fc2(act(fc1)) */
    mmf_bf16_gemm(hb, Fp, w->fc2_p, rows, F, C, &e2, nt);
    if (!s->pre_norm) mmf_bf16_layernorm(x, xb, Cp, x, w->ln2_w, w->ln2_b, rows, C, s->eps, nt);
}

static int i8_act(mmf_act a) {
    switch (a) {
    case MMF_ACT_GELU: return MMF_I8_ACT_GELU_ERF;
    case MMF_ACT_GELU_TANH: return MMF_I8_ACT_GELU_TANH;
    case MMF_ACT_QUICK_GELU: return MMF_I8_ACT_QUICK_GELU;
    case MMF_ACT_RELU: return MMF_I8_ACT_RELU;
    case MMF_ACT_TANH: return MMF_I8_ACT_TANH;
    }
    return MMF_I8_ACT_NONE;
}

void mmf_tf_layer_forward(const mmf_tf_spec *s, const mmf_tf_layer_w *w, float *x,
                          const uint8_t *keep, int B, int T, float *scratch, int nt) {
    if (fused_bf16(s) && w->qkv_p && w->o_p && w->fc1_p && w->fc2_p) {
        layer_bf16(s, w, x, keep, B, T, scratch, nt, 0);
        return;
    }
    const int C = s->hidden, H = s->heads, D = C / H, F = s->ffn;
    const int64_t rows = (int64_t)B * T;
    float *p = scratch;
    float *qkv = carve(&p, (size_t)rows * 3 * C);
    float *att = carve(&p, (size_t)rows * C);
    float *tmp = carve(&p, (size_t)rows * C);
    float *hid = carve(&p, (size_t)rows * F);
    float *sc = carve(&p, (size_t)mmf_attention_scratch(T, T, nt));
    void *bfs = s->packed == MMF_TF_PACK_BF16 ? carve(&p, (mmf_bf16_scratch_bytes(rows, C > F ? C : F) + 3) / 4)
              : is_int8(s) ? carve(&p, (int8_scratch(s, (size_t)rows) + 3) / 4) : NULL;
#define DENSE(y, xin, W, Wp, b, ic, oc, acc) \
    /* a packed fp32 matrix oneDNN refuses for this row count (never seen) falls \
     * through to dense() on its plain matrix, paged out but still valid */ \
    do { if (s->packed == MMF_TF_PACK_F32 && (Wp) && !mmf_mm_f32_linear(y, xin, Wp, b, rows, ic, oc, acc, nt)) {} \
         else if (s->packed == MMF_TF_PACK_BF16 && (Wp)) mmf_bf16_linear(y, xin, (const uint16_t *)(Wp), b, rows, ic, oc, acc, bfs, nt); \
         else if (s->packed == MMF_TF_PACK_INT8 && (Wp) && !mmf_int8_linear(y, xin, Wp, b, rows, ic, oc, acc, bfs, nt)) {} \
         else if (s->packed == MMF_TF_PACK_INT8_MM && (Wp) && !mmf_mm_i8_linear(y, xin, Wp, b, rows, ic, oc, acc, 0, bfs, nt)) {} \
         else dense(y, xin, W, b, rows, ic, oc, acc, nt); } while (0)
    float scale = s->attn_scale > 0 ? s->attn_scale : 1.0f / sqrtf((float)D);

    /* attention block */
    const float *ain = x;
    if (s->pre_norm) {
        mmf_layernorm(tmp, x, w->ln1_w, w->ln1_b, rows, C, s->eps, nt);
        ain = tmp;
    }
    DENSE(qkv, ain, w->qkv_w, w->qkv_p, w->qkv_b, C, 3 * C, 0);
    mmf_attention_biased(att, C, qkv, 3 * C, qkv + C, 3 * C, qkv + 2 * C, 3 * C, B, H, T, T, D, keep, s->causal,
                         scale, s->attn_biased ? s->attn_bias : NULL, sc, nt);
    if (s->layer_scaled) {   /* x += ls1 * proj(att): tmp is free again after LN1 */
        DENSE(tmp, att, w->o_w, w->o_p, w->o_b, C, C, 0);
        scaled_add(x, tmp, w->ls1, rows, C, nt);
    } else {
        DENSE(x, att, w->o_w, w->o_p, w->o_b, C, C, 1);   /* x += proj(att) */
    }
    if (!s->pre_norm) mmf_layernorm(x, x, w->ln1_w, w->ln1_b, rows, C, s->eps, nt);

    /* feed-forward block */
    const float *fin = x;
    if (s->pre_norm) {
        mmf_layernorm(tmp, x, w->ln2_w, w->ln2_b, rows, C, s->eps, nt);
        fin = tmp;
    }
    /* the int8 matmul applies the activation in its epilogue */
    if (!(s->packed == MMF_TF_PACK_INT8_MM && w->fc1_p &&
          !mmf_mm_i8_linear(hid, fin, w->fc1_p, w->fc1_b, rows, C, F, 0, i8_act(s->act), bfs, nt))) {
        DENSE(hid, fin, w->fc1_w, w->fc1_p, w->fc1_b, C, F, 0);
        mmf_act_apply(s->act, hid, rows * F, nt);
    }
    if (s->layer_scaled) {   /* x += ls2 * fc2(act(fc1)) */
        DENSE(tmp, hid, w->fc2_w, w->fc2_p, w->fc2_b, F, C, 0);
        scaled_add(x, tmp, w->ls2, rows, C, nt);
    } else {
        DENSE(x, hid, w->fc2_w, w->fc2_p, w->fc2_b, F, C, 1);  /* x += fc2(act(fc1)) */
    }
    if (!s->pre_norm) mmf_layernorm(x, x, w->ln2_w, w->ln2_b, rows, C, s->eps, nt);
#undef DENSE
}

/* bytes of one packed (N, K) matrix, a multiple of 64 so the next stays aligned (0: cannot) */
static size_t packed_bytes(int how, int N, int K) {
    size_t b = how == MMF_TF_PACK_F32     ? mmf_mm_f32_bytes(N, K)
             : how == MMF_TF_PACK_BF16    ? mmf_bf16_packed_size(N, K) * sizeof(uint16_t)
             : how == MMF_TF_PACK_INT8_MM ? mmf_mm_i8_bytes(N, K)
                                          : mmf_int8_packed_bytes(N, K);
    return (b + 63) & ~(size_t)63;
}

void *mmf_tf_pack(mmf_tf_spec *s, mmf_tf_layer_w *layers, int n_layers, int how) {
    const int C = s->hidden, F = s->ffn;
    const int shapes[4][2] = {{3 * C, C}, {C, C}, {F, C}, {C, F}};   /* (N, K) of qkv, o, fc1, fc2 */
    size_t per = 0, sz[4];   /* sizes once: for fp32 each asks oneDNN for its layout */
    for (int i = 0; i < 4; i++) {
        if (!(sz[i] = packed_bytes(how, shapes[i][0], shapes[i][1]))) return NULL;
        per += sz[i];
    }
    /* 2 MiB aligned and marked for transparent huge pages: the weights are
     * streamed once per forward (BERT-base bf16: 170 MB), and with 4 KiB
     * pages every few microseconds of GEMM cost a page walk */
    unsigned char *block = mmf_alloc_huge(per * (size_t)(n_layers > 0 ? n_layers : 1));
    if (!block) return NULL;
    /* the plain matrices that lie in the mapped checkpoint are pread into a
     * staging buffer and packed from there: the mapping's pages are never
     * faulted in (io/mapped_read.h; MiniLM-L6 fp32 start: -670 faults) */
    mmf_file_maps maps;
    mmf_file_maps_read(&maps);
    size_t stage_floats = 0;
    for (int i = 0; i < 4; i++)
        if ((size_t)shapes[i][0] * (size_t)shapes[i][1] > stage_floats) stage_floats = (size_t)shapes[i][0] * (size_t)shapes[i][1];
    float *stage = maps.n ? mmf_alloc_huge(stage_floats * sizeof(float)) : NULL;
    unsigned char *p = block;
    for (int l = 0; l < n_layers; l++) {
        mmf_tf_layer_w *w = &layers[l];
        const float *src[4] = {w->qkv_w, w->o_w, w->fc1_w, w->fc2_w};
        const void **dst[4] = {&w->qkv_p, &w->o_p, &w->fc1_p, &w->fc2_p};
        for (int i = 0; i < 4; i++) {
            int N = shapes[i][0], K = shapes[i][1];
            const size_t bytes = (size_t)N * (size_t)K * sizeof(float);
            const float *from = stage && !mmf_file_maps_copy(&maps, src[i], bytes, stage) ? stage : src[i];
            if (how == MMF_TF_PACK_F32 || how == MMF_TF_PACK_INT8_MM) {
                if (how == MMF_TF_PACK_INT8_MM ? mmf_mm_i8_pack(p, from, N, K) : mmf_mm_f32_pack(p, from, N, K)) {
                    for (int k = 0; k <= l; k++) layers[k].qkv_p = layers[k].o_p = layers[k].fc1_p = layers[k].fc2_p = NULL;
                    free(stage);
                    mmf_file_maps_free(&maps);
                    free(block);
                    return NULL;
                }
                /* the plain matrix is the fallback only now: where it was
                 * read through the mapping, its file pages go at once, so
                 * the peak holds one copy and a layer */
                if (from == src[i]) mmf_file_maps_drop(&maps, src[i], bytes);
            } else if (how == MMF_TF_PACK_BF16) mmf_bf16_pack((uint16_t *)p, from, N, K);
            else mmf_int8_pack(p, from, N, K);
            *dst[i] = p;
            p += sz[i];
        }
    }
    free(stage);
    mmf_file_maps_free(&maps);
    s->packed = how;
    return block;
}

mmf_status mmf_tf_use_precision(mmf_tf_spec *s, mmf_tf_layer_w *layers, int n_layers, int precision, const char *dir,
                                void **packed) {
    *packed = NULL;
    if (precision == MMF_PRECISION_AUTO) precision = mmf_bf16_pays() ? MMF_PRECISION_BF16 : MMF_PRECISION_F32;
    if (precision == MMF_PRECISION_F32) {   /* packed where oneDNN can, else plain (never an error) */
        if (!getenv("MMFUSE_SGEMM_ONLY")) *packed = mmf_tf_pack(s, layers, n_layers, MMF_TF_PACK_F32);
        return MMF_OK;
    }
    if (precision == MMF_PRECISION_INT8) {
        if (!mmf_int8_supported())
            return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: int8 precision needs VNNI (AVX512-VNNI or AVX-VNNI); the engine runs %s here "
                            "(use fp32 or bf16)", dir, mmf_engine_isa_name());
        /* oneDNN's int8 matmul where it has one for these shapes; else (or with
         * MMFUSE_SGEMM_ONLY, for the tests) the BLAS-style u8s8s32 GEMM */
        if (!getenv("MMFUSE_SGEMM_ONLY")) *packed = mmf_tf_pack(s, layers, n_layers, MMF_TF_PACK_INT8_MM);
        if (!*packed) *packed = mmf_tf_pack(s, layers, n_layers, MMF_TF_PACK_INT8);
        if (!*packed) return mmf_fail(MMF_ERR_NOMEM, "%s: cannot allocate the int8 weights", dir);
        return MMF_OK;
    }
    if (precision != MMF_PRECISION_BF16) return mmf_fail(MMF_ERR_ARG, "mmf_encoder_load: unknown precision %d", precision);
    if (!mmf_bf16_gemm_supported())
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: bf16 precision needs a CPU with AVX512-BF16; this one has none (use fp32)", dir);
    *packed = mmf_tf_pack(s, layers, n_layers, MMF_TF_PACK_BF16);
    if (!*packed) return mmf_fail(MMF_ERR_NOMEM, "%s: cannot allocate the bf16 weights", dir);
    return MMF_OK;
}

void mmf_tf_stack_forward(const mmf_tf_spec *s, const mmf_tf_layer_w *layers, int n_layers,
                          float *x, const uint8_t *keep, int B, int T, float *scratch, int nt) {
    for (int l = 0; l < n_layers; l++) {
        const mmf_tf_layer_w *w = &layers[l];
        if (fused_bf16(s) && w->qkv_p && w->o_p && w->fc1_p && w->fc2_p)
            layer_bf16(s, w, x, keep, B, T, scratch, nt, l > 0 && !s->pre_norm);
        else mmf_tf_layer_forward(s, w, x, keep, B, T, scratch, nt);
    }
}
