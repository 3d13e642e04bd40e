/* The JSON endpoints of `mmfuse serve` (docs/serve.md). Every request is parsed
 * and checked here before any encoder work; every problem becomes a JSON error
 * with a 4xx/5xx status, never a crash. Embeddings come from the batcher raw
 * (pooled, not normalised) and are normalised per request, so the OpenAI route
 * (the folder's default, as `mmfuse embed`) and TEI's "normalize" share batches. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli_serve.h"

/* ---------------------------------------------------------------- helpers */
static char *dupn(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) { memcpy(p, s, n); p[n] = 0; }
    return p;
}

static void reply_json(serve_reply *r, int status, char *body) {
    if (!body) { serve_error(r, 500, NULL, "out of memory"); return; }
    free(r->body);
    r->status = status;
    r->body = body;
    r->len = strlen(body);
    r->type = "application/json";
}

static void reply_cjson(serve_reply *r, int status, cJSON *o) {
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    reply_json(r, status, s);
}

/* 1 when s[0..n) is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
static int utf8_ok(const unsigned char *s) {
    while (*s) {
        unsigned c = *s;
        int k = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
        if (k < 0) return 0;
        unsigned cp = k == 0 ? c : k == 1 ? c & 0x1F : k == 2 ? c & 0x0F : c & 0x07;
        for (int i = 1; i <= k; i++) {
            if ((s[i] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i] & 0x3F);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        s += k + 1;
    }
    return 1;
}

static int b64_val(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

/* Strict base64 (standard or URL alphabet, padding optional); NULL when bad. */
static unsigned char *b64_decode(const char *s, size_t *out_len) {
    size_t n = strlen(s);
    while (n && s[n - 1] == '=') n--;
    if (n % 4 == 1) return NULL;
    unsigned char *out = malloc(n / 4 * 3 + 3);
    if (!out) return NULL;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_val((unsigned char)s[i]);
        if (v < 0) { free(out); return NULL; }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) { bits -= 8; out[o++] = (unsigned char)(acc >> bits); }
    }
    *out_len = o;
    return out;
}

static char *b64_encode(const unsigned char *p, size_t n) {
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        *o++ = A[v >> 18 & 63];
        *o++ = A[v >> 12 & 63];
        *o++ = i + 1 < n ? A[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? A[v & 63] : '=';
    }
    *o = 0;
    return out;
}

static void l2_normalize(float *v, int d) {
    double s = 0;
    for (int i = 0; i < d; i++) s += (double)v[i] * v[i];
    if (s > 0) {
        float inv = (float)(1.0 / sqrt(s));
        for (int i = 0; i < d; i++) v[i] *= inv;
    }
}

/* A float vector as a JSON array: "%.9g" round-trips every float32 and costs a
 * fifth of cJSON's number printing (which tries 15 digits, reads them back and
 * may print 17), the largest per-request cost after the encoder. Non-finite
 * values become null, as cJSON writes them. */
static char *floats_json(const float *v, int n) {
    size_t cap = (size_t)n * 18 + 3, at = 0;
    char *out = malloc(cap);
    if (!out) return NULL;
    out[at++] = '[';
    for (int i = 0; i < n; i++) {
        if (i) out[at++] = ',';
        at += isfinite(v[i]) ? (size_t)snprintf(out + at, cap - at, "%.9g", (double)v[i]) : (size_t)snprintf(out + at, cap - at, "null");
    }
    out[at++] = ']';
    out[at] = 0;
    return out;
}

/* ---------------------------------------------------------------- inputs */
/* One input of a request: a text, or an image (base64 or a data URL). */
typedef struct inputs {
    size_t n;
    const char **text;     /* [n] NULL for images */
    const char **image;    /* [n] NULL for texts */
    long tokens;           /* usage: tokens the encoder saw */
} inputs;

static void inputs_free(inputs *in) {
    free(in->text);
    free(in->image);
}

