/* Reading embedding matrices and id vectors out of safetensors files for the
 * index, search, cluster and retrieval commands. */
#ifndef MMF_CLI_EMBFILE_H
#define MMF_CLI_EMBFILE_H
#include <stdint.h>
#include <stddef.h>
#include "mmfuse.h"

/* tensor NAME of FILE as float32 (n, d): a 2-D tensor, or a 1-D tensor as one
 * row. Prints the error (naming file and tensor) and returns 0 on failure. */
int cli_read_matrix(const char *cmd, const char *file, const char *tensor, float **data, size_t *n, int *d);
/* Integer ids (I64, I32, I16, I8, U8, U16, U32, U64 within int64) of length n.
 * `tensor` NULL or absent from the file with `optional`: *ids = NULL, returns 1. */
int cli_read_ids(const char *cmd, const char *file, const char *tensor, size_t n, int optional, int64_t **ids);
#endif
