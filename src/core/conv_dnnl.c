#include "core/conv_dnnl.h"
#include "core/dnnl_ctx.h"
#include "core/ops.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DC_SLOTS 6

typedef struct dc_slot {
    int B, H, W, nt, acc, relu;
    dnnl_primitive_t prim;
    void *w;          /* weights in this primitive's layout (owned, or shared: see w_owner) */
    int w_owner;
    dnnl_memory_desc_t wmd;
    void *scratch;
} dc_slot;

struct mmf_dconv {
    const float *w, *bias;
    int ic, oc, k, stride, pad, failed, n;
    /* u8 x s8 convolutions: weights quantised per output channel (OC, K, K, IC), their scales */
    int u8, bf16;
    int8_t *wq;
    float *wscale;
    dc_slot slot[DC_SLOTS];
};

mmf_dconv *mmf_dconv_new(const float *w, const float *bias, int ic, int oc, int k, int stride, int pad) {
    if (!mmf_dnnl_engine()) return NULL;
    mmf_dconv *c = calloc(1, sizeof *c);
    if (c) *c = (mmf_dconv){.w = w, .bias = bias, .ic = ic, .oc = oc, .k = k, .stride = stride, .pad = pad};
    return c;
}

mmf_dconv *mmf_dconv_new_u8(const float *w, const float *bias, int ic, int oc, int k, int stride, int pad) {
    mmf_dconv *c = mmf_dconv_new(w, bias, ic, oc, k, stride, pad);
    if (!c) return NULL;
    const size_t K = (size_t)k * k * ic;
    c->u8 = 1;
    c->wq = malloc((size_t)oc * K);
    c->wscale = malloc((size_t)oc * sizeof(float));
    if (!c->wq || !c->wscale) {
        mmf_dconv_free(c);
        return NULL;
    }
    for (int o = 0; o < oc; o++) {   /* symmetric per output channel, as mmf_int8_pack */
        const float *wo = w + (size_t)o * K;
        float amax = 0.0f;
        for (size_t i = 0; i < K; i++) amax = fabsf(wo[i]) > amax ? fabsf(wo[i]) : amax;
        float sc = amax > 0.0f ? amax / 127.0f : 1.0f, inv = 1.0f / sc;
        c->wscale[o] = sc;
        for (size_t i = 0; i < K; i++) {
            float v = nearbyintf(wo[i] * inv);
            c->wq[(size_t)o * K + i] = (int8_t)(v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v);
        }
    }
    return c;
}

void mmf_dconv_free(mmf_dconv *c) {
    if (!c) return;
    free(c->wq);
    free(c->wscale);
    for (int i = 0; i < c->n; i++) {
        dnnl_primitive_destroy(c->slot[i].prim);
        if (c->slot[i].w_owner) free(c->slot[i].w);
        free(c->slot[i].scratch);
    }
    free(c);
}

#define CK(x) do { if ((x) != dnnl_success) goto fail; } while (0)

