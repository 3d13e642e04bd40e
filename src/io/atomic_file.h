/* Crash-safe file replacement: write to a temp file beside the target, fsync,
 * rename over the target, fsync the folder. Until commit, the old file is
 * untouched; abort (or any failure) removes the temp file. */
#ifndef MMF_IO_ATOMIC_FILE_H
#define MMF_IO_ATOMIC_FILE_H
#include <stddef.h>
#include "mmfuse.h"

typedef struct mmf_atomic_file mmf_atomic_file;

mmf_status mmf_atomic_open(const char *path, mmf_atomic_file **out);
mmf_status mmf_atomic_write(mmf_atomic_file *f, const void *data, size_t len);
/* Commits and frees. On failure the temp file is removed and the target kept. */
mmf_status mmf_atomic_commit(mmf_atomic_file *f);
void mmf_atomic_abort(mmf_atomic_file *f);

/* Test hook: make writes on this thread fail once `bytes` more bytes have been
 * written (SIZE_MAX disables). Lets tests prove a failed write loses nothing. */
void mmf_atomic_fail_after(size_t bytes);
#endif