/* Parses str | [str] | [{"text"} | {"image"}] into *in; param names the field. */
static int parse_inputs(serve_ctx *c, const cJSON *v, const char *param, inputs *in, serve_reply *r) {
    memset(in, 0, sizeof *in);
    if (!v) { serve_error(r, 400, param, "missing \"%s\": a string or an array of strings", param); return 0; }
    size_t n = cJSON_IsArray(v) ? (size_t)cJSON_GetArraySize(v) : 1;
    if (!cJSON_IsArray(v) && !cJSON_IsString(v)) {
        serve_error(r, 400, param, "\"%s\" must be a string or an array of strings", param);
        return 0;
    }
    if (n == 0) { serve_error(r, 400, param, "\"%s\" is an empty array: give at least one input", param); return 0; }
    if (n > (size_t)c->max_inputs) {
        serve_error(r, 413, param, "\"%s\" holds %zu inputs; at most %d per request (--max-inputs)", param, n, c->max_inputs);
        return 0;
    }
    in->n = n;
    in->text = calloc(n, sizeof *in->text);
    in->image = calloc(n, sizeof *in->image);
    if (!in->text || !in->image) { serve_error(r, 500, NULL, "out of memory"); return 0; }
    const cJSON *it = cJSON_IsArray(v) ? v->child : v;
    for (size_t i = 0; i < n; i++, it = it->next) {
        char p[64];
        snprintf(p, sizeof p, "%s[%zu]", param, i);
        if (cJSON_IsString(it)) in->text[i] = it->valuestring;
        else if (cJSON_IsObject(it) && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(it, "text")))
            in->text[i] = cJSON_GetObjectItemCaseSensitive(it, "text")->valuestring;
        else if (cJSON_IsObject(it) && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(it, "image")))
            in->image[i] = cJSON_GetObjectItemCaseSensitive(it, "image")->valuestring;
        else if (cJSON_IsArray(it)) {
            serve_error(r, 400, p, "token-id inputs ([[int]]) are not taken: send the text itself");
            return 0;
        } else {
            serve_error(r, 400, p, "input %zu must be a string, {\"text\": str} or {\"image\": base64 or data URL}", i);
            return 0;
        }
        if (in->text[i] && !utf8_ok((const unsigned char *)in->text[i])) {
            serve_error(r, 400, p, "input %zu is not valid UTF-8", i);
            return 0;
        }
        if (in->text[i] && !c->text) { serve_error(r, 400, p, "this server has no text model (--text-model)"); return 0; }
        if (in->image[i] && !c->image) { serve_error(r, 400, p, "this server has no image model (--image-model)"); return 0; }
    }
    return 1;
}

/* Token counts (usage) and, when refuse_long, a 413 for an input the model
 * would truncate. */
static int count_tokens(serve_ctx *c, inputs *in, int refuse_long, const char *param, serve_reply *r) {
    if (!c->text) return 1;
    const mmf_tokenizer *tok = mmf_encoder_tokenizer(c->text);
    int maxlen = mmf_encoder_max_length(c->text);
    for (size_t i = 0; i < in->n; i++) {
        if (!in->text[i]) continue;
        mmf_encoding e;
        if (mmf_tokenizer_encode(tok, in->text[i], NULL, 1, -1, &e)) {
            serve_error(r, 400, param, "input %zu cannot be tokenized: %s", i, mmf_last_error());
            return 0;
        }
        int n = e.n;
        mmf_encoding_free(&e);
        if (refuse_long && maxlen > 0 && n > maxlen) {
            serve_error(r, 413, param, "input %zu has %d tokens; the model takes at most %d (send \"truncate\": true)", i,
                        n, maxlen);
            return 0;
        }
        in->tokens += maxlen > 0 && n > maxlen ? maxlen : n;
    }
    return 1;
}

/* Embeds every input (texts in one batch job, images in another) into out
 * (n, dim) raw. All inputs must share one dimension. */
