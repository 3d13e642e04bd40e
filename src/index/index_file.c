/* Index files: a 512-byte header (magic, version, parameters, a table of
 * sections, a CRC-32 of the payload and one of the header), then 64-byte
 * aligned sections holding the per-slot arrays as they sit in memory, so
 * opening is one mmap. Every field, offset, link and checksum is checked
 * before use: the file is treated as hostile.
 *
 *   section      bytes                      present
 *   ids          n * 8  (int64)             always
 *   deleted      n      (0/1)               always
 *   norms        n * 4  (float32)           always
 *   vecs         n * dim * 4                always
 *   qscale       n * 4                      quant int8
 *   qvecs        n * dim                    quant int8
 *   levels       n                          hnsw
 *   links0       n * (M0+1) * 4 (uint32)    hnsw
 *   up           sum(levels) * (M+1) * 4    hnsw, slot order
 *   strings      see below                  version 2
 *
 * The strings section (version 2) holds the provenance and the named items,
 * each string as a u32 byte count and its UTF-8 bytes (no NUL): model id,
 * tensor (count 0 = unknown), then a u32 that is 0 (no item strings) or n, and
 * then per slot its name and its JSON payload (count 0 = none). Version 1
 * files (no strings section, 9 table entries) are still read.
 */
#include "index/index_internal.h"
#include "io/atomic_file.h"
#include "core/error.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_MAGIC "MMFUSEIX"
#define IDX_VERSION 2u
#define IDX_HEADER 512u
#define IDX_ALIGN 64u
enum { S_IDS, S_DELETED, S_NORMS, S_VECS, S_QSCALE, S_QVECS, S_LEVELS, S_LINKS0, S_UP, S_STRINGS, S_COUNT };
static const char *const sec_name[S_COUNT] = {"ids", "deleted", "norms", "vecs", "qscale", "qvecs",
                                              "levels", "links0", "up", "strings"};
/* header field offsets */
enum {
    H_MAGIC = 0, H_VERSION = 8, H_HBYTES = 12, H_DIM = 16, H_KIND = 20, H_METRIC = 24, H_QUANT = 28,
    H_M = 32, H_M0 = 36, H_EFC = 40, H_EFS = 44, H_N = 48, H_NDEL = 56, H_NEXT = 64, H_MAXL = 72,
    H_ENTRY = 76, H_SEED = 80, H_FILEBYTES = 88, H_SECTIONS = 96 /* n_sections x {u64 off, u64 bytes} */
};
/* the table grew by one entry in version 2; the two CRCs follow it */
static int n_sections(uint32_t ver) { return ver == 1 ? S_STRINGS : S_COUNT; }
static int payload_crc_at(uint32_t ver) { return H_SECTIONS + 16 * n_sections(ver); }
static int header_crc_at(uint32_t ver) { return payload_crc_at(ver) + 4; }

static void put32(unsigned char *h, int at, uint32_t v) { memcpy(h + at, &v, 4); }
static void put64(unsigned char *h, int at, uint64_t v) { memcpy(h + at, &v, 8); }
static uint32_t get32(const unsigned char *h, int at) { uint32_t v; memcpy(&v, h + at, 4); return v; }
static uint64_t get64(const unsigned char *h, int at) { uint64_t v; memcpy(&v, h + at, 8); return v; }

static uint32_t crc_update(uint32_t crc, const void *p, size_t n) {
    return (uint32_t)crc32_z(crc, (const Bytef *)p, n);
}

/* Section sizes implied by the header fields (0 when absent); 0 on overflow. */
static int section_sizes(const mmf_index *ix, uint64_t up_entries, uint64_t out[S_COUNT]) {
    size_t n = ix->n, d = (size_t)ix->dim, t;
    memset(out, 0, S_COUNT * sizeof *out);
    if (!mmf_mul_size(n, 8, &t)) return 0;
    out[S_IDS] = t;
    out[S_DELETED] = n;
    if (!mmf_mul_size(n, 4, &t)) return 0;
    out[S_NORMS] = t;
    if (!mmf_mul_size(n, d, &t) || !mmf_mul_size(t, 4, &t)) return 0;
    out[S_VECS] = t;
    if (ix->quant == MMF_QUANT_INT8) {
        out[S_QSCALE] = out[S_NORMS];
        if (!mmf_mul_size(n, d, &t)) return 0;
        out[S_QVECS] = t;
    }
    if (ix->kind == MMF_INDEX_HNSW) {
        out[S_LEVELS] = n;
        if (!mmf_mul_size(n, (size_t)ix->M0 + 1, &t) || !mmf_mul_size(t, 4, &t)) return 0;
        out[S_LINKS0] = t;
        if (!mmf_mul_size((size_t)up_entries, 4, &t)) return 0;
        out[S_UP] = t;
    }
    return 1;
}

