/* Random picture and text views (augment.h). The picture view follows the
 * torchvision recipe CLIP-style training uses: a random resized crop
 * (bilinear, edges repeated), then colour jitter (brightness, contrast,
 * saturation, hue) and sometimes greyscale. Three additions aim at a change of
 * drawing style (a gallery of line art with thick outlines and wide margins,
 * as OpenMoji against Noto and Twemoji): crops may zoom out (the picture
 * shrinks inside its repeated, usually white, border), dark outlines may be
 * drawn where the colour changes sharply, and shading may be posterised into
 * flat fills. Horizontal flips are left out:
 * emoji such as arrows and "facing right" are not mirror-symmetric. */
#include "direct/augment.h"
#include <math.h>
#include <string.h>

mmf_image_aug mmf_image_aug_default(void) {
    return (mmf_image_aug){.crop_min_area = 0.6f, .crop_max_area = 2.4f, .shift = 0.08f, .brightness = 0.3f,
                           .contrast = 0.3f, .saturation = 0.3f, .hue = 0.04f, .grey_p = 0.1f, .outline_p = 0.5f,
                           .posterize_p = 0.25f};
}

static float jitter(mmf_rng *r, float x) { return 1.0f + x * (2.0f * mmf_rng_uniform(r) - 1.0f); }
static float clamp01(float v) { return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; }

static void identity(const uint8_t *px, int S, float *out) {
    size_t n = (size_t)S * S;
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < n; i++) {
            float x = (float)((double)px[i * 3 + c] * (1.0 / 255.0));   /* as the processor's rescale */
            out[c * n + i] = (x - 0.5f) / 0.5f;
        }
}

void mmf_augment_image(const uint8_t *px, int S, const mmf_image_aug *a, mmf_rng *r, float *out) {
    if (!a) { identity(px, S, out); return; }
    size_t n = (size_t)S * S;
    /* crop box in source pixels */
    float area = a->crop_min_area + (a->crop_max_area - a->crop_min_area) * mmf_rng_uniform(r);
    float aspect = expf(logf(0.75f) + (logf(4.0f / 3.0f) - logf(0.75f)) * mmf_rng_uniform(r));
    float w = (float)S * sqrtf(area * aspect), h = (float)S * sqrtf(area / aspect);
    float x0 = ((float)S - w) * mmf_rng_uniform(r) + a->shift * S * (2.0f * mmf_rng_uniform(r) - 1.0f);
    float y0 = ((float)S - h) * mmf_rng_uniform(r) + a->shift * S * (2.0f * mmf_rng_uniform(r) - 1.0f);
    float sx = w / S, sy = h / S;
    for (int y = 0; y < S; y++) {
        float fy = y0 + ((float)y + 0.5f) * sy - 0.5f;
        int iy = (int)floorf(fy);
        float ty = fy - (float)iy;
        int y1 = iy < 0 ? 0 : iy >= S ? S - 1 : iy, y2 = iy + 1 < 0 ? 0 : iy + 1 >= S ? S - 1 : iy + 1;
        for (int x = 0; x < S; x++) {
            float fx = x0 + ((float)x + 0.5f) * sx - 0.5f;
            int ix = (int)floorf(fx);
            float tx = fx - (float)ix;
            int x1 = ix < 0 ? 0 : ix >= S ? S - 1 : ix, x2 = ix + 1 < 0 ? 0 : ix + 1 >= S ? S - 1 : ix + 1;
            const uint8_t *p11 = px + ((size_t)y1 * S + x1) * 3, *p12 = px + ((size_t)y1 * S + x2) * 3;
            const uint8_t *p21 = px + ((size_t)y2 * S + x1) * 3, *p22 = px + ((size_t)y2 * S + x2) * 3;
            for (int c = 0; c < 3; c++) {
                float v = (1 - ty) * ((1 - tx) * p11[c] + tx * p12[c]) + ty * ((1 - tx) * p21[c] + tx * p22[c]);
                out[c * n + (size_t)y * S + x] = v * (1.0f / 255.0f);
            }
        }
    }
    /* outlines: a pixel whose colour differs from its right or lower neighbour
     * by more than a quarter of the range turns near black */
    if (mmf_rng_uniform(r) < a->outline_p) {
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                size_t i = (size_t)y * S + x;
                float dmax = 0.0f;
                for (int c = 0; c < 3; c++) {
                    float v = out[c * n + i];
                    float dx = x + 1 < S ? fabsf(out[c * n + i + 1] - v) : 0.0f;
                    float dy = y + 1 < S ? fabsf(out[c * n + i + S] - v) : 0.0f;
                    dmax = fmaxf(dmax, fmaxf(dx, dy));
                }
                if (dmax > 0.25f) out[i] = out[n + i] = out[2 * n + i] = -1.0f;   /* marked; set after the scan */
            }
        for (size_t i = 0; i < 3 * n; i++) if (out[i] == -1.0f) out[i] = 0.08f;
    }
    /* colour, on [0, 1] values */
    float br = jitter(r, a->brightness), ct = jitter(r, a->contrast), sat = jitter(r, a->saturation);
    float th = a->hue * 6.2831853f * (2.0f * mmf_rng_uniform(r) - 1.0f), ch = cosf(th), sh = sinf(th);
    int grey = mmf_rng_uniform(r) < a->grey_p, poster = mmf_rng_uniform(r) < a->posterize_p;
    double mean = 0.0;
    for (size_t i = 0; i < n; i++) mean += 0.299f * out[i] + 0.587f * out[n + i] + 0.114f * out[2 * n + i];
    float m = (float)(mean / (double)n) * br;
    for (size_t i = 0; i < n; i++) {
        float R = out[i] * br, G = out[n + i] * br, B = out[2 * n + i] * br;
        R = (R - m) * ct + m; G = (G - m) * ct + m; B = (B - m) * ct + m;
        /* YIQ: luma stays, the chroma plane (I, Q) is scaled (saturation) and rotated (hue) */
        float Y = 0.299f * R + 0.587f * G + 0.114f * B;
        float I = 0.596f * R - 0.274f * G - 0.322f * B, Q = 0.211f * R - 0.523f * G + 0.312f * B;
        float I2 = sat * (ch * I - sh * Q), Q2 = sat * (sh * I + ch * Q);
        if (grey) I2 = Q2 = 0.0f;
        R = Y + 0.956f * I2 + 0.621f * Q2;
        G = Y - 0.272f * I2 - 0.647f * Q2;
        B = Y - 1.106f * I2 + 1.703f * Q2;
        R = clamp01(R); G = clamp01(G); B = clamp01(B);
        if (poster) { R = roundf(R * 3.0f) / 3.0f; G = roundf(G * 3.0f) / 3.0f; B = roundf(B * 3.0f) / 3.0f; }
        out[i] = (R - 0.5f) / 0.5f;
        out[n + i] = (G - 0.5f) / 0.5f;
        out[2 * n + i] = (B - 0.5f) / 0.5f;
    }
}

int mmf_compose_tokens(const int32_t *const *pieces, const int *lens, int n, int32_t cls, int32_t sep, int T,
                       int32_t *ids, uint8_t *keep) {
    memset(ids, 0, (size_t)T * sizeof *ids);
    memset(keep, 0, (size_t)T);
    int k = 0;
    ids[k++] = cls;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < lens[i] && k < T - 1; j++) ids[k++] = pieces[i][j];
    ids[k++] = sep;
    memset(keep, 1, (size_t)k);
    return k;
}
