/* "mmfuse_cnn": inference for the from-scratch CNN image tower that
 * `mmfuse train-encoder --modality image` writes (src/direct/cnn.c).
 * config.json: image_size, num_channels, channels [C_0..C_{S-1}], batch_norm_eps.
 * Per stage: conv3x3 pad 1 (batchnorm folded in at load) -> ReLU -> maxpool 2x2
 * (not after the last stage); the embedding is the global average pool.
 * fp32 batches run one image per thread (small images make GEMMs too small to
 * split). bf16 and int8 run the batch in chunks of images in NHWC instead, one
 * GEMM per stage over the chunk's im2col rows (pixels x 9*C_in, weights
 * reordered to (out, kh, kw, in) at load): core/gemm_bf16.h, or
 * core/gemm_int8.h with each row quantised per pixel (the first stage's input,
 * normalised pixels, is signed, so the per-row symmetric scheme fits every
 * stage), weights packed once at load. Batching makes those GEMMs big enough
 * for the kernels; per image they would be a few hundred rows. */
#include "models/encoder.h"
#include "core/error.h"
#include "core/gemm_bf16.h"
#include "core/gemm_int8.h"
#include "core/ops.h"
#include "core/tensor.h"
#include "io/json.h"
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXS 8

typedef struct cnn_inf {
    int S, in_c, n_stages, ch[MAXS];
    float eps;
    float *w[MAXS], *b[MAXS];   /* folded conv weights and biases */
    int64_t act_max, col_max;   /* floats per image: largest activation, largest im2col */
    float *buf;                 /* per thread: 2 activations + columns (e->nt_sized threads) */
    /* bf16 / int8 (prec != F32): the chunked NHWC path */
    int prec;                   /* MMF_PRECISION_F32, _BF16 or _INT8 */
    float *wr[MAXS];            /* folded weights reordered (C, 3, 3, in): the int8 fallback's fp32 GEMM */
    uint16_t *wb[MAXS];         /* bf16: wr packed (core/gemm_bf16.h) */
    void *wq[MAXS];             /* int8: wr quantised per output channel (core/gemm_int8.h) */
    int chunk;                  /* images per chunk */
    float *lbuf;                /* chunk x (2 activations + columns; bf16: its columns in bf16) */
    uint16_t *lact;             /* bf16: the chunk's input activation rounded to bf16 */
    void *lscratch;             /* the kernels' scratch for the largest stage, 64-byte aligned */
} cnn_inf;


static mmf_status read_config(const char *dir, cnn_inf *m) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    cJSON *o;
    MMF_TRY(mmf_json_load(path, &o));
    int64_t v;
    double d;
    mmf_status s = mmf_json_int_req(o, "image_size", 8, 4096, path, &v);
    m->S = (int)v;
    if (!s) { s = mmf_json_int(o, "num_channels", 3, 3, 3, path, &v); m->in_c = (int)v; }
    if (!s) { s = mmf_json_num(o, "batch_norm_eps", 1e-5, path, &d); m->eps = (float)d; }
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(o, "channels");
    if (!s && (!cJSON_IsArray(ch) || cJSON_GetArraySize(ch) < 1 || cJSON_GetArraySize(ch) > MAXS))
        s = mmf_fail(MMF_ERR_FORMAT, "%s: field \"channels\" should be an array of 1..%d channel counts", path, MAXS);
    for (int i = 0; !s && i < cJSON_GetArraySize(ch); i++) {
        const cJSON *e = cJSON_GetArrayItem(ch, i);
        if (!cJSON_IsNumber(e) || e->valuedouble < 1 || e->valuedouble > 4096 || e->valuedouble != (int)e->valuedouble)
            s = mmf_fail(MMF_ERR_FORMAT, "%s: field \"channels\"[%d] should be an integer in [1, 4096]", path, i);
        else m->ch[m->n_stages++] = (int)e->valuedouble;
    }
    if (!s && !(m->eps > 0)) s = mmf_fail(MMF_ERR_FORMAT, "%s: field \"batch_norm_eps\" should be > 0", path);
    if (!s && (m->S >> (m->n_stages - 1)) < 1)
        s = mmf_fail(MMF_ERR_FORMAT, "%s: image_size %d is too small for %d stages", path, m->S, m->n_stages);
    cJSON_Delete(o);
    return s;
}

