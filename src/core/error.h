/* Internal error and log helpers. Every fallible function reports through
 * mmf_fail(), which records a message for mmf_last_error() and returns the
 * status so callers can write `return mmf_fail(MMF_ERR_FORMAT, "...")`. */
#ifndef MMF_CORE_ERROR_H
#define MMF_CORE_ERROR_H
#include "mmfuse.h"

#if defined(__GNUC__)
#define MMF_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MMF_PRINTF(a, b)
#endif

mmf_status mmf_fail(mmf_status s, const char *fmt, ...) MMF_PRINTF(2, 3);
/* Prefix the current error message with more context ("loading X: <old>"). */
mmf_status mmf_fail_wrap(mmf_status s, const char *fmt, ...) MMF_PRINTF(2, 3);
void mmf_log(mmf_log_level level, const char *fmt, ...) MMF_PRINTF(2, 3);
/* Return the status of a fallible call when it failed (its message is set). */
#define MMF_TRY(x) do { mmf_status mmf_try_s_ = (x); if (mmf_try_s_) return mmf_try_s_; } while (0)

/* Overflow-checked size arithmetic: return 0 on overflow, 1 on success. */
static inline int mmf_mul_size(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline int mmf_add_size(size_t a, size_t b, size_t *out) {
    return !__builtin_add_overflow(a, b, out);
}
#endif
