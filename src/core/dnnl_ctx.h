/* The oneDNN CPU engine and a stream per calling thread, shared by the
 * primitives mmfuse makes (core/conv_dnnl.c). */
#ifndef MMF_CORE_DNNL_CTX_H
#define MMF_CORE_DNNL_CTX_H
#include <oneapi/dnnl/dnnl.h>

/* NULL when oneDNN could not make a CPU engine. */
dnnl_engine_t mmf_dnnl_engine(void);
/* This thread's stream (made on first use, destroyed with the thread), or NULL. */
dnnl_stream_t mmf_dnnl_stream(void);
#endif
