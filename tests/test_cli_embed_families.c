/* `mmfuse embed --model DIR` and `mmfuse inspect DIR` on the RoBERTa,
 * XLM-RoBERTa, DistilBERT and MPNet folders of tests/ref/ref_text_families.py and
 * on the DINOv2 (default cls, and --pooling cls_mean) and SigLIP folders of
 * tests/ref/ref_dinov2.py / tests/ref/ref_siglip.py (three image files):
 * the texts written one per line, embedded by the CLI with the folder's
 * default pooling and normalisation, must match the float64 reference
 * (text_default, or text_mean where the folder has no sentence-transformers
 * modules) within 1e-4; inspect must name the family and the pooling. */
#include "test_util.h"
#include <unistd.h>

static const char *texts[] = {
    "", "hello", "Hello, world!", "the cat sat on the mat.",
    "The dog was running and playing; it is unbelievable!", "unbelievableness of the world",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z",
    "numbers 12345 and 007, (parens) \"quotes\" 'single'",
    "this that and of to in for the a is was it run play hello world cat dog sat on mat",
};
#define N ((int)(sizeof texts / sizeof texts[0]))

static void run_case(const char *cli, const char *tmp, const char *in, const char *cas, const char *want_name,
                     const char *family_word, const char *pool_line) {
    char out[512], model[1024], expect[1024], rel[256], cmd[4096];
    snprintf(out, sizeof out, "%s/%s.safetensors", tmp, cas);
    snprintf(rel, sizeof rel, "tests/data/text/%s", cas);
    t_src_path(rel, model, sizeof model);
    snprintf(rel, sizeof rel, "tests/data/text/expect_%s.safetensors", cas);
    t_src_path(rel, expect, sizeof expect);
    snprintf(cmd, sizeof cmd, "'%s' embed --model '%s' --text-file '%s' --out '%s' --batch 4 --threads 2 2>/dev/null", cli,
             model, in, out);
    CHECK_MSG(system(cmd) == 0, "%s: embed failed", cas);
    mmf_safetensors *got = NULL, *ex = NULL;
    CHECK_OK(mmf_st_open(out, &got));
    CHECK_OK(mmf_st_open(expect, &ex));
    if (got && ex) {
        const mmf_tensor_info *g = mmf_st_find(got, "embeddings"), *w = mmf_st_find(ex, want_name);
        CHECK(g && w && g->ndim == 2 && g->shape[0] == N && w->shape[0] == N && g->shape[1] == w->shape[1]);
        if (g && w && g->numel == w->numel) {
            float *a = malloc(sizeof(float) * (size_t)g->numel), *b = malloc(sizeof(float) * (size_t)w->numel);
            CHECK_OK(mmf_st_read_f32(got, "embeddings", a, (size_t)g->numel));
            CHECK_OK(mmf_st_read_f32(ex, want_name, b, (size_t)w->numel));
            double d = t_max_abs_diff(a, b, (size_t)g->numel);
            CHECK_MSG(d <= 1e-4, "%s: CLI embeddings differ from %s by %g", cas, want_name, d);
            printf("%s: mmfuse embed vs reference %s: max abs diff %.3g\n", cas, want_name, d);
            free(a);
            free(b);
        }
    }
    mmf_st_close(got);
    mmf_st_close(ex);
    /* inspect names the family and the pooling */
    char txt[512];
    snprintf(txt, sizeof txt, "%s/%s.txt", tmp, cas);
    snprintf(cmd, sizeof cmd, "'%s' inspect '%s' > '%s' 2>&1", cli, model, txt);
    CHECK_MSG(system(cmd) == 0, "%s: inspect failed", cas);
    char buf[4096] = {0};
    FILE *f = fopen(txt, "r");
    if (f) { size_t n = fread(buf, 1, sizeof buf - 1, f); buf[n] = 0; fclose(f); }
    CHECK_MSG(strstr(buf, family_word) != NULL, "%s: inspect does not name the family (%s): %s", cas, family_word, buf);
    CHECK_MSG(strstr(buf, pool_line) != NULL, "%s: inspect does not show \"%s\": %s", cas, pool_line, buf);
}

