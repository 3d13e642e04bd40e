/* fp32 matmul with weights packed once (matmul_f32.h). */
#include "core/matmul_f32.h"
#include "core/dnnl_ctx.h"
#include "core/ops.h"
#include <pthread.h>
#include <string.h>

/* A packed weight starts with this header (the layout's descriptor), the
 * blocked weights follow at `off`. */
typedef struct mm_head {
    uint32_t magic, N, K, off;
    dnnl_memory_desc_t md;
} mm_head;
#define MM_MAGIC 0x6d6d6632u   /* "mmf2" */

static size_t header_bytes(void) { return (sizeof(mm_head) + 63) & ~(size_t)63; }

static int md2(dnnl_memory_desc_t *md, int64_t d0, int64_t d1, dnnl_format_tag_t tag) {
    dnnl_dims_t d = {d0, d1};
    return dnnl_memory_desc_init_by_tag(md, 2, d, dnnl_f32, tag) == dnnl_success ? 0 : -1;
}

/* the matmul for rows x K @ K x N with weights laid out as w (NULL: the
 * kernels' choice), bias and a sum post-op as asked; NULL when refused */
static dnnl_primitive_desc_t make_pd(int64_t rows, int K, int N, const dnnl_memory_desc_t *w, int bias, int accumulate) {
    dnnl_engine_t eng = mmf_dnnl_engine();
    dnnl_memory_desc_t src, wt, b, dst;
    if (!eng || md2(&src, rows, K, dnnl_ab) || md2(&dst, rows, N, dnnl_ab)) return NULL;
    if (w) wt = *w;
    else if (md2(&wt, K, N, dnnl_format_tag_any)) return NULL;
    if (bias && md2(&b, 1, N, dnnl_ab)) return NULL;
    dnnl_matmul_desc_t d;
    if (dnnl_matmul_desc_init(&d, &src, &wt, bias ? &b : NULL, &dst) != dnnl_success) return NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    if (accumulate) {
        if (dnnl_primitive_attr_create(&attr) != dnnl_success) return NULL;
        if (dnnl_post_ops_create(&po) != dnnl_success || dnnl_post_ops_append_sum(po, 1.0f) != dnnl_success ||
            dnnl_primitive_attr_set_post_ops(attr, po) != dnnl_success) {
            if (po) dnnl_post_ops_destroy(po);
            dnnl_primitive_attr_destroy(attr);
            return NULL;
        }
        dnnl_post_ops_destroy(po);
    }
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_primitive_desc_create(&pd, &d, attr, eng, NULL) != dnnl_success) pd = NULL;
    if (attr) dnnl_primitive_attr_destroy(attr);
    return pd;
}

/* the kernels' layout for (K, N), chosen for 128 rows */
static int choose_layout(int N, int K, dnnl_memory_desc_t *md) {
    dnnl_primitive_desc_t pd = make_pd(128, K, N, NULL, 1, 0);
    if (!pd) return -1;
    const dnnl_memory_desc_t *w = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    int ok = w != NULL;
    if (ok) *md = *w;
    dnnl_primitive_desc_destroy(pd);
    return ok ? 0 : -1;
}

size_t mmf_mm_f32_bytes(int N, int K) {
    dnnl_memory_desc_t md;
    if (N <= 0 || K <= 0 || choose_layout(N, K, &md)) return 0;
    return header_bytes() + ((dnnl_memory_desc_get_size(&md) + 63) & ~(size_t)63);
}

int mmf_mm_f32_pack(void *dst, const float *W, int N, int K) {
    mm_head *h = dst;
    dnnl_memory_desc_t plain;
    if (choose_layout(N, K, &h->md) || md2(&plain, K, N, dnnl_ba)) return -1;   /* W (N, K) is (K, N) in ba */
    h->magic = MM_MAGIC;
    h->N = (uint32_t)N;
    h->K = (uint32_t)K;
    h->off = (uint32_t)header_bytes();
    return mmf_dnnl_reorder(&plain, W, &h->md, (char *)dst + h->off);
}

/* Primitives by shape, made once: creating one costs about as much as a
 * small GEMM. Process-wide like oneDNN's own primitive cache, and for the
 * same reason (a compiled kernel serves every model of that shape). An entry
 * in use (busy) is never evicted; when all are, the call makes its own. */
