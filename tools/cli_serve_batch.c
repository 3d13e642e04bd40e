/* The encoder worker of `mmfuse serve`. One thread owns the encoders (they are
 * not reentrant); request threads queue jobs and sleep. The worker takes the
 * first job, waits up to max_wait_us for more of the same kind, and runs them
 * as one encoder batch, so concurrent single-text requests cost one forward
 * pass instead of many (dynamic batching). It waits only while more HTTP
 * requests are in flight than jobs are queued: a lone client's request starts
 * at once instead of paying the wait on every call. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli_serve.h"

typedef struct job {
    int is_image;
    const char *const *texts;
    const float *pixels;
    size_t n;
    float *out;
    int rc;
    char err[256];
    int done;
    struct job *next;
} job;

struct serve_batcher {
    serve_batcher_opts o;
    pthread_mutex_t mu;
    pthread_cond_t wake, finished;
    job *head, *tail;
    int queued, stop;
    pthread_t worker;
    size_t pixel_floats;   /* floats per preprocessed image */
};

static void add_ns(struct timespec *t, long ns) {
    t->tv_nsec += ns;
    while (t->tv_nsec >= 1000000000L) { t->tv_nsec -= 1000000000L; t->tv_sec++; }
}

/* Run jobs [first .. stop) of one kind as one encoder call. */
static void run_batch(serve_batcher *b, job *first, size_t n_in, int n_jobs) {
    mmf_encoder *enc = first->is_image ? b->o.image : b->o.text;
    int D = mmf_encoder_dim(enc);
    float *out = malloc((n_in ? n_in : 1) * (size_t)D * sizeof(float));
    const char **texts = first->is_image ? NULL : malloc((n_in ? n_in : 1) * sizeof *texts);
    float *pix = first->is_image ? malloc((n_in ? n_in : 1) * b->pixel_floats * sizeof(float)) : NULL;
    mmf_status s = (!out || (!texts && !pix)) ? MMF_ERR_NOMEM : MMF_OK;
    size_t at = 0;
    job *j = first;
    for (int i = 0; i < n_jobs && !s; i++, j = j->next) {
        if (first->is_image) memcpy(pix + at * b->pixel_floats, j->pixels, j->n * b->pixel_floats * sizeof(float));
        else memcpy(texts + at, j->texts, j->n * sizeof *texts);
        at += j->n;
    }
    if (!s) s = first->is_image ? mmf_encoder_embed_pixels(enc, pix, n_in, MMF_POOL_DEFAULT, 0, out)
                                : mmf_encoder_embed_text(enc, texts, n_in, MMF_POOL_DEFAULT, 0, out);
    serve_metrics_batch((int)n_in);
    pthread_mutex_lock(&b->mu);
    at = 0;
    j = first;
    for (int i = 0; i < n_jobs; i++) {
        job *next = j->next;
        if (s) {
            j->rc = 500;
            snprintf(j->err, sizeof j->err, "the encoder failed: %s", mmf_last_error());
        } else memcpy(j->out, out + at * (size_t)D, j->n * (size_t)D * sizeof(float));
        at += j->n;
        j->done = 1;
        j = next;
    }
    pthread_cond_broadcast(&b->finished);
    pthread_mutex_unlock(&b->mu);
    free(out);
    free(texts);
    free(pix);
}

static void *worker(void *arg) {
    serve_batcher *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->head && !b->stop) pthread_cond_wait(&b->wake, &b->mu);
        if (!b->head) break;   /* stopping and nothing left */
        /* wait a little for more jobs of the first one's kind */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        add_ns(&until, (long)b->o.max_wait_us * 1000L);
        for (;;) {
            size_t n = 0;
            int jobs = 0;
            for (job *j = b->head; j; j = j->next) jobs++;
            for (job *j = b->head; j && j->is_image == b->head->is_image; j = j->next) n += j->n;
            if ((int)n >= b->o.max_batch || b->stop) break;
            if (b->o.in_flight && atomic_load(b->o.in_flight) <= jobs) break;   /* nobody else is coming */
            if (pthread_cond_timedwait(&b->wake, &b->mu, &until) == ETIMEDOUT) break;
        }
        /* take a run of same-kind jobs up to max_batch inputs (at least one job) */
        job *first = b->head, *j = first, *last = first;
        size_t n_in = 0;
        int n_jobs = 0;
        while (j && j->is_image == first->is_image && (n_jobs == 0 || n_in + j->n <= (size_t)b->o.max_batch)) {
            n_in += j->n;
            n_jobs++;
            last = j;
            j = j->next;
        }
        b->head = last->next;
        if (!b->head) b->tail = NULL;
        b->queued -= (int)n_in;
        pthread_mutex_unlock(&b->mu);
        run_batch(b, first, n_in, n_jobs);
        pthread_mutex_lock(&b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

int serve_batcher_start(const serve_batcher_opts *o, serve_batcher **out) {
    serve_batcher *b = calloc(1, sizeof *b);
    if (!b) return 1;
    b->o = *o;
    if (o->image) {
        int c, h, w;
        mmf_image_processor_size(mmf_encoder_image_processor(o->image), &c, &h, &w);
        b->pixel_floats = (size_t)c * h * w;
    }
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->wake, NULL);
    pthread_cond_init(&b->finished, NULL);
    if (pthread_create(&b->worker, NULL, worker, b)) { free(b); return 1; }
    *out = b;
    return 0;
}

void serve_batcher_stop(serve_batcher *b) {
    if (!b) return;
    pthread_mutex_lock(&b->mu);
    b->stop = 1;
    pthread_cond_broadcast(&b->wake);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->worker, NULL);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->wake);
    pthread_cond_destroy(&b->finished);
    free(b);
}

static int submit(serve_batcher *b, job *j, char *err, size_t cap) {
    pthread_mutex_lock(&b->mu);
    if (b->stop) {
        pthread_mutex_unlock(&b->mu);
        snprintf(err, cap, "the server is shutting down");
        return 503;
    }
    if (b->queued > 0 && b->queued + (int)j->n > b->o.max_queue) {
        int q = b->queued;
        pthread_mutex_unlock(&b->mu);
        snprintf(err, cap, "the encoder queue is full (%d inputs waiting, at most %d): retry later", q, b->o.max_queue);
        return 429;
    }
    b->queued += (int)j->n;
    if (b->tail) b->tail->next = j;
    else b->head = j;
    b->tail = j;
    pthread_cond_signal(&b->wake);
    while (!j->done) pthread_cond_wait(&b->finished, &b->mu);
    pthread_mutex_unlock(&b->mu);
    if (j->rc) snprintf(err, cap, "%s", j->err);
    return j->rc;
}

int serve_embed_texts(serve_batcher *b, const char *const *texts, size_t n, float *out, char *err, size_t cap) {
    job j = {.texts = texts, .n = n, .out = out};
    return submit(b, &j, err, cap);
}

int serve_embed_pixels(serve_batcher *b, const float *pixels, size_t n, float *out, char *err, size_t cap) {
    job j = {.is_image = 1, .pixels = pixels, .n = n, .out = out};
    return submit(b, &j, err, cap);
}

int serve_batcher_queue_depth(serve_batcher *b) {
    pthread_mutex_lock(&b->mu);
    int q = b->queued;
    pthread_mutex_unlock(&b->mu);
    return q;
}
