/* Binary heaps of (distance, slot) for the graph walk and top-k selection. */
#ifndef MMF_INDEX_HEAP_H
#define MMF_INDEX_HEAP_H
#include <stdint.h>
#include <stddef.h>

typedef struct mmf_cand { float d; uint32_t id; } mmf_cand;

/* One binary heap, ordered by d: max != 0 keeps the largest d on top, else
 * the smallest. Inlined with a constant `max`, so each kind compiles to its
 * own loop. */
static inline void mmf_heap_push(mmf_cand *h, size_t *n, mmf_cand c, int max) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (max ? h[p].d >= c.d : h[p].d <= c.d) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}
static inline void mmf_heap_pop(mmf_cand *h, size_t *n, int max) {
    mmf_cand last = h[--(*n)];
    size_t i = 0, m = *n;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, b = i;
        float bd = last.d;
        if (l < m && (max ? h[l].d > bd : h[l].d < bd)) { b = l; bd = h[l].d; }
        if (r < m && (max ? h[r].d > bd : h[r].d < bd)) { b = r; }
        if (b == i) break;
        h[i] = h[b];
        i = b;
    }
    if (m) h[i] = last;
}
/* max-heap: the worst (largest d) on top; keeps the best ef results */
static inline void mmf_maxheap_push(mmf_cand *h, size_t *n, mmf_cand c) { mmf_heap_push(h, n, c, 1); }
static inline void mmf_maxheap_pop(mmf_cand *h, size_t *n) { mmf_heap_pop(h, n, 1); }
/* min-heap: the best (smallest d) on top; the frontier still to expand */
static inline void mmf_minheap_push(mmf_cand *h, size_t *n, mmf_cand c) { mmf_heap_push(h, n, c, 0); }
static inline void mmf_minheap_pop(mmf_cand *h, size_t *n) { mmf_heap_pop(h, n, 0); }
static int mmf_cand_cmp(const void *a, const void *b) {
    const mmf_cand *x = a, *y = b;
    if (x->d < y->d) return -1;
    if (x->d > y->d) return 1;
    return (x->id > y->id) - (x->id < y->id);
}
#endif
