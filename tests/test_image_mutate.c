/* Robustness: every committed test image, with random bytes flipped,
 * truncated or extended, goes through the decoder and a resize. Nothing may
 * crash (run it under ASan: make test-asan); every failure must name the file. */
#include "test_util.h"
#include "io/json.h"
#include <dirent.h>

static uint64_t rs = 0x2545F4914F6CDD1DULL;
static uint32_t rnd(void) { rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17; return (uint32_t)(rs >> 11); }

int main(void) {
    char dir[1024], p[2048];
    t_src_path("tests/data/image", dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d) return t_skip("no tests/data/image");
    struct dirent *de;
    int files = 0, decoded = 0, failed = 0;
    mmf_image_decode_params dp = mmf_image_decode_params_default();
    dp.max_pixels = 1 << 20;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n < 5 || (strcmp(de->d_name + n - 4, ".png") && strcmp(de->d_name + n - 4, ".jpg"))) continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        char *buf;
        size_t len;
        if (mmf_read_file(p, 1 << 22, &buf, &len)) continue;
        files++;
        unsigned char *m = malloc(len + 64);
        for (int k = 0; k < 60; k++) {
            size_t ml = len;
            memcpy(m, buf, len);
            int kind = k % 4;
            if (kind == 0) for (int j = 0; j < 1 + (int)(rnd() % 8); j++) m[rnd() % len] ^= (unsigned char)(1u << (rnd() % 8));
            else if (kind == 1) ml = rnd() % len;
            else if (kind == 2) { for (int j = 0; j < 64; j++) m[len + j] = (unsigned char)rnd(); ml = len + 64; }
            else { size_t at = 8 + rnd() % (len - 8); size_t span = 1 + rnd() % 16; for (size_t j = at; j < at + span && j < len; j++) m[j] = (unsigned char)rnd(); }
            mmf_image img;
            mmf_status s = mmf_image_decode_memory(m, ml, de->d_name, &dp, &img);
            if (s) {
                failed++;
                CHECK_MSG(strstr(mmf_last_error(), de->d_name) != NULL, "message lacks the name: %s", mmf_last_error());
                CHECK(img.rgb == NULL);
                continue;
            }
            decoded++;
            CHECK(img.width > 0 && img.height > 0);
            mmf_image r;
            CHECK_OK(mmf_image_resize(&img, 9, 4, MMF_RESAMPLE_BICUBIC, &r));
            mmf_image_free(&r);
            mmf_image_free(&img);
        }
        free(m);
        free(buf);
    }
    closedir(d);
    printf("%d files x 60 mutations: %d decoded, %d rejected with a message\n", files, decoded, failed);
    CHECK(files >= 30);
    return t_done("test_image_mutate");
}
