/* Bad input for the text encoders and tokenizers: every case a clear error
 * (status + message naming the file and the problem) or a documented notice,
 * never a crash. Model folders are built in a temp dir from the small
 * reference folder tests/data/text/bert_a. */
#include "test_util.h"
#include <sys/stat.h>
#include <unistd.h>

static char tmp[256], src[1024];

static void put(const char *dir, const char *name, const char *text, size_t len) {
    char p[1400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f) { perror(p); exit(1); }
    fwrite(text, 1, len, f);
    fclose(f);
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(1); }
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

/* A fresh copy of bert_a named `name`; files listed in `skip` are left out. */
static const char *copy_model(const char *name, const char *skip) {
    static char dir[1200];
    snprintf(dir, sizeof dir, "%s/%s", tmp, name);
    mkdir(dir, 0755);
    const char *files[] = {"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json"};
    for (int i = 0; i < 4; i++) {
        char key[64];
        snprintf(key, sizeof key, "|%s|", files[i]);
        if (skip && strstr(skip, key)) continue;
        char p[1400];
        size_t n;
        snprintf(p, sizeof p, "%s/%s", src, files[i]);
        char *b = slurp(p, &n);
        put(dir, files[i], b, n);
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

static char *replace(const char *s, const char *from, const char *to) {
    const char *at = strstr(s, from);
    if (!at) { fprintf(stderr, "no %s in config\n", from); exit(1); }
    char *r = malloc(strlen(s) + strlen(to) + 1);
    memcpy(r, s, (size_t)(at - s));
    strcpy(r + (at - s), to);
    strcat(r, at + strlen(from));
    return r;
}

int main(void) {
    mmf_log_set_level(MMF_LOG_ERROR);   /* the truncation notices are expected here */
    t_tmpdir(tmp, sizeof tmp);
    t_src_path("tests/data/text/bert_a", src, sizeof src);
    char p[1400];
    size_t n;
    snprintf(p, sizeof p, "%s/config.json", src);
    char *cfg = slurp(p, &n);

    expect_fail("/nonexistent/model", MMF_ERR_NOT_FOUND, "/nonexistent/model");
    const char *d = copy_model("no_weights", "|model.safetensors|");
    expect_fail(d, MMF_ERR_NOT_FOUND, "model.safetensors");
    d = copy_model("no_tokenizer", "|vocab.txt|tokenizer_config.json|");
    expect_fail(d, MMF_ERR_NOT_FOUND, "vocab.txt");
    d = copy_model("gpt2", NULL);
    char *c2 = replace(cfg, "\"bert\"", "\"gpt2\"");
    put(d, "config.json", c2, strlen(c2));
    free(c2);
    expect_fail(d, MMF_ERR_UNSUPPORTED, "gpt2");
    d = copy_model("wide", NULL);
    c2 = replace(cfg, "\"hidden_size\": 24", "\"hidden_size\": 36");
    put(d, "config.json", c2, strlen(c2));
    free(c2);
    expect_fail(d, MMF_ERR_SHAPE, "embeddings.word_embeddings.weight");
    d = copy_model("fewer_layers", NULL);
    c2 = replace(cfg, "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 1");
    put(d, "config.json", c2, strlen(c2));
    free(c2);
    expect_fail(d, MMF_ERR_SHAPE, "num_hidden_layers");
    d = copy_model("more_layers", NULL);
    c2 = replace(cfg, "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3");
    put(d, "config.json", c2, strlen(c2));
    free(c2);
    expect_fail(d, MMF_ERR_NOT_FOUND, "encoder.layer.2");
    d = copy_model("relative_pos", NULL);
    c2 = replace(cfg, "\"absolute\"", "\"relative_key\"");
    put(d, "config.json", c2, strlen(c2));
    free(c2);
    expect_fail(d, MMF_ERR_UNSUPPORTED, "relative_key");
    d = copy_model("bad_json", NULL);
    put(d, "config.json", "{\"model_type\": \"bert\", ", 23);
    expect_fail(d, MMF_ERR_FORMAT, "config.json");
    d = copy_model("truncated_weights", NULL);
    snprintf(p, sizeof p, "%s/model.safetensors", src);
    char *w = slurp(p, &n);
    put(d, "model.safetensors", w, n / 2);
    free(w);
    expect_fail(d, MMF_ERR_FORMAT, "model.safetensors");
    d = copy_model("no_cls", NULL);
    put(d, "vocab.txt", "[PAD]\n[UNK]\nhello\n", 18);
    expect_fail(d, MMF_ERR_FORMAT, "[CLS]");
    d = copy_model("bad_tokenizer_json", NULL);
    put(d, "tokenizer.json", "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", 43);
    expect_fail(d, MMF_ERR_FORMAT, "model.vocab has 0 pieces");
    put(d, "tokenizer.json", "{\"model\": {\"type\": \"WordLevel\", \"vocab\": {}}}", 45);
    expect_fail(d, MMF_ERR_UNSUPPORTED, "WordLevel");
    put(d, "tokenizer.json", "not json", 8);
    expect_fail(d, MMF_ERR_FORMAT, "tokenizer.json");

    /* a checkpoint without pooler weights loads; "pooler" pooling then fails clearly */
    d = copy_model("no_pooler", "|model.safetensors|");
    {
        mmf_safetensors *st;
        char sp[1400], dp[1400];
        snprintf(sp, sizeof sp, "%s/model.safetensors", src);
        snprintf(dp, sizeof dp, "%s/model.safetensors", d);
        CHECK_OK(mmf_st_open(sp, &st));
        mmf_st_writer *wr = mmf_st_writer_new();
        for (size_t i = 0; st && i < mmf_st_count(st); i++) {
            const mmf_tensor_info *t = mmf_st_at(st, i);
            if (strstr(t->name, "pooler")) continue;
            CHECK_OK(mmf_st_writer_add(wr, t->name, t->dtype, t->ndim, t->shape, t->data));
        }
        CHECK_OK(mmf_st_writer_finish(wr, dp));
        mmf_st_writer_free(wr);
        mmf_st_close(st);
        mmf_encoder *e = NULL;
        CHECK_OK(mmf_encoder_load(d, NULL, &e));
        if (e) {
            const char *one[] = {"hello"};
            float o[24];
            CHECK(mmf_encoder_embed_text(e, one, 1, MMF_POOL_POOLER, 0, o) == MMF_ERR_UNSUPPORTED);
            CHECK(strstr(mmf_last_error(), "pooler") != NULL);
            CHECK_OK(mmf_encoder_embed_text(e, one, 1, MMF_POOL_CLS, 0, o));
            mmf_encoder_free(e);
        }
    }

    /* a good folder: runtime misuse and odd text */
    mmf_encoder_params prm = mmf_encoder_params_default();
    prm.max_batch = 3;
    mmf_encoder *e = NULL;
    CHECK_OK(mmf_encoder_load(src, &prm, &e));
    if (e) {
        const mmf_tokenizer *tok = mmf_encoder_tokenizer(e);
        mmf_encoding a, b;
        /* invalid UTF-8: replaced by U+FFFD, which BERT's cleaning drops */
        CHECK_OK(mmf_tokenizer_encode(tok, "\xff\xfe hello \xc3( world\x80", NULL, 1, -1, &a));
        CHECK_OK(mmf_tokenizer_encode(tok, " hello ( world", NULL, 1, -1, &b));
        CHECK(a.n == b.n && a.n > 0 && memcmp(a.ids, b.ids, (size_t)a.n * 4) == 0);
        mmf_encoding_free(&a);
        mmf_encoding_free(&b);
        /* truncation: 16 tokens, the last one [SEP] (id 3), flagged */
        CHECK_OK(mmf_tokenizer_encode(tok, "a b c d e f g h i j k l m n o p q r s t u v w x y z", NULL, 1, 0, &a));
        CHECK(a.n == 16 && a.truncated && a.ids[0] == 2 && a.ids[15] == 3);
        mmf_encoding_free(&a);
        /* pairs: longest first; [CLS] A [SEP] B [SEP], B typed 1 */
        CHECK_OK(mmf_tokenizer_encode(tok, "a b c d e f g h i j", "k l", 1, 10, &a));
        CHECK(a.n == 10 && a.truncated);
        if (a.n == 10) {
            /* 7 slots: A keeps 5, B keeps 2 */
            CHECK(a.ids[6] == 3 && a.ids[9] == 3 && a.type_ids[6] == 0 && a.type_ids[7] == 1 && a.type_ids[9] == 1);
        }
        mmf_encoding_free(&a);
        /* hand-checked ids from the tiny vocab: [CLS]=2 hello=12 world=13 [SEP]=3 */
        CHECK_OK(mmf_tokenizer_encode(tok, "Hello WORLD", NULL, 1, 0, &a));
        CHECK(a.n == 4 && a.ids[0] == 2 && a.ids[1] == 12 && a.ids[2] == 13 && a.ids[3] == 3);
        CHECK(a.n == 4 && strcmp(a.tokens[1], "hello") == 0);
        mmf_encoding_free(&a);
        /* long inputs are truncated (notice) and still embedded */
        const char *texts[] = {"x y z x y z x y z x y z x y z x y z x y z x y z x y z", "", "\xff", "hello", "a"};
        float out[5 * 24];
        CHECK_OK(mmf_encoder_embed_text(e, texts, 5, MMF_POOL_MEAN, 1, out));
        for (int i = 0; i < 5 * 24; i++) CHECK(isfinite(out[i]));
        CHECK(mmf_encoder_embed_text(e, texts, 5, MMF_POOL_NONE, 0, out) == MMF_ERR_ARG);
        CHECK(mmf_encoder_embed_text(e, texts, 0, MMF_POOL_MEAN, 0, out) == MMF_OK);
        uint8_t mask[5 * 2];
        float tokout[5 * 2 * 24];
        CHECK(mmf_encoder_embed_text_tokens(e, texts, 5, 2, tokout, mask) == MMF_ERR_ARG);
        mmf_pooling pp;
        CHECK(mmf_pooling_parse("avg", &pp) == MMF_ERR_ARG);
        mmf_encoder_free(e);
    }
    free(cfg);
    return t_done("test_text_bad");
}