static mmf_status read_tensor(mmf_safetensors *st, const char *dir, const char *name, int ndim, const int64_t *shape, float *dst) {
    const mmf_tensor_info *t = mmf_st_find(st, name);
    if (!t) return mmf_fail(MMF_ERR_NOT_FOUND, "%s: tensor \"%s\" is missing from model.safetensors", dir, name);
    int ok = t->ndim == ndim;
    int64_t n = 1;
    for (int i = 0; ok && i < ndim; i++) { ok = t->shape[i] == shape[i]; n *= shape[i]; }
    if (!ok) {
        char got[96], want[96];
        return mmf_fail(MMF_ERR_SHAPE, "%s: tensor \"%s\" has shape %s, config.json implies %s", dir, name,
                        mmf_shape_str(t->ndim, t->shape, got, sizeof got), mmf_shape_str(ndim, shape, want, sizeof want));
    }
    return mmf_st_read_f32(st, name, dst, (size_t)n);
}

static void cnn_free_impl(mmf_encoder *e) {
    cnn_inf *m = e->impl;
    if (!m) return;
    for (int i = 0; i < m->n_stages; i++) { free(m->w[i]); free(m->b[i]); free(m->wr[i]); free(m->wb[i]); free(m->wq[i]); }
    free(m->buf);
    free(m->lbuf);
    free(m->lact);
    free(m->lscratch);
    free(m);
    e->impl = NULL;
}

static mmf_status cnn_size(mmf_encoder *e, int nt) {
    cnn_inf *m = e->impl;
    free(m->buf);
    m->buf = malloc((size_t)nt * (size_t)(2 * m->act_max + m->col_max) * sizeof(float));
    if (!m->buf) return mmf_fail(MMF_ERR_NOMEM, "mmfuse_cnn: out of memory for activations");
    return MMF_OK;
}


/* The ISA checks the other families make (transformer.c, resnet.c), with their
 * messages: int8 needs VNNI in the engine, bf16 AVX512-BF16 in the CPU (the
 * bf16 kernels are ours, not oneDNN's). auto already resolved to bf16 only
 * where bf16 pays on this core, which implies the CPU has it. */
