/* safetensors: writer round trip, reading a file written by an independent
 * writer (tests/ref/make_bad_safetensors.py, plain python struct), conversions,
 * zero copy, sharded checkpoints, crash-safe replacement, and the malformed
 * corpus in tests/data/safetensors_bad (each rejected with a message naming
 * the file and the fault listed in EXPECTED.tsv). */
#include "test_util.h"
#include "io/safetensors_internal.h"
#include "io/atomic_file.h"
#include "io/json.h"
#include <dirent.h>
#include <stdint.h>
#include <unistd.h>

static char g_tmp[512];

static const char *tmp_path(const char *name, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/%s", g_tmp, name);
    return buf;
}

static int msg_has(const char *a, const char *b) {
    const char *m = mmf_last_error();
    return strstr(m, a) != NULL && (!b || strstr(m, b) != NULL);
}

#define CHECK_ERR(expr, want_a, want_b) do { mmf_status s_ = (expr); t_checks++; \
    if (s_ == MMF_OK || !msg_has(want_a, want_b)) { t_failures++; \
        fprintf(stderr, "%s:%d: %s: expected failure mentioning \"%s\"%s%s, got %s: %s\n", __FILE__, __LINE__, #expr, \
                want_a, want_b ? " and " : "", want_b ? want_b : "", mmf_status_str(s_), mmf_last_error()); } } while (0)

/* ---- data for the round trip: bit patterns with hand-known values ---- */
static const float f32_data[6] = {1.0f, -2.5f, 3.25f, 0.0f, 1e-3f, 65504.0f};
static const uint16_t f16_data[4] = {0x3c00, 0xc000, 0x3800, 0x7bff};        /* 1, -2, 0.5, 65504 */
static const float f16_expect[4] = {1.0f, -2.0f, 0.5f, 65504.0f};
static const uint16_t bf16_data[4] = {0x3f80, 0xc040, 0x4049, 0x0000};       /* 1, -3, 3.140625, 0 */
static const float bf16_expect[4] = {1.0f, -3.0f, 3.140625f, 0.0f};
static const double f64_data[3] = {1.5, -2.25, 1e-3};
static const int64_t i64_data[2] = {-7, INT64_MAX};
static const int32_t i32_data[2] = {42, -1};
static const uint8_t u8_data[5] = {0, 1, 2, 254, 255};
static const uint8_t bool_data[3] = {1, 0, 1};
static const float scalar_data[1] = {7.0f};

static mmf_st_writer *make_writer(void) {
    mmf_st_writer *w = mmf_st_writer_new();
    int64_t s23[2] = {2, 3}, s4[1] = {4}, s22[2] = {2, 2}, s3[1] = {3}, s2[1] = {2}, s12[2] = {1, 2}, s5[1] = {5},
            s04[2] = {0, 4};
    /* deliberately mixed sizes: the writer must still place every tensor at a
     * multiple of its element size */
    CHECK_OK(mmf_st_writer_add(w, "u8", MMF_DT_U8, 1, s5, u8_data));
    CHECK_OK(mmf_st_writer_add(w, "f16", MMF_DT_F16, 1, s4, f16_data));
    CHECK_OK(mmf_st_writer_add(w, "f32", MMF_DT_F32, 2, s23, f32_data));
    CHECK_OK(mmf_st_writer_add(w, "bf16", MMF_DT_BF16, 2, s22, bf16_data));
    CHECK_OK(mmf_st_writer_add(w, "f64", MMF_DT_F64, 1, s3, f64_data));
    CHECK_OK(mmf_st_writer_add(w, "i64", MMF_DT_I64, 1, s2, i64_data));
    CHECK_OK(mmf_st_writer_add(w, "i32", MMF_DT_I32, 2, s12, i32_data));
    CHECK_OK(mmf_st_writer_add(w, "bool", MMF_DT_BOOL, 1, s3, bool_data));
    CHECK_OK(mmf_st_writer_add(w, "empty", MMF_DT_F32, 2, s04, NULL));
    CHECK_OK(mmf_st_writer_add(w, "scalar", MMF_DT_F32, 0, NULL, scalar_data));
    CHECK_OK(mmf_st_writer_meta(w, "format", "pt"));
    CHECK_OK(mmf_st_writer_meta(w, "note", "caf\xc3\xa9 \"quoted\"\n"));
    CHECK_OK(mmf_st_writer_meta(w, "format", "mmfuse"));   /* replaces */
    return w;
}

