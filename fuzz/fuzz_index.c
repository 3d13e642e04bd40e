/* libFuzzer harness for sharded checkpoints: the input is the
 * model.safetensors.index.json of a folder that holds three fixed shards
 * (a.safetensors: x, y; b.safetensors: z; bad.safetensors: malformed), opened
 * through mmf_st_open. Every tensor of an accepted checkpoint is read.
 * Also replayed by tests/test_fuzz_regress.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "mmfuse.h"
#include "fuzz_entry.h"

#define PROMISE(c) do { if (!(c)) __builtin_trap(); } while (0)

static char dir[256], index_path[300];

static void cleanup(void) {
    static const char *files[] = {"a.safetensors", "b.safetensors", "bad.safetensors", "model.safetensors.index.json"};
    char p[400];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

static int setup(void) {
    if (dir[0]) return 1;
    /* the index is rewritten on every run: prefer memory (/dev/shm) to disk,
     * which is ~30x slower here */
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "/dev/shm/mmf_fuzz_index_XXXXXX");
    if (!mkdtemp(dir)) {
        snprintf(dir, sizeof dir, "%s/mmf_fuzz_index_XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(dir)) { dir[0] = 0; return 0; }
    }
    atexit(cleanup);
    char p[400];
    float v[4] = {1, 2, 3, 4};
    int64_t s2[1] = {2}, s4[2] = {2, 2};
    mmf_st_writer *w = mmf_st_writer_new();
    mmf_st_writer_add(w, "x", MMF_DT_F32, 1, s2, v);
    mmf_st_writer_add(w, "y", MMF_DT_F16, 1, s2, v);
    snprintf(p, sizeof p, "%s/a.safetensors", dir);
    mmf_st_writer_finish(w, p);
    mmf_st_writer_free(w);
    w = mmf_st_writer_new();
    mmf_st_writer_add(w, "z", MMF_DT_F32, 2, s4, v);
    snprintf(p, sizeof p, "%s/b.safetensors", dir);
    mmf_st_writer_finish(w, p);
    mmf_st_writer_free(w);
    snprintf(p, sizeof p, "%s/bad.safetensors", dir);
    mmf_write_file_atomic(p, "\x02\0\0\0\0\0\0\0[]", 10);
    snprintf(index_path, sizeof index_path, "%s/model.safetensors.index.json", dir);
    return 1;
}

int mmf_fuzz_index(const uint8_t *data, size_t size) {
    if (!setup()) return 0;
    FILE *f = fopen(index_path, "wb");
    if (!f) return 0;
    if (size) fwrite(data, 1, size, f);
    fclose(f);
    mmf_safetensors *st = NULL;
    if (mmf_st_open(index_path, &st) != MMF_OK) {
        PROMISE(st == NULL);
        PROMISE(strstr(mmf_last_error(), "model.safetensors.index.json") != NULL);
        return 0;
    }
    volatile unsigned sum = 0;
    PROMISE(mmf_st_count(st) <= 3);
    for (size_t i = 0; i < mmf_st_count(st); i++) {
        const mmf_tensor_info *t = mmf_st_at(st, i);
        PROMISE(t && mmf_st_find(st, t->name) == t);
        const unsigned char *p = t->data;
        for (size_t b = 0; b < t->nbytes; b++) sum += p[b];
        float out[4];
        PROMISE(t->numel <= 4);
        PROMISE(mmf_st_read_f32(st, t->name, out, (size_t)t->numel) == MMF_OK);
    }
    mmf_st_close(st);
    (void)sum;
    return 0;
}

#ifndef MMF_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return mmf_fuzz_index(data, size); }
#endif
