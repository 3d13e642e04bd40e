/* Attention overlays (src/direct/xmodal_overlay.c):
 *  - mmf_attention_strip's layout and the patch -> pixel mapping, against values
 *    computed by hand from the documented rule: a one-hot map on patch 6 of a
 *    4 x 4 grid (row 1, column 2, row-major as op_xmodal.c cuts the picture)
 *    changes exactly the pixels of that 16 x 16 square of a 64 x 64 panel, to
 *    pixel + 0.75 (red - pixel); grid lines are 50% light grey (235);
 *  - a rising map changes the picture more where the map is larger;
 *  - mmf_xmodal_overlay on a hand-written maps file: rows joined to records by
 *    id, the right picture drawn, and bad ids / records / images / words fail
 *    naming the file and the id with no PNG written. */
#include "test_util.h"
#include <stdint.h>
#include <unistd.h>

static char g_tmp[512];

static mmf_image make(int w, int h, uint32_t seed) {
    mmf_image im = {w, h, malloc((size_t)w * h * 3)};
    for (size_t i = 0; i < (size_t)w * h * 3; i++) {
        seed = seed * 1664525u + 1013904223u;
        im.rgb[i] = (uint8_t)(seed >> 24);
    }
    return im;
}

static const uint8_t *px(const mmf_image *im, int x, int y) { return im->rgb + ((size_t)y * im->width + x) * 3; }

static int on_line(int v) { return v == 16 || v == 32 || v == 48; }   /* boundaries of a 4 x 4 grid on 64 px */

static void test_strip(void) {
    mmf_image img = make(64, 64, 11), out = {0};
    float maps[2 * 16] = {0};
    maps[6] = 0.9f;                                  /* word 0: all on patch (1, 2) */
    for (int q = 0; q < 16; q++) maps[16 + q] = (float)(q + 1) / 136.0f;   /* word 1: rising, sums to 1 */
    const char *words[2] = {"alpha", "averyveryverylongword"};
    mmf_overlay_params p = mmf_overlay_params_default();
    p.size = 64;
    CHECK_OK(mmf_attention_strip(&img, 4, maps, words, 2, "row 3", &p, &out));
    /* gap = max(2, 64/32) = 2, caption row 12 * 1 */
    CHECK_MSG(out.width == 3 * 64 + 2 * 2 && out.height == 64 + 12, "strip is %dx%d", out.width, out.height);
    if (out.width != 196 || out.height != 76) { mmf_image_free(&img); mmf_image_free(&out); return; }
    int plain_bad = 0, patch_bad = 0, other_bad = 0, line_bad = 0;
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 64; x++) {
            const uint8_t *src = px(&img, x, y), *p0 = px(&out, x, y), *p1 = px(&out, 66 + x, y);
            plain_bad += memcmp(src, p0, 3) != 0;
            int in6 = y >= 16 && y < 32 && x >= 32 && x < 48;
            static const float red[3] = {240, 20, 20};
            for (int c = 0; c < 3; c++) {
                float v = in6 ? src[c] + 0.75f * (red[c] - src[c]) : src[c];
                if (on_line(x) || on_line(y)) {
                    v = 0.5f * v + 0.5f * 235.0f;
                    line_bad += fabsf(p1[c] - v) > 1.0f;
                } else if (in6) patch_bad += fabsf(p1[c] - v) > 1.0f;
                else other_bad += p1[c] != src[c];
            }
        }
    CHECK_MSG(plain_bad == 0, "%d pixels of the first panel differ from the picture", plain_bad);
    CHECK_MSG(patch_bad == 0, "%d channel values of patch (1, 2) are not pixel + 0.75 (red - pixel)", patch_bad);
    CHECK_MSG(other_bad == 0, "%d channel values outside patch (1, 2) changed under a one-hot map", other_bad);
    CHECK_MSG(line_bad == 0, "%d grid-line values are not the 50%% light blend", line_bad);
    /* rising map: mean change per patch (interiors) grows with the attention */
    double d[16] = {0};
    for (int q = 0; q < 16; q++) {
        int gy = q / 4, gx = q % 4, n = 0;
        for (int y = gy * 16 + 1; y < gy * 16 + 16; y++)
            for (int x = gx * 16 + 1; x < gx * 16 + 16; x++, n++)
                for (int c = 0; c < 3; c++) d[q] += fabs((double)px(&out, 2 * 66 + x, y)[c] - px(&img, x, y)[c]);
        d[q] /= n * 3;
    }
    CHECK_MSG(d[0] < d[5] && d[5] < d[10] && d[10] < d[15] && d[15] > 4 * d[0],
              "change per patch does not grow with the map: %.1f %.1f %.1f %.1f", d[0], d[5], d[10], d[15]);
    /* captions: ink under every panel, none in the gaps */
    int ink[3] = {0}, gap_ink = 0;
    for (int y = 64; y < 76; y++)
        for (int x = 0; x < out.width; x++) {
            const uint8_t *q = px(&out, x, y);
            if (q[0] == 255 && q[1] == 255 && q[2] == 255) continue;
            int panel = x / 66, in = x % 66 < 64;
            if (in) ink[panel]++; else gap_ink++;
        }
    CHECK_MSG(ink[0] > 10 && ink[1] > 10 && ink[2] > 10 && gap_ink == 0, "caption ink %d %d %d, in gaps %d", ink[0], ink[1], ink[2], gap_ink);
    mmf_image_free(&out);
    /* no caption; a non-square picture is stretched to the panel */
    mmf_image wide = make(40, 10, 3);
    p.caption = 0;
    p.size = 128;
    CHECK_OK(mmf_attention_strip(&wide, 4, maps, words, 1, NULL, &p, &out));
    CHECK_MSG(out.width == 2 * 128 + 4 && out.height == 128, "no-caption strip is %dx%d", out.width, out.height);
    mmf_image_free(&out);
    /* a flat map (no patch preferred) leaves the picture as it is, grid lines aside */
    float flat[16];
    for (int q = 0; q < 16; q++) flat[q] = 1.0f / 16.0f;
    p.size = 64;
    CHECK_OK(mmf_attention_strip(&img, 4, flat, words, 1, NULL, &p, &out));
    int flat_bad = 0;
    for (int y = 0; y < 64 && out.rgb; y++)
        for (int x = 0; x < 64; x++)
            if (!on_line(x) && !on_line(y)) flat_bad += memcmp(px(&out, 66 + x, y), px(&img, x, y), 3) != 0;
    CHECK_MSG(flat_bad == 0, "a flat map changed %d pixels", flat_bad);
    mmf_image_free(&out);
    p.size = 8;
    CHECK(mmf_attention_strip(&img, 4, maps, words, 1, NULL, &p, &out) == MMF_ERR_ARG && !out.rgb);
    p.size = 64;
    CHECK(mmf_attention_strip(&img, 0, maps, words, 1, NULL, &p, &out) == MMF_ERR_ARG);
    CHECK(mmf_attention_strip(&img, 4, NULL, words, 1, NULL, &p, &out) == MMF_ERR_ARG);
    mmf_image_free(&wide);
    mmf_image_free(&img);
}

