/* What an index's items are and where its vectors came from, for `mmfuse
 * index build|add` and `mmfuse search`: names and JSON payloads joined from the
 * JSONL records by id, and the model id of the folder that embedded a tensor. */
#ifndef MMF_CLI_ITEMS_H
#define MMF_CLI_ITEMS_H
#include <stddef.h>
#include <stdint.h>
#include "mmfuse.h"

typedef struct cli_items {
    size_t n;
    char **names;      /* [n] the record's id field as a string, NULL = no record */
    char **payloads;   /* [n] JSON object of the chosen fields, NULL = none */
    size_t matched;
} cli_items;

/* Names and payloads for ids[n] from the records file: a record matches an id
 * when its id_field (a string, hashed as `embed --id-field` does, or an
 * integer) gives that id; the first record wins. fields: comma-separated
 * field names for the payload, "none" = no payload. Returns an exit code. */
int cli_items_load(const char *cmd, const char *records, const char *id_field, const char *fields,
                   const int64_t *ids, size_t n, cli_items *out);
void cli_items_free(cli_items *it);

/* The model id of the encoder that embedded `tensor` of `file` (its
 * __metadata__ "encoder.<tensor>"), or of `model_dir` when given. 0 and
 * out[0] = 0 when unknown (no record, or the folder is gone: the reason is
 * written to *why when why is not NULL). */
int cli_source_model_id(const char *file, const char *tensor, const char *model_dir, char out[MMF_MODEL_ID_MAX],
                        char *why, size_t why_cap);
#endif
