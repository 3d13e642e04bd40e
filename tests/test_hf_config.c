/* config.json parsing: Hugging Face defaults, nested CLIP configs, errors that
 * name the file and the field. */
#include "test_util.h"
#include "io/hf_config.h"
#include "io/json.h"

static mmf_status parse(const char *js, mmf_hf_config *c) {
    cJSON *root;
    mmf_status s = mmf_json_parse(js, strlen(js), "cfg.json", &root);
    if (s) return s;
    s = mmf_hf_config_parse(root, "cfg.json", c);
    cJSON_Delete(root);
    return s;
}

int main(void) {
    mmf_hf_config c;
    CHECK_OK(parse("{\"model_type\":\"bert\",\"hidden_size\":384,\"num_attention_heads\":12,"
                   "\"num_hidden_layers\":6,\"intermediate_size\":1536,\"hidden_act\":\"gelu\"}", &c));
    CHECK(c.tf.hidden_size == 384 && c.tf.num_layers == 6 && c.tf.vocab_size == 30522);
    CHECK(c.tf.layer_norm_eps == 1e-12 && c.tf.type_vocab_size == 2 && c.tf.act == MMF_ACT_GELU);

    CHECK_OK(parse("{\"model_type\":\"clip\",\"projection_dim\":256,\"text_config\":{\"hidden_size\":256,"
                   "\"num_attention_heads\":4},\"vision_config\":{\"patch_size\":16}}", &c));
    CHECK(c.projection_dim == 256 && c.text.hidden_size == 256 && c.text.num_heads == 4);
    CHECK(c.text.act == MMF_ACT_QUICK_GELU && c.text.max_positions == 77 && c.text.eos_token_id == 49407);
    CHECK(c.vision.patch_size == 16 && c.vision.image_size == 224 && c.vision.hidden_size == 768);

    CHECK_OK(parse("{\"model_type\":\"resnet\",\"layer_type\":\"basic\",\"hidden_sizes\":[64,128],\"depths\":[2,2]}", &c));
    CHECK(!c.bottleneck && c.n_stages == 2 && c.hidden_sizes[1] == 128 && c.embedding_size == 64);

    /* the families' config classes' defaults (RobertaConfig, XLMRobertaConfig, CamembertConfig,
     * MPNetConfig, DistilBertConfig, Dinov2Config, SiglipTextConfig / SiglipVisionConfig) */
    CHECK_OK(parse("{\"model_type\":\"roberta\"}", &c));
    CHECK(c.tf.vocab_size == 50265 && c.tf.pad_token_id == 1 && c.tf.bos_token_id == 0 && c.tf.eos_token_id == 2);
    CHECK(c.tf.layer_norm_eps == 1e-12 && c.tf.max_positions == 512 && c.tf.type_vocab_size == 2);
    CHECK_OK(parse("{\"model_type\":\"xlm-roberta\"}", &c));
    CHECK(c.tf.vocab_size == 30522 && c.tf.pad_token_id == 1);
    CHECK_OK(parse("{\"model_type\":\"camembert\"}", &c));
    CHECK(c.tf.vocab_size == 30522 && c.tf.pad_token_id == 1);
    CHECK_OK(parse("{\"model_type\":\"mpnet\"}", &c));
    CHECK(c.tf.vocab_size == 30527 && c.tf.rel_buckets == 32 && c.tf.pad_token_id == 1 && c.tf.layer_norm_eps == 1e-12);
    CHECK(c.tf.hidden_size == 768 && c.tf.num_layers == 12 && c.tf.act == MMF_ACT_GELU);
    CHECK_OK(parse("{\"model_type\":\"distilbert\"}", &c));
    CHECK(c.tf.hidden_size == 768 && c.tf.num_layers == 6 && c.tf.num_heads == 12 && c.tf.intermediate_size == 3072);
    CHECK(c.tf.max_positions == 512 && c.tf.vocab_size == 30522 && !c.tf.sinusoidal_pos && c.tf.act == MMF_ACT_GELU);
    CHECK_OK(parse("{\"model_type\":\"distilbert\",\"dim\":64,\"n_layers\":2,\"n_heads\":4,\"hidden_dim\":100,"
                   "\"activation\":\"relu\",\"sinusoidal_pos_embds\":true}", &c));
    CHECK(c.tf.hidden_size == 64 && c.tf.num_layers == 2 && c.tf.num_heads == 4 && c.tf.intermediate_size == 100);
    CHECK(c.tf.act == MMF_ACT_RELU && c.tf.sinusoidal_pos);
    CHECK(parse("{\"model_type\":\"distilbert\",\"dim\":10,\"n_heads\":3}", &c) == MMF_ERR_FORMAT);
    CHECK_OK(parse("{\"model_type\":\"dinov2\"}", &c));
    CHECK(c.tf.hidden_size == 768 && c.tf.intermediate_size == 3072 && c.tf.patch_size == 14 && c.tf.image_size == 224);
    CHECK(c.tf.layer_norm_eps == 1e-6 && c.tf.layerscale_value == 1.0 && c.tf.qkv_bias && !c.tf.use_swiglu);
    CHECK_OK(parse("{\"model_type\":\"dinov2\",\"hidden_size\":384,\"num_attention_heads\":6,\"mlp_ratio\":2.5,"
                   "\"image_size\":518}", &c));
    CHECK(c.tf.intermediate_size == 960 && c.tf.image_size == 518);
    CHECK_OK(parse("{\"model_type\":\"siglip\",\"text_config\":{\"hidden_size\":512,\"num_attention_heads\":8},"
                   "\"vision_config\":{}}", &c));
    CHECK(c.text.vocab_size == 32000 && c.text.max_positions == 64 && c.text.act == MMF_ACT_GELU_TANH);
    CHECK(c.text.layer_norm_eps == 1e-6 && c.text.projection_size == 512 && c.text.pad_token_id == 1);
    CHECK(c.vision.patch_size == 16 && c.vision.image_size == 224 && c.vision.vision_use_head && c.vision.act == MMF_ACT_GELU_TANH);
    CHECK_OK(parse("{\"model_type\":\"siglip_vision_model\",\"vision_use_head\":false,\"patch_size\":14,\"image_size\":384}", &c));
    CHECK(!c.tf.vision_use_head && c.tf.patch_size == 14 && c.tf.image_size == 384 && c.tf.hidden_size == 768);

    CHECK(parse("{\"model_type\":\"gpt2\"}", &c) == MMF_ERR_UNSUPPORTED);
    CHECK(strstr(mmf_last_error(), "cfg.json") && strstr(mmf_last_error(), "gpt2"));
    CHECK(parse("{\"hidden_size\":3}", &c) == MMF_ERR_FORMAT);
    CHECK(strstr(mmf_last_error(), "model_type"));
    CHECK(parse("{\"model_type\":\"bert\",\"hidden_size\":100,\"num_attention_heads\":3}", &c) == MMF_ERR_FORMAT);
    CHECK(strstr(mmf_last_error(), "divisible"));
    CHECK(parse("{\"model_type\":\"bert\",\"hidden_size\":\"big\"}", &c) == MMF_ERR_FORMAT);
    CHECK(strstr(mmf_last_error(), "\"hidden_size\""));
    CHECK(parse("{\"model_type\":\"bert\",\"hidden_act\":\"swish42\"}", &c) == MMF_ERR_UNSUPPORTED);
    CHECK(strstr(mmf_last_error(), "hidden_act"));
    CHECK(parse("{\"model_type\":\"clip\",\"text_config\":{\"hidden_act\":\"nope\"}}", &c) == MMF_ERR_UNSUPPORTED);
    CHECK(strstr(mmf_last_error(), "text_config.hidden_act"));
    CHECK(parse("{\"model_type\":\"resnet\",\"hidden_sizes\":[1,2,3],\"depths\":[1]}", &c) == MMF_ERR_FORMAT);
    CHECK(parse("{\"model_type\":\"bert\",\"num_hidden_layers\":1e9}", &c) == MMF_ERR_FORMAT);
    CHECK(parse("[1,2]", &c) == MMF_ERR_FORMAT);

    /* the real bert-base-uncased config, when the shared folder is present */
    const char *sh = getenv("MMFUSE_SHARED");
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizers/bert-base-uncased/config.json", sh ? sh : "../shared");
    FILE *f = fopen(path, "r");
    if (f) {
        fclose(f);
        CHECK_OK(mmf_hf_config_load(path, &c));
        CHECK(c.tf.hidden_size == 768 && c.tf.num_layers == 12);
    } else {
        printf("note: %s absent, real-config check skipped (bert-base-uncased's config.json there enables it; README: Tests)\n", path);
    }
    return t_done("test_hf_config");
}
