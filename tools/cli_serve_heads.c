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
#include "cli.h"
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
    mmf_eval_params o = mmf_eval_params_default();
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
    cli_top_k(out, C, k, chosen);
    for (int t = 0; t < k; t++) {
        int64_t best = chosen[t];
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

/* ------------------------------------------------ captioning and VQA */
/* A caption or VQA modality is embedded by the text model when its name says
 * text or question ("text", "question_text"), else by the image model, as
 * `mmfuse caption run` / `mmfuse vqa run` decide. */
static int names_text(const char *name) { return strstr(name, "text") || strstr(name, "question"); }

static int model_check(serve_ctx *c, const char *what, int M, const char *(*modality)(const void *, int),
                       int64_t (*dim)(const void *, int), const void *model, int (*is_bow)(const void *, int),
                       char *err, size_t cap) {
    if (M > 8) { snprintf(err, cap, "the %s takes %d modalities; at most 8", what, M); return 0; }
    for (int m = 0; m < M; m++) {
        const char *name = modality(model, m);
        if (is_bow && is_bow(model, m)) continue;   /* the question as the model's own bag of words */
        mmf_encoder *e = names_text(name) ? c->text : c->image;
        if (!e) {
            snprintf(err, cap, "the %s's modality \"%s\" needs --%s-model", what, name, names_text(name) ? "text" : "image");
            return 0;
        }
        if (mmf_encoder_dim(e) != dim(model, m)) {
            snprintf(err, cap, "the %s takes \"%s\" vectors of dimension %lld; the %s model gives %d", what, name,
                     (long long)dim(model, m), names_text(name) ? "text" : "image", mmf_encoder_dim(e));
            return 0;
        }
    }
    return 1;
}

static const char *cap_modality(const void *p, int m) { return mmf_captioner_modality(p, m); }
static int64_t cap_dim(const void *p, int m) { return mmf_captioner_dim(p, m); }
static const char *vqa_modality(const void *p, int m) { return mmf_vqa_modality(p, m); }
static int64_t vqa_dim(const void *p, int m) { return mmf_vqa_dim(p, m); }
static int vqa_is_bow(const void *p, int m) { return mmf_vqa_bow(p, m) != NULL; }

int serve_caption_check(serve_ctx *c, char *err, size_t cap) {
    return model_check(c, "captioner", mmf_captioner_n_modalities(c->captioner), cap_modality, cap_dim, c->captioner,
                       NULL, err, cap);
}

int serve_vqa_check(serve_ctx *c, char *err, size_t cap) {
    return model_check(c, "VQA model", mmf_vqa_n_modalities(c->vqa), vqa_modality, vqa_dim, c->vqa, vqa_is_bow, err, cap);
}

/* Embeds the request's text (field tfield) and image for each modality into
 * xs[m] (NULL when absent); returns the number present, -1 after an error. */
static int embed_modalities(serve_ctx *c, int M, const char *(*modality)(const void *, int), const void *model,
                            const mmf_caption_vocab *(*bow)(const void *, int), int64_t (*dim)(const void *, int),
                            const cJSON *text, const char *tfield, const cJSON *image, float **xs, serve_reply *r) {
    int present = 0;
    for (int m = 0; m < M; m++) {
        const char *name = modality(model, m);
        const mmf_caption_vocab *v = bow ? bow(model, m) : NULL;
        const cJSON *in = v || names_text(name) ? text : image;
        if (!in || !cJSON_IsString(in)) continue;
        if (v) {
            if (!(xs[m] = malloc((size_t)dim(model, m) * sizeof(float)))) { serve_error(r, 500, NULL, "out of memory"); return -1; }
            int unk = 0;
            mmf_bow_encode(v, in->valuestring, xs[m], &unk);
        } else {
            int D = 0;
            if (!serve_embed_one(c, names_text(name) ? in->valuestring : NULL, names_text(name) ? NULL : in->valuestring,
                                 names_text(name) ? tfield : "image", &xs[m], &D, r))
                return -1;
        }
        present++;
    }
    return present;
}

static int check_strings(const cJSON *j, const char *const *fields, int n, serve_reply *r) {
    for (int i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, fields[i]);
        if (v && !cJSON_IsNull(v) && !cJSON_IsString(v)) {
            serve_error(r, 400, fields[i], "\"%s\" must be a string%s", fields[i],
                        strcmp(fields[i], "image") ? "" : " (base64 or a data URL)");
            return 0;
        }
    }
    return 1;
}

