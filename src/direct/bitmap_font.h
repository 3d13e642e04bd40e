/* A tiny built-in bitmap font (5 x 9 cells: 7 rows above the baseline, 2 for
 * descenders) for captions on images we draw, so no font library is needed.
 * Covers lowercase letters (uppercase is drawn lowercase), digits and
 * - _ . : # / ? ' + % ; anything else (and every UTF-8 sequence) draws as '?'. */
#ifndef MMF_DIRECT_BITMAP_FONT_H
#define MMF_DIRECT_BITMAP_FONT_H
#include "mmfuse.h"

#define MMF_FONT_W 5
#define MMF_FONT_H 9
#define MMF_FONT_ADVANCE 6   /* glyph width + one column of spacing */

/* Glyphs drawn for a UTF-8 string (one per ASCII byte or multibyte sequence). */
int mmf_font_glyphs(const char *s);
/* Draws s with its top-left corner at (x, y), each font pixel an s x s block,
 * clipped to the image and to at most max_glyphs glyphs (0 = no limit). */
void mmf_font_draw(mmf_image *img, int x, int y, int scale, const char *s, int max_glyphs, const uint8_t rgb[3]);
#endif
