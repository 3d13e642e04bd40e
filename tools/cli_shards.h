/* An output file made of row shards (`mmfuse embed` under mpirun, or with
 * --resume): every per-row tensor of the file ([N, ...], row-major) is split
 * into contiguous shards, one per rank. Each rank embeds its shard in chunks
 * and appends each chunk's rows to its own files in OUT.parts/ with a small
 * progress file (written atomically after the rows are synced), so a restarted
 * job (--resume) skips what a shard had done: a failed node costs only the
 * chunk it was in. At the end rank 0 writes the safetensors header, every rank
 * copies its rows to their offsets in one shared file (MPI-IO), and rank 0
 * renames it into place after all have synced: the result is the file one
 * process writes, and a failure at any point leaves no half-written OUT. */
#ifndef MMF_CLI_SHARDS_H
#define MMF_CLI_SHARDS_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "mmfuse.h"

#define CLI_SHARDS_MAX 8

typedef struct cli_rowtensor {
    const char *name;   /* tensor name in the output */
    size_t row_bytes;   /* bytes of one row */
} cli_rowtensor;

typedef struct cli_shards {
    const char *cmd;
    char out[4096], dir[4096], progress[4200];
    char rows_path[CLI_SHARDS_MAX][4200];
    size_t n, lo, hi, done;   /* global rows, this rank's shard [lo, hi), rows of it done */
    int nt;
    cli_rowtensor t[CLI_SHARDS_MAX];
    FILE *f[CLI_SHARDS_MAX];
    uint64_t fingerprint;
    char *notes;              /* this shard's notes so far ('\n'-separated), e.g. skipped images */
    size_t notes_len, notes_count;
} cli_shards;

/* 64-bit FNV-1a, to fingerprint a run (options + inputs): progress from another run is refused. */
uint64_t cli_fnv1a(uint64_t h, const void *p, size_t n);
#define CLI_FNV_INIT 0xcbf29ce484222325ULL

/* Collective. Sets up this rank's shard of n rows; with resume, picks up the
 * progress an earlier run with the same fingerprint left (s->done rows), else
 * starts the shard afresh. Returns 0, or prints why and returns nonzero on every rank. */
int cli_shards_open(cli_shards *s, const char *cmd, const char *out, size_t n, int nt, const cli_rowtensor *t,
                    uint64_t fingerprint, int resume);
/* Not collective: the next `rows` rows of this shard (data[i]: rows * t[i].row_bytes
 * bytes) and their notes (lines, or NULL), made durable before the progress says so. */
int cli_shards_append(cli_shards *s, size_t rows, const void *const *data, const char *notes, size_t n_notes);
/* Collective: every shard's notes, in row order, on rank 0 (*all malloc'd, NULL elsewhere). */
int cli_shards_notes(cli_shards *s, char **all, size_t *count);
/* Collective. layout (rank 0; NULL elsewhere): the output's writer with the per-row
 * tensors reserved under the names in t (other tensors are written by rank 0 from
 * the writer). ok = 0 on a rank makes every rank fail. Writes OUT, then removes
 * the shard files. Returns 0 on success on every rank. */
int cli_shards_write(cli_shards *s, mmf_st_writer *layout, int ok);
void cli_shards_close(cli_shards *s);
#endif
