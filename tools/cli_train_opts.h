/* The options every training subcommand shares, parsed in one place:
 *   --seed S                      a non-negative integer (default 1), every trainer
 *   --precision fp32|bf16         CLI_TRAIN_PRECISION (train, vqa train)
 *   --modality-dropout P | NAME=P,NAME=P   CLI_TRAIN_DROPOUT: hide modalities at
 *                                 random while training (train, vqa, caption)
 *   --profile                     CLI_TRAIN_PROFILE: where the training time went */
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
} cli_train_opts;

cli_train_opts cli_train_opts_make(const char *cmd, int takes);
/* 1 when argv[*i] is a shared option (parsed; a bad value prints why and sets
 * *bad), 0 when it is not one. */
int cli_train_opt(int argc, char **argv, int *i, cli_train_opts *o, int *bad);
/* --modality-dropout against the training file's modalities, into
 * md[MMF_EMB_MAX_MODALITIES] (P: every modality). 0, or the usage exit code
 * after printing why. */
int cli_train_dropout(const cli_train_opts *o, const mmf_embfile *f, float *md);
/* "gather 0.1 ms, forward ..." of phase_seconds (mmf_train_params) to stderr */
void cli_train_print_profile(const cli_train_opts *o, const double *phases);
#endif
