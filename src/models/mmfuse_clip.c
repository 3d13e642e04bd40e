/* "mmfuse_clip": the contrastive dual encoder `mmfuse train-direct --model
 * clip` writes (src/direct/clip_save.c). The folder is read as a CLIP folder
 * is: tokenizer (vocab.txt) and preprocessor_config.json at the top,
 * model.safetensors with text_projection.weight [D, Ct],
 * visual_projection.weight [D, Cv] and logit_scale; the towers are the
 * subfolders named by config.json's text_folder / vision_folder (an
 * mmfuse_text and an mmfuse_cnn folder), run by their own families.
 * Embeddings: tower embedding (mean pooling) -> projection -> unit length,
 * the space the towers were trained in. */
#include "models/encoder.h"
#include "core/error.h"
#include "core/ops.h"
#include "io/json.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


typedef struct mclip {
    mmf_encoder *text, *vision;
    int D, Ct, Cv;
    float *tproj, *vproj;      /* [D, Ct], [D, Cv] */
    float *tmp;                /* [max_batch, max(Ct, Cv)] */
} mclip;

static void mc_free(mmf_encoder *e) {
    mclip *m = e->impl;
    if (!m) return;
    mmf_encoder_free(m->text);
    mmf_encoder_free(m->vision);
    free(m->tproj);
    free(m->vproj);
    free(m->tmp);
    free(m);
    e->impl = NULL;
}

static mmf_status read_matrix(mmf_safetensors *st, const char *dir, const char *name, int64_t d0, int64_t d1, float **out) {
    const mmf_tensor_info *t = mmf_st_find(st, name);
    if (!t) return mmf_fail(MMF_ERR_NOT_FOUND, "%s/model.safetensors: tensor \"%s\" is missing", dir, name);
    if (t->numel != d0 * d1 || t->ndim < 1 || t->shape[0] != d0)
        return mmf_fail(MMF_ERR_SHAPE, "%s/model.safetensors: tensor \"%s\" should be [%lld, %lld] (projection_dim x the tower's width)",
                        dir, name, (long long)d0, (long long)d1);
    *out = malloc((size_t)(d0 * d1) * sizeof(float));
    if (!*out) return mmf_fail(MMF_ERR_NOMEM, "out of memory");
    return mmf_st_read_f32(st, name, *out, (size_t)(d0 * d1));
}

static mmf_status sub_folder(const char *dir, const char *key, const char *def, char *out, size_t cap) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    cJSON *o;
    MMF_TRY(mmf_json_load(path, &o));
    const char *name = def;
    mmf_status s = mmf_json_str(o, key, def, path, &name);
    if (!s && (strchr(name, '/') || !strcmp(name, "..") || !name[0]))
        s = mmf_fail(MMF_ERR_FORMAT, "%s: \"%s\" should name a subfolder, not \"%s\"", path, key, name);
    if (!s) snprintf(out, cap, "%s/%s", dir, name);
    cJSON_Delete(o);
    return s;
}