static mmf_status use_precision(mmf_encoder *e, cnn_inf *m) {
    m->prec = e->params.precision;
    if (m->prec == MMF_PRECISION_F32) return MMF_OK;
    if (m->prec == MMF_PRECISION_INT8 && !mmf_int8_supported())
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: int8 precision needs VNNI (AVX512-VNNI or AVX-VNNI); the engine runs %s here "
                        "(use fp32 or bf16)", e->dir, mmf_engine_isa_name());
    if (m->prec == MMF_PRECISION_BF16 && !mmf_bf16_gemm_supported())
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: bf16 precision needs a CPU with AVX512-BF16; this one has none (use fp32)", e->dir);
    if (m->prec != MMF_PRECISION_INT8 && m->prec != MMF_PRECISION_BF16)
        return mmf_fail(MMF_ERR_ARG, "mmf_encoder_load: unknown precision %d", (int)m->prec);
    int prev = m->in_c, side = m->S;
    size_t scr = 64;
    for (int i = 0; i < m->n_stages; i++) {
        int C = m->ch[i], K = 9 * prev;
        if (!(m->wr[i] = malloc(sizeof(float) * (size_t)C * K))) return mmf_fail(MMF_ERR_NOMEM, "mmfuse_cnn: out of memory");
        for (int o = 0; o < C; o++)   /* (C, in, 3, 3) -> (C, 3, 3, in): NHWC im2col rows */
            for (int c = 0; c < prev; c++)
                for (int k = 0; k < 9; k++) m->wr[i][(size_t)o * K + k * prev + c] = m->w[i][((size_t)o * prev + c) * 9 + k];
        if (m->prec == MMF_PRECISION_INT8) {
            if (!(m->wq[i] = malloc(mmf_int8_packed_bytes(C, K)))) return mmf_fail(MMF_ERR_NOMEM, "%s: cannot allocate the int8 weights", e->dir);
            mmf_int8_pack(m->wq[i], m->wr[i], C, K);
        } else {
            if (!(m->wb[i] = malloc(sizeof(uint16_t) * mmf_bf16_packed_size(C, K))))
                return mmf_fail(MMF_ERR_NOMEM, "%s: cannot allocate the bf16 weights", e->dir);
            mmf_bf16_pack(m->wb[i], m->wr[i], C, K);
        }
        if (i < m->n_stages - 1) side /= 2;
        prev = C;
    }
    /* a chunk: at most 4M floats of columns (16 MB), at most the batch */
    int64_t per = 2 * m->act_max + m->col_max, ch = ((int64_t)4 << 20) / (m->col_max > 0 ? m->col_max : 1);
    int mb = e->params.max_batch > 0 ? e->params.max_batch : 1;
    m->chunk = (int)(ch < 1 ? 1 : ch > mb ? mb : ch);
    prev = m->in_c, side = m->S;
    for (int i = 0; i < m->n_stages; i++) {
        int64_t rows = (int64_t)m->chunk * side * side;
        size_t b = m->prec == MMF_PRECISION_INT8 ? mmf_int8_scratch_bytes(rows, 9 * prev, m->ch[i])
                                                 : mmf_bf16_scratch_bytes(rows, 9 * prev);
        if (b + 64 > scr) scr = b + 64;
        if (i < m->n_stages - 1) side /= 2;
        prev = m->ch[i];
    }
    /* + 16 rows of slack: bf16 columns padded to even K (kpad(9 C) <= 9 C + 1 per
     * row, inside 2 x col_max uint16), the GEMM's 12-row tiles past the last row */
    m->lbuf = malloc(sizeof(float) * ((size_t)m->chunk * (size_t)per + 16 * (size_t)(9 * 4096 + 2)));
    m->lscratch = malloc(scr);
    if (m->prec == MMF_PRECISION_BF16) m->lact = malloc(sizeof(uint16_t) * ((size_t)m->chunk * (size_t)m->act_max + 2));
    if (!m->lbuf || !m->lscratch || (m->prec == MMF_PRECISION_BF16 && !m->lact))
        return mmf_fail(MMF_ERR_NOMEM, "mmfuse_cnn: out of memory for activations");
    return MMF_OK;
}