static int embed_inputs(serve_ctx *c, const inputs *in, float **out, int *dim, serve_reply *r, const char *param) {
    int dt = c->text ? mmf_encoder_dim(c->text) : 0, di = c->image ? mmf_encoder_dim(c->image) : 0;
    size_t nt = 0, ni = 0;
    for (size_t i = 0; i < in->n; i++) in->text[i] ? nt++ : ni++;
    if (nt && ni && dt != di) {
        serve_error(r, 400, param, "texts (dimension %d) and images (dimension %d) cannot be mixed in one request", dt, di);
        return 0;
    }
    int D = nt ? dt : di;
    float *res = malloc(in->n * (size_t)D * sizeof(float));
    const char **texts = malloc((nt ? nt : 1) * sizeof *texts);
    float *tout = malloc((nt ? nt : 1) * (size_t)D * sizeof(float));
    float *pix = NULL, *iout = NULL;
    size_t pf = 0;
    int ok = res && texts && tout;
    if (ok && ni) {
        int ch, h, w;
        mmf_image_processor_size(mmf_encoder_image_processor(c->image), &ch, &h, &w);
        pf = (size_t)ch * h * w;
        pix = malloc(ni * pf * sizeof(float));
        iout = malloc(ni * (size_t)D * sizeof(float));
        ok = pix && iout;
    }
    if (!ok) serve_error(r, 500, NULL, "out of memory");
    size_t kt = 0, ki = 0;
    for (size_t i = 0; ok && i < in->n; i++) {
        if (in->text[i]) { texts[kt++] = in->text[i]; continue; }
        char p[64];
        snprintf(p, sizeof p, "%s[%zu]", param, i);
        const char *s = in->image[i];
        if (!strncmp(s, "data:", 5)) {   /* data:image/png;base64,.... */
            const char *comma = strchr(s, ',');
            if (!comma || !strstr(s, ";base64")) { serve_error(r, 400, p, "image %zu: a data URL must be ;base64 encoded", i); ok = 0; break; }
            s = comma + 1;
        }
        size_t len = 0;
        unsigned char *bytes = b64_decode(s, &len);
        if (!bytes) { serve_error(r, 400, p, "image %zu is not valid base64", i); ok = 0; break; }
        mmf_image_decode_params dp = mmf_image_decode_params_default();
        dp.max_pixels = c->max_pixels;
        mmf_image img;
        char name[64];
        snprintf(name, sizeof name, "%s", p);
        mmf_status st = mmf_image_decode_memory(bytes, len, name, &dp, &img);
        free(bytes);
        if (st) {
            int too_big = strstr(mmf_last_error(), "pixels") != NULL || strstr(mmf_last_error(), "large") != NULL;
            serve_error(r, too_big ? 413 : 400, p, "image %zu: %s", i, mmf_last_error());
            ok = 0;
            break;
        }
        st = mmf_image_processor_run(mmf_encoder_image_processor(c->image), &img, pix + ki * pf);
        mmf_image_free(&img);
        if (st) { serve_error(r, 400, p, "image %zu: %s", i, mmf_last_error()); ok = 0; break; }
        ki++;
    }
    char err[300];
    int rc = 0;
    if (ok && nt) rc = serve_embed_texts(c->batcher, texts, nt, tout, err, sizeof err);
    if (ok && !rc && ni) rc = serve_embed_pixels(c->batcher, pix, ni, iout, err, sizeof err);
    if (ok && rc) { serve_error(r, rc, NULL, "%s", err); ok = 0; }
    if (ok) {
        kt = ki = 0;
        for (size_t i = 0; i < in->n; i++)
            memcpy(res + i * (size_t)D, in->text[i] ? tout + kt++ * (size_t)D : iout + ki++ * (size_t)D,
                   (size_t)D * sizeof(float));
        *out = res;
        *dim = D;
    } else free(res);
    free(texts);
    free(tout);
    free(pix);
    free(iout);
    return ok;
}

/* The folder's own normalisation, as `mmfuse embed` applies by default. */
static int default_normalize(serve_ctx *c, const inputs *in) {
    for (size_t i = 0; i < in->n; i++)
        if (in->text[i]) return mmf_encoder_default_normalize(c->text);
    return mmf_encoder_default_normalize(c->image);
}

cJSON *serve_parse_body(const char *body, size_t len, serve_reply *r) {
    if (len == 0) { serve_error(r, 400, NULL, "empty body: send a JSON object"); return NULL; }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!j) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        serve_error(r, 400, NULL, "the body is not valid JSON (near byte %zu)", at);
        return NULL;
    }
    if (!cJSON_IsObject(j)) { cJSON_Delete(j); serve_error(r, 400, NULL, "the body must be a JSON object"); return NULL; }
    return j;
}