static mmf_status mc_load(mmf_encoder *e) {
    mclip *m = calloc(1, sizeof *m);
    if (!m) return mmf_fail(MMF_ERR_NOMEM, "out of memory");
    e->impl = m;
    char tdir[4096], vdir[4096];
    MMF_TRY(sub_folder(e->dir, "text_folder", "text", tdir, sizeof tdir));
    MMF_TRY(sub_folder(e->dir, "vision_folder", "vision", vdir, sizeof vdir));
    mmf_encoder_params p = e->params;
    MMF_TRY(mmf_encoder_load(tdir, &p, &m->text));
    MMF_TRY(mmf_encoder_load(vdir, &p, &m->vision));
    if (!(mmf_encoder_modalities(m->text) & MMF_MODALITY_TEXT) || !(mmf_encoder_modalities(m->vision) & MMF_MODALITY_IMAGE))
        return mmf_fail(MMF_ERR_FORMAT, "%s: text_folder must hold a text encoder and vision_folder an image encoder", e->dir);
    m->Ct = m->text->dim;
    m->Cv = m->vision->dim;
    m->D = (int)e->cfg.projection_dim;
    mmf_safetensors *st;
    MMF_TRY(mmf_open_checkpoint(e->dir, &st));
    mmf_status s = read_matrix(st, e->dir, "text_projection.weight", m->D, m->Ct, &m->tproj);
    if (!s) s = read_matrix(st, e->dir, "visual_projection.weight", m->D, m->Cv, &m->vproj);
    float ls = 0.0f;
    const mmf_tensor_info *t = s ? NULL : mmf_st_find(st, "logit_scale");
    if (!s && (!t || t->numel != 1)) s = mmf_fail(MMF_ERR_FORMAT, "%s/model.safetensors: \"logit_scale\" should be one number", e->dir);
    if (!s) s = mmf_st_read_f32(st, "logit_scale", &ls, 1);
    mmf_st_close(st);
    if (s) return s;
    e->logit_scale = expf(ls);
    MMF_TRY(mmf_tokenizer_load(e->dir, &e->tok));
    MMF_TRY(mmf_image_processor_load(e->dir, &e->proc));
    int c, h, w, c2, h2, w2;
    mmf_image_processor_size(e->proc, &c, &h, &w);
    mmf_image_processor_size(m->vision->proc, &c2, &h2, &w2);
    if (h != h2 || w != w2)
        return mmf_fail(MMF_ERR_FORMAT, "%s/preprocessor_config.json makes %dx%d images but the vision tower takes %dx%d", e->dir, w, h, w2, h2);
    e->max_length = m->text->max_length;
    e->dim = m->D;
    e->token_dim = m->Ct;
    e->def_pool = MMF_POOL_POOLER;
    e->def_norm = 1;
    int cmax = m->Ct > m->Cv ? m->Ct : m->Cv;
    m->tmp = malloc((size_t)e->params.max_batch * cmax * sizeof(float));
    if (!m->tmp) return mmf_fail(MMF_ERR_NOMEM, "out of memory");
    return MMF_OK;
}

/* the towers are encoders of their own: each sizes for its threads */
static mmf_status mc_size(mmf_encoder *e, int nt) {
    mclip *m = e->impl;
    MMF_TRY(mmf_encoder_set_threads(m->text, nt));
    return mmf_encoder_set_threads(m->vision, nt);
}

static mmf_status check_pool(mmf_pooling pool, const char *what) {
    if (pool == MMF_POOL_POOLER || pool == MMF_POOL_MEAN) return MMF_OK;
    return mmf_fail(MMF_ERR_UNSUPPORTED, "mmfuse_clip %s embeddings are the projected tower features (pooling \"pooler\"/default), not \"%s\"",
                    what, mmf_pooling_name(pool));
}

static mmf_status mc_text(mmf_encoder *e, const int32_t *ids, const int32_t *types, const uint8_t *keep, int B, int T,
                          mmf_pooling pool, float *pooled, float *tokens) {
    mclip *m = e->impl;
    if (pooled) MMF_TRY(check_pool(pool, "text"));
    MMF_TRY(m->text->ops->text_forward(m->text, ids, types, keep, B, T, MMF_POOL_MEAN, pooled ? m->tmp : NULL, tokens));
    if (pooled) mmf_linear(pooled, m->tmp, m->tproj, NULL, B, m->Ct, m->D, e->params.n_threads);
    return MMF_OK;
}

static mmf_status mc_image(mmf_encoder *e, const float *pixels, int B, mmf_pooling pool, float *out) {
    mclip *m = e->impl;
    MMF_TRY(check_pool(pool, "image"));
    MMF_TRY(m->vision->ops->image_forward(m->vision, pixels, B, MMF_POOL_MEAN, m->tmp));
    mmf_linear(out, m->tmp, m->vproj, NULL, B, m->Cv, m->D, e->params.n_threads);
    return MMF_OK;
}

const mmf_encoder_ops mmf_mmfuse_clip_ops = {
    .model_type = "mmfuse_clip",
    .fp32_only = 1,
    .load = mc_load,
    .free_impl = mc_free,
    .size = mc_size,
    .text_forward = mc_text,
    .image_forward = mc_image,
};
