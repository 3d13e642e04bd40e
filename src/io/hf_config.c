#include "io/hf_config.h"
#include "core/error.h"
#include "io/json.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct { const char *name; mmf_act act; } acts[] = {
    {"gelu", MMF_ACT_GELU}, {"gelu_new", MMF_ACT_GELU_TANH}, {"gelu_pytorch_tanh", MMF_ACT_GELU_TANH},
    {"gelu_fast", MMF_ACT_GELU_TANH}, {"quick_gelu", MMF_ACT_QUICK_GELU}, {"relu", MMF_ACT_RELU},
    {"tanh", MMF_ACT_TANH},
};

mmf_status mmf_act_parse(const char *name, const char *file, const char *field, mmf_act *out) {
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (strcmp(name, acts[i].name) == 0) { *out = acts[i].act; return MMF_OK; }
    return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: field \"%s\" is \"%s\"; supported: gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, quick_gelu, relu, tanh",
                    file, field, name);
}

const char *mmf_act_name(mmf_act a) {
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (acts[i].act == a) return acts[i].name;
    return "?";
}

#define BIG 100000000LL   /* generous bound for vocabularies and sizes */

/* Tower fields with Hugging Face's per-family defaults already in *t.
 * partial_patches: the patch conv may leave a border (SigLIP so400m-patch14-384:
 * 384 / 14 -> 27 x 27 patches, as the stride-14 convolution floors). */
static mmf_status parse_tower_ex(const cJSON *o, const char *file, const char *prefix, mmf_tf_config *t,
                                 int partial_patches) {
    char field[96];
    const char *act = NULL;
    MMF_TRY(mmf_json_int(o, "vocab_size", t->vocab_size, 0, BIG, file, &t->vocab_size));
    MMF_TRY(mmf_json_int(o, "hidden_size", t->hidden_size, 1, 65536, file, &t->hidden_size));
    MMF_TRY(mmf_json_int(o, "num_hidden_layers", t->num_layers, 0, 1024, file, &t->num_layers));
    MMF_TRY(mmf_json_int(o, "num_attention_heads", t->num_heads, 1, 1024, file, &t->num_heads));
    MMF_TRY(mmf_json_int(o, "intermediate_size", t->intermediate_size, 1, 1 << 20, file, &t->intermediate_size));
    MMF_TRY(mmf_json_int(o, "max_position_embeddings", t->max_positions, 0, 1 << 20, file, &t->max_positions));
    MMF_TRY(mmf_json_int(o, "type_vocab_size", t->type_vocab_size, 0, 1 << 16, file, &t->type_vocab_size));
    MMF_TRY(mmf_json_int(o, "pad_token_id", t->pad_token_id, -1, BIG, file, &t->pad_token_id));
    MMF_TRY(mmf_json_int(o, "bos_token_id", t->bos_token_id, -1, BIG, file, &t->bos_token_id));
    MMF_TRY(mmf_json_int(o, "eos_token_id", t->eos_token_id, -1, BIG, file, &t->eos_token_id));
    MMF_TRY(mmf_json_int(o, "image_size", t->image_size, 0, 1 << 16, file, &t->image_size));
    MMF_TRY(mmf_json_int(o, "patch_size", t->patch_size, 0, 1 << 12, file, &t->patch_size));
    MMF_TRY(mmf_json_int(o, "num_channels", t->num_channels, 1, 64, file, &t->num_channels));
    MMF_TRY(mmf_json_num(o, "layer_norm_eps", t->layer_norm_eps, file, &t->layer_norm_eps));
    MMF_TRY(mmf_json_bool(o, "qkv_bias", t->qkv_bias, file, &t->qkv_bias));
    MMF_TRY(mmf_json_str(o, "hidden_act", NULL, file, &act));
    snprintf(field, sizeof field, "%shidden_act", prefix);
    if (act) MMF_TRY(mmf_act_parse(act, file, field, &t->act));
    if (t->hidden_size % t->num_heads)
        return mmf_fail(MMF_ERR_FORMAT, "%s: %shidden_size %lld is not divisible by num_attention_heads %lld",
                        file, prefix, (long long)t->hidden_size, (long long)t->num_heads);
    if (!(t->layer_norm_eps > 0 && t->layer_norm_eps < 1))
        return mmf_fail(MMF_ERR_FORMAT, "%s: %slayer_norm_eps %g should be in (0, 1)", file, prefix, t->layer_norm_eps);
    if (t->patch_size && t->image_size % t->patch_size && !partial_patches)
        return mmf_fail(MMF_ERR_FORMAT, "%s: %simage_size %lld is not a multiple of patch_size %lld",
                        file, prefix, (long long)t->image_size, (long long)t->patch_size);
    return MMF_OK;
}

