/* The fuzz targets as plain functions, so tests/test_fuzz_regress.c can replay
 * the regression corpus through them in the normal (and the ASan) test run. */
#ifndef MMF_FUZZ_ENTRY_H
#define MMF_FUZZ_ENTRY_H
#include <stddef.h>
#include <stdint.h>
int mmf_fuzz_safetensors(const uint8_t *data, size_t size);
int mmf_fuzz_config(const uint8_t *data, size_t size);
int mmf_fuzz_index(const uint8_t *data, size_t size);
int mmf_fuzz_index_file(const uint8_t *data, size_t size);
#endif
