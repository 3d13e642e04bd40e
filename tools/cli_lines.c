/* Reading one input per line (UTF-8 text files) and writing JSON strings,
 * shared by the text subcommands. */
#include "cli_lines.h"
#include <stdlib.h>
#include <string.h>

int cli_read_file(const char *cmd, const char *path, char **buf_out, size_t *len_out) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "mmfuse %s: error: cannot open %s: ", cmd, path);
        perror(NULL);
        return MMF_EXIT_FAIL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (!buf) break;
        if (len == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int err = ferror(f);
    if (f != stdin) fclose(f);
    if (!buf || err) {
        free(buf);
        fprintf(stderr, "mmfuse %s: error: cannot read %s\n", cmd, path);
        return MMF_EXIT_FAIL;
    }
    buf[len] = 0;
    size_t nul = 0;
    for (size_t i = 0; i < len; i++) nul += buf[i] == 0;
    if (nul) fprintf(stderr, "mmfuse %s: warning: %s contains %zu NUL byte(s); each line ends at its first NUL\n", cmd, path, nul);
    *buf_out = buf;
    *len_out = len;
    return MMF_EXIT_OK;
}

int cli_read_lines(const char *cmd, const char *path, char ***lines_out, size_t *n_out, char **buf_out) {
    char *buf;
    size_t len;
    int rc = cli_read_file(cmd, path, &buf, &len);
    if (rc) return rc;
    /* one input per line; an empty line is an input; a final newline ends
     * the last line rather than starting an empty one; "\r\n" counts as "\n" */
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += buf[i] == '\n';
    if (len && buf[len - 1] != '\n') n++;
    char **lines = malloc((n ? n : 1) * sizeof *lines);
    if (!lines) { free(buf); fprintf(stderr, "mmfuse %s: error: out of memory\n", cmd); return MMF_EXIT_FAIL; }
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= len && k < n; i++) {
        if (i < len && buf[i] != '\n') continue;
        size_t e = i;
        if (e > start && buf[e - 1] == '\r') e--;
        buf[e] = 0;
        lines[k++] = buf + start;
        start = i + 1;
    }
    *lines_out = lines;
    *n_out = n;
    *buf_out = buf;
    return MMF_EXIT_OK;
}

void cli_json_string(FILE *out, const char *s) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned c = *p;
        if (c == '"' || c == '\\') { fputc('\\', out); fputc((int)c, out); }
        else if (c == '\n') fputs("\\n", out);
        else if (c == '\t') fputs("\\t", out);
        else if (c == '\r') fputs("\\r", out);
        else if (c < 0x20 || c == 0x7f) fprintf(out, "\\u%04x", c);
        else fputc((int)c, out);
    }
    fputc('"', out);
}
