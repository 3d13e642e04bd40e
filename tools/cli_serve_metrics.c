/* Counters of `mmfuse serve` in the Prometheus text format (version 0.0.4):
 * requests and errors by endpoint, a latency histogram by endpoint, the encoder
 * batch sizes, queue depth, index size and resident memory. Lock-free atomics:
 * every request thread adds, GET /metrics reads. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli_serve.h"

const char *const serve_endpoint_names[EP_COUNT] = {
    "/v1/embeddings", "/embed", "/v1/search", "/v1/index/items", "/v1/index/items/{id}", "/healthz", "/readyz",
    "/metrics", "/", "/v1/classify", "/v1/caption", "/v1/vqa", "other"};

static const double lat_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define N_LAT (sizeof lat_bounds / sizeof lat_bounds[0])
static const int batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128};
#define N_BATCH (sizeof batch_bounds / sizeof batch_bounds[0])

static atomic_long requests[EP_COUNT], errors[EP_COUNT], lat_count[EP_COUNT][N_LAT + 1];
static atomic_llong lat_sum_us[EP_COUNT];
static atomic_long batch_count[N_BATCH + 1], batch_n;
static atomic_llong batch_sum;

void serve_metrics_request(int ep, int status, double seconds) {
    if (ep < 0 || ep >= EP_COUNT) ep = EP_OTHER;
    atomic_fetch_add(&requests[ep], 1);
    if (status >= 400) atomic_fetch_add(&errors[ep], 1);
    size_t b = 0;
    while (b < N_LAT && seconds > lat_bounds[b]) b++;
    atomic_fetch_add(&lat_count[ep][b], 1);
    atomic_fetch_add(&lat_sum_us[ep], (long long)(seconds * 1e6));
}

void serve_metrics_batch(int n) {
    size_t b = 0;
    while (b < N_BATCH && n > batch_bounds[b]) b++;
    atomic_fetch_add(&batch_count[b], 1);
    atomic_fetch_add(&batch_n, 1);
    atomic_fetch_add(&batch_sum, n);
}

static long rss_bytes(void) {
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
    fclose(f);
    return rss * sysconf(_SC_PAGESIZE);
}

typedef struct buf { char *p; size_t len, cap; } buf;
static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if (b->p && b->len + (size_t)n < b->cap) { b->len += (size_t)n; return; }
        size_t cap = (b->cap ? b->cap * 2 : 8192) + (size_t)n;
        char *p = realloc(b->p, cap);
        if (!p) return;
        b->p = p;
        b->cap = cap;
    }
}

char *serve_metrics_text(int queue_depth, long index_items, long index_deleted) {
    buf b = {0};
    put(&b, "# HELP mmfuse_requests_total HTTP requests by endpoint.\n# TYPE mmfuse_requests_total counter\n");
    for (int e = 0; e < EP_COUNT; e++)
        put(&b, "mmfuse_requests_total{endpoint=\"%s\"} %ld\n", serve_endpoint_names[e], atomic_load(&requests[e]));
    put(&b, "# HELP mmfuse_request_errors_total Requests answered with a 4xx or 5xx status.\n"
            "# TYPE mmfuse_request_errors_total counter\n");
    for (int e = 0; e < EP_COUNT; e++)
        put(&b, "mmfuse_request_errors_total{endpoint=\"%s\"} %ld\n", serve_endpoint_names[e], atomic_load(&errors[e]));
    put(&b, "# HELP mmfuse_request_duration_seconds Time from the request's arrival to its reply.\n"
            "# TYPE mmfuse_request_duration_seconds histogram\n");
    for (int e = 0; e < EP_COUNT; e++) {
        long cum = 0;
        for (size_t i = 0; i <= N_LAT; i++) {
            cum += atomic_load(&lat_count[e][i]);
            if (i < N_LAT)
                put(&b, "mmfuse_request_duration_seconds_bucket{endpoint=\"%s\",le=\"%g\"} %ld\n", serve_endpoint_names[e],
                    lat_bounds[i], cum);
            else put(&b, "mmfuse_request_duration_seconds_bucket{endpoint=\"%s\",le=\"+Inf\"} %ld\n", serve_endpoint_names[e], cum);
        }
        put(&b, "mmfuse_request_duration_seconds_sum{endpoint=\"%s\"} %.6f\n", serve_endpoint_names[e],
            (double)atomic_load(&lat_sum_us[e]) / 1e6);
        put(&b, "mmfuse_request_duration_seconds_count{endpoint=\"%s\"} %ld\n", serve_endpoint_names[e], cum);
    }
    put(&b, "# HELP mmfuse_batch_size Inputs per encoder call.\n# TYPE mmfuse_batch_size histogram\n");
    long cum = 0;
    for (size_t i = 0; i <= N_BATCH; i++) {
        cum += atomic_load(&batch_count[i]);
        if (i < N_BATCH) put(&b, "mmfuse_batch_size_bucket{le=\"%d\"} %ld\n", batch_bounds[i], cum);
        else put(&b, "mmfuse_batch_size_bucket{le=\"+Inf\"} %ld\n", cum);
    }
    put(&b, "mmfuse_batch_size_sum %lld\nmmfuse_batch_size_count %ld\n", atomic_load(&batch_sum), atomic_load(&batch_n));
    put(&b, "# HELP mmfuse_queue_depth Inputs waiting for the encoder.\n# TYPE mmfuse_queue_depth gauge\n"
            "mmfuse_queue_depth %d\n", queue_depth);
    put(&b, "# HELP mmfuse_index_items Live items in the index.\n# TYPE mmfuse_index_items gauge\nmmfuse_index_items %ld\n",
        index_items);
    put(&b, "# HELP mmfuse_index_deleted Tombstones not yet compacted away.\n# TYPE mmfuse_index_deleted gauge\n"
            "mmfuse_index_deleted %ld\n", index_deleted);
    put(&b, "# HELP process_resident_memory_bytes Resident memory.\n# TYPE process_resident_memory_bytes gauge\n"
            "process_resident_memory_bytes %ld\n", rss_bytes());
    return b.p;
}
