/* Named index items and provenance (index file version 2): names and JSON
 * payloads survive save/open, bad ones are refused before anything is added,
 * version 1 files still open, a corrupt strings section is caught, queries of
 * another dimension or model are refused, and model ids follow the content. */
#include <stdint.h>
#include <sys/stat.h>
#include <zlib.h>
#include "test_util.h"
#include "index_testdata.h"

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*len ? *len : 1);
    if (fread(b, 1, *len, f) != *len) { free(b); b = NULL; }
    fclose(f);
    return b;
}
static void spit(const char *path, const void *b, size_t len) {
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, len, f);
    fclose(f);
}
static int streq(const char *a, const char *b) { return a && b && !strcmp(a, b); }

static void test_roundtrip(const char *dir) {
    int d = 6;
    size_t n = 5;
    float *x = td_clustered(n, d, 2, 0.5f, 7, NULL);
    int64_t ids[5] = {10, 11, 12, 13, 14};
    const char *names[5] = {"1F600", NULL, "1F63A", "2764", "piñata"};
    const char *pay[5] = {"{\"text\":\"grinning face\",\"image\":\"img/openmoji/1F600.png\"}", "[1,2]", NULL, "\"red heart\"", NULL};
    mmf_index_params p = mmf_index_params_default();
    p.kind = MMF_INDEX_FLAT;
    mmf_index *ix;
    CHECK_OK(mmf_index_new(d, &p, &ix));
    CHECK_OK(mmf_index_add_named(ix, n, x, ids, names, pay));
    CHECK_OK(mmf_index_set_source(ix, "mmfuse_cnn-0123456789abcdef", "image"));
    /* refused before anything is added */
    const char *empty[1] = {""}, *badjson[1] = {"{\"a\":"}, *badutf[1] = {"\xff\xfe"}, *twojson[1] = {"1 2"};
    int64_t nid = 99;
    CHECK(mmf_index_add_named(ix, 1, x, &nid, empty, NULL) == MMF_ERR_ARG);
    CHECK(mmf_index_add_named(ix, 1, x, &nid, NULL, badjson) == MMF_ERR_ARG);
    CHECK_MSG(strstr(mmf_last_error(), "payload") != NULL, "%s", mmf_last_error());
    CHECK(mmf_index_add_named(ix, 1, x, &nid, badutf, NULL) == MMF_ERR_ARG);
    CHECK(mmf_index_add_named(ix, 1, x, &nid, NULL, twojson) == MMF_ERR_ARG);
    mmf_index_info in;
    mmf_index_get_info(ix, &in);
    CHECK(in.count == n);
    /* plain adds next to named ones stay unnamed */
    CHECK_OK(mmf_index_add(ix, 1, x, &nid));
    CHECK(mmf_index_item_name(ix, 99) == NULL && mmf_index_item_payload(ix, 99) == NULL);
    CHECK_OK(mmf_index_set_item(ix, 99, "late", "{\"k\":true}"));
    CHECK(mmf_index_set_item(ix, 12345, "x", NULL) == MMF_ERR_NOT_FOUND);
    CHECK_OK(mmf_index_delete(ix, 13));
    CHECK(mmf_index_item_name(ix, 13) == NULL);   /* deleted: not live */

    char path[512];
    snprintf(path, sizeof path, "%s/named.mmfidx", dir);
    CHECK_OK(mmf_index_save(ix, path));
    mmf_index *jx = NULL;
    CHECK_OK(mmf_index_open(path, &jx));
    if (jx) {
        CHECK(streq(mmf_index_item_name(jx, 10), "1F600"));
        CHECK(streq(mmf_index_item_payload(jx, 10), pay[0]));
        CHECK(mmf_index_item_name(jx, 11) == NULL && streq(mmf_index_item_payload(jx, 11), "[1,2]"));
        CHECK(streq(mmf_index_item_name(jx, 12), "1F63A") && mmf_index_item_payload(jx, 12) == NULL);
        CHECK(streq(mmf_index_item_name(jx, 14), "piñata"));
        CHECK(streq(mmf_index_item_name(jx, 99), "late") && streq(mmf_index_item_payload(jx, 99), "{\"k\":true}"));
        CHECK(mmf_index_item_name(jx, 13) == NULL);
        int64_t found = -1;
        CHECK_OK(mmf_index_find_name(jx, "1F63A", &found));
        CHECK(found == 12);
        CHECK(mmf_index_find_name(jx, "2764", &found) == MMF_ERR_NOT_FOUND);   /* deleted */
        const char *m, *t;
        mmf_index_get_source(jx, &m, &t);
        CHECK(streq(m, "mmfuse_cnn-0123456789abcdef") && streq(t, "image"));
        /* queries: the dimension, then the model */
        CHECK_OK(mmf_index_check_query(jx, NULL, d));
        CHECK_OK(mmf_index_check_query(jx, "mmfuse_cnn-0123456789abcdef", d));
        CHECK(mmf_index_check_query(jx, NULL, d + 1) == MMF_ERR_ARG);
        CHECK_MSG(strstr(mmf_last_error(), "dimension 7") != NULL, "%s", mmf_last_error());
        CHECK(mmf_index_check_query(jx, "bert-fedcba9876543210", d) == MMF_ERR_ARG);
        CHECK_MSG(strstr(mmf_last_error(), "bert-fedcba9876543210") && strstr(mmf_last_error(), "mmfuse_cnn-0123456789abcdef"),
                  "%s", mmf_last_error());
        /* the copy-on-write of an add keeps the names */
        int64_t more = 200;
        CHECK_OK(mmf_index_add(jx, 1, x + d, &more));
        CHECK(streq(mmf_index_item_name(jx, 10), "1F600"));
        mmf_index_free(jx);
    }

    /* a payload broken inside the file, checksums resealed: the reader names it */
    size_t len;
    unsigned char *b = slurp(path, &len);
    unsigned char *hit = NULL;
    for (size_t i = 512; b && i + 6 <= len; i++)
        if (!memcmp(b + i, "[1,2]", 5)) { hit = b + i; break; }
    CHECK(hit != NULL);
    if (hit) {
        hit[4] = 'x';   /* "[1,2x" */
        uint32_t c = (uint32_t)crc32_z(0, b + 512, len - 512);
        memcpy(b + 256, &c, 4);
        c = (uint32_t)crc32_z(0, b, 260);
        memcpy(b + 260, &c, 4);
        char bp[600];
        snprintf(bp, sizeof bp, "%s/bad_payload.mmfidx", dir);
        spit(bp, b, len);
        mmf_index *bx = NULL;
        CHECK(mmf_index_open(bp, &bx) == MMF_ERR_FORMAT);
        CHECK_MSG(strstr(mmf_last_error(), "payload") && strstr(mmf_last_error(), bp), "%s", mmf_last_error());
        CHECK(bx == NULL);
        /* a strings section cut short: lengths run past its end */
        spit(bp, b, len);
        remove(bp);
    }
    free(b);
    mmf_index_free(ix);
    free(x);
}

