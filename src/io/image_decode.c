/* PNG (libpng) and JPEG (libjpeg-turbo) to 8-bit RGB, matching what Hugging
 * Face processors see: Pillow's Image.open(f).convert("RGB"), after
 * transformers' load_image() applied the EXIF orientation.
 *
 * Colour conversion, as Pillow 9.4 does it:
 *  - grey (1/2/4/8-bit, scaled to 0..255) -> replicated into R, G, B;
 *  - alpha (RGBA, grey + alpha, tRNS on palette/grey/RGB) is DROPPED, not
 *    composited onto a background: Pillow's convert("RGB") discards it and
 *    transformers' convert_rgb / CLIPImageProcessor(do_convert_rgb) calls exactly
 *    that. Transparent pixels therefore show whatever colour they store.
 *  - palette -> palette colours;
 *  - 16-bit samples -> the high byte (Pillow's "RGB;16B"/"LA;16B" unpackers).
 *    One deliberate difference: Pillow 9.4 opens 16-bit greyscale PNG as mode
 *    "I" and convert("RGB") then clips every value above 255 to white; we take
 *    the high byte like every other 16-bit case (a usable image, not a white one).
 *  - EXIF orientation (JPEG APP1 or PNG eXIf) is applied as ImageOps.exif_transpose.
 *  - JPEG CMYK/YCCK: Pillow assumes Adobe's inverted CMYK and converts with
 *    R = 255 - K' - C'*(255-K')/255 (rounded as its MULDIV255).
 * Gamma (gAMA/iCCP) is ignored, as Pillow does. */
#include "core/error.h"
#include "io/json.h"
#include "io/png_err.h"
#include "mmfuse.h"
#include <setjmp.h>
#include <stdio.h>
#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

mmf_image_decode_params mmf_image_decode_params_default(void) {
    mmf_image_decode_params p;
    p.max_pixels = 89478485;   /* PIL.Image.MAX_IMAGE_PIXELS */
    p.max_file_bytes = (int64_t)256 << 20;
    p.exif_orientation = 1;
    return p;
}

void mmf_image_free(mmf_image *img) {
    if (!img) return;
    free(img->rgb);
    img->rgb = NULL;
    img->width = img->height = 0;
}

static mmf_status check_dims(const char *name, uint64_t w, uint64_t h, const mmf_image_decode_params *p) {
    if (w == 0 || h == 0)
        return mmf_fail(MMF_ERR_FORMAT, "%s: image has zero size (%llux%llu)", name, (unsigned long long)w, (unsigned long long)h);
    if (w > 1000000 || h > 1000000 || (int64_t)(w * h) > p->max_pixels)
        return mmf_fail(MMF_ERR_NOMEM, "%s: %llux%llu pixels exceed the pixel budget of %lld (decompression bomb guard)",
                        name, (unsigned long long)w, (unsigned long long)h, (long long)p->max_pixels);
    return MMF_OK;
}

static int exif_orientation(const unsigned char *d, size_t n);

/* ------------------------------------------------------------------ PNG */

typedef struct png_ctx {
    const unsigned char *buf;
    size_t len, pos;
    const char *name;
    mmf_png_err err;
} png_ctx;

static void png_read_mem(png_structp png, png_bytep dst, png_size_t n) {
    png_ctx *c = png_get_io_ptr(png);
    if (n > c->len - c->pos) png_error(png, "file is truncated");
    memcpy(dst, c->buf + c->pos, n);
    c->pos += n;
}

