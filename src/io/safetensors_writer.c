/* safetensors writer. The header is padded with spaces to a multiple of 8
 * bytes and the tensors are laid out by element size, largest first (8-byte
 * dtypes, then 4, 2, 1; in the order added within each size, like the
 * reference writer): every tensor then starts at a multiple of its element
 * size, so a mapped F32 tensor is 4-byte aligned and usable in place. The file
 * appears only once completely written and synced. */
#include "core/error.h"
#include "core/grow.h"
#include "io/atomic_file.h"
#include "io/json.h"
#include "io/safetensors_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct st_wtensor {
    char *name;
    mmf_dtype dtype;
    int ndim;
    int64_t shape[MMF_MAX_DIMS];
    void *data;          /* NULL for a reserved tensor (mmf_st_writer_reserve) */
    size_t nbytes;
} st_wtensor;

struct mmf_st_writer {
    st_wtensor *t;
    size_t n, cap;
    cJSON *meta;
};

mmf_st_writer *mmf_st_writer_new(void) {
    mmf_st_writer *w = calloc(1, sizeof *w);
    if (!w) mmf_fail(MMF_ERR_NOMEM, "safetensors writer: out of memory");
    return w;
}

void mmf_st_writer_free(mmf_st_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) { free(w->t[i].name); free(w->t[i].data); }
    free(w->t);
    cJSON_Delete(w->meta);
    free(w);
}

static mmf_status add_tensor(mmf_st_writer *w, const char *name, mmf_dtype dtype,
                             int ndim, const int64_t *shape, const void *data, int reserve) {
    if (!w) return mmf_fail(MMF_ERR_ARG, "safetensors writer: NULL writer");
    if (!name || !name[0] || strcmp(name, "__metadata__") == 0 || !mmf_utf8_valid(name, strlen(name)))
        return mmf_fail(MMF_ERR_ARG, "safetensors writer: invalid tensor name");
    if ((unsigned)dtype >= MMF_DT_COUNT || ndim < 0 || ndim > MMF_MAX_DIMS)
        return mmf_fail(MMF_ERR_ARG, "safetensors writer: tensor \"%s\": bad dtype or %d dims", name, ndim);
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return mmf_fail(MMF_ERR_ARG, "safetensors writer: tensor \"%s\" added twice", name);
    if (ndim > 0 && !shape) return mmf_fail(MMF_ERR_ARG, "safetensors writer: tensor \"%s\": NULL shape", name);
    size_t numel = 1, nbytes;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || !mmf_mul_size(numel, (size_t)shape[d], &numel))
            return mmf_fail(MMF_ERR_ARG, "safetensors writer: tensor \"%s\": bad shape", name);
    }
    if (!mmf_mul_size(numel, mmf_dtype_size(dtype), &nbytes))
        return mmf_fail(MMF_ERR_ARG, "safetensors writer: tensor \"%s\": too large", name);
    if (nbytes && !data && !reserve) return mmf_fail(MMF_ERR_ARG, "safetensors writer: tensor \"%s\": NULL data", name);
    if (mmf_grow(&w->t, &w->cap, w->n, sizeof *w->t, 16)) return mmf_fail(MMF_ERR_NOMEM, "safetensors writer: out of memory");
    st_wtensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    t->data = reserve ? NULL : malloc(nbytes ? nbytes : 1);
    if (!t->name || (!reserve && !t->data)) { free(t->name); free(t->data); return mmf_fail(MMF_ERR_NOMEM, "safetensors writer: out of memory for \"%s\"", name); }
    if (nbytes && !reserve) memcpy(t->data, data, nbytes);
    t->dtype = dtype;
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    t->nbytes = nbytes;
    w->n++;
    return MMF_OK;
}

mmf_status mmf_st_writer_add(mmf_st_writer *w, const char *name, mmf_dtype dtype,
                             int ndim, const int64_t *shape, const void *data) {
    return add_tensor(w, name, dtype, ndim, shape, data, 0);
}

mmf_status mmf_st_writer_reserve(mmf_st_writer *w, const char *name, mmf_dtype dtype, int ndim, const int64_t *shape) {
    return add_tensor(w, name, dtype, ndim, shape, NULL, 1);
}

mmf_status mmf_st_writer_meta(mmf_st_writer *w, const char *key, const char *value) {
    if (!w) return mmf_fail(MMF_ERR_ARG, "safetensors writer: NULL writer");
    if (!key || !value || !mmf_utf8_valid(key, strlen(key)) || !mmf_utf8_valid(value, strlen(value)))
        return mmf_fail(MMF_ERR_ARG, "safetensors writer: metadata key and value must be UTF-8 strings");
    if (!w->meta && !(w->meta = cJSON_CreateObject())) return mmf_fail(MMF_ERR_NOMEM, "safetensors writer: out of memory");
    cJSON_DeleteItemFromObjectCaseSensitive(w->meta, key);
    if (!cJSON_AddStringToObject(w->meta, key, value)) return mmf_fail(MMF_ERR_NOMEM, "safetensors writer: out of memory");
    return MMF_OK;
}

/* order[i]: index of the i-th tensor in file order */
static size_t *file_order(const mmf_st_writer *w) {
    size_t *order = malloc((w->n ? w->n : 1) * sizeof *order), k = 0;
    if (!order) return NULL;
    for (size_t sz = 8; sz >= 1; sz /= 2)
        for (size_t i = 0; i < w->n; i++)
            if (mmf_dtype_size(w->t[i].dtype) == sz) order[k++] = i;
    return order;
}

