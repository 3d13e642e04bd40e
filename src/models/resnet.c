/* ResNet (Hugging Face ResNetModel semantics, transformers modeling_resnet.py).
 * Names: embedder.embedder.{convolution,normalization}.*,
 *        encoder.stages.S.layers.L.layer.J.{convolution,normalization}.*,
 *        encoder.stages.S.layers.L.shortcut.{convolution,normalization}.*
 * optionally under "resnet." (ResNetForImageClassification checkpoints).
 * Convolutions have no bias; each BatchNorm (eps 1e-5) is folded into its
 * convolution at load. Activations are NHWC: a convolution is im2col (rows =
 * output pixels, K = KH*KW*C) + one GEMM against W reordered to (OC,KH,KW,C);
 * bias, residual and ReLU are fused in one pass.
 *
 * bf16 precision (mmf_resnet_use_bf16, opt-in): the whole pass is one oneDNN
 * net (core/dnnl_net.h) in the layout the kernels choose, activations bf16
 * between convolutions, weights rounded to bf16 in the kernels' layout once,
 * fp32 accumulation, bias / ReLU / residual sum as post-ops, max pooling a
 * oneDNN pooling, fp32 only at the output (MMFUSE_RESNET_PLAIN=1: the
 * per-convolution path below, bf16 convolutions between fp32 activations).
 * ResNet-50 batch 16, 1 thread, CPU time on a shared Zen 5: 407-416 ms, against
 * 474-537 ms per convolution and 770 ms fp32. A net oneDNN refuses runs the
 * per-convolution path.
 * fp32 (mmf_resnet_use_dnnl, the default): where oneDNN has fp32 Winograd
 * kernels (avx512_core), the same net in fp32 with activations nChw16c and
 * every 3x3 stride-1 convolution (about half the multiply-adds) a Winograd
 * convolution, direct where refused. Without them (ONEDNN_MAX_CPU_ISA=AVX2),
 * or MMFUSE_RESNET_PLAIN=1: each k x k or strided convolution
 * is a oneDNN direct convolution on the NHWC activations with the bias, the residual (a
 * sum post-op onto the output, which is filled with it first) and the ReLU
 * fused; im2col + GEMM stays as the path when oneDNN refuses a shape.
 * MMFUSE_SGEMM_ONLY=1 keeps im2col + GEMM, for comparisons.
 *
 * int8 precision (mmf_resnet_use_int8): every convolution after the stem reads
 * a ReLU output, quantised per tensor to u8 for a oneDNN u8 x s8 convolution
 * (core/conv_dnnl.h; weights per output channel), bias, residual and ReLU in
 * fp32 after it. The stem (normalised pixels, negative too) runs as the fp32
 * oneDNN convolution; it, and any shape oneDNN refuses, fall back to im2col +
 * an int8 GEMM (core/gemm_int8.h: each row quantised per pixel). ResNet-50 batch 16, 1 thread, CPU time: 520-527 ms
 * with the convolutions, 638-690 ms with int8 GEMMs only (MMFUSE_SGEMM_ONLY=1). */
#include "models/resnet.h"
#include "core/arena.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/gemm_bf16.h"   /* mmf_bf16_convert, mmf_bf16_gemm_supported */
#include "core/gemm_int8.h"
#include "core/conv_dnnl.h"
#include "core/dnnl_net.h"
#include "core/tensor.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct conv_bn {
    int ic, oc, k, stride, pad;
    float *w;   /* (OC, K, K, IC), BN folded */
    float *b;   /* (OC) */
    void *wq;       /* int8 precision: w quantised per output channel (core/gemm_int8.h), else NULL */
    mmf_dconv *dc;  /* fp32: the oneDNN convolution (core/conv_dnnl.h), else NULL */
    mmf_dconv *db;  /* bf16: the oneDNN bf16 convolution, else NULL */
    mmf_dconv *dq;  /* int8: the oneDNN u8 x s8 convolution (inputs that are ReLU outputs), else NULL */
} conv_bn;

typedef struct rn_block {
    conv_bn c[3];
    int nconv;     /* 2 basic, 3 bottleneck */
    int has_sc;
    conv_bn sc;
} rn_block;

struct mmf_resnet {
    mmf_hf_config cfg;
    conv_bn stem;
    rn_block *blocks;
    int nblocks;
    int out_c;
    /* The workspace: one arena per handle, carved by mmf_resnet_reserve from
     * the size table of the planned input shape (never shared, never grown
     * inside a forward). */
    mmf_arena ws;
    int ws_B, ws_H, ws_W;   /* the shape it was planned for (0: none yet) */
    float *buf[5];     /* fp32 activations */
    float *scratch;    /* fp32 im2col */
    size_t scratch_cap;
    void *qscratch;    /* int8: quantised rows + int32 sums, or a u8 input; bf16: the input in bf16 */
    size_t qscratch_cap;
    /* fp32 (1) / bf16 (2): the whole pass as one blocked oneDNN net (core/dnnl_net.h),
     * made per (batch, threads) of the planned image size; 0: the per-convolution path */
    int net_mode;
    int net_wino;   /* fp32 net: Winograd 3x3 stride-1 convolutions where oneDNN has them */
    struct { mmf_dnet *net; int B, nt, failed; } nets[2];
    int net_next;
};