/* Files written before names existed (version 1) still open, and save as version 2. */
static void test_version1(const char *dir) {
    char src[512], path[512];
    t_src_path("tests/data/fuzz/fuzz_index_file/hnsw_del.mmfidx", src, sizeof src);
    size_t len;
    unsigned char *b = slurp(src, &len);
    CHECK_MSG(b != NULL, "cannot read %s", src);
    if (!b) return;
    uint32_t ver;
    memcpy(&ver, b + 8, 4);
    CHECK(ver == 1);
    free(b);
    mmf_index *ix = NULL;
    CHECK_OK(mmf_index_open(src, &ix));
    if (!ix) return;
    mmf_index_info in;
    mmf_index_get_info(ix, &in);
    CHECK(in.count == 10 && in.deleted == 2);
    const char *m, *t;
    mmf_index_get_source(ix, &m, &t);
    CHECK(m == NULL && t == NULL);
    CHECK_OK(mmf_index_check_query(ix, "anything-0000000000000000", in.dim));   /* unknown model: dimension only */
    snprintf(path, sizeof path, "%s/v2.mmfidx", dir);
    CHECK_OK(mmf_index_save(ix, path));
    b = slurp(path, &len);
    if (b) { memcpy(&ver, b + 8, 4); CHECK(ver == 2); free(b); }
    mmf_index *jx = NULL;
    CHECK_OK(mmf_index_open(path, &jx));
    mmf_index_free(jx);
    mmf_index_free(ix);
}

