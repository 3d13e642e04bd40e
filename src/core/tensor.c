#include "core/tensor.h"
#include "core/error.h"
#include <stdio.h>
#include <string.h>

mmf_tensor mmf_tensor_make(float *data, int ndim, const int64_t *shape) {
    mmf_tensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.ndim = ndim;
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        t.shape[d] = shape[d];
        t.stride[d] = s;
        s *= shape[d];
    }
    return t;
}
mmf_tensor mmf_tensor_1d(float *data, int64_t n0) { return mmf_tensor_make(data, 1, &n0); }
mmf_tensor mmf_tensor_2d(float *data, int64_t n0, int64_t n1) {
    int64_t s[2] = {n0, n1};
    return mmf_tensor_make(data, 2, s);
}
mmf_tensor mmf_tensor_3d(float *data, int64_t n0, int64_t n1, int64_t n2) {
    int64_t s[3] = {n0, n1, n2};
    return mmf_tensor_make(data, 3, s);
}
mmf_tensor mmf_tensor_4d(float *data, int64_t n0, int64_t n1, int64_t n2, int64_t n3) {
    int64_t s[4] = {n0, n1, n2, n3};
    return mmf_tensor_make(data, 4, s);
}

int64_t mmf_tensor_numel(const mmf_tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    return n;
}

int mmf_tensor_is_contiguous(const mmf_tensor *t) {
    int64_t s = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != s) return 0;
        s *= t->shape[d];
    }
    return 1;
}

float *mmf_tensor_ptr(const mmf_tensor *t, const int64_t *idx) {
    int64_t off = 0;
    for (int d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];
    return t->data + off;
}

const char *mmf_shape_str(int ndim, const int64_t *shape, char *buf, size_t cap) {
    size_t n = 0;
    n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "[");
    for (int d = 0; d < ndim; d++)
        n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, d ? ", %lld" : "%lld", (long long)shape[d]);
    snprintf(buf + n, n < cap ? cap - n : 0, "]");
    return buf;
}

mmf_status mmf_tensor_slice(const mmf_tensor *t, int dim, int64_t start, int64_t stop, mmf_tensor *out) {
    if (dim < 0 || dim >= t->ndim)
        return mmf_fail(MMF_ERR_SHAPE, "slice: dim %d out of range for a %d-d tensor", dim, t->ndim);
    if (start < 0 || stop < start || stop > t->shape[dim])
        return mmf_fail(MMF_ERR_SHAPE, "slice: [%lld, %lld) out of range for dim %d of size %lld",
                        (long long)start, (long long)stop, dim, (long long)t->shape[dim]);
    *out = *t;
    out->data = t->data + start * t->stride[dim];
    out->shape[dim] = stop - start;
    return MMF_OK;
}

mmf_status mmf_tensor_select(const mmf_tensor *t, int dim, int64_t index, mmf_tensor *out) {
    mmf_tensor s;
    mmf_status st = mmf_tensor_slice(t, dim, index, index + 1, &s);
    if (st) return st;
    for (int d = dim; d < t->ndim - 1; d++) {
        s.shape[d] = s.shape[d + 1];
        s.stride[d] = s.stride[d + 1];
    }
    s.ndim = t->ndim - 1;
    *out = s;
    return MMF_OK;
}

mmf_status mmf_tensor_transpose(const mmf_tensor *t, int d0, int d1, mmf_tensor *out) {
    if (d0 < 0 || d1 < 0 || d0 >= t->ndim || d1 >= t->ndim)
        return mmf_fail(MMF_ERR_SHAPE, "transpose: dims %d,%d out of range for a %d-d tensor", d0, d1, t->ndim);
    *out = *t;
    out->shape[d0] = t->shape[d1]; out->shape[d1] = t->shape[d0];
    out->stride[d0] = t->stride[d1]; out->stride[d1] = t->stride[d0];
    return MMF_OK;
}

mmf_status mmf_tensor_reshape(const mmf_tensor *t, int ndim, const int64_t *shape, mmf_tensor *out) {
    char a[128], b[128];
    if (ndim < 0 || ndim > MMF_MAX_DIMS) return mmf_fail(MMF_ERR_SHAPE, "reshape: %d dims (max %d)", ndim, MMF_MAX_DIMS);
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    if (n != mmf_tensor_numel(t))
        return mmf_fail(MMF_ERR_SHAPE, "reshape: %s has %lld elements, %s asks for %lld",
                        mmf_shape_str(t->ndim, t->shape, a, sizeof a), (long long)mmf_tensor_numel(t),
                        mmf_shape_str(ndim, shape, b, sizeof b), (long long)n);
    if (!mmf_tensor_is_contiguous(t))
        return mmf_fail(MMF_ERR_SHAPE, "reshape: tensor %s is not contiguous", mmf_shape_str(t->ndim, t->shape, a, sizeof a));
    *out = mmf_tensor_make(t->data, ndim, shape);
    return MMF_OK;
}

/* Recursive strided copy; the innermost dimension is a tight loop. */
static float *copy_rec(const mmf_tensor *t, int d, const float *src, float *dst) {
    if (d == t->ndim - 1) {
        int64_t n = t->shape[d], s = t->stride[d];
        if (s == 1) { memcpy(dst, src, (size_t)n * sizeof *dst); return dst + n; }
        for (int64_t i = 0; i < n; i++) dst[i] = src[i * s];
        return dst + n;
    }
    for (int64_t i = 0; i < t->shape[d]; i++) dst = copy_rec(t, d + 1, src + i * t->stride[d], dst);
    return dst;
}

void mmf_tensor_copy_to(const mmf_tensor *t, float *dst) {
    if (t->ndim == 0) { dst[0] = t->data[0]; return; }
    copy_rec(t, 0, t->data, dst);
}