#define BN_EPS 1e-5f

static mmf_status load_conv_bn(const mmf_safetensors *st, const char *pre, const char *prefix, int ic, int oc,
                               int k, int stride, conv_bn *c) {
    char name[256];
    c->ic = ic; c->oc = oc; c->k = k; c->stride = stride; c->pad = k / 2;
    size_t per = (size_t)ic * k * k;
    float *w = malloc(sizeof(float) * per * oc), *bn = malloc(sizeof(float) * 4 * oc);
    c->w = malloc(sizeof(float) * per * oc);
    c->b = malloc(sizeof(float) * oc);
    mmf_status s = MMF_OK;
    if (!w || !bn || !c->w || !c->b) { s = mmf_fail(MMF_ERR_NOMEM, "resnet: out of memory"); goto done; }
    snprintf(name, sizeof name, "%s%sconvolution.weight", pre, prefix);
    const mmf_tensor_info *t = mmf_st_find(st, name);
    if (!t) { s = mmf_fail(MMF_ERR_NOT_FOUND, "%s: tensor \"%s\" is missing", mmf_st_path(st), name); goto done; }
    if (t->ndim != 4 || t->shape[0] != oc || t->shape[1] != ic || t->shape[2] != k || t->shape[3] != k) {
        s = mmf_fail(MMF_ERR_SHAPE, "%s: tensor \"%s\" has shape [%lld, %lld, %lld, %lld], config implies [%d, %d, %d, %d]",
                     mmf_st_path(st), name, (long long)t->shape[0], (long long)(t->ndim > 1 ? t->shape[1] : 0),
                     (long long)(t->ndim > 2 ? t->shape[2] : 0), (long long)(t->ndim > 3 ? t->shape[3] : 0), oc, ic, k, k);
        goto done;
    }
    if ((s = mmf_st_read_f32(st, name, w, per * oc))) goto done;
    static const char *bn_names[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "%s%snormalization.%s", pre, prefix, bn_names[i]);
        if ((s = mmf_st_read_f32(st, name, bn + (size_t)i * oc, (size_t)oc))) {
            if (!mmf_st_find(st, name)) s = mmf_fail(MMF_ERR_NOT_FOUND, "%s: tensor \"%s\" is missing", mmf_st_path(st), name);
            goto done;
        }
    }
    for (int i = 0; i < oc; i++)
        if (!(bn[3 * oc + i] >= 0.0f)) { s = mmf_fail(MMF_ERR_FORMAT, "%s: %s has a negative or NaN running_var", mmf_st_path(st), name); goto done; }
    mmf_batchnorm_fold(w, c->b, NULL, oc, (int64_t)per, bn + 2 * oc, bn + 3 * oc, bn, bn + oc, BN_EPS);
    /* (OC, IC, K, K) -> (OC, K, K, IC) */
    for (int o = 0; o < oc; o++)
        for (int ci = 0; ci < ic; ci++)
            for (int kk = 0; kk < k * k; kk++)
                c->w[(size_t)o * per + (size_t)kk * ic + ci] = w[(size_t)o * per + (size_t)ci * k * k + kk];
done:
    free(w);
    free(bn);
    return s;
}

static void drop_nets(mmf_resnet *m) {
    for (int i = 0; i < 2; i++) {
        mmf_dnet_free(m->nets[i].net);
        m->nets[i].net = NULL;
        m->nets[i].B = 0;
    }
}

static void free_conv(conv_bn *c) {
    mmf_dconv_free(c->dc);
    mmf_dconv_free(c->dq);
    mmf_dconv_free(c->db);
    free(c->w); free(c->b); free(c->wq);
    c->w = c->b = NULL; c->wq = NULL; c->dc = NULL; c->dq = NULL; c->db = NULL;
}

void mmf_resnet_free(mmf_resnet *m) {
    if (!m) return;
    free_conv(&m->stem);
    for (int i = 0; i < m->nblocks; i++) {
        for (int j = 0; j < m->blocks[i].nconv; j++) free_conv(&m->blocks[i].c[j]);
        if (m->blocks[i].has_sc) free_conv(&m->blocks[i].sc);
    }
    free(m->blocks);
    drop_nets(m);
    mmf_arena_free(&m->ws);
    free(m);
}

int mmf_resnet_out_dim(const mmf_resnet *m) { return m->out_c; }

