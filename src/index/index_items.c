/* Named items and provenance: what a search result is (a record's string id
 * and a JSON payload such as its name and image), and which model and tensor
 * the vectors came from, so that a query from another embedding space is
 * refused instead of answered with neighbours that mean nothing. */
#include "index/index_internal.h"
#include "io/json.h"
#include "core/error.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mmf_status mmf_index_strings_reserve(mmf_index *ix, size_t want) {
    if (want <= ix->str_cap) return MMF_OK;
    size_t cap = ix->str_cap ? ix->str_cap : 64;
    while (cap < want) cap = cap * 3 / 2 + 1;
    char **nn = realloc(ix->names, cap * sizeof *nn);
    if (!nn) return mmf_fail(MMF_ERR_NOMEM, "index: out of memory for item names");
    ix->names = nn;
    char **np = realloc(ix->payloads, cap * sizeof *np);
    if (!np) return mmf_fail(MMF_ERR_NOMEM, "index: out of memory for item payloads");
    ix->payloads = np;
    memset(ix->names + ix->str_cap, 0, (cap - ix->str_cap) * sizeof *nn);
    memset(ix->payloads + ix->str_cap, 0, (cap - ix->str_cap) * sizeof *np);
    ix->str_cap = cap;
    return MMF_OK;
}

void mmf_index_strings_free(mmf_index *ix) {
    for (size_t i = 0; i < ix->str_cap; i++) { free(ix->names[i]); free(ix->payloads[i]); }
    free(ix->names); free(ix->payloads);
    ix->names = ix->payloads = NULL;
    ix->str_cap = 0;
    free(ix->model_id); free(ix->tensor);
    ix->model_id = ix->tensor = NULL;
}

mmf_status mmf_index_check_string(const char *s, size_t len, size_t max, int json, const char *what, const char *where) {
    if (len == 0) return mmf_fail(MMF_ERR_ARG, "%s: empty %s (give none instead)", where, what);
    if (len > max) return mmf_fail(MMF_ERR_ARG, "%s: %s of %zu bytes, at most %zu allowed", where, what, len, max);
    if (memchr(s, 0, len)) return mmf_fail(MMF_ERR_ARG, "%s: %s holds a NUL byte", where, what);
    if (!mmf_utf8_valid(s, len)) return mmf_fail(MMF_ERR_ARG, "%s: %s is not valid UTF-8", where, what);
    if (json) {
        cJSON *j;
        mmf_status st = mmf_json_parse(s, len, what, &j);
        if (st) return mmf_fail_wrap(MMF_ERR_ARG, "%s: %s is not one JSON value", where, what);
        cJSON_Delete(j);
    }
    return MMF_OK;
}

