/* int8 matmul with weights packed once (matmul_int8.h). */
#include "core/matmul_int8.h"
#include "core/dnnl_ctx.h"
#include "core/ops.h"
#include "core/ops_f32_512.h"
#include "core/prim_cache.h"
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A packed weight: this header (the layout's descriptor), the N per-channel
 * scales at header_bytes(), the blocked weights (with oneDNN's zero-point
 * compensation after them) at `off`. */
typedef struct i8_head {
    uint32_t magic, N, K, off;
    uint64_t uid;   /* this packing's number: the key of its own primitives */
    dnnl_memory_desc_t md;
} i8_head;
static uint64_t g_uid;
#define I8_MAGIC 0x6d6d6938u   /* "mmi8" */

static size_t up64(size_t n) { return (n + 63) & ~(size_t)63; }
static size_t header_bytes(void) { return up64(sizeof(i8_head)); }

int mmf_mm_i8_per_token(void) {
    const char *v = getenv("MMFUSE_INT8_ACT");
    return v && !strcmp(v, "token");
}

static int md2(dnnl_memory_desc_t *md, int64_t d0, int64_t d1, dnnl_data_type_t dt, dnnl_format_tag_t tag) {
    dnnl_dims_t d = {d0, d1};
    return dnnl_memory_desc_init_by_tag(md, 2, d, dt, tag) == dnnl_success ? 0 : -1;
}

static int eltwise(int act, dnnl_alg_kind_t *alg, float *alpha) {
    *alpha = 0.0f;
    switch (act) {
    case MMF_I8_ACT_GELU_ERF: *alg = dnnl_eltwise_gelu_erf; return 1;
    case MMF_I8_ACT_GELU_TANH: *alg = dnnl_eltwise_gelu_tanh; return 1;
    case MMF_I8_ACT_QUICK_GELU: *alg = dnnl_eltwise_swish, *alpha = 1.702f; return 1;   /* x sigmoid(1.702 x) */
    case MMF_I8_ACT_RELU: *alg = dnnl_eltwise_relu; return 1;
    case MMF_I8_ACT_TANH: *alg = dnnl_eltwise_tanh; return 1;
    }
    return 0;
}

/* What a primitive is made for; also its cache key (no padding holes).
 * uid 0: any matrix of the shape; else that matrix's own (scales built in). */
typedef struct i8_shape {
    int64_t rows;
    uint64_t uid;
    int32_t K, N, accumulate, act, token, nt;
} i8_shape;

/* The matmul: u8 src with a runtime zero point, s8 weights laid out as w
 * (NULL: the kernels' choice). Per tensor: fp32 dst = act([dst +] sc[n] *
 * (sums + bias')) with sc a runtime (1, N) tensor and bias' = bias / sc (oneDNN
 * 2.x adds the bias before scaling). oneDNN 2.6's VNNI kernels (brgemm)
 * refuse runtime output scales, which is why the scale is a binary post-op.
 * A matrix's own primitive (s->uid, ws its weight scales) builds ws in as
 * output scales and multiplies by the activation scale, a runtime (1, 1)
 * tensor: a scalar costs the epilogue less than a (1, N) row (BERT-base at
 * 128 rows: 2.25 against 2.41 ms per layer's four GEMMs, Zen 5).
 * Per token: the int32 sums. NULL when refused. */
static dnnl_primitive_desc_t make_pd(const i8_shape *s, const dnnl_memory_desc_t *w, const float *ws) {
    dnnl_engine_t eng = mmf_dnnl_engine();
    dnnl_memory_desc_t src, wt, b, one, dst;
    if (!eng || md2(&src, s->rows, s->K, dnnl_u8, dnnl_ab) || md2(&b, 1, s->N, dnnl_f32, dnnl_ab) ||
        md2(&one, 1, 1, dnnl_f32, dnnl_ab) ||
        md2(&dst, s->rows, s->N, s->token ? dnnl_s32 : dnnl_f32, dnnl_ab))
        return NULL;
    if (w) wt = *w;
    else if (md2(&wt, s->K, s->N, dnnl_s8, dnnl_format_tag_any)) return NULL;
    dnnl_matmul_desc_t d;
    if (dnnl_matmul_desc_init(&d, &src, &wt, s->token ? NULL : &b, &dst) != dnnl_success) return NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    const int32_t zp = DNNL_RUNTIME_S32_VAL;
    dnnl_alg_kind_t alg;
    float alpha;
    int ok = dnnl_primitive_attr_create(&attr) == dnnl_success &&
             dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_SRC, 1, 0, &zp) == dnnl_success &&
             dnnl_post_ops_create(&po) == dnnl_success;
    if (ok && !s->token && s->uid) ok = dnnl_primitive_attr_set_output_scales(attr, s->N, 2, ws) == dnnl_success;
    if (ok && !s->token) {
        ok = dnnl_post_ops_append_binary(po, dnnl_binary_mul, s->uid ? &one : &b) == dnnl_success &&
             (!s->accumulate || dnnl_post_ops_append_sum(po, 1.0f) == dnnl_success) &&
             (!eltwise(s->act, &alg, &alpha) || dnnl_post_ops_append_eltwise(po, 1.0f, alg, alpha, 0.0f) == dnnl_success) &&
             dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success;
    }
    if (ok && dnnl_primitive_desc_create(&pd, &d, attr, eng, NULL) != dnnl_success) pd = NULL;
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return pd;
}

