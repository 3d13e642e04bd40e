/* The encoder folders a trained model keeps per modality (`--encoder NAME=DIR`),
 * shared by `mmfuse caption` and `mmfuse vqa`: recorded at train time, used (or
 * overridden) by `run` to embed one sample the way the training rows were. */
#ifndef MMF_CLI_ENCODERS_H
#define MMF_CLI_ENCODERS_H
#include <stdint.h>
#include "cli.h"

#define CLI_MAX_ENCODERS 16

typedef struct cli_encoders {
    const char *spec[CLI_MAX_ENCODERS];   /* "NAME=DIR" as given */
    int n;
} cli_encoders;

/* Keeps one --encoder value. Returns 0, or a usage exit code past the limit. */
int cli_encoders_add(const char *cmd, cli_encoders *e, const char *spec);
/* The folder for modality NAME: the last override that names it, else RECORDED. */
const char *cli_encoders_dir(const cli_encoders *e, const char *name, const char *recorded);
/* Records every NAME=DIR in the model through set(model, NAME, DIR). Returns 0,
 * or an exit code after printing why (a spec without '=' is a usage error). */
typedef mmf_status (*cli_set_encoder_fn)(void *model, const char *name, const char *dir);
int cli_encoders_record(const char *cmd, const cli_encoders *e, cli_set_encoder_fn set, void *model);
/* Then, for each modality of the training file TRAIN that no --encoder names,
 * the folder TRAIN says embedded it (mmf_embfile_encoder), if any: a model
 * trained on `mmfuse embed --records` output needs no --encoder flags. */
int cli_encoders_record_from(const char *cmd, const cli_encoders *e, const mmf_embfile *train, cli_set_encoder_fn set,
                             void *model);

/* One sample given to `run`, and the words its messages use. */
typedef struct cli_sample {
    const char *image, *text;   /* NULL: not given */
    const char *text_noun;      /* "text", "question": "cannot embed the question" */
    const char *model_noun;     /* "captioner", "model": "the model's modality ..." */
    int n_threads;
    mmf_precision precision;    /* of the encoders (--precision) */
} cli_sample;

/* Embeds the sample for the model's modality NAME (DIM floats) with the encoder
 * folder DIR. A text-only encoder takes the text, an image-only one the image;
 * a two-tower folder (CLIP) takes the text when name_says_text. *out is
 * malloc'd, or NULL when that input was not given; *is_text says which input it
 * was. Returns 0, or an exit code after printing why. */
int cli_sample_embed(const char *cmd, const cli_sample *in, const char *name, int name_says_text, int64_t dim,
                     const char *dir, float **out, int *is_text);
#endif
