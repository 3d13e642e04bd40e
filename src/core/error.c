#include "core/error.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MMF_ERRMSG_MAX 1024

static _Thread_local char last_error[MMF_ERRMSG_MAX];

static mmf_log_fn log_fn = NULL;
static void *log_user = NULL;
static mmf_log_level log_min = MMF_LOG_WARN;

const char *mmf_status_str(mmf_status s) {
    switch (s) {
    case MMF_OK: return "ok";
    case MMF_ERR_ARG: return "invalid argument";
    case MMF_ERR_IO: return "I/O error";
    case MMF_ERR_FORMAT: return "malformed input";
    case MMF_ERR_SHAPE: return "shape mismatch";
    case MMF_ERR_UNSUPPORTED: return "unsupported";
    case MMF_ERR_NOMEM: return "out of memory or over budget";
    case MMF_ERR_NUMERIC: return "numerical error";
    case MMF_ERR_NOT_FOUND: return "not found";
    }
    return "unknown status";
}

const char *mmf_last_error(void) { return last_error; }
void mmf_clear_error(void) { last_error[0] = 0; }

mmf_status mmf_fail(mmf_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    mmf_log(MMF_LOG_DEBUG, "%s", last_error);
    return s;
}

mmf_status mmf_fail_wrap(mmf_status s, const char *fmt, ...) {
    char prefix[MMF_ERRMSG_MAX / 2], old[MMF_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    size_t n = strlen(prefix);
    memcpy(last_error, prefix, n);
    last_error[n] = ':';
    last_error[n + 1] = ' ';
    size_t room = sizeof last_error - n - 3;
    size_t m = strnlen(old, room);
    memcpy(last_error + n + 2, old, m);
    last_error[n + 2 + m] = 0;
    return s;
}

void mmf_log_set(mmf_log_fn fn, void *user) { log_fn = fn; log_user = user; }
void mmf_log_set_level(mmf_log_level min_level) { log_min = min_level; }

void mmf_log(mmf_log_level level, const char *fmt, ...) {
    if (!log_fn && level < log_min) return;
    char msg[MMF_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (log_fn) { log_fn(level, msg, log_user); return; }
    static const char *names[] = {"debug", "info", "warning", "error"};
    fprintf(stderr, "mmfuse %s: %s\n", names[level & 3], msg);
}