static mmf_status parse_tower(const cJSON *o, const char *file, const char *prefix, mmf_tf_config *t) {
    return parse_tower_ex(o, file, prefix, t, 0);
}

static void bert_defaults(mmf_tf_config *t) {
    *t = (mmf_tf_config){.vocab_size = 30522, .hidden_size = 768, .num_layers = 12, .num_heads = 12,
                         .intermediate_size = 3072, .max_positions = 512, .type_vocab_size = 2,
                         .pad_token_id = 0, .bos_token_id = -1, .eos_token_id = -1, .num_channels = 3,
                         .layer_norm_eps = 1e-12, .act = MMF_ACT_GELU, .qkv_bias = 1};
}

/* RobertaConfig; XLMRobertaConfig and CamembertConfig differ only in vocab_size */
static void roberta_defaults(mmf_tf_config *t, int64_t vocab) {
    bert_defaults(t);
    t->vocab_size = vocab;
    t->pad_token_id = 1; t->bos_token_id = 0; t->eos_token_id = 2;
}

static void mpnet_defaults(mmf_tf_config *t) {
    bert_defaults(t);
    t->vocab_size = 30527; t->type_vocab_size = 0;
    t->pad_token_id = 1; t->bos_token_id = 0; t->eos_token_id = 2;
    t->rel_buckets = 32;
}

/* DistilBertConfig names its fields differently (dim, n_layers, ...); its
 * layer norms use a fixed eps of 1e-12 */
static mmf_status parse_distilbert(const cJSON *o, const char *file, mmf_tf_config *t) {
    bert_defaults(t);
    t->type_vocab_size = 0;
    const char *act = NULL;
    MMF_TRY(mmf_json_int(o, "vocab_size", 30522, 1, BIG, file, &t->vocab_size));
    MMF_TRY(mmf_json_int(o, "dim", 768, 1, 65536, file, &t->hidden_size));
    MMF_TRY(mmf_json_int(o, "n_layers", 6, 0, 1024, file, &t->num_layers));
    MMF_TRY(mmf_json_int(o, "n_heads", 12, 1, 1024, file, &t->num_heads));
    MMF_TRY(mmf_json_int(o, "hidden_dim", 4 * 768, 1, 1 << 20, file, &t->intermediate_size));
    MMF_TRY(mmf_json_int(o, "max_position_embeddings", 512, 1, 1 << 20, file, &t->max_positions));
    MMF_TRY(mmf_json_int(o, "pad_token_id", 0, -1, BIG, file, &t->pad_token_id));
    MMF_TRY(mmf_json_bool(o, "sinusoidal_pos_embds", 0, file, &t->sinusoidal_pos));
    MMF_TRY(mmf_json_str(o, "activation", "gelu", file, &act));
    MMF_TRY(mmf_act_parse(act, file, "activation", &t->act));
    if (t->hidden_size % t->num_heads)
        return mmf_fail(MMF_ERR_FORMAT, "%s: dim %lld is not divisible by n_heads %lld", file, (long long)t->hidden_size,
                        (long long)t->num_heads);
    return MMF_OK;
}

/* Dinov2Config: intermediate size = int(hidden_size * mlp_ratio) */
static mmf_status parse_dinov2(const cJSON *o, const char *file, mmf_tf_config *t) {
    bert_defaults(t);
    t->vocab_size = 0; t->type_vocab_size = 0; t->max_positions = 0; t->pad_token_id = -1;
    t->image_size = 224; t->patch_size = 14; t->layer_norm_eps = 1e-6; t->layerscale_value = 1.0;
    MMF_TRY(parse_tower(o, file, "", t));
    double ratio = 4.0;
    MMF_TRY(mmf_json_num(o, "mlp_ratio", 4.0, file, &ratio));
    if (!(ratio > 0 && ratio <= 64)) return mmf_fail(MMF_ERR_FORMAT, "%s: mlp_ratio %g should be in (0, 64]", file, ratio);
    t->intermediate_size = (int64_t)((double)t->hidden_size * ratio);
    MMF_TRY(mmf_json_num(o, "layerscale_value", 1.0, file, &t->layerscale_value));
    MMF_TRY(mmf_json_bool(o, "use_swiglu_ffn", 0, file, &t->use_swiglu));
    return MMF_OK;
}