/* ------------------------------------------------ mmf_xmodal_overlay on files */

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) { perror(path); exit(1); }
    fputs(text, f);
    fclose(f);
}

/* maps file: n rows, word slots [n, 16], one-hot attention per present word */
static void write_maps(const char *path, int n, const int32_t *words, const int64_t *ids) {
    float *att = calloc((size_t)n * 16 * 16, sizeof(float));
    for (int r = 0; r < n; r++)
        for (int k = 0; k < 16; k++)
            if (words[r * 16 + k] >= 0) att[(r * 16 + k) * 16 + (k + r) % 16] = 1.0f;
    mmf_st_writer *w = mmf_st_writer_new();
    CHECK_OK(mmf_st_writer_add(w, "attention", MMF_DT_F32, 3, (int64_t[]){n, 16, 16}, att));
    CHECK_OK(mmf_st_writer_add(w, "words", MMF_DT_I32, 2, (int64_t[]){n, 16}, words));
    if (ids) CHECK_OK(mmf_st_writer_add(w, "ids", MMF_DT_I64, 1, (int64_t[]){n}, ids));
    CHECK_OK(mmf_st_writer_finish(w, path));
    mmf_st_writer_free(w);
    free(att);
}

static int exists(const char *dir, const char *name) {
    char p[1300];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static void test_files(void) {
    char recs[600], vocab[600], maps[600], out[600], img0[600], img1[600];
    snprintf(recs, sizeof recs, "%s/recs.jsonl", g_tmp);
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", g_tmp);
    snprintf(maps, sizeof maps, "%s/maps.safetensors", g_tmp);
    snprintf(out, sizeof out, "%s/out", g_tmp);
    snprintf(img0, sizeof img0, "%s/a.png", g_tmp);
    snprintf(img1, sizeof img1, "%s/b.png", g_tmp);
    mmf_image a = make(32, 32, 5), b = make(32, 32, 6);
    CHECK_OK(mmf_image_save_png(&a, img0));
    CHECK_OK(mmf_image_save_png(&b, img1));
    /* relative image paths resolve against the records file; line 3 is blank, record 2 has no image,
     * record 3's image does not exist */
    write_text(recs, "{\"id\": \"first\", \"image\": \"a.png\", \"text\": \"alpha\"}\n"
                     "{\"id\": \"second\", \"image\": \"b.png\", \"text\": \"alpha beta\"}\n"
                     "\n"
                     "{\"id\": \"third\", \"text\": \"beta\"}\n"
                     "{\"id\": \"fourth\", \"image\": \"gone.png\"}\n");
    write_text(vocab, "alpha\nbeta\n");
    int32_t words[3 * 16];
    for (int i = 0; i < 3 * 16; i++) words[i] = -1;
    words[0] = 0;                     /* row 0: alpha */
    words[16] = 0; words[17] = 1;     /* row 1: alpha, beta */
    int64_t ids[3] = {1, 0, 2};
    write_maps(maps, 2, words, ids);
    mmf_overlay_params p = mmf_overlay_params_default();
    p.size = 32;
    int n = -1;
    CHECK_OK(mmf_xmodal_overlay(maps, recs, vocab, out, &p, &n));
    CHECK(n == 2);
    char path[700];
    mmf_image s0 = {0}, s1 = {0};
    snprintf(path, sizeof path, "%s/1.png", out);   /* row 0 has id 1: record "second", picture b */
    CHECK_OK(mmf_image_load(path, NULL, &s0));
    snprintf(path, sizeof path, "%s/0.png", out);
    CHECK_OK(mmf_image_load(path, NULL, &s1));
    /* size 32 < 128: gap 2, caption 12 */
    CHECK_MSG(s0.width == 2 * 32 + 2 && s0.height == 44, "1.png is %dx%d", s0.width, s0.height);
    CHECK_MSG(s1.width == 3 * 32 + 2 * 2 && s1.height == 44, "0.png is %dx%d", s1.width, s1.height);
    int same_b = 1, same_a = 1;
    for (int y = 0; y < 32 && s0.rgb && s1.rgb; y++) {
        same_b &= !memcmp(px(&s0, 0, y), b.rgb + (size_t)y * 32 * 3, 32 * 3);
        same_a &= !memcmp(px(&s1, 0, y), a.rgb + (size_t)y * 32 * 3, 32 * 3);
    }
    CHECK_MSG(same_b && same_a, "the first panel is not the record's picture (joined by id)");
    /* the one-hot of row 0, slot 0 is on patch 0: its 8 x 8 corner changed, patch 1 did not */
    if (s0.rgb) {
        CHECK(memcmp(px(&s0, 34 + 3, 3), b.rgb + (3 * 32 + 3) * 3, 3) != 0);
        CHECK(memcmp(px(&s0, 34 + 12, 3), b.rgb + (3 * 32 + 12) * 3, 3) == 0);
    }
    mmf_image_free(&s0);
    mmf_image_free(&s1);

    /* bad rows: each fails naming the file and the id, and writes no PNG */
    struct { int64_t ids[2]; int32_t w1; const char *want1, *want2; } bad[] = {
        {{0, 7}, 0, "maps.safetensors", "id 7"},           /* unknown id */
        {{0, 2}, 0, "recs.jsonl", "\"third\""},            /* record without image */
        {{0, 3}, 0, "\"fourth\"", "gone.png"},                     /* missing image file */
        {{0, 1}, 5, "vocab.txt", "id 1"},                      /* word beyond the vocabulary */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char dir[700];
        snprintf(dir, sizeof dir, "%s/bad%zu", g_tmp, i);
        words[16] = bad[i].w1;
        write_maps(maps, 2, words, bad[i].ids);
        mmf_status s = mmf_xmodal_overlay(maps, recs, vocab, dir, &p, &n);
        const char *e = mmf_last_error();
        CHECK_MSG(s != MMF_OK && strstr(e, bad[i].want1) && strstr(e, bad[i].want2), "case %zu: status %d, \"%s\"", i, s, e);
        CHECK_MSG(n == 0 && !exists(dir, "0.png"), "case %zu wrote a PNG", i);
    }
    words[16] = 0;
    /* --rows: only the first row */
    write_maps(maps, 2, words, NULL);
    p.rows = 1;
    char dir1[700];
    snprintf(dir1, sizeof dir1, "%s/one", g_tmp);
    CHECK_OK(mmf_xmodal_overlay(maps, recs, vocab, dir1, &p, &n));
    CHECK(n == 1 && exists(dir1, "0.png") && !exists(dir1, "1.png"));
    CHECK(mmf_xmodal_overlay(maps, recs, "/nonexistent/vocab.txt", dir1, &p, &n) != MMF_OK &&
          strstr(mmf_last_error(), "/nonexistent/vocab.txt"));
    mmf_image_free(&a);
    mmf_image_free(&b);
}

int main(void) {
    t_tmpdir(g_tmp, sizeof g_tmp);
    test_strip();
    test_files();
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
    return t_done("test_attention_overlay");
}