static mmf_status cnn_load(mmf_encoder *e) {
    cnn_inf *m = calloc(1, sizeof *m);
    if (!m) return mmf_fail(MMF_ERR_NOMEM, "mmfuse_cnn: out of memory");
    e->impl = m;
    MMF_TRY(read_config(e->dir, m));
    MMF_TRY(mmf_image_processor_load(e->dir, &e->proc));
    int c, h, w;
    mmf_image_processor_size(e->proc, &c, &h, &w);
    if (h != m->S || w != m->S)
        return mmf_fail(MMF_ERR_FORMAT, "%s/preprocessor_config.json: gives %dx%d images, config.json says image_size %d", e->dir, w, h, m->S);
    mmf_safetensors *st;
    MMF_TRY(mmf_open_checkpoint(e->dir, &st));
    mmf_status s = MMF_OK;
    int prev = m->in_c, side = m->S;
    float *gm = malloc(4 * 4096 * sizeof(float));
    if (!gm) s = mmf_fail(MMF_ERR_NOMEM, "mmfuse_cnn: out of memory");
    for (int i = 0; !s && i < m->n_stages; i++) {
        int C = m->ch[i];
        char nm[96];
        int64_t ws[4] = {C, prev, 3, 3}, cs[1] = {C};
        m->w[i] = malloc((size_t)C * prev * 9 * sizeof(float));
        m->b[i] = malloc((size_t)C * sizeof(float));
        if (!m->w[i] || !m->b[i]) { s = mmf_fail(MMF_ERR_NOMEM, "mmfuse_cnn: out of memory"); break; }
        snprintf(nm, sizeof nm, "stages.%d.conv.weight", i);
        s = read_tensor(st, e->dir, nm, 4, ws, m->w[i]);
        const char *bn[4] = {"weight", "bias", "running_mean", "running_var"};
        for (int k = 0; k < 4 && !s; k++) {
            snprintf(nm, sizeof nm, "stages.%d.bn.%s", i, bn[k]);
            s = read_tensor(st, e->dir, nm, 1, cs, gm + k * 4096);
        }
        if (!s) mmf_batchnorm_fold(m->w[i], m->b[i], NULL, C, (int64_t)prev * 9, gm + 2 * 4096, gm + 3 * 4096, gm, gm + 4096, m->eps);
        int64_t act = (int64_t)C * side * side, col = (int64_t)prev * 9 * side * side;
        if (act > m->act_max) m->act_max = act;
        if (col > m->col_max) m->col_max = col;
        if ((int64_t)prev * side * side > m->act_max) m->act_max = (int64_t)prev * side * side;
        if (i < m->n_stages - 1) side /= 2;
        prev = C;
    }
    free(gm);
    mmf_st_close(st);
    if (s) return s;
    MMF_TRY(use_precision(e, m));
    e->dim = e->token_dim = m->ch[m->n_stages - 1];
    e->def_pool = MMF_POOL_MEAN;
    e->def_norm = 0;
    return MMF_OK;
}

/* one image (C,S,S) -> out (C_last) with thread-local buffers */
static void forward_one(const cnn_inf *m, const float *img, float *out, float *buf) {
    float *a = buf, *b = buf + m->act_max, *col = buf + 2 * m->act_max;
    int side = m->S, prev = m->in_c;
    const float *x = img;
    for (int i = 0; i < m->n_stages; i++) {
        int C = m->ch[i];
        mmf_conv2d(a, x, m->w[i], m->b[i], 1, prev, side, side, C, 3, 3, 1, 1, col, 1);
        int64_t n = (int64_t)C * side * side;
        for (int64_t k = 0; k < n; k++) a[k] = a[k] > 0.0f ? a[k] : 0.0f;
        if (i < m->n_stages - 1) {
            mmf_maxpool2d(b, a, 1, C, side, side, 2, 2, 0, 1);
            side /= 2;
            x = b;   /* the next conv reads b and writes a */
        } else {
            mmf_global_avgpool(out, a, 1, C, (int64_t)side * side, 1);
        }
        prev = C;
    }
}


/* rows (nb*H*W, 9*C) of 3x3 pad-1 windows over nb NHWC images, each (kh, kw, c) */
static void im2col3_nhwc(float *cols, const float *in, int nb, int H, int W, int C, int nt) {
    int64_t rows = (int64_t)nb * H * W;
    size_t K = (size_t)9 * C;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && rows * (int64_t)K >= 65536)
    for (int64_t r = 0; r < rows; r++) {
        int n = (int)(r / ((int64_t)H * W)), p = (int)(r % ((int64_t)H * W)), oh = p / W, ow = p % W;
        float *d = cols + (size_t)r * K;
        for (int kh = 0; kh < 3; kh++) {
            int ih = oh - 1 + kh;
            for (int kw = 0; kw < 3; kw++, d += C) {
                int iw = ow - 1 + kw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) memset(d, 0, sizeof(float) * (size_t)C);
                else memcpy(d, in + (((size_t)n * H + ih) * W + iw) * C, sizeof(float) * (size_t)C);
            }
        }
    }
}

/* The same windows in bf16 from the activation rounded once (9x fewer
 * conversions than rounding the columns), rows of kpad(9 C), the pad zero */
