#include "io/atomic_file.h"
#include "core/error.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct mmf_atomic_file {
    int fd;
    char *path;
    char *tmp;
};

static _Thread_local size_t fail_budget = SIZE_MAX;

void mmf_atomic_fail_after(size_t bytes) { fail_budget = bytes; }

mmf_status mmf_atomic_open(const char *path, mmf_atomic_file **out) {
    *out = NULL;
    size_t n = strlen(path);
    mmf_atomic_file *f = calloc(1, sizeof *f);
    char *tmp = malloc(n + 16);
    char *p = strdup(path);
    if (!f || !tmp || !p) { free(f); free(tmp); free(p); return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", path); }
    snprintf(tmp, n + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        mmf_status s = mmf_fail(MMF_ERR_IO, "%s: cannot create a temporary file beside it: %s", path, strerror(errno));
        free(f); free(tmp); free(p);
        return s;
    }
    fchmod(fd, 0644);
    f->fd = fd; f->path = p; f->tmp = tmp;
    *out = f;
    return MMF_OK;
}

mmf_status mmf_atomic_write(mmf_atomic_file *f, const void *data, size_t len) {
    const unsigned char *p = data;
    while (len > 0) {
        size_t chunk = len;
        if (fail_budget != SIZE_MAX) {
            if (fail_budget == 0) return mmf_fail(MMF_ERR_IO, "%s: write failed: injected failure", f->path);
            if (chunk > fail_budget) chunk = fail_budget;
        }
        ssize_t w = write(f->fd, p, chunk);
        if (w < 0) {
            if (errno == EINTR) continue;
            return mmf_fail(MMF_ERR_IO, "%s: write failed: %s", f->path, strerror(errno));
        }
        if (fail_budget != SIZE_MAX) fail_budget -= (size_t)w;
        p += w;
        len -= (size_t)w;
    }
    return MMF_OK;
}

static void atomic_free(mmf_atomic_file *f) {
    free(f->path);
    free(f->tmp);
    free(f);
}

void mmf_atomic_abort(mmf_atomic_file *f) {
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    unlink(f->tmp);
    atomic_free(f);
}

static void fsync_parent(const char *path) {
    char *dir = strdup(path);
    if (!dir) return;
    char *slash = strrchr(dir, '/');
    if (slash == dir) slash[1] = 0;
    else if (slash) *slash = 0;
    else strcpy(dir, ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) { fsync(dfd); close(dfd); }
    free(dir);
}

mmf_status mmf_atomic_commit(mmf_atomic_file *f) {
    mmf_status s = MMF_OK;
    if (fsync(f->fd) != 0) s = mmf_fail(MMF_ERR_IO, "%s: fsync failed: %s", f->path, strerror(errno));
    if (close(f->fd) != 0 && !s) s = mmf_fail(MMF_ERR_IO, "%s: close failed: %s", f->path, strerror(errno));
    f->fd = -1;
    if (!s && rename(f->tmp, f->path) != 0)
        s = mmf_fail(MMF_ERR_IO, "%s: cannot rename the temporary file into place: %s", f->path, strerror(errno));
    if (s) { unlink(f->tmp); atomic_free(f); return s; }
    fsync_parent(f->path);
    atomic_free(f);
    return MMF_OK;
}

mmf_status mmf_write_file_atomic(const char *path, const void *data, size_t len) {
    mmf_atomic_file *f;
    mmf_status s = mmf_atomic_open(path, &f);
    if (s) return s;
    s = mmf_atomic_write(f, data, len);
    if (s) { mmf_atomic_abort(f); return s; }
    return mmf_atomic_commit(f);
}
