/* model_type -> encoder family, and the public handle's life cycle. */
#include "models/encoder.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/bf16_probe.h"
#include "core/gemm_bf16.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

extern const mmf_encoder_ops mmf_bert_ops;
extern const mmf_encoder_ops mmf_roberta_ops, mmf_xlm_roberta_ops, mmf_camembert_ops;
extern const mmf_encoder_ops mmf_distilbert_ops, mmf_mpnet_ops, mmf_dinov2_ops;
extern const mmf_encoder_ops mmf_siglip_ops, mmf_siglip_vision_ops;
extern const mmf_encoder_ops mmf_vit_ops, mmf_clip_ops, mmf_resnet_ops;
extern const mmf_encoder_ops mmf_mmfuse_text_ops, mmf_mmfuse_cnn_ops; /* from-scratch towers (docs/direct.md) */
extern const mmf_encoder_ops mmf_mmfuse_clip_ops;   /* their contrastive dual encoder */

/* One line per family; the image families add vit, clip, resnet here. */
static const mmf_encoder_ops *const families[] = {
    &mmf_bert_ops,
    &mmf_roberta_ops,
    &mmf_xlm_roberta_ops,
    &mmf_camembert_ops,
    &mmf_distilbert_ops,
    &mmf_mpnet_ops,
    &mmf_vit_ops,
    &mmf_dinov2_ops,
    &mmf_clip_ops,
    &mmf_siglip_ops,
    &mmf_siglip_vision_ops,
    &mmf_resnet_ops,
    &mmf_mmfuse_text_ops,
    &mmf_mmfuse_cnn_ops,
    &mmf_mmfuse_clip_ops,
};

const mmf_encoder_ops *mmf_encoder_ops_find(const char *model_type) {
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        if (strcmp(families[i]->model_type, model_type) == 0) return families[i];
    return NULL;
}

static void known_types(char *buf, size_t cap) {
    buf[0] = 0;
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        size_t n = strlen(buf);
        snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", families[i]->model_type);
    }
}

mmf_precision mmf_default_precision(void) {
    static const char *const names[] = {"fp32", "bf16", "int8", "auto"};
    const char *env = getenv("MMFUSE_PRECISION");
    if (!env || !*env) return MMF_PRECISION_AUTO;
    for (int i = 0; i < 4; i++)
        if (!strcmp(env, names[i])) return (mmf_precision)i;
    fprintf(stderr, "mmfuse: warning: MMFUSE_PRECISION=%s is not fp32, bf16, int8 or auto; ignored (auto)\n", env);
    return MMF_PRECISION_AUTO;
}

mmf_encoder_params mmf_encoder_params_default(void) {
    return (mmf_encoder_params){.n_threads = 1, .max_batch = 32, .max_length = 0, .pooling = MMF_POOL_DEFAULT,
                                .precision = mmf_default_precision()};
}

static const char *precision_name(mmf_precision p) {
    return p == MMF_PRECISION_F32 ? "fp32" : p == MMF_PRECISION_BF16 ? "bf16" : p == MMF_PRECISION_INT8 ? "int8" : "auto";
}

/* auto: bf16 where the family runs it and bf16 pays on this core
 * (core/bf16_probe.h: AVX512-BF16 at about twice the fp32 rate), else fp32
 * (int8 is never chosen for the user: its accuracy is a trade they make). A
 * precision the family does not run is an error naming what it does run. */
static mmf_status resolve_precision(mmf_encoder *e) {
    mmf_precision p = e->params.precision;
    unsigned has = e->ops->fp32_only ? 1u << MMF_PRECISION_F32
                                     : (1u << MMF_PRECISION_F32) | (1u << MMF_PRECISION_BF16) | (1u << MMF_PRECISION_INT8);
    if (p == MMF_PRECISION_AUTO) {
        e->precision_auto = 1;
        e->params.precision = (has & (1u << MMF_PRECISION_BF16)) && mmf_bf16_pays() ? MMF_PRECISION_BF16
                                                                                                : MMF_PRECISION_F32;
        return MMF_OK;
    }
    if ((unsigned)p > MMF_PRECISION_AUTO) return mmf_fail(MMF_ERR_ARG, "mmf_encoder_load: unknown precision %d", (int)p);
    if (!(has & (1u << p))) {
        char runs[64] = "fp32";
        for (int q = MMF_PRECISION_BF16; q < MMF_PRECISION_AUTO; q++)
            if (has & (1u << q)) snprintf(runs + strlen(runs), sizeof runs - strlen(runs), ", %s", precision_name((mmf_precision)q));
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: a %s encoder runs in %s%s, not %s", e->dir, e->cfg.model_type, runs,
                        strcmp(runs, "fp32") ? "" : " only", precision_name(p));
    }
    return MMF_OK;
}

