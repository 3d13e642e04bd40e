/* libFuzzer harness for image decoding + preprocessing: any bytes go through
 * mmf_image_decode_memory (PNG/JPEG sniffed, small pixel budget) and, when an
 * image comes out, a Pillow resize and the CLIP-style crop geometry.
 * tests/test_image_mutate.c runs the same path over mutated test images. */
#include <stdint.h>
#include <string.h>
#include "mmfuse.h"

#define PROMISE(c) do { if (!(c)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mmf_image_decode_params p = mmf_image_decode_params_default();
    p.max_pixels = 1 << 20;
    mmf_image img;
    mmf_status s = mmf_image_decode_memory(data, size, "fuzz.img", &p, &img);
    if (s) {
        PROMISE(img.rgb == NULL);
        PROMISE(strstr(mmf_last_error(), "fuzz.img") != NULL);
        return 0;
    }
    PROMISE(img.width > 0 && img.height > 0 && (int64_t)img.width * img.height <= p.max_pixels);
    mmf_image r;
    if (mmf_image_resize(&img, 7, 5, MMF_RESAMPLE_BICUBIC, &r) == MMF_OK) mmf_image_free(&r);
    mmf_image_free(&img);
    return 0;
}