static void im2col3_nhwc_bf16(uint16_t *cols, const uint16_t *in, int nb, int H, int W, int C, int nt) {
    int64_t rows = (int64_t)nb * H * W;
    size_t K = (size_t)9 * C, Kp = (size_t)mmf_bf16_kpad((int)K);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && rows * (int64_t)K >= 65536)
    for (int64_t r = 0; r < rows; r++) {
        int n = (int)(r / ((int64_t)H * W)), p = (int)(r % ((int64_t)H * W)), oh = p / W, ow = p % W;
        uint16_t *d = cols + (size_t)r * Kp;
        for (int kh = 0; kh < 3; kh++) {
            int ih = oh - 1 + kh;
            for (int kw = 0; kw < 3; kw++, d += C) {
                int iw = ow - 1 + kw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) memset(d, 0, sizeof(uint16_t) * (size_t)C);
                else memcpy(d, in + (((size_t)n * H + ih) * W + iw) * C, sizeof(uint16_t) * (size_t)C);
            }
        }
        if (Kp > K) *d = 0;
    }
}

/* n fp32 values -> bf16, as even-length rows (the converter pads an odd row,
 * which here would land on the next pixel) */
static void to_bf16_flat(uint16_t *dst, const float *src, int64_t n, int nt) {
    const int64_t piece = 4096, full = n / piece, tail = n % piece;
    mmf_bf16_convert(dst, piece, src, piece, full, (int)piece, nt);
    if (tail) mmf_bf16_convert(dst + full * piece, tail + 1, src + full * piece, tail, 1, (int)tail, 1);
}

/* 2x2 stride-2 max pool (floor), NHWC, as mmf_maxpool2d: a NaN wins */
static void maxpool2_nhwc(float *out, const float *in, int nb, int H, int W, int C, int nt) {
    int OH = H / 2, OW = W / 2;
    int64_t rows = (int64_t)nb * OH * OW;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && rows * C >= 65536)
    for (int64_t r = 0; r < rows; r++) {
        int n = (int)(r / ((int64_t)OH * OW)), p = (int)(r % ((int64_t)OH * OW)), oh = p / OW, ow = p % OW;
        const float *s0 = in + (((size_t)n * H + 2 * oh) * W + 2 * ow) * C, *s1 = s0 + (size_t)W * C;
        float *o = out + (size_t)r * C;
        for (int c = 0; c < C; c++) {
            float v = s0[c];
            if (s0[C + c] > v || isnan(s0[C + c])) v = s0[C + c];
            if (s1[c] > v || isnan(s1[c])) v = s1[c];
            if (s1[C + c] > v || isnan(s1[C + c])) v = s1[C + c];
            o[c] = v;
        }
    }
}

/* y (rows, C) = relu(x (rows, K) W^T + b) in the chosen precision; the int8
 * kernel's refusal (engine) falls back to the fp32 GEMM on the same weights */
static void stage_gemm(const cnn_inf *m, int i, const float *x, int64_t rows, int K, float *y, int nt) {
    int C = m->ch[i];
    int done = 0;
    if (m->wq[i]) done = !mmf_int8_linear(y, x, m->wq[i], m->b[i], rows, K, C, 0, m->lscratch, nt);
    else if (m->wb[i]) { mmf_bf16_linear(y, x, m->wb[i], m->b[i], rows, K, C, 0, m->lscratch, nt); done = 1; }
    if (!done) {
        mmf_gemm(0, 1, (int)rows, C, K, 1.0f, x, K, m->wr[i], K, 0.0f, y, C, nt);
        for (int64_t r = 0; r < rows; r++)
            for (int j = 0; j < C; j++) y[r * C + j] += m->b[i][j];
    }
    int64_t n = rows * C;
#pragma omp parallel for simd num_threads(nt) schedule(static) if (parallel : nt > 1 && n >= 65536)
    for (int64_t k = 0; k < n; k++) y[k] = y[k] > 0.0f ? y[k] : 0.0f;
}

