/* JSONL records for `mmfuse embed --records` and the captions / answers
 * files: one object a line with a text, an image path (relative to the
 * records file) and a label, each optional. The lines are read by the
 * library's records reader (mmf_recfile_parse); what stays here is the CLI's
 * part: class names to ids (--classes) and ids from strings (--id-field). */
#ifndef MMF_CLI_RECORDS_H
#define MMF_CLI_RECORDS_H
#include <stddef.h>
#include <stdint.h>

typedef struct cli_records {
    size_t n;
    char **text;       /* [n] UTF-8, NULL = absent (field missing, null or "") */
    char **image;      /* [n] path resolved against the records file's folder, NULL = absent */
    int64_t *labels;   /* [n] class ids, or NULL when no record has the label field */
    int64_t *ids;      /* [n] */
    int64_t n_classes; /* classes known from --classes (0 = ids taken as given) */
    char *label_names; /* comma-separated class names, or NULL (also NULL if a name has a comma) */
} cli_records;

typedef struct cli_records_opts {
    const char *path;         /* the JSONL file */
    const char *text_field;   /* "text"; a string or an array of strings (joined by spaces) */
    const char *image_field;  /* "image"; NULL = no images */
    const char *label_field;  /* "label"; NULL = no labels */
    const char *id_field;     /* NULL = row numbers; else an integer, or a string hashed (FNV-1a 64, 63 bits) */
    const char *classes;      /* JSON file: an array of names, or an object holding one under classes_key;
                                 NULL = classes.json beside the records when it exists */
    const char *classes_key;  /* NULL = "<label_field>s", and "subgroups" for "label" */
} cli_records_opts;

/* Returns an exit code; errors name the file, the line and the field. */
int cli_records_load(const char *cmd, const cli_records_opts *o, cli_records *out);
void cli_records_free(cli_records *r);
/* The id a string gets with --id-field (documented in docs/embedding-file.md). */
int64_t cli_records_hash_id(const char *s);
#endif