mmf_status mmf_resnet_load(const char *dir, mmf_resnet **out) {
    *out = NULL;
    mmf_resnet *m = calloc(1, sizeof *m);
    if (!m) return mmf_fail(MMF_ERR_NOMEM, "resnet: out of memory");
    mmf_status s = mmf_hf_config_load(dir, &m->cfg);
    if (s) { free(m); return s; }
    if (strcmp(m->cfg.model_type, "resnet")) {
        s = mmf_fail(MMF_ERR_UNSUPPORTED, "%s: model_type \"%s\" is not resnet", dir, m->cfg.model_type);
        free(m);
        return s;
    }
    if (m->cfg.tf.act != MMF_ACT_RELU) { free(m); return mmf_fail(MMF_ERR_UNSUPPORTED, "%s/config.json: hidden_act must be relu", dir); }
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    mmf_safetensors *st;
    if ((s = mmf_st_open(path, &st))) {
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
        mmf_status s2 = mmf_st_open(path, &st);
        if (s2) { free(m); return s; }
    }
    const char *pre = mmf_st_find(st, "resnet.embedder.embedder.convolution.weight") ? "resnet." : "";
    const mmf_hf_config *c = &m->cfg;
    int total = 0;
    for (int i = 0; i < c->n_stages; i++) total += (int)c->depths[i];
    m->blocks = calloc((size_t)total, sizeof *m->blocks);
    if (!m->blocks) { s = mmf_fail(MMF_ERR_NOMEM, "resnet: out of memory"); goto fail; }
    if ((s = load_conv_bn(st, pre, "embedder.embedder.", (int)c->tf.num_channels, (int)c->embedding_size, 7, 2, &m->stem))) goto fail;
    int in_c = (int)c->embedding_size;
    for (int st_i = 0; st_i < c->n_stages; st_i++) {
        int oc = (int)c->hidden_sizes[st_i];
        int stride0 = st_i == 0 ? (c->downsample_in_first_stage ? 2 : 1) : 2;
        for (int l = 0; l < c->depths[st_i]; l++) {
            rn_block *b = &m->blocks[m->nblocks++];
            int ic = l == 0 ? in_c : oc, stride = l == 0 ? stride0 : 1;
            char p[160];
            b->has_sc = ic != oc || stride != 1;
            if (b->has_sc) {
                snprintf(p, sizeof p, "encoder.stages.%d.layers.%d.shortcut.", st_i, l);
                if ((s = load_conv_bn(st, pre, p, ic, oc, 1, stride, &b->sc))) goto fail;
            }
            if (c->bottleneck) {
                int r = oc / 4;
                if (r < 1) { s = mmf_fail(MMF_ERR_FORMAT, "%s: hidden_sizes[%d] = %d is too small for a bottleneck (reduction 4)", dir, st_i, oc); goto fail; }
                /* newer configs may move the stride to the first 1x1 (downsample_in_bottleneck) */
                int s1 = c->downsample_in_bottleneck ? stride : 1, s2 = c->downsample_in_bottleneck ? 1 : stride;
                int dims[3][4] = {{ic, r, 1, s1}, {r, r, 3, s2}, {r, oc, 1, 1}};
                b->nconv = 3;
                for (int j = 0; j < 3; j++) {
                    snprintf(p, sizeof p, "encoder.stages.%d.layers.%d.layer.%d.", st_i, l, j);
                    if ((s = load_conv_bn(st, pre, p, dims[j][0], dims[j][1], dims[j][2], dims[j][3], &b->c[j]))) goto fail;
                }
            } else {
                b->nconv = 2;
                snprintf(p, sizeof p, "encoder.stages.%d.layers.%d.layer.0.", st_i, l);
                if ((s = load_conv_bn(st, pre, p, ic, oc, 3, stride, &b->c[0]))) goto fail;
                snprintf(p, sizeof p, "encoder.stages.%d.layers.%d.layer.1.", st_i, l);
                if ((s = load_conv_bn(st, pre, p, oc, oc, 3, 1, &b->c[1]))) goto fail;
            }
        }
        in_c = oc;
    }
    m->out_c = in_c;
    mmf_st_close(st);
    *out = m;
    return MMF_OK;
fail:
    mmf_st_close(st);
    mmf_resnet_free(m);
    return s;
}

static mmf_status bf16_conv(conv_bn *c) {
    if (!(c->db = mmf_dconv_new_bf16(c->w, c->b, c->ic, c->oc, c->k, c->stride, c->pad)))
        return mmf_fail(MMF_ERR_NOMEM, "resnet: cannot set up the oneDNN bf16 convolutions");
    return MMF_OK;
}

mmf_status mmf_resnet_use_bf16(mmf_resnet *m, const char *dir) {
    if (m->stem.db) return MMF_OK;
    if (!mmf_bf16_gemm_supported())
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: bf16 precision needs a CPU with AVX512-BF16; this one has none (use fp32)", dir);
    if (!mmf_dconv_bf16_supported())
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: bf16 precision needs oneDNN's AVX512-BF16 convolutions, but the engine runs %s "
                        "here (is ONEDNN_MAX_CPU_ISA set?); use fp32", dir, mmf_engine_isa_name());
    mmf_status s = bf16_conv(&m->stem);
    for (int i = 0; !s && i < m->nblocks; i++) {
        rn_block *b = &m->blocks[i];
        for (int j = 0; !s && j < b->nconv; j++) s = bf16_conv(&b->c[j]);
        if (!s && b->has_sc) s = bf16_conv(&b->sc);
    }
    if (!s && !getenv("MMFUSE_RESNET_PLAIN")) m->net_mode = 2;
    drop_nets(m);
    return s;   /* the fp32 weights stay: the path when oneDNN refuses a shape */
}

static mmf_status direct_conv(conv_bn *c);

static mmf_status quantise_conv(conv_bn *c, int direct) {
    int K = c->k * c->k * c->ic;
    if (!(c->wq = malloc(mmf_int8_packed_bytes(c->oc, K)))) return mmf_fail(MMF_ERR_NOMEM, "resnet: cannot allocate the int8 weights");
    mmf_int8_pack(c->wq, c->w, c->oc, K);
    if (direct && !getenv("MMFUSE_SGEMM_ONLY") && !(c->dq = mmf_dconv_new_u8(c->w, c->b, c->ic, c->oc, c->k, c->stride, c->pad)))
        return mmf_fail(MMF_ERR_NOMEM, "resnet: cannot set up the oneDNN int8 convolutions");
    return MMF_OK;
}

