/* libFuzzer harness for the vector index file reader (mmf_index_open). The
 * input is written to a file and opened twice: as it is, and "resealed" (the
 * file length and both CRC-32s in the header recomputed), because otherwise
 * almost every mutation dies at a checksum and the field, section and graph
 * checks behind it would never be reached. An accepted index is then used the
 * way a caller would: an HNSW and an exact search, a delete, a save and a
 * reopen of the saved file; its promises are checked (a broken one traps).
 * Also replayed by tests/test_fuzz_regress.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "mmfuse.h"
#include "fuzz_entry.h"

#define PROMISE(c) do { if (!(c)) __builtin_trap(); } while (0)

/* header layout (src/index/index_file.c): 512 bytes, version at 8, file length
 * at 88, then the payload CRC and the header CRC (of the bytes before it):
 * at 240/244 in version 1 (9 sections), 256/260 from version 2 (10 sections) */
enum { IF_HEADER = 512, IF_VERSION = 8, IF_FILEBYTES = 88 };

static char ixdir[256], ixpath[300], savepath[300];

static void ix_cleanup(void) {
    unlink(ixpath);
    unlink(savepath);
    rmdir(ixdir);
}

static int ix_setup(void) {
    if (ixdir[0]) return 1;
    /* rewritten on every run: memory (/dev/shm) rather than disk */
    const char *base = getenv("TMPDIR");
    snprintf(ixdir, sizeof ixdir, "/dev/shm/mmf_fuzz_ixfile_XXXXXX");
    if (!mkdtemp(ixdir)) {
        snprintf(ixdir, sizeof ixdir, "%s/mmf_fuzz_ixfile_XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(ixdir)) { ixdir[0] = 0; return 0; }
    }
    snprintf(ixpath, sizeof ixpath, "%s/in.mmfidx", ixdir);
    snprintf(savepath, sizeof savepath, "%s/saved.mmfidx", ixdir);
    atexit(ix_cleanup);
    return 1;
}

static void try_open(const uint8_t *data, size_t size) {
    FILE *f = fopen(ixpath, "wb");
    if (!f) return;
    if (size) fwrite(data, 1, size, f);
    fclose(f);
    mmf_index *ix = NULL;
    if (mmf_index_open(ixpath, &ix) != MMF_OK) {
        PROMISE(ix == NULL);
        PROMISE(strstr(mmf_last_error(), ixpath) != NULL);   /* every error names the file */
        return;
    }
    mmf_index_info info;
    mmf_index_get_info(ix, &info);
    PROMISE(info.dim >= 1 && info.dim <= 65536);
    PROMISE(info.M >= 2 && info.ef_search >= 1);
    /* a small query: the graph walk and the exact scan must stay inside the arrays */
    float *q = malloc((size_t)info.dim * sizeof *q);
    PROMISE(q != NULL);
    for (int i = 0; i < info.dim; i++) q[i] = (float)((i * 7) % 5) - 1.5f;
    enum { K = 4 };
    int64_t ids[K], ids_exact[K];
    float sc[K];
    mmf_search_params sp = mmf_search_params_default();
    mmf_status s = mmf_index_search(ix, 1, q, K, &sp, ids, sc);
    if (info.count == 0) PROMISE(s != MMF_OK);
    else PROMISE(s == MMF_OK);
    sp.exact = 1;
    s = mmf_index_search(ix, 1, q, K, &sp, ids_exact, sc);
    if (info.count > 0) {
        PROMISE(s == MMF_OK);
        /* named items: a name or payload is a non-empty string or none */
        for (int j = 0; j < K && ids_exact[j] >= 0; j++) {
            const char *nm = mmf_index_item_name(ix, ids_exact[j]), *pl = mmf_index_item_payload(ix, ids_exact[j]);
            PROMISE(!nm || nm[0]);
            PROMISE(!pl || pl[0]);
        }
        const char *model, *tensor;
        mmf_index_get_source(ix, &model, &tensor);
        PROMISE(!model || model[0]);
        PROMISE(mmf_index_check_query(ix, NULL, info.dim) == MMF_OK);
        PROMISE(mmf_index_check_query(ix, NULL, info.dim + 1) != MMF_OK);
        /* delete the best exact hit (a copy-on-write of the mapped arrays), then round-trip */
        PROMISE(mmf_index_delete(ix, ids_exact[0]) == MMF_OK);
        PROMISE(mmf_index_delete(ix, ids_exact[0]) == MMF_ERR_NOT_FOUND);
        mmf_index_info after;
        mmf_index_get_info(ix, &after);
        PROMISE(after.count == info.count - 1);
        if (mmf_index_save(ix, savepath) == MMF_OK) {
            mmf_index *back = NULL;
            PROMISE(mmf_index_open(savepath, &back) == MMF_OK);   /* what we write, we read */
            mmf_index_info bi;
            mmf_index_get_info(back, &bi);
            PROMISE(bi.count == after.count && bi.dim == info.dim);
            mmf_index_free(back);
        }
    }
    free(q);
    mmf_index_free(ix);
}

int mmf_fuzz_index_file(const uint8_t *data, size_t size) {
    if (!ix_setup()) return 0;
    try_open(data, size);
    if (size < IF_HEADER) return 0;
    uint8_t *b = malloc(size);
    if (!b) return 0;
    memcpy(b, data, size);
    uint64_t len = size;
    uint32_t ver;
    memcpy(&ver, b + IF_VERSION, 4);
    int payload_crc = ver == 1 ? 240 : 256, header_crc = payload_crc + 4;
    memcpy(b + IF_FILEBYTES, &len, 8);
    uint32_t c = (uint32_t)crc32_z(0, b + IF_HEADER, size - IF_HEADER);
    memcpy(b + payload_crc, &c, 4);
    c = (uint32_t)crc32_z(0, b, (size_t)header_crc);
    memcpy(b + header_crc, &c, 4);
    if (memcmp(b, data, IF_HEADER) != 0) try_open(b, size);
    free(b);
    return 0;
}

#ifndef MMF_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return mmf_fuzz_index_file(data, size); }
#endif
