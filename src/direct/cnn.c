/* The CNN image tower: parameters, forward on the tape, saving as a model
 * folder (cnn.h). Training lives in tower_image.c. */
#include "direct/cnn.h"
#include "direct/hf_folder.h"
#include "train/conv.h"
#include "core/error.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cnn_config cnn_config_default(int n_classes) {
    cnn_config c = {0};
    c.image_size = 64;
    c.in_channels = 3;
    c.n_stages = 4;
    c.channels[0] = 16; c.channels[1] = 32; c.channels[2] = 64; c.channels[3] = 128;
    c.n_classes = n_classes;
    c.bn_eps = 1e-5f;
    c.bn_momentum = 0.1f;
    return c;
}

void cnn_free(cnn_model *m) {
    if (!m) return;
    mmf_params_free(&m->ps);
    free(m->running);
    m->running = NULL;
}

mmf_status cnn_init(cnn_model *m, const cnn_config *cfg, uint64_t seed) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    if (cfg->n_stages < 1 || cfg->n_stages > CNN_MAX_STAGES)
        return mmf_fail(MMF_ERR_ARG, "cnn: %d stages, expected 1..%d", cfg->n_stages, CNN_MAX_STAGES);
    int side = cfg->image_size;
    for (int i = 0; i < cfg->n_stages - 1; i++) side /= 2;
    if (side < 1) return mmf_fail(MMF_ERR_ARG, "cnn: image size %d is too small for %d stages", cfg->image_size, cfg->n_stages);
    mmf_params_init(&m->ps);
    int prev = cfg->in_channels;
    int64_t roff = 0;
    for (int i = 0; i < cfg->n_stages; i++) {
        int c = cfg->channels[i];
        if (c < 1 || c > 4096) return mmf_fail(MMF_ERR_ARG, "cnn: stage %d has %d channels", i, c);
        char nm[MMF_PARAM_NAME];
        /* Kaiming-normal (fan_in, ReLU gain) for the convolutions */
        snprintf(nm, sizeof nm, "stages.%d.conv.weight", i);
        m->p_conv[i] = mmf_params_add(&m->ps, nm, 4, (int64_t[]){c, prev, 3, 3}, MMF_INIT_NORMAL, sqrtf(2.0f / (prev * 9)));
        snprintf(nm, sizeof nm, "stages.%d.bn.weight", i);
        m->p_gamma[i] = mmf_params_add(&m->ps, nm, 1, (int64_t[]){c}, MMF_INIT_ONE, 0);
        snprintf(nm, sizeof nm, "stages.%d.bn.bias", i);
        m->p_beta[i] = mmf_params_add(&m->ps, nm, 1, (int64_t[]){c}, MMF_INIT_ZERO, 0);
        if (m->p_conv[i] < 0 || m->p_gamma[i] < 0 || m->p_beta[i] < 0) return MMF_ERR_ARG;
        m->running_off[i] = roff;
        roff += 2 * c;
        prev = c;
    }
    m->p_cls_w = m->p_cls_b = -1;
    if (cfg->n_classes > 0) {
        m->p_cls_w = mmf_params_add(&m->ps, "classifier.weight", 2, (int64_t[]){cfg->n_classes, prev}, MMF_INIT_LINEAR, 0);
        m->p_cls_b = mmf_params_add(&m->ps, "classifier.bias", 1, (int64_t[]){cfg->n_classes}, MMF_INIT_UNIFORM, 1.0f / sqrtf((float)prev));
        if (m->p_cls_w < 0 || m->p_cls_b < 0) return MMF_ERR_ARG;
    }
    mmf_rng r;
    mmf_rng_seed(&r, seed);
    mmf_status s = mmf_params_alloc(&m->ps, &r);
    if (s) return s;
    m->running = malloc((size_t)roff * sizeof(float));
    if (!m->running) return mmf_fail(MMF_ERR_NOMEM, "cnn: out of memory");
    for (int i = 0; i < cfg->n_stages; i++) {
        int c = cfg->channels[i];
        for (int j = 0; j < c; j++) { m->running[m->running_off[i] + j] = 0.0f; m->running[m->running_off[i] + c + j] = 1.0f; }
    }
    return MMF_OK;
}

