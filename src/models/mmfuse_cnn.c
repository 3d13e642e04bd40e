/* "mmfuse_cnn": inference for the from-scratch CNN image tower that
 * `mmfuse train-encoder --modality image` writes (src/direct/cnn.c).
 * config.json: image_size, num_channels, channels [C_0..C_{S-1}], batch_norm_eps.
 * Per stage: conv3x3 pad 1 (batchnorm folded in at load) -> ReLU -> maxpool 2x2
 * (not after the last stage); the embedding is the global average pool.
 * Batches run one image per thread (small images make GEMMs too small to split). */
#include "models/encoder.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/tensor.h"
#include "io/json.h"
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
    for (int i = 0; i < m->n_stages; i++) { free(m->w[i]); free(m->b[i]); }
    free(m->buf);
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

static mmf_status cnn_load(mmf_encoder *e) {
    cnn_inf *m = calloc(1, sizeof *m);
    if (!m) return mmf_fail(MMF_ERR_NOMEM, "mmfuse_cnn: out of memory");
    e->impl = m;
    /* The from-scratch CNN is small; it has no bf16 path, and silently running
     * fp32 when bf16 was asked for would mislead a benchmark. */
    if (e->params.precision != MMF_PRECISION_F32)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: a mmfuse_cnn encoder runs in fp32 only (asked for precision %d)", e->dir,
                        (int)e->params.precision);
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

static mmf_status cnn_image_forward(mmf_encoder *e, const float *pixels, int B, mmf_pooling pool, float *out) {
    if (pool != MMF_POOL_MEAN && pool != MMF_POOL_POOLER)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "mmfuse_cnn embeddings are the global average pool (pooling \"mean\"/default), not \"%s\"",
                        mmf_pooling_name(pool));
    cnn_inf *m = e->impl;
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
    .fp32_only = 1,
    .load = cnn_load,
    .free_impl = cnn_free_impl,
    .size = cnn_size,
    .image_forward = cnn_image_forward,
};
