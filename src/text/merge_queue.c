/* The BPE merge loop over a priority queue (merge_queue.h). */
#include "text/merge_queue.h"
#include "core/error.h"
#include <stdlib.h>

/* A candidate: the symbols starting at units s and t (= next[s] when it was
 * queued) and t's end u. Starts never move, so the pair is still what it was
 * exactly when s and t are both alive and next[s] == t and next[t] == u. */
typedef struct cand {
    double prio;
    size_t s, t, u;
    int32_t merged;
} cand;

typedef struct queue {
    cand *c;
    size_t n;
} queue;

static int before(const cand *a, const cand *b) { return a->prio < b->prio || (a->prio == b->prio && a->s < b->s); }

static void push(queue *q, cand x) {
    size_t i = q->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&x, &q->c[p])) break;
        q->c[i] = q->c[p];
        i = p;
    }
    q->c[i] = x;
}

static cand pop(queue *q) {
    cand top = q->c[0], last = q->c[--q->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        const cand *best = &last;
        if (l < q->n && before(&q->c[l], best)) { m = l; best = &q->c[l]; }
        if (l + 1 < q->n && before(&q->c[l + 1], best)) m = l + 1;
        if (m == i) break;
        q->c[i] = q->c[m];
        i = m;
    }
    if (q->n) q->c[i] = last;
    return top;
}

/* queue the pair (s, next[s]) when it merges */
static void offer(queue *q, const int32_t *val, const size_t *next, size_t n, size_t s, mmf_merge_pair_fn pair, void *ctx) {
    size_t t = next[s];
    if (t >= n) return;
    cand x = {.s = s, .t = t, .u = next[t]};
    if (pair(ctx, val[s], val[t], s, t, x.u, &x.prio, &x.merged)) push(q, x);
}

enum { SMALL = 64 };   /* words up to this long run on the stack */

mmf_status mmf_merge_run(int32_t *val, size_t n, mmf_merge_pair_fn pair, void *ctx, size_t *starts, size_t *n_out) {
    size_t next_s[SMALL], prev_s[SMALL];
    cand cand_s[3 * SMALL];
    size_t *next = next_s, *prev = prev_s;
    /* every merge retires one queued pair and queues at most two: 3n in all */
    queue q = {cand_s, 0};
    if (n > SMALL) {
        next = malloc(n * sizeof *next);
        prev = malloc(n * sizeof *prev);
        q.c = malloc(3 * n * sizeof *q.c);
        if (!next || !prev || !q.c) {
            free(next);
            free(prev);
            free(q.c);
            return mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory merging a word of %zu symbols", n);
        }
    }
    for (size_t i = 0; i < n; i++) {
        next[i] = i + 1;
        prev[i] = i - 1;   /* SIZE_MAX before the first */
    }
    for (size_t i = 0; i + 1 < n; i++) offer(&q, val, next, n, i, pair, ctx);
    while (q.n) {
        cand x = pop(&q);
        /* a merged-away symbol is marked by prev == itself */
        if (prev[x.s] == x.s || prev[x.t] == x.t || next[x.s] != x.t || next[x.t] != x.u) continue;
        val[x.s] = x.merged;
        next[x.s] = x.u;
        if (x.u < n) prev[x.u] = x.s;
        prev[x.t] = x.t;
        if (prev[x.s] != SIZE_MAX) offer(&q, val, next, n, prev[x.s], pair, ctx);
        offer(&q, val, next, n, x.s, pair, ctx);
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i = next[i]) {
        if (starts) starts[m] = i;
        val[m++] = val[i];
    }
    *n_out = m;
    if (n > SMALL) {
        free(next);
        free(prev);
        free(q.c);
    }
    return MMF_OK;
}
