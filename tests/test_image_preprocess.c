/* Decoding and HF preprocessing against Pillow (tests/data/image, written by
 * tests/ref/ref_image_preprocess.py): decoded RGB, Pillow resizes with every
 * filter, processor geometry (uint8, before normalisation) and full
 * pixel_values. Target: identical bytes; the contract is within 1/255. */
#include "test_util.h"
#include "io/json.h"

static uint32_t crc32_(const unsigned char *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static char dir[1024];

static int load(const char *name, mmf_image *img) {
    char p[2048];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    mmf_status s = mmf_image_load(p, NULL, img);
    if (s) { fprintf(stderr, "load %s: %s\n", p, mmf_last_error()); t_failures++; return 0; }
    return 1;
}

/* max |a-b| over n bytes; *ndiff = count of differing bytes */
static int cmp_u8(const uint8_t *a, const uint8_t *b, size_t n, size_t *ndiff) {
    int m = 0;
    *ndiff = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        if (d) (*ndiff)++;
        if (d > m) m = d;
    }
    return m;
}

static int worst_u8 = 0;
static size_t total_diff = 0, total_px = 0;

static void check_img(const char *what, const mmf_image *got, const mmf_tensor_info *t) {
    t_checks++;
    if (t->ndim != 3 || t->shape[0] != got->height || t->shape[1] != got->width || t->shape[2] != 3) {
        t_failures++;
        fprintf(stderr, "%s: got %dx%d, expected %lldx%lld\n", what, got->width, got->height,
                (long long)t->shape[1], (long long)t->shape[0]);
        return;
    }
    size_t nd;
    int m = cmp_u8(got->rgb, t->data, (size_t)t->numel, &nd);
    total_diff += nd;
    total_px += (size_t)t->numel;
    if (m > worst_u8) worst_u8 = m;
    if (m > 1) { t_failures++; fprintf(stderr, "%s: max diff %d (> 1/255), %zu bytes differ\n", what, m, nd); }
    else if (nd) fprintf(stderr, "%s: %zu bytes differ by 1\n", what, nd);
}

/* ---- bad input ---- */
static void put32(unsigned char *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }

static size_t png_header(unsigned char *b, uint32_t w, uint32_t h) {
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(b, sig, 8);
    put32(b + 8, 13);
    memcpy(b + 12, "IHDR", 4);
    put32(b + 16, w);
    put32(b + 20, h);
    b[24] = 8; b[25] = 2; b[26] = 0; b[27] = 0; b[28] = 0;
    put32(b + 29, crc32_(b + 12, 17));
    return 33;
}

static void expect_fail(const void *buf, size_t len, const char *name, mmf_status want, const char *needle) {
    mmf_image img;
    mmf_status s = mmf_image_decode_memory(buf, len, name, NULL, &img);
    CHECK_MSG(s == want, "%s: status %s, expected %s (%s)", name, mmf_status_str(s), mmf_status_str(want), mmf_last_error());
    CHECK_MSG(strstr(mmf_last_error(), name) != NULL, "%s: message does not name the file: %s", name, mmf_last_error());
    if (needle) CHECK_MSG(strstr(mmf_last_error(), needle) != NULL, "%s: message lacks \"%s\": %s", name, needle, mmf_last_error());
    if (s == MMF_OK) mmf_image_free(&img);
}

static void bad_inputs(void) {
    char p[2048];
    char *buf;
    size_t len;
    FILE *f;
    /* truncated PNG and JPEG, at several cut points */
    const char *files[] = {"rgb8.png", "baseline420.jpg", "progressive.jpg", "pal4_trns.png"};
    for (int k = 0; k < 4; k++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[k]);
        f = fopen(p, "rb");
        if (!f) { t_failures++; continue; }
        buf = malloc(1 << 20);
        len = fread(buf, 1, 1 << 20, f);
        fclose(f);
        size_t cuts[] = {len / 2, len - 20, 40, 9, 4};
        for (int c = 0; c < 5; c++) expect_fail(buf, cuts[c], files[k], cuts[c] < 8 && (k == 0 || k == 3) ? MMF_ERR_UNSUPPORTED : MMF_ERR_FORMAT, NULL);
        /* corrupt the middle */
        for (size_t i = len / 3; i < len / 3 + 64 && i < len; i++) buf[i] ^= 0x5a;
        mmf_image img;
        mmf_status s = mmf_image_decode_memory(buf, len, files[k], NULL, &img);
        /* JPEG may decode garbage without noticing; it must not crash, and a PNG CRC/zlib error must be caught */
        if (k == 0 || k == 3) CHECK_MSG(s == MMF_ERR_FORMAT, "corrupt %s: %s", files[k], mmf_status_str(s));
        if (s == MMF_OK) mmf_image_free(&img);
        free(buf);
    }
    unsigned char hdr[64];
    size_t n = png_header(hdr, 0, 10);
    expect_fail(hdr, n, "zero.png", MMF_ERR_FORMAT, NULL);
    n = png_header(hdr, 100000, 100000);
    expect_fail(hdr, n, "bomb.png", MMF_ERR_NOMEM, "pixel budget");
    /* JPEG header claiming 65000 x 65000 */
    snprintf(p, sizeof p, "%s/baseline420.jpg", dir);
    if (mmf_read_file(p, 1 << 20, &buf, &len) == MMF_OK) {
        for (size_t i = 0; i + 9 < len; i++)
            if ((unsigned char)buf[i] == 0xFF && (unsigned char)buf[i + 1] == 0xC0) {
                buf[i + 5] = (char)0xFD; buf[i + 6] = (char)0xE8; buf[i + 7] = (char)0xFD; buf[i + 8] = (char)0xE8;
                break;
            }
        expect_fail(buf, len, "bomb.jpg", MMF_ERR_NOMEM, "pixel budget");
        free(buf);
    }
    expect_fail("GIF89a\x01\x00\x01\x00", 10, "anim.gif", MMF_ERR_UNSUPPORTED, "GIF");
    expect_fail("hello world", 11, "notes.txt", MMF_ERR_UNSUPPORTED, "not a PNG or JPEG");
    expect_fail("", 0, "empty.png", MMF_ERR_FORMAT, "empty");
    mmf_image img;
    mmf_status s = mmf_image_load("/nonexistent/dir/cat.png", NULL, &img);
    CHECK(s == MMF_ERR_NOT_FOUND);
    CHECK(strstr(mmf_last_error(), "/nonexistent/dir/cat.png") != NULL);
    s = mmf_image_load(dir, NULL, &img);   /* a directory */
    CHECK(s == MMF_ERR_IO);
    /* a tight custom budget */
    mmf_image_decode_params dp = mmf_image_decode_params_default();
    dp.max_pixels = 100;
    snprintf(p, sizeof p, "%s/rgb8.png", dir);
    CHECK(mmf_image_load(p, &dp, &img) == MMF_ERR_NOMEM);
    /* processor config errors */
    mmf_image_processor *pp;
    snprintf(p, sizeof p, "%s/nope.json", dir);
    CHECK(mmf_image_processor_load(p, &pp) == MMF_ERR_NOT_FOUND);
}

