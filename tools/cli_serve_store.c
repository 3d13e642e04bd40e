/* The live index of `mmfuse serve`: an mmfuse index file plus an append-only
 * write-ahead log beside it (FILE.log). A write is acknowledged only after its
 * log record is fsync'd; writers that arrive while a sync runs are covered by
 * the next one (group commit). At start the log is replayed over the index
 * file; a torn or corrupt tail (short record, bad magic, CRC-32 mismatch) is
 * cut off with a warning. A background thread compacts: it drops deleted
 * items (mmf_index_compact), saves the index with an atomic rename and empties
 * the log. Replay is idempotent (an add
 * replaces a live id, a delete of a missing id is skipped), so a crash between
 * the save and the truncation loses nothing and duplicates nothing.
 *
 * Record: "MMFL" u32 payload_len u32 crc32(payload), payload =
 *   u8 op (1 add, 2 delete) u16 id_len id [add: u32 dim f32[dim] u32 pl_len payload]
 * all little-endian (x86-64 native). Item ids are strings; the index keys them
 * by cli_records_hash_id, as `mmfuse embed --id-field` does, and keeps the
 * string as the item's name. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include "cli_records.h"
#include "cli_serve.h"

#define LOG_MAGIC 0x4C464D4Du   /* "MMFL" */
#define COMPACT_BYTES (8u << 20)  /* compact once the log passes this */
#define COMPACT_EVERY_S 30        /* or this long after the first unsaved write */

struct serve_store {
    char *path, *log_path;
    mmf_index *ix;
    int dim;
    pthread_rwlock_t lock;         /* readers search; writers add, delete, compact */
    int fd;                        /* the log, O_APPEND */
    pthread_mutex_t sync_mu;       /* group commit */
    atomic_llong written, synced;  /* records appended / known durable */
    atomic_llong log_bytes;
    pthread_t compactor;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    int stop, have_compactor;
};

/* ------------------------------------------------------------- records */
typedef struct rec { unsigned char *p; size_t len, cap; } rec;
static int put(rec *r, const void *d, size_t n) {
    if (r->len + n > r->cap) {
        size_t cap = (r->len + n) * 2 + 64;
        unsigned char *p = realloc(r->p, cap);
        if (!p) return 0;
        r->p = p;
        r->cap = cap;
    }
    memcpy(r->p + r->len, d, n);
    r->len += n;
    return 1;
}

/* Appends one framed record for the op to r (header then payload). */
static int frame(rec *r, int op, const char *id, const float *vec, int dim, const char *payload) {
    rec body = {0};
    uint8_t o = (uint8_t)op;
    uint16_t il = (uint16_t)strlen(id);
    int ok = put(&body, &o, 1) && put(&body, &il, 2) && put(&body, id, il);
    if (ok && op == 1) {
        uint32_t d = (uint32_t)dim, pl = payload ? (uint32_t)strlen(payload) : 0;
        ok = put(&body, &d, 4) && put(&body, vec, (size_t)dim * sizeof(float)) && put(&body, &pl, 4) &&
             (!pl || put(&body, payload, pl));
    }
    uint32_t hdr[3] = {LOG_MAGIC, (uint32_t)body.len, (uint32_t)crc32(0L, body.p, (uInt)body.len)};
    ok = ok && put(r, hdr, sizeof hdr) && put(r, body.p, body.len);
    free(body.p);
    return ok;
}

/* ------------------------------------------------------------- apply */
/* Add (replacing a live id) or delete; 0, else an HTTP status with err set. */
static int live(serve_store *s, const char *id) {
    /* a live key under another name would be a hash collision: not this item */
    const char *nm = mmf_index_item_name(s->ix, cli_records_hash_id(id));
    return nm && !strcmp(nm, id);
}

