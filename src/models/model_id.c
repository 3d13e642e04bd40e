/* A content fingerprint of a model folder, so that an index can say which
 * model its vectors came from and refuse queries from another one. Paths are
 * not enough (a folder retrained in place keeps its path; two copies of one
 * model have two paths), reading every weight byte is too slow for a search
 * call, so the id hashes config.json, every *.safetensors file's name, size
 * and header, and 64 bytes of each 64 KiB of its data: any retraining changes
 * those samples. */
#include "mmfuse.h"
#include "io/json.h"
#include "core/error.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SAMPLE_STRIDE (64u << 10)
#define SAMPLE_BYTES 64u
#define HEADER_MAX (100u << 20)

static void fnv(uint64_t *h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) { *h ^= b[i]; *h *= 1099511628211ULL; }
}

/* Read exactly n bytes at off (short files give what is there). */
static mmf_status hash_range(int fd, uint64_t off, uint64_t n, uint64_t *h, const char *path) {
    unsigned char buf[8192];
    while (n) {
        size_t want = n < sizeof buf ? (size_t)n : sizeof buf;
        ssize_t got = pread(fd, buf, want, (off_t)off);
        if (got < 0) {
            if (errno == EINTR) continue;
            return mmf_fail(MMF_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
        }
        if (got == 0) break;
        fnv(h, buf, (size_t)got);
        off += (uint64_t)got;
        n -= (uint64_t)got;
    }
    return MMF_OK;
}

static mmf_status hash_weights(const char *path, const char *name, uint64_t *h) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return mmf_fail(MMF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    mmf_status s = MMF_OK;
    if (fstat(fd, &st) != 0) s = mmf_fail(MMF_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    uint64_t size = s ? 0 : (uint64_t)st.st_size;
    fnv(h, name, strlen(name) + 1);
    fnv(h, &size, sizeof size);
    /* the safetensors header: u64 length, then the JSON (names, shapes, offsets) */
    uint64_t hlen = 0;
    if (!s && size >= 8 && pread(fd, &hlen, 8, 0) == 8) {
        if (hlen > HEADER_MAX || hlen > size - 8) hlen = size - 8 < HEADER_MAX ? size - 8 : HEADER_MAX;
        s = hash_range(fd, 0, 8 + hlen, h, path);
    }
    for (uint64_t at = 8 + hlen; !s && at < size; at += SAMPLE_STRIDE)
        s = hash_range(fd, at, SAMPLE_BYTES, h, path);
    close(fd);
    return s;
}

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

mmf_status mmf_model_id(const char *path, char *out, size_t cap) {
    if (!path || !out || cap < MMF_MODEL_ID_MAX) return mmf_fail(MMF_ERR_ARG, "model id: NULL path or output under %d bytes", MMF_MODEL_ID_MAX);
    out[0] = 0;
    struct stat st;
    if (stat(path, &st) != 0) return mmf_fail(MMF_ERR_NOT_FOUND, "%s: cannot identify the model: %s", path, strerror(errno));
    uint64_t h = 14695981039346656037ULL;
    char type[64] = "safetensors";
    mmf_status s = MMF_OK;
    if (!S_ISDIR(st.st_mode)) {
        const char *base = strrchr(path, '/');
        s = hash_weights(path, base ? base + 1 : path, &h);
    } else {
        char p[4096];
        snprintf(p, sizeof p, "%s/config.json", path);
        char *cfg = NULL;
        size_t len = 0;
        if (mmf_read_file(p, 16u << 20, &cfg, &len) == MMF_OK) {
            fnv(&h, cfg, len);
            cJSON *j = NULL;
            if (mmf_json_parse(cfg, len, p, &j) == MMF_OK) {
                const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "model_type");
                if (cJSON_IsString(mt) && mt->valuestring[0]) snprintf(type, sizeof type, "%s", mt->valuestring);
                cJSON_Delete(j);
            }
            free(cfg);
        }
        mmf_clear_error();
        DIR *d = opendir(path);
        if (!d) return mmf_fail(MMF_ERR_IO, "%s: cannot list: %s", path, strerror(errno));
        char **names = NULL;
        size_t n = 0, ncap = 0;
        struct dirent *e;
        while ((e = readdir(d)) && !s) {
            if (!ends_with(e->d_name, ".safetensors")) continue;
            if (n == ncap) {
                ncap = ncap ? ncap * 2 : 8;
                char **nn = realloc(names, ncap * sizeof *nn);
                if (!nn) { s = mmf_fail(MMF_ERR_NOMEM, "model id: out of memory"); break; }
                names = nn;
            }
            if (!(names[n] = strdup(e->d_name))) s = mmf_fail(MMF_ERR_NOMEM, "model id: out of memory");
            else n++;
        }
        closedir(d);
        if (!s && n == 0 && !len) s = mmf_fail(MMF_ERR_NOT_FOUND, "%s: no config.json and no *.safetensors: not a model folder", path);
        if (n) qsort(names, n, sizeof *names, cmp_str);   /* readdir order is the file system's */
        for (size_t i = 0; i < n && !s; i++) {
            snprintf(p, sizeof p, "%s/%s", path, names[i]);
            s = hash_weights(p, names[i], &h);
        }
        for (size_t i = 0; i < n; i++) free(names[i]);
        free(names);
    }
    if (s) return s;
    for (char *c = type; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-')) *c = '_';
    snprintf(out, cap, "%s-%016llx", type, (unsigned long long)h);
    return MMF_OK;
}
