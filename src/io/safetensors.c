/* safetensors reader: every byte of the file is hostile until validated.
 *
 * Layout: u64 little-endian header length N, N bytes of UTF-8 JSON, data.
 * The header maps tensor names to {dtype, shape, data_offsets: [begin, end]}
 * relative to the data section, plus an optional "__metadata__" object of
 * string values. Like the reference implementation we require the tensors to
 * tile the data section exactly: sorted by offset, no overlap, no gap, no
 * trailing bytes. */
#include "io/safetensors_internal.h"
#include "core/error.h"
#include "io/json.h"
#include "core/tensor.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* dtype names and sizes: core/dtype.c (the core layer names them in its own errors) */

int mmf_dtype_parse(const char *s, mmf_dtype *out) {
    for (int i = 0; i < MMF_DT_COUNT; i++)
        if (strcmp(s, mmf_dtype_name((mmf_dtype)i)) == 0) { *out = (mmf_dtype)i; return 1; }
    return 0;
}

static int cmp_offset(const void *a, const void *b) {
    const mmf_st_entry *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end < y->end ? -1 : x->end > y->end);
}

/* the name index is sorted as (name, entry) pairs: the comparison needs no context */
typedef struct name_ref { const char *name; size_t i; } name_ref;
static int cmp_name_ref(const void *a, const void *b) { return strcmp(((const name_ref *)a)->name, ((const name_ref *)b)->name); }

/* An exact non-negative integer from a JSON number (cJSON holds doubles:
 * anything past 2^53 cannot be trusted and is rejected). */
#define MMF_ST_MAX_INT 9007199254740992.0   /* 2^53 */
static int json_u64(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!isfinite(d) || d < 0 || d != floor(d) || d > MMF_ST_MAX_INT) return 0;
    *out = (uint64_t)d;
    return 1;
}

/* Describe why json_u64 refused `v`, for messages: "is -3" / "is not a number". */
static const char *why_not_u64(const cJSON *v, char *buf, size_t cap) {
    if (!cJSON_IsNumber(v)) snprintf(buf, cap, "is not a number");
    else snprintf(buf, cap, "is %.15g", v->valuedouble);
    return buf;
}

static mmf_status parse_entry(const char *file, const cJSON *item, mmf_st_entry *e, uint64_t data_len) {
    const char *name = item->string;
    char why[64];
    if (!cJSON_IsObject(item))
        return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"%s\": entry should be an object {dtype, shape, data_offsets}", file, name);
    const cJSON *dt = NULL, *shape = NULL, *offs = NULL;
    for (const cJSON *f = item->child; f; f = f->next) {
        const cJSON **slot = strcmp(f->string, "dtype") == 0 ? &dt
                           : strcmp(f->string, "shape") == 0 ? &shape
                           : strcmp(f->string, "data_offsets") == 0 ? &offs : NULL;
        if (!slot)
            return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"%s\": unexpected field \"%s\" (expected dtype, shape, data_offsets)",
                            file, name, f->string);
        if (*slot)
            return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"%s\": field \"%s\" appears twice", file, name, f->string);
        *slot = f;
    }
    if (!dt) return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"%s\": missing field \"dtype\"", file, name);
    if (!shape) return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"%s\": missing field \"shape\"", file, name);
    if (!offs) return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"%s\": missing field \"data_offsets\"", file, name);
    if (!cJSON_IsString(dt))
        return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"%s\": field \"dtype\" should be a string such as \"F32\"", file, name);
    if (!mmf_dtype_parse(dt->valuestring, &e->info.dtype))
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: tensor \"%s\": unknown dtype \"%s\" (expected one of F32 F16 BF16 F64 I64 I32 I16 I8 U8 BOOL U16 U32 U64)",
                        file, name, dt->valuestring);
    if (!cJSON_IsArray(shape))
        return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"%s\": field \"shape\" should be an array of integers", file, name);
    int nd = cJSON_GetArraySize(shape);
    if (nd > MMF_MAX_DIMS)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: tensor \"%s\": %d dimensions (at most %d supported)", file, name, nd, MMF_MAX_DIMS);
    e->info.ndim = nd;
    size_t numel = 1;
    int k = 0;
    for (const cJSON *d = shape->child; d; d = d->next, k++) {
        uint64_t v;
        if (!json_u64(d, &v))
            return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"%s\": shape[%d] %s, expected a non-negative integer",
                            file, name, k, why_not_u64(d, why, sizeof why));
        e->info.shape[k] = (int64_t)v;
        if (!mmf_mul_size(numel, (size_t)v, &numel) || numel > (size_t)INT64_MAX)
            return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"%s\": shape overflows the element count", file, name);
    }
    size_t nbytes;
    if (!mmf_mul_size(numel, mmf_dtype_size(e->info.dtype), &nbytes))
        return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"%s\": shape x dtype size overflows", file, name);
    e->info.numel = (int64_t)numel;
    e->info.nbytes = nbytes;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"%s\": \"data_offsets\" should be [begin, end]", file, name);
    if (!json_u64(offs->child, &e->begin))
        return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"%s\": data_offsets[0] %s, expected an integer in [0, 2^53]",
                        file, name, why_not_u64(offs->child, why, sizeof why));
    if (!json_u64(offs->child->next, &e->end))
        return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"%s\": data_offsets[1] %s, expected an integer in [0, 2^53]",
                        file, name, why_not_u64(offs->child->next, why, sizeof why));
    if (e->end < e->begin)
        return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"%s\": data_offsets end %llu before begin %llu", file, name,
                        (unsigned long long)e->end, (unsigned long long)e->begin);
    if (e->end > data_len)
        return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"%s\": data_offsets [%llu, %llu] run past the end of the %llu-byte data section (truncated file?)",
                        file, name, (unsigned long long)e->begin, (unsigned long long)e->end, (unsigned long long)data_len);
    if (e->end - e->begin != nbytes)
        return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"%s\": %llu bytes in data_offsets but shape x %s needs %zu",
                        file, name, (unsigned long long)(e->end - e->begin), mmf_dtype_name(e->info.dtype), nbytes);
    return MMF_OK;
}

