/* Sharded checkpoints: model.safetensors.index.json names, for every tensor,
 * the shard file (beside the index) that holds it. We open each shard once
 * and present one merged table. */
#include "io/safetensors_internal.h"
#include "core/error.h"
#include "io/json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *sibling_path(const char *index_path, const char *file) {
    const char *slash = strrchr(index_path, '/');
    size_t dir = slash ? (size_t)(slash - index_path + 1) : 0;
    size_t n = dir + strlen(file) + 1;
    char *p = malloc(n);
    if (p) { memcpy(p, index_path, dir); strcpy(p + dir, file); }
    return p;
}

static mmf_status open_shards(mmf_safetensors *st, const cJSON *wm, const char *path) {
    size_t cap = (size_t)cJSON_GetArraySize(wm);
    st->shards = calloc(cap ? cap : 1, sizeof *st->shards);
    char **names = calloc(cap ? cap : 1, sizeof *names);
    if (!st->shards || !names) { free(names); return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", path); }
    mmf_status s = MMF_OK;
    for (const cJSON *m = wm->child; m && !s; m = m->next) {
        if (!cJSON_IsString(m)) { s = mmf_fail(MMF_ERR_FORMAT, "%s: weight_map[\"%s\"] should be a file name", path, m->string); break; }
        const char *f = m->valuestring;
        /* a plain name beside the index: no folders, and no other index
         * (which would let an index open itself, endlessly) */
        size_t fl = strlen(f);
        if (strchr(f, '/') || strcmp(f, "..") == 0 || strcmp(f, ".") == 0 || f[0] == 0 ||
            (fl >= 11 && strcmp(f + fl - 11, ".index.json") == 0)) {
            s = mmf_fail(MMF_ERR_FORMAT, "%s: weight_map[\"%s\"] = \"%s\" is not a plain shard file name beside the index", path, m->string, f);
            break;
        }
        size_t k = 0;
        while (k < st->n_shards && strcmp(names[k], f) != 0) k++;
        if (k == st->n_shards) {
            char *sp = sibling_path(path, f);
            if (!sp) { s = mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", path); break; }
            s = mmf_st_open(sp, &st->shards[k]);
            free(sp);
            if (s) { s = mmf_fail_wrap(s, "%s: shard \"%s\"", path, f); break; }
            names[k] = (char *)f;
            st->n_shards++;
        }
        if (!mmf_st_find(st->shards[k], m->string))
            s = mmf_fail(MMF_ERR_FORMAT, "%s: weight_map puts \"%s\" in %s, which has no such tensor", path, m->string, f);
    }
    free(names);
    return s;
}

mmf_status mmf_st_open_sharded(const char *path, mmf_safetensors **out) {
    cJSON *root;
    mmf_status s = mmf_json_load(path, &root);
    if (s) return s;
    mmf_safetensors *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path))) { free(st); cJSON_Delete(root); return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", path); }
    const cJSON *wm = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    if (!cJSON_IsObject(wm)) s = mmf_fail(MMF_ERR_FORMAT, "%s: missing object field \"weight_map\"", path);
    if (!s) s = open_shards(st, wm, path);
    cJSON_Delete(root);
    size_t total = 0;
    for (size_t i = 0; !s && i < st->n_shards; i++) total += st->shards[i]->n;
    if (!s && !(st->entries = calloc(total ? total : 1, sizeof *st->entries)))
        s = mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; !s && i < st->n_shards; i++) {
        for (size_t j = 0; j < st->shards[i]->n; j++) {
            mmf_st_entry *e = &st->entries[st->n];
            *e = st->shards[i]->entries[j];
            if (!(e->info.name = strdup(e->info.name))) { s = mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", path); break; }
            st->n++;
        }
    }
    if (!s) s = mmf_st_build_index(st, path);
    if (s) { mmf_st_close(st); return s; }
    *out = st;
    return MMF_OK;
}