static void write_model(const char *dir, const char *cfg, unsigned char fill, size_t bytes) {
    mkdir(dir, 0755);
    char p[600];
    snprintf(p, sizeof p, "%s/config.json", dir);
    spit(p, cfg, strlen(cfg));
    /* a minimal safetensors file: one U8 tensor of `bytes` bytes */
    char hdr[256];
    int hl = snprintf(hdr, sizeof hdr, "{\"w\":{\"dtype\":\"U8\",\"shape\":[%zu],\"data_offsets\":[0,%zu]}}", bytes, bytes);
    while (hl % 8) hdr[hl++] = ' ';
    size_t total = 8 + (size_t)hl + bytes;
    unsigned char *b = malloc(total);
    uint64_t h64 = (uint64_t)hl;
    memcpy(b, &h64, 8);
    memcpy(b + 8, hdr, (size_t)hl);
    memset(b + 8 + hl, fill, bytes);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    spit(p, b, total);
    free(b);
}

static void test_model_id(const char *dir) {
    char a[512], a2[512], c[512], e[512];
    snprintf(a, sizeof a, "%s/model_a", dir);
    snprintf(a2, sizeof a2, "%s/model_a_copy", dir);
    snprintf(c, sizeof c, "%s/model_c", dir);
    snprintf(e, sizeof e, "%s/empty", dir);
    const char *cfg = "{\"model_type\": \"mmfuse_cnn\", \"hidden\": 8}";
    write_model(a, cfg, 1, 200000);
    write_model(a2, cfg, 1, 200000);
    write_model(c, cfg, 1, 200000);
    /* retrained in place: same config and size, one weight byte in a sampled block differs */
    char p[600];
    snprintf(p, sizeof p, "%s/model.safetensors", c);
    FILE *f = fopen(p, "r+b");
    size_t len;
    unsigned char *w = slurp(p, &len);
    uint64_t hl;
    memcpy(&hl, w, 8);
    fseek(f, (long)(8 + hl + 65536 + 3), SEEK_SET);
    fputc(7, f);
    fclose(f);
    free(w);
    char ia[MMF_MODEL_ID_MAX], ia2[MMF_MODEL_ID_MAX], ic[MMF_MODEL_ID_MAX], iw[MMF_MODEL_ID_MAX];
    CHECK_OK(mmf_model_id(a, ia, sizeof ia));
    CHECK_OK(mmf_model_id(a2, ia2, sizeof ia2));
    CHECK_OK(mmf_model_id(c, ic, sizeof ic));
    CHECK_MSG(!strncmp(ia, "mmfuse_cnn-", 11) && strlen(ia) == 11 + 16, "%s", ia);
    CHECK_MSG(!strcmp(ia, ia2), "copies differ: %s vs %s", ia, ia2);
    CHECK_MSG(strcmp(ia, ic) != 0, "a retrained model keeps the id %s", ia);
    snprintf(p, sizeof p, "%s/model.safetensors", a);
    CHECK_OK(mmf_model_id(p, iw, sizeof iw));   /* a single weights file */
    CHECK(!strncmp(iw, "safetensors-", 12));
    mkdir(e, 0755);
    CHECK(mmf_model_id(e, iw, sizeof iw) == MMF_ERR_NOT_FOUND);
    CHECK_MSG(strstr(mmf_last_error(), e) != NULL, "%s", mmf_last_error());
    CHECK(mmf_model_id("/nonexistent/model", iw, sizeof iw) == MMF_ERR_NOT_FOUND);
    CHECK(mmf_model_id(a, iw, 8) == MMF_ERR_ARG);
}

int main(void) {
    char dir[256];
    t_tmpdir(dir, sizeof dir);
    test_roundtrip(dir);
    test_version1(dir);
    test_model_id(dir);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return t_done("test_index_items");
}