/* the int8 scratch the size table reserved, or NULL when a need exceeds it
 * (a planning bug: the caller then takes the fp32 path) */
static void *qscratch_for(mmf_resnet *m, size_t need) { return need <= m->qscratch_cap ? m->qscratch : NULL; }

mmf_status mmf_resnet_use_int8(mmf_resnet *m, const char *dir) {
    if (!mmf_int8_supported())
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: int8 precision needs VNNI (AVX512-VNNI or AVX-VNNI); the engine runs %s here "
                        "(use fp32 or bf16)", dir, mmf_engine_isa_name());
    /* the stem sees normalised pixels (negative too): per-row int8 GEMM; every
     * later convolution reads a ReLU output, quantised per tensor to u8 for a
     * oneDNN int8 convolution, with the int8 GEMM as its fallback */
    mmf_status s = quantise_conv(&m->stem, 0);
    /* ... and the stem itself runs as the fp32 oneDNN convolution, its int8
     * GEMM kept for a shape oneDNN refuses: im2col of 147-value rows (3
     * channels: a 12-byte copy per tap) and per-row quantisation cost more
     * than the int8 products saved. ResNet-50 b16, 1 thread, CPU time, shared
     * Zen 5 (load 3.9-4.4): 321-347 ms against 354-392 ms. MMFUSE_SGEMM_ONLY=1
     * keeps the int8 GEMM. */
    if (!s && !getenv("MMFUSE_SGEMM_ONLY")) s = direct_conv(&m->stem);
    for (int i = 0; !s && i < m->nblocks; i++) {
        rn_block *b = &m->blocks[i];
        for (int j = 0; !s && j < b->nconv; j++) s = quantise_conv(&b->c[j], 1);
        if (!s && b->has_sc) s = quantise_conv(&b->sc, 1);
    }
    m->ws_H = 0;   /* planned again: the int8 scratch joins the workspace */
    m->net_mode = 0;
    drop_nets(m);
    return s;   /* the fp32 weights stay: the path when the engine refuses a GEMM */
}

/* 1x1 stride-1 convolutions stay one GEMM over the NHWC rows: oneDNN's 1x1
 * kernel on plain NHWC measured no faster (ResNet-50 batch 16, 1 thread, CPU
 * time: 614-632 ms with them as GEMMs, 644-658 ms as oneDNN convolutions, 725-733
 * ms with every convolution as im2col + GEMM). */
static mmf_status direct_conv(conv_bn *c) {
    if ((c->k == 1 && c->stride == 1) || c->dc) return MMF_OK;
    if (!(c->dc = mmf_dconv_new(c->w, c->b, c->ic, c->oc, c->k, c->stride, c->pad)))
        return mmf_fail(MMF_ERR_NOMEM, "resnet: cannot set up the oneDNN convolutions");
    return MMF_OK;
}

mmf_status mmf_resnet_use_dnnl(mmf_resnet *m) {
    mmf_status s = direct_conv(&m->stem);
    for (int i = 0; !s && i < m->nblocks; i++) {
        rn_block *b = &m->blocks[i];
        for (int j = 0; !s && j < b->nconv; j++) s = direct_conv(&b->c[j]);
        if (!s && b->has_sc) s = direct_conv(&b->sc);
    }
    /* fp32 runs the net with Winograd 3x3 convolutions where oneDNN has them:
     * ResNet-50 b16, 1 thread, CPU time, shared Zen 5: 608-704 ms against
     * 730-790 ms per convolution. The net with direct convolutions only
     * (MMFUSE_RESNET_WINO=0, layouts oneDNN's choice: NHWC brgconv) measured
     * no faster than the per-convolution path (817-877 vs 770 ms, 696-787 vs
     * 702-858 ms), so without Winograd (AVX2) it runs only when asked
     * (MMFUSE_RESNET_NET=1). MMFUSE_RESNET_PLAIN=1: the per-convolution path. */
    m->net_wino = !getenv("MMFUSE_RESNET_WINO") || strcmp(getenv("MMFUSE_RESNET_WINO"), "0");
    if (!s && !m->net_mode && !getenv("MMFUSE_RESNET_PLAIN") &&
        ((m->net_wino && mmf_dnet_winograd_supported()) || getenv("MMFUSE_RESNET_NET")))
        m->net_mode = 1;
    drop_nets(m);
    return s;
}

/* y (rows, OC) = x (rows, K) W^T: int8 when the convolution has quantised weights and the engine takes it */
static void conv_gemm(mmf_resnet *m, const conv_bn *c, const float *x, int64_t rows, int K, float *y, int nt) {
    if (c->wq) {
        void *q = qscratch_for(m, mmf_int8_scratch_bytes(rows, K, c->oc));
        if (q && !mmf_int8_linear(y, x, c->wq, NULL, rows, K, c->oc, 0, q, nt)) return;
    }
    mmf_gemm(0, 1, (int)rows, c->oc, K, 1.0f, x, K, c->w, K, 0.0f, y, c->oc, nt);
}

