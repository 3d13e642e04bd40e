#include "cli_embfile.h"
#include "cli.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* integer tensor `name` of st with n entries ([n] or [n, 1]) */
static int read_ints(const char *cmd, mmf_safetensors *st, const char *file, const char *name, size_t n, int64_t **out) {
    const mmf_tensor_info *t = mmf_st_find(st, name);
    if (!t) { fprintf(stderr, "mmfuse %s: %s has no tensor \"%s\"\n", cmd, file, name); return 0; }
    int64_t len = t->ndim == 1 ? t->shape[0] : t->ndim == 2 && t->shape[1] == 1 ? t->shape[0] : -1;
    if (len != (int64_t)n) {
        fprintf(stderr, "mmfuse %s: %s: tensor \"%s\" must be [%zu] (one value per row), it is %d-D with %lld entries\n",
                cmd, file, name, n, t->ndim, (long long)t->numel);
        return 0;
    }
    int64_t *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) { fprintf(stderr, "mmfuse %s: out of memory\n", cmd); return 0; }
    size_t es = mmf_dtype_size(t->dtype);
    for (size_t i = 0; i < n; i++)
        if (!read_int(t->dtype, (const unsigned char *)t->data + i * es, &v[i])) {
            fprintf(stderr, "mmfuse %s: %s: tensor \"%s\" has dtype %s, expected an integer type\n", cmd, file, name, mmf_dtype_name(t->dtype));
            free(v);
            return 0;
        }
    *out = v;
    return 1;
}

static int load_embfile(const char *cmd, const char *file, const char *tensor, const char *ids_name, cli_emb *e) {
    mmf_embfile *f;
    mmf_status s = mmf_embfile_open(file, &f);
    if (s) { cli_fail(cmd, s, "cannot read the embedding file"); return 0; }
    int nm = mmf_embfile_n_modalities(f), m = -1;
    if (tensor) m = mmf_embfile_find(f, tensor);
    else if (nm == 1) m = 0;
    if (m < 0) {
        fprintf(stderr, "mmfuse %s: %s: %s; its modalities are:", cmd, file,
                tensor ? "no such modality" : "several modalities, choose one with --tensor");
        for (int i = 0; i < nm; i++) fprintf(stderr, " %s", mmf_embfile_modality(f, i));
        fputc('\n', stderr);
        mmf_embfile_close(f);
        return 0;
    }
    size_t n = (size_t)mmf_embfile_rows(f);
    int d = (int)mmf_embfile_dim(f, m);
    const float *x = mmf_embfile_data(f, m);
    const uint8_t *mask = mmf_embfile_mask(f);
    const int64_t *fid = mmf_embfile_ids(f);
    if (ids_name && strcmp(ids_name, "none") && strcmp(ids_name, "ids")) {
        fprintf(stderr, "mmfuse %s: %s is an embedding file: its ids are the \"ids\" tensor (or --ids none)\n", cmd, file);
        mmf_embfile_close(f);
        return 0;
    }
    if (ids_name && !strcmp(ids_name, "none")) fid = NULL;
    e->x = malloc((n ? n : 1) * (size_t)d * sizeof *e->x);
    e->ids = malloc((n ? n : 1) * sizeof *e->ids);
    e->rows = malloc((n ? n : 1) * sizeof *e->rows);
    if (!e->x || !e->ids || !e->rows) { mmf_embfile_close(f); fprintf(stderr, "mmfuse %s: out of memory\n", cmd); return 0; }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (mask && !mask[i * (size_t)nm + (size_t)m]) continue;   /* modality absent in this sample */
        memcpy(e->x + k * (size_t)d, x + i * (size_t)d, (size_t)d * sizeof(float));
        e->ids[k] = fid ? fid[i] : (int64_t)i;
        e->rows[k] = i;
        k++;
    }
    if (k < n) fprintf(stderr, "mmfuse %s: %s: %zu of %zu samples lack \"%s\" and are left out\n", cmd, file, n - k, n, mmf_embfile_modality(f, m));
    e->n = k; e->d = d; e->n_file = n; e->is_embfile = 1;
    snprintf(e->tensor, sizeof e->tensor, "%s", mmf_embfile_modality(f, m));
    mmf_embfile_close(f);
    return 1;
}

