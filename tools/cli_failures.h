/* Images skipped with --skip-bad (`mmfuse embed`, `mmfuse preprocess`): each one
 * is reported on stderr as it happens and kept as an "INDEX: message" line for
 * the output file's "failures" metadata. */
#ifndef MMF_CLI_FAILURES_H
#define MMF_CLI_FAILURES_H
#include <stddef.h>

typedef struct cli_failures {
    const char *cmd;   /* names the subcommand in the stderr line */
    char *text;        /* the kept lines, '\n'-separated (free it) */
    size_t len, cap;
    size_t n;          /* images skipped */
    size_t base;       /* added to the loader's index: the first row of the batch (0 = the whole input) */
} cli_failures;

/* The image error callback of the mmf image loaders; user is a cli_failures.
 * Out of memory loses the kept line, never the stderr report. */
void cli_failures_add(size_t index, const char *path, const char *message, void *user);
#endif