static mmf_status decode_png(const unsigned char *buf, size_t len, const char *name,
                             const mmf_image_decode_params *p, mmf_image *out, int *orientation) {
    png_ctx c = {.buf = buf, .len = len, .name = name};
    /* budget check straight from IHDR, before libpng allocates or reads on */
    if (len >= 24 && !memcmp(buf + 12, "IHDR", 4)) {
        uint32_t w = (uint32_t)buf[16] << 24 | (uint32_t)buf[17] << 16 | (uint32_t)buf[18] << 8 | buf[19];
        uint32_t h = (uint32_t)buf[20] << 24 | (uint32_t)buf[21] << 16 | (uint32_t)buf[22] << 8 | buf[23];
        mmf_status s0 = check_dims(name, w, h, p);
        if (s0) return s0;
    }
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c.err, mmf_png_on_error, mmf_png_on_warning);
    if (!png) return mmf_fail(MMF_ERR_NOMEM, "%s: cannot create PNG reader", name);
    png_infop info = png_create_info_struct(png);
    /* volatile: modified between setjmp and longjmp */
    unsigned char *volatile pix = NULL;
    png_bytep *volatile rows = NULL;
    if (!info) { png_destroy_read_struct(&png, NULL, NULL); return mmf_fail(MMF_ERR_NOMEM, "%s: cannot create PNG info", name); }
    if (setjmp(c.err.jb)) {
        free(pix);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return mmf_fail(MMF_ERR_FORMAT, "%s: corrupt PNG: %s", name, c.err.msg);
    }
    png_set_read_fn(png, &c, png_read_mem);
    png_set_user_limits(png, 1000000, 1000000);
    png_set_chunk_malloc_max(png, (png_alloc_size_t)64 << 20);
    png_set_crc_action(png, PNG_CRC_DEFAULT, PNG_CRC_WARN_DISCARD);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    mmf_status s = check_dims(name, w, h, p);
    if (s) { png_destroy_read_struct(&png, &info, NULL); return s; }
    int ct = png_get_color_type(png, info), bd = png_get_bit_depth(png, info);
    if (ct == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);            /* tRNS stays ignored */
    if (ct == PNG_COLOR_TYPE_GRAY && bd < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (bd == 16) png_set_strip_16(png);                                      /* high byte */
    /* alpha channels and the alpha that palette expansion makes from tRNS: dropped, as convert("RGB") */
    if ((ct & PNG_COLOR_MASK_ALPHA) || (ct == PNG_COLOR_TYPE_PALETTE && png_get_valid(png, info, PNG_INFO_tRNS)))
        png_set_strip_alpha(png);
    if (ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 3)
        png_error(png, "unexpected row layout after conversion");
    pix = malloc((size_t)w * h * 3);
    rows = malloc(sizeof(png_bytep) * h);
    if (!pix || !rows) png_error(png, "out of memory for the pixels");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = pix + (size_t)y * w * 3;
    png_read_image(png, rows);
    png_read_end(png, info);
    /* eXIf (before or after the image data): Pillow's exif_transpose honours it too */
    *orientation = 1;
#ifdef PNG_eXIf_SUPPORTED
    png_bytep exif = NULL;
    png_uint_32 exif_len = 0;
    if (png_get_eXIf_1(png, info, &exif_len, &exif) && exif && exif_len) *orientation = exif_orientation(exif, exif_len);
#endif
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    out->width = (int)w;
    out->height = (int)h;
    out->rgb = pix;
    return MMF_OK;
}

/* ----------------------------------------------------------------- JPEG */

typedef struct jpg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    int truncated;
    char msg[JMSG_LENGTH_MAX];
} jpg_err;

static void jpg_error_exit(j_common_ptr ci) {
    jpg_err *e = (jpg_err *)ci->err;
    e->pub.format_message(ci, e->msg);
    longjmp(e->jb, 1);
}
/* Warnings: a premature end of data is a truncated file (Pillow raises
 * "image file is truncated"); other recoverable glitches are logged. */
static void jpg_emit(j_common_ptr ci, int level) {
    jpg_err *e = (jpg_err *)ci->err;
    if (level >= 0) return;
    if (e->pub.msg_code == JWRN_JPEG_EOF) e->truncated = 1;
    e->pub.num_warnings++;
}