static int apply_add(serve_store *s, const char *id, const float *vec, const char *payload, char *err, size_t cap) {
    int64_t key = cli_records_hash_id(id);
    if (live(s, id)) mmf_index_delete(s->ix, key);   /* an add replaces the item */
    const char *names[1] = {id}, *pls[1] = {payload};
    if (mmf_index_add_named(s->ix, 1, vec, &key, names, pls)) {
        snprintf(err, cap, "cannot add item \"%s\": %s", id, mmf_last_error());
        return 409;
    }
    return 0;
}

/* ------------------------------------------------------------- replay */
static int replay(serve_store *s, char *err, size_t cap) {
    FILE *f = fopen(s->log_path, "rb");
    if (!f) return errno == ENOENT ? 0 : (snprintf(err, cap, "cannot read %s: %s", s->log_path, strerror(errno)), 1);
    long good = 0, n_rec = 0, n_skip = 0;
    const char *why = NULL;
    unsigned char *body = NULL;
    for (;;) {
        uint32_t hdr[3];
        size_t got = fread(hdr, 1, sizeof hdr, f);
        if (got == 0) break;
        if (got < sizeof hdr) { why = "a short record header"; break; }
        if (hdr[0] != LOG_MAGIC) { why = "a bad record marker"; break; }
        if (hdr[1] < 3 || hdr[1] > (64u << 20)) { why = "an impossible record length"; break; }
        unsigned char *p = realloc(body, hdr[1]);
        if (!p) { why = "a record too large for memory"; break; }
        body = p;
        if (fread(body, 1, hdr[1], f) != hdr[1]) { why = "a short record"; break; }
        if ((uint32_t)crc32(0L, body, hdr[1]) != hdr[2]) { why = "a checksum mismatch"; break; }
        /* parse the payload; every length is checked against the record */
        size_t at = 0, n = hdr[1];
        uint8_t op = body[at++];
        uint16_t il;
        memcpy(&il, body + at, 2);
        at += 2;
        if (at + il > n || il == 0) { why = "a malformed record"; break; }
        char id[300];
        if (il >= sizeof id) { why = "a malformed record"; break; }
        memcpy(id, body + at, il);
        id[il] = 0;
        at += il;
        if (op == 1) {
            uint32_t d, pl;
            if (at + 4 > n) { why = "a malformed record"; break; }
            memcpy(&d, body + at, 4);
            at += 4;
            if ((int)d != s->dim || at + (size_t)d * 4 + 4 > n) { why = "a record of another dimension"; break; }
            float *vec = malloc((size_t)d * sizeof *vec);
            if (!vec) { why = "out of memory"; break; }
            memcpy(vec, body + at, (size_t)d * 4);
            at += (size_t)d * 4;
            memcpy(&pl, body + at, 4);
            at += 4;
            if (at + pl != n) { free(vec); why = "a malformed record"; break; }
            char *payload = pl ? malloc(pl + 1) : NULL;
            if (pl && !payload) { free(vec); why = "out of memory"; break; }
            if (pl) { memcpy(payload, body + at, pl); payload[pl] = 0; }
            char e2[600];
            int rc = apply_add(s, id, vec, payload, e2, sizeof e2);
            free(vec);
            free(payload);
            if (rc) { fprintf(stderr, "mmfuse serve: warning: %s: record %ld: %s; skipped\n", s->log_path, n_rec, e2); n_skip++; }
        } else if (op == 2) {
            if (at != n) { why = "a malformed record"; break; }
            if (live(s, id)) mmf_index_delete(s->ix, cli_records_hash_id(id));
        } else { why = "an unknown operation"; break; }
        n_rec++;
        good = ftell(f);
    }
    free(body);
    fclose(f);
    if (why) {
        fprintf(stderr, "mmfuse serve: warning: %s: %s after %ld good records (byte %ld); the torn tail is dropped "
                        "(it was never acknowledged)\n", s->log_path, why, n_rec, good);
        if (truncate(s->log_path, good)) { snprintf(err, cap, "cannot truncate %s: %s", s->log_path, strerror(errno)); return 1; }
    }
    if (n_rec) fprintf(stderr, "mmfuse serve: replayed %ld records from %s\n", n_rec, s->log_path);
    (void)n_skip;
    s->log_bytes = good;
    return 0;
}