/* Bytes of the strings section (0 on overflow, which is at least 12 otherwise). */
static uint64_t strings_bytes(const mmf_index *ix) {
    uint64_t b = 12 + (ix->model_id ? strlen(ix->model_id) : 0) + (ix->tensor ? strlen(ix->tensor) : 0);
    if (ix->str_cap)
        for (size_t i = 0; i < ix->n; i++) {
            const char *nm = i < ix->str_cap ? ix->names[i] : NULL, *pl = i < ix->str_cap ? ix->payloads[i] : NULL;
            b += 8 + (nm ? strlen(nm) : 0) + (pl ? strlen(pl) : 0);
        }
    return b;
}

/* ---- writing: two passes over the same byte stream, one for the CRC, one to write */
typedef struct emitter {
    mmf_atomic_file *f;   /* NULL: only checksum */
    uint32_t crc;
    uint64_t pos;
    mmf_status s;
} emitter;

static void emit(emitter *e, const void *p, size_t n) {
    if (e->s || n == 0) return;
    if (e->f) e->s = mmf_atomic_write(e->f, p, n);
    else e->crc = crc_update(e->crc, p, n);
    e->pos += n;
}

static void emit_pad(emitter *e) {
    static const unsigned char zeros[IDX_ALIGN];
    uint64_t r = e->pos % IDX_ALIGN;
    if (r) emit(e, zeros, (size_t)(IDX_ALIGN - r));
}

static void emit_str(emitter *e, const char *s) {
    uint32_t n = s ? (uint32_t)strlen(s) : 0;
    emit(e, &n, 4);
    if (n) emit(e, s, n);
}

static void emit_strings(const mmf_index *ix, emitter *e) {
    emit_str(e, ix->model_id);
    emit_str(e, ix->tensor);
    uint32_t have = ix->str_cap ? (uint32_t)ix->n : 0;
    emit(e, &have, 4);
    for (size_t i = 0; i < have; i++) {
        emit_str(e, i < ix->str_cap ? ix->names[i] : NULL);
        emit_str(e, i < ix->str_cap ? ix->payloads[i] : NULL);
    }
}

static void emit_payload(const mmf_index *ix, emitter *e, const uint64_t sz[S_COUNT], uint64_t off[S_COUNT]) {
    const void *src[S_COUNT] = {ix->ids, ix->deleted, ix->norms, ix->vecs, ix->qscale, ix->qvecs,
                                ix->levels, ix->links0, NULL};
    for (int k = 0; k < S_COUNT; k++) {
        if (!sz[k]) { off[k] = 0; continue; }
        emit_pad(e);
        off[k] = e->pos;
        if (k == S_STRINGS) {
            emit_strings(ix, e);
        } else if (k == S_UP) {
            for (size_t i = 0; i < ix->n; i++)
                if (ix->levels[i]) emit(e, ix->up[i], (size_t)ix->levels[i] * ((size_t)ix->M + 1) * 4);
        } else {
            emit(e, src[k], (size_t)sz[k]);
        }
    }
}