/* EXIF orientation (tag 0x0112 in IFD0 of the APP1 "Exif" block), 1 if absent. */
static int exif_orientation(const unsigned char *d, size_t n) {
    if (n >= 6 && !memcmp(d, "Exif\0\0", 6)) { d += 6; n -= 6; }   /* JPEG APP1; PNG eXIf has the bare TIFF block */
    if (n < 8) return 1;
    int le;
    if (d[0] == 'I' && d[1] == 'I') le = 1;
    else if (d[0] == 'M' && d[1] == 'M') le = 0;
    else return 1;
#define RD16(q) (le ? (unsigned)((q)[0] | (q)[1] << 8) : (unsigned)((q)[0] << 8 | (q)[1]))
#define RD32(q) (le ? ((uint32_t)(q)[0] | (uint32_t)(q)[1] << 8 | (uint32_t)(q)[2] << 16 | (uint32_t)(q)[3] << 24) \
                    : ((uint32_t)(q)[0] << 24 | (uint32_t)(q)[1] << 16 | (uint32_t)(q)[2] << 8 | (uint32_t)(q)[3]))
    uint32_t ifd = RD32(d + 4);
    if (ifd > n || n - ifd < 2) return 1;
    unsigned cnt = RD16(d + ifd);
    for (unsigned i = 0; i < cnt; i++) {
        size_t e = (size_t)ifd + 2 + (size_t)i * 12;
        if (e + 12 > n) break;
        if (RD16(d + e) == 0x0112) {
            unsigned v = RD16(d + e + 8);
            return v >= 1 && v <= 8 ? (int)v : 1;
        }
    }
    return 1;
#undef RD16
#undef RD32
}

static mmf_status decode_jpeg(const unsigned char *buf, size_t len, const char *name,
                              const mmf_image_decode_params *p, mmf_image *out, int *orientation) {
    struct jpeg_decompress_struct ci;
    jpg_err e;
    memset(&e, 0, sizeof e);
    ci.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = jpg_error_exit;
    e.pub.emit_message = jpg_emit;
    unsigned char *volatile pix = NULL;
    unsigned char *volatile row = NULL;
    if (setjmp(e.jb)) {
        jpeg_destroy_decompress(&ci);
        free(pix);
        free(row);
        return mmf_fail(MMF_ERR_FORMAT, "%s: corrupt JPEG: %s", name, e.msg);
    }
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, buf, (unsigned long)len);
    jpeg_save_markers(&ci, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&ci, TRUE);
    mmf_status s = check_dims(name, ci.image_width, ci.image_height, p);
    if (s) { jpeg_destroy_decompress(&ci); return s; }
    *orientation = 1;
    for (jpeg_saved_marker_ptr m = ci.marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1) { *orientation = exif_orientation(m->data, m->data_length); break; }
    int cmyk = 0;
    switch (ci.jpeg_color_space) {
    case JCS_GRAYSCALE: ci.out_color_space = JCS_GRAYSCALE; break;
    case JCS_CMYK: case JCS_YCCK: ci.out_color_space = JCS_CMYK; cmyk = 1; break;
    default: ci.out_color_space = JCS_RGB; break;
    }
    jpeg_start_decompress(&ci);
    unsigned w = ci.output_width, h = ci.output_height;
    int nc = ci.output_components;
    pix = malloc((size_t)w * h * 3);
    row = malloc((size_t)w * (size_t)nc);
    if (!pix || !row) {
        jpeg_destroy_decompress(&ci);
        free(pix); free(row);
        return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory for %ux%u pixels", name, w, h);
    }
    while (ci.output_scanline < h && !e.truncated) {
        unsigned y = ci.output_scanline;
        JSAMPROW r = row;
        jpeg_read_scanlines(&ci, &r, 1);
        unsigned char *o = pix + (size_t)y * w * 3;
        if (nc == 3) memcpy(o, row, (size_t)w * 3);
        else if (nc == 1) for (unsigned x = 0; x < w; x++) o[3 * x] = o[3 * x + 1] = o[3 * x + 2] = row[x];
        else if (cmyk && nc == 4) {
            for (unsigned x = 0; x < w; x++) {
                /* Pillow reads CMYK JPEGs as "CMYK;I" (Adobe inverted), then cmyk2rgb */
                int nk = row[4 * x + 3];   /* 255 - k, with k = 255 - raw */
                for (int ch = 0; ch < 3; ch++) {
                    int cc = 255 - row[4 * x + ch];
                    int t = cc * nk + 128;
                    int v = nk - (((t >> 8) + t) >> 8);
                    o[3 * x + ch] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
            }
        }
    }
    if (e.truncated) {
        jpeg_destroy_decompress(&ci);
        free(pix); free(row);
        return mmf_fail(MMF_ERR_FORMAT, "%s: JPEG file is truncated (premature end of data)", name);
    }
    jpeg_finish_decompress(&ci);
    if (e.truncated) {
        jpeg_destroy_decompress(&ci);
        free(pix); free(row);
        return mmf_fail(MMF_ERR_FORMAT, "%s: JPEG file is truncated (premature end of data)", name);
    }
    jpeg_destroy_decompress(&ci);
    free(row);
    out->width = (int)w;
    out->height = (int)h;
    out->rgb = pix;
    return MMF_OK;
}

