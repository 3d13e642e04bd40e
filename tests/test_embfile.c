/* Embedding-file writer/reader round trip and the bad files the reader must refuse. */
#include "test_util.h"

static char dir[256], path[512];

/* write a raw safetensors file with the given pieces */
static mmf_status raw(const char *mods, int64_t n_text, int64_t n_mask, int mask_cols, int add_extra,
                      float poison, int64_t label0, const char *labels_dt) {
    mmf_st_writer *w = mmf_st_writer_new();
    if (mods) mmf_st_writer_meta(w, "modalities", mods);
    float t[4 * 3] = {0};
    int64_t s1[2] = {n_text, 3};
    t[0] = poison;
    mmf_st_writer_add(w, "text", MMF_DT_F32, 2, s1, t);
    float im[4 * 2] = {0};
    int64_t s2[2] = {4, 2};
    mmf_st_writer_add(w, "image", MMF_DT_F32, 2, s2, im);
    uint8_t mk[4 * 3];
    memset(mk, 1, sizeof mk);
    int64_t s3[2] = {n_mask, mask_cols};
    mmf_st_writer_add(w, "mask", MMF_DT_U8, 2, s3, mk);
    if (add_extra) mmf_st_writer_add(w, "imgae", MMF_DT_F32, 2, s2, im);
    int64_t lab[4] = {label0, 1, 0, 1};
    int64_t s4[1] = {4};
    if (!strcmp(labels_dt, "I64")) mmf_st_writer_add(w, "labels", MMF_DT_I64, 1, s4, lab);
    else { float fl[4] = {0}; mmf_st_writer_add(w, "labels", MMF_DT_F32, 1, s4, fl); }
    mmf_status s = mmf_st_writer_finish(w, path);
    mmf_st_writer_free(w);
    return s;
}

