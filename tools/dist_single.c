/* tools/cli_dist.h for a build without MPI: one rank, collectives are no-ops,
 * the shared file is a plain file written with pwrite. */
#include "cli_dist.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_dist_init(int *argc, char ***argv) {
    (void)argc; (void)argv;
    if (getenv("OMPI_COMM_WORLD_SIZE") && atoi(getenv("OMPI_COMM_WORLD_SIZE")) > 1) {
        fprintf(stderr, "mmfuse: error: started by mpirun with %s ranks, but this mmfuse was built without MPI "
                        "(install libopenmpi-dev and rebuild; CMake option MMFUSE_MPI)\n", getenv("OMPI_COMM_WORLD_SIZE"));
        return 1;
    }
    return 0;
}
int cli_dist_finish(int rc) { return rc; }
int cli_dist_rank(void) { return 0; }
int cli_dist_size(void) { return 1; }
int cli_dist_built(void) { return 0; }
void cli_dist_range(size_t n, size_t *lo, size_t *hi) { *lo = 0; *hi = n; }
int cli_dist_all_ok(int ok) { return ok != 0; }
void cli_dist_barrier(void) {}
int cli_dist_allreduce(void *buf, size_t count, mmf_dtype dt, int op) { (void)buf; (void)count; (void)dt; (void)op; return 0; }
int cli_dist_bcast(void *buf, size_t nbytes, int root) { (void)buf; (void)nbytes; (void)root; return 0; }
int cli_dist_gather(const void *mine, size_t len, void **all, size_t *all_len) {
    char *b = malloc(len + 1);
    if (!b) return 1;
    if (len) memcpy(b, mine, len);
    b[len] = 0;
    *all = b;
    *all_len = len;
    return 0;
}
const mmf_comm *cli_dist_comm(void) { return NULL; }
double cli_dist_comm_seconds(void) { return 0.0; }

struct cli_dist_file { int fd; char path[4096]; };

int cli_dist_file_create(const char *path, cli_dist_file **out) {
    cli_dist_file *f = calloc(1, sizeof *f);
    if (!f) return 1;
    snprintf(f->path, sizeof f->path, "%s", path);
    f->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f->fd < 0) { fprintf(stderr, "mmfuse: error: cannot create %s: %s\n", path, strerror(errno)); free(f); return 1; }
    *out = f;
    return 0;
}

int cli_dist_file_write_at(cli_dist_file *f, uint64_t off, const void *buf, size_t len) {
    const char *p = buf;
    while (len) {
        ssize_t w = pwrite(f->fd, p, len, (off_t)off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) { fprintf(stderr, "mmfuse: error: writing %s: %s\n", f->path, w < 0 ? strerror(errno) : "short write"); return 1; }
        p += w; off += (uint64_t)w; len -= (size_t)w;
    }
    return 0;
}

int cli_dist_file_close(cli_dist_file *f, int ok) {
    if (ok && fsync(f->fd)) { fprintf(stderr, "mmfuse: error: fsync %s: %s\n", f->path, strerror(errno)); ok = 0; }
    if (close(f->fd)) ok = 0;
    free(f);
    return ok;
}
