/* Copies of mapped checkpoint bytes by pread (io/mapped_read.c), which the
 * transformer packers use so that the mapping's pages are never faulted in:
 * the copy equals what the mapping holds at any offset and length; anonymous
 * memory and ranges that run past a mapping are refused (the caller then
 * copies from memory); a path that now names another file (renamed over)
 * is refused rather than read; dropping a file range keeps its contents
 * readable (the page cache has them), dropping anonymous memory is a no-op. */
#include "test_util.h"
#include "io/mapped_read.h"
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void) {
    char dir[] = "/tmp/mmf_mapped_read_XXXXXX", path[64], other[64];
    if (!mkdtemp(dir)) return 1;
    snprintf(path, sizeof path, "%s/w.bin", dir);
    snprintf(other, sizeof other, "%s/x.bin", dir);
    const size_t n = (size_t)3 << 20;   /* 3 MiB: more than one fault-around window */
    unsigned char *want = malloc(n), *got = malloc(n);
    for (size_t i = 0; i < n; i++) want[i] = (unsigned char)(i * 2654435761u >> 13);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(want, 1, n, f) == n && fclose(f) == 0);
    int fd = open(path, O_RDONLY);
    const unsigned char *map = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    CHECK(map != MAP_FAILED);

    mmf_file_maps maps;
    mmf_file_maps_read(&maps);
    CHECK(mmf_file_maps_holds(&maps, map, n));
    CHECK(!mmf_file_maps_holds(&maps, map + 1, n));   /* runs past the end */
    CHECK(!mmf_file_maps_holds(&maps, want, 16));      /* anonymous */
    size_t at[][2] = {{0, n}, {1, 7}, {4093, 8200}, {n - 5, 5}, {123457, 1000003}};
    for (int k = 0; k < 5; k++) {
        memset(got, 0, at[k][1]);
        CHECK_MSG(mmf_file_maps_copy(&maps, map + at[k][0], at[k][1], got) == 0, "copy at %zu", at[k][0]);
        CHECK_MSG(!memcmp(got, want + at[k][0], at[k][1]), "bytes at %zu, %zu", at[k][0], at[k][1]);
    }
    CHECK(mmf_file_maps_copy(&maps, want, 16, got) == -1);
    mmf_file_maps_drop(&maps, map + 4096, n - 8192);
    CHECK(!memcmp(map, want, n));   /* read back from the page cache */
    mmf_file_maps_drop(&maps, want, n);
    CHECK(want[12345] == (unsigned char)(12345u * 2654435761u >> 13));
    mmf_file_maps_free(&maps);

    /* the path renamed over by another file: the mapping still shows the old
     * file (its inode), and the copy must not read the new one */
    f = fopen(other, "wb");
    CHECK(f && fwrite(want + 1, 1, n - 1, f) == n - 1 && fclose(f) == 0);
    CHECK(rename(other, path) == 0);
    mmf_file_maps_read(&maps);
    CHECK(mmf_file_maps_holds(&maps, map, n));
    CHECK(mmf_file_maps_copy(&maps, map, 64, got) == -1);
    CHECK(mmf_file_maps_copy(&maps, map + 64, 64, got) == -1);   /* and stays refused */
    mmf_file_maps_free(&maps);

    munmap((void *)map, n);
    unlink(path);
    rmdir(dir);
    free(want);
    free(got);
    return t_done("test_mapped_read");
}
