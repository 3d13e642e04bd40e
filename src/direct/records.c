/* JSONL records for the from-scratch models (records.h). */
#include "direct/records.h"
#include "core/error.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mmf_records_free(mmf_records *rs) {
    if (!rs) return;
    for (size_t i = 0; i < rs->n; i++) {
        free(rs->r[i].id); free(rs->r[i].text); free(rs->r[i].image); free(rs->r[i].label);
        for (int k = 0; k < rs->r[i].n_tags; k++) free(rs->r[i].tags[k]);
        free(rs->r[i].tags);
    }
    free(rs->r);
    free(rs->path);
    memset(rs, 0, sizeof *rs);
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* The records through the one JSONL reader (mmf_recfile); what the
 * from-scratch models take of them: string ids and labels, the text, the
 * image path and the tags. */
mmf_status mmf_records_load(const char *path, const char *label_field, mmf_records *out) {
    memset(out, 0, sizeof *out);
    mmf_recfile_params p = mmf_recfile_params_default();
    p.label_field = label_field ? label_field : "label";
    mmf_recfile *f;
    MMF_TRY(mmf_recfile_load(path, &p, &f));
    size_t n = mmf_recfile_count(f);
    mmf_status s = n ? MMF_OK : mmf_fail(MMF_ERR_FORMAT, "%s: no records", path);
    if (!s && !(out->r = calloc(n, sizeof *out->r))) s = mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; !s && i < n; i++) {
        mmf_record *r = &out->r[out->n++];
        const char *id, *label;
        mmf_recfile_id(f, i, &id, NULL);
        mmf_recfile_label(f, i, &label, NULL);
        const char *const *tags;
        int nt = mmf_recfile_tags(f, i, &tags);
        r->id = dup_or_null(id);
        r->label = dup_or_null(label);
        r->text = dup_or_null(mmf_recfile_text(f, i));
        r->image = dup_or_null(mmf_recfile_image(f, i));
        if (nt && !(r->tags = calloc((size_t)nt, sizeof *r->tags))) s = mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", path);
        for (int k = 0; !s && k < nt; k++)
            if ((r->tags[r->n_tags++] = strdup(tags[k])) == NULL) s = mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", path);
    }
    mmf_recfile_free(f);
    if (!s && !(out->path = strdup(path))) s = mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", path);
    if (s) mmf_records_free(out);
    return s;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

mmf_status mmf_records_label_set(const mmf_records *rs, const char ***labels, int *n) {
    const char **l = malloc((rs->n + 1) * sizeof *l);
    if (!l) return mmf_fail(MMF_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < rs->n; i++) if (rs->r[i].label) l[k++] = rs->r[i].label;
    qsort(l, k, sizeof *l, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < k; i++) if (u == 0 || strcmp(l[u - 1], l[i])) l[u++] = l[i];
    *labels = l;
    *n = (int)u;
    return MMF_OK;
}

int mmf_label_index(const char *const *labels, int n, const char *label) {
    if (!label) return -1;
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(labels[mid], label);
        if (!c) return mid;
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
}