/* the kernels' layout for (K, N), chosen for 128 rows */
static int choose_layout(int N, int K, dnnl_memory_desc_t *md) {
    i8_shape s = {128, 0, K, N, 0, 0, 0, 1};
    dnnl_primitive_desc_t pd = make_pd(&s, NULL, NULL);
    if (!pd) return -1;
    const dnnl_memory_desc_t *w = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    int ok = w != NULL;
    if (ok) *md = *w;
    dnnl_primitive_desc_destroy(pd);
    return ok ? 0 : -1;
}

size_t mmf_mm_i8_bytes(int N, int K) {
    dnnl_memory_desc_t md;
    if (N <= 0 || K <= 0 || choose_layout(N, K, &md)) return 0;
    return header_bytes() + up64((size_t)N * sizeof(float)) + up64(dnnl_memory_desc_get_size(&md));
}

int mmf_mm_i8_pack(void *dst, const float *W, int N, int K) {
    i8_head *h = dst;
    dnnl_memory_desc_t plain;
    if (choose_layout(N, K, &h->md) || md2(&plain, K, N, dnnl_s8, dnnl_ba)) return -1;   /* (N, K) is (K, N) in ba */
    int8_t *q = malloc((size_t)N * (size_t)K);
    if (!q) return -1;
    float *scale = (float *)((char *)dst + header_bytes());
    for (int n = 0; n < N; n++) {   /* symmetric per output channel, as core/gemm_int8.c */
        const float *w = W + (size_t)n * K;
        float amax = 0.0f;
        for (int k = 0; k < K; k++) amax = fabsf(w[k]) > amax ? fabsf(w[k]) : amax;
        float s = amax > 0.0f ? amax / 127.0f : 1.0f, inv = 1.0f / s;
        scale[n] = s;
        for (int k = 0; k < K; k++) {
            float v = nearbyintf(w[k] * inv);
            q[(size_t)n * K + k] = (int8_t)(v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v);
        }
    }
    h->magic = I8_MAGIC;
    h->N = (uint32_t)N;
    h->K = (uint32_t)K;
    h->off = (uint32_t)(header_bytes() + up64((size_t)N * sizeof(float)));
    h->uid = __atomic_add_fetch(&g_uid, 1, __ATOMIC_RELAXED);
    int rc = mmf_dnnl_reorder(&plain, q, &h->md, (char *)dst + h->off);   /* computes the compensation too */
    free(q);
    return rc;
}

