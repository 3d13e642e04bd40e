/* Huge-page backed allocations (huge_alloc.h). */
#include "core/huge_alloc.h"
#include <stdlib.h>
#include <sys/mman.h>

void *mmf_alloc_huge(size_t bytes) {
    const size_t huge = (size_t)2 << 20;
    size_t n = bytes ? (bytes + huge - 1) / huge * huge : huge;
    if (n < bytes) return NULL;   /* overflow */
    void *p = NULL;
    if (posix_memalign(&p, huge, n)) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, n, MADV_HUGEPAGE);   /* advice only: failure changes nothing */
#endif
    return p;
}
