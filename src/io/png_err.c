/* The libpng error callbacks (png_err.h). */
#include "io/png_err.h"
#include <stdio.h>

void mmf_png_on_error(png_structp png, png_const_charp msg) {
    mmf_png_err *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    longjmp(e->jb, 1);
}

void mmf_png_on_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; }
