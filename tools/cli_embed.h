/* `mmfuse embed` internals shared by tools/cmd_embed.c (one process) and
 * tools/cli_embed_shards.c (row shards: under mpirun, or --resume). */
#ifndef MMF_CLI_EMBED_H
#define MMF_CLI_EMBED_H
#include <limits.h>
#include <stddef.h>
#include "mmfuse.h"
#include "cli_records.h"
#include "cli_failures.h"

typedef struct embed_opts {
    const char *model, *text_file, *out, *image_list;
    const char *records, *text_model, *image_model;
    cli_records_opts rec;
    int skip_bad;
    mmf_pooling pooling;
    int normalize;
    long batch, threads, max_len;
    mmf_precision precision;
    int resume;          /* --resume: pick up the progress in OUT.parts/ */
    long chunk;          /* rows between progress records (sharded runs) */
    int argc;            /* the command line, for the run's fingerprint */
    char **argv;
} embed_opts;

/* --records: the records and one encoder per modality */
typedef struct embed_rec {
    cli_records r;
    mmf_encoder *enc[2];   /* text, image (NULL: modality not written) */
    const char *dirs[2];
    int M, col[2];         /* modalities written; column of each in the mask (-1: none) */
    int64_t dims[2];
} embed_rec;

int embed_rec_open(const embed_opts *o, embed_rec *er);
void embed_rec_close(embed_rec *er);
/* Records [lo, hi): data[m] (hi-lo, dims[m]) zero where absent, mask (hi-lo, M);
 * present/failed counts are added to. Returns an exit code. */
int embed_rec_rows(const embed_opts *o, embed_rec *er, size_t lo, size_t hi, float *data[2], uint8_t *mask,
                   size_t present[2], size_t failed[2], cli_failures *fl);
void embed_rec_report(const embed_rec *er, const size_t present[2], const size_t failed[2]);
void embed_rec_spec(const embed_rec *er, float *const data[2], const uint8_t *mask, char absdir[2][PATH_MAX],
                    const char *wn[2], const char *wenc[2], const float *wd[2], int64_t wdim[2], mmf_embfile_spec *sp);

/* The sharded run of every input kind; returns an exit code (the same on every rank). */
int embed_sharded(const embed_opts *o);
#endif