size_t mmf_mm_i8_scratch_bytes(int64_t rows, int Kmax, int Nmax) {
    size_t b = up64((size_t)rows * (size_t)Kmax) + 2 * up64((size_t)Nmax * sizeof(float)) + 64;
    if (mmf_mm_i8_per_token())
        b += up64((size_t)rows * sizeof(float)) + up64((size_t)rows * (size_t)Nmax * sizeof(int32_t));
    return b;
}

/* ---- quantisation passes: q = clamp(round(x * inv) + zp, 0, 255), round half to even in both versions ---- */

#define TGT_Q __attribute__((target("avx512f,avx512bw,avx512vl")))
static __mmask16 tail16(int64_t n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u); }

TGT_Q static void minmax_512(const float *x, int64_t n, float *lo, float *hi) {
    __m512 mn = _mm512_setzero_ps(), mx = _mm512_setzero_ps();   /* 0 is always in the range */
    for (int64_t i = 0; i < n; i += 16) {
        __m512 v = _mm512_maskz_loadu_ps(tail16(n - i), x + i);
        mn = _mm512_min_ps(mn, v);
        mx = _mm512_max_ps(mx, v);
    }
    *lo = _mm512_reduce_min_ps(mn);
    *hi = _mm512_reduce_max_ps(mx);
}

static void minmax_c(const float *x, int64_t n, float *lo, float *hi) {
    float a = 0.0f, b = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        a = x[i] < a ? x[i] : a;
        b = x[i] > b ? x[i] : b;
    }
    *lo = a, *hi = b;
}

/* 16 values to u8, saturating: the register form of vpmovusdb (its
 * memory form, masked, is microcoded on AMD Zen 4/5: three times slower) */
TGT_Q static __m128i q16(const float *x, __mmask16 m, __m512 vi, __m512i z) {
    __m512i v = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x), vi)), z);
    return _mm512_cvtusepi32_epi8(_mm512_max_epi32(v, _mm512_setzero_si512()));
}

TGT_Q static void quant_512(uint8_t *q, const float *x, int64_t n, float inv, int zp) {
    const __m512 vi = _mm512_set1_ps(inv);
    const __m512i z = _mm512_set1_epi32(zp);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm_storeu_si128((__m128i *)(q + i), q16(x + i, 0xFFFF, vi, z));
    if (i < n) _mm_mask_storeu_epi8(q + i, tail16(n - i), q16(x + i, tail16(n - i), vi, z));
}

static void quant_c(uint8_t *q, const float *x, int64_t n, float inv, int zp) {
    for (int64_t i = 0; i < n; i++) {
        float v = nearbyintf(x[i] * inv) + (float)zp;
        q[i] = (uint8_t)(v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v);
    }
}

/* per tensor, asymmetric over [min(0, x), max(0, x)]: *scale, *zp; -1 on inf/NaN */
static int quant_tensor(uint8_t *q, const float *x, int64_t n, float *scale, int32_t *zp, int v512, int nt) {
    float lo = 0.0f, hi = 0.0f;
    int chunks = nt > 1 && n >= 65536 ? nt : 1;
#pragma omp parallel for num_threads(chunks) schedule(static) reduction(min : lo) reduction(max : hi) if (chunks > 1)
    for (int c = 0; c < chunks; c++) {
        int64_t a = n * c / chunks, e = n * (c + 1) / chunks;
        float l, h;
        if (v512) minmax_512(x + a, e - a, &l, &h);
        else minmax_c(x + a, e - a, &l, &h);
        lo = l < lo ? l : lo;
        hi = h > hi ? h : hi;
    }
    if (!(hi - lo < INFINITY)) return -1;   /* NaN fails it too */
    float s = hi > lo ? (hi - lo) / 255.0f : 1.0f, inv = 1.0f / s;
    int z = (int)nearbyintf(-lo * inv);
    z = z < 0 ? 0 : z > 255 ? 255 : z;
#pragma omp parallel for num_threads(chunks) schedule(static) if (chunks > 1)
    for (int c = 0; c < chunks; c++) {
        int64_t a = n * c / chunks, e = n * (c + 1) / chunks;
        if (v512) quant_512(q + a, x + a, e - a, inv, z);
        else quant_c(q + a, x + a, e - a, inv, z);
    }
    *scale = s;
    *zp = z;
    return 0;
}