static void out_hw(const conv_bn *c, int H, int W, int *oh, int *ow) {
    *oh = (H + 2 * c->pad - c->k) / c->stride + 1;
    *ow = (W + 2 * c->pad - c->k) / c->stride + 1;
}

void mmf_resnet_out_hw(const mmf_resnet *m, int H, int W, int *oh, int *ow) {
    int h, w;
    out_hw(&m->stem, H, W, &h, &w);
    h = (h + 2 - 3) / 2 + 1;
    w = (w + 2 - 3) / 2 + 1;
    for (int i = 0; i < m->nblocks; i++) {
        const rn_block *b = &m->blocks[i];
        for (int j = 0; j < b->nconv; j++) out_hw(&b->c[j], h, w, &h, &w);
    }
    *oh = h;
    *ow = w;
}

/* rows (nb*OH*OW, K*K*IC) from nb NHWC images */
static void im2col_nhwc(float *cols, const float *in, int nb, int H, int W, int IC, int k, int stride, int pad,
                        int OH, int OW, int nt) {
    int64_t rows = (int64_t)nb * OH * OW;
    size_t K = (size_t)k * k * IC;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t r = 0; r < rows; r++) {
        int n = (int)(r / ((int64_t)OH * OW)), p = (int)(r % ((int64_t)OH * OW));
        int oh = p / OW, ow = p % OW;
        float *d = cols + (size_t)r * K;
        for (int kh = 0; kh < k; kh++) {
            int ih = oh * stride - pad + kh;
            for (int kw = 0; kw < k; kw++, d += IC) {
                int iw = ow * stride - pad + kw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) memset(d, 0, sizeof(float) * (size_t)IC);
                else memcpy(d, in + (((size_t)n * H + ih) * W + iw) * IC, sizeof(float) * (size_t)IC);
            }
        }
    }
}

/* out (B*OH*OW, OC) = relu?(conv(in) + bias (+ residual)) */
static void conv_fwd(mmf_resnet *m, const conv_bn *c, const float *in, int B, int H, int W, float *out,
                     const float *residual, int relu, int nt) {
    int OH, OW;
    out_hw(c, H, W, &OH, &OW);
    int K = c->k * c->k * c->ic;
    if (c->dc) {   /* oneDNN direct convolution, bias / residual / ReLU fused */
        if (residual && residual != out) memcpy(out, residual, sizeof(float) * (size_t)B * OH * OW * c->oc);
        if (!mmf_dconv_run(c->dc, in, B, H, W, out, residual != NULL, relu, nt)) return;
    }
    if (c->db) {   /* the same in bf16, on the input rounded to bf16 */
        const int64_t n = (int64_t)B * H * W;
        const int64_t total = n * c->ic, piece = 4096, full = total / piece, tail = total % piece;
        uint16_t *q = qscratch_for(m, (size_t)(total + 1) * sizeof(uint16_t));   /* + the converter's pad */
        if (q) {
            /* as even-length rows: the converter pads odd rows, which would land on the next pixel */
            mmf_bf16_convert(q, piece, in, piece, full, (int)piece, nt);
            if (tail) mmf_bf16_convert(q + full * piece, tail + 1, in + full * piece, tail, 1, (int)tail, 1);
            if (residual && residual != out) memcpy(out, residual, sizeof(float) * (size_t)B * OH * OW * c->oc);
            if (!mmf_dconv_run_bf16(c->db, q, B, H, W, out, residual != NULL, relu, nt)) return;
        }
    }
    if (c->dq) {   /* the same in int8, on the input quantised per tensor */
        const int64_t n = (int64_t)B * H * W * c->ic;
        uint8_t *q = qscratch_for(m, (size_t)n);
        float sc;
        if (q && residual != out && !mmf_quant_u8(q, in, n, &sc, nt) &&
            !mmf_dconv_run_u8(c->dq, q, sc, B, H, W, out, residual, relu, nt))
            return;
    }
    if (c->k == 1 && c->stride == 1) {
        conv_gemm(m, c, in, (int64_t)B * H * W, c->ic, out, nt);
    } else {
        size_t per = (size_t)OH * OW * K;
        int chunk = (int)(m->scratch_cap / per);
        if (chunk < 1) chunk = 1;
        for (int n0 = 0; n0 < B; n0 += chunk) {
            int nb = B - n0 < chunk ? B - n0 : chunk;
            im2col_nhwc(m->scratch, in + (size_t)n0 * H * W * c->ic, nb, H, W, c->ic, c->k, c->stride, c->pad, OH, OW, nt);
            conv_gemm(m, c, m->scratch, (int64_t)nb * OH * OW, K, out + (size_t)n0 * OH * OW * c->oc, nt);
        }
    }
    int64_t rows = (int64_t)B * OH * OW;
    int OC = c->oc;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t r = 0; r < rows; r++) {
        float *o = out + r * OC;
        const float *res = residual ? residual + r * OC : NULL;
        for (int j = 0; j < OC; j++) {
            float v = o[j] + c->b[j];
            if (res) v += res[j];
            o[j] = relu && v < 0.0f ? 0.0f : v;
        }
    }
}