/* A file with reserved tensors can only be laid out, never written whole. */
static mmf_status check_complete(const mmf_st_writer *w, const char *what) {
    for (size_t i = 0; i < w->n; i++)
        if (!w->t[i].data)
            return mmf_fail(MMF_ERR_ARG, "%s: tensor \"%s\" is reserved: its bytes are the caller's to write (mmf_st_writer_layout)", what, w->t[i].name);
    return MMF_OK;
}

static char *build_header(const mmf_st_writer *w, const size_t *order, size_t *hlen) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    if (w->meta) cJSON_AddItemToObject(root, "__metadata__", cJSON_Duplicate(w->meta, 1));
    size_t off = 0;
    for (size_t i = 0; i < w->n; i++) {
        const st_wtensor *t = &w->t[order[i]];
        cJSON *e = cJSON_CreateObject(), *shape = cJSON_CreateArray(), *offs = cJSON_CreateArray();
        cJSON_AddStringToObject(e, "dtype", mmf_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        cJSON_AddItemToObject(e, "shape", shape);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + t->nbytes)));
        cJSON_AddItemToObject(e, "data_offsets", offs);
        cJSON_AddItemToObject(root, t->name, e);
        off += t->nbytes;
    }
    char *js = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!js) return NULL;
    size_t n = strlen(js), padded = (n + 7) & ~(size_t)7;
    char *h = realloc(js, padded + 1);
    if (!h) { free(js); return NULL; }
    memset(h + n, ' ', padded - n);
    h[padded] = 0;
    *hlen = padded;
    return h;
}

mmf_status mmf_st_writer_bytes(mmf_st_writer *w, void **bytes, size_t *len) {
    *bytes = NULL;
    *len = 0;
    if (!w) return mmf_fail(MMF_ERR_ARG, "safetensors writer: NULL writer");
    mmf_status cs = check_complete(w, "safetensors writer");
    if (cs) return cs;
    size_t hlen, total;
    size_t *order = file_order(w);
    char *hdr = order ? build_header(w, order, &hlen) : NULL;
    if (!hdr) { free(order); return mmf_fail(MMF_ERR_NOMEM, "safetensors writer: cannot build the header"); }
    total = 8 + hlen;
    for (size_t i = 0; i < w->n; i++) total += w->t[i].nbytes;
    unsigned char *b = malloc(total);
    if (!b) { free(hdr); free(order); return mmf_fail(MMF_ERR_NOMEM, "safetensors writer: out of memory (%zu bytes)", total); }
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(b + 8, hdr, hlen);
    size_t off = 8 + hlen;
    for (size_t i = 0; i < w->n; i++) {
        if (w->t[order[i]].nbytes) memcpy(b + off, w->t[order[i]].data, w->t[order[i]].nbytes);
        off += w->t[order[i]].nbytes;
    }
    free(hdr);
    free(order);
    *bytes = b;
    *len = total;
    return MMF_OK;
}

mmf_status mmf_st_writer_finish(mmf_st_writer *w, const char *path) {
    if (!w || !path) return mmf_fail(MMF_ERR_ARG, "safetensors writer: NULL writer or path");
    mmf_status cs = check_complete(w, path);
    if (cs) return cs;
    size_t hlen;
    size_t *order = file_order(w);
    char *hdr = order ? build_header(w, order, &hlen) : NULL;
    if (!hdr) free(order);
    if (!hdr) return mmf_fail(MMF_ERR_NOMEM, "%s: cannot build the safetensors header", path);
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    mmf_atomic_file *f;
    mmf_status s = mmf_atomic_open(path, &f);
    if (!s) s = mmf_atomic_write(f, len8, 8);
    if (!s) s = mmf_atomic_write(f, hdr, hlen);
    for (size_t i = 0; !s && i < w->n; i++) s = mmf_atomic_write(f, w->t[order[i]].data, w->t[order[i]].nbytes);
    free(hdr);
    free(order);
    if (s) { if (f) mmf_atomic_abort(f); return s; }
    return mmf_atomic_commit(f);
}

mmf_status mmf_st_writer_layout(mmf_st_writer *w, void **header, size_t *header_len, uint64_t *offsets, uint64_t *total) {
    *header = NULL;
    *header_len = 0;
    if (!w) return mmf_fail(MMF_ERR_ARG, "safetensors writer: NULL writer");
    size_t hlen;
    size_t *order = file_order(w);
    char *hdr = order ? build_header(w, order, &hlen) : NULL;
    unsigned char *b = hdr ? malloc(8 + hlen) : NULL;
    if (!b) { free(hdr); free(order); return mmf_fail(MMF_ERR_NOMEM, "safetensors writer: cannot build the header"); }
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(b + 8, hdr, hlen);
    uint64_t off = 8 + (uint64_t)hlen;
    for (size_t i = 0; i < w->n; i++) {
        if (offsets) offsets[order[i]] = off;
        off += w->t[order[i]].nbytes;
    }
    if (total) *total = off;
    free(hdr);
    free(order);
    *header = b;
    *header_len = 8 + hlen;
    return MMF_OK;
}

size_t mmf_st_writer_count(const mmf_st_writer *w) { return w ? w->n : 0; }

const char *mmf_st_writer_name(const mmf_st_writer *w, size_t i) { return w && i < w->n ? w->t[i].name : NULL; }

const void *mmf_st_writer_data(const mmf_st_writer *w, size_t i, size_t *nbytes) {
    if (!w || i >= w->n) { if (nbytes) *nbytes = 0; return NULL; }
    if (nbytes) *nbytes = w->t[i].nbytes;
    return w->t[i].data;
}
