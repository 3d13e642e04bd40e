/* See cli_texts.h. */
#include "cli_texts.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

typedef struct idrow { int64_t id; size_t row; } idrow;
static int idrow_cmp(const void *a, const void *b) {
    const idrow *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

void cli_texts_free(cli_texts *t) {
    cli_records_free(&t->rec);
    free(t->texts);
    free(t->off);
    memset(t, 0, sizeof *t);
}

int cli_texts_load(const char *cmd, const mmf_embfile *f, const char *jsonl, const char *field, const char *id_field,
                   cli_texts *out) {
    memset(out, 0, sizeof *out);
    cli_records_opts o = {.path = jsonl, .text_field = field, .image_field = NULL, .label_field = NULL,
                          .id_field = id_field};
    int rc = cli_records_load(cmd, &o, &out->rec);
    if (rc) return rc;
    size_t N = (size_t)mmf_embfile_rows(f), n = out->rec.n;
    const int64_t *fid = mmf_embfile_ids(f);
    idrow *map = malloc((N ? N : 1) * sizeof *map);
    size_t *row_of = malloc((n ? n : 1) * sizeof *row_of);
    out->off = calloc(N + 1, sizeof *out->off);
    out->texts = malloc((n ? n : 1) * sizeof *out->texts);
    out->n_rows = N;
    if (!map || !row_of || !out->off || !out->texts) {
        free(map); free(row_of); cli_texts_free(out);
        fprintf(stderr, "mmfuse %s: out of memory\n", cmd);
        return MMF_EXIT_FAIL;
    }
    for (size_t i = 0; i < N; i++) map[i] = (idrow){fid ? fid[i] : (int64_t)i, i};
    qsort(map, N, sizeof *map, idrow_cmp);
    for (size_t i = 1; i < N; i++)
        if (map[i].id == map[i - 1].id) {
            fprintf(stderr, "mmfuse %s: error: %s: id %lld is on rows %zu and %zu; captions cannot be joined\n", cmd,
                    mmf_embfile_path(f), (long long)map[i].id, map[i - 1].row, map[i].row);
            free(map); free(row_of); cli_texts_free(out);
            return MMF_EXIT_FAIL;
        }
    size_t unmatched = 0, empty = 0;
    for (size_t j = 0; j < n; j++) {
        row_of[j] = (size_t)-1;
        if (!out->rec.text[j]) { empty++; continue; }
        idrow key = {out->rec.ids[j], 0};
        size_t lo = 0, hi = N;
        while (lo < hi) { size_t mid = (lo + hi) / 2; if (map[mid].id < key.id) lo = mid + 1; else hi = mid; }
        if (lo < N && map[lo].id == key.id) { row_of[j] = map[lo].row; out->off[map[lo].row + 1]++; }
        else unmatched++;
    }
    for (size_t i = 0; i < N; i++) out->off[i + 1] += out->off[i];
    size_t *fill = calloc(N + 1, sizeof *fill);
    if (!fill) { free(map); free(row_of); cli_texts_free(out); return MMF_EXIT_FAIL; }
    for (size_t j = 0; j < n; j++)
        if (row_of[j] != (size_t)-1) out->texts[out->off[row_of[j]] + fill[row_of[j]]++] = out->rec.text[j];
    free(fill);
    free(map);
    free(row_of);
    if (unmatched)
        fprintf(stderr, "mmfuse %s: notice: %zu record%s of %s %s no row in %s (ignored)\n", cmd, unmatched,
                unmatched == 1 ? "" : "s", jsonl, unmatched == 1 ? "matches" : "match", mmf_embfile_path(f));
    if (empty)
        fprintf(stderr, "mmfuse %s: notice: %zu record%s of %s %s no \"%s\" (ignored)\n", cmd, empty, empty == 1 ? "" : "s",
                jsonl, empty == 1 ? "has" : "have", field);
    if (out->off[N] == 0) {
        fprintf(stderr, "mmfuse %s: error: no record of %s joins a row of %s (ids: %s; --id-field %s)\n", cmd, jsonl,
                mmf_embfile_path(f), fid ? "the file's \"ids\"" : "row numbers", id_field ? id_field : "unset = line numbers");
        cli_texts_free(out);
        return MMF_EXIT_FAIL;
    }
    return MMF_EXIT_OK;
}
