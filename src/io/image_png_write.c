/* 8-bit RGB PNG writer (mmf_image_save_png) on libpng, streamed through the
 * atomic file helper: until the last byte is written and fsynced, the target
 * keeps its old content (or does not exist), so a reader never sees half a PNG. */
#include "core/error.h"
#include "io/atomic_file.h"
#include "io/png_err.h"
#include "mmfuse.h"
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

typedef struct png_wctx {
    mmf_atomic_file *f;
    mmf_status s;          /* first write failure (its message already recorded) */
    mmf_png_err err;
} png_wctx;

static void w_data(png_structp png, png_bytep data, png_size_t n) {
    png_wctx *c = png_get_io_ptr(png);
    mmf_status s = mmf_atomic_write(c->f, data, n);
    if (s) { c->s = s; png_error(png, "write failed"); }
}
static void w_flush(png_structp png) { (void)png; }

mmf_status mmf_image_save_png(const mmf_image *img, const char *path) {
    if (!img || !img->rgb || img->width < 1 || img->height < 1 || img->width > 1000000 || img->height > 1000000)
        return mmf_fail(MMF_ERR_ARG, "%s: cannot write a PNG of %dx%d pixels", path, img ? img->width : 0, img ? img->height : 0);
    png_wctx c;
    memset(&c, 0, sizeof c);
    mmf_status s = mmf_atomic_open(path, &c.f);
    if (s) return s;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &c.err, mmf_png_on_error, mmf_png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, NULL);
        mmf_atomic_abort(c.f);
        return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory for the PNG encoder", path);
    }
    if (setjmp(c.err.jb)) {
        png_destroy_write_struct(&png, &info);
        mmf_atomic_abort(c.f);
        /* a failed write already recorded a message naming the file */
        return c.s ? c.s : mmf_fail(MMF_ERR_IO, "%s: PNG encoder: %s", path, c.err.msg);
    }
    png_set_write_fn(png, &c, w_data, w_flush);
    png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < img->height; y++) png_write_row(png, img->rgb + (size_t)y * (size_t)img->width * 3);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return mmf_atomic_commit(c.f);
}
