/* libmicrohttpd glue of `mmfuse serve`: collects each request body up to the
 * limit (a Content-Length above it is refused before anything is read), checks
 * the API key in constant time, hands complete requests to serve_api_handle and
 * writes one access-log line per request to stderr. Three ways to run MHD
 * (--http-mode; bench/serve_wrk.py measures them): a pool of threads, each with
 * its own epoll loop (the default); one epoll thread for every connection; a
 * thread per connection. A handler blocks while the batcher embeds, so with one
 * thread requests cannot share encoder batches. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "cli_serve.h"

struct serve_http {
    struct MHD_Daemon *d;
    serve_ctx *c;
};

typedef struct request {
    char *body;
    size_t len, cap;
    int too_large;
    struct timespec t0;
    int status, endpoint;
    size_t reply_len;
    char method[8];
    char path[160];
} request;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

void serve_error(serve_reply *r, int status, const char *param, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *type = status == 401 ? "authentication_error"
                       : status == 404 ? "not_found_error"
                       : status == 405 ? "method_not_allowed"
                       : status == 413 ? "request_too_large"
                       : status == 429 ? "rate_limit_error"
                       : status >= 500 ? "server_error"
                                       : "invalid_request_error";
    /* message and param are escaped as JSON strings */
    size_t cap = 2 * (strlen(msg) + (param ? strlen(param) : 0)) * 6 + 128;
    char *out = malloc(cap);
    if (!out) { r->status = status; r->body = NULL; r->len = 0; r->type = "application/json"; return; }
    size_t n = 0;
    n += (size_t)snprintf(out + n, cap - n, "{\"error\": {\"message\": \"");
    for (const char *s = msg; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') n += (size_t)snprintf(out + n, cap - n, "\\%c", ch);
        else if (ch < 0x20) n += (size_t)snprintf(out + n, cap - n, "\\u%04x", ch);
        else out[n++] = (char)ch;
    }
    n += (size_t)snprintf(out + n, cap - n, "\", \"type\": \"%s\", \"param\": ", type);
    if (param) {
        out[n++] = '"';
        for (const char *s = param; *s; s++) {
            unsigned char ch = (unsigned char)*s;
            if (ch == '"' || ch == '\\' || ch < 0x20) out[n++] = '_';
            else out[n++] = (char)ch;
        }
        out[n++] = '"';
    } else n += (size_t)snprintf(out + n, cap - n, "null");
    n += (size_t)snprintf(out + n, cap - n, "}}");
    free(r->body);
    r->status = status;
    r->body = out;
    r->len = n;
    r->type = "application/json";
}

/* Same length and every byte compared, whatever differs first. */
static int key_matches(const char *want, const char *header) {
    static const char prefix[] = "Bearer ";
    if (!header || strncmp(header, prefix, sizeof prefix - 1)) return 0;
    const char *got = header + sizeof prefix - 1;
    size_t lw = strlen(want), lg = strlen(got);
    unsigned char diff = (unsigned char)(lw != lg);
    for (size_t i = 0; i < lw; i++) diff |= (unsigned char)(want[i] ^ (i < lg ? got[i] : 0));
    return diff == 0;
}