static int cmp_str_ptr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static mmf_status parse_metadata(const char *file, const cJSON *meta, mmf_safetensors *st) {
    if (!cJSON_IsObject(meta))
        return mmf_fail(MMF_ERR_FORMAT, "%s: \"__metadata__\" should be an object of strings", file);
    size_t n = (size_t)cJSON_GetArraySize(meta);
    st->meta_keys = calloc(n ? n : 1, sizeof(char *));
    st->meta_vals = calloc(n ? n : 1, sizeof(char *));
    if (!st->meta_keys || !st->meta_vals) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", file);
    for (const cJSON *m = meta->child; m; m = m->next) {
        if (!cJSON_IsString(m))
            return mmf_fail(MMF_ERR_FORMAT, "%s: __metadata__ \"%s\" should be a string", file, m->string);
        st->meta_keys[st->n_meta] = strdup(m->string);
        st->meta_vals[st->n_meta] = strdup(m->valuestring);
        st->n_meta++;
        if (!st->meta_keys[st->n_meta - 1] || !st->meta_vals[st->n_meta - 1]) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", file);
    }
    /* duplicate keys: sort a copy of the key pointers (a hostile header may
     * hold millions of keys, so no pairwise comparison) */
    char **keys = malloc((n ? n : 1) * sizeof *keys);
    if (!keys) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", file);
    memcpy(keys, st->meta_keys, n * sizeof *keys);
    qsort(keys, n, sizeof *keys, cmp_str_ptr);
    for (size_t i = 1; i < n; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0) {
            mmf_status s = mmf_fail(MMF_ERR_FORMAT, "%s: __metadata__ key \"%s\" appears twice", file, keys[i]);
            free(keys);
            return s;
        }
    free(keys);
    return MMF_OK;
}

mmf_status mmf_st_build_index(mmf_safetensors *st, const char *file) {
    st->by_name = malloc((st->n ? st->n : 1) * sizeof(size_t));
    name_ref *refs = malloc((st->n ? st->n : 1) * sizeof *refs);
    if (!st->by_name || !refs) { free(refs); return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", file); }
    for (size_t i = 0; i < st->n; i++) refs[i] = (name_ref){st->entries[i].info.name, i};
    qsort(refs, st->n, sizeof *refs, cmp_name_ref);
    for (size_t i = 0; i < st->n; i++) st->by_name[i] = refs[i].i;
    free(refs);
    for (size_t i = 1; i < st->n; i++) {
        const char *a = st->entries[st->by_name[i - 1]].info.name, *b = st->entries[st->by_name[i]].info.name;
        if (strcmp(a, b) == 0) return mmf_fail(MMF_ERR_FORMAT, "%s: tensor name \"%s\" appears twice", file, a);
    }
    return MMF_OK;
}

/* Checks cJSON does not make: the header is UTF-8, and no string holds a raw
 * control character or a \u0000 escape (cJSON would silently cut a name at
 * the NUL, so "a\u0000x" and "a" would be the same tensor). The JSON value
 * may be followed by spaces (the usual padding) -- the parser checks that. */
static mmf_status scan_header(const char *hdr, size_t n, const char *file) {
    const unsigned char *h = (const unsigned char *)hdr;
    if (h[0] != '{')
        return mmf_fail(MMF_ERR_FORMAT, "%s: header is not a JSON object (it does not start with '{')", file);
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned c = h[i];
        if (c >= 0x80) {
            size_t k = i;
            while (k < n && h[k] >= 0x80) k++;
            if (!mmf_utf8_valid(hdr + i, k - i))
                return mmf_fail(MMF_ERR_FORMAT, "%s: header is not valid UTF-8 (bad byte 0x%02x at header byte %zu%s)",
                                file, c, i, in_str ? ", inside a string" : "");
            i = k - 1;
            continue;
        }
        if (!in_str) {
            if (c == '"') in_str = 1;
            else if (c == 0)
                return mmf_fail(MMF_ERR_FORMAT, "%s: header has a NUL byte at header byte %zu", file, i);
            continue;
        }
        if (c == '"') in_str = 0;
        else if (c < 0x20)
            return mmf_fail(MMF_ERR_FORMAT, "%s: header has a raw control character 0x%02x inside a string at header byte %zu",
                            file, c, i);
        else if (c == '\\' && i + 1 < n) {
            if (h[i + 1] == 'u' && i + 5 < n && memcmp(h + i + 2, "0000", 4) == 0)
                return mmf_fail(MMF_ERR_FORMAT, "%s: header has a \\u0000 (NUL) escape inside a string at header byte %zu",
                                file, i);
            i++;   /* skip the escaped character */
        }
    }
    return MMF_OK;
}

