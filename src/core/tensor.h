/* Shapes in messages and the storage conversions (f16 / bf16 <-> f32) every
 * layer shares. Tensors themselves are the tape's variables (train/tape.h)
 * and plain arrays with shape comments in the forward kernels. */
#ifndef MMF_CORE_TENSOR_H
#define MMF_CORE_TENSOR_H
#include <stdint.h>
#include <stddef.h>
#include "mmfuse.h"

/* "[2, 3, 4]" into buf */
const char *mmf_shape_str(int ndim, const int64_t *shape, char *buf, size_t cap);

/* Storage conversion (little-endian halves). */
float mmf_f16_to_f32(uint16_t h);
float mmf_bf16_to_f32(uint16_t h);
uint16_t mmf_f32_to_f16(float f);
uint16_t mmf_f32_to_bf16(float f);
/* Convert `n` elements of dtype `dt` at `src` (may be unaligned) into floats. */
mmf_status mmf_convert_to_f32(mmf_dtype dt, const void *src, float *dst, size_t n);
#endif