static char *dup_n(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static mmf_status check_item(const char *name, const char *payload, size_t i) {
    char where[64];
    snprintf(where, sizeof where, "index item %zu", i);
    mmf_status s = MMF_OK;
    if (name) s = mmf_index_check_string(name, strlen(name), MMF_INDEX_NAME_MAX, 0, "name", where);
    if (!s && payload) s = mmf_index_check_string(payload, strlen(payload), MMF_INDEX_PAYLOAD_MAX, 1, "payload", where);
    return s;
}

mmf_status mmf_index_add_named(mmf_index *ix, size_t n, const float *vecs, const int64_t *ids,
                               const char *const *names, const char *const *payloads) {
    if (!ix) return mmf_fail(MMF_ERR_ARG, "index add: NULL index");
    int any = 0;
    for (size_t i = 0; i < n && (names || payloads); i++) {
        const char *nm = names ? names[i] : NULL, *pl = payloads ? payloads[i] : NULL;
        mmf_status s = check_item(nm, pl, i);
        if (s) return s;
        any |= nm || pl;
    }
    /* copies and room first, so a failure leaves the index as it was */
    char **cn = NULL, **cp = NULL;
    mmf_status s = MMF_OK;
    if (any) {
        cn = calloc(n, sizeof *cn);
        cp = calloc(n, sizeof *cp);
        if (!cn || !cp) s = mmf_fail(MMF_ERR_NOMEM, "index add: out of memory for item names");
        for (size_t i = 0; i < n && !s; i++) {
            if (names && names[i] && !(cn[i] = dup_n(names[i]))) s = mmf_fail(MMF_ERR_NOMEM, "index add: out of memory");
            if (payloads && payloads[i] && !(cp[i] = dup_n(payloads[i]))) s = mmf_fail(MMF_ERR_NOMEM, "index add: out of memory");
        }
    }
    if (!s && (any || ix->str_cap)) s = mmf_index_strings_reserve(ix, ix->n + n);
    size_t from = ix->n;
    if (!s) s = mmf_index_add(ix, n, vecs, ids);
    if (!s && any)
        for (size_t i = 0; i < n; i++) {
            ix->names[from + i] = cn[i];
            ix->payloads[from + i] = cp[i];
            cn[i] = cp[i] = NULL;
        }
    if (cn) for (size_t i = 0; i < n; i++) { free(cn[i]); free(cp[i]); }
    free(cn); free(cp);
    return s;
}

static int live_slot(const mmf_index *ix, int64_t id, uint32_t *slot) {
    return ix && mmf_idmap_get(&ix->idmap, id, slot);
}

mmf_status mmf_index_set_item(mmf_index *ix, int64_t id, const char *name, const char *payload) {
    uint32_t slot;
    if (!live_slot(ix, id, &slot)) return mmf_fail(MMF_ERR_NOT_FOUND, "index: id %lld is not in the index", (long long)id);
    mmf_status s = check_item(name, payload, slot);
    if (s) return s;
    char *nm = name ? dup_n(name) : NULL, *pl = payload ? dup_n(payload) : NULL;
    if ((name && !nm) || (payload && !pl)) s = mmf_fail(MMF_ERR_NOMEM, "index: out of memory");
    if (!s) s = mmf_index_strings_reserve(ix, ix->n);
    if (s) { free(nm); free(pl); return s; }
    free(ix->names[slot]); free(ix->payloads[slot]);
    ix->names[slot] = nm;
    ix->payloads[slot] = pl;
    return MMF_OK;
}

const char *mmf_index_item_name(const mmf_index *ix, int64_t id) {
    uint32_t slot;
    return live_slot(ix, id, &slot) && slot < ix->str_cap ? ix->names[slot] : NULL;
}

const char *mmf_index_item_payload(const mmf_index *ix, int64_t id) {
    uint32_t slot;
    return live_slot(ix, id, &slot) && slot < ix->str_cap ? ix->payloads[slot] : NULL;
}

mmf_status mmf_index_find_name(const mmf_index *ix, const char *name, int64_t *id) {
    if (ix && name)
        for (size_t i = 0; i < ix->n && i < ix->str_cap; i++)
            if (!ix->deleted[i] && ix->names[i] && !strcmp(ix->names[i], name)) { *id = ix->ids[i]; return MMF_OK; }
    return mmf_fail(MMF_ERR_NOT_FOUND, "index: no item named \"%s\"", name ? name : "(null)");
}

mmf_status mmf_index_set_source(mmf_index *ix, const char *model_id, const char *tensor) {
    if (!ix) return mmf_fail(MMF_ERR_ARG, "index: NULL index");
    mmf_status s = MMF_OK;
    if (model_id) s = mmf_index_check_string(model_id, strlen(model_id), MMF_INDEX_SOURCE_MAX, 0, "model id", "index source");
    if (!s && tensor) s = mmf_index_check_string(tensor, strlen(tensor), MMF_INDEX_SOURCE_MAX, 0, "tensor name", "index source");
    if (s) return s;
    char *m = model_id ? dup_n(model_id) : NULL, *t = tensor ? dup_n(tensor) : NULL;
    if ((model_id && !m) || (tensor && !t)) { free(m); free(t); return mmf_fail(MMF_ERR_NOMEM, "index: out of memory"); }
    free(ix->model_id); free(ix->tensor);
    ix->model_id = m;
    ix->tensor = t;
    return MMF_OK;
}

void mmf_index_get_source(const mmf_index *ix, const char **model_id, const char **tensor) {
    if (model_id) *model_id = ix ? ix->model_id : NULL;
    if (tensor) *tensor = ix ? ix->tensor : NULL;
}

mmf_status mmf_index_check_query(const mmf_index *ix, const char *model_id, int dim) {
    if (!ix) return mmf_fail(MMF_ERR_ARG, "index: NULL index");
    const char *im = ix->model_id ? ix->model_id : "an unrecorded model", *it = ix->tensor ? ix->tensor : "?";
    if (dim != ix->dim)
        return mmf_fail(MMF_ERR_ARG, "the query has dimension %d, the index holds %d-dimensional vectors (tensor \"%s\" of %s)",
                        dim, ix->dim, it, im);
    if (model_id && ix->model_id && strcmp(model_id, ix->model_id))
        return mmf_fail(MMF_ERR_ARG, "the query was embedded by model %s, the index holds vectors of model %s (tensor \"%s\"): "
                        "their embedding spaces differ, so embed the query with the index's model", model_id, ix->model_id, it);
    return MMF_OK;
}