/* Validate `len` bytes at `base` and fill `st` (entries point into base). */
static mmf_status parse_file(mmf_safetensors *st, const unsigned char *base, size_t len, const char *file) {
    if (len < 8)
        return mmf_fail(MMF_ERR_FORMAT, "%s: %zu bytes is too short for a safetensors file (need at least the 8-byte header length)", file, len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | base[i];
    if (hlen > MMF_ST_MAX_HEADER)
        return mmf_fail(MMF_ERR_FORMAT, "%s: header length %llu exceeds the %u-byte limit", file,
                        (unsigned long long)hlen, MMF_ST_MAX_HEADER);
    if (hlen < 2)
        return mmf_fail(MMF_ERR_FORMAT, "%s: header length %llu is too small for a JSON object", file, (unsigned long long)hlen);
    if (hlen > len - 8)
        return mmf_fail(MMF_ERR_FORMAT, "%s: truncated: header claims %llu bytes but only %zu follow", file,
                        (unsigned long long)hlen, len - 8);
    const char *hdr = (const char *)base + 8;
    mmf_status s = scan_header(hdr, (size_t)hlen, file);
    if (s) return s;
    cJSON *root;
    size_t wn = strlen(file) + 16;
    char *what = malloc(wn);
    if (!what) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", file);
    snprintf(what, wn, "%s: header", file);
    s = mmf_json_parse(hdr, (size_t)hlen, what, &root);
    free(what);
    if (s) return s;
    if (!cJSON_IsObject(root)) { cJSON_Delete(root); return mmf_fail(MMF_ERR_FORMAT, "%s: header is not a JSON object", file); }

    uint64_t data_len = len - 8 - hlen;
    size_t cap = (size_t)cJSON_GetArraySize(root);
    st->entries = calloc(cap ? cap : 1, sizeof *st->entries);
    if (!st->entries) { cJSON_Delete(root); return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", file); }
    int saw_meta = 0;
    for (const cJSON *item = root->child; item; item = item->next) {
        const char *name = item->string;
        if (strcmp(name, "__metadata__") == 0) {
            if (saw_meta) { s = mmf_fail(MMF_ERR_FORMAT, "%s: \"__metadata__\" appears twice", file); break; }
            saw_meta = 1;
            if ((s = parse_metadata(file, item, st))) break;
            continue;
        }
        if (name[0] == 0) { s = mmf_fail(MMF_ERR_FORMAT, "%s: a tensor has an empty name \"\"", file); break; }
        mmf_st_entry *e = &st->entries[st->n];
        if ((s = parse_entry(file, item, e, data_len))) break;
        e->info.name = strdup(name);
        if (!e->info.name) { s = mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", file); break; }
        e->info.data = base + 8 + hlen + e->begin;
        st->n++;
    }
    cJSON_Delete(root);
    if (s) return s;

    qsort(st->entries, st->n, sizeof *st->entries, cmp_offset);
    /* name pointers moved with the entries; data pointers too */
    uint64_t expect = 0;
    for (size_t i = 0; i < st->n; i++) {
        const mmf_st_entry *e = &st->entries[i];
        if (e->begin < expect)
            return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"%s\" at [%llu, %llu] overlaps the previous tensor (ends at %llu)",
                            file, e->info.name, (unsigned long long)e->begin, (unsigned long long)e->end, (unsigned long long)expect);
        if (e->begin > expect)
            return mmf_fail(MMF_ERR_FORMAT, "%s: gap of %llu unused bytes before tensor \"%s\" at offset %llu",
                            file, (unsigned long long)(e->begin - expect), e->info.name, (unsigned long long)e->begin);
        expect = e->end;
    }
    if (expect != data_len)   /* (expect > data_len was refused per tensor) */
        return mmf_fail(MMF_ERR_FORMAT, "%s: %llu trailing bytes after the last tensor (data section is %llu bytes, the tensors cover %llu)",
                        file, (unsigned long long)(data_len - expect), (unsigned long long)data_len, (unsigned long long)expect);
    return mmf_st_build_index(st, file);
}

mmf_status mmf_st_open_memory(const void *bytes, size_t len, const char *name, mmf_safetensors **out) {
    *out = NULL;
    mmf_safetensors *st = calloc(1, sizeof *st);
    if (!st) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", name);
    st->path = strdup(name ? name : "<memory>");
    mmf_status s = st->path ? parse_file(st, bytes, len, st->path) : mmf_fail(MMF_ERR_NOMEM, "out of memory");
    if (s) { mmf_st_close(st); return s; }
    *out = st;
    return MMF_OK;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

mmf_status mmf_st_open(const char *path, mmf_safetensors **out) {
    *out = NULL;
    if (!path) return mmf_fail(MMF_ERR_ARG, "safetensors: NULL path");
    if (ends_with(path, ".index.json")) return mmf_st_open_sharded(path, out);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return mmf_fail(errno == ENOENT ? MMF_ERR_NOT_FOUND : MMF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return mmf_fail(MMF_ERR_IO, "%s: not a regular file", path);
    }
    size_t len = (size_t)sb.st_size;
    void *map = NULL;
    if (len > 0) {
        map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            mmf_status s = mmf_fail(MMF_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
            close(fd);
            return s;
        }
    }
    close(fd);
    mmf_safetensors *st = calloc(1, sizeof *st);
    if (!st) { if (map) munmap(map, len); return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", path); }
    st->map = map;
    st->map_len = len;
    st->path = strdup(path);
    mmf_status s = st->path ? parse_file(st, map ? map : (const void *)"", len, path) : mmf_fail(MMF_ERR_NOMEM, "out of memory");
    if (s) { mmf_st_close(st); return s; }
    *out = st;
    return MMF_OK;
}

void mmf_st_close(mmf_safetensors *st) {
    if (!st) return;
    for (size_t i = 0; i < st->n; i++) free((char *)st->entries[i].info.name);
    free(st->entries);
    free(st->by_name);
    for (size_t i = 0; i < st->n_meta; i++) { free(st->meta_keys[i]); free(st->meta_vals[i]); }
    free(st->meta_keys);
    free(st->meta_vals);
    if (st->map) munmap(st->map, st->map_len);
    for (size_t i = 0; i < st->n_shards; i++) mmf_st_close(st->shards[i]);
    free(st->shards);
    free(st->path);
    free(st);
}

size_t mmf_st_count(const mmf_safetensors *st) { return st->n; }
const mmf_tensor_info *mmf_st_at(const mmf_safetensors *st, size_t i) { return i < st->n ? &st->entries[i].info : NULL; }
const char *mmf_st_path(const mmf_safetensors *st) { return st->path; }

const mmf_tensor_info *mmf_st_find(const mmf_safetensors *st, const char *name) {
    size_t lo = 0, hi = st->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const mmf_tensor_info *info = &st->entries[st->by_name[mid]].info;
        int c = strcmp(name, info->name);
        if (c == 0) return info;
        if (c < 0) hi = mid; else lo = mid + 1;
    }
    return NULL;
}

size_t mmf_st_metadata_count(const mmf_safetensors *st) { return st->n_meta; }
void mmf_st_metadata_at(const mmf_safetensors *st, size_t i, const char **key, const char **value) {
    *key = i < st->n_meta ? st->meta_keys[i] : NULL;
    *value = i < st->n_meta ? st->meta_vals[i] : NULL;
}
const char *mmf_st_metadata(const mmf_safetensors *st, const char *key) {
    for (size_t i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_vals[i];
    return NULL;
}

mmf_status mmf_st_read_f32(const mmf_safetensors *st, const char *name, float *dst, size_t count) {
    const mmf_tensor_info *t = mmf_st_find(st, name);
    if (!t) return mmf_fail(MMF_ERR_NOT_FOUND, "%s: no tensor named \"%s\"", st->path, name);
    if ((size_t)t->numel != count)
        return mmf_fail(MMF_ERR_SHAPE, "%s: tensor \"%s\" has %lld elements, expected %zu", st->path, name,
                        (long long)t->numel, count);
    mmf_status s = mmf_convert_to_f32(t->dtype, t->data, dst, count);
    if (s) return mmf_fail_wrap(s, "%s: tensor \"%s\"", st->path, name);
    return MMF_OK;
}
