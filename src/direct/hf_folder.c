#include "direct/hf_folder.h"
#include "core/error.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cJSON *mmf_hf_config_new(const char *model_type, const char *architecture) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model_type", model_type);
    cJSON *arch = cJSON_AddArrayToObject(o, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString(architecture));
    return o;
}

mmf_status mmf_hf_write_json(const char *dir, const char *name, const cJSON *o) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *txt = o ? cJSON_Print(o) : NULL;
    if (!txt) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", path);
    size_t n = strlen(txt);
    char *t2 = realloc(txt, n + 2);
    if (t2) { txt = t2; txt[n++] = '\n'; txt[n] = 0; }
    mmf_status s = mmf_write_file_atomic(path, txt, n);
    free(txt);
    return s;
}

void mmf_hf_add_id2label(cJSON *config, const char *const *labels, int n) {
    if (!labels || n <= 0) return;
    cJSON *id2 = cJSON_AddObjectToObject(config, "id2label");
    for (int i = 0; i < n; i++) {
        char k[16];
        snprintf(k, sizeof k, "%d", i);
        cJSON_AddStringToObject(id2, k, labels[i]);
    }
}

mmf_status mmf_hf_model_begin(const mmf_params *ps, mmf_st_writer **out) {
    mmf_st_writer *w = *out = mmf_st_writer_new();
    if (!w) return mmf_fail(MMF_ERR_NOMEM, "out of memory");
    mmf_status s = mmf_st_writer_meta(w, "format", "pt");
    for (int i = 0; !s && i < ps->n; i++) {
        const mmf_param_info *p = &ps->p[i];
        s = mmf_st_writer_add(w, p->name, MMF_DT_F32, p->ndim, p->shape, ps->data + p->offset);
    }
    return s;
}

mmf_status mmf_hf_model_finish(mmf_st_writer *w, mmf_status s, const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!s) s = mmf_st_writer_finish(w, path);
    mmf_st_writer_free(w);
    return s;
}
