#ifndef MMF_IO_SAFETENSORS_INTERNAL_H
#define MMF_IO_SAFETENSORS_INTERNAL_H
#include "mmfuse.h"
#include <stdint.h>

#define MMF_ST_MAX_HEADER (100u * 1000u * 1000u)   /* 100 MB, as the reference */

typedef struct mmf_st_entry {
    mmf_tensor_info info;
    uint64_t begin, end;     /* offsets in the data section */
} mmf_st_entry;

struct mmf_safetensors {
    char *path;
    void *map;
    size_t map_len;
    mmf_st_entry *entries;   /* sorted by offset (merged across shards) */
    size_t n;
    size_t *by_name;         /* entry indices sorted by name */
    char **meta_keys, **meta_vals;
    size_t n_meta;
    mmf_safetensors **shards; /* for a sharded checkpoint: the opened shards */
    size_t n_shards;
};

int mmf_dtype_parse(const char *s, mmf_dtype *out);
mmf_status mmf_st_build_index(mmf_safetensors *st, const char *file);
mmf_status mmf_st_open_sharded(const char *index_path, mmf_safetensors **out);
#endif
