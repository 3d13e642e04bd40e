#include "cli_embfile.h"
#include "cli.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_read_matrix(const char *cmd, const char *file, const char *tensor, float **data, size_t *n, int *d) {
    *data = NULL;
    mmf_safetensors *st;
    mmf_status s = mmf_st_open(file, &st);
    if (s) { cli_fail(cmd, s, "cannot read the embedding file"); return 0; }
    const mmf_tensor_info *t = mmf_st_find(st, tensor);
    if (!t) {
        fprintf(stderr, "mmfuse %s: %s has no tensor \"%s\" (use --tensor; it has:", cmd, file, tensor);
        for (size_t i = 0; i < mmf_st_count(st) && i < 12; i++) fprintf(stderr, " %s", mmf_st_at(st, i)->name);
        fprintf(stderr, ")\n");
        mmf_st_close(st);
        return 0;
    }
    if (t->ndim != 2 && t->ndim != 1) {
        fprintf(stderr, "mmfuse %s: %s: tensor \"%s\" has %d dimensions, expected [N, D] (or [D] for one vector)\n", cmd, file, tensor, t->ndim);
        mmf_st_close(st);
        return 0;
    }
    size_t rows = t->ndim == 2 ? (size_t)t->shape[0] : 1;
    int64_t cols = t->ndim == 2 ? t->shape[1] : t->shape[0];
    if (cols < 1 || cols > 65536) {
        fprintf(stderr, "mmfuse %s: %s: tensor \"%s\" has dimension %lld, expected 1..65536\n", cmd, file, tensor, (long long)cols);
        mmf_st_close(st);
        return 0;
    }
    float *buf = malloc((rows ? rows : 1) * (size_t)cols * sizeof(float));
    if (!buf) { fprintf(stderr, "mmfuse %s: out of memory for %s\n", cmd, file); mmf_st_close(st); return 0; }
    s = mmf_st_read_f32(st, tensor, buf, rows * (size_t)cols);
    mmf_st_close(st);
    if (s) { free(buf); cli_fail(cmd, s, "cannot read the embeddings"); return 0; }
    *data = buf; *n = rows; *d = (int)cols;
    return 1;
}

static int read_int(mmf_dtype dt, const unsigned char *p, int64_t *out) {
    switch (dt) {
    case MMF_DT_I64: { int64_t v; memcpy(&v, p, 8); *out = v; return 1; }
    case MMF_DT_I32: { int32_t v; memcpy(&v, p, 4); *out = v; return 1; }
    case MMF_DT_I16: { int16_t v; memcpy(&v, p, 2); *out = v; return 1; }
    case MMF_DT_I8: { *out = (int8_t)p[0]; return 1; }
    case MMF_DT_U8: { *out = p[0]; return 1; }
    case MMF_DT_U16: { uint16_t v; memcpy(&v, p, 2); *out = v; return 1; }
    case MMF_DT_U32: { uint32_t v; memcpy(&v, p, 4); *out = v; return 1; }
    case MMF_DT_U64: { uint64_t v; memcpy(&v, p, 8); if (v > INT64_MAX) return 0; *out = (int64_t)v; return 1; }
    default: return 0;
    }
}

int cli_read_ids(const char *cmd, const char *file, const char *tensor, size_t n, int optional, int64_t **ids) {
    *ids = NULL;
    if (!tensor) return 1;
    mmf_safetensors *st;
    mmf_status s = mmf_st_open(file, &st);
    if (s) { cli_fail(cmd, s, "cannot read the embedding file"); return 0; }
    const mmf_tensor_info *t = mmf_st_find(st, tensor);
    if (!t) {
        mmf_st_close(st);
        if (optional) return 1;
        fprintf(stderr, "mmfuse %s: %s has no id tensor \"%s\"\n", cmd, file, tensor);
        return 0;
    }
    int64_t len = t->ndim == 1 ? t->shape[0] : t->ndim == 2 && t->shape[1] == 1 ? t->shape[0] : -1;
    if (len != (int64_t)n) {
        fprintf(stderr, "mmfuse %s: %s: id tensor \"%s\" must be [%zu] (one id per vector), it is %d-D with %lld entries\n",
                cmd, file, tensor, n, t->ndim, (long long)t->numel);
        mmf_st_close(st);
        return 0;
    }
    int64_t *out = malloc((n ? n : 1) * sizeof *out);
    size_t es = mmf_dtype_size(t->dtype);
    for (size_t i = 0; out && i < n; i++)
        if (!read_int(t->dtype, (const unsigned char *)t->data + i * es, &out[i])) {
            fprintf(stderr, "mmfuse %s: %s: id tensor \"%s\" has dtype %s, expected an integer type\n", cmd, file, tensor, mmf_dtype_name(t->dtype));
            free(out);
            mmf_st_close(st);
            return 0;
        }
    mmf_st_close(st);
    if (!out) { fprintf(stderr, "mmfuse %s: out of memory\n", cmd); return 0; }
    *ids = out;
    return 1;
}
