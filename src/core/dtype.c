/* Tensor element types: names and sizes (mmf_dtype, mmfuse.h). In core, as
 * the conversions (core/half.c) name them in their errors; io's safetensors
 * reader parses them. */
#include "mmfuse.h"
#include <stddef.h>

static const char *const names[MMF_DT_COUNT] = {
    "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL", "U16", "U32", "U64"};
static const size_t dtype_sizes[MMF_DT_COUNT] = {4, 2, 2, 8, 8, 4, 2, 1, 1, 1, 2, 4, 8};

const char *mmf_dtype_name(mmf_dtype dt) { return (unsigned)dt < MMF_DT_COUNT ? names[dt] : "?"; }
size_t mmf_dtype_size(mmf_dtype dt) { return (unsigned)dt < MMF_DT_COUNT ? dtype_sizes[dt] : 0; }