mmf_status mmf_index_save(const mmf_index *ix, const char *path) {
    if (!ix || !path) return mmf_fail(MMF_ERR_ARG, "index save: NULL index or path");
    uint64_t up_entries = 0;
    if (ix->kind == MMF_INDEX_HNSW)
        for (size_t i = 0; i < ix->n; i++) up_entries += (uint64_t)ix->levels[i] * ((uint64_t)ix->M + 1);
    uint64_t sz[S_COUNT], off[S_COUNT];
    if (!section_sizes(ix, up_entries, sz)) return mmf_fail(MMF_ERR_NOMEM, "%s: index too large to save", path);
    sz[S_STRINGS] = strings_bytes(ix);
    emitter pass1 = {NULL, (uint32_t)crc32_z(0L, Z_NULL, 0), IDX_HEADER, MMF_OK};
    emit_payload(ix, &pass1, sz, off);
    uint64_t end = pass1.pos;

    unsigned char h[IDX_HEADER];
    memset(h, 0, sizeof h);
    memcpy(h + H_MAGIC, IDX_MAGIC, 8);
    put32(h, H_VERSION, IDX_VERSION);
    put32(h, H_HBYTES, IDX_HEADER);
    put32(h, H_DIM, (uint32_t)ix->dim);
    put32(h, H_KIND, (uint32_t)ix->kind);
    put32(h, H_METRIC, (uint32_t)ix->metric);
    put32(h, H_QUANT, (uint32_t)ix->quant);
    put32(h, H_M, (uint32_t)ix->M);
    put32(h, H_M0, (uint32_t)ix->M0);
    put32(h, H_EFC, (uint32_t)ix->ef_construction);
    put32(h, H_EFS, (uint32_t)ix->ef_search);
    put64(h, H_N, ix->n);
    put64(h, H_NDEL, ix->n_deleted);
    put64(h, H_NEXT, (uint64_t)ix->next_id);
    put32(h, H_MAXL, (uint32_t)(int32_t)ix->max_level);
    put32(h, H_ENTRY, ix->entry);
    put64(h, H_SEED, ix->seed);
    put64(h, H_FILEBYTES, end);
    for (int k = 0; k < S_COUNT; k++) {
        put64(h, H_SECTIONS + 16 * k, off[k]);
        put64(h, H_SECTIONS + 16 * k + 8, sz[k]);
    }
    put32(h, payload_crc_at(IDX_VERSION), pass1.crc);
    put32(h, header_crc_at(IDX_VERSION), crc_update((uint32_t)crc32_z(0L, Z_NULL, 0), h, (size_t)header_crc_at(IDX_VERSION)));

    mmf_atomic_file *f;
    mmf_status s = mmf_atomic_open(path, &f);
    if (s) return s;
    emitter pass2 = {f, 0, 0, MMF_OK};
    emit(&pass2, h, sizeof h);
    uint64_t off2[S_COUNT];
    emit_payload(ix, &pass2, sz, off2);
    if (pass2.s) { mmf_atomic_abort(f); return mmf_fail_wrap(pass2.s, "saving index"); }
    return mmf_atomic_commit(f);
}

/* ---- reading */

static mmf_status bad(const char *path, const char *fmt, ...) MMF_PRINTF(2, 3);
static mmf_status bad(const char *path, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mmf_fail(MMF_ERR_FORMAT, "%s: not a valid mmfuse index: %s", path, msg);
}

/* Links, levels, entry point and ids must describe a graph the walk can
 * follow without ever leaving the arrays. */
static mmf_status validate_content(mmf_index *ix, const char *path) {
    size_t n = ix->n, d = (size_t)ix->dim, ndel = 0;
    for (size_t i = 0; i < n; i++) {
        if (ix->deleted[i] > 1) return bad(path, "field \"deleted\"[%zu] = %u, expected 0 or 1", i, ix->deleted[i]);
        ndel += ix->deleted[i];
        if (!isfinite(ix->norms[i]) || ix->norms[i] < 0.0f) return bad(path, "field \"norms\"[%zu] is not a finite non-negative number", i);
        if (ix->qscale && (!isfinite(ix->qscale[i]) || ix->qscale[i] < 0.0f))
            return bad(path, "field \"qscale\"[%zu] is not a finite non-negative number", i);
    }
    for (size_t i = 0; i < n * d; i++)
        if (!isfinite(ix->vecs[i])) return bad(path, "field \"vecs\": vector %zu has a non-finite value", i / d);
    if (ndel != ix->n_deleted) return bad(path, "header says %zu deleted, field \"deleted\" marks %zu", ix->n_deleted, ndel);
    if (ix->kind == MMF_INDEX_HNSW) {
        int top = -1;
        for (size_t i = 0; i < n; i++) {
            if (ix->levels[i] > MMF_HNSW_MAX_LEVEL) return bad(path, "field \"levels\"[%zu] = %u, expected <= %d", i, ix->levels[i], MMF_HNSW_MAX_LEVEL);
            if (ix->levels[i] > top) top = ix->levels[i];
        }
        if (n == 0) {
            if (ix->entry != MMF_HNSW_NONE || ix->max_level != -1) return bad(path, "an empty graph must have no entry point");
        } else {
            if (ix->entry >= n) return bad(path, "entry point %u is not below the vector count %zu", ix->entry, n);
            if (ix->max_level != top || ix->levels[ix->entry] != top)
                return bad(path, "max_level %d / entry level %u disagree with the highest level %d", ix->max_level, ix->levels[ix->entry], top);
        }
        for (size_t i = 0; i < n; i++)
            for (int l = 0; l <= ix->levels[i]; l++) {
                const uint32_t *lst = l == 0 ? ix->links0 + i * ((size_t)ix->M0 + 1) : ix->up[i] + (size_t)(l - 1) * ((size_t)ix->M + 1);
                uint32_t cap = l == 0 ? (uint32_t)ix->M0 : (uint32_t)ix->M;
                if (lst[0] > cap) return bad(path, "node %zu level %d has %u links, at most %u allowed", i, l, lst[0], cap);
                for (uint32_t j = 1; j <= lst[0]; j++) {
                    uint32_t v = lst[j];
                    if (v >= n || v == i) return bad(path, "node %zu level %d links to %u (vector count %zu)", i, l, v, n);
                    if (ix->levels[v] < l) return bad(path, "node %zu level %d links to node %u which has no level %d", i, l, v, l);
                }
            }
    }
    mmf_status s = mmf_idmap_reserve(&ix->idmap, n - ndel);
    if (s) return s;
    int64_t next = 0;
    for (size_t i = 0; i < n; i++) {
        if (ix->ids[i] >= next) next = ix->ids[i] == INT64_MAX ? INT64_MAX : ix->ids[i] + 1;
        if (ix->deleted[i]) continue;
        if (mmf_idmap_get(&ix->idmap, ix->ids[i], NULL)) return bad(path, "id %lld appears twice", (long long)ix->ids[i]);
        mmf_idmap_put(&ix->idmap, ix->ids[i], (uint32_t)i);
    }
    if (next > ix->next_id) ix->next_id = next;
    return MMF_OK;
}

