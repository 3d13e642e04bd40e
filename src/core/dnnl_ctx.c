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
