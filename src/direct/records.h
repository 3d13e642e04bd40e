/* JSONL records for the from-scratch models, read by the library's one
 * records reader (mmf_recfile, mmfuse.h): "id" and the label field (default
 * "label") as strings, "text", "image" (a path relative to the JSONL file's
 * folder) and "tags" (keywords). Unknown fields are ignored; a missing field
 * leaves NULL (the callers decide what is required). */
#ifndef MMF_DIRECT_RECORDS_H
#define MMF_DIRECT_RECORDS_H
#include <stddef.h>
#include "mmfuse.h"

typedef struct mmf_record {
    char *id, *text, *image, *label;   /* image: resolved path */
    char **tags;                       /* "tags": keyword strings (an array, or one string), NULL if absent */
    int n_tags;
} mmf_record;

typedef struct mmf_records {
    mmf_record *r;
    size_t n;
    char *path;
} mmf_records;

/* label_field NULL = "label". Errors name the file and the line. */
mmf_status mmf_records_load(const char *path, const char *label_field, mmf_records *out);
void mmf_records_free(mmf_records *rs);

/* Sorted unique labels of the records that have one (malloc'd array of
 * pointers into rs; free the array only). */
mmf_status mmf_records_label_set(const mmf_records *rs, const char ***labels, int *n);
/* Index of `label` in a sorted label set, or -1. */
int mmf_label_index(const char *const *labels, int n, const char *label);
#endif