static void siglip_text_defaults(mmf_tf_config *t) {
    *t = (mmf_tf_config){.vocab_size = 32000, .hidden_size = 768, .num_layers = 12, .num_heads = 12,
                         .intermediate_size = 3072, .max_positions = 64, .pad_token_id = 1,
                         .bos_token_id = 49406, .eos_token_id = 49407, .num_channels = 3,
                         .layer_norm_eps = 1e-6, .act = MMF_ACT_GELU_TANH, .qkv_bias = 1};
}

static void siglip_vision_defaults(mmf_tf_config *t) {
    *t = (mmf_tf_config){.hidden_size = 768, .num_layers = 12, .num_heads = 12, .intermediate_size = 3072,
                         .pad_token_id = -1, .bos_token_id = -1, .eos_token_id = -1,
                         .image_size = 224, .patch_size = 16, .num_channels = 3,
                         .layer_norm_eps = 1e-6, .act = MMF_ACT_GELU_TANH, .qkv_bias = 1, .vision_use_head = 1};
}

static mmf_status parse_siglip_text(const cJSON *o, const char *file, mmf_tf_config *t) {
    siglip_text_defaults(t);
    MMF_TRY(parse_tower(o, file, "text_config.", t));
    MMF_TRY(mmf_json_int(o, "projection_size", t->hidden_size, 1, 65536, file, &t->projection_size));
    return MMF_OK;
}

static mmf_status parse_siglip_vision(const cJSON *o, const char *file, mmf_tf_config *t, const char *prefix) {
    siglip_vision_defaults(t);
    MMF_TRY(parse_tower_ex(o, file, prefix, t, 1));
    MMF_TRY(mmf_json_bool(o, "vision_use_head", 1, file, &t->vision_use_head));
    return MMF_OK;
}

static void vit_defaults(mmf_tf_config *t) {
    bert_defaults(t);
    t->vocab_size = 0; t->type_vocab_size = 0; t->max_positions = 0; t->pad_token_id = -1;
    t->image_size = 224; t->patch_size = 16; t->num_channels = 3;
}

static void clip_text_defaults(mmf_tf_config *t) {
    *t = (mmf_tf_config){.vocab_size = 49408, .hidden_size = 512, .num_layers = 12, .num_heads = 8,
                         .intermediate_size = 2048, .max_positions = 77, .pad_token_id = 1,
                         .bos_token_id = 49406, .eos_token_id = 49407, .num_channels = 3,
                         .layer_norm_eps = 1e-5, .act = MMF_ACT_QUICK_GELU, .qkv_bias = 1};
}

static void clip_vision_defaults(mmf_tf_config *t) {
    *t = (mmf_tf_config){.hidden_size = 768, .num_layers = 12, .num_heads = 12, .intermediate_size = 3072,
                         .pad_token_id = -1, .bos_token_id = -1, .eos_token_id = -1,
                         .image_size = 224, .patch_size = 32, .num_channels = 3,
                         .layer_norm_eps = 1e-5, .act = MMF_ACT_QUICK_GELU, .qkv_bias = 1};
}

static mmf_status parse_int_array(const cJSON *o, const char *key, const char *file, int64_t *dst,
                                  int64_t *n, int64_t lo, int64_t hi) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!a) return MMF_OK;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) < 1 || cJSON_GetArraySize(a) > MMF_RESNET_MAX_STAGES)
        return mmf_fail(MMF_ERR_FORMAT, "%s: field \"%s\" should be an array of 1 to %d integers", file, key, MMF_RESNET_MAX_STAGES);
    int64_t k = 0;
    for (const cJSON *v = a->child; v; v = v->next, k++) {
        /* range first: casting an out-of-range double to int64 is undefined */
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= (double)lo && v->valuedouble <= (double)hi) ||
            v->valuedouble != floor(v->valuedouble))
            return mmf_fail(MMF_ERR_FORMAT, "%s: %s[%lld] should be an integer in [%lld, %lld]", file, key,
                            (long long)k, (long long)lo, (long long)hi);
        dst[k] = (int64_t)v->valuedouble;
    }
    *n = k;
    return MMF_OK;
}

