#include "core/dnnl_ctx.h"
#include <pthread.h>

static dnnl_engine_t g_engine;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_stream_key;
static int g_ok;

static void stream_destroy(void *s) { dnnl_stream_destroy(s); }

static void init(void) {
    g_ok = dnnl_engine_create(&g_engine, dnnl_cpu, 0) == dnnl_success && !pthread_key_create(&g_stream_key, stream_destroy);
}

dnnl_engine_t mmf_dnnl_engine(void) {
    pthread_once(&g_once, init);
    return g_ok ? g_engine : NULL;
}

dnnl_stream_t mmf_dnnl_stream(void) {
    if (!mmf_dnnl_engine()) return NULL;
    dnnl_stream_t s = pthread_getspecific(g_stream_key);
    if (s) return s;
    if (dnnl_stream_create(&s, g_engine, dnnl_stream_default_flags) != dnnl_success) return NULL;
    if (pthread_setspecific(g_stream_key, s)) { dnnl_stream_destroy(s); return NULL; }
    return s;
}

int mmf_dnnl_reorder(const dnnl_memory_desc_t *from_md, const void *from, const dnnl_memory_desc_t *to_md, void *to) {
    dnnl_engine_t eng = mmf_dnnl_engine();
    dnnl_stream_t st = mmf_dnnl_stream();
    dnnl_memory_t mf = NULL, mt = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t r = NULL;
    int ok = st && dnnl_memory_create(&mf, from_md, eng, (void *)from) == dnnl_success &&
             dnnl_memory_create(&mt, to_md, eng, to) == dnnl_success &&
             dnnl_reorder_primitive_desc_create(&pd, from_md, eng, to_md, eng, NULL) == dnnl_success &&
             dnnl_primitive_create(&r, pd) == dnnl_success;
    if (ok) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, mf}, {DNNL_ARG_TO, mt}};
        ok = dnnl_primitive_execute(r, st, 2, args) == dnnl_success && dnnl_stream_wait(st) == dnnl_success;
    }
    if (r) dnnl_primitive_destroy(r);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (mf) dnnl_memory_destroy(mf);
    if (mt) dnnl_memory_destroy(mt);
    return ok ? 0 : -1;
}