static void check_tensor(const mmf_safetensors *st, const char *name, mmf_dtype dt, int ndim, const int64_t *shape,
                         const void *data, size_t nbytes) {
    const mmf_tensor_info *t = mmf_st_find(st, name);
    CHECK_MSG(t != NULL, "tensor %s not found", name);
    if (!t) return;
    CHECK_MSG(t->dtype == dt, "%s: dtype %s", name, mmf_dtype_name(t->dtype));
    CHECK_MSG(t->ndim == ndim, "%s: ndim %d", name, t->ndim);
    int64_t numel = 1;
    for (int d = 0; d < ndim && d < t->ndim; d++) { CHECK(t->shape[d] == shape[d]); numel *= shape[d]; }
    CHECK(t->numel == numel);
    CHECK_MSG(t->nbytes == nbytes, "%s: %zu bytes", name, t->nbytes);
    if (nbytes) CHECK_MSG(memcmp(t->data, data, nbytes) == 0, "%s: bytes differ", name);
    CHECK(strcmp(t->name, name) == 0);
}

static void check_roundtrip_content(const mmf_safetensors *st) {
    CHECK(mmf_st_count(st) == 10);
    int64_t s23[2] = {2, 3}, s4[1] = {4}, s22[2] = {2, 2}, s3[1] = {3}, s2[1] = {2}, s12[2] = {1, 2}, s5[1] = {5},
            s04[2] = {0, 4};
    check_tensor(st, "f32", MMF_DT_F32, 2, s23, f32_data, 24);
    check_tensor(st, "f16", MMF_DT_F16, 1, s4, f16_data, 8);
    check_tensor(st, "bf16", MMF_DT_BF16, 2, s22, bf16_data, 8);
    check_tensor(st, "f64", MMF_DT_F64, 1, s3, f64_data, 24);
    check_tensor(st, "i64", MMF_DT_I64, 1, s2, i64_data, 16);
    check_tensor(st, "i32", MMF_DT_I32, 2, s12, i32_data, 8);
    check_tensor(st, "u8", MMF_DT_U8, 1, s5, u8_data, 5);
    check_tensor(st, "bool", MMF_DT_BOOL, 1, s3, bool_data, 3);
    check_tensor(st, "empty", MMF_DT_F32, 2, s04, NULL, 0);
    check_tensor(st, "scalar", MMF_DT_F32, 0, NULL, scalar_data, 4);
    CHECK(mmf_st_find(st, "nope") == NULL);
    CHECK(mmf_st_find(st, "") == NULL);
    CHECK(mmf_st_find(st, "f3") == NULL);
    CHECK(mmf_st_at(st, 10) == NULL);
    /* metadata */
    CHECK(mmf_st_metadata_count(st) == 2);
    const char *v = mmf_st_metadata(st, "format");
    CHECK(v && strcmp(v, "mmfuse") == 0);
    v = mmf_st_metadata(st, "note");
    CHECK(v && strcmp(v, "caf\xc3\xa9 \"quoted\"\n") == 0);
    CHECK(mmf_st_metadata(st, "absent") == NULL);
    int seen = 0;
    for (size_t i = 0; i < mmf_st_metadata_count(st); i++) {
        const char *k, *val;
        mmf_st_metadata_at(st, i, &k, &val);
        if (strcmp(k, "format") == 0 || strcmp(k, "note") == 0) seen++;
    }
    CHECK(seen == 2);
    /* mmf_st_at is in offset order; every tensor aligned to its element size */
    const unsigned char *prev = NULL;
    for (size_t i = 0; i < mmf_st_count(st); i++) {
        const mmf_tensor_info *t = mmf_st_at(st, i);
        const unsigned char *p = t->data;
        CHECK_MSG(!prev || p >= prev, "mmf_st_at(%zu) out of offset order", i);
        prev = p;
        CHECK_MSG((uintptr_t)p % mmf_dtype_size(t->dtype) == 0, "%s (%s) at %p is not aligned", t->name,
                  mmf_dtype_name(t->dtype), (const void *)p);
    }
}

