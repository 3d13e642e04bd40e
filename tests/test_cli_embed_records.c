/* `mmfuse embed --records`: JSONL records with text and/or image absent ->
 * an embedding file (docs/embedding-file.md). Checks the mask, the class ids
 * looked up in a class list, the hashed ids (FNV-1a 64 computed by hand), that
 * present rows equal what `embed --text-file` / `--image-list` give for the same
 * inputs, that image paths resolve against the records' folder, and bad input. */
#include "test_util.h"
#include <unistd.h>

static char tmp[256], cli[1024], txt_model[1024], img_model[1024], imgdir[1024];

static int sh(const char *fmt, const char *a, const char *b) {
    char cmd[16384], inner[12000];
    snprintf(inner, sizeof inner, fmt, a ? a : "", b ? b : "");
    snprintf(cmd, sizeof cmd, "cd '%s' && %s", tmp, inner);
    int r = system(cmd);
    return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

static void write_file(const char *name, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmp, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

static int has_text(const char *file, const char *needle) {
    char p[512], buf[8192] = {0};
    snprintf(p, sizeof p, "%s/%s", tmp, file);
    FILE *f = fopen(p, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return strstr(buf, needle) != NULL;
}

int main(void) {
    const char *c = getenv("MMFUSE_CLI");
    if (!c) return t_skip("MMFUSE_CLI not set (run through ctest)");
    snprintf(cli, sizeof cli, "%s", c);
    t_tmpdir(tmp, sizeof tmp);
    t_src_path("tests/data/text/bert_st", txt_model, sizeof txt_model);
    t_src_path("tests/data/image/resnet_basic", img_model, sizeof img_model);
    t_src_path("tests/data/image", imgdir, sizeof imgdir);
    char cmd[12000];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/data/sub' && cp '%s/rgb8.png' '%s/data/' && cp '%s/rgba8.png' '%s/data/sub/'", tmp, imgdir,
             tmp, imgdir, tmp);
    CHECK(system(cmd) == 0);
    /* rows: 0 both, 1 image only (path in a subfolder), blank line skipped,
     * 2 text only (image null), 3 absolute image path, empty text, tags as text */
    char rec[4096];
    snprintf(rec, sizeof rec,
             "{\"id\":\"a\",\"text\":\"hello world\",\"image\":\"rgb8.png\",\"group\":\"b\",\"tags\":[\"the\",\"cat\"]}\n"
             "{\"id\":\"b\",\"image\":\"sub/rgba8.png\",\"group\":\"a\",\"tags\":[]}\n"
             "\n"
             "{\"id\":\"c\",\"text\":\"the cat\",\"image\":null,\"group\":2,\"tags\":[\"hello\",\"world\"]}\n"
             "{\"id\":\"a\",\"text\":\"\",\"image\":\"%s/grey.jpg\",\"group\":\"b\"}\n",
             imgdir);
    write_file("data/r.jsonl", rec);
    write_file("data/classes.json", "{\"groups\": [\"a\", \"b\", \"c\"], \"other\": [\"x\"]}\n");
    write_file("t.txt", "hello world\nthe cat\n");
    char il[2048];
    snprintf(il, sizeof il, "data/rgb8.png\ndata/sub/rgba8.png\n%s/grey.jpg\n", imgdir);
    write_file("i.txt", il);

    /* classes.json beside the records is found by itself; key = label field + "s" */
    snprintf(cmd, sizeof cmd, "'%s' embed --records data/r.jsonl --text-model '%s' --image-model '%s' --label-field group --id-field id --out o.safetensors 2>err.txt",
             cli, txt_model, img_model);
    CHECK(sh("%s", cmd, NULL) == 0);
    snprintf(cmd, sizeof cmd, "'%s' embed --model '%s' --text-file t.txt --out t.safetensors 2>/dev/null && '%s' embed --model '%s' --image-list i.txt --out i.safetensors 2>/dev/null",
             cli, txt_model, cli, img_model);
    CHECK(sh("%s", cmd, NULL) == 0);
    char p[512];
    mmf_embfile *ef = NULL;
    snprintf(p, sizeof p, "%s/o.safetensors", tmp);
    CHECK_OK(mmf_embfile_open(p, &ef));
    mmf_safetensors *tt = NULL, *it = NULL;
    snprintf(p, sizeof p, "%s/t.safetensors", tmp);
    CHECK_OK(mmf_st_open(p, &tt));
    snprintf(p, sizeof p, "%s/i.safetensors", tmp);
    CHECK_OK(mmf_st_open(p, &it));
    if (ef && tt && it) {
        CHECK(mmf_embfile_rows(ef) == 4);
        CHECK(mmf_embfile_n_modalities(ef) == 2);
        CHECK(!strcmp(mmf_embfile_modality(ef, 0), "text") && !strcmp(mmf_embfile_modality(ef, 1), "image"));
        CHECK(mmf_embfile_dim(ef, 0) == 32 && mmf_embfile_dim(ef, 1) == 12);
        const uint8_t want_mask[8] = {1, 1, 0, 1, 1, 0, 0, 1};
        CHECK(memcmp(mmf_embfile_mask(ef), want_mask, 8) == 0);
        const int64_t want_labels[4] = {1, 0, 2, 1};
        CHECK(mmf_embfile_labels(ef) && memcmp(mmf_embfile_labels(ef), want_labels, sizeof want_labels) == 0);
        CHECK(mmf_embfile_n_classes(ef) == 3);
        /* FNV-1a 64 of "a" = 0xaf63dc4c8601ec8c (offset basis 0xcbf29ce484222325,
         * one byte 0x61, prime 0x100000001b3), top bit cleared */
        const int64_t *ids = mmf_embfile_ids(ef);
        CHECK(ids && ids[0] == 0x2f63dc4c8601ec8cLL && ids[3] == ids[0] && ids[1] != ids[0] && ids[2] != ids[1]);
        float t[2 * 32], im[3 * 12];
        CHECK_OK(mmf_st_read_f32(tt, "embeddings", t, 2 * 32));
        CHECK_OK(mmf_st_read_f32(it, "embeddings", im, 3 * 12));
        const float *T = mmf_embfile_data(ef, 0), *I = mmf_embfile_data(ef, 1);
        /* the records' present rows against the same inputs embedded alone: equal to
         * float rounding (a batch of other shape may be blocked otherwise by the GEMM) */
        t_allclose(T + 0 * 32, t, 32, 1e-5, 1e-5, "records text row 0");
        t_allclose(T + 2 * 32, t + 32, 32, 1e-5, 1e-5, "records text row 2");
        t_allclose(I + 0 * 12, im, 12, 1e-5, 1e-5, "records image row 0");
        t_allclose(I + 1 * 12, im + 12, 12, 1e-5, 1e-5, "records image row 1");
        t_allclose(I + 3 * 12, im + 24, 12, 1e-5, 1e-5, "records image row 3");
        CHECK(has_text("err.txt", "text: 2 of 4 records present"));
    }
    mmf_embfile_close(ef);
    mmf_st_close(tt);
    mmf_st_close(it);

    /* text only, tags array as the text, explicit class list key, ids = row numbers */
    snprintf(cmd, sizeof cmd, "'%s' embed --records data/r.jsonl --text-model '%s' --text-field tags --label-field group --classes data/classes.json --classes-key groups --out o2.safetensors 2>/dev/null",
             cli, txt_model);
    CHECK(sh("%s", cmd, NULL) == 0);
    snprintf(p, sizeof p, "%s/o2.safetensors", tmp);
    ef = NULL;
    CHECK_OK(mmf_embfile_open(p, &ef));
    tt = NULL;
    snprintf(p, sizeof p, "%s/t.safetensors", tmp);
    CHECK_OK(mmf_st_open(p, &tt));
    if (ef && tt) {
        CHECK(mmf_embfile_n_modalities(ef) == 1 && mmf_embfile_dim(ef, 0) == 32);
        const uint8_t want_mask[4] = {1, 0, 1, 0};   /* [] and a missing field are absent */
        CHECK(memcmp(mmf_embfile_mask(ef), want_mask, 4) == 0);
        const int64_t *ids = mmf_embfile_ids(ef);
        CHECK(ids && ids[0] == 0 && ids[1] == 1 && ids[2] == 2 && ids[3] == 3);
        float t[2 * 32];
        CHECK_OK(mmf_st_read_f32(tt, "embeddings", t, 2 * 32));
        /* tags ["the","cat"] -> "the cat"; ["hello","world"] -> "hello world" */
        const float *T = mmf_embfile_data(ef, 0);
        t_allclose(T, t + 32, 32, 1e-5, 1e-5, "tags row 0");
        t_allclose(T + 2 * 32, t, 32, 1e-5, 1e-5, "tags row 2");
    }
    mmf_embfile_close(ef);
    mmf_st_close(tt);

    /* no labels at all: --label-field none */
    snprintf(cmd, sizeof cmd, "'%s' embed --records data/r.jsonl --image-model '%s' --label-field none --out o3.safetensors 2>/dev/null", cli, img_model);
    CHECK(sh("%s", cmd, NULL) == 0);
    snprintf(p, sizeof p, "%s/o3.safetensors", tmp);
    ef = NULL;
    CHECK_OK(mmf_embfile_open(p, &ef));
    if (ef) CHECK(mmf_embfile_labels(ef) == NULL && mmf_embfile_n_modalities(ef) == 1);
    mmf_embfile_close(ef);

    /* bad input: each a clear error naming the file and line, no output */
    struct { const char *records, *extra, *needle; int rc; } bad[] = {
        {"{\"text\":\"x\",\"group\":\"zz\"}\n", "--label-field group", "\"zz\" is not in the class list", 1},
        {"{\"text\":\"x\"}\nnot json\n", "", "bad.jsonl:2: expected one JSON object", 1},
        {"{\"text\":7}\n", "", "field \"text\": expected a string", 1},
        {"{\"text\":\"x\",\"label\":\"a\"}\n", "--classes nope.json", "cannot open the class list", 1},
        {"{\"text\":\"x\",\"label\":1.5}\n", "", "is not a class id", 1},
        {"{\"text\":\"x\",\"group\":\"a\"}\n{\"text\":\"y\"}\n", "--label-field group", "record 2 has no \"group\"", 1},
        {"{\"text\":\"x\",\"image\":\"missing.png\"}\n", "--image-model IMG", "missing.png", 1},
        {"{\"text\":\"x\"}\n", "--image-model TXT", "without an image tower", 2},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        write_file("data/bad.jsonl", bad[k].records);
        char extra[2048];
        if (!strcmp(bad[k].extra, "--image-model IMG")) snprintf(extra, sizeof extra, "--image-model '%s'", img_model);
        else if (!strcmp(bad[k].extra, "--image-model TXT")) snprintf(extra, sizeof extra, "--image-model '%s'", txt_model);
        else snprintf(extra, sizeof extra, "%s", bad[k].extra);
        snprintf(cmd, sizeof cmd, "rm -f bad.safetensors; '%s' embed --records data/bad.jsonl --text-model '%s' %s --out bad.safetensors 2>err.txt", cli,
                 txt_model, extra);
        int rc = sh("%s", cmd, NULL);
        CHECK_MSG(rc == bad[k].rc && has_text("err.txt", bad[k].needle), "bad case %zu: rc %d, wanted %d and \"%s\"", k, rc, bad[k].rc,
                  bad[k].needle);
        snprintf(p, sizeof p, "%s/bad.safetensors", tmp);
        CHECK_MSG(access(p, F_OK) != 0, "bad case %zu left an output", k);
    }
    /* --skip-bad: the unreadable image is marked absent, the rest embedded */
    write_file("data/bad.jsonl", "{\"text\":\"x\",\"image\":\"missing.png\"}\n{\"text\":\"y\",\"image\":\"rgb8.png\"}\n");
    snprintf(cmd, sizeof cmd, "'%s' embed --records data/bad.jsonl --image-model '%s' --skip-bad --out sb.safetensors 2>err.txt", cli, img_model);
    CHECK(sh("%s", cmd, NULL) == 0);
    snprintf(p, sizeof p, "%s/sb.safetensors", tmp);
    ef = NULL;
    CHECK_OK(mmf_embfile_open(p, &ef));
    if (ef) CHECK(mmf_embfile_mask(ef)[0] == 0 && mmf_embfile_mask(ef)[1] == 1);
    mmf_embfile_close(ef);
    CHECK(has_text("err.txt", "1 of 2 images failed"));

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    CHECK(system(cmd) == 0);
    return t_done("test_cli_embed_records");
}