/* ------------------------------------------------------------- compaction */
/* Drops the tombstones (an index rebuild over the live items), saves the index
 * (atomic rename) and empties the log, holding the write lock. */
static int compact_locked(serve_store *s) {
    mmf_index_info in;
    mmf_index_get_info(s->ix, &in);
    if (atomic_load(&s->log_bytes) == 0 && in.deleted == 0 && access(s->path, F_OK) == 0) return 0;
    if (in.deleted && mmf_index_compact(s->ix))   /* the tombstoned index is still right: save that */
        fprintf(stderr, "mmfuse serve: warning: cannot drop %zu deleted items, they stay as tombstones: %s\n",
                in.deleted, mmf_last_error());
    if (mmf_index_save(s->ix, s->path)) {
        fprintf(stderr, "mmfuse serve: warning: compaction failed, the log is kept: %s\n", mmf_last_error());
        return 1;
    }
    if (ftruncate(s->fd, 0) || fsync(s->fd)) {
        fprintf(stderr, "mmfuse serve: warning: cannot empty %s: %s\n", s->log_path, strerror(errno));
        return 1;
    }
    atomic_store(&s->log_bytes, 0);
    return 0;
}

static void *compactor(void *arg) {
    serve_store *s = arg;
    int waited = 0;
    pthread_mutex_lock(&s->stop_mu);
    while (!s->stop) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_sec += 1;
        pthread_cond_timedwait(&s->stop_cv, &s->stop_mu, &t);
        long long bytes = atomic_load(&s->log_bytes);
        waited = bytes ? waited + 1 : 0;
        if (s->stop || !(bytes > (long long)COMPACT_BYTES || waited >= COMPACT_EVERY_S)) continue;
        waited = 0;
        pthread_mutex_unlock(&s->stop_mu);
        pthread_rwlock_wrlock(&s->lock);
        compact_locked(s);
        pthread_rwlock_unlock(&s->lock);
        pthread_mutex_lock(&s->stop_mu);
    }
    pthread_mutex_unlock(&s->stop_mu);
    return NULL;
}

/* ------------------------------------------------------------- open / close */
int serve_store_open(const char *path, int dim, const char *model_id, serve_store **out, char *err, size_t cap) {
    serve_store *s = calloc(1, sizeof *s);
    if (!s) { snprintf(err, cap, "out of memory"); return 1; }
    s->path = strdup(path);
    s->log_path = malloc(strlen(path) + 5);
    s->fd = -1;
    s->dim = dim;
    if (!s->path || !s->log_path) { snprintf(err, cap, "out of memory"); goto fail; }
    sprintf(s->log_path, "%s.log", path);
    if (access(path, F_OK) == 0) {
        if (mmf_index_open(path, &s->ix)) { snprintf(err, cap, "cannot open the index: %s", mmf_last_error()); goto fail; }
        if (mmf_index_check_query(s->ix, model_id, dim)) { snprintf(err, cap, "%s", mmf_last_error()); goto fail; }
    } else {
        mmf_index_params p = mmf_index_params_default();
        if (mmf_index_new(dim, &p, &s->ix) || mmf_index_set_source(s->ix, model_id, "serve")) {
            snprintf(err, cap, "cannot create the index: %s", mmf_last_error());
            goto fail;
        }
    }
    pthread_rwlock_init(&s->lock, NULL);
    pthread_mutex_init(&s->sync_mu, NULL);
    pthread_mutex_init(&s->stop_mu, NULL);
    pthread_cond_init(&s->stop_cv, NULL);
    if (replay(s, err, cap)) goto fail;
    s->fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (s->fd < 0) { snprintf(err, cap, "cannot open %s for appending: %s", s->log_path, strerror(errno)); goto fail; }
    /* save the replayed state now: the log restarts empty and an index file exists */
    pthread_rwlock_wrlock(&s->lock);
    int crc = compact_locked(s);
    pthread_rwlock_unlock(&s->lock);
    if (crc) { snprintf(err, cap, "cannot write %s: %s", path, mmf_last_error()); goto fail; }
    if (pthread_create(&s->compactor, NULL, compactor, s) == 0) s->have_compactor = 1;
    *out = s;
    return 0;
fail:
    if (s->fd >= 0) close(s->fd);
    mmf_index_free(s->ix);
    free(s->path);
    free(s->log_path);
    free(s);
    return 1;
}