/* ---------------------------------------------------------------- routes */
static void embeddings_openai(serve_ctx *c, const char *body, size_t len, serve_reply *r) {
    cJSON *j = serve_parse_body(body, len, r);
    if (!j) return;
    inputs in = {0};
    float *v = NULL;
    int D = 0;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "encoding_format");
    const cJSON *dims = cJSON_GetObjectItemCaseSensitive(j, "dimensions");
    int b64 = 0;
    if (fmt && !cJSON_IsNull(fmt)) {
        if (!cJSON_IsString(fmt) || (strcmp(fmt->valuestring, "float") && strcmp(fmt->valuestring, "base64"))) {
            serve_error(r, 400, "encoding_format", "\"encoding_format\" must be \"float\" or \"base64\"");
            goto out;
        }
        b64 = !strcmp(fmt->valuestring, "base64");
    }
    if (dims && !cJSON_IsNull(dims) && (!cJSON_IsNumber(dims) || dims->valuedouble < 1 || dims->valuedouble != floor(dims->valuedouble))) {
        serve_error(r, 400, "dimensions", "\"dimensions\" must be a positive integer");
        goto out;
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (model && !cJSON_IsNull(model) && !cJSON_IsString(model)) { serve_error(r, 400, "model", "\"model\" must be a string"); goto out; }
    if (!parse_inputs(c, cJSON_GetObjectItemCaseSensitive(j, "input"), "input", &in, r)) goto out;
    if (!count_tokens(c, &in, 0, "input", r)) goto out;
    if (!embed_inputs(c, &in, &v, &D, r, "input")) goto out;
    int norm = default_normalize(c, &in), outD = D;
    if (dims && cJSON_IsNumber(dims)) {
        if (dims->valuedouble > D) { serve_error(r, 400, "dimensions", "\"dimensions\" is %g; the model gives %d", dims->valuedouble, D); goto out; }
        outD = (int)dims->valuedouble;   /* shortened as OpenAI does: the first values, renormalised */
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(o, "data");
    for (size_t i = 0; i < in.n; i++) {
        float *e = v + i * (size_t)D;
        if (norm) l2_normalize(e, D);
        if (outD < D) l2_normalize(e, outD);
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "object", "embedding");
        cJSON_AddNumberToObject(item, "index", (double)i);
        if (b64) {
            char *s = b64_encode((const unsigned char *)e, (size_t)outD * sizeof(float));   /* little-endian float32 */
            cJSON_AddStringToObject(item, "embedding", s ? s : "");
            free(s);
        } else {
            char *arr = floats_json(e, outD);
            cJSON_AddRawToObject(item, "embedding", arr ? arr : "[]");
            free(arr);
        }
        cJSON_AddItemToArray(data, item);
    }
    cJSON_AddStringToObject(o, "model", c->model_name);
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)in.tokens);
    cJSON_AddNumberToObject(u, "total_tokens", (double)in.tokens);
    reply_cjson(r, 200, o);
out:
    free(v);
    inputs_free(&in);
    cJSON_Delete(j);
}

static void embed_tei(serve_ctx *c, const char *body, size_t len, serve_reply *r) {
    cJSON *j = serve_parse_body(body, len, r);
    if (!j) return;
    inputs in = {0};
    float *v = NULL;
    int D = 0;
    const cJSON *nz = cJSON_GetObjectItemCaseSensitive(j, "normalize"), *tr = cJSON_GetObjectItemCaseSensitive(j, "truncate");
    if (nz && !cJSON_IsBool(nz) && !cJSON_IsNull(nz)) { serve_error(r, 400, "normalize", "\"normalize\" must be true or false"); goto out; }
    if (tr && !cJSON_IsBool(tr) && !cJSON_IsNull(tr)) { serve_error(r, 400, "truncate", "\"truncate\" must be true or false"); goto out; }
    int norm = nz && cJSON_IsBool(nz) ? cJSON_IsTrue(nz) : 1;   /* TEI's defaults: normalize, do not truncate */
    int trunc = tr && cJSON_IsBool(tr) ? cJSON_IsTrue(tr) : 0;
    if (!parse_inputs(c, cJSON_GetObjectItemCaseSensitive(j, "inputs"), "inputs", &in, r)) goto out;
    if (!count_tokens(c, &in, !trunc, "inputs", r)) goto out;
    if (!embed_inputs(c, &in, &v, &D, r, "inputs")) goto out;
    cJSON *o = cJSON_CreateArray();
    for (size_t i = 0; i < in.n; i++) {
        float *e = v + i * (size_t)D;
        if (norm) l2_normalize(e, D);
        char *arr = floats_json(e, D);
        cJSON_AddItemToArray(o, cJSON_CreateRaw(arr ? arr : "[]"));
        free(arr);
    }
    reply_cjson(r, 200, o);
out:
    free(v);
    inputs_free(&in);
    cJSON_Delete(j);
}