static void test_conversions(const mmf_safetensors *st) {
    float out[6];
    CHECK_OK(mmf_st_read_f32(st, "f32", out, 6));
    for (int i = 0; i < 6; i++) CHECK(out[i] == f32_data[i]);
    CHECK_OK(mmf_st_read_f32(st, "f16", out, 4));
    for (int i = 0; i < 4; i++) CHECK(out[i] == f16_expect[i]);
    CHECK_OK(mmf_st_read_f32(st, "bf16", out, 4));
    for (int i = 0; i < 4; i++) CHECK(out[i] == bf16_expect[i]);
    CHECK_OK(mmf_st_read_f32(st, "f64", out, 3));
    CHECK(out[0] == 1.5f && out[1] == -2.25f && out[2] == (float)1e-3);
    CHECK_OK(mmf_st_read_f32(st, "scalar", out, 1));
    CHECK(out[0] == 7.0f);
    CHECK_OK(mmf_st_read_f32(st, "empty", out, 0));
    const char *path = mmf_st_path(st);
    CHECK_ERR(mmf_st_read_f32(st, "i64", out, 2), "I64", path);
    CHECK_ERR(mmf_st_read_f32(st, "f32", out, 5), "6 elements, expected 5", path);
    CHECK_ERR(mmf_st_read_f32(st, "missing", out, 1), "no tensor named \"missing\"", path);
}

static void test_roundtrip(void) {
    char path[600];
    tmp_path("rt.safetensors", path, sizeof path);
    mmf_st_writer *w = make_writer();
    CHECK_OK(mmf_st_writer_finish(w, path));
    mmf_st_writer_free(w);

    mmf_safetensors *st = NULL;
    CHECK_OK(mmf_st_open(path, &st));
    if (!st) return;
    CHECK(strcmp(mmf_st_path(st), path) == 0);
    check_roundtrip_content(st);
    test_conversions(st);
    /* zero copy: F32 data lies inside the read-only mapping */
    const mmf_tensor_info *t = mmf_st_find(st, "f32");
    const unsigned char *m = st->map;
    CHECK(t && m && (const unsigned char *)t->data >= m && (const unsigned char *)t->data + t->nbytes <= m + st->map_len);
    CHECK(t && (uintptr_t)t->data % 4 == 0);
    mmf_st_close(st);

    /* the same bytes through mmf_st_open_memory (borrowed, not copied) */
    char *buf;
    size_t len;
    CHECK_OK(mmf_read_file(path, 1 << 20, &buf, &len));
    st = NULL;
    CHECK_OK(mmf_st_open_memory(buf, len, "in-memory copy", &st));
    if (st) {
        check_roundtrip_content(st);
        t = mmf_st_find(st, "f32");
        CHECK(t && (const char *)t->data >= buf && (const char *)t->data + t->nbytes <= buf + len);
        CHECK(strcmp(mmf_st_path(st), "in-memory copy") == 0);
        mmf_st_close(st);
    }
    /* a cut image is refused, and the message uses the given name */
    st = (mmf_safetensors *)1;
    CHECK_ERR(mmf_st_open_memory(buf, len - 1, "cut image", &st), "cut image", "run past the end");
    CHECK(st == NULL);
    CHECK_ERR(mmf_st_open_memory(buf, 3, "tiny image", &st), "tiny image", "too short");
    free(buf);

    /* an empty writer gives a valid empty file */
    w = mmf_st_writer_new();
    tmp_path("empty.safetensors", path, sizeof path);
    CHECK_OK(mmf_st_writer_finish(w, path));
    mmf_st_writer_free(w);
    CHECK_OK(mmf_st_open(path, &st));
    if (st) { CHECK(mmf_st_count(st) == 0 && mmf_st_metadata_count(st) == 0); mmf_st_close(st); }
}

/* A file written by an independent writer (python struct; see the script):
 * every dtype, a scalar, an empty tensor, UTF-8 metadata. */
static void test_python_written(void) {
    char path[600];
    t_src_path("tests/data/fuzz/fuzz_safetensors/good_all_dtypes.safetensors", path, sizeof path);
    mmf_safetensors *st = NULL;
    CHECK_OK(mmf_st_open(path, &st));
    if (!st) return;
    CHECK(mmf_st_count(st) == 9);
    float o[3];
    CHECK_OK(mmf_st_read_f32(st, "a", o, 2));
    CHECK(o[0] == 1.5f && o[1] == -2.0f);
    CHECK_OK(mmf_st_read_f32(st, "c", o, 2));
    CHECK(o[0] == 0.5f && o[1] == 8.0f);
    CHECK_OK(mmf_st_read_f32(st, "e", o, 2));
    CHECK(o[0] == 1.0f && o[1] == -0.25f);
    CHECK_OK(mmf_st_read_f32(st, "f", o, 1));
    CHECK(o[0] == 1.0f);
    const mmf_tensor_info *t = mmf_st_find(st, "b");
    int64_t i64;
    CHECK(t && t->dtype == MMF_DT_I64 && t->nbytes == 8);
    if (t) { memcpy(&i64, t->data, 8); CHECK(i64 == -7); }
    t = mmf_st_find(st, "d");
    CHECK(t && t->dtype == MMF_DT_I32 && t->ndim == 0 && t->numel == 1);
    t = mmf_st_find(st, "z");
    CHECK(t && t->ndim == 2 && t->shape[0] == 0 && t->shape[1] == 3 && t->numel == 0 && t->nbytes == 0);
    t = mmf_st_find(st, "g");
    CHECK(t && t->dtype == MMF_DT_U8 && memcmp(t->data, "\x01\x02\x03", 3) == 0);
    const char *v = mmf_st_metadata(st, "note");
    CHECK(v && strcmp(v, "caf\xc3\xa9") == 0);
    mmf_st_close(st);
}

