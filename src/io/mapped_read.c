/* pread-based copies of mapped file bytes (mapped_read.h). */
#include "io/mapped_read.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

void mmf_file_maps_read(mmf_file_maps *maps) {
    maps->n = 0;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return;
    char line[4096 + 128];
    const int cap = (int)(sizeof maps->m / sizeof maps->m[0]);
    while (maps->n < cap && fgets(line, sizeof line, f)) {
        unsigned long lo, hi, off, inode;
        unsigned maj, min;
        char perms[8];
        int at = 0;
        if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu %n", &lo, &hi, perms, &off, &maj, &min, &inode, &at) < 7 || !inode ||
            perms[1] != '-' || !at || line[at] != '/')
            continue;
        line[strcspn(line, "\n")] = 0;
        char *path = strdup(line + at);
        if (!path) break;
        maps->m[maps->n].lo = lo, maps->m[maps->n].hi = hi, maps->m[maps->n].off = off;
        maps->m[maps->n].path = path, maps->m[maps->n].fd = -1;
        maps->m[maps->n].inode = inode, maps->m[maps->n].dev_major = maj, maps->m[maps->n].dev_minor = min;
        maps->n++;
    }
    fclose(f);
}

void mmf_file_maps_free(mmf_file_maps *maps) {
    for (int i = 0; i < maps->n; i++) {
        if (maps->m[i].fd >= 0) close(maps->m[i].fd);   /* -1 never opened, -2 another file */
        free(maps->m[i].path);
    }
    maps->n = 0;
}

static int find(const mmf_file_maps *maps, const void *p, size_t bytes) {
    uintptr_t a = (uintptr_t)p;
    for (int i = 0; i < maps->n; i++)
        if (a >= maps->m[i].lo && a + bytes <= maps->m[i].hi && a + bytes >= a) return i;
    return -1;
}

int mmf_file_maps_holds(const mmf_file_maps *maps, const void *p, size_t bytes) { return find(maps, p, bytes) >= 0; }

int mmf_file_maps_copy(mmf_file_maps *maps, const void *p, size_t bytes, void *dst) {
    int i = find(maps, p, bytes);
    if (i < 0 || maps->m[i].fd == -2) return -1;
    if (maps->m[i].fd == -1) {
        /* the path may name another file by now (replaced, or renamed over):
         * read only from the very file that is mapped */
        int fd = open(maps->m[i].path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0) return -1;
        if (fstat(fd, &st) || (uint64_t)st.st_ino != maps->m[i].inode || major(st.st_dev) != maps->m[i].dev_major ||
            minor(st.st_dev) != maps->m[i].dev_minor) {
            close(fd);
            maps->m[i].fd = -2;   /* not that file: do not look again */
            return -1;
        }
        maps->m[i].fd = fd;
    }
    off_t at = (off_t)(maps->m[i].off + ((uintptr_t)p - maps->m[i].lo));
    unsigned char *d = dst;
    while (bytes) {
        ssize_t got = pread(maps->m[i].fd, d, bytes, at);
        if (got <= 0) return -1;
        d += got, at += got, bytes -= (size_t)got;
    }
    return 0;
}

void mmf_file_maps_drop(const mmf_file_maps *maps, const void *p, size_t bytes) {
    const uintptr_t pg = 4096, a = ((uintptr_t)p + pg - 1) & ~(pg - 1), e = ((uintptr_t)p + bytes) & ~(pg - 1);
    if (e > a && find(maps, p, bytes) >= 0) madvise((void *)a, e - a, MADV_DONTNEED);   /* advice: failure changes nothing */
}