/* One counted string of the strings section at *at (advanced); NULL when the
 * count is 0. Copied to the heap, NUL-terminated, after its checks. */
static mmf_status read_str(const unsigned char *p, uint64_t len, uint64_t *at, size_t max, int json,
                           const char *what, long slot, const char *path, char **out) {
    *out = NULL;
    uint32_t n;
    if (len - *at < 4) return bad(path, "section \"strings\" ends inside the size of a %s", what);
    memcpy(&n, p + *at, 4);
    *at += 4;
    if (n == 0) return MMF_OK;
    if (len - *at < n) return bad(path, "section \"strings\": a %s of %u bytes runs past the section's end", what, n);
    const char *s = (const char *)(p + *at);
    char where[48];
    if (slot >= 0) snprintf(where, sizeof where, "slot %ld", slot);
    else snprintf(where, sizeof where, "section \"strings\"");
    if (mmf_index_check_string(s, n, max, json, what, where)) return bad(path, "%s", mmf_last_error());
    char *d = malloc((size_t)n + 1);
    if (!d) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory for index strings", path);
    memcpy(d, s, n);
    d[n] = 0;
    *at += n;
    *out = d;
    return MMF_OK;
}

static mmf_status read_strings(mmf_index *ix, const char *path, const unsigned char *p, uint64_t len) {
    uint64_t at = 0;
    mmf_status s = read_str(p, len, &at, MMF_INDEX_SOURCE_MAX, 0, "model id", -1, path, &ix->model_id);
    if (!s) s = read_str(p, len, &at, MMF_INDEX_SOURCE_MAX, 0, "tensor name", -1, path, &ix->tensor);
    if (s) return s;
    uint32_t have;
    if (len - at < 4) return bad(path, "section \"strings\" ends before its item count");
    memcpy(&have, p + at, 4);
    at += 4;
    if (have != 0 && have != ix->n) return bad(path, "section \"strings\" has %u items, the index %zu slots", have, ix->n);
    if (have) {
        s = mmf_index_strings_reserve(ix, ix->n);
        for (size_t i = 0; i < ix->n && !s; i++) {
            s = read_str(p, len, &at, MMF_INDEX_NAME_MAX, 0, "name", (long)i, path, &ix->names[i]);
            if (!s) s = read_str(p, len, &at, MMF_INDEX_PAYLOAD_MAX, 1, "payload", (long)i, path, &ix->payloads[i]);
        }
        if (s) return s;
    }
    if (at != len) return bad(path, "section \"strings\" has %llu bytes after its last item", (unsigned long long)(len - at));
    return MMF_OK;
}