enum { CACHE = 64 };
typedef struct mm_entry {
    int64_t rows;
    int K, N, bias, accumulate, nt, busy;
    dnnl_memory_desc_t md;
    dnnl_primitive_t prim;
    uint64_t used;
} mm_entry;
static mm_entry g_cache[CACHE];
static uint64_t g_tick;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static dnnl_primitive_t create(const mm_head *h, int64_t rows, int bias, int accumulate) {
    dnnl_primitive_t p = NULL;
    dnnl_primitive_desc_t pd = make_pd(rows, (int)h->K, (int)h->N, &h->md, bias, accumulate);
    if (pd && dnnl_primitive_create(&p, pd) != dnnl_success) p = NULL;
    if (pd) dnnl_primitive_desc_destroy(pd);
    return p;
}

/* the primitive for this call and its entry (NULL: uncached, the caller destroys it) */
static dnnl_primitive_t acquire(const mm_head *h, int64_t rows, int bias, int accumulate, int nt, mm_entry **entry) {
    *entry = NULL;
    pthread_mutex_lock(&g_lock);
    mm_entry *slot = NULL;
    for (int i = 0; i < CACHE; i++) {
        mm_entry *c = &g_cache[i];
        if (c->prim && c->rows == rows && c->K == (int)h->K && c->N == (int)h->N && c->bias == bias &&
            c->accumulate == accumulate && c->nt == nt && dnnl_memory_desc_equal(&c->md, &h->md)) {
            c->used = ++g_tick;
            c->busy++;
            *entry = c;
            pthread_mutex_unlock(&g_lock);
            return c->prim;
        }
        if (!c->busy && (!slot || !c->prim || (slot->prim && c->used < slot->used))) slot = c;
    }
    dnnl_primitive_t old = NULL;
    if (slot) {   /* reserved while the primitive is made; its old one has no user */
        old = slot->prim;
        slot->prim = NULL;
        slot->busy = 1;
    }
    pthread_mutex_unlock(&g_lock);
    if (old) dnnl_primitive_destroy(old);
    dnnl_primitive_t p = create(h, rows, bias, accumulate);
    if (!slot) return p;
    pthread_mutex_lock(&g_lock);
    if (p) {
        *slot = (mm_entry){rows, (int)h->K, (int)h->N, bias, accumulate, nt, 1, h->md, p, ++g_tick};
        *entry = slot;
    } else slot->busy = 0;
    pthread_mutex_unlock(&g_lock);
    return p;
}

static void release(mm_entry *entry, dnnl_primitive_t p) {
    if (!entry) {
        if (p) dnnl_primitive_destroy(p);
        return;
    }
    pthread_mutex_lock(&g_lock);
    entry->busy--;
    pthread_mutex_unlock(&g_lock);
}

int mmf_mm_f32_linear(float *y, const float *x, const void *Wp, const float *bias, int64_t rows, int K, int N,
                      int accumulate, int nt) {
    const mm_head *h = Wp;
    if (rows <= 0) return 0;
    if (!h || h->magic != MM_MAGIC || (int)h->N != N || (int)h->K != K) return -1;
    mmf_threads_use(nt);   /* the primitive runs omp_get_max_threads() threads */
    mm_entry *entry;
    dnnl_primitive_t p = acquire(h, rows, bias != NULL, accumulate, nt, &entry);
    dnnl_stream_t st = mmf_dnnl_stream();
    if (!p || !st) {
        release(entry, p);
        return -1;
    }
    dnnl_engine_t eng = mmf_dnnl_engine();
    dnnl_memory_desc_t src, dst, b;
    dnnl_memory_t ms = NULL, mw = NULL, mb = NULL, md = NULL;
    int ok = !md2(&src, rows, K, dnnl_ab) && !md2(&dst, rows, N, dnnl_ab) && !md2(&b, 1, N, dnnl_ab) &&
             dnnl_memory_create(&ms, &src, eng, (void *)x) == dnnl_success &&
             dnnl_memory_create(&mw, &h->md, eng, (char *)Wp + h->off) == dnnl_success &&
             dnnl_memory_create(&md, &dst, eng, y) == dnnl_success &&
             (!bias || dnnl_memory_create(&mb, &b, eng, (void *)bias) == dnnl_success);
    if (ok) {
        dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, ms}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, md}, {DNNL_ARG_BIAS, mb}};
        ok = dnnl_primitive_execute(p, st, bias ? 4 : 3, args) == dnnl_success && dnnl_stream_wait(st) == dnnl_success;
    }
    if (ms) dnnl_memory_destroy(ms);
    if (mw) dnnl_memory_destroy(mw);
    if (mb) dnnl_memory_destroy(mb);
    if (md) dnnl_memory_destroy(md);
    release(entry, p);
    return ok ? 0 : -1;
}