/* per token: each row symmetric, s = max|x| / 127, stored as q + 128 (one zero point, 128, for all rows) */
static void quant_rows(uint8_t *q, float *scale, const float *x, int64_t rows, int K, int v512, int nt) {
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && rows * K >= 65536)
    for (int64_t r = 0; r < rows; r++) {
        float lo, hi;
        if (v512) minmax_512(x + r * K, K, &lo, &hi);
        else minmax_c(x + r * K, K, &lo, &hi);
        float amax = hi > -lo ? hi : -lo, s = amax > 0.0f ? amax / 127.0f : 1.0f;
        scale[r] = s;
        if (v512) quant_512(q + r * K, x + r * K, K, 1.0f / s, 128);
        else quant_c(q + r * K, x + r * K, K, 1.0f / s, 128);
    }
}

static void act_apply(int act, float *y, int64_t n, int nt) {
    switch (act) {
    case MMF_I8_ACT_GELU_ERF: mmf_gelu_erf(y, n, nt); break;
    case MMF_I8_ACT_GELU_TANH: mmf_gelu_tanh(y, n, nt); break;
    case MMF_I8_ACT_QUICK_GELU: mmf_quick_gelu(y, n, nt); break;
    case MMF_I8_ACT_RELU: mmf_relu(y, n, nt); break;
    case MMF_I8_ACT_TANH: mmf_tanh(y, n, nt); break;
    }
}

/* per token: y = [y +] bias + c * s_row * w_scale, then act */
static void dequant_rows(float *y, const int32_t *c, const float *rs, const float *ws, const float *bias, int64_t rows,
                         int N, int acc, int act, int nt) {
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && rows * N >= 65536)
    for (int64_t r = 0; r < rows; r++) {
        float *yr = y + r * N;
        const int32_t *cr = c + r * N;
        for (int n = 0; n < N; n++) {
            float v = (float)cr[n] * rs[r] * ws[n] + (bias ? bias[n] : 0.0f);
            yr[n] = acc ? yr[n] + v : v;
        }
    }
    act_apply(act, y, rows * N, nt);
}

typedef struct make_ctx { i8_shape s; const dnnl_memory_desc_t *md; const float *ws; } make_ctx;

static dnnl_primitive_t make_prim(const void *ctx) {
    const make_ctx *m = ctx;
    dnnl_primitive_t p = NULL;
    dnnl_primitive_desc_t pd = make_pd(&m->s, m->md, m->ws);
    if (pd && dnnl_primitive_create(&p, pd) != dnnl_success) p = NULL;
    if (pd) dnnl_primitive_desc_destroy(pd);
    return p;
}