int cli_load_emb(const char *cmd, const char *file, const char *tensor, const char *ids_name, cli_emb *e) {
    memset(e, 0, sizeof *e);
    snprintf(e->file, sizeof e->file, "%s", file);
    mmf_safetensors *st;
    mmf_status s = mmf_st_open(file, &st);
    if (s) { cli_fail(cmd, s, "cannot read the embedding file"); return 0; }
    if (mmf_st_metadata(st, "modalities")) {
        mmf_st_close(st);
        int ok = load_embfile(cmd, file, tensor, ids_name, e);
        if (!ok) cli_emb_free(e);
        return ok;
    }
    if (!tensor) tensor = "embeddings";
    const mmf_tensor_info *t = mmf_st_find(st, tensor);
    if (!t) {
        fprintf(stderr, "mmfuse %s: %s has no tensor \"%s\" (choose one with --tensor; it has:", cmd, file, tensor);
        for (size_t i = 0; i < mmf_st_count(st) && i < 16; i++) fprintf(stderr, " %s", mmf_st_at(st, i)->name);
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
    snprintf(e->tensor, sizeof e->tensor, "%s", tensor);
    e->x = malloc((rows ? rows : 1) * (size_t)cols * sizeof(float));
    e->rows = malloc((rows ? rows : 1) * sizeof *e->rows);
    if (!e->x || !e->rows) { fprintf(stderr, "mmfuse %s: out of memory for %s\n", cmd, file); mmf_st_close(st); cli_emb_free(e); return 0; }
    s = mmf_st_read_f32(st, tensor, e->x, rows * (size_t)cols);
    if (s) { cli_fail(cmd, s, "cannot read the embeddings"); mmf_st_close(st); cli_emb_free(e); return 0; }
    for (size_t i = 0; i < rows; i++) e->rows[i] = i;
    e->n = e->n_file = rows;
    e->d = (int)cols;
    const char *want = ids_name ? ids_name : "ids";
    if (!(ids_name && !strcmp(ids_name, "none")) && (ids_name || mmf_st_find(st, want))) {
        if (!read_ints(cmd, st, file, want, rows, &e->ids)) { mmf_st_close(st); cli_emb_free(e); return 0; }
    } else {
        e->ids = malloc((rows ? rows : 1) * sizeof *e->ids);
        if (!e->ids) { mmf_st_close(st); cli_emb_free(e); return 0; }
        for (size_t i = 0; i < rows; i++) e->ids[i] = (int64_t)i;
    }
    mmf_st_close(st);
    return 1;
}

int cli_load_labels(const char *cmd, const cli_emb *e, const char *name, int64_t **out) {
    *out = NULL;
    int64_t *all = NULL;
    if (e->is_embfile && (!name || !strcmp(name, "labels"))) {
        mmf_embfile *f;
        mmf_status s = mmf_embfile_open(e->file, &f);
        if (s) { cli_fail(cmd, s, "cannot read the embedding file"); return 0; }
        const int64_t *l = mmf_embfile_labels(f);
        if (!l) { fprintf(stderr, "mmfuse %s: %s has no class labels\n", cmd, e->file); mmf_embfile_close(f); return 0; }
        all = malloc((e->n_file ? e->n_file : 1) * sizeof *all);
        if (all) memcpy(all, l, e->n_file * sizeof *all);
        mmf_embfile_close(f);
    } else {
        mmf_safetensors *st;
        mmf_status s = mmf_st_open(e->file, &st);
        if (s) { cli_fail(cmd, s, "cannot read the embedding file"); return 0; }
        int ok = read_ints(cmd, st, e->file, name ? name : "labels", e->n_file, &all);
        mmf_st_close(st);
        if (!ok) return 0;
    }
    if (!all) return 0;
    for (size_t i = 0; i < e->n; i++) all[i] = all[e->rows[i]];   /* rows[] ascends: in place is safe */
    *out = all;
    return 1;
}

void cli_emb_free(cli_emb *e) {
    free(e->x); free(e->ids); free(e->rows);
    e->x = NULL; e->ids = NULL; e->rows = NULL;
}
