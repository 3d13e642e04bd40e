/* The options every training subcommand shares, parsed in one place:
 *   --seed S                      a non-negative integer (default 1), every trainer
 *   --precision fp32|bf16         CLI_TRAIN_PRECISION (train, vqa train)
 *   --modality-dropout P | NAME=P,NAME=P   CLI_TRAIN_DROPOUT: hide modalities at
 *                                 random while training (train, vqa, caption)
 *   --profile                     CLI_TRAIN_PROFILE: where the training time went
 *   --checkpoint FILE, --checkpoint-every N, --resume
 *                                 every trainer: checkpoints and restart
 *                                 (cli_train_ckpt.c) */
#ifndef MMF_CLI_TRAIN_OPTS_H
#define MMF_CLI_TRAIN_OPTS_H
#include <stdint.h>
#include "mmfuse.h"

enum { CLI_TRAIN_PRECISION = 1, CLI_TRAIN_DROPOUT = 2, CLI_TRAIN_PROFILE = 4, CLI_TRAIN_ALL = 7 };

typedef struct cli_train_opts {
    const char *cmd;                /* for messages ("train", "vqa") */
    int takes;                      /* CLI_TRAIN_* bits: the options besides --seed this command takes */
    uint64_t seed;
    mmf_precision precision;
    const char *modality_dropout;   /* as given; cli_train_dropout resolves it */
    int profile;
    const char *checkpoint;         /* --checkpoint FILE, or NULL */
    int64_t checkpoint_every;       /* --checkpoint-every N (0 = each epoch) */
    int resume;                     /* --resume */
    int written;                    /* checkpoints written so far (the test hook) */
    char setup[16384];              /* the lines a resume must match (cli_train_checkpoint) */
} cli_train_opts;

/* The checkpoint options' help, for each training command's --help. */
#define CLI_TRAIN_CHECKPOINT_HELP \
    "  --checkpoint FILE       make the run resumable: after each epoch, write its\n" \
    "                          whole state to FILE (weights, optimiser moments and\n" \
    "                          step, generators, position, best epoch so far),\n" \
    "                          atomically: a crash leaves the previous one. An\n" \
    "                          existing FILE is refused unless --resume is given\n" \
    "  --checkpoint-every N    write it every N steps instead [0 = each epoch]\n" \
    "  --resume                continue from --checkpoint FILE where it stopped;\n" \
    "                          the same data and options are required (--threads\n" \
    "                          and --out may change, the files may move); with the\n" \
    "                          same --threads the result is byte for byte the one\n" \
    "                          of an uninterrupted run\n"

cli_train_opts cli_train_opts_make(const char *cmd, int takes);
/* 1 when argv[*i] is a shared option (parsed; a bad value prints why and sets
 * *bad), 0 when it is not one. */
int cli_train_opt(int argc, char **argv, int *i, cli_train_opts *o, int *bad);
/* --modality-dropout against the training file's modalities, into
 * md[MMF_EMB_MAX_MODALITIES] (P: every modality). 0, or the usage exit code
 * after printing why. */
int cli_train_dropout(const cli_train_opts *o, const mmf_embfile *f, float *md);
/* After parsing: --checkpoint / --resume into *cp, with the setup lines a resume
 * must match: every option of argv except those that do not change the result
 * (--threads, --out, --quiet, --profile, the checkpoint options), and for each
 * option named in files (NULL-terminated) the size and a hash of the file's
 * bytes instead of its path (a moved input still resumes). On rank 0 it also
 * prints "CMD: resumed from FILE at epoch E step S". 0, or the usage exit code
 * after printing why. */
int cli_train_checkpoint(cli_train_opts *o, int argc, char **argv, const char *const *files, mmf_checkpoint_params *cp);
/* "gather 0.1 ms, forward ..." of phase_seconds (mmf_train_params) to stderr */
void cli_train_print_profile(const cli_train_opts *o, const double *phases);
#endif
