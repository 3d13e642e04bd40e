/* Reading bytes that a file mapping holds without touching the mapping.
 *
 * Packing a checkpoint's matrices at load reads each of them once. Read
 * through the mmap, every 64 KiB costs a page fault and the page-table work
 * of 16 pages; on the paravirtualised VMs measured here (2026-12-08) mapping
 * 91 MB of a cached file took 145-155 ms, while pread copies the same bytes
 * out of the page cache at memory speed. So the packers pread the plain
 * matrices into a staging buffer, and the mapping's pages are never faulted
 * in (the plain matrices stay addressable there as the fallback path). */
#ifndef MMF_IO_MAPPED_READ_H
#define MMF_IO_MAPPED_READ_H
#include <stddef.h>
#include <stdint.h>

/* The read-only file mappings of this process, read once from /proc/self/maps. */
typedef struct mmf_file_maps {
    int n;
    struct { uintptr_t lo, hi; uint64_t off, inode; unsigned dev_major, dev_minor; char *path; int fd; } m[64];
} mmf_file_maps;

void mmf_file_maps_read(mmf_file_maps *maps);
void mmf_file_maps_free(mmf_file_maps *maps);
/* 1 when [p, p + bytes) lies inside one of the file mappings */
int mmf_file_maps_holds(const mmf_file_maps *maps, const void *p, size_t bytes);
/* dst <- the bytes at p, read from the mapped file with pread (the mapping
 * untouched). 0, or -1 when p is not in a file mapping or the read failed
 * (dst may be partly written; copy from p instead). */
int mmf_file_maps_copy(mmf_file_maps *maps, const void *p, size_t bytes, void *dst);
/* Drop this process's pages of [p, p + bytes) when they belong to a file
 * mapping (the page cache keeps the file; a later touch reads them back).
 * Anonymous memory is left alone: dropping it would zero it. */
void mmf_file_maps_drop(const mmf_file_maps *maps, const void *p, size_t bytes);
#endif