/* nb <= m->chunk images (nb, C, S, S) -> out (nb, C_last), bf16 / int8 */
static void forward_chunk(const cnn_inf *m, const float *px, int nb, float *out, int nt) {
    float *a = m->lbuf, *b = a + (size_t)nb * m->act_max, *col = a + (size_t)nb * 2 * m->act_max;
    int side = m->S, prev = m->in_c;
    int64_t hw = (int64_t)side * side;
    for (int n = 0; n < nb; n++)   /* NCHW -> NHWC into b */
        for (int c = 0; c < prev; c++)
            for (int64_t p = 0; p < hw; p++) b[((size_t)n * hw + p) * prev + c] = px[((size_t)n * prev + c) * hw + p];
    for (int i = 0; i < m->n_stages; i++) {
        int C = m->ch[i];
        int64_t rows = (int64_t)nb * side * side;
        if (m->wb[i]) {   /* bf16: columns in bf16, bias and ReLU in the GEMM's epilogue */
            uint16_t *cb = (uint16_t *)col;
            to_bf16_flat(m->lact, b, rows * prev, nt);
            im2col3_nhwc_bf16(cb, m->lact, nb, side, side, prev, nt);
            mmf_gemm_epi ep = {.bias = m->b[i], .relu = 1, .y = a, .ldy = C};
            mmf_bf16_gemm(cb, mmf_bf16_kpad(9 * prev), m->wb[i], rows, 9 * prev, C, &ep, nt);
        } else {
            im2col3_nhwc(col, b, nb, side, side, prev, nt);
            stage_gemm(m, i, col, rows, 9 * prev, a, nt);
        }
        if (i < m->n_stages - 1) {
            maxpool2_nhwc(b, a, nb, side, side, C, nt);
            side /= 2;
        } else {
            int64_t sp = (int64_t)side * side;
            for (int n = 0; n < nb; n++) {
                float *o = out + (size_t)n * C;
                for (int j = 0; j < C; j++) o[j] = 0.0f;
                for (int64_t p = 0; p < sp; p++)
                    for (int j = 0; j < C; j++) o[j] += a[((size_t)n * sp + p) * C + j];
                for (int j = 0; j < C; j++) o[j] /= (float)sp;
            }
        }
        prev = C;
    }
}

static mmf_status cnn_image_forward(mmf_encoder *e, const float *pixels, int B, mmf_pooling pool, float *out) {
    if (pool != MMF_POOL_MEAN && pool != MMF_POOL_POOLER)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "mmfuse_cnn embeddings are the global average pool (pooling \"mean\"/default), not \"%s\"",
                        mmf_pooling_name(pool));
    cnn_inf *m = e->impl;
    if (m->prec != MMF_PRECISION_F32) {
        for (int b0 = 0; b0 < B; b0 += m->chunk) {
            int nb = B - b0 < m->chunk ? B - b0 : m->chunk;
            forward_chunk(m, pixels + (size_t)b0 * m->in_c * m->S * m->S, nb, out + (size_t)b0 * e->dim, e->params.n_threads);
        }
        return MMF_OK;
    }
    int nt = e->params.n_threads < e->nt_sized ? e->params.n_threads : e->nt_sized;
    if (nt > B) nt = B;
    if (nt < 1) nt = 1;
    int64_t per = (int64_t)m->in_c * m->S * m->S, stride = 2 * m->act_max + m->col_max;
    mmf_threads_use(1);
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int b = 0; b < B; b++)
        forward_one(m, pixels + (int64_t)b * per, out + (int64_t)b * e->dim, m->buf + (size_t)omp_get_thread_num() * stride);
    mmf_threads_use(e->params.n_threads);
    return MMF_OK;
}

const mmf_encoder_ops mmf_mmfuse_cnn_ops = {
    .model_type = "mmfuse_cnn",
    .family = "mmfuse CNN image tower (trained from scratch, docs/direct.md)",
    .load = cnn_load,
    .free_impl = cnn_free_impl,
    .size = cnn_size,
    .image_forward = cnn_image_forward,
};
