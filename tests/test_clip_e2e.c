/* CLIP end to end through the public API on tests/data/image/clip_zs (the real
 * 49408-token vocabulary) with the real tokenizer files from $MMFUSE_SHARED
 * (skipped when absent): mmf_encoder_embed_text (tokenizer + text tower +
 * projection, batched and padded) and mmf_encoder_embed_image_files (decode +
 * CLIPImageProcessor + vision tower + projection) against tests/ref/ref_clip.py,
 * with tokenizer.json and with vocab.json + merges.txt only. */
#include "test_util.h"
#include <cjson/cJSON.h>
#include <sys/stat.h>

static const char *labels[] = {"a photo of a cat", "A Photo Of A DOG", "the quick brown fox jumps over the lazy dog", "Hello, world!"};
static const char *images[] = {"photo400x300.jpg", "tall190x257.png", "rgb8.png", "cmyk.jpg", "exif6.jpg"};

static void run(const char *dir, const mmf_safetensors *ex, const char *label, int nt) {
    mmf_encoder_params p = mmf_encoder_params_default();
    p.n_threads = nt;
    p.max_batch = 3;   /* several batches, padded to different lengths */
    mmf_encoder *e = NULL;
    CHECK_OK(mmf_encoder_load(dir, &p, &e));
    if (!e) return;
    int D = mmf_encoder_dim(e);
    float txt[4 * 64], img[5 * 64];
    CHECK(D <= 64);
    CHECK_OK(mmf_encoder_embed_text(e, labels, 4, MMF_POOL_DEFAULT, 0, txt));
    const mmf_tensor_info *te = mmf_st_find(ex, "text_embeds"), *ie = mmf_st_find(ex, "image_embeds");
    double d1 = t_max_abs_diff(txt, te->data, (size_t)te->numel);
    char src[1024], paths[5][1200];
    const char *pp[5];
    t_src_path("tests/data/image", src, sizeof src);
    for (int i = 0; i < 5; i++) { snprintf(paths[i], sizeof paths[i], "%s/%s", src, images[i]); pp[i] = paths[i]; }
    uint8_t failed[5];
    CHECK_OK(mmf_encoder_embed_image_files(e, pp, 5, MMF_POOL_DEFAULT, 0, 0, failed, img, NULL, NULL));
    double d2 = t_max_abs_diff(img, ie->data, (size_t)ie->numel);
    printf("[%s, threads %d] text_embeds max diff %.3g, image_embeds max diff %.3g, logit scale %.4f\n", label, nt, d1, d2,
           mmf_encoder_logit_scale(e));
    CHECK(d1 <= 1e-4 && d2 <= 1e-4);
    mmf_encoder_free(e);
}

int main(void) {
    const char *sh = getenv("MMFUSE_SHARED");
    char tok[1024], tmp[512], cmd[6000], src[1024], p[1100];
    snprintf(tok, sizeof tok, "%s/tokenizers/clip-vit-base-patch32", sh ? sh : "../shared");
    struct stat sb;
    snprintf(p, sizeof p, "%s/tokenizer.json", tok);
    if (stat(p, &sb) != 0) return t_skip_shared(tok, "openai/clip-vit-base-patch32", "vocab.json, merges.txt, tokenizer.json");
    t_src_path("tests/data/image/clip_zs", src, sizeof src);
    snprintf(p, sizeof p, "%s/expected.safetensors", src);
    mmf_safetensors *ex;
    CHECK_OK(mmf_st_open(p, &ex));
    if (!ex) return t_done("test_clip_e2e");
    t_tmpdir(tmp, sizeof tmp);
    snprintf(cmd, sizeof cmd, "cp %s/config.json %s/preprocessor_config.json %s/model.safetensors %s/ && cp %s/* %s/",
             src, src, src, tmp, tok, tmp);
    CHECK(system(cmd) == 0);
    run(tmp, ex, "tokenizer.json", 1);
    run(tmp, ex, "tokenizer.json", 2);
    snprintf(cmd, sizeof cmd, "rm %s/tokenizer.json", tmp);
    CHECK(system(cmd) == 0);
    run(tmp, ex, "vocab.json + merges.txt", 1);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd)) {}
    mmf_st_close(ex);
    return t_done("test_clip_e2e");
}