mmf_status mmf_index_open(const char *path, mmf_index **out) {
    *out = NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return mmf_fail(MMF_ERR_IO, "%s: cannot open index: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) { int e = errno; close(fd); return mmf_fail(MMF_ERR_IO, "%s: cannot stat: %s", path, strerror(e)); }
    size_t len = (size_t)st.st_size;
    if (len < IDX_HEADER) { close(fd); return bad(path, "truncated: %zu bytes, the header alone needs %u", len, IDX_HEADER); }
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return mmf_fail(MMF_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
    const unsigned char *h = map;
    mmf_index *ix = NULL;
    mmf_status s;
    if (memcmp(h, IDX_MAGIC, 8) != 0) { s = bad(path, "wrong magic bytes (expected \"%s\")", IDX_MAGIC); goto fail; }
    uint32_t ver = get32(h, H_VERSION);
    if (ver != 1 && ver != IDX_VERSION) {
        s = mmf_fail(MMF_ERR_UNSUPPORTED, "%s: index format version %u, this build reads versions 1 and %u", path, ver, IDX_VERSION);
        goto fail;
    }
    int nsec = n_sections(ver);
    if (get32(h, H_HBYTES) != IDX_HEADER) { s = bad(path, "header size %u, expected %u", get32(h, H_HBYTES), IDX_HEADER); goto fail; }
    if (crc_update((uint32_t)crc32_z(0L, Z_NULL, 0), h, (size_t)header_crc_at(ver)) != get32(h, header_crc_at(ver))) {
        s = bad(path, "header checksum mismatch (the header is corrupt)"); goto fail;
    }
    uint64_t fb = get64(h, H_FILEBYTES);
    if (fb != len) {
        s = bad(path, fb > len ? "truncated: %zu bytes, the header says %llu" : "%zu bytes, the header says %llu (trailing data)",
                len, (unsigned long long)fb);
        goto fail;
    }
    s = mmf_index_alloc_handle(&ix);
    if (s) goto fail;
    ix->map = map; ix->map_len = len; ix->mapped = 1;
    uint32_t dim = get32(h, H_DIM), kind = get32(h, H_KIND), metric = get32(h, H_METRIC), quant = get32(h, H_QUANT);
    uint32_t M = get32(h, H_M), M0 = get32(h, H_M0), efc = get32(h, H_EFC), efs = get32(h, H_EFS);
    uint64_t n = get64(h, H_N), ndel = get64(h, H_NDEL);
    if (dim < 1 || dim > 65536) { s = bad(path, "field \"dim\" = %u, expected 1..65536", dim); goto fail; }
    if (kind > MMF_INDEX_FLAT) { s = bad(path, "field \"kind\" = %u, expected 0 (hnsw) or 1 (flat)", kind); goto fail; }
    if (metric > MMF_METRIC_L2) { s = bad(path, "field \"metric\" = %u, expected 0..2", metric); goto fail; }
    if (quant > MMF_QUANT_INT8) { s = bad(path, "field \"quant\" = %u, expected 0 or 1", quant); goto fail; }
    if (M < 2 || M > 256 || M0 != 2 * M) { s = bad(path, "fields \"M\" = %u, \"M0\" = %u, expected 2 <= M <= 256 and M0 = 2M", M, M0); goto fail; }
    if (efc < 1 || efc > 100000 || efs < 1 || efs > 100000) { s = bad(path, "ef_construction %u / ef_search %u out of 1..100000", efc, efs); goto fail; }
    if (n > (uint64_t)UINT32_MAX - 1 || ndel > n) { s = bad(path, "field \"n\" = %llu / \"n_deleted\" = %llu out of range", (unsigned long long)n, (unsigned long long)ndel); goto fail; }
    int32_t maxl = (int32_t)get32(h, H_MAXL);
    if (maxl < -1 || maxl > MMF_HNSW_MAX_LEVEL) { s = bad(path, "field \"max_level\" = %d out of range", maxl); goto fail; }
    ix->dim = (int)dim; ix->kind = (mmf_index_kind)kind; ix->metric = (mmf_metric)metric; ix->quant = (mmf_index_quant)quant;
    ix->M = (int)M; ix->M0 = (int)M0; ix->ef_construction = (int)efc; ix->ef_search = (int)efs;
    ix->n = ix->cap = (size_t)n; ix->n_deleted = (size_t)ndel;
    ix->next_id = (int64_t)get64(h, H_NEXT);
    ix->max_level = maxl; ix->entry = get32(h, H_ENTRY); ix->seed = get64(h, H_SEED);
    ix->n_threads = 1;

    /* the up-link section size follows from the levels, which live in the
     * payload: check the levels section first, then the rest */
    uint64_t off[S_COUNT], sz[S_COUNT], want[S_COUNT];
    for (int k = 0; k < S_COUNT; k++) {
        off[k] = k < nsec ? get64(h, H_SECTIONS + 16 * k) : 0;
        sz[k] = k < nsec ? get64(h, H_SECTIONS + 16 * k + 8) : 0;
    }
    uint64_t prev_end = IDX_HEADER;
    for (int k = 0; k < nsec; k++) {
        if (!sz[k]) continue;
        if (off[k] % IDX_ALIGN || off[k] < prev_end || off[k] > len || sz[k] > len - off[k]) {
            s = bad(path, "section \"%s\" at %llu (+%llu bytes) is misaligned, overlapping or beyond the file", sec_name[k],
                    (unsigned long long)off[k], (unsigned long long)sz[k]);
            goto fail;
        }
        prev_end = off[k] + sz[k];
    }
    uint32_t crc = (uint32_t)crc32_z(0L, Z_NULL, 0);
    crc = crc_update(crc, h + IDX_HEADER, len - IDX_HEADER);
    if (crc != get32(h, payload_crc_at(ver))) { s = bad(path, "payload checksum mismatch (the data is corrupt)"); goto fail; }
    uint64_t up_entries = 0;
    if (ix->kind == MMF_INDEX_HNSW) {
        if (sz[S_LEVELS] != n) { s = bad(path, "section \"levels\" has %llu bytes, expected %llu", (unsigned long long)sz[S_LEVELS], (unsigned long long)n); goto fail; }
        const uint8_t *lv = n ? h + off[S_LEVELS] : NULL;   /* n = 0: an empty section, offset unchecked */
        for (uint64_t i = 0; i < n; i++) up_entries += (uint64_t)(lv[i] > MMF_HNSW_MAX_LEVEL ? 0 : lv[i]) * (M + 1);
    }
    if (!section_sizes(ix, up_entries, want)) { s = bad(path, "sizes overflow"); goto fail; }
    for (int k = 0; k < S_STRINGS; k++)
        if (sz[k] != want[k]) {
            s = bad(path, "section \"%s\" has %llu bytes, expected %llu", sec_name[k], (unsigned long long)sz[k], (unsigned long long)want[k]);
            goto fail;
        }
    if (ver >= 2 && sz[S_STRINGS] < 12) {
        s = bad(path, "section \"strings\" has %llu bytes, at least 12 expected", (unsigned long long)sz[S_STRINGS]);
        goto fail;
    }
    unsigned char *base = map;
#define SEC(k) (sz[k] ? (void *)(base + off[k]) : NULL)
    ix->ids = SEC(S_IDS); ix->deleted = SEC(S_DELETED); ix->norms = SEC(S_NORMS); ix->vecs = SEC(S_VECS);
    ix->qscale = SEC(S_QSCALE); ix->qvecs = SEC(S_QVECS); ix->levels = SEC(S_LEVELS); ix->links0 = SEC(S_LINKS0);
#undef SEC
    if (ix->kind == MMF_INDEX_HNSW) {
        ix->up = calloc(n ? (size_t)n : 1, sizeof *ix->up);
        if (!ix->up) { s = mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", path); goto fail; }
        /* an empty section's offset is never checked: no pointer is formed from it;
         * out-of-range levels get none either (validate_content rejects them) */
        uint32_t *pool = sz[S_UP] ? (uint32_t *)(base + off[S_UP]) : NULL;
        size_t at = 0;
        for (size_t i = 0; i < n && pool; i++)
            if (ix->levels[i] && ix->levels[i] <= MMF_HNSW_MAX_LEVEL) {
                ix->up[i] = pool + at;
                at += (size_t)ix->levels[i] * (M + 1);
            }
    }
    s = validate_content(ix, path);
    if (!s && ver >= 2) s = read_strings(ix, path, base + off[S_STRINGS], sz[S_STRINGS]);
    if (s) goto fail;
    *out = ix;
    return MMF_OK;
fail:
    if (ix) mmf_index_free(ix);   /* unmaps */
    else munmap(map, len);
    return s;
}
