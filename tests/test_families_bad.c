/* Bad input for the RoBERTa, DistilBERT, MPNet, DINOv2 and SigLIP families:
 * a config that disagrees with its checkpoint, or asks for what mmfuse does
 * not run, is a clear error (status + message naming the file or tensor and
 * the problem), never a crash or a silent wrong embedding. Each case copies a
 * reference folder to a temp dir and edits one field. */
#include "test_util.h"
#include <sys/stat.h>

static char tmp[256];

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) exit(1);
    b[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* copy of src (flat files) into tmp/name with `from` replaced by `to` in file `edit` */
static const char *variant(const char *src_rel, const char *name, const char *edit, const char *from, const char *to) {
    static char dir[1200];
    char src[1024];
    t_src_path(src_rel, src, sizeof src);
    snprintf(dir, sizeof dir, "%s/%s", tmp, name);
    mkdir(dir, 0755);
    const char *files[] = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "preprocessor_config.json"};
    for (int i = 0; i < 5; i++) {
        char p[1400];
        size_t n;
        snprintf(p, sizeof p, "%s/%s", src, files[i]);
        char *b = slurp(p, &n);
        if (!b) continue;
        if (!strcmp(files[i], edit)) {
            char *at = strstr(b, from);
            if (!at) { fprintf(stderr, "%s: no \"%s\" in %s\n", name, from, files[i]); exit(1); }
            char *r = malloc(n + strlen(to) + 1);
            memcpy(r, b, (size_t)(at - b));
            strcpy(r + (at - b), to);
            strcat(r, at + strlen(from));
            free(b);
            b = r;
            n = strlen(r);
        }
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        FILE *f = fopen(p, "wb");
        fwrite(b, 1, n, f);
        fclose(f);
        free(b);
    }
    return dir;
}

static void expect_fail(const char *dir, mmf_status want, const char *needle) {
    mmf_encoder *e = NULL;
    mmf_status s = mmf_encoder_load(dir, NULL, &e);
    CHECK_MSG(s == want, "%s: got %s (%s), expected %s", dir, mmf_status_str(s), mmf_last_error(), mmf_status_str(want));
    CHECK_MSG(strstr(mmf_last_error(), needle) != NULL, "%s: message \"%s\" lacks \"%s\"", dir, mmf_last_error(), needle);
    CHECK(e == NULL);
    mmf_encoder_free(e);
}

int main(void) {
    mmf_log_set_level(MMF_LOG_ERROR);
    t_tmpdir(tmp, sizeof tmp);
    /* MPNet: the bucket count must match the bias table */
    expect_fail(variant("tests/data/text/mpnet_st", "mpnet_buckets", "config.json", "\"relative_attention_num_buckets\": 32",
                        "\"relative_attention_num_buckets\": 16"),
                MMF_ERR_SHAPE, "encoder.relative_attention_bias.weight");
    /* DistilBERT: no position table and no sinusoidal_pos_embds */
    expect_fail(variant("tests/data/text/distilbert_st", "distil_nopos", "config.json", "\"sinusoidal_pos_embds\": true",
                        "\"sinusoidal_pos_embds\": false"),
                MMF_ERR_NOT_FOUND, "sinusoidal_pos_embds");
    /* RoBERTa: a pad id that leaves no positions */
    expect_fail(variant("tests/data/text/roberta_a", "roberta_pad", "config.json", "\"pad_token_id\": 1", "\"pad_token_id\": 19"),
                MMF_ERR_FORMAT, "pad_token_id");
    /* DINOv2: SwiGLU (giant) is refused; one layer more than the checkpoint; a non-square crop */
    expect_fail(variant("tests/data/image/dinov2_small", "dino_swiglu", "config.json", "\"use_swiglu_ffn\": false",
                        "\"use_swiglu_ffn\": true"),
                MMF_ERR_UNSUPPORTED, "use_swiglu_ffn");
    expect_fail(variant("tests/data/image/dinov2_small", "dino_layers", "config.json", "\"num_hidden_layers\": 2",
                        "\"num_hidden_layers\": 3"),
                MMF_ERR_NOT_FOUND, "encoder.layer.2");
    expect_fail(variant("tests/data/image/dinov2_small", "dino_crop", "preprocessor_config.json", "\"width\": 28", "\"width\": 24"),
                MMF_ERR_UNSUPPORTED, "square");
    expect_fail(variant("tests/data/image/dinov2_small", "dino_grid", "config.json", "\"image_size\": 40", "\"image_size\": 36"),
                MMF_ERR_SHAPE, "embeddings.position_embeddings");
    /* SigLIP: the text head's width, the vision position table, the processor's size */
    expect_fail(variant("tests/data/image/siglip_a", "siglip_proj", "config.json", "\"projection_size\": 32", "\"projection_size\": 24"),
                MMF_ERR_SHAPE, "text_model.head.weight");
    expect_fail(variant("tests/data/image/siglip_vision", "siglip_size", "config.json", "\"image_size\": 16", "\"image_size\": 20"),
                MMF_ERR_SHAPE, "vision_model.embeddings.position_embedding.weight");
    expect_fail(variant("tests/data/image/siglip_vision", "siglip_proc", "preprocessor_config.json", "\"height\": 16", "\"height\": 12"),
                MMF_ERR_SHAPE, "preprocessor_config.json");
    return t_done("test_families_bad");
}
