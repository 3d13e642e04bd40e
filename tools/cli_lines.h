/* Shared by the text subcommands (tokenize, embed). */
#ifndef MMF_CLI_LINES_H
#define MMF_CLI_LINES_H
#include <stddef.h>
#include <stdio.h>
#include "cli.h"

/* Read PATH ("-" = stdin) whole into *buf (NUL-terminated, *len bytes; free
 * it), warning when it holds NUL bytes. Returns an exit code, printing the error. */
int cli_read_file(const char *cmd, const char *path, char **buf, size_t *len);
/* Read PATH ("-" = stdin) as one input per line: *lines point into *buf
 * (free both). Returns an exit code, printing the error. */
int cli_read_lines(const char *cmd, const char *path, char ***lines, size_t *n, char **buf);
/* Write s (UTF-8) as a JSON string literal. */
void cli_json_string(FILE *out, const char *s);
#endif