/* image folders: the three test images through the CLI, against a tensor of the family's expected file */
static void image_case(const char *cli, const char *tmp, const char *list, const char *folder, const char *expect_file,
                       const char *want_name, const char *extra, const char *family_word, const char *pool_line) {
    char out[512], model[1024], expect[1024], rel[256], cmd[4096];
    snprintf(out, sizeof out, "%s/%s.safetensors", tmp, folder);
    snprintf(rel, sizeof rel, "tests/data/image/%s", folder);
    t_src_path(rel, model, sizeof model);
    snprintf(rel, sizeof rel, "tests/data/image/%s", expect_file);
    t_src_path(rel, expect, sizeof expect);
    snprintf(cmd, sizeof cmd, "'%s' embed --model '%s' --image-list '%s' --out '%s' --batch 2 --threads 2 %s 2>/dev/null", cli,
             model, list, out, extra);
    CHECK_MSG(system(cmd) == 0, "%s: embed failed", folder);
    mmf_safetensors *got = NULL, *ex = NULL;
    CHECK_OK(mmf_st_open(out, &got));
    CHECK_OK(mmf_st_open(expect, &ex));
    if (got && ex) {
        const mmf_tensor_info *g = mmf_st_find(got, "embeddings"), *w = mmf_st_find(ex, want_name);
        CHECK(g && w && g->numel == w->numel && g->shape[0] == 3);
        if (g && w && g->numel == w->numel) {
            double d = t_max_abs_diff(g->data, w->data, (size_t)g->numel);
            CHECK_MSG(d <= 1e-4, "%s: CLI embeddings differ from %s by %g", folder, want_name, d);
            printf("%s: mmfuse embed vs reference %s: max abs diff %.3g\n", folder, want_name, d);
        }
    }
    mmf_st_close(got);
    mmf_st_close(ex);
    char txt[512], buf[4096] = {0};
    snprintf(txt, sizeof txt, "%s/%s.txt", tmp, folder);
    snprintf(cmd, sizeof cmd, "'%s' inspect '%s' > '%s' 2>&1", cli, model, txt);
    CHECK_MSG(system(cmd) == 0, "%s: inspect failed", folder);
    FILE *f = fopen(txt, "r");
    if (f) { size_t n = fread(buf, 1, sizeof buf - 1, f); buf[n] = 0; fclose(f); }
    CHECK_MSG(strstr(buf, family_word) && strstr(buf, pool_line), "%s: inspect output: %s", folder, buf);
}

int main(void) {
    const char *cli = getenv("MMFUSE_CLI");
    if (!cli) return t_skip("MMFUSE_CLI not set (run through ctest)");
    char tmp[256], in[512];
    t_tmpdir(tmp, sizeof tmp);
    snprintf(in, sizeof in, "%s/texts.txt", tmp);
    FILE *f = fopen(in, "w");
    for (int i = 0; i < N; i++) fprintf(f, "%s\n", texts[i]);
    fclose(f);
    run_case(cli, tmp, in, "roberta_a", "text_mean", "RoBERTa", "pooling     mean");
    run_case(cli, tmp, in, "xlmr_st", "text_default", "XLM-RoBERTa", "pooling     mean");
    run_case(cli, tmp, in, "distilbert_st", "text_default", "DistilBERT", "pooling     cls");
    run_case(cli, tmp, in, "mpnet_st", "text_default", "MPNet", "pooling     mean");
    char list[512];
    snprintf(list, sizeof list, "%s/images.txt", tmp);
    f = fopen(list, "w");
    const char *imgs[] = {"photo400x300.jpg", "tall190x257.png", "rgb8.png"};
    for (int i = 0; i < 3; i++) {
        char rel[128], p[1024];
        snprintf(rel, sizeof rel, "tests/data/image/%s", imgs[i]);
        fprintf(f, "%s\n", t_src_path(rel, p, sizeof p));
    }
    fclose(f);
    image_case(cli, tmp, list, "dinov2_small", "dinov2_expected.safetensors", "small/cls", "", "DINOv2", "pooling     cls");
    image_case(cli, tmp, list, "dinov2_up", "dinov2_expected.safetensors", "up/cls_mean", "--pooling cls_mean", "DINOv2",
               "pooling     cls");
    image_case(cli, tmp, list, "siglip_vision", "siglip_expected.safetensors", "image_embeds", "", "SigLIP vision",
               "pooling     pooler: the attention-pooling head");
    image_case(cli, tmp, list, "siglip_a", "siglip_expected.safetensors", "image_embeds", "", "SigLIP", "pooling     pooler");
    return t_done("test_cli_embed_families");
}