static void expect_fail(const char *what, const char *needle) {
    mmf_embfile *f = NULL;
    mmf_status s = mmf_embfile_open(path, &f);
    CHECK_MSG(s != MMF_OK && f == NULL, "%s: accepted", what);
    CHECK_MSG(strstr(mmf_last_error(), needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what, mmf_last_error(), needle);
    CHECK_MSG(strstr(mmf_last_error(), path) != NULL, "%s: message lacks the file name", what);
}

int main(void) {
    t_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/e.safetensors", dir);

    /* round trip through the public writer */
    float text[3 * 4], image[3 * 2];
    for (int i = 0; i < 12; i++) text[i] = (float)i;
    for (int i = 0; i < 6; i++) image[i] = -(float)i;
    image[2] = NAN; /* row 1 of image is absent: anything allowed there */
    const char *names[2] = {"text", "image"};
    int64_t dims[2] = {4, 2};
    const float *data[2] = {text, image};
    uint8_t mask[6] = {1, 1, 1, 0, 0, 1};
    int64_t labels[3] = {2, 0, 1}, ids[3] = {10, 11, 12};
    mmf_embfile_spec sp = {.n_rows = 3, .n_modalities = 2, .names = names, .dims = dims, .data = data,
                           .mask = mask, .labels = labels, .n_classes = 4, .ids = ids};
    CHECK_OK(mmf_embfile_write(path, &sp));
    mmf_embfile *f = NULL;
    CHECK_OK(mmf_embfile_open(path, &f));
    if (f) {
        CHECK(mmf_embfile_rows(f) == 3);
        CHECK(mmf_embfile_n_modalities(f) == 2);
        CHECK(!strcmp(mmf_embfile_modality(f, 1), "image"));
        CHECK(mmf_embfile_find(f, "text") == 0 && mmf_embfile_find(f, "audio") == -1);
        CHECK(mmf_embfile_dim(f, 0) == 4 && mmf_embfile_dim(f, 1) == 2);
        CHECK(mmf_embfile_data(f, 0)[5] == 5.0f);
        CHECK(mmf_embfile_data(f, 1)[2] == 0.0f); /* absent row zeroed */
        CHECK(mmf_embfile_data(f, 1)[4] == -4.0f);
        CHECK(mmf_embfile_mask(f)[3] == 0 && mmf_embfile_mask(f)[4] == 0);
        CHECK(mmf_embfile_label_kind(f) == MMF_LABELS_CLASS);
        CHECK(mmf_embfile_n_classes(f) == 4);
        CHECK(mmf_embfile_labels(f)[0] == 2);
        CHECK(mmf_embfile_ids(f)[2] == 12);
        /* the same spec opened in memory holds what the file holds */
        mmf_embfile *g = NULL;
        CHECK_OK(mmf_embfile_from_spec(&sp, "batch", &g));
        if (g) {
            CHECK(mmf_embfile_rows(g) == 3 && mmf_embfile_n_modalities(g) == 2);
            CHECK(!strcmp(mmf_embfile_path(g), "batch"));
            for (int m = 0; m < 2; m++)
                CHECK(!memcmp(mmf_embfile_data(f, m), mmf_embfile_data(g, m), (size_t)(3 * dims[m]) * sizeof(float)));
            CHECK(!memcmp(mmf_embfile_mask(f), mmf_embfile_mask(g), 6));
            CHECK(!memcmp(mmf_embfile_labels(f), mmf_embfile_labels(g), 3 * sizeof(int64_t)));
            CHECK(mmf_embfile_n_classes(g) == 4 && mmf_embfile_ids(g)[2] == 12);
            mmf_embfile_close(g);
        }
        mmf_embfile_close(f);
    }
    /* in memory too, a bad spec or bad values are refused, naming the given name */
    {
        mmf_embfile *g = NULL;
        const char *dup[2] = {"text", "text"};
        mmf_embfile_spec bad = sp;
        bad.names = dup;
        CHECK(mmf_embfile_from_spec(&bad, "batch", &g) == MMF_ERR_ARG && !g);
        CHECK_MSG(strstr(mmf_last_error(), "batch") && strstr(mmf_last_error(), "twice"), "dup name: %s", mmf_last_error());
        float t2[12];
        memcpy(t2, text, sizeof t2);
        t2[1] = INFINITY;   /* row 0 of text is present */
        const float *d2[2] = {t2, image};
        bad = sp;
        bad.data = d2;
        CHECK(mmf_embfile_from_spec(&bad, "batch", &g) != MMF_OK && !g);
        CHECK_MSG(strstr(mmf_last_error(), "batch") && strstr(mmf_last_error(), "text"), "inf: %s", mmf_last_error());
    }

    /* token-level [N, T, D] with a length mask: pooled to the mean of kept tokens */
    {
        mmf_st_writer *w = mmf_st_writer_new();
        mmf_st_writer_meta(w, "modalities", "text");
        float tok[2 * 3 * 2] = {1, 2, 3, 4, 100, 100, 5, 6, 0, 0, 0, 0};
        uint8_t tm[6] = {1, 1, 0, 1, 0, 0}, mk[2] = {1, 1};
        int64_t s1[3] = {2, 3, 2}, s2[2] = {2, 3}, s3[2] = {2, 1};
        mmf_st_writer_add(w, "text", MMF_DT_F32, 3, s1, tok);
        mmf_st_writer_add(w, "text.mask", MMF_DT_U8, 2, s2, tm);
        mmf_st_writer_add(w, "mask", MMF_DT_U8, 2, s3, mk);
        CHECK_OK(mmf_st_writer_finish(w, path));
        mmf_st_writer_free(w);
        CHECK_OK(mmf_embfile_open(path, &f));
        if (f) {
            CHECK(mmf_embfile_dim(f, 0) == 2);
            CHECK_NEAR(mmf_embfile_data(f, 0)[0], 2.0, 1e-6);
            CHECK_NEAR(mmf_embfile_data(f, 0)[1], 3.0, 1e-6);
            CHECK_NEAR(mmf_embfile_data(f, 0)[2], 5.0, 1e-6);
            CHECK(mmf_embfile_label_kind(f) == MMF_LABELS_NONE);
            mmf_embfile_close(f);
        }
    }

    /* bad files */
    CHECK_OK(raw("text,image", 4, 4, 2, 0, 0.0f, 0, "I64"));
    CHECK_OK(mmf_embfile_open(path, &f));
    mmf_embfile_close(f);
    raw("text,image", 3, 4, 2, 0, 0.0f, 0, "I64");
    expect_fail("mismatched N", "rows");
    raw("text,audio", 4, 4, 2, 0, 0.0f, 0, "I64");
    expect_fail("listed modality without tensor", "audio");
    raw("text,image", 4, 4, 2, 1, 0.0f, 0, "I64");
    expect_fail("unknown tensor", "imgae");
    raw("text,image", 4, 4, 3, 0, 0.0f, 0, "I64");
    expect_fail("mask columns", "mask");
    raw(NULL, 4, 4, 2, 0, 0.0f, 0, "I64");
    expect_fail("no modalities metadata", "modalities");
    raw("text,image", 4, 4, 2, 0, NAN, 0, "I64");
    expect_fail("NaN in a present row", "NaN");
    raw("text,image", 4, 4, 2, 0, INFINITY, 0, "I64");
    expect_fail("Inf in a present row", "Inf");
    raw("text,image", 4, 4, 2, 0, 0.0f, -3, "I64");
    expect_fail("negative label", "labels");
    raw("text,image", 4, 4, 2, 0, 0.0f, 0, "F32");
    expect_fail("float class labels", "labels");
    raw("text,mask", 4, 4, 2, 0, 0.0f, 0, "I64");
    expect_fail("reserved name", "mask");
    raw("text,text", 4, 4, 2, 0, 0.0f, 0, "I64");
    expect_fail("duplicate modality", "twice");
    return t_done("test_embfile");
}
