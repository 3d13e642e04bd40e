/* Texts (captions, VQA answers) from JSONL records joined to the rows of an
 * embedding file by id, for `mmfuse caption` and `mmfuse vqa`. */
#ifndef MMF_CLI_TEXTS_H
#define MMF_CLI_TEXTS_H
#include <stddef.h>
#include "cli_records.h"
#include "mmfuse.h"

typedef struct cli_texts {
    cli_records rec;
    const char **texts;   /* grouped by row: row i owns texts[off[i] .. off[i+1]) */
    size_t *off;          /* [n_rows + 1] */
    size_t n_rows;
} cli_texts;

/* Record ids are computed as `mmfuse embed --records` does (--id-field: an integer
 * as is, a string hashed; absent: the line number) and matched against the file's
 * "ids" tensor (absent: row numbers). Several records with one id give several
 * texts (e.g. reference captions). Returns an exit code, printing the error. */
int cli_texts_load(const char *cmd, const mmf_embfile *f, const char *jsonl, const char *field, const char *id_field,
                   cli_texts *out);
void cli_texts_free(cli_texts *t);
#endif
