/* Growing arrays by doubling, the pattern of every append loop. */
#ifndef MMF_CORE_GROW_H
#define MMF_CORE_GROW_H
#include <stdlib.h>
#include <string.h>

/* Room for element n of the array *pp (a T * holding *cap elements of elem
 * bytes): when n == *cap it is reallocated to twice the capacity (first, the
 * first time). 0, or -1 when out of memory (array and capacity untouched). */
static inline int mmf_grow(void *pp, size_t *cap, size_t n, size_t elem, size_t first) {
    if (n < *cap) return 0;
    void *p;
    memcpy(&p, pp, sizeof p);
    size_t c = *cap ? 2 * *cap : first;
    void *q = realloc(p, c * elem);
    if (!q) return -1;
    memcpy(pp, &q, sizeof q);
    *cap = c;
    return 0;
}
#endif
