/* libpng reports an error by calling back and expects no return: the PNG
 * reader and writer both keep its message and jump back to the setjmp of the
 * call that drives libpng. Pass an mmf_png_err as the error pointer. */
#ifndef MMF_IO_PNG_ERR_H
#define MMF_IO_PNG_ERR_H
#include <png.h>
#include <setjmp.h>

typedef struct mmf_png_err {
    char msg[256];   /* libpng's own error text */
    jmp_buf jb;
} mmf_png_err;

/* png_create_{read,write}_struct(..., &err, mmf_png_on_error, mmf_png_on_warning) */
void mmf_png_on_error(png_structp png, png_const_charp msg);
/* warnings (e.g. a bad CRC in an ancillary chunk) are not errors: ignored */
void mmf_png_on_warning(png_structp png, png_const_charp msg);
#endif