/* 3x3 stride-2 pad-1 max pool, NHWC */
static void maxpool_nhwc(float *out, const float *in, int B, int H, int W, int C, int OH, int OW, int nt) {
    int64_t rows = (int64_t)B * OH * OW;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t r = 0; r < rows; r++) {
        int n = (int)(r / ((int64_t)OH * OW)), p = (int)(r % ((int64_t)OH * OW)), oh = p / OW, ow = p % OW;
        float *o = out + r * C;
        for (int j = 0; j < C; j++) o[j] = -INFINITY;
        for (int i = 0; i < 3; i++) {
            int ih = oh * 2 - 1 + i;
            if (ih < 0 || ih >= H) continue;
            for (int k = 0; k < 3; k++) {
                int iw = ow * 2 - 1 + k;
                if (iw < 0 || iw >= W) continue;
                const float *s = in + (((size_t)n * H + ih) * W + iw) * C;
                for (int j = 0; j < C; j++) if (s[j] > o[j] || isnan(s[j])) o[j] = s[j];
            }
        }
    }
}

/* The size table of one pass at B x H x W (element counts): the largest
 * activation, the largest per-image im2col (rows of K) and the low-precision
 * scratch (bytes: the int8 GEMM's quantised rows for B images at once, an
 * upper bound of every chunk; a u8 or bf16 copy of a oneDNN int8 or bf16
 * convolution's input). */
typedef struct rn_sizes { size_t act, cols1, qbytes; } rn_sizes;

static void plan(const mmf_resnet *m, int B, int H, int W, rn_sizes *z) {
    size_t a = (size_t)B * H * W * m->stem.ic, c1 = 0, q = 0;
    int h, w;
#define ACC(c, hh, ww) do { int oh_, ow_; out_hw(c, hh, ww, &oh_, &ow_); \
        size_t o_ = (size_t)B * oh_ * ow_ * (c)->oc; if (o_ > a) a = o_; \
        size_t k_ = (size_t)oh_ * ow_ * (c)->k * (c)->k * (c)->ic; if (k_ > c1) c1 = k_; \
        if ((c)->wq) { size_t q_ = mmf_int8_scratch_bytes((int64_t)B * oh_ * ow_, (c)->k * (c)->k * (c)->ic, (c)->oc); \
                       if (q_ > q) q = q_; } \
        if ((c)->dq) { size_t u_ = (size_t)B * (hh) * (ww) * (c)->ic; if (u_ > q) q = u_; } \
        if ((c)->db) { size_t u_ = ((size_t)B * (hh) * (ww) * (c)->ic + 1) * sizeof(uint16_t); if (u_ > q) q = u_; } } while (0)
    ACC(&m->stem, H, W);
    out_hw(&m->stem, H, W, &h, &w);
    h = (h + 2 - 3) / 2 + 1;
    w = (w + 2 - 3) / 2 + 1;
    for (int i = 0; i < m->nblocks; i++) {
        const rn_block *b = &m->blocks[i];
        if (b->has_sc) ACC(&b->sc, h, w);
        for (int j = 0; j < b->nconv; j++) { ACC(&b->c[j], h, w); out_hw(&b->c[j], h, w, &h, &w); }
    }
#undef ACC
    z->act = a;
    z->cols1 = c1;
    z->qbytes = q;
}

mmf_status mmf_resnet_reserve(mmf_resnet *m, int B, int H, int W) {
    if (B < 1 || H < 8 || W < 8 || H > 8192 || W > 8192)
        return mmf_fail(MMF_ERR_SHAPE, "resnet: input %d x 3 x %d x %d is out of range", B, H, W);
    rn_sizes z;
    plan(m, B, H, W, &z);
    /* im2col: at least one image, up to 8M values to batch the small late stages */
    const size_t batch_cols = (size_t)8 << 20;
    size_t cols = z.cols1 > batch_cols ? z.cols1 : batch_cols;
    size_t bytes = 5 * mmf_arena_need(z.act * sizeof(float)) + mmf_arena_need(z.qbytes);
    bytes += mmf_arena_need(cols * sizeof(float));
    mmf_arena_free(&m->ws);
    drop_nets(m);
    m->ws_B = m->ws_H = m->ws_W = 0;
    mmf_status s = mmf_arena_init(&m->ws, bytes);
    if (s) return mmf_fail_wrap(s, "resnet: workspace for %d images of %d x %d", B, H, W);
    for (int i = 0; i < 5; i++) m->buf[i] = mmf_arena_floats(&m->ws, z.act);
    m->qscratch = z.qbytes ? mmf_arena_alloc(&m->ws, z.qbytes) : NULL;
    m->qscratch_cap = z.qbytes;
    m->scratch = mmf_arena_floats(&m->ws, cols);
    m->scratch_cap = cols;
    m->ws_B = B; m->ws_H = H; m->ws_W = W;
    return MMF_OK;
}

static mmf_status forward_planned(mmf_resnet *m, const float *pixels, int B, int H, int W, float *pooled, float *last_hidden,
                                  int nt);