static int int_field(const cJSON *j, const char *name, int lo, int hi, int *out, serve_reply *r) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!v || cJSON_IsNull(v)) return 1;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi) {
        serve_error(r, 400, name, "\"%s\" must be an integer from %d to %d", name, lo, hi);
        return 0;
    }
    *out = (int)v->valuedouble;
    return 1;
}

static void reply_object(serve_reply *r, cJSON *o) {
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!txt) { serve_error(r, 500, NULL, "out of memory"); return; }
    free(r->body);
    r->status = 200;
    r->body = txt;
    r->len = strlen(txt);
    r->type = "application/json";
}

void serve_caption(serve_ctx *c, const char *body, size_t len, serve_reply *r) {
    if (!c->captioner) { serve_error(r, 404, NULL, "this server has no captioner: start it with --captioner FILE"); return; }
    cJSON *j = serve_parse_body(body, len, r);
    if (!j) return;
    static const char *const fields[] = {"text", "image", "prefix"};
    float *xs[8] = {0};
    char *cap = NULL;
    mmf_caption_gen_params g = mmf_caption_gen_params_default();
    int M = mmf_captioner_n_modalities(c->captioner);
    if (!check_strings(j, fields, 3, r) || !int_field(j, "beam", 1, 32, &g.beam, r) || !int_field(j, "max_len", 1, 200, &g.max_len, r))
        goto out;
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(j, "prefix");
    if (cJSON_IsString(pre) && pre->valuestring[0]) g.prefix = pre->valuestring;
    int n = embed_modalities(c, M, cap_modality, c->captioner, NULL, cap_dim, cJSON_GetObjectItemCaseSensitive(j, "text"),
                             "text", cJSON_GetObjectItemCaseSensitive(j, "image"), xs, r);
    if (n < 0) goto out;
    if (n == 0) { serve_error(r, 400, NULL, "give \"image\" and/or \"text\" (the captioner's inputs)"); goto out; }
    pthread_mutex_lock(&c->head_mu);
    mmf_status s = mmf_captioner_generate(c->captioner, 1, (const float *const *)xs, NULL, &g, &cap);
    pthread_mutex_unlock(&c->head_mu);
    if (s) { serve_error(r, s == MMF_ERR_ARG ? 400 : 500, NULL, "captioning failed: %s", mmf_last_error()); goto out; }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "caption", cap);
    reply_object(r, o);
out:
    free(cap);
    for (int m = 0; m < 8; m++) free(xs[m]);
    cJSON_Delete(j);
}

static const mmf_caption_vocab *vqa_bow(const void *p, int m) { return mmf_vqa_bow(p, m); }

void serve_vqa(serve_ctx *c, const char *body, size_t len, serve_reply *r) {
    if (!c->vqa) { serve_error(r, 404, NULL, "this server has no VQA model: start it with --vqa FILE"); return; }
    cJSON *j = serve_parse_body(body, len, r);
    if (!j) return;
    static const char *const fields[] = {"question", "image"};
    float *xs[8] = {0};
    int M = mmf_vqa_n_modalities(c->vqa);
    if (!check_strings(j, fields, 2, r)) goto out;
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(j, "question");
    int n = embed_modalities(c, M, vqa_modality, c->vqa, vqa_bow, vqa_dim, q, "question",
                             cJSON_GetObjectItemCaseSensitive(j, "image"), xs, r);
    if (n < 0) goto out;
    if (n == 0) { serve_error(r, 400, NULL, "give \"image\" and/or \"question\""); goto out; }
    int32_t a = 0;
    float pr = 0;
    pthread_mutex_lock(&c->head_mu);
    mmf_status s = mmf_vqa_predict(c->vqa, 1, (const float *const *)xs, NULL, 1, &a, &pr);
    pthread_mutex_unlock(&c->head_mu);
    if (s) { serve_error(r, 500, NULL, "the VQA model failed: %s", mmf_last_error()); goto out; }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "answer", mmf_vqa_answer(c->vqa, a));
    cJSON_AddNumberToObject(o, "probability", pr);
    reply_object(r, o);
out:
    for (int m = 0; m < 8; m++) free(xs[m]);
    cJSON_Delete(j);
}
