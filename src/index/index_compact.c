/* Compaction: a fresh index of the live items only, swapped into the caller's
 * handle. A tombstone costs a slot in every array and a node the HNSW walk
 * still has to step through; rebuilding the graph over the survivors (in slot
 * order, same parameters) gives exactly what a new index built from them would
 * be, which no in-place unlinking of deleted nodes guarantees. Ids, names,
 * payloads, provenance and the next automatic id are kept. */
#include "index/index_internal.h"
#include "core/error.h"
#include <stdlib.h>
#include <string.h>

mmf_status mmf_index_compact(mmf_index *ix) {
    if (!ix) return mmf_fail(MMF_ERR_ARG, "index compact: NULL index");
    if (ix->n_deleted == 0) return MMF_OK;
    size_t live = ix->n - ix->n_deleted, d = (size_t)ix->dim;
    mmf_index_params p = {ix->kind, ix->metric, ix->quant, ix->M, ix->ef_construction, ix->ef_search, ix->seed, ix->n_threads};
    mmf_index *nx = NULL;
    float *vecs = malloc((live ? live : 1) * d * sizeof *vecs);
    int64_t *ids = malloc((live ? live : 1) * sizeof *ids);
    const char **names = calloc(live ? live : 1, sizeof *names), **pays = calloc(live ? live : 1, sizeof *pays);
    mmf_status s = MMF_OK;
    if (!vecs || !ids || !names || !pays) { s = mmf_fail(MMF_ERR_NOMEM, "index compact: out of memory for %zu items", live); goto done; }
    size_t j = 0;
    for (size_t i = 0; i < ix->n; i++) {
        if (ix->deleted[i]) continue;
        /* stored COSINE vectors are already unit length: normalising again
         * moves them by at most an ulp */
        memcpy(vecs + j * d, ix->vecs + i * d, d * sizeof *vecs);
        ids[j] = ix->ids[i];
        if (i < ix->str_cap) { names[j] = ix->names[i]; pays[j] = ix->payloads[i]; }
        j++;
    }
    s = mmf_index_new(ix->dim, &p, &nx);
    if (!s) s = mmf_index_add_named(nx, live, vecs, ids, ix->str_cap ? names : NULL, ix->str_cap ? pays : NULL);
    if (!s) s = mmf_index_set_source(nx, ix->model_id, ix->tensor);
    if (s) goto done;
    if (nx->next_id < ix->next_id) nx->next_id = ix->next_id;   /* deleted ids are not handed out again */
    /* swap the contents; each handle keeps its own lock and visited pool */
    mmf_index old = *ix;
    *ix = *nx;
    ix->pool_lock = old.pool_lock; ix->pool = old.pool; ix->pool_n = old.pool_n; ix->pool_cap = old.pool_cap;
    mmf_index fresh = *nx;
    *nx = old;
    nx->pool_lock = fresh.pool_lock; nx->pool = fresh.pool; nx->pool_n = fresh.pool_n; nx->pool_cap = fresh.pool_cap;
done:
    mmf_index_free(nx);   /* the old contents on success, the half-built index on failure */
    free(vecs); free(ids); free(names); free(pays);
    return s;
}