mmf_status mmf_resnet_forward(mmf_resnet *m, const float *pixels, int B, int H, int W,
                              float *pooled, float *last_hidden, int nt) {
    if (B < 1 || H < 8 || W < 8 || H > 8192 || W > 8192)
        return mmf_fail(MMF_ERR_SHAPE, "resnet: input %d x 3 x %d x %d is out of range", B, H, W);
    mmf_status s = MMF_OK;
    /* another image size is planned afresh; more images than planned run in
     * chunks of the planned batch (images are independent) */
    if (H != m->ws_H || W != m->ws_W) s = mmf_resnet_reserve(m, B, H, W);
    int oh, ow;
    mmf_resnet_out_hw(m, H, W, &oh, &ow);
    size_t px = (size_t)3 * H * W, hid = (size_t)m->out_c * oh * ow;
    for (int n0 = 0; !s && n0 < B; n0 += m->ws_B) {
        int nb = B - n0 < m->ws_B ? B - n0 : m->ws_B;
        s = forward_planned(m, pixels + (size_t)n0 * px, nb, H, W, pooled ? pooled + (size_t)n0 * m->out_c : NULL,
                            last_hidden ? last_hidden + (size_t)n0 * hid : NULL, nt);
    }
    return s;
}

/* The whole pass as one oneDNN net in slots X, S (the block input and the
 * shortcut, swapping roles), T1, T2 (inside a block): the stem writes T1, the
 * max pool X; a bottleneck reads X, the shortcut writes S, the last
 * convolution adds onto the shortcut (S) or onto the block input (X) itself. */
static mmf_dnet *build_net(const mmf_resnet *m, int B, int H, int W, int nt) {
    enum { X, S, T1, T2 };
    mmf_dnet *n = mmf_dnet_new(m->net_mode == 2, nt);
    if (!n) return NULL;
    if (m->net_mode == 1 && m->net_wino) (void)mmf_dnet_use_winograd(n);   /* -1: direct convolutions */
    const conv_bn *c = &m->stem;
    int t = mmf_dnet_input(n, B, c->ic, H, W, T2);
    t = mmf_dnet_conv(n, t, c->w, c->b, c->oc, c->k, c->stride, c->pad, 1, T1, -1);
    t = mmf_dnet_maxpool(n, t, 3, 2, 1, X);
    int xs = X, ss = S;
    for (int i = 0; i < m->nblocks && t >= 0; i++) {
        const rn_block *b = &m->blocks[i];
        int res = t, a = t;
        if (b->has_sc) res = mmf_dnet_conv(n, t, b->sc.w, b->sc.b, b->sc.oc, 1, b->sc.stride, 0, 0, ss, -1);
        for (int j = 0; j < b->nconv; j++) {
            c = &b->c[j];
            const int last = j == b->nconv - 1;
            a = mmf_dnet_conv(n, a, c->w, c->b, c->oc, c->k, c->stride, c->pad, 1, j % 2 ? T2 : T1, last ? res : -1);
        }
        if (b->has_sc) { int q = xs; xs = ss; ss = q; }
        t = a;
    }
    (void)xs;
    if (t < 0 || mmf_dnet_output(n, t) || mmf_dnet_ready(n)) {
        mmf_dnet_free(n);
        return NULL;
    }
    return n;
}

/* the net for B images on nt threads (made on first use, two kept), or NULL */
static mmf_dnet *net_for(mmf_resnet *m, int B, int H, int W, int nt) {
    for (int i = 0; i < 2; i++)
        if (m->nets[i].B == B && m->nets[i].nt == nt) return m->nets[i].failed ? NULL : m->nets[i].net;
    int i = m->net_next;
    m->net_next ^= 1;
    mmf_dnet_free(m->nets[i].net);
    m->nets[i].net = build_net(m, B, H, W, nt);
    m->nets[i].B = B;
    m->nets[i].nt = nt;
    m->nets[i].failed = !m->nets[i].net;
    return m->nets[i].net;
}

int mmf_resnet_winograd_convs(const mmf_resnet *m) {
    int w = 0;
    for (int i = 0; i < 2; i++) {
        int c = mmf_dnet_winograd_convs(m->nets[i].net);
        if (c > w) w = c;
    }
    return w;
}