static dc_slot *make_slot(mmf_dconv *c, int B, int H, int W, int acc, int relu, int nt) {
    dnnl_engine_t eng = mmf_dnnl_engine();
    dnnl_stream_t st = mmf_dnnl_stream();
    if (!eng || !st) return NULL;
    int OH = (H + 2 * c->pad - c->k) / c->stride + 1, OW = (W + 2 * c->pad - c->k) / c->stride + 1;
    dc_slot sl = {.B = B, .H = H, .W = W, .nt = nt, .acc = acc, .relu = relu};
    dnnl_memory_desc_t src, dst, wany, wplain, bmd;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    const dnnl_data_type_t sdt = c->u8 ? dnnl_u8 : c->bf16 ? dnnl_bf16 : dnnl_f32,
                           wdt = c->u8 ? dnnl_s8 : c->bf16 ? dnnl_bf16 : dnnl_f32;
    CK(dnnl_memory_desc_init_by_tag(&src, 4, (dnnl_dims_t){B, c->ic, H, W}, sdt, dnnl_nhwc));
    CK(dnnl_memory_desc_init_by_tag(&dst, 4, (dnnl_dims_t){B, c->oc, OH, OW}, dnnl_f32, dnnl_nhwc));
    CK(dnnl_memory_desc_init_by_tag(&wany, 4, (dnnl_dims_t){c->oc, c->ic, c->k, c->k}, wdt, dnnl_format_tag_any));
    CK(dnnl_memory_desc_init_by_tag(&wplain, 4, (dnnl_dims_t){c->oc, c->ic, c->k, c->k}, c->u8 ? dnnl_s8 : dnnl_f32, dnnl_ohwi));
    CK(dnnl_memory_desc_init_by_tag(&bmd, 1, (dnnl_dims_t){c->oc}, dnnl_f32, dnnl_a));
    CK(dnnl_primitive_attr_create(&attr));
    CK(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
    /* u8: the weights' per-channel scales; the input's scale, the bias, the residual
     * and the ReLU follow in one pass (oneDNN 2.6's int8 convolutions take no
     * output scales given at run time, and the input scale is per call) */
    if (c->u8) CK(dnnl_primitive_attr_set_output_scales(attr, c->oc, 1 << 1, c->wscale));
    CK(dnnl_post_ops_create(&po));
    if (acc && !c->u8) CK(dnnl_post_ops_append_sum(po, 1.0f));            /* + residual (already in dst) */
    if (relu && !c->u8) CK(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f));   /* then ReLU */
    CK(dnnl_primitive_attr_set_post_ops(attr, po));
    dnnl_convolution_desc_t cd;
    CK(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &src, &wany,
                                          c->bias && !c->u8 ? &bmd : NULL, &dst, (dnnl_dims_t){c->stride, c->stride},
                                          (dnnl_dims_t){c->pad, c->pad}, (dnnl_dims_t){c->pad, c->pad}));
    mmf_threads_use(nt);   /* the primitive is laid out for the threads it is made with */
    CK(dnnl_primitive_desc_create(&pd, &cd, attr, eng, NULL));
    sl.wmd = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t sbytes = smd ? dnnl_memory_desc_get_size(smd) : 0;
    if (sbytes && !(sl.scratch = malloc(sbytes))) goto fail;
    for (int i = 0; i < c->n && !sl.w; i++)   /* another slot may hold the weights in this layout already */
        if (dnnl_memory_desc_equal(&c->slot[i].wmd, &sl.wmd)) sl.w = c->slot[i].w;
    if (!sl.w) {
        if (!(sl.w = malloc(dnnl_memory_desc_get_size(&sl.wmd)))) goto fail;
        sl.w_owner = 1;
        if (mmf_dnnl_reorder(&wplain, c->u8 ? (const void *)c->wq : (const void *)c->w, &sl.wmd, sl.w)) goto fail;
    }
    CK(dnnl_primitive_create(&sl.prim, pd));
    dnnl_primitive_desc_destroy(pd);
    dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    c->slot[c->n] = sl;
    return &c->slot[c->n++];
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (sl.w_owner) free(sl.w);
    free(sl.scratch);
    return NULL;
}

/* out = relu?(in_scale * out + bias [+ residual]) over the primitive's output
 * (weight scale x int32 sums) */
static void u8_epilogue(const mmf_dconv *c, float *out, int64_t rows, float in_scale, const float *res, int relu, int nt) {
    const int OC = c->oc;
    const float *bias = c->bias;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && rows * OC >= 65536)
    for (int64_t r = 0; r < rows; r++) {
        float *o = out + r * OC;
        const float *rr = res ? res + r * OC : NULL;
#pragma omp simd
        for (int j = 0; j < OC; j++) {
            float v = o[j] * in_scale + (bias ? bias[j] : 0.0f) + (rr ? rr[j] : 0.0f);
            o[j] = relu && v < 0.0f ? 0.0f : v;
        }
    }
}