mmf_status mmf_encoder_load(const char *dir, const mmf_encoder_params *params, mmf_encoder **out) {
    *out = NULL;
    if (!dir) return mmf_fail(MMF_ERR_ARG, "mmf_encoder_load: NULL folder");
    mmf_encoder_params p = params ? *params : mmf_encoder_params_default();
    if (p.n_threads < 1) p.n_threads = 1;
    if (p.max_batch < 1 || p.max_batch > 65536)
        return mmf_fail(MMF_ERR_ARG, "mmf_encoder_load: max_batch %d should be in [1, 65536]", p.max_batch);
    if (p.max_length < 0) return mmf_fail(MMF_ERR_ARG, "mmf_encoder_load: max_length %d should be >= 0", p.max_length);
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return mmf_fail(MMF_ERR_NOT_FOUND, "%s: no such model folder", dir);
    mmf_encoder *e = calloc(1, sizeof *e);
    if (!e) return mmf_fail(MMF_ERR_NOMEM, "encoder: out of memory");
    e->params = p;
    e->dir = strdup(dir);
    e->def_pool = MMF_POOL_CLS;
    mmf_status s = mmf_hf_config_load(dir, &e->cfg);
    if (!s) {
        e->ops = mmf_encoder_ops_find(e->cfg.model_type);
        if (!e->ops) {
            char known[256];
            known_types(known, sizeof known);
            s = mmf_fail(MMF_ERR_UNSUPPORTED, "%s/config.json: model_type \"%s\" has no encoder in mmfuse (supported: %s)",
                         dir, e->cfg.model_type, known);
        }
    }
    if (!s && (p.pooling < MMF_POOL_DEFAULT || p.pooling > MMF_POOL_CLS_MEAN || p.pooling == MMF_POOL_NONE))
        s = mmf_fail(MMF_ERR_ARG, "mmf_encoder_load: pooling %d is not a default pooling", (int)p.pooling);
    if (!s) s = resolve_precision(e);
    if (!s) s = e->ops->load(e);
    if (!s && e->ops->size) s = e->ops->size(e, p.n_threads);
    if (!s) e->nt_sized = p.n_threads;
    /* a chosen default; cls_mean widens the embedding, so the family itself must have set it up */
    if (!s && p.pooling == MMF_POOL_CLS_MEAN && e->def_pool != MMF_POOL_CLS_MEAN)
        s = mmf_fail(MMF_ERR_UNSUPPORTED, "%s: pooling \"cls_mean\" is for DINOv2 image encoders, not %s", dir, e->cfg.model_type);
    if (!s && p.pooling != MMF_POOL_DEFAULT) e->def_pool = p.pooling;
    if (s) {
        mmf_encoder_free(e);
        return s;
    }
    *out = e;
    return MMF_OK;
}

void mmf_encoder_free(mmf_encoder *e) {
    if (!e) return;
    if (e->ops && e->ops->free_impl) e->ops->free_impl(e);
    mmf_tokenizer_free(e->tok);
    mmf_image_processor_free(e->proc);
    free(e->dir);
    free(e);
}

int mmf_encoder_modalities(const mmf_encoder *e) {
    return (e->ops->text_forward ? MMF_MODALITY_TEXT : 0) | (e->ops->image_forward ? MMF_MODALITY_IMAGE : 0);
}
int mmf_encoder_dim(const mmf_encoder *e) { return e->dim; }
const char *mmf_encoder_model_type(const mmf_encoder *e) { return e->cfg.model_type; }
mmf_pooling mmf_encoder_default_pooling(const mmf_encoder *e) { return e->def_pool; }
int mmf_encoder_default_normalize(const mmf_encoder *e) { return e->def_norm; }
int mmf_encoder_max_length(const mmf_encoder *e) { return e->max_length; }
const mmf_tokenizer *mmf_encoder_tokenizer(const mmf_encoder *e) { return e->tok; }
const char *mmf_encoder_family(const mmf_encoder *e) { return e->ops->family ? e->ops->family : e->ops->model_type; }

const char *mmf_encoder_pooling_desc(const mmf_encoder *e, mmf_pooling p) {
    if (p == MMF_POOL_DEFAULT) p = e->def_pool;
    switch (p) {
    case MMF_POOL_CLS: return mmf_encoder_modalities(e) == MMF_MODALITY_IMAGE ? "the CLS token's final state" : "the first token's hidden state";
    case MMF_POOL_MEAN:
        return mmf_encoder_modalities(e) == MMF_MODALITY_IMAGE ? "the mean over patch tokens (CLS excluded) or spatial positions"
                                                         : "the mean over real tokens";
    case MMF_POOL_MAX: return "the elementwise max over real tokens";
    case MMF_POOL_POOLER: return e->ops->pooler ? e->ops->pooler : "tanh(dense(first token)) (the checkpoint's pooler)";
    case MMF_POOL_NONE: return "every token's hidden state";
    case MMF_POOL_CLS_MEAN: return "[CLS, mean of the patch tokens] after the final layernorm (2 x hidden)";
    default: return "?";
    }
}

mmf_status mmf_encoder_set_threads(mmf_encoder *e, int n_threads) {
    if (n_threads < 1) n_threads = 1;
    if (e->ops->size && n_threads > e->nt_sized) {
        mmf_status s = e->ops->size(e, n_threads);
        if (s) return s;
        e->nt_sized = n_threads;
    }
    e->params.n_threads = n_threads;
    return MMF_OK;
}

static const char *const pool_names[] = {"cls", "mean", "max", "pooler", "none", "cls_mean"};

const char *mmf_pooling_name(mmf_pooling p) {
    if (p == MMF_POOL_DEFAULT) return "default";
    return (p >= 0 && p <= MMF_POOL_CLS_MEAN) ? pool_names[p] : "?";
}

mmf_status mmf_pooling_parse(const char *name, mmf_pooling *out) {
    for (int i = 0; i <= MMF_POOL_CLS_MEAN; i++)
        if (strcmp(name, pool_names[i]) == 0) { *out = (mmf_pooling)i; return MMF_OK; }
    if (strcmp(name, "default") == 0) { *out = MMF_POOL_DEFAULT; return MMF_OK; }
    return mmf_fail(MMF_ERR_ARG, "pooling \"%s\" is not one of cls, mean, max, pooler, none, cls_mean, default", name);
}