static mmf_status parse_resnet(const cJSON *o, const char *file, mmf_hf_config *c) {
    static const int64_t hs[4] = {256, 512, 1024, 2048}, dp[4] = {3, 4, 6, 3};
    c->embedding_size = 64;
    c->n_stages = 4;
    memcpy(c->hidden_sizes, hs, sizeof hs);
    memcpy(c->depths, dp, sizeof dp);
    c->bottleneck = 1;
    c->tf.num_channels = 3;
    c->tf.act = MMF_ACT_RELU;
    MMF_TRY(mmf_json_int(o, "num_channels", 3, 1, 64, file, &c->tf.num_channels));
    MMF_TRY(mmf_json_int(o, "embedding_size", 64, 1, 65536, file, &c->embedding_size));
    int64_t nh = 4, nd = 4;
    MMF_TRY(parse_int_array(o, "hidden_sizes", file, c->hidden_sizes, &nh, 1, 65536));
    MMF_TRY(parse_int_array(o, "depths", file, c->depths, &nd, 1, 1024));
    if (nh != nd)
        return mmf_fail(MMF_ERR_FORMAT, "%s: \"hidden_sizes\" has %lld entries but \"depths\" has %lld", file,
                        (long long)nh, (long long)nd);
    c->n_stages = nh;
    const char *lt = "bottleneck", *act = "relu";
    MMF_TRY(mmf_json_str(o, "layer_type", "bottleneck", file, &lt));
    if (strcmp(lt, "bottleneck") && strcmp(lt, "basic"))
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: field \"layer_type\" is \"%s\"; expected \"basic\" or \"bottleneck\"", file, lt);
    c->bottleneck = strcmp(lt, "bottleneck") == 0;
    MMF_TRY(mmf_json_str(o, "hidden_act", "relu", file, &act));
    MMF_TRY(mmf_act_parse(act, file, "hidden_act", &c->tf.act));
    MMF_TRY(mmf_json_bool(o, "downsample_in_first_stage", 0, file, &c->downsample_in_first_stage));
    MMF_TRY(mmf_json_bool(o, "downsample_in_bottleneck", 0, file, &c->downsample_in_bottleneck));
    return MMF_OK;
}