/* A query or item embedding as the index holds it: the folder's normalisation. */
int serve_embed_one(serve_ctx *c, const char *text, const char *image, const char *param, float **out, int *dim,
                    serve_reply *r) {
    const char *t[1] = {text}, *im[1] = {image};
    inputs in = {.n = 1, .text = malloc(sizeof(char *)), .image = malloc(sizeof(char *))};
    if (!in.text || !in.image) { inputs_free(&in); serve_error(r, 500, NULL, "out of memory"); return 0; }
    in.text[0] = t[0];
    in.image[0] = im[0];
    if ((text && !c->text) || (image && !c->image)) {
        serve_error(r, 400, param, "this server has no %s model", text ? "text" : "image");
        inputs_free(&in);
        return 0;
    }
    if (text && !utf8_ok((const unsigned char *)text)) { serve_error(r, 400, param, "\"%s\" is not valid UTF-8", param); inputs_free(&in); return 0; }
    int ok = embed_inputs(c, &in, out, dim, r, param);
    if (ok && default_normalize(c, &in)) l2_normalize(*out, *dim);
    inputs_free(&in);
    return ok;
}

static int need_store(serve_ctx *c, serve_reply *r) {
    if (c->store) return 1;
    serve_error(r, 404, NULL, "this server has no index: start it with --index FILE");
    return 0;
}

static void search(serve_ctx *c, const char *body, size_t len, serve_reply *r) {
    if (!need_store(c, r)) return;
    cJSON *j = serve_parse_body(body, len, r);
    if (!j) return;
    float *q = NULL;
    int D = 0;
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(j, "text"), *image = cJSON_GetObjectItemCaseSensitive(j, "image");
    const cJSON *vec = cJSON_GetObjectItemCaseSensitive(j, "vector"), *kk = cJSON_GetObjectItemCaseSensitive(j, "k");
    const cJSON *filter = cJSON_GetObjectItemCaseSensitive(j, "filter");
    int k = 10;
    if (!!text + !!image + !!vec != 1) { serve_error(r, 400, NULL, "give exactly one of \"text\", \"image\" or \"vector\""); goto out; }
    if (kk) {
        if (!cJSON_IsNumber(kk) || kk->valuedouble < 1 || kk->valuedouble > 10000 || kk->valuedouble != floor(kk->valuedouble)) {
            serve_error(r, 400, "k", "\"k\" must be an integer from 1 to 10000");
            goto out;
        }
        k = (int)kk->valuedouble;
    }
    if (filter && !cJSON_IsNull(filter) && !cJSON_IsObject(filter)) {
        serve_error(r, 400, "filter", "\"filter\" must be an object of payload fields and the values they must equal");
        goto out;
    }
    if (text && !cJSON_IsString(text)) { serve_error(r, 400, "text", "\"text\" must be a string"); goto out; }
    if (image && !cJSON_IsString(image)) { serve_error(r, 400, "image", "\"image\" must be base64 or a data URL"); goto out; }
    if (vec) {
        int n = cJSON_IsArray(vec) ? cJSON_GetArraySize(vec) : -1;
        if (n != serve_store_dim(c->store)) {
            serve_error(r, 400, "vector", "\"vector\" must be an array of %d numbers", serve_store_dim(c->store));
            goto out;
        }
        q = malloc((size_t)n * sizeof *q);
        if (!q) { serve_error(r, 500, NULL, "out of memory"); goto out; }
        int i = 0;
        for (const cJSON *x = vec->child; x; x = x->next, i++) {
            if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble)) { serve_error(r, 400, "vector", "\"vector\"[%d] is not a finite number", i); goto out; }
            q[i] = (float)x->valuedouble;
        }
        D = n;
    } else if (!serve_embed_one(c, text ? text->valuestring : NULL, image ? image->valuestring : NULL, text ? "text" : "image", &q, &D, r))
        goto out;
    char *filter_s = filter && cJSON_IsObject(filter) ? cJSON_PrintUnformatted(filter) : NULL;
    char *hits = NULL, err[300];
    int rc = serve_store_search(c->store, q, D, k, filter_s, &hits, err, sizeof err);
    free(filter_s);
    if (rc) { serve_error(r, rc, NULL, "%s", err); goto out; }
    size_t n = strlen(hits) + 16;
    char *s = malloc(n);
    if (s) snprintf(s, n, "{\"hits\": %s}", hits);
    free(hits);
    reply_json(r, 200, s);
