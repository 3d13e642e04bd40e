/* Large, long-lived buffers on transparent huge pages.
 *
 * Where the kernel runs THP in "madvise" mode (Debian's default), malloc's big
 * blocks get 4 KiB pages, and first-touch page faults are what a process
 * start costs: under a paravirtualised hypervisor measured here (AMD EPYC
 * Zen 5 VM, 2026-12-08) one 4 KiB anonymous fault took ~29 us (64 MiB
 * touched: 470 ms) against 13 ms for the same 64 MiB on 2 MiB pages. A block
 * from here is 2 MiB aligned and advised MADV_HUGEPAGE; pages that are never
 * touched still cost nothing. Free it with free(). */
#ifndef MMF_CORE_HUGE_ALLOC_H
#define MMF_CORE_HUGE_ALLOC_H
#include <stddef.h>

/* NULL when out of memory; bytes == 0 gives a minimal block. */
void *mmf_alloc_huge(size_t bytes);
#endif
