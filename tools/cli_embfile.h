/* Loading vectors for the index, search, cluster and retrieval commands.
 * Two kinds of input:
 *  - an embedding file (docs/embedding-file.md: __metadata__ "modalities",
 *    "mask", "ids", "labels"), read through mmf_embfile_*: the tensor is a
 *    modality (the only one by default) and rows where it is absent are left out;
 *  - any other safetensors file: a float tensor [N, D] (or [D]) by name
 *    (default "embeddings"), ids from an integer tensor (default "ids" if present). */
#ifndef MMF_CLI_EMBFILE_H
#define MMF_CLI_EMBFILE_H
#include <stdint.h>
#include <stddef.h>
#include "mmfuse.h"

typedef struct cli_emb {
    float *x;           /* (n, d) kept rows */
    size_t n;
    int d;
    int64_t *ids;       /* (n): file ids, else the row numbers in the file */
    size_t *rows;       /* (n): row number in the file of each kept row */
    size_t n_file;      /* rows in the file */
    char tensor[128];   /* the tensor / modality used */
    char file[512];
    int is_embfile;
} cli_emb;

/* tensor NULL: automatic. ids_name NULL: automatic; "none": row numbers.
 * Prints the error (naming file and tensor) and returns 0 on failure. */
int cli_load_emb(const char *cmd, const char *file, const char *tensor, const char *ids_name, cli_emb *out);
/* An integer tensor of the same file, one value per file row, compacted to the
 * kept rows (for --labels). name NULL with an embedding file: its "labels". */
int cli_load_labels(const char *cmd, const cli_emb *e, const char *name, int64_t **out);
void cli_emb_free(cli_emb *e);
#endif
