/* Random views of pictures and texts for contrastive training (augment.c).
 * Pictures are the image processor's S x S x 3 uint8 output; a view is written
 * as the processor would normalise it ((x / 255 - 0.5) / 0.5, channels first),
 * so the identity view equals what inference sees. */
#ifndef MMF_DIRECT_AUGMENT_H
#define MMF_DIRECT_AUGMENT_H
#include <stdint.h>
#include "train/rng.h"

typedef struct mmf_image_aug {
    float crop_min_area, crop_max_area;   /* random resized crop: area share of the picture in [min, max], aspect
                                             in [3/4, 4/3]; above 1 the picture shrinks inside its repeated border */
    float shift;           /* crop centre moved by up to shift * S (may leave the picture: edges repeat) */
    float brightness, contrast, saturation;   /* factors drawn from [1 - x, 1 + x] */
    float hue;             /* chroma rotated by up to hue * 360 degrees */
    float grey_p;          /* probability of a greyscale view */
    float outline_p;       /* probability of dark outlines drawn along colour edges (line-art styles) */
    float posterize_p;     /* probability of 4 levels per channel (flat fills instead of shading) */
} mmf_image_aug;

/* The defaults the contrastive trainer uses (crop area 0.6 to 2.4, shift 0.08,
 * brightness / contrast / saturation 0.3, hue 0.04, greyscale 0.1, outlines 0.5,
 * posterize 0.25). */
mmf_image_aug mmf_image_aug_default(void);

/* One view of px (S x S x 3) into out [3, S, S]; a = NULL gives the identity view. */
void mmf_augment_image(const uint8_t *px, int S, const mmf_image_aug *a, mmf_rng *r, float *out);

/* A text view as token ids: [CLS] pieces [SEP], at most T tokens (the end is
 * cut before [SEP]). Pieces are token runs (a name, keywords) already encoded
 * without specials; pieces[0..n) are joined in order. Returns the length and
 * fills ids[0..T) / keep[0..T) (padding 0). */
int mmf_compose_tokens(const int32_t *const *pieces, const int *lens, int n, int32_t cls, int32_t sep, int T,
                       int32_t *ids, uint8_t *keep);
#endif
