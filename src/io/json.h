/* JSON through cJSON (Debian's libcjson), with readers that name the file and
 * the field in every error. */
#ifndef MMF_IO_JSON_H
#define MMF_IO_JSON_H
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include "mmfuse.h"

#define MMF_JSON_MAX_BYTES (256u << 20)

/* Read and parse a whole JSON file (bounded at MMF_JSON_MAX_BYTES). */
mmf_status mmf_json_load(const char *path, cJSON **out);
/* A model folder's config file: dir_or_file/name when dir_or_file is a
 * folder, else dir_or_file itself; path (cap bytes) gets the file read, for
 * messages. */
mmf_status mmf_json_load_in(const char *dir_or_file, const char *name, char *path, size_t cap, cJSON **out);
/* Parse a buffer; `name` is used in the error message. */
mmf_status mmf_json_parse(const char *buf, size_t len, const char *name, cJSON **out);

/* Read a whole file into a NUL-terminated malloc'd buffer (bounded by max). */
mmf_status mmf_read_file(const char *path, size_t max, char **out, size_t *len);

/* Typed getters. `file` is for messages. Absent fields give the default
 * (the *_req forms fail instead); present fields of the wrong type fail. */
mmf_status mmf_json_int(const cJSON *obj, const char *key, int64_t def, int64_t lo, int64_t hi,
                        const char *file, int64_t *out);
mmf_status mmf_json_int_req(const cJSON *obj, const char *key, int64_t lo, int64_t hi,
                            const char *file, int64_t *out);
mmf_status mmf_json_num(const cJSON *obj, const char *key, double def, const char *file, double *out);
mmf_status mmf_json_bool(const cJSON *obj, const char *key, int def, const char *file, int *out);
/* Returns a pointer into the cJSON tree (valid while it lives), or def. */
mmf_status mmf_json_str(const cJSON *obj, const char *key, const char *def, const char *file, const char **out);

/* 1 if `s` (len bytes) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int mmf_utf8_valid(const char *s, size_t len);
#endif
