/* libFuzzer harness for the safetensors reader: any bytes go to
 * mmf_st_open_memory; for an accepted file, every tensor's bytes and every
 * metadata string are read (so ASan sees any pointer outside the input) and
 * the reader's promises are checked (a broken one traps, which libFuzzer
 * reports as a crash). Also replayed by tests/test_fuzz_regress.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "mmfuse.h"
#include "io/json.h"
#include "fuzz_entry.h"

#define PROMISE(c) do { if (!(c)) __builtin_trap(); } while (0)

int mmf_fuzz_safetensors(const uint8_t *data, size_t size) {
    mmf_safetensors *st = NULL;
    mmf_status s = mmf_st_open_memory(data, size, "fuzz.safetensors", &st);
    if (s != MMF_OK) {
        PROMISE(st == NULL);
        PROMISE(strstr(mmf_last_error(), "fuzz.safetensors") != NULL);   /* every error names the file */
        return 0;
    }
    const unsigned char *lo = data, *hi = data + size;
    volatile unsigned sum = 0;
    size_t n = mmf_st_count(st), covered = 0;
    for (size_t i = 0; i < n; i++) {
        const mmf_tensor_info *t = mmf_st_at(st, i);
        PROMISE(t && t->name && t->name[0]);
        PROMISE(t->ndim >= 0 && t->ndim <= MMF_MAX_DIMS);
        int64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) { PROMISE(t->shape[d] >= 0); numel *= t->shape[d]; }
        PROMISE(numel == t->numel);
        PROMISE(t->nbytes == (size_t)t->numel * mmf_dtype_size(t->dtype));
        const unsigned char *p = t->data;
        PROMISE(p >= lo && p <= hi && t->nbytes <= (size_t)(hi - p));
        for (size_t b = 0; b < t->nbytes; b++) sum += p[b];
        covered += t->nbytes;
        PROMISE(mmf_st_find(st, t->name) == t);
        size_t len = strlen(t->name);
        PROMISE(mmf_utf8_valid(t->name, len));
        for (size_t b = 0; b < len; b++) sum += (unsigned char)t->name[b];
        if (t->dtype == MMF_DT_F32 || t->dtype == MMF_DT_F16 || t->dtype == MMF_DT_BF16 || t->dtype == MMF_DT_F64) {
            float *f = malloc(t->numel ? (size_t)t->numel * sizeof(float) : 1);
            if (f) {
                PROMISE(mmf_st_read_f32(st, t->name, f, (size_t)t->numel) == MMF_OK);
                for (int64_t k = 0; k < t->numel; k++) sum += (unsigned)(f[k] == f[k]);
                free(f);
            }
        }
    }
    PROMISE(covered <= size);
    for (size_t i = 0; i < mmf_st_metadata_count(st); i++) {
        const char *k, *v;
        mmf_st_metadata_at(st, i, &k, &v);
        PROMISE(k && v && mmf_utf8_valid(k, strlen(k)) && mmf_utf8_valid(v, strlen(v)));
        sum += (unsigned)strlen(k) + (unsigned)strlen(v);
        PROMISE(mmf_st_metadata(st, k) != NULL);
    }
    mmf_st_close(st);
    (void)sum;
    return 0;
}

#ifndef MMF_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return mmf_fuzz_safetensors(data, size); }
#endif