int main(void) {
    t_src_path("tests/data/image", dir, sizeof dir);
    char p[2048];
    snprintf(p, sizeof p, "%s/expected.safetensors", dir);
    mmf_safetensors *st;
    CHECK_OK(mmf_st_open(p, &st));
    if (t_failures) return t_done("test_image_preprocess");
    int n_dec = 0, n_res = 0, n_pre = 0, n_pix = 0;
    double worst_pix = 0;
    for (size_t i = 0; i < mmf_st_count(st); i++) {
        const mmf_tensor_info *t = mmf_st_at(st, i);
        char name[512], *a, *b, *c;
        snprintf(name, sizeof name, "%s", t->name);
        mmf_image img, out;
        if (!strncmp(name, "decode/", 7)) {
            if (!load(name + 7, &img)) continue;
            check_img(t->name, &img, t);
            mmf_image_free(&img);
            n_dec++;
        } else if (!strncmp(name, "resize/", 7)) {
            /* resize/<file>/<w>x<h>/<filter> */
            a = name + 7;
            b = strchr(a, '/'); *b++ = 0;
            c = strchr(b, '/'); *c++ = 0;
            int w, h;
            sscanf(b, "%dx%d", &w, &h);
            if (!load(a, &img)) continue;
            CHECK_OK(mmf_image_resize(&img, w, h, (mmf_resample)atoi(c), &out));
            if (out.rgb) check_img(t->name, &out, t);
            mmf_image_free(&out);
            mmf_image_free(&img);
            n_res++;
        } else if (!strncmp(name, "pre/", 4) || !strncmp(name, "pix/", 4)) {
            int pix = name[1] == 'i';
            a = name + 4;
            b = strchr(a, '/'); *b++ = 0;
            char cfg[2100];
            snprintf(cfg, sizeof cfg, "%s/proc_%s.json", dir, a);
            mmf_image_processor *pp;
            CHECK_OK(mmf_image_processor_load(cfg, &pp));
            if (!pp) continue;
            if (!load(b, &img)) { mmf_image_processor_free(pp); continue; }
            if (!pix) {
                CHECK_OK(mmf_image_processor_geometry(pp, &img, &out));
                if (out.rgb) check_img(t->name, &out, t);
                mmf_image_free(&out);
                n_pre++;
            } else {
                int C, H, W;
                mmf_image_processor_size(pp, &C, &H, &W);
                CHECK(t->ndim == 3 && t->shape[0] == C && t->shape[1] == H && t->shape[2] == W);
                float *v = malloc(sizeof(float) * (size_t)C * H * W);
                CHECK_OK(mmf_image_processor_run(pp, &img, v));
                double m = t_max_abs_diff(v, t->data, (size_t)t->numel);
                if (m > worst_pix) worst_pix = m;
                CHECK_MSG(m <= 1e-6, "%s: pixel_values max diff %g", t->name, m);
                free(v);
                n_pix++;
            }
            mmf_image_free(&img);
            mmf_image_processor_free(pp);
        }
    }
    mmf_st_close(st);
    printf("decode %d, resize %d, processor geometry %d, pixel_values %d cases; worst u8 diff %d, "
           "%zu of %zu bytes differ; worst pixel_values diff %.3g\n",
           n_dec, n_res, n_pre, n_pix, worst_u8, total_diff, total_px, worst_pix);
    CHECK(n_dec >= 25 && n_res >= 10 && n_pre >= 100 && n_pix >= 8);
    bad_inputs();
    return t_done("test_image_preprocess");
}
