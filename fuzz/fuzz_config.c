/* libFuzzer harness for config loading: any bytes go through mmf_json_parse,
 * the typed getters of src/io/json.h over config-like keys (top level and the
 * nested text_config / vision_config objects), and mmf_hf_config_parse.
 * Also replayed by tests/test_fuzz_regress.c. */
#include <stdint.h>
#include <string.h>
#include "mmfuse.h"
#include "io/json.h"
#include "io/hf_config.h"
#include "fuzz_entry.h"

#define PROMISE(c) do { if (!(c)) __builtin_trap(); } while (0)

static void getters(const cJSON *o) {
    static const char *keys[] = {"hidden_size", "num_hidden_layers", "vocab_size", "layer_norm_eps", "hidden_act",
                                 "model_type", "qkv_bias", "projection_dim", "image_size", "depths", ""};
    volatile int64_t acc = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        int64_t iv;
        double dv;
        int bv;
        const char *sv;
        if (mmf_json_int(o, keys[i], 7, -1000, 1000000, "fuzz.json", &iv) == MMF_OK) {
            PROMISE(iv >= -1000 && iv <= 1000000);
            acc += iv;
        } else PROMISE(strstr(mmf_last_error(), "fuzz.json") != NULL);
        if (mmf_json_int(o, keys[i], 0, INT64_MIN, INT64_MAX, "fuzz.json", &iv) == MMF_OK) acc += iv;
        if (mmf_json_int_req(o, keys[i], 0, 10, "fuzz.json", &iv) == MMF_OK) PROMISE(iv >= 0 && iv <= 10);
        if (mmf_json_num(o, keys[i], 0.5, "fuzz.json", &dv) == MMF_OK) acc += dv == dv;
        if (mmf_json_bool(o, keys[i], 0, "fuzz.json", &bv) == MMF_OK) PROMISE(bv == 0 || bv == 1);
        if (mmf_json_str(o, keys[i], "dflt", "fuzz.json", &sv) == MMF_OK) { PROMISE(sv != NULL); acc += (int64_t)strlen(sv); }
    }
    (void)acc;
}

int mmf_fuzz_config(const uint8_t *data, size_t size) {
    cJSON *root = NULL;
    if (mmf_json_parse((const char *)data, size, "fuzz.json", &root) != MMF_OK) {
        PROMISE(root == NULL);
        PROMISE(strstr(mmf_last_error(), "fuzz.json") != NULL);
        return 0;
    }
    getters(root);
    getters(cJSON_GetObjectItemCaseSensitive(root, "text_config"));
    getters(cJSON_GetObjectItemCaseSensitive(root, "vision_config"));
    mmf_hf_config cfg;
    memset(&cfg, 0xa5, sizeof cfg);
    if (mmf_hf_config_parse(root, "fuzz.json", &cfg) == MMF_OK) {
        PROMISE(memchr(cfg.model_type, 0, sizeof cfg.model_type) != NULL);
        PROMISE(cfg.n_stages >= 0 && cfg.n_stages <= MMF_RESNET_MAX_STAGES);
    } else {
        PROMISE(strstr(mmf_last_error(), "fuzz.json") != NULL);
    }
    cJSON_Delete(root);
    return 0;
}

#ifndef MMF_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return mmf_fuzz_config(data, size); }
#endif