static void test_writer_errors(void) {
    mmf_st_writer *w = mmf_st_writer_new();
    int64_t s1[1] = {1}, neg[1] = {-1};
    float x = 1;
    CHECK_OK(mmf_st_writer_add(w, "x", MMF_DT_F32, 1, s1, &x));
    CHECK_ERR(mmf_st_writer_add(w, "x", MMF_DT_F32, 1, s1, &x), "added twice", NULL);
    CHECK_ERR(mmf_st_writer_add(w, "", MMF_DT_F32, 1, s1, &x), "invalid tensor name", NULL);
    CHECK_ERR(mmf_st_writer_add(w, "__metadata__", MMF_DT_F32, 1, s1, &x), "invalid tensor name", NULL);
    CHECK_ERR(mmf_st_writer_add(w, "bad\xff", MMF_DT_F32, 1, s1, &x), "invalid tensor name", NULL);
    CHECK_ERR(mmf_st_writer_add(w, "neg", MMF_DT_F32, 1, neg, &x), "bad shape", NULL);
    CHECK_ERR(mmf_st_writer_add(w, "dims", MMF_DT_F32, 9, s1, &x), "9 dims", NULL);
    CHECK_ERR(mmf_st_writer_add(w, "dt", MMF_DT_COUNT, 1, s1, &x), "bad dtype", NULL);
    CHECK_ERR(mmf_st_writer_meta(w, "k", "\xc3"), "UTF-8", NULL);
    char path[600];
    tmp_path("no_such_dir/x.safetensors", path, sizeof path);
    CHECK_ERR(mmf_st_writer_finish(w, path), "no_such_dir/x.safetensors", "temporary file");
    mmf_st_writer_free(w);
    mmf_safetensors *st = (mmf_safetensors *)1;
    tmp_path("absent.safetensors", path, sizeof path);
    CHECK(mmf_st_open(path, &st) == MMF_ERR_NOT_FOUND && st == NULL && msg_has(path, "cannot open"));
    CHECK_ERR(mmf_st_open(g_tmp, &st), g_tmp, "not a regular file");
}

/* ---- sharded checkpoints ---- */
static void write_shard(const char *name, int n, const char *const *tensors, float base) {
    char path[600];
    mmf_st_writer *w = mmf_st_writer_new();
    for (int i = 0; i < n; i++) {
        float v[2] = {base + (float)i, base - (float)i};
        int64_t s[1] = {2};
        CHECK_OK(mmf_st_writer_add(w, tensors[i], MMF_DT_F32, 1, s, v));
    }
    CHECK_OK(mmf_st_writer_finish(w, tmp_path(name, path, sizeof path)));
    mmf_st_writer_free(w);
}

static void write_index(const char *name, const char *json) {
    char path[600];
    CHECK_OK(mmf_write_file_atomic(tmp_path(name, path, sizeof path), json, strlen(json)));
}