mmf_status mmf_hf_config_parse(const cJSON *root, const char *file, mmf_hf_config *c) {
    memset(c, 0, sizeof *c);
    if (!cJSON_IsObject(root)) return mmf_fail(MMF_ERR_FORMAT, "%s: config should be a JSON object", file);
    const char *mt = NULL;
    MMF_TRY(mmf_json_str(root, "model_type", NULL, file, &mt));
    if (!mt) return mmf_fail(MMF_ERR_FORMAT, "%s: missing field \"model_type\" (expected bert, roberta, xlm-roberta, distilbert, mpnet, vit, dinov2, clip, siglip or resnet)", file);
    if (strlen(mt) >= sizeof c->model_type)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: model_type \"%.40s...\" is not one mmfuse knows", file, mt);
    strcpy(c->model_type, mt);
    if (!strcmp(mt, "bert")) {
        bert_defaults(&c->tf);
        return parse_tower(root, file, "", &c->tf);
    }
    if (!strcmp(mt, "roberta") || !strcmp(mt, "xlm-roberta") || !strcmp(mt, "camembert")) {
        roberta_defaults(&c->tf, !strcmp(mt, "roberta") ? 50265 : 30522);
        return parse_tower(root, file, "", &c->tf);
    }
    if (!strcmp(mt, "mpnet")) {
        mpnet_defaults(&c->tf);
        MMF_TRY(parse_tower(root, file, "", &c->tf));
        MMF_TRY(mmf_json_int(root, "relative_attention_num_buckets", 32, 2, 4096, file, &c->tf.rel_buckets));
        return MMF_OK;
    }
    if (!strcmp(mt, "distilbert")) return parse_distilbert(root, file, &c->tf);
    if (!strcmp(mt, "dinov2")) return parse_dinov2(root, file, &c->tf);
    if (!strcmp(mt, "siglip_vision_model")) return parse_siglip_vision(root, file, &c->tf, "");
    if (!strcmp(mt, "siglip")) {
        const cJSON *tc = cJSON_GetObjectItemCaseSensitive(root, "text_config");
        const cJSON *vc = cJSON_GetObjectItemCaseSensitive(root, "vision_config");
        if (cJSON_IsNull(tc)) tc = NULL;
        if (cJSON_IsNull(vc)) vc = NULL;
        if (tc && !cJSON_IsObject(tc)) return mmf_fail(MMF_ERR_FORMAT, "%s: field \"text_config\" should be an object", file);
        if (vc && !cJSON_IsObject(vc)) return mmf_fail(MMF_ERR_FORMAT, "%s: field \"vision_config\" should be an object", file);
        MMF_TRY(parse_siglip_text(tc, file, &c->text));
        MMF_TRY(parse_siglip_vision(vc, file, &c->vision, "vision_config."));
        return MMF_OK;
    }
    /* mmfuse's own from-scratch towers (docs/direct.md): the text tower has the
     * BERT layout; the CNN's fields are read by its family (models/mmfuse_cnn.c) */
    if (!strcmp(mt, "mmfuse_text")) {
        bert_defaults(&c->tf);
        return parse_tower(root, file, "", &c->tf);
    }
    if (!strcmp(mt, "mmfuse_cnn")) return MMF_OK;
    /* the contrastive dual encoder over the two (models/mmfuse_clip.c): the
     * towers are subfolders with their own config.json */
    if (!strcmp(mt, "mmfuse_clip")) {
        MMF_TRY(mmf_json_int(root, "projection_dim", 128, 1, 65536, file, &c->projection_dim));
        return mmf_json_num(root, "logit_scale_init_value", 2.6592, file, &c->logit_scale_init);
    }
    if (!strcmp(mt, "vit")) {
        vit_defaults(&c->tf);
        return parse_tower(root, file, "", &c->tf);
    }
    if (!strcmp(mt, "resnet")) return parse_resnet(root, file, c);
    if (!strcmp(mt, "clip")) {
        clip_text_defaults(&c->text);
        clip_vision_defaults(&c->vision);
        const cJSON *tc = cJSON_GetObjectItemCaseSensitive(root, "text_config");
        const cJSON *vc = cJSON_GetObjectItemCaseSensitive(root, "vision_config");
        /* older transformers wrote the towers as *_config_dict (with *_config null) */
        if (!tc || cJSON_IsNull(tc)) tc = cJSON_GetObjectItemCaseSensitive(root, "text_config_dict");
        if (!vc || cJSON_IsNull(vc)) vc = cJSON_GetObjectItemCaseSensitive(root, "vision_config_dict");
        if (cJSON_IsNull(tc)) tc = NULL;
        if (cJSON_IsNull(vc)) vc = NULL;
        if (tc && !cJSON_IsObject(tc)) return mmf_fail(MMF_ERR_FORMAT, "%s: field \"text_config\" should be an object", file);
        if (vc && !cJSON_IsObject(vc)) return mmf_fail(MMF_ERR_FORMAT, "%s: field \"vision_config\" should be an object", file);
        MMF_TRY(parse_tower(tc, file, "text_config.", &c->text));
        MMF_TRY(parse_tower(vc, file, "vision_config.", &c->vision));
        MMF_TRY(mmf_json_int(root, "projection_dim", 512, 1, 65536, file, &c->projection_dim));
        MMF_TRY(mmf_json_num(root, "logit_scale_init_value", 2.6592, file, &c->logit_scale_init));
        return MMF_OK;
    }
    return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: model_type \"%s\" is not supported (expected bert, roberta, xlm-roberta, camembert, distilbert, mpnet, vit, dinov2, clip, siglip, siglip_vision_model or resnet)", file, mt);
}

mmf_status mmf_hf_config_load(const char *dir_or_file, mmf_hf_config *out) {
    char path[4096];
    cJSON *root;
    MMF_TRY(mmf_json_load_in(dir_or_file, "config.json", path, sizeof path, &root));
    mmf_status s = mmf_hf_config_parse(root, path, out);
    cJSON_Delete(root);
    return s;
}