void serve_store_close(serve_store *s) {
    if (!s) return;
    if (s->have_compactor) {
        pthread_mutex_lock(&s->stop_mu);
        s->stop = 1;
        pthread_cond_broadcast(&s->stop_cv);
        pthread_mutex_unlock(&s->stop_mu);
        pthread_join(s->compactor, NULL);
    }
    pthread_rwlock_wrlock(&s->lock);
    compact_locked(s);
    pthread_rwlock_unlock(&s->lock);
    close(s->fd);
    mmf_index_free(s->ix);
    pthread_rwlock_destroy(&s->lock);
    pthread_mutex_destroy(&s->sync_mu);
    pthread_mutex_destroy(&s->stop_mu);
    pthread_cond_destroy(&s->stop_cv);
    free(s->path);
    free(s->log_path);
    free(s);
}

/* ------------------------------------------------------------- writes */
/* Appends under the write lock; returns the record count that must be durable. */
static int append(serve_store *s, const rec *r, long long *seq, char *err, size_t cap) {
    size_t off = 0;
    while (off < r->len) {
        ssize_t w = write(s->fd, r->p + off, r->len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            snprintf(err, cap, "cannot append to %s: %s", s->log_path, strerror(errno));
            /* a partial record is a torn tail: replay drops it */
            return 500;
        }
        off += (size_t)w;
    }
    atomic_fetch_add(&s->log_bytes, (long long)r->len);
    *seq = atomic_fetch_add(&s->written, 1) + 1;
    return 0;
}

/* Group commit: one fdatasync covers every record appended before it began. */
static int make_durable(serve_store *s, long long seq, char *err, size_t cap) {
    int rc = 0;
    pthread_mutex_lock(&s->sync_mu);
    if (atomic_load(&s->synced) < seq) {
        long long upto = atomic_load(&s->written);
        if (fdatasync(s->fd)) {
            snprintf(err, cap, "cannot sync %s: %s", s->log_path, strerror(errno));
            rc = 500;
        } else atomic_store(&s->synced, upto);
    }
    pthread_mutex_unlock(&s->sync_mu);
    return rc;
}

int serve_store_add(serve_store *s, size_t n, const float *vecs, const char *const *ids, const char *const *payloads,
                    char *err, size_t cap) {
    rec r = {0};
    for (size_t i = 0; i < n; i++)
        if (!frame(&r, 1, ids[i], vecs + i * (size_t)s->dim, s->dim, payloads[i])) { free(r.p); snprintf(err, cap, "out of memory"); return 500; }
    long long seq = 0;
    pthread_rwlock_wrlock(&s->lock);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)   /* refuse before logging anything */
        if (mmf_index_item_name(s->ix, cli_records_hash_id(ids[i])) && !live(s, ids[i])) {
            snprintf(err, cap, "id \"%s\" collides with another item's hashed id; choose another id", ids[i]);
            rc = 409;
        }
    if (!rc) rc = append(s, &r, &seq, err, cap);
    for (size_t i = 0; i < n && !rc; i++) rc = apply_add(s, ids[i], vecs + i * (size_t)s->dim, payloads[i], err, cap);
    pthread_rwlock_unlock(&s->lock);
    free(r.p);
    if (!rc) rc = make_durable(s, seq, err, cap);
    return rc;
}

