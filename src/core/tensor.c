#include "core/tensor.h"
#include "core/error.h"
#include <stdio.h>
#include <string.h>

const char *mmf_shape_str(int ndim, const int64_t *shape, char *buf, size_t cap) {
    size_t n = 0;
    n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "[");
    for (int d = 0; d < ndim; d++)
        n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, d ? ", %lld" : "%lld", (long long)shape[d]);
    snprintf(buf + n, n < cap ? cap - n : 0, "]");
    return buf;
}