int mmf_mm_i8_linear(float *y, const float *x, const void *Wp, const float *bias, int64_t rows, int K, int N,
                     int accumulate, int act, void *scratch, int nt) {
    const i8_head *h = Wp;
    if (rows <= 0) return 0;
    if (!h || h->magic != I8_MAGIC || (int)h->N != N || (int)h->K != K) return -1;
    if (nt < 1) nt = 1;
    const int token = mmf_mm_i8_per_token(), v512 = mmf_cpu_avx512();
    const float *ws = (const float *)((const char *)Wp + header_bytes());
    unsigned char *p = (unsigned char *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    uint8_t *a = p;
    float *sc = (float *)(p + up64((size_t)rows * K)), *bb = sc + up64((size_t)N * sizeof(float)) / sizeof(float);
    float *rs = bb + up64((size_t)N * sizeof(float)) / sizeof(float);
    int32_t *c = (int32_t *)(rs + up64((size_t)rows * sizeof(float)) / sizeof(float));
    float s = 1.0f;
    int32_t zp = 128;
    if (token) quant_rows(a, rs, x, rows, K, v512, nt);
    else {
        if (quant_tensor(a, x, rows * K, &s, &zp, v512, nt)) return -1;
        for (int n = 0; n < N; n++) {
            sc[n] = s * ws[n];
            bb[n] = bias ? bias[n] / sc[n] : 0.0f;
        }
    }
    mmf_threads_use(nt);   /* the primitive runs omp_get_max_threads() threads */
    /* this matrix's own primitive where one was made, else the shape's; a
     * shape met often (16 calls: from a 12-layer model's second pass) gets
     * its matrices' own (about 1 ms each to make) */
    make_ctx m = {{rows, token ? 0 : h->uid, K, N, token ? 0 : accumulate, token ? 0 : act, token, nt}, &h->md, ws};
    mmf_prim_entry *entry;
    dnnl_primitive_t prim = token ? NULL : mmf_prim_acquire(&m.s, sizeof m.s, &h->md, NULL, NULL, &entry);
    const int own = prim != NULL;
    if (!prim) {
        m.s.uid = 0;
        prim = mmf_prim_acquire(&m.s, sizeof m.s, &h->md, make_prim, &m, &entry);
        if (!token && mmf_prim_hits(entry) >= 16) {
            mmf_prim_entry *e2;
            m.s.uid = h->uid;
            dnnl_primitive_t p2 = mmf_prim_acquire(&m.s, sizeof m.s, &h->md, make_prim, &m, &e2);
            if (p2) {   /* use it now: the shape's goes back */
                mmf_prim_release(entry, prim);
                prim = p2, entry = e2;
            }
        }
    }
    const int scalar = own || m.s.uid != 0;
    dnnl_stream_t st = mmf_dnnl_stream();
    if (!prim || !st) {
        mmf_prim_release(entry, prim);
        return -1;
    }
    dnnl_engine_t eng = mmf_dnnl_engine();
    dnnl_memory_desc_t src, dst, vec, one, sone;
    dnnl_memory_t ms = NULL, mw = NULL, md = NULL, mz = NULL, mb = NULL, msc = NULL;
    dnnl_dims_t d1 = {1};
    int ok = !md2(&src, rows, K, dnnl_u8, dnnl_ab) && !md2(&dst, rows, N, token ? dnnl_s32 : dnnl_f32, dnnl_ab) &&
             !md2(&vec, 1, N, dnnl_f32, dnnl_ab) && !md2(&sone, 1, 1, dnnl_f32, dnnl_ab) &&
             dnnl_memory_desc_init_by_tag(&one, 1, d1, dnnl_s32, dnnl_a) == dnnl_success &&
             dnnl_memory_create(&ms, &src, eng, a) == dnnl_success &&
             dnnl_memory_create(&mw, &h->md, eng, (char *)Wp + h->off) == dnnl_success &&
             dnnl_memory_create(&md, &dst, eng, token ? (void *)c : (void *)y) == dnnl_success &&
             dnnl_memory_create(&mz, &one, eng, &zp) == dnnl_success &&
             (token || (dnnl_memory_create(&mb, &vec, eng, bb) == dnnl_success &&
                        dnnl_memory_create(&msc, scalar ? &sone : &vec, eng, scalar ? (void *)&s : (void *)sc) == dnnl_success));
    if (ok) {
        dnnl_exec_arg_t args[6] = {{DNNL_ARG_SRC, ms}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, md},
                                   {DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, mz}, {DNNL_ARG_BIAS, mb},
                                   {DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, msc}};
        ok = dnnl_primitive_execute(prim, st, token ? 4 : 6, args) == dnnl_success && dnnl_stream_wait(st) == dnnl_success;
    }
    dnnl_memory_t all[6] = {ms, mw, md, mz, mb, msc};
    for (int i = 0; i < 6; i++)
        if (all[i]) dnnl_memory_destroy(all[i]);
    mmf_prim_release(entry, prim);
    if (ok && token) dequant_rows(y, c, rs, ws, bias, rows, N, accumulate, act, nt);
    return ok ? 0 : -1;
}
