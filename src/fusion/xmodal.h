/* Attention maps of the xmodal operator (op_xmodal.c), read by
 * mmf_xmodal_attention (src/direct/xmodal_maps.c). */
#ifndef MMF_FUSION_XMODAL_H
#define MMF_FUSION_XMODAL_H
#include <stdint.h>

#define FZ_XMODAL_WORDS 16   /* word token slots */
#define FZ_XMODAL_PATCHES 16 /* 4 x 4 grid, row-major */

/* Where one xmodal forward (fz_head_forward_capture) writes, for its batch,
 * maps [B, 16 words, 16 patches] (last layer's word -> patch attention
 * averaged over heads; zeros for empty slots) and words [B, 16] (vocabulary
 * index of each word token, -1 for an empty slot). */
typedef struct fz_xmodal_maps {
    float *maps;
    int32_t *words;
} fz_xmodal_maps;
#endif
