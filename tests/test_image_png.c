/* The PNG writer (mmf_image_save_png): images of odd sizes and random pixels
 * round-trip exactly through our own decoder (image_decode.c, libpng's reader);
 * a write that fails after any number of bytes leaves the old file intact and
 * no temp file; bad images and unwritable paths fail with the path named. */
#include "test_util.h"
#include "io/atomic_file.h"
#include "io/json.h"
#include <dirent.h>
#include <stdint.h>
#include <unistd.h>

static char g_tmp[512];

static int count_tmp_files(void) {
    DIR *d = opendir(g_tmp);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static mmf_image make(int w, int h, uint32_t seed) {
    mmf_image im = {w, h, malloc((size_t)w * h * 3)};
    for (size_t i = 0; i < (size_t)w * h * 3; i++) {
        seed = seed * 1664525u + 1013904223u;
        im.rgb[i] = (uint8_t)(seed >> 24);
    }
    return im;
}

static void round_trip(int w, int h, uint32_t seed) {
    char path[600];
    snprintf(path, sizeof path, "%s/rt_%dx%d.png", g_tmp, w, h);
    mmf_image a = make(w, h, seed), b = {0};
    CHECK_OK(mmf_image_save_png(&a, path));
    CHECK_OK(mmf_image_load(path, NULL, &b));
    CHECK_MSG(b.width == w && b.height == h, "%dx%d came back %dx%d", w, h, b.width, b.height);
    if (b.rgb && b.width == w && b.height == h)
        CHECK_MSG(!memcmp(a.rgb, b.rgb, (size_t)w * h * 3), "%dx%d pixels differ after the round trip", w, h);
    mmf_image_free(&a);
    mmf_image_free(&b);
}

static void test_atomic(void) {
    char path[600], path2[600];
    snprintf(path, sizeof path, "%s/old.png", g_tmp);
    snprintf(path2, sizeof path2, "%s/new.png", g_tmp);
    mmf_image old = make(3, 2, 7), nw = make(9, 5, 8);
    CHECK_OK(mmf_image_save_png(&old, path));
    CHECK_OK(mmf_image_save_png(&nw, path2));
    char *before = NULL, *full = NULL;
    size_t before_len = 0, full_len = 0;
    CHECK_OK(mmf_read_file(path, 1 << 20, &before, &before_len));
    CHECK_OK(mmf_read_file(path2, 1 << 20, &full, &full_len));
    CHECK(full_len > 60);
    int bad = 0, failed = 0;
    for (size_t n = 0; n < full_len; n++) {   /* fail after every possible byte count */
        mmf_atomic_fail_after(n);
        mmf_status s = mmf_image_save_png(&nw, path);
        mmf_atomic_fail_after(SIZE_MAX);
        if (s == MMF_OK || !strstr(mmf_last_error(), path)) { failed++; continue; }
        char *now;
        size_t now_len;
        if (mmf_read_file(path, 1 << 20, &now, &now_len) != MMF_OK) { bad++; continue; }
        if (now_len != before_len || memcmp(now, before, now_len) != 0) bad++;
        free(now);
        if (count_tmp_files() != 0) bad++;
    }
    CHECK_MSG(failed == 0, "%d injected failures did not fail with the path named", failed);
    CHECK_MSG(bad == 0, "%d failed writes changed the old file or left a temp file", bad);
    mmf_atomic_fail_after(full_len);   /* a budget covering the file lets it through */
    CHECK_OK(mmf_image_save_png(&nw, path));
    mmf_atomic_fail_after(SIZE_MAX);
    mmf_image back = {0};
    CHECK_OK(mmf_image_load(path, NULL, &back));
    CHECK(back.rgb && back.width == 9 && back.height == 5 && !memcmp(back.rgb, nw.rgb, 9 * 5 * 3));
    mmf_image_free(&back);
    mmf_image_free(&old);
    mmf_image_free(&nw);
    free(before);
    free(full);
}

static void test_bad(void) {
    char path[600];
    snprintf(path, sizeof path, "%s/bad.png", g_tmp);
    mmf_image empty = {0, 0, NULL}, zero_w = {0, 4, (uint8_t *)"abc"};
    CHECK(mmf_image_save_png(&empty, path) == MMF_ERR_ARG && strstr(mmf_last_error(), path));
    CHECK(mmf_image_save_png(&zero_w, path) == MMF_ERR_ARG);
    CHECK(access(path, F_OK) != 0);
    mmf_image ok = make(2, 2, 1);
    snprintf(path, sizeof path, "%s/no/such/dir/x.png", g_tmp);
    mmf_status s = mmf_image_save_png(&ok, path);
    CHECK_MSG(s != MMF_OK && strstr(mmf_last_error(), "no/such/dir"), "unwritable path: %s", mmf_last_error());
    mmf_image_free(&ok);
}

int main(void) {
    t_tmpdir(g_tmp, sizeof g_tmp);
    round_trip(1, 1, 1);
    round_trip(37, 23, 2);
    round_trip(1000, 3, 3);
    round_trip(5, 300, 4);
    test_atomic();
    test_bad();
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
    return t_done("test_image_png");
}
