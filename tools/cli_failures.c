#include "cli_failures.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_failures_add(size_t index, const char *path, const char *message, void *user) {
    cli_failures *f = user;
    index += f->base;
    fprintf(stderr, "mmfuse %s: image %zu (%s) skipped: %s\n", f->cmd, index, path, message);
    size_t need = strlen(message) + 32;
    if (f->len + need + 1 > f->cap) {
        size_t cap = (f->cap + need + 1) * 2;
        char *t = realloc(f->text, cap);
        if (!t) return;
        f->text = t;
        f->cap = cap;
    }
    f->len += (size_t)snprintf(f->text + f->len, f->cap - f->len, "%s%zu: %s", f->n ? "\n" : "", index, message);
    f->n++;
}
