/* scripts/png-flatten.js (the emoji builder flattens every image onto white
 * with it) against Pillow: for each PNG kind in tests/data/png_flatten/ (made
 * by tests/ref/ref_png_flatten.py), the flattened output, decoded here by libpng,
 * must equal Pillow's alpha_composite onto white byte for byte, and must be an
 * opaque 8-bit RGB PNG of the same size. Bad input must fail with the file
 * named and no output left behind. Skipped when node is absent. */
#include <png.h>
#include <sys/stat.h>
#include <unistd.h>
#include "test_util.h"

static const char *kinds[] = {"rgba8", "greyalpha8", "palette8_trns", "palette4_trns", "palette2_trns",
                              "palette1_trns", "rgb8_trns", "grey8_trns", "grey1", "rgb8"};

static unsigned char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(n > 0 ? (size_t)n : 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Run the flattener; returns its exit status, stderr captured in err_path. */
static int flatten(const char *script, const char *in, const char *out, const char *err_path) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "node '%s' '%s' '%s' 2>'%s'", script, in, out, err_path);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int stderr_has(const char *err_path, const char *needle) {
    size_t n;
    unsigned char *b = read_all(err_path, &n);
    if (!b) return 0;
    unsigned char *z = realloc(b, n + 1);
    if (!z) { free(b); return 0; }
    z[n] = 0;
    int hit = strstr((char *)z, needle) != NULL;
    free(z);
    return hit;
}

int main(void) {
    if (system("command -v node >/dev/null 2>&1") != 0) return t_skip("node not installed (scripts/install-deps.sh demo)");
    char script[1024], dir[1024], tmp[1024];
    t_src_path("scripts/png-flatten.js", script, sizeof script);
    t_src_path("tests/data/png_flatten", dir, sizeof dir);
    t_tmpdir(tmp, sizeof tmp);
    char err[1200];
    snprintf(err, sizeof err, "%s/stderr", tmp);

    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        char in[1200], out[1200], want_path[1200];
        snprintf(in, sizeof in, "%s/%s.png", dir, kinds[k]);
        snprintf(want_path, sizeof want_path, "%s/%s.rgb", dir, kinds[k]);
        snprintf(out, sizeof out, "%s/%s.out.png", tmp, kinds[k]);
        int rc = flatten(script, in, out, err);
        CHECK_MSG(rc == 0, "%s: png-flatten exited %d", kinds[k], rc);
        if (rc != 0) continue;

        png_image img;
        memset(&img, 0, sizeof img);
        img.version = PNG_IMAGE_VERSION;
        CHECK_MSG(png_image_begin_read_from_file(&img, out), "%s: libpng cannot read the output: %s", kinds[k], img.message);
        CHECK_MSG(img.format == PNG_FORMAT_RGB, "%s: output format 0x%x, expected 8-bit RGB without alpha", kinds[k], img.format);
        CHECK_MSG(img.width == 13 && img.height == 7, "%s: output %ux%u, expected 13x7", kinds[k], img.width, img.height);
        img.format = PNG_FORMAT_RGB;
        size_t n = PNG_IMAGE_SIZE(img), want_n;
        unsigned char *got = malloc(n), *want = read_all(want_path, &want_n);
        CHECK_MSG(want && want_n == n, "%s: reference %s missing or %zu bytes, expected %zu", kinds[k], want_path, want_n, n);
        if (got && want && want_n == n && png_image_finish_read(&img, NULL, got, 0, NULL)) {
            size_t bad = 0, first = 0;
            for (size_t i = 0; i < n; i++)
                if (got[i] != want[i]) { if (!bad) first = i; bad++; }
            CHECK_MSG(bad == 0, "%s: %zu of %zu bytes differ from Pillow, first at pixel %zu: got %u expected %u",
                      kinds[k], bad, n, first / 3, got[first], want[first]);
        } else {
            png_image_free(&img);
        }
        free(got);
        free(want);
    }

    /* bad input: truncated PNG, not a PNG, missing file */
    size_t len;
    char src[1200], trunc[1200], text[1200], out[1200];
    snprintf(src, sizeof src, "%s/rgba8.png", dir);
    snprintf(trunc, sizeof trunc, "%s/truncated.png", tmp);
    snprintf(text, sizeof text, "%s/text.png", tmp);
    snprintf(out, sizeof out, "%s/bad.out.png", tmp);
    unsigned char *b = read_all(src, &len);
    CHECK(b && len > 80);
    if (b) {
        FILE *f = fopen(trunc, "wb");
        fwrite(b, 1, 80, f);
        fclose(f);
        free(b);
    }
    FILE *f = fopen(text, "wb");
    fputs("this is not a PNG file\n", f);
    fclose(f);
    CHECK(flatten(script, trunc, out, err) == 1);
    CHECK_MSG(stderr_has(err, "truncated.png: truncated"), "truncated PNG: stderr should name the file and say truncated");
    CHECK(flatten(script, text, out, err) == 1);
    CHECK_MSG(stderr_has(err, "text.png: not a PNG"), "text file: stderr should name the file and say it is not a PNG");
    char missing[1200];
    snprintf(missing, sizeof missing, "%s/nope.png", tmp);
    CHECK(flatten(script, missing, out, err) == 1);
    CHECK_MSG(stderr_has(err, "nope.png"), "missing file: stderr should name it");
    struct stat st;
    CHECK_MSG(stat(out, &st) != 0, "a failed flatten left %s behind", out);

    char cmd[1300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return t_done("test_png_flatten");
}