static int run(mmf_dconv *c, const void *in, float in_scale, int B, int H, int W, float *out, int accumulate,
               const float *res, int relu, int nt) {
    if (nt < 1) nt = 1;
    if (c->failed) return -1;
    dc_slot *sl = NULL;
    for (int i = 0; i < c->n && !sl; i++) {
        dc_slot *s = &c->slot[i];
        if (s->B == B && s->H == H && s->W == W && s->nt == nt && s->acc == !!accumulate && s->relu == !!relu) sl = s;
    }
    if (!sl) {
        if (c->n == DC_SLOTS) return -1;   /* more shapes than slots: the GEMM path */
        if (!(sl = make_slot(c, B, H, W, !!accumulate, !!relu, nt))) { c->failed = 1; return -1; }
    }
    dnnl_engine_t eng = mmf_dnnl_engine();
    dnnl_stream_t st = mmf_dnnl_stream();
    if (!st) return -1;
    mmf_threads_use(nt);
    const_dnnl_primitive_desc_t pd;
    if (dnnl_primitive_get_primitive_desc(sl->prim, &pd) != dnnl_success) return -1;
    int OH = (H + 2 * c->pad - c->k) / c->stride + 1, OW = (W + 2 * c->pad - c->k) / c->stride + 1;
    dnnl_memory_desc_t src, dst, bmd;
    dnnl_memory_t ms = NULL, md = NULL, mw = NULL, mb = NULL, mscr = NULL;
    int rc = -1, na = 0;
    dnnl_exec_arg_t args[5];
    CK(dnnl_memory_desc_init_by_tag(&src, 4, (dnnl_dims_t){B, c->ic, H, W}, c->u8 ? dnnl_u8 : c->bf16 ? dnnl_bf16 : dnnl_f32,
                                    dnnl_nhwc));
    CK(dnnl_memory_desc_init_by_tag(&dst, 4, (dnnl_dims_t){B, c->oc, OH, OW}, dnnl_f32, dnnl_nhwc));
    CK(dnnl_memory_create(&ms, &src, eng, (void *)in));
    CK(dnnl_memory_create(&md, &dst, eng, out));
    CK(dnnl_memory_create(&mw, &sl->wmd, eng, sl->w));
    args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, ms};
    args[na++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, mw};
    args[na++] = (dnnl_exec_arg_t){DNNL_ARG_DST, md};
    if (c->bias && !c->u8) {
        CK(dnnl_memory_desc_init_by_tag(&bmd, 1, (dnnl_dims_t){c->oc}, dnnl_f32, dnnl_a));
        CK(dnnl_memory_create(&mb, &bmd, eng, (void *)c->bias));
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, mb};
    }
    if (sl->scratch) {
        CK(dnnl_memory_create(&mscr, dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0), eng, sl->scratch));
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, mscr};
    }
    CK(dnnl_primitive_execute(sl->prim, st, na, args));
    CK(dnnl_stream_wait(st));
    if (c->u8) u8_epilogue(c, out, (int64_t)B * OH * OW, in_scale, res, relu, nt);
    rc = 0;
fail:
    if (ms) dnnl_memory_destroy(ms);
    if (md) dnnl_memory_destroy(md);
    if (mw) dnnl_memory_destroy(mw);
    if (mb) dnnl_memory_destroy(mb);
    if (mscr) dnnl_memory_destroy(mscr);
    return rc;
}

int mmf_dconv_run(mmf_dconv *c, const float *in, int B, int H, int W, float *out, int accumulate, int relu, int nt) {
    return c->u8 || c->bf16 ? -1 : run(c, in, 1.0f, B, H, W, out, accumulate, NULL, relu, nt);
}

int mmf_dconv_bf16_supported(void) {
    const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();   /* ISA values are nested bit sets */
    return (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
}

mmf_dconv *mmf_dconv_new_bf16(const float *w, const float *bias, int ic, int oc, int k, int stride, int pad) {
    mmf_dconv *c = mmf_dconv_new(w, bias, ic, oc, k, stride, pad);
    if (c) c->bf16 = 1;
    return c;
}

int mmf_dconv_run_bf16(mmf_dconv *c, const uint16_t *in, int B, int H, int W, float *out, int accumulate, int relu, int nt) {
    return c->bf16 ? run(c, in, 1.0f, B, H, W, out, accumulate, NULL, relu, nt) : -1;
}

int mmf_dconv_run_u8(mmf_dconv *c, const uint8_t *in, float in_scale, int B, int H, int W, float *out,
                     const float *residual, int relu, int nt) {
    return c->u8 ? run(c, in, in_scale, B, H, W, out, 0, residual, relu, nt) : -1;
}