out:
    free(q);
    cJSON_Delete(j);
}

static void items_add(serve_ctx *c, const char *body, size_t len, serve_reply *r) {
    if (!need_store(c, r)) return;
    cJSON *j = serve_parse_body(body, len, r);
    if (!j) return;
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(j, "items");
    int n = cJSON_IsArray(items) ? cJSON_GetArraySize(items) : -1;
    float *vecs = NULL;
    const char **ids = NULL;
    char **payloads = NULL;
    int D = serve_store_dim(c->store);
    if (n < 1) { serve_error(r, 400, "items", "\"items\" must be a non-empty array of {\"id\", \"text\" or \"image\", \"payload\"?}"); goto out; }
    if (n > c->max_inputs) { serve_error(r, 413, "items", "%d items; at most %d per request (--max-inputs)", n, c->max_inputs); goto out; }
    vecs = malloc((size_t)n * D * sizeof *vecs);
    ids = calloc((size_t)n, sizeof *ids);
    payloads = calloc((size_t)n, sizeof *payloads);
    if (!vecs || !ids || !payloads) { serve_error(r, 500, NULL, "out of memory"); goto out; }
    int i = 0;
    for (const cJSON *it = items->child; it; it = it->next, i++) {
        char p[48];
        snprintf(p, sizeof p, "items[%d]", i);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id"), *t = cJSON_GetObjectItemCaseSensitive(it, "text");
        const cJSON *im = cJSON_GetObjectItemCaseSensitive(it, "image"), *pl = cJSON_GetObjectItemCaseSensitive(it, "payload");
        if (!cJSON_IsObject(it)) { serve_error(r, 400, p, "item %d must be an object", i); goto out; }
        if (!cJSON_IsString(id) || !id->valuestring[0] || strlen(id->valuestring) > 256 || !utf8_ok((const unsigned char *)id->valuestring)) {
            serve_error(r, 400, p, "item %d needs \"id\": a non-empty UTF-8 string of at most 256 bytes", i);
            goto out;
        }
        for (int m = 0; m < i; m++)
            if (!strcmp(ids[m], id->valuestring)) { serve_error(r, 400, p, "id \"%s\" appears twice in this request", id->valuestring); goto out; }
        ids[i] = id->valuestring;
        if (!!(t && cJSON_IsString(t)) + !!(im && cJSON_IsString(im)) != 1) {
            serve_error(r, 400, p, "item %d needs exactly one of \"text\" (a string) or \"image\" (base64 or a data URL)", i);
            goto out;
        }
        if (pl && !cJSON_IsNull(pl)) payloads[i] = cJSON_PrintUnformatted(pl);
        float *e = NULL;
        int d = 0;
        if (!serve_embed_one(c, cJSON_IsString(t) ? t->valuestring : NULL, cJSON_IsString(im) ? im->valuestring : NULL, p, &e, &d, r)) goto out;
        if (d != D) { free(e); serve_error(r, 400, p, "item %d embeds to dimension %d; the index holds %d", i, d, D); goto out; }
        memcpy(vecs + (size_t)i * D, e, (size_t)D * sizeof *e);
        free(e);
    }
    char err[300];
    int rc = serve_store_add(c->store, (size_t)n, vecs, ids, (const char *const *)payloads, err, sizeof err);
    if (rc) { serve_error(r, rc, "items", "%s", err); goto out; }
    char *s = malloc(64);
    if (s) snprintf(s, 64, "{\"added\": %d}", n);
    reply_json(r, 200, s);
out:
    if (payloads)
        for (int m = 0; m < n; m++) free(payloads[m]);
    free(payloads);
    free(ids);
    free(vecs);
    cJSON_Delete(j);
}

