/* `mmfuse embed` end to end against the PyTorch reference: the
 * sentence-transformers folder (mean pooling + Normalize, max_seq_length 12)
 * over the reference texts written one per line; the output must match
 * text_default of expect_bert_st (tests/ref/ref_bert.py) within 1e-4. */
#include "test_util.h"
#include <unistd.h>

int main(void) {
    const char *cli = getenv("MMFUSE_CLI");
    if (!cli) return t_skip("MMFUSE_CLI not set (run through ctest)");
    /* TEXTS of tests/ref/ref_bert.py, except index 7 which holds a newline */
    static const char *texts[] = {
        "", "hello", "Hello, world!", "the cat sat on the mat.",
        "The dog was running and playing; it is unbelievable!", "unbelievableness of the world",
        "a b c d e f g h i j k l m n o p q r s t u v w x y z", NULL,
        "numbers 12345 and 007, (parens) \"quotes\" 'single'", "zzzzqqqq xyzzy",
        "this that and of to in for the a is was it run play hello world cat dog sat on mat", "?!?!...",
    };
    char tmp[256], in[512], out[512], model[1024], expect[1024], cmd[4096];
    t_tmpdir(tmp, sizeof tmp);
    snprintf(in, sizeof in, "%s/texts.txt", tmp);
    snprintf(out, sizeof out, "%s/out.safetensors", tmp);
    FILE *f = fopen(in, "w");
    int rows[12], n = 0;
    for (int i = 0; i < 12; i++)
        if (texts[i]) { fprintf(f, "%s\n", texts[i]); rows[n++] = i; }
    fclose(f);
    t_src_path("tests/data/text/bert_st", model, sizeof model);
    t_src_path("tests/data/text/expect_bert_st.safetensors", expect, sizeof expect);
    snprintf(cmd, sizeof cmd, "'%s' embed --model '%s' --text-file '%s' --out '%s' --batch 4 --threads 2 2>/dev/null", cli,
             model, in, out);
    CHECK(system(cmd) == 0);
    mmf_safetensors *got = NULL, *ex = NULL;
    CHECK_OK(mmf_st_open(out, &got));
    CHECK_OK(mmf_st_open(expect, &ex));
    if (got && ex) {
        const mmf_tensor_info *g = mmf_st_find(got, "embeddings");
        CHECK(g && g->ndim == 2 && g->shape[0] == n && g->shape[1] == 32);
        float want[12 * 32], have[11 * 32];
        CHECK_OK(mmf_st_read_f32(ex, "text_default", want, 12 * 32));
        CHECK_OK(mmf_st_read_f32(got, "embeddings", have, (size_t)n * 32));
        double worst = 0;
        for (int r = 0; r < n; r++) {
            double d = t_max_abs_diff(have + r * 32, want + rows[r] * 32, 32);
            if (d > worst) worst = d;
        }
        CHECK_MSG(worst <= 1e-4, "max abs diff %g", worst);
        printf("mmfuse embed vs PyTorch (mean + normalize): max abs diff %.3g\n", worst);
        CHECK(strcmp(mmf_st_metadata(got, "pooling"), "mean") == 0);
    }
    mmf_st_close(got);
    mmf_st_close(ex);
    unlink(in);
    unlink(out);
    rmdir(tmp);
    return t_done("test_cli_embed");
}