/* One pass over B <= ws_B images of the planned H x W, in the workspace. */
static mmf_status forward_planned(mmf_resnet *m, const float *pixels, int B, int H, int W, float *pooled, float *last_hidden,
                                  int nt) {
    mmf_threads_use(nt);
    float *x = m->buf[0], *t1 = m->buf[1], *t2 = m->buf[2], *t3 = m->buf[3], *sc = m->buf[4];
    int C0 = m->stem.ic;
    int h, w;
    mmf_dnet *net = m->net_mode ? net_for(m, B, H, W, nt) : NULL;
    /* the net writes NCHW: last_hidden itself, or x (the largest activation's room) */
    float *out = last_hidden ? last_hidden : x;
    if (net && !mmf_dnet_run(net, pixels, out)) {
        int d[4];
        mmf_dnet_out_dims(net, d);
        const size_t hw = (size_t)d[2] * d[3];
        if (pooled)
            for (size_t r = 0; r < (size_t)B * d[1]; r++) {
                const float *src = out + r * hw;
                float s = 0.0f;
                for (size_t p = 0; p < hw; p++) s += src[p];
                pooled[r] = s / (float)hw;
            }
        return MMF_OK;
    }
    /* NCHW -> NHWC */
    for (int n = 0; n < B; n++)
        for (int c = 0; c < C0; c++)
            for (int p = 0; p < H * W; p++) x[((size_t)n * H * W + p) * C0 + c] = pixels[((size_t)n * C0 + c) * H * W + p];
    conv_fwd(m, &m->stem, x, B, H, W, t1, NULL, 1, nt);
    out_hw(&m->stem, H, W, &h, &w);
    int ph = (h + 2 - 3) / 2 + 1, pw = (w + 2 - 3) / 2 + 1;
    maxpool_nhwc(x, t1, B, h, w, m->stem.oc, ph, pw, nt);
    h = ph; w = pw;
    for (int i = 0; i < m->nblocks; i++) {
        const rn_block *b = &m->blocks[i];
        const float *res = x;
        if (b->has_sc) { conv_fwd(m, &b->sc, x, B, h, w, sc, NULL, 0, nt); res = sc; }
        int h1, w1, h2, w2;
        out_hw(&b->c[0], h, w, &h1, &w1);
        if (b->nconv == 3) {
            conv_fwd(m, &b->c[0], x, B, h, w, t1, NULL, 1, nt);
            out_hw(&b->c[1], h1, w1, &h2, &w2);
            conv_fwd(m, &b->c[1], t1, B, h1, w1, t2, NULL, 1, nt);
            conv_fwd(m, &b->c[2], t2, B, h2, w2, t3, res, 1, nt);
            out_hw(&b->c[2], h2, w2, &h, &w);
        } else {
            conv_fwd(m, &b->c[0], x, B, h, w, t1, NULL, 1, nt);
            conv_fwd(m, &b->c[1], t1, B, h1, w1, t3, res, 1, nt);
            out_hw(&b->c[1], h1, w1, &h, &w);
        }
        float *tmp = x; x = t3; t3 = tmp;
    }
    int C = m->out_c;
    size_t hw = (size_t)h * w;
    for (int n = 0; n < B; n++) {
        const float *src = x + (size_t)n * hw * C;
        if (pooled) {
            for (int c = 0; c < C; c++) {
                float s = 0.0f;
                for (size_t p = 0; p < hw; p++) s += src[p * C + c];
                pooled[(size_t)n * C + c] = s / (float)hw;
            }
        }
        if (last_hidden)
            for (int c = 0; c < C; c++)
                for (size_t p = 0; p < hw; p++) last_hidden[((size_t)n * C + c) * hw + p] = src[p * C + c];
    }
    /* the swap may have moved buffers around: keep the handle's pointers consistent */
    m->buf[0] = x; m->buf[3] = t3;
    return MMF_OK;
}

/* ------------------------------------------------ the encoder family */
#include "models/encoder.h"


static mmf_status resnet_enc_load(mmf_encoder *e) {
    mmf_resnet *m;
    mmf_status s = mmf_image_processor_load(e->dir, &e->proc);
    if (s) return s;
    if ((s = mmf_resnet_load(e->dir, &m))) return s;
    e->impl = m;
    /* auto asked for bf16 because the CPU has it; a capped engine cannot run it: fp32 then */
    if (e->params.precision == MMF_PRECISION_BF16 && e->precision_auto && !mmf_dconv_bf16_supported())
        e->params.precision = MMF_PRECISION_F32;
    if (e->params.precision == MMF_PRECISION_BF16) MMF_TRY(mmf_resnet_use_bf16(m, e->dir));
    else if (e->params.precision == MMF_PRECISION_INT8) MMF_TRY(mmf_resnet_use_int8(m, e->dir));
    else if (e->params.precision == MMF_PRECISION_F32 && !getenv("MMFUSE_SGEMM_ONLY")) MMF_TRY(mmf_resnet_use_dnnl(m));
    else if (e->params.precision != MMF_PRECISION_F32)
        return mmf_fail(MMF_ERR_ARG, "mmf_encoder_load: unknown precision %d", (int)e->params.precision);
    /* the workspace for a full batch of the processor's images, carved now */
    int c, h, w;
    mmf_image_processor_size(e->proc, &c, &h, &w);
    MMF_TRY(mmf_resnet_reserve(m, e->params.max_batch > 0 ? e->params.max_batch : 1, h, w));
    e->dim = e->token_dim = m->out_c;
    e->def_pool = MMF_POOL_MEAN;
    e->def_norm = 0;
    return MMF_OK;
}

static void resnet_enc_free(mmf_encoder *e) {
    mmf_resnet_free(e->impl);
    e->impl = NULL;
}

static mmf_status resnet_image_forward(mmf_encoder *e, const float *pixels, int B, mmf_pooling pool, float *out) {
    if (pool != MMF_POOL_MEAN && pool != MMF_POOL_POOLER)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "ResNet embeddings are the pooled features (pooling \"mean\"/\"pooler\"/default), not \"%s\"",
                        mmf_pooling_name(pool));
    int c, h, w;
    mmf_image_processor_size(e->proc, &c, &h, &w);
    return mmf_resnet_forward(e->impl, pixels, B, h, w, out, NULL, e->params.n_threads);
}

const mmf_encoder_ops mmf_resnet_ops = {
    .model_type = "resnet",
    .family = "ResNet (ResNetModel, batchnorm folded into the convolutions)",
    .load = resnet_enc_load,
    .free_impl = resnet_enc_free,
    .image_forward = resnet_image_forward,
};