static void items_delete(serve_ctx *c, const char *id_enc, serve_reply *r) {
    if (!need_store(c, r)) return;
    /* libmicrohttpd has already %-decoded the path */
    char *id = dupn(id_enc, strlen(id_enc));
    if (!id || !utf8_ok((const unsigned char *)id)) {
        free(id);
        serve_error(r, 400, "id", "the id in the path is not a valid %%-encoded UTF-8 string");
        return;
    }
    char err[300];
    int rc = serve_store_delete(c->store, id, err, sizeof err);
    if (rc) serve_error(r, rc, "id", "%s", err);
    else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "deleted", id);
        reply_cjson(r, 200, o);
    }
    free(id);
}

static void text_reply(serve_reply *r, int status, const char *type, char *body) {
    if (!body) { serve_error(r, 500, NULL, "out of memory"); return; }
    r->status = status;
    r->body = body;
    r->len = strlen(body);
    r->type = type;
}

void serve_api_handle(serve_ctx *c, const char *method, const char *url, const char *body, size_t len, serve_reply *r,
                      int *ep) {
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    static const char items_prefix[] = "/v1/index/items/";
    struct { const char *path; int ep, post; } routes[] = {
        {"/v1/embeddings", EP_EMBEDDINGS, 1}, {"/embed", EP_TEI, 1}, {"/v1/search", EP_SEARCH, 1},
        {"/v1/index/items", EP_ITEMS_ADD, 1}, {"/healthz", EP_HEALTHZ, 0}, {"/readyz", EP_READYZ, 0},
        {"/metrics", EP_METRICS, 0}, {"/", EP_PAGE, 0}, {"/v1/classify", EP_CLASSIFY, 1},
        {"/v1/caption", EP_CAPTION, 1}, {"/v1/vqa", EP_VQA, 1}};
    int found = -1;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (!strcmp(url, routes[i].path)) found = (int)i;
    if (found < 0 && !strncmp(url, items_prefix, sizeof items_prefix - 1) && url[sizeof items_prefix - 1]) {
        *ep = EP_ITEMS_DELETE;
        if (strcmp(method, "DELETE")) { serve_error(r, 405, NULL, "%s takes DELETE", url); return; }
        items_delete(c, url + sizeof items_prefix - 1, r);
        return;
    }
    if (found < 0) { *ep = EP_OTHER; serve_error(r, 404, NULL, "no such endpoint: %s %s", method, url); return; }
    *ep = routes[found].ep;
    if (routes[found].post ? !post : !get) {
        serve_error(r, 405, NULL, "%s takes %s, not %s", url, routes[found].post ? "POST" : "GET", method);
        return;
    }
    if (routes[found].post && !atomic_load(&c->ready)) { serve_error(r, 503, NULL, "the server is not ready yet"); return; }
    switch (*ep) {
    case EP_EMBEDDINGS: embeddings_openai(c, body, len, r); break;
    case EP_TEI: embed_tei(c, body, len, r); break;
    case EP_SEARCH: search(c, body, len, r); break;
    case EP_ITEMS_ADD: items_add(c, body, len, r); break;
    case EP_CLASSIFY: serve_classify(c, body, len, r); break;
    case EP_CAPTION: serve_caption(c, body, len, r); break;
    case EP_VQA: serve_vqa(c, body, len, r); break;
    case EP_HEALTHZ: text_reply(r, 200, "application/json", dupn("{\"status\": \"ok\"}", 16)); break;
    case EP_READYZ:
        if (atomic_load(&c->ready)) text_reply(r, 200, "application/json", dupn("{\"status\": \"ready\"}", 19));
        else serve_error(r, 503, NULL, "not ready: loading models or replaying the index log");
        break;
    case EP_METRICS: {
        long items = 0, deleted = 0;
        if (c->store) serve_store_counts(c->store, &items, &deleted);
        text_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8",
                   serve_metrics_text(serve_batcher_queue_depth(c->batcher), items, deleted));
        break;
    }
    case EP_PAGE: text_reply(r, 200, "text/html; charset=utf-8", dupn(serve_page_html, strlen(serve_page_html))); break;
    }
}