mmf_var cnn_forward(mmf_tape *tp, cnn_model *m, mmf_var x, mmf_var *feat) {
    const cnn_config *c = &m->cfg;
    for (int i = 0; i < c->n_stages; i++) {
        float *rm = m->running + m->running_off[i], *rv = rm + c->channels[i];
        x = mmf_t_conv2d(tp, x, mmf_t_param(tp, &m->ps, m->p_conv[i]), -1, 1, 1);
        x = mmf_t_batchnorm_relu(tp, x, mmf_t_param(tp, &m->ps, m->p_gamma[i]), mmf_t_param(tp, &m->ps, m->p_beta[i]), rm,
                                 rv, c->bn_momentum, c->bn_eps);
        if (i < c->n_stages - 1) x = mmf_t_maxpool2d(tp, x, 2, 2, 0);
    }
    mmf_var f = mmf_t_global_avgpool(tp, x);
    if (feat) *feat = f;
    if (c->n_classes <= 0) return -1;
    return mmf_t_linear(tp, f, mmf_t_param(tp, &m->ps, m->p_cls_w), mmf_t_param(tp, &m->ps, m->p_cls_b));
}

mmf_status cnn_save(const cnn_model *m, const char *dir, const char *const *labels) {
    const cnn_config *c = &m->cfg;
    /* config.json */
    cJSON *o = mmf_hf_config_new("mmfuse_cnn", "MmfuseCnn");
    cJSON_AddNumberToObject(o, "image_size", c->image_size);
    cJSON_AddNumberToObject(o, "num_channels", c->in_channels);
    cJSON *ch = cJSON_AddArrayToObject(o, "channels");
    for (int i = 0; i < c->n_stages; i++) cJSON_AddItemToArray(ch, cJSON_CreateNumber(c->channels[i]));
    cJSON_AddNumberToObject(o, "hidden_size", c->channels[c->n_stages - 1]);
    cJSON_AddNumberToObject(o, "batch_norm_eps", c->bn_eps);
    cJSON_AddNumberToObject(o, "num_labels", c->n_classes);
    mmf_hf_add_id2label(o, labels, c->n_classes);
    mmf_status s = mmf_hf_write_json(dir, "config.json", o);
    cJSON_Delete(o);
    if (s) return s;
    /* preprocessor_config.json: resize to the side, x/255, (x - 0.5) / 0.5 */
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "image_processor_type", "ViTImageProcessor");
    cJSON_AddBoolToObject(o, "do_resize", 1);
    cJSON *sz = cJSON_AddObjectToObject(o, "size");
    cJSON_AddNumberToObject(sz, "height", c->image_size);
    cJSON_AddNumberToObject(sz, "width", c->image_size);
    cJSON_AddNumberToObject(o, "resample", 2);
    cJSON_AddBoolToObject(o, "do_rescale", 1);
    cJSON_AddNumberToObject(o, "rescale_factor", 1.0 / 255.0);
    cJSON_AddBoolToObject(o, "do_normalize", 1);
    cJSON *mean = cJSON_AddArrayToObject(o, "image_mean"), *std = cJSON_AddArrayToObject(o, "image_std");
    for (int i = 0; i < 3; i++) { cJSON_AddItemToArray(mean, cJSON_CreateNumber(0.5)); cJSON_AddItemToArray(std, cJSON_CreateNumber(0.5)); }
    s = mmf_hf_write_json(dir, "preprocessor_config.json", o);
    cJSON_Delete(o);
    if (s) return s;
    /* model.safetensors: parameters + running statistics */
    mmf_st_writer *w;
    s = mmf_hf_model_begin(&m->ps, &w);
    if (!w) return s;
    for (int i = 0; !s && i < c->n_stages; i++) {
        char nm[64];
        int64_t sh[1] = {c->channels[i]};
        snprintf(nm, sizeof nm, "stages.%d.bn.running_mean", i);
        s = mmf_st_writer_add(w, nm, MMF_DT_F32, 1, sh, m->running + m->running_off[i]);
        snprintf(nm, sizeof nm, "stages.%d.bn.running_var", i);
        if (!s) s = mmf_st_writer_add(w, nm, MMF_DT_F32, 1, sh, m->running + m->running_off[i] + c->channels[i]);
    }
    return mmf_hf_model_finish(w, s, dir);
}
