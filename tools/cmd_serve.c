/* mmfuse serve: the embedding and search service (docs/serve.md). This file is
 * the life cycle: options, listening, loading, signals, an orderly stop. The
 * endpoints live in cli_serve_api.c, the HTTP glue in cli_serve_http.c. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli.h"
#include "cli_serve.h"

static const char help[] =
    "Usage: mmfuse serve --text-model DIR [--image-model DIR] [--index FILE] [--head HEAD] [options]\n\n"
    "Runs an HTTP service beside your application: embeddings in the OpenAI and\n"
    "Hugging Face TEI shapes, a live vector index with durable writes, health,\n"
    "Prometheus metrics and a web page. Concurrent requests are gathered into\n"
    "encoder batches. JSON in and out; every error is a JSON body\n"
    "{\"error\": {\"message\", \"type\", \"param\"}} with a 4xx/5xx status.\n\n"
    "Endpoints:\n"
    "  POST /v1/embeddings     {\"input\": str | [str] | [{\"image\": base64 or data URL}],\n"
    "                          \"model\"?, \"encoding_format\"?: float | base64, \"dimensions\"?}\n"
    "                          -> OpenAI's list of embeddings with usage; the values are\n"
    "                          what `mmfuse embed` writes for the same folder\n"
    "  POST /embed             {\"inputs\": str | [str], \"normalize\"?: true, \"truncate\"?: false}\n"
    "                          -> [[float]] (TEI); too long without truncate -> 413\n"
    "  POST /v1/index/items    {\"items\": [{\"id\": str, \"text\" | \"image\", \"payload\"?: JSON}]}\n"
    "                          embeds and adds (an existing id is replaced); answered once durable\n"
    "  DELETE /v1/index/items/ID\n"
    "  POST /v1/search         {\"text\" | \"image\" | \"vector\", \"k\"?: 10, \"filter\"?: {field: value}}\n"
    "                          -> {\"hits\": [{\"id\", \"score\", \"payload\"}]}\n"
    "  POST /v1/classify       {\"text\"?, \"image\"?, \"top\"?: 5} with --head: the head's classes\n"
    "                          -> {\"class\", \"top\": [{\"class\", \"probability\", \"logit\"}], \"modalities\"};\n"
    "                          either modality may be absent (masked, as eval --drop)\n"
    "  POST /v1/caption        {\"image\"?, \"text\"?, \"beam\"?, \"max_len\"?, \"prefix\"?} with --captioner\n"
    "                          -> {\"caption\"}, as `mmfuse caption run`\n"
    "  POST /v1/vqa            {\"image\"?, \"question\"?} with --vqa -> {\"answer\", \"probability\"},\n"
    "                          as `mmfuse vqa run`\n"
    "  GET /healthz, /readyz, /metrics (Prometheus text), / (the web page)\n\n"
    "Options:\n"
    "  --text-model DIR       encoder folder for texts (any folder `mmfuse embed` takes)\n"
    "  --image-model DIR      encoder folder for images (default: --text-model when it has an\n"
    "                         image tower, e.g. CLIP)\n"
    "  --index FILE           the live index (created when missing); writes go to FILE.log,\n"
    "                         fsync'd before the reply and folded into FILE in the background\n"
    "  --head HEAD            a classify fusion head (`mmfuse train`) over \"text\" and/or \"image\"\n"
    "                         embeddings of these models: serves POST /v1/classify\n"
    "  --captioner CAP        a captioner (`mmfuse caption train`): serves POST /v1/caption\n"
    "  --vqa VQA              a VQA model (`mmfuse vqa train`): serves POST /v1/vqa; text and\n"
    "                         image modalities go through --text-model / --image-model\n"
    "  --host ADDR            numeric address to bind (default 127.0.0.1; 0.0.0.0 = every\n"
    "                         interface: give --api-key-file too)\n"
    "  --port N               TCP port (default 8080; 0 = a free one, see --port-file)\n"
    "  --port-file F          write the bound port to F once listening\n"
    "  --api-key-file F       every endpoint but /healthz needs Authorization: Bearer KEY,\n"
    "                         KEY being F's first line\n"
    "  --threads N            encoder threads (default: the cores this process may use, or MMFUSE_THREADS)\n"
    "  --http-mode M          per-connection (a thread per connection, the default) | pool (--http-\n"
    "                         threads threads with an epoll loop each) | epoll (one thread). A\n"
    "                         request holds its thread while it waits for its encoder batch, so\n"
    "                         only requests on different threads share batches (bench/RESULTS.md)\n"
    "  --http-threads N       threads of --http-mode pool (default 32)\n"
    "  --precision P          fp32 | bf16 | int8 | auto (default auto; see mmfuse embed --help)\n"
    "  --max-batch N          inputs per encoder call (default 32)\n"
    "  --batch-wait-ms N      how long a request waits for others to share its batch, when other\n"
    "                         requests are in flight (default 2)\n"
    "  --max-queue N          inputs waiting for the encoder before 429 (default 1024)\n"
    "  --max-body BYTES       request body limit, else 413 (default 16777216)\n"
    "  --max-inputs N         inputs or items per request, else 413 (default 256)\n"
    "  --max-image-pixels N   width x height limit, read from the header before decoding (default 40000000)\n"
    "  --timeout S            drop a connection silent for S seconds (default 30)\n"
    "  --model-name NAME      \"model\" in replies (default: the text model folder's name)\n\n"
    "SIGTERM or SIGINT: stop accepting, finish the requests in flight (10 s at most),\n"
    "fold the log into the index, exit 0. One access-log line per request on stderr.\n\n"
    "Examples:\n"
    "  mmfuse serve --text-model models/all-MiniLM-L6-v2 --index notes.mmfidx --port 8080\n"
    "  curl -s localhost:8080/v1/embeddings -H 'Content-Type: application/json' \\\n"
    "       -d '{\"input\": [\"a red heart\"], \"model\": \"all-MiniLM-L6-v2\"}'\n"
    "  curl -s localhost:8080/v1/index/items -d '{\"items\": [{\"id\": \"n1\", \"text\": \"buy milk\"}]}'\n"
    "  curl -s localhost:8080/v1/search -d '{\"text\": \"groceries\", \"k\": 3}'\n";

static int read_key(const char *path, char **out) {
    FILE *f = fopen(path, "r");
    if (!f) { fprintf(stderr, "mmfuse serve: error: cannot read the API key file %s: %s\n", path, strerror(errno)); return 0; }
    char line[1024];
    char *got = fgets(line, sizeof line, f);
    fclose(f);
    size_t n = got ? strlen(line) : 0;
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t')) line[--n] = 0;
    if (n < 8) {
        fprintf(stderr, "mmfuse serve: error: %s: the API key (its first line) is %s; use at least 8 characters\n", path,
                n ? "too short" : "empty");
        return 0;
    }
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 077))
        fprintf(stderr, "mmfuse serve: warning: %s is readable by other users (chmod 600 it)\n", path);
    *out = strdup(line);
    return *out != NULL;
}

static int write_port_file(const char *path, int port) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f)) {
        fprintf(stderr, "mmfuse serve: error: cannot write --port-file %s: %s\n", path, strerror(errno));
        return 0;
    }
    if (rename(tmp, path)) { fprintf(stderr, "mmfuse serve: error: cannot write --port-file %s: %s\n", path, strerror(errno)); return 0; }
    return 1;
}

static int is_loopback(const char *host) { return !strncmp(host, "127.", 4) || !strcmp(host, "::1"); }

static int load(const char *dir, int threads, int max_batch, mmf_precision prec, mmf_encoder **enc) {
    mmf_encoder_params p = mmf_encoder_params_default();
    p.n_threads = threads;
    p.max_batch = max_batch;
    p.precision = prec;
    mmf_status s = mmf_encoder_load(dir, &p, enc);
    if (s) { cli_fail("serve", s, "cannot load the model"); return 0; }
    return 1;
}

static int run(int argc, char **argv) {
    const char *text_dir = NULL, *image_dir = NULL, *index = NULL, *host = "127.0.0.1", *port_file = NULL;
    const char *key_file = NULL, *model_name = NULL, *head = NULL, *captioner = NULL, *vqa = NULL, *v;
    int http_mode = SERVE_HTTP_PER_CONNECTION;
    long port = 8080, threads = cli_default_threads(), http_threads = 32, max_batch = 32, wait_ms = 2, max_queue = 1024;
    long max_body = 16L << 20, max_inputs = 256, max_pixels = 40000000, timeout = 30;
    mmf_precision prec = mmf_default_precision();
    int bad = 0;
    struct { const char *name; long *dst, lo, hi; } nums[] = {
        {"--port", &port, 0, 65535}, {"--threads", &threads, 1, 1024}, {"--http-threads", &http_threads, 1, 256},
        {"--max-batch", &max_batch, 1, 4096}, {"--batch-wait-ms", &wait_ms, 0, 1000}, {"--max-queue", &max_queue, 1, 1 << 20},
        {"--max-body", &max_body, 1024, 1L << 30}, {"--max-inputs", &max_inputs, 1, 1 << 16},
        {"--max-image-pixels", &max_pixels, 1, 1L << 32}, {"--timeout", &timeout, 1, 3600}};
    for (int i = 1; i < argc; i++) {
        int hit = 0;
        for (size_t k = 0; k < sizeof nums / sizeof nums[0] && !hit; k++)
            if (cli_opt(argc, argv, &i, nums[k].name, &v, &bad)) {
                hit = 1;
                if (bad || !cli_int(nums[k].name, v, nums[k].lo, nums[k].hi, nums[k].dst)) return MMF_EXIT_USAGE;
            }
        if (hit) continue;
        if (cli_opt(argc, argv, &i, "--text-model", &text_dir, &bad)) {}
        else if (cli_opt(argc, argv, &i, "--image-model", &image_dir, &bad)) {}
        else if (cli_opt(argc, argv, &i, "--index", &index, &bad)) {}
        else if (cli_opt(argc, argv, &i, "--head", &head, &bad)) {}
        else if (cli_opt(argc, argv, &i, "--captioner", &captioner, &bad)) {}
        else if (cli_opt(argc, argv, &i, "--vqa", &vqa, &bad)) {}
        else if (cli_opt(argc, argv, &i, "--host", &host, &bad)) {}
        else if (cli_opt(argc, argv, &i, "--port-file", &port_file, &bad)) {}
        else if (cli_opt(argc, argv, &i, "--api-key-file", &key_file, &bad)) {}
        else if (cli_opt(argc, argv, &i, "--model-name", &model_name, &bad)) {}
        else if (cli_opt(argc, argv, &i, "--http-mode", &v, &bad)) {
            if (!bad && (http_mode = serve_http_mode_parse(v)) < 0)
                return cli_usage("serve", "--http-mode %s: expected pool, epoll or per-connection", v);
        } else if (cli_opt(argc, argv, &i, "--precision", &v, &bad)) {
            if (!bad && !cli_precision("serve", v, &prec)) return MMF_EXIT_USAGE;
        } else return cli_usage("serve", "unknown argument %s (see mmfuse serve --help)", argv[i]);
        if (bad) return MMF_EXIT_USAGE;
    }
    if (!text_dir && !image_dir) return cli_usage("serve", "give a model: --text-model DIR and/or --image-model DIR");

    serve_ctx c = {.text_dir = text_dir, .image_dir = image_dir, .max_body = (size_t)max_body,
                   .max_inputs = (int)max_inputs, .max_pixels = max_pixels, .search_threads = 1};
    if (key_file && !read_key(key_file, &c.api_key)) return MMF_EXIT_FAIL;
    if (!is_loopback(host) && !c.api_key)
        fprintf(stderr, "mmfuse serve: warning: listening on %s without --api-key-file: anyone who can reach this "
                        "address can use and change the service\n", host);
    /* the folder's own name: "models/all-MiniLM-L6-v2/" -> "all-MiniLM-L6-v2" */
    char name_buf[256];
    snprintf(name_buf, sizeof name_buf, "%s", text_dir ? text_dir : image_dir);
    size_t nl = strlen(name_buf);
    while (nl > 1 && name_buf[nl - 1] == '/') name_buf[--nl] = 0;
    const char *slash = strrchr(name_buf, '/');
    const char *short_name = slash && slash[1] ? slash + 1 : name_buf;
    c.model_name = model_name ? model_name : short_name;

    /* SIGINT/SIGTERM are taken by sigwait in this thread only: every thread
     * started from here on inherits the blocked mask */
    sigset_t stop_set;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_set, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[512];
    int bound = 0, rc = MMF_EXIT_FAIL;
    serve_http *http = NULL;
    if (serve_http_start(&c, host, (int)port, http_mode, (int)http_threads, (int)timeout, &http, &bound, err, sizeof err)) {
        fprintf(stderr, "mmfuse serve: error: %s\n", err);
        free(c.api_key);
        return MMF_EXIT_FAIL;
    }
    fprintf(stderr, "mmfuse serve: listening on http://%s%s%s:%d/ (loading models)\n", strchr(host, ':') ? "[" : "", host,
            strchr(host, ':') ? "]" : "", bound);
    if (port_file && !write_port_file(port_file, bound)) goto out;

    if (text_dir) {
        if (!load(text_dir, (int)threads, (int)max_batch, prec, &c.text)) goto out;
        if (!(mmf_encoder_modalities(c.text) & MMF_MODALITY_TEXT)) {
            fprintf(stderr, "mmfuse serve: error: %s is a %s model without a text tower (use --image-model)\n", text_dir,
                    mmf_encoder_model_type(c.text));
            goto out;
        }
    }
    if (image_dir && (!text_dir || strcmp(image_dir, text_dir))) {
        if (!load(image_dir, (int)threads, (int)max_batch, prec, &c.image)) goto out;
    } else if (c.text && (mmf_encoder_modalities(c.text) & MMF_MODALITY_IMAGE)) c.image = c.text;
    if (c.image && !(mmf_encoder_modalities(c.image) & MMF_MODALITY_IMAGE)) {
        fprintf(stderr, "mmfuse serve: error: %s is a %s model without an image tower\n", image_dir,
                mmf_encoder_model_type(c.image));
        goto out;
    }
    pthread_mutex_init(&c.head_mu, NULL);
    if (head) {
        mmf_status hs = mmf_head_load(head, &c.head);
        if (hs) { cli_fail("serve", hs, "cannot load the head"); goto out; }
        if (!serve_head_check(&c, err, sizeof err)) { fprintf(stderr, "mmfuse serve: error: %s: %s\n", head, err); goto out; }
    }
    if (captioner) {
        mmf_status cs = mmf_captioner_load(captioner, &c.captioner);
        if (cs) { cli_fail("serve", cs, "cannot load the captioner"); goto out; }
        if (!serve_caption_check(&c, err, sizeof err)) { fprintf(stderr, "mmfuse serve: error: %s: %s\n", captioner, err); goto out; }
    }
    if (vqa) {
        mmf_status vs = mmf_vqa_load(vqa, &c.vqa);
        if (vs) { cli_fail("serve", vs, "cannot load the VQA model"); goto out; }
        if (!serve_vqa_check(&c, err, sizeof err)) { fprintf(stderr, "mmfuse serve: error: %s: %s\n", vqa, err); goto out; }
    }
    serve_batcher_opts bo = {.text = c.text, .image = c.image, .max_batch = (int)max_batch,
                             .max_wait_us = (int)wait_ms * 1000, .max_queue = (int)max_queue,
                             .in_flight = &c.in_flight};
    if (serve_batcher_start(&bo, &c.batcher)) { fprintf(stderr, "mmfuse serve: error: cannot start the encoder thread\n"); goto out; }
    if (index) {
        mmf_encoder *q = c.text ? c.text : c.image;
        const char *qdir = c.text ? text_dir : (image_dir ? image_dir : text_dir);
        char mid[MMF_MODEL_ID_MAX];
        int known = mmf_model_id(qdir, mid, sizeof mid) == MMF_OK;
        if (serve_store_open(index, mmf_encoder_dim(q), known ? mid : NULL, &c.store, err, sizeof err)) {
            fprintf(stderr, "mmfuse serve: error: %s: %s\n", index, err);
            goto out;
        }
        long items, deleted;
        serve_store_counts(c.store, &items, &deleted);
        fprintf(stderr, "mmfuse serve: index %s: %ld items\n", index, items);
    }
    atomic_store(&c.ready, 1);
    fprintf(stderr, "mmfuse serve: ready (model %s, dimension %d)\n", c.model_name,
            mmf_encoder_dim(c.text ? c.text : c.image));
    int sig = 0;
    sigwait(&stop_set, &sig);
    fprintf(stderr, "mmfuse serve: %s: finishing the requests in flight\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    rc = MMF_EXIT_OK;
out:
    atomic_store(&c.ready, 0);
    serve_http_stop(http, 8);
    serve_batcher_stop(c.batcher);
    if (c.store) {
        serve_store_close(c.store);   /* folds the log into the index file */
        fprintf(stderr, "mmfuse serve: index %s saved\n", index);
    }
    mmf_head_free(c.head);
    mmf_captioner_free(c.captioner);
    mmf_vqa_free(c.vqa);
    if (c.image && c.image != c.text) mmf_encoder_free(c.image);
    mmf_encoder_free(c.text);
    free(c.api_key);
    if (rc == MMF_EXIT_OK) fprintf(stderr, "mmfuse serve: stopped\n");
    return rc;
}

const mmf_cli_command mmf_cmd_serve = {"serve", "an HTTP embedding and search service (OpenAI / TEI shapes, live index)", run, help};