/* Apply an EXIF orientation as PIL.ImageOps.exif_transpose. */
static mmf_status apply_orientation(mmf_image *img, int o, const char *name) {
    if (o <= 1 || o > 8) return MMF_OK;
    int W = img->width, H = img->height;
    int swap = o >= 5;
    int ow = swap ? H : W, oh = swap ? W : H;
    unsigned char *d = malloc((size_t)W * H * 3);
    if (!d) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory rotating the image", name);
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            switch (o) {
            case 2: sx = W - 1 - x; sy = y; break;
            case 3: sx = W - 1 - x; sy = H - 1 - y; break;
            case 4: sx = x; sy = H - 1 - y; break;
            case 5: sx = y; sy = x; break;
            case 6: sx = y; sy = H - 1 - x; break;
            case 7: sx = W - 1 - y; sy = H - 1 - x; break;
            default: sx = W - 1 - y; sy = x; break;  /* 8 */
            }
            memcpy(d + ((size_t)y * ow + x) * 3, img->rgb + ((size_t)sy * W + sx) * 3, 3);
        }
    free(img->rgb);
    img->rgb = d;
    img->width = ow;
    img->height = oh;
    return MMF_OK;
}

mmf_status mmf_image_decode_memory(const void *bytes, size_t len, const char *name,
                                   const mmf_image_decode_params *params, mmf_image *out) {
    mmf_image_decode_params def = mmf_image_decode_params_default();
    const mmf_image_decode_params *p = params ? params : &def;
    const unsigned char *b = bytes;
    out->width = out->height = 0;
    out->rgb = NULL;
    if (!name) name = "<memory>";
    if (!b || len == 0) return mmf_fail(MMF_ERR_FORMAT, "%s: empty file", name);
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (len >= 8 && memcmp(b, png_sig, 8) == 0) {
        int o = 1;
        mmf_status s = decode_png(b, len, name, p, out, &o);
        if (s) return s;
        if (p->exif_orientation && o > 1 && (s = apply_orientation(out, o, name))) { mmf_image_free(out); return s; }
        return MMF_OK;
    }
    if (len >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) {
        int o = 1;
        mmf_status s = decode_jpeg(b, len, name, p, out, &o);
        if (s) return s;
        if (p->exif_orientation && o > 1 && (s = apply_orientation(out, o, name))) { mmf_image_free(out); return s; }
        return MMF_OK;
    }
    const char *what = "not a PNG or JPEG file";
    if (len >= 6 && (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6))) what = "GIF is not supported (PNG or JPEG only)";
    else if (len >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4)) what = "WebP is not supported (PNG or JPEG only)";
    else if (len >= 2 && b[0] == 'B' && b[1] == 'M') what = "BMP is not supported (PNG or JPEG only)";
    else if (len >= 4 && (!memcmp(b, "II*", 4) || !memcmp(b, "MM\0*", 4))) what = "TIFF is not supported (PNG or JPEG only)";
    return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: %s", name, what);
}

mmf_status mmf_image_load(const char *path, const mmf_image_decode_params *params, mmf_image *out) {
    mmf_image_decode_params def = mmf_image_decode_params_default();
    const mmf_image_decode_params *p = params ? params : &def;
    out->width = out->height = 0;
    out->rgb = NULL;
    char *buf;
    size_t len;
    mmf_status s = mmf_read_file(path, (size_t)p->max_file_bytes, &buf, &len);
    if (s) return s;
    s = mmf_image_decode_memory(buf, len, path, p, out);
    free(buf);
    return s;
}
