/* `mmfuse serve`: the pieces of the embedding and search service.
 *   cmd_serve.c          options, start-up, signals, shutdown
 *   cli_serve_http.c     libmicrohttpd glue: bodies, limits, auth, routing, access log
 *   cli_serve_batch.c    the encoder worker: concurrent requests gathered into batches
 *   cli_serve_api.c      the JSON endpoints (OpenAI, TEI, search, index items)
 *   cli_serve_heads.c    POST /v1/classify, /v1/caption, /v1/vqa (fusion head, captioner, VQA)
 *   cli_serve_store.c    the live index and its durable write-ahead log
 *   cli_serve_metrics.c  counters and latency histograms, Prometheus text
 *   cli_serve_page.c     the web page at GET /
 * The library stays free of HTTP: everything here uses the public mmfuse.h. */
#ifndef MMF_CLI_SERVE_H
#define MMF_CLI_SERVE_H
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "mmfuse.h"

/* ------------------------------------------------------------ the batcher */
typedef struct serve_batcher serve_batcher;

typedef struct serve_batcher_opts {
    mmf_encoder *text, *image;   /* either may be NULL; may be the same encoder */
    int max_batch;               /* inputs per encoder call */
    int max_wait_us;             /* how long the first request waits for company */
    int max_queue;               /* inputs waiting at most; more -> 429 */
    atomic_int *in_flight;       /* HTTP requests in progress: no wait when none but the queued
                                    ones are (NULL: always wait up to max_wait_us) */
} serve_batcher_opts;

int serve_batcher_start(const serve_batcher_opts *o, serve_batcher **out);
/* Finishes the queued work, then stops the worker. */
void serve_batcher_stop(serve_batcher *b);
/* Raw pooled embeddings (the folder's pooling, not normalised) of n texts or
 * n preprocessed images (pixels (n, 3, H, W)) into out (n, dim). Blocks until
 * done. Returns 0, 429 when the queue is full, 500 when the encoder failed
 * (err says why). */
int serve_embed_texts(serve_batcher *b, const char *const *texts, size_t n, float *out, char *err, size_t cap);
int serve_embed_pixels(serve_batcher *b, const float *pixels, size_t n, float *out, char *err, size_t cap);
int serve_batcher_queue_depth(serve_batcher *b);

/* ------------------------------------------------------------ the store */
typedef struct serve_store serve_store;
/* Opens (or prepares to create) the index FILE and replays FILE.log. dim is the
 * query encoder's dimension; model_id its fingerprint (may be NULL). */
int serve_store_open(const char *path, int dim, const char *model_id, serve_store **out, char *err, size_t cap);
void serve_store_close(serve_store *s);   /* compacts, then frees */

/* ------------------------------------------------------------ metrics */
enum serve_endpoint {
    EP_EMBEDDINGS, EP_TEI, EP_SEARCH, EP_ITEMS_ADD, EP_ITEMS_DELETE, EP_HEALTHZ, EP_READYZ, EP_METRICS, EP_PAGE,
    EP_CLASSIFY, EP_CAPTION, EP_VQA, EP_OTHER, EP_COUNT
};
extern const char *const serve_endpoint_names[EP_COUNT];
void serve_metrics_request(int ep, int status, double seconds);
void serve_metrics_batch(int n);
/* Prometheus text exposition of everything counted so far (malloc'd). */
char *serve_metrics_text(int queue_depth, long index_items, long index_deleted);

/* ------------------------------------------------------------ the service */
typedef struct serve_ctx {
    mmf_encoder *text, *image;
    const char *text_dir, *image_dir;
    char text_model_id[MMF_MODEL_ID_MAX], image_model_id[MMF_MODEL_ID_MAX];
    const char *model_name;           /* "model" in responses */
    serve_batcher *batcher;
    serve_store *store;               /* NULL without --index */
    mmf_head *head;                   /* --head (a classify head), or NULL */
    mmf_captioner *captioner;         /* --captioner, or NULL */
    mmf_vqa *vqa;                     /* --vqa, or NULL */
    pthread_mutex_t head_mu;          /* the head, captioner and VQA model are not reentrant */
    char *api_key;                    /* NULL: no auth */
    size_t max_body;                  /* bytes */
    int max_inputs;                   /* per request */
    int64_t max_pixels;               /* per image, checked before decoding */
    int search_threads;
    atomic_int ready;                 /* models loaded, log replayed */
    atomic_int in_flight;
} serve_ctx;

/* A reply: HTTP status and a malloc'd body of the given content type. */
typedef struct serve_reply {
    int status;
    char *body;
    size_t len;
    const char *type;                 /* static */
} serve_reply;

/* {"error": {"message", "type", "param"}} with that status; type follows the
 * status (invalid_request_error, authentication_error, ...). param may be NULL. */
void serve_error(serve_reply *r, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Routes one complete request. Never fails: every problem becomes a reply. */
void serve_api_handle(serve_ctx *c, const char *method, const char *url, const char *body, size_t len, serve_reply *r,
                      int *endpoint);
/* The request body as a JSON object, or NULL with a 400 in r. */
struct cJSON *serve_parse_body(const char *body, size_t len, serve_reply *r);
/* One text or one image (base64 or a data URL) embedded as `mmfuse embed`
 * writes it (the folder's pooling and default normalisation): *out is malloc'd. */
int serve_embed_one(serve_ctx *c, const char *text, const char *image, const char *param, float **out, int *dim,
                    serve_reply *r);
/* POST /v1/classify, /v1/caption, /v1/vqa (cli_serve_heads.c). */
void serve_classify(serve_ctx *c, const char *body, size_t len, serve_reply *r);
void serve_caption(serve_ctx *c, const char *body, size_t len, serve_reply *r);
void serve_vqa(serve_ctx *c, const char *body, size_t len, serve_reply *r);
/* Checks that --head / --captioner / --vqa fit the loaded encoders (modalities, dimensions). */
int serve_head_check(serve_ctx *c, char *err, size_t cap);
int serve_caption_check(serve_ctx *c, char *err, size_t cap);
int serve_vqa_check(serve_ctx *c, char *err, size_t cap);

/* Search, add and delete against the store, called by cli_serve_api.c. */
int serve_store_search(serve_store *s, const float *q, int dim, int k, const char *filter_json, char **hits_json,
                       char *err, size_t cap);
int serve_store_add(serve_store *s, size_t n, const float *vecs, const char *const *ids, const char *const *payloads,
                    char *err, size_t cap);
int serve_store_delete(serve_store *s, const char *id, char *err, size_t cap);
void serve_store_counts(serve_store *s, long *items, long *deleted);
int serve_store_dim(serve_store *s);

extern const char serve_page_html[];

/* ------------------------------------------------------------ HTTP */
typedef struct serve_http serve_http;
enum serve_http_mode { SERVE_HTTP_POOL, SERVE_HTTP_EPOLL, SERVE_HTTP_PER_CONNECTION };
/* "pool" | "epoll" | "per-connection" -> the mode, -1 when unknown */
int serve_http_mode_parse(const char *name);
/* Listens on host:port (port 0: a free one; *bound gets it): a pool of
 * `threads` epoll threads, one epoll thread, or a thread per connection; slow
 * clients are dropped after timeout_s of silence. */
int serve_http_start(serve_ctx *c, const char *host, int port, int mode, int threads, int timeout_s, serve_http **out,
                     int *bound, char *err, size_t cap);
/* Stops accepting, waits (up to grace_s) for requests in flight, closes. */
void serve_http_stop(serve_http *h, int grace_s);
#endif
