/* float32 tensors with shape and strides (in elements). A tensor never owns
 * its data: storage comes from an arena, a model's parameter block or a
 * mapped file, so views and slices are free. */
#ifndef MMF_CORE_TENSOR_H
#define MMF_CORE_TENSOR_H
#include <stdint.h>
#include <stddef.h>
#include "mmfuse.h"

typedef struct mmf_tensor {
    float *data;
    int ndim;
    int64_t shape[MMF_MAX_DIMS];
    int64_t stride[MMF_MAX_DIMS];
} mmf_tensor;

/* A contiguous (row-major) tensor over `data`. */
mmf_tensor mmf_tensor_make(float *data, int ndim, const int64_t *shape);
mmf_tensor mmf_tensor_1d(float *data, int64_t n0);
mmf_tensor mmf_tensor_2d(float *data, int64_t n0, int64_t n1);
mmf_tensor mmf_tensor_3d(float *data, int64_t n0, int64_t n1, int64_t n2);
mmf_tensor mmf_tensor_4d(float *data, int64_t n0, int64_t n1, int64_t n2, int64_t n3);

int64_t mmf_tensor_numel(const mmf_tensor *t);
int mmf_tensor_is_contiguous(const mmf_tensor *t);
/* Element pointer at a full index (idx has ndim entries). */
float *mmf_tensor_ptr(const mmf_tensor *t, const int64_t *idx);

/* Views (no copy). Return MMF_ERR_SHAPE with a message on a bad request. */
mmf_status mmf_tensor_slice(const mmf_tensor *t, int dim, int64_t start, int64_t stop, mmf_tensor *out);
mmf_status mmf_tensor_select(const mmf_tensor *t, int dim, int64_t index, mmf_tensor *out); /* drops dim */
mmf_status mmf_tensor_transpose(const mmf_tensor *t, int d0, int d1, mmf_tensor *out);
/* Reshape needs a contiguous tensor and the same element count. */
mmf_status mmf_tensor_reshape(const mmf_tensor *t, int ndim, const int64_t *shape, mmf_tensor *out);
/* Copy any strided tensor into contiguous `dst` of the same numel. */
void mmf_tensor_copy_to(const mmf_tensor *t, float *dst);
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