int serve_store_delete(serve_store *s, const char *id, char *err, size_t cap) {
    rec r = {0};
    if (strlen(id) > 256 || !frame(&r, 2, id, NULL, 0, NULL)) { free(r.p); snprintf(err, cap, "no item with id \"%.64s\"", id); return 404; }
    long long seq = 0;
    pthread_rwlock_wrlock(&s->lock);
    int rc = 0;
    if (!live(s, id)) { snprintf(err, cap, "no item with id \"%s\"", id); rc = 404; }
    if (!rc) rc = append(s, &r, &seq, err, cap);
    if (!rc) mmf_index_delete(s->ix, cli_records_hash_id(id));
    pthread_rwlock_unlock(&s->lock);
    free(r.p);
    if (!rc) rc = make_durable(s, seq, err, cap);
    return rc;
}

/* ------------------------------------------------------------- reads */
/* 1 when every field of the filter object equals the payload's. */
static int matches(const cJSON *filter, const char *payload) {
    if (!filter) return 1;
    cJSON *p = payload ? cJSON_Parse(payload) : NULL;
    int ok = cJSON_IsObject(p);
    for (const cJSON *f = filter->child; ok && f; f = f->next)
        ok = cJSON_Compare(f, cJSON_GetObjectItemCaseSensitive(p, f->string), 1);
    cJSON_Delete(p);
    return ok;
}

int serve_store_search(serve_store *s, const float *q, int dim, int k, const char *filter_json, char **hits_json,
                       char *err, size_t cap) {
    if (dim != s->dim) { snprintf(err, cap, "the query has dimension %d; the index holds %d", dim, s->dim); return 400; }
    cJSON *filter = filter_json ? cJSON_Parse(filter_json) : NULL;
    pthread_rwlock_rdlock(&s->lock);
    mmf_index_info in;
    mmf_index_get_info(s->ix, &in);
    /* with a filter, rank every live item exactly and keep the first k that match */
    int kk = filter ? (int)(in.count ? in.count : 1) : k;
    mmf_search_params sp = mmf_search_params_default();
    sp.exact = filter != NULL;
    int64_t *ids = malloc((size_t)kk * sizeof *ids);
    float *sc = malloc((size_t)kk * sizeof *sc);
    cJSON *arr = cJSON_CreateArray();
    int rc = 0;
    if (!ids || !sc || !arr) { snprintf(err, cap, "out of memory"); rc = 500; }
    else if (in.count && mmf_index_search(s->ix, 1, q, kk, &sp, ids, sc)) { snprintf(err, cap, "search failed: %s", mmf_last_error()); rc = 500; }
    for (int i = 0, got = 0; !rc && in.count && i < kk && got < k; i++) {
        if (ids[i] < 0) break;
        const char *pl = mmf_index_item_payload(s->ix, ids[i]);
        if (!matches(filter, pl)) continue;
        const char *nm = mmf_index_item_name(s->ix, ids[i]);
        cJSON *h = cJSON_CreateObject();
        if (nm) cJSON_AddStringToObject(h, "id", nm);
        else cJSON_AddNumberToObject(h, "id", (double)ids[i]);
        cJSON_AddNumberToObject(h, "score", sc[i]);
        cJSON *pj = pl ? cJSON_Parse(pl) : NULL;
        cJSON_AddItemToObject(h, "payload", pj ? pj : cJSON_CreateNull());
        cJSON_AddItemToArray(arr, h);
        got++;
    }
    pthread_rwlock_unlock(&s->lock);
    free(ids);
    free(sc);
    cJSON_Delete(filter);
    if (!rc) {
        *hits_json = cJSON_PrintUnformatted(arr);
        if (!*hits_json) { snprintf(err, cap, "out of memory"); rc = 500; }
    }
    cJSON_Delete(arr);
    return rc;
}

void serve_store_counts(serve_store *s, long *items, long *deleted) {
    pthread_rwlock_rdlock(&s->lock);
    mmf_index_info in;
    mmf_index_get_info(s->ix, &in);
    pthread_rwlock_unlock(&s->lock);
    *items = (long)in.count;
    *deleted = (long)in.deleted;
}

int serve_store_dim(serve_store *s) { return s->dim; }