static enum MHD_Result send_reply(struct MHD_Connection *con, request *rq, serve_reply *r) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
    if (!resp) { free(r->body); return MHD_NO; }
    MHD_add_response_header(resp, "Content-Type", r->type);
    if (r->status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    rq->status = r->status;
    rq->reply_len = r->len;
    enum MHD_Result ok = MHD_queue_response(con, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    serve_ctx *c = cls;
    request *rq = *con_cls;
    if (!rq) {   /* first call: headers only */
        rq = calloc(1, sizeof *rq);
        if (!rq) return MHD_NO;
        clock_gettime(CLOCK_MONOTONIC, &rq->t0);
        rq->endpoint = EP_OTHER;
        snprintf(rq->method, sizeof rq->method, "%s", method);
        snprintf(rq->path, sizeof rq->path, "%s", url);
        *con_cls = rq;
        atomic_fetch_add(&c->in_flight, 1);
        const char *cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > c->max_body) {
            serve_reply r = {0};
            serve_error(&r, 413, NULL, "the request body is %s bytes; this server takes at most %zu (--max-body)", cl,
                        c->max_body);
            return send_reply(con, rq, &r);
        }
        return MHD_YES;
    }
    if (*upload_size) {   /* a piece of the body */
        if (!rq->too_large && rq->len + *upload_size > c->max_body) {
            rq->too_large = 1;
            free(rq->body);
            rq->body = NULL;
            rq->len = rq->cap = 0;
        }
        if (!rq->too_large) {
            if (rq->len + *upload_size + 1 > rq->cap) {
                size_t cap = (rq->len + *upload_size + 1) * 2;
                if (cap > c->max_body + 1) cap = c->max_body + 1;
                char *p = realloc(rq->body, cap);
                if (!p) return MHD_NO;
                rq->body = p;
                rq->cap = cap;
            }
            memcpy(rq->body + rq->len, upload, *upload_size);
            rq->len += *upload_size;
            rq->body[rq->len] = 0;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    serve_reply r = {0};
    if (rq->too_large) {
        serve_error(&r, 413, NULL, "the request body is larger than %zu bytes (--max-body)", c->max_body);
        return send_reply(con, rq, &r);
    }
    if (c->api_key && strcmp(url, "/healthz") &&
        !key_matches(c->api_key, MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Authorization"))) {
        serve_error(&r, 401, NULL, "missing or wrong API key: send the header Authorization: Bearer KEY");
        return send_reply(con, rq, &r);
    }
    serve_api_handle(c, method, url, rq->body ? rq->body : "", rq->len, &r, &rq->endpoint);
    return send_reply(con, rq, &r);
}

/* After the reply went out (or the client vanished): metrics, access log, free. */
static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls, enum MHD_RequestTerminationCode why) {
    serve_ctx *c = cls;
    request *rq = *con_cls;
    if (!rq) return;
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dt = (double)(t1.tv_sec - rq->t0.tv_sec) + (double)(t1.tv_nsec - rq->t0.tv_nsec) * 1e-9;
    int status = rq->status ? rq->status : 499;   /* no reply: the client went away or timed out */
    serve_metrics_request(rq->endpoint, status, dt);
    char ip[64] = "-";
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET) inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof ip);
        else if (sa->sa_family == AF_INET6) inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof ip);
    }
    /* one structured line per request; the path is printed without control bytes */
    for (char *p = rq->path; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '"') *p = '_';
    fprintf(stderr, "mmfuse serve: access client=%s method=%s path=\"%s\" status=%d bytes_in=%zu bytes_out=%zu ms=%.2f%s\n",
            ip, rq->method, rq->path, status, rq->len, rq->reply_len, dt * 1e3,
            why == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=1");
    free(rq->body);
    free(rq);
    *con_cls = NULL;
    atomic_fetch_sub(&c->in_flight, 1);
}

int serve_http_mode_parse(const char *name) {
    return !strcmp(name, "pool") ? SERVE_HTTP_POOL : !strcmp(name, "epoll") ? SERVE_HTTP_EPOLL
         : !strcmp(name, "per-connection") ? SERVE_HTTP_PER_CONNECTION : -1;
}

int serve_http_start(serve_ctx *c, const char *host, int port, int mode, int threads, int timeout_s, serve_http **out,
                     int *bound, char *err, size_t cap) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    unsigned flags = mode == SERVE_HTTP_PER_CONNECTION ? MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                                                         MHD_USE_ITC | MHD_USE_POLL
                     : mode == SERVE_HTTP_EPOLL ? MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC
                                                : MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_AUTO;
    if (mode != SERVE_HTTP_POOL) threads = 1;   /* MHD_OPTION_THREAD_POOL_SIZE 1: no pool */
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, cap, "--host %s: expected a numeric IPv4 or IPv6 address (e.g. 127.0.0.1, 0.0.0.0, ::1)", host);
        return 1;
    }
    serve_http *h = calloc(1, sizeof *h);
    if (!h) { snprintf(err, cap, "out of memory"); return 1; }
    h->c = c;
    h->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, c,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)timeout_s,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, c,
                            MHD_OPTION_END);
    if (!h->d) {
        snprintf(err, cap, "cannot listen on %s port %d: %s", host, port,
                 errno ? strerror(errno) : "libmicrohttpd could not start (port in use?)");
        free(h);
        return 1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    *bound = di ? di->port : port;
    *out = h;
    return 0;
}

void serve_http_stop(serve_http *h, int grace_s) {
    if (!h) return;
    /* stop accepting: the listening socket closes, open connections go on */
    MHD_socket s = MHD_quiesce_daemon(h->d);
    if (s != MHD_INVALID_SOCKET) close(s);
    double until = now_s() + grace_s;
    while (atomic_load(&h->c->in_flight) > 0 && now_s() < until) usleep(10000);
    if (atomic_load(&h->c->in_flight) > 0)
        fprintf(stderr, "mmfuse serve: %d requests still running after %d s; closing them\n",
                atomic_load(&h->c->in_flight), grace_s);
    MHD_stop_daemon(h->d);
    free(h);
}
