/* POST /v1/classify of `mmfuse serve`: a fusion head (--head, a classify head
 * trained by `mmfuse train`) over the request's text and/or image. Each present
 * modality is embedded as `mmfuse embed` writes it, the row goes through
 * mmf_head_predict as one row of an in-memory embedding file with the absent
 * modality masked, exactly as `mmfuse eval --predictions` runs a file. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli_serve.h"

/* The encoder that makes a head modality's vectors: "text" or "image". */
static mmf_encoder *encoder_for(serve_ctx *c, const char *name) {
    return !strcmp(name, "text") ? c->text : !strcmp(name, "image") ? c->image : NULL;
}

int serve_head_check(serve_ctx *c, char *err, size_t cap) {
    if (mmf_head_task(c->head) != MMF_TASK_CLASSIFY) {
        snprintf(err, cap, "the head is not a classify head (it is a %s head); /v1/classify needs one",
                 mmf_head_fusion(c->head));
        return 0;
    }
    if (mmf_head_n_modalities(c->head) > 2) {
        snprintf(err, cap, "the head takes %d modalities; /v1/classify serves heads over text and image",
                 mmf_head_n_modalities(c->head));
        return 0;
    }
    for (int m = 0; m < mmf_head_n_modalities(c->head); m++) {
        const char *name = mmf_head_modality(c->head, m);
        mmf_encoder *e = encoder_for(c, name);
        if (!e) {
            snprintf(err, cap, "the head's modality \"%s\" has no encoder here: give --%s-model (heads over "
                               "\"text\" and \"image\" columns, as `mmfuse embed --records` writes them)", name,
                     !strcmp(name, "image") ? "image" : "text");
            return 0;
        }
        if (mmf_encoder_dim(e) != mmf_head_dim(c->head, m)) {
            snprintf(err, cap, "the head takes %s vectors of dimension %lld; the %s model gives %d", name,
                     (long long)mmf_head_dim(c->head, m), name, mmf_encoder_dim(e));
            return 0;
        }
    }
    return 1;
}

void serve_classify(serve_ctx *c, const char *body, size_t len, serve_reply *r) {
    if (!c->head) { serve_error(r, 404, NULL, "this server has no fusion head: start it with --head FILE"); return; }
    cJSON *j = serve_parse_body(body, len, r);
    if (!j) return;
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(j, "text"), *image = cJSON_GetObjectItemCaseSensitive(j, "image"),
                *top = cJSON_GetObjectItemCaseSensitive(j, "top");
    int M = mmf_head_n_modalities(c->head);
    int64_t C = mmf_head_out_dim(c->head);
    float *vec[2] = {NULL, NULL}, *out = NULL;
    const float *data[2] = {NULL, NULL};
    const char *names[2];
    int64_t dims[2];
    uint8_t mask[2] = {0, 0};
    mmf_embfile *f = NULL;
    int k = 5, present = 0;
    if (text && !cJSON_IsNull(text) && !cJSON_IsString(text)) { serve_error(r, 400, "text", "\"text\" must be a string"); goto out; }
    if (image && !cJSON_IsNull(image) && !cJSON_IsString(image)) {
        serve_error(r, 400, "image", "\"image\" must be base64 or a data URL");
        goto out;
    }
    if (top && (!cJSON_IsNumber(top) || top->valuedouble != floor(top->valuedouble) || top->valuedouble < 1 ||
                top->valuedouble > 1000)) {
        serve_error(r, 400, "top", "\"top\" must be an integer from 1 to 1000");
        goto out;
    }
    if (top) k = (int)top->valuedouble;
    if (k > C) k = (int)C;
    for (int m = 0; m < M; m++) {
        names[m] = mmf_head_modality(c->head, m);
        dims[m] = mmf_head_dim(c->head, m);
        const cJSON *v = !strcmp(names[m], "text") ? text : image;
        if (v && cJSON_IsString(v)) {
            int D = 0;
            if (!serve_embed_one(c, !strcmp(names[m], "text") ? v->valuestring : NULL,
                                 !strcmp(names[m], "text") ? NULL : v->valuestring, names[m], &vec[m], &D, r))
                goto out;
            mask[m] = 1;
            present++;
            data[m] = vec[m];
        } else {
            vec[m] = calloc((size_t)dims[m], sizeof(float));   /* absent: any finite values, masked */
            if (!vec[m]) { serve_error(r, 500, NULL, "out of memory"); goto out; }
            data[m] = vec[m];
        }
    }
    if (!present) {
        serve_error(r, 400, NULL, "give \"text\" and/or \"image\" (the head's modalities: %s%s%s)", names[0],
                    M > 1 ? ", " : "", M > 1 ? names[1] : "");
        goto out;
    }
    mmf_embfile_spec sp = {.n_rows = 1, .n_modalities = M, .names = names, .dims = dims, .data = data, .mask = mask};
    out = malloc((size_t)C * sizeof(float));
    if (!out) { serve_error(r, 500, NULL, "out of memory"); goto out; }
    mmf_status s = mmf_embfile_from_spec(&sp, "the request", &f);
    mmf_eval_opts o = mmf_eval_opts_default();
    o.n_threads = 1;
    if (!s) {
        pthread_mutex_lock(&c->head_mu);
        s = mmf_head_predict(c->head, f, &o, NULL, out);
        pthread_mutex_unlock(&c->head_mu);
    }
    if (s) { serve_error(r, 500, NULL, "the head failed: %s", mmf_last_error()); goto out; }
    /* softmax over the head's logits; the top k classes by score, ties to the lower id (as eval --predictions) */
    double mx = out[0], sum = 0;
    for (int64_t i = 1; i < C; i++) mx = out[i] > mx ? out[i] : mx;
    for (int64_t i = 0; i < C; i++) sum += exp((double)out[i] - mx);
    cJSON *res = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(res, "top");
    int64_t *chosen = malloc((size_t)k * sizeof(int64_t));
    if (!chosen) { cJSON_Delete(res); serve_error(r, 500, NULL, "out of memory"); goto out; }
    for (int t = 0; t < k; t++) {
        int64_t best = -1;
        for (int64_t i = 0; i < C; i++) {
            int used = 0;
            for (int u = 0; u < t; u++) used |= chosen[u] == i;
            if (!used && (best < 0 || out[i] > out[best])) best = i;
        }
        chosen[t] = best;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "class", (double)best);
        cJSON_AddNumberToObject(e, "probability", exp((double)out[best] - mx) / sum);
        cJSON_AddNumberToObject(e, "logit", out[best]);
        cJSON_AddItemToArray(arr, e);
    }
    cJSON_AddNumberToObject(res, "class", (double)chosen[0]);
    free(chosen);
    cJSON *used = cJSON_AddArrayToObject(res, "modalities");
    for (int m = 0; m < M; m++)
        if (mask[m]) cJSON_AddItemToArray(used, cJSON_CreateString(names[m]));
    cJSON_AddStringToObject(res, "fusion", mmf_head_fusion(c->head));
    char *txt = cJSON_PrintUnformatted(res);
    cJSON_Delete(res);
    if (!txt) { serve_error(r, 500, NULL, "out of memory"); goto out; }
    free(r->body);
    r->status = 200;
    r->body = txt;
    r->len = strlen(txt);
    r->type = "application/json";
out:
    mmf_embfile_close(f);
    free(vec[0]);
    free(vec[1]);
    free(out);
    cJSON_Delete(j);
}