static void test_sharded(void) {
    const char *s1[] = {"enc.a", "enc.b"}, *s2[] = {"dec.c"}, *s3[] = {"enc.a", "x"};
    write_shard("model-00001-of-00002.safetensors", 2, s1, 10);
    write_shard("model-00002-of-00002.safetensors", 1, s2, 20);
    write_shard("dup.safetensors", 2, s3, 30);
    write_index("model.safetensors.index.json",
                "{\"metadata\": {\"total_size\": 24}, \"weight_map\": {"
                "\"enc.a\": \"model-00001-of-00002.safetensors\", \"dec.c\": \"model-00002-of-00002.safetensors\","
                "\"enc.b\": \"model-00001-of-00002.safetensors\"}}");
    char path[600];
    mmf_safetensors *st = NULL;
    CHECK_OK(mmf_st_open(tmp_path("model.safetensors.index.json", path, sizeof path), &st));
    if (st) {
        CHECK(mmf_st_count(st) == 3);
        float v[2];
        CHECK_OK(mmf_st_read_f32(st, "dec.c", v, 2));
        CHECK(v[0] == 20 && v[1] == 20);
        CHECK_OK(mmf_st_read_f32(st, "enc.b", v, 2));
        CHECK(v[0] == 11 && v[1] == 9);
        CHECK_OK(mmf_st_read_f32(st, "enc.a", v, 2));
        CHECK(v[0] == 10 && v[1] == 10);
        const mmf_tensor_info *t = mmf_st_find(st, "dec.c");
        CHECK(t && t->ndim == 1 && t->shape[0] == 2 && t->dtype == MMF_DT_F32);
        CHECK(mmf_st_find(st, "x") == NULL);
        mmf_st_close(st);
    }
    struct { const char *file, *json, *want_a, *want_b; } bad[] = {
        {"missing.index.json", "{\"weight_map\": {\"enc.a\": \"model-00009-of-00009.safetensors\"}}",
         "model-00009-of-00009.safetensors", "cannot open"},
        {"notinshard.index.json", "{\"weight_map\": {\"dec.c\": \"model-00001-of-00002.safetensors\"}}",
         "puts \"dec.c\" in model-00001-of-00002.safetensors, which has no such tensor", NULL},
        {"slash.index.json", "{\"weight_map\": {\"enc.a\": \"../model-00001-of-00002.safetensors\"}}",
         "not a plain shard file name", NULL},
        {"abs.index.json", "{\"weight_map\": {\"enc.a\": \"/etc/passwd\"}}", "not a plain shard file name", NULL},
        {"self.index.json", "{\"weight_map\": {\"enc.a\": \"self.index.json\"}}", "not a plain shard file name", NULL},
        {"dup.index.json", "{\"weight_map\": {\"enc.a\": \"model-00001-of-00002.safetensors\", \"x\": \"dup.safetensors\"}}",
         "tensor name \"enc.a\" appears twice", NULL},
        {"nomap.index.json", "{\"metadata\": {}}", "missing object field \"weight_map\"", NULL},
        {"array.index.json", "[1, 2]", "missing object field \"weight_map\"", NULL},
        {"notstr.index.json", "{\"weight_map\": {\"enc.a\": 3}}", "weight_map[\"enc.a\"] should be a file name", NULL},
        {"badjson.index.json", "{\"weight_map\": ", "invalid JSON", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_index(bad[i].file, bad[i].json);
        st = (mmf_safetensors *)1;
        tmp_path(bad[i].file, path, sizeof path);
        CHECK_ERR(mmf_st_open(path, &st), bad[i].want_a, bad[i].want_b);
        CHECK_MSG(msg_has(path, NULL), "%s: message lacks the index path: %s", bad[i].file, mmf_last_error());
        CHECK(st == NULL);
    }
    /* a bad shard: its fault and name come through */
    write_index("badshard.index.json", "{\"weight_map\": {\"w\": \"bad.safetensors\"}}");
    write_index("bad.safetensors", "short");
    CHECK_ERR(mmf_st_open(tmp_path("badshard.index.json", path, sizeof path), &st), "shard \"bad.safetensors\"",
              "5 bytes is too short");
}

/* ---- atomic replacement ---- */
static int count_tmp_files(void) {
    DIR *d = opendir(g_tmp);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static void test_atomic(void) {
    char path[600], path2[600];
    tmp_path("atomic.safetensors", path, sizeof path);
    tmp_path("atomic_new.safetensors", path2, sizeof path2);
    mmf_st_writer *old = mmf_st_writer_new();
    float a[3] = {1, 2, 3};
    int64_t s3[1] = {3};
    CHECK_OK(mmf_st_writer_add(old, "old", MMF_DT_F32, 1, s3, a));
    CHECK_OK(mmf_st_writer_finish(old, path));
    mmf_st_writer_free(old);
    char *before, *full;
    size_t before_len, full_len;
    CHECK_OK(mmf_read_file(path, 1 << 20, &before, &before_len));

    mmf_st_writer *w = make_writer();
    CHECK_OK(mmf_st_writer_finish(w, path2));   /* to learn the full size */
    CHECK_OK(mmf_read_file(path2, 1 << 20, &full, &full_len));
    CHECK(full_len > 64);
    int bad = 0, failed = 0;
    for (size_t n = 0; n < full_len; n++) {   /* fail after every possible byte count */
        mmf_atomic_fail_after(n);
        mmf_status s = mmf_st_writer_finish(w, path);
        mmf_atomic_fail_after(SIZE_MAX);
        if (s == MMF_OK) { failed++; continue; }
        if (!strstr(mmf_last_error(), "injected failure") || !strstr(mmf_last_error(), path)) failed++;
        char *now;
        size_t now_len;
        if (mmf_read_file(path, 1 << 20, &now, &now_len) != MMF_OK) { bad++; continue; }
        if (now_len != before_len || memcmp(now, before, now_len) != 0) bad++;
        free(now);
        if (count_tmp_files() != 0) bad++;
    }
    CHECK_MSG(failed == 0, "%d injected failures did not fail cleanly", failed);
    CHECK_MSG(bad == 0, "%d failed writes changed the old file or left a temp file", bad);
    /* the budget exactly covering the file lets it through */
    mmf_atomic_fail_after(full_len);
    CHECK_OK(mmf_st_writer_finish(w, path));
    mmf_atomic_fail_after(SIZE_MAX);
    char *now;
    size_t now_len;
    CHECK_OK(mmf_read_file(path, 1 << 20, &now, &now_len));
    CHECK(now_len == full_len && memcmp(now, full, full_len) == 0);
    free(now);
    CHECK(count_tmp_files() == 0);
    mmf_st_writer_free(w);
    free(before);
    free(full);
}

/* ---- the malformed corpus ---- */
static void test_bad_corpus(void) {
    char dir[600], tsv[700];
    t_src_path("tests/data/safetensors_bad", dir, sizeof dir);
    snprintf(tsv, sizeof tsv, "%s/EXPECTED.tsv", dir);
    char *text;
    size_t len;
    CHECK_OK(mmf_read_file(tsv, 1 << 20, &text, &len));
    if (!text) return;
    int n = 0;
    char listed[4096] = "";   /* "|name|name|..." for the completeness check */
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *tab = strchr(line, '\t');
        CHECK_MSG(tab != NULL, "EXPECTED.tsv line without a tab: %s", line);
        if (!tab) continue;
        *tab = 0;
        const char *file = line, *want = tab + 1;
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, file);
        if (strlen(listed) + strlen(file) + 3 < sizeof listed) { strcat(listed, "|"); strcat(listed, file); strcat(listed, "|"); }
        mmf_safetensors *st = (mmf_safetensors *)1;
        mmf_status s = mmf_st_open(path, &st);
        CHECK_MSG(s != MMF_OK && st == NULL, "%s was accepted", file);
        if (s == MMF_OK) { mmf_st_close(st); continue; }
        CHECK_MSG(s == MMF_ERR_FORMAT || s == MMF_ERR_UNSUPPORTED, "%s: status %s", file, mmf_status_str(s));
        CHECK_MSG(msg_has(path, want), "%s: message should name the file and \"%s\": %s", file, want, mmf_last_error());
        /* the same bytes from memory give the same verdict */
        char *buf;
        size_t blen;
        CHECK_OK(mmf_read_file(path, 1 << 28, &buf, &blen));
        if (buf) {
            s = mmf_st_open_memory(buf, blen, path, &st);
            CHECK_MSG(s != MMF_OK && msg_has(path, want), "%s from memory: %s", file, mmf_last_error());
            if (s == MMF_OK) mmf_st_close(st);
            free(buf);
        }
        n++;
    }
    free(text);
    CHECK_MSG(n >= 25, "only %d malformed files", n);
    /* every file in the folder is in the manifest */
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (!strstr(e->d_name, ".safetensors")) continue;
        char key[300];
        snprintf(key, sizeof key, "|%s|", e->d_name);
        CHECK_MSG(strstr(listed, key) != NULL, "%s is not listed in EXPECTED.tsv", e->d_name);
    }
    if (d) closedir(d);
    printf("malformed corpus: %d files rejected with the expected message\n", n);
}

static void rm_tree(void) {
    DIR *d = opendir(g_tmp);
    char p[1200];
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", g_tmp, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(g_tmp);
}

int main(void) {
    t_tmpdir(g_tmp, sizeof g_tmp);
    test_roundtrip();
    test_python_written();
    test_writer_errors();
    test_sharded();
    test_atomic();
    test_bad_corpus();
    rm_tree();
    return t_done("test_safetensors");
}
