/* The oneDNN CPU engine and a stream per calling thread, shared by the
 * primitives mmfuse makes (core/conv_dnnl.c). */
#ifndef MMF_CORE_DNNL_CTX_H
#define MMF_CORE_DNNL_CTX_H
#include <oneapi/dnnl/dnnl.h>

/* NULL when oneDNN could not make a CPU engine. */
dnnl_engine_t mmf_dnnl_engine(void);
/* This thread's stream (made on first use, destroyed with the thread), or NULL. */
dnnl_stream_t mmf_dnnl_stream(void);
/* One reorder, run now on this thread's stream: `from` (laid out as from_md)
 * copied into `to` (laid out as to_md), e.g. plain weights into the layout a
 * primitive chose. 0, or -1 when oneDNN refused. */
int mmf_dnnl_reorder(const dnnl_memory_desc_t *from_md, const void *from, const dnnl_memory_desc_t *to_md, void *to);
#endif
