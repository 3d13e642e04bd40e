/* libFuzzer harness for the request handling of `mmfuse serve`: the first byte
 * picks a route (POST /v1/embeddings, /embed, /v1/search, /v1/index/items,
 * DELETE /v1/index/items/ID, GET /metrics, /readyz, /, or a method and path
 * taken from the input), the rest is the request body, handed to
 * serve_api_handle exactly as the HTTP glue hands it (NUL-terminated copy of
 * len bytes). Behind it are real encoders (tests/data/text/bert_st and
 * tests/data/image/resnet_basic, loaded once from the source root, where
 * scripts/run-fuzzers.sh runs), the batcher thread and a live index whose log
 * lives in a temporary folder (tmpfs when there is one, so fsync is cheap).
 * Promises: every reply has a status from 200 to 599 and a body; a JSON reply
 * parses; an error is {"error": {"message": str, "type": str, "param"}}; the
 * server stays ready. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli_serve.h"

#define PROMISE(c) do { if (!(c)) { fprintf(stderr, "broken promise: %s\n", #c); __builtin_trap(); } } while (0)

static serve_ctx ctx;
static char store_dir[64], store_path[256];

/* the temporary index and its log go when the fuzzer exits */
static void remove_store(void) {
    char log[300];
    snprintf(log, sizeof log, "%s.log", store_path);
    unlink(log);
    unlink(store_path);
    rmdir(store_dir);
}

static mmf_encoder *load(const char *dir) {
    mmf_encoder_params p = mmf_encoder_params_default();
    p.n_threads = 1;
    p.max_batch = 8;
    mmf_encoder *e = NULL;
    if (mmf_encoder_load(dir, &p, &e)) {
        fprintf(stderr, "fuzz_serve_api: cannot load %s (run from the source root): %s\n", dir, mmf_last_error());
        exit(1);
    }
    return e;
}

static void setup(void) {
    static int done;
    if (done) return;
    done = 1;
    ctx.text = load("tests/data/text/bert_st");
    ctx.image = load("tests/data/image/resnet_basic");
    ctx.text_dir = "tests/data/text/bert_st";
    ctx.image_dir = "tests/data/image/resnet_basic";
    ctx.model_name = "fuzz";
    ctx.max_body = 1 << 20;
    ctx.max_inputs = 8;          /* small limits keep each input fast */
    ctx.max_pixels = 1 << 16;
    ctx.search_threads = 1;
    serve_batcher_opts bo = {.text = ctx.text, .image = ctx.image, .max_batch = 8, .max_wait_us = 0, .max_queue = 64};
    if (serve_batcher_start(&bo, &ctx.batcher)) { fprintf(stderr, "fuzz_serve_api: no batcher\n"); exit(1); }
    snprintf(store_dir, sizeof store_dir, "%s", access("/dev/shm", W_OK) == 0 ? "/dev/shm/mmfuse-fuzz-serve.XXXXXX"
                                                                              : "/tmp/mmfuse-fuzz-serve.XXXXXX");
    if (!mkdtemp(store_dir)) { perror("mkdtemp"); exit(1); }
    snprintf(store_path, sizeof store_path, "%s/live.mmfidx", store_dir);
    atexit(remove_store);
    char err[512];
    if (serve_store_open(store_path, mmf_encoder_dim(ctx.text), NULL, &ctx.store, err, sizeof err)) {
        fprintf(stderr, "fuzz_serve_api: %s: %s\n", store_path, err);
        exit(1);
    }
    atomic_store(&ctx.ready, 1);
}

static void check_reply(const serve_reply *r) {
    PROMISE(r->status >= 200 && r->status <= 599);
    PROMISE(r->body != NULL && r->type != NULL);
    if (strcmp(r->type, "application/json")) return;
    cJSON *j = cJSON_ParseWithLength(r->body, r->len);
    PROMISE(j != NULL);
    if (r->status >= 400) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
        PROMISE(cJSON_IsObject(e));
        PROMISE(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "message")));
        PROMISE(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "type")));
        PROMISE(cJSON_HasObjectItem(e, "param"));
    }
    cJSON_Delete(j);
}

int mmf_fuzz_serve_api(const uint8_t *data, size_t size) {
    setup();
    if (size == 0) return 0;
    static const char *const routes[][2] = {{"POST", "/v1/embeddings"}, {"POST", "/embed"}, {"POST", "/v1/search"},
                                           {"POST", "/v1/index/items"}, {"GET", "/metrics"}, {"GET", "/readyz"},
                                           {"GET", "/"}};
    const size_t n_routes = sizeof routes / sizeof routes[0];
    unsigned pick = data[0] % (n_routes + 2);
    const uint8_t *body = data + 1;
    size_t len = size - 1;
    char method[16], url[300];
    if (pick < n_routes) {
        snprintf(method, sizeof method, "%s", routes[pick][0]);
        snprintf(url, sizeof url, "%s", routes[pick][1]);
    } else if (pick == n_routes) {   /* DELETE with the id from the input (up to the first NUL, 200 bytes) */
        size_t k = 0;
        while (k < len && k < 200 && body[k]) k++;
        snprintf(method, sizeof method, "DELETE");
        snprintf(url, sizeof url, "/v1/index/items/%.*s", (int)k, (const char *)body);
        body += k;
        len -= k;
    } else {   /* "METHOD URL\n" from the input, then the body */
        const uint8_t *nl = memchr(body, '\n', len < 300 ? len : 300);
        if (!nl) return 0;
        size_t hl = (size_t)(nl - body);
        const uint8_t *sp = memchr(body, ' ', hl);
        if (!sp || (size_t)(sp - body) >= sizeof method || memchr(body, 0, hl)) return 0;
        snprintf(method, sizeof method, "%.*s", (int)(sp - body), (const char *)body);
        snprintf(url, sizeof url, "%.*s", (int)(hl - (size_t)(sp - body) - 1), (const char *)sp + 1);
        body = nl + 1;
        len -= hl + 1;
    }
    /* the HTTP glue gives a NUL-terminated copy of exactly len bytes */
    char *copy = malloc(len + 1);
    if (!copy) return 0;
    memcpy(copy, body, len);
    copy[len] = 0;
    serve_reply r = {0};
    int ep = EP_OTHER;
    serve_api_handle(&ctx, method, url, copy, len, &r, &ep);
    check_reply(&r);
    PROMISE(ep >= 0 && ep < EP_COUNT);
    PROMISE(atomic_load(&ctx.ready) == 1);
    free(r.body);
    free(copy);
    return 0;
}

#ifndef MMF_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return mmf_fuzz_serve_api(data, size); }
#endif
