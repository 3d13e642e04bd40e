/* Raw features of JSONL records as an embedding file (mmf_records_features):
 * the inputs of the from-scratch multimodal models when no encoder is used.
 *   "image": the picture resized to side x side (Pillow-style bilinear with
 *            antialiasing), RGB / 255, channels first;
 *   "text":  a binary bag of words over a vocabulary learned from the training
 *            records (words = runs of ASCII letters/digits, lower-cased, and
 *            non-ASCII bytes; most frequent first).
 * vocab.txt and classes.txt live in a folder: written from the first records
 * featurised into it (the training split), read back for every later split. */
#include "direct/records.h"
#include "direct/tower.h"
#include "core/error.h"
#include "io/json.h"
#include "text/text_util.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

mmf_featurize_params mmf_featurize_params_default(void) {
    return (mmf_featurize_params){.image_side = 16, .max_words = 2000, .min_count = 1, .label_field = NULL};
}

typedef struct wl { char **w; int64_t n, cap; } wl;

static int is_word_byte(unsigned char c) { return isalnum(c) || c >= 0x80; }

/* calls fn(word, len) for every word of s (lower-cased into buf) */
static mmf_status each_word(const char *s, mmf_status (*fn)(void *, const char *, size_t), void *u) {
    char buf[256];
    while (s && *s) {
        while (*s && !is_word_byte((unsigned char)*s)) s++;
        size_t n = 0;
        while (*s && is_word_byte((unsigned char)*s)) {
            if (n < sizeof buf - 1) buf[n++] = (char)tolower((unsigned char)*s);
            s++;
        }
        if (n) { mmf_status st = fn(u, buf, n); if (st) return st; }
    }
    return MMF_OK;
}

typedef struct counter { mmf_vocab v; int64_t *cnt; int64_t n, cap; } counter;

static mmf_status count_fn(void *u, const char *w, size_t n) {
    counter *c = u;
    int32_t id = mmf_vocab_get(&c->v, w, n);
    if (id < 0) {
        if (c->n == c->cap) {
            c->cap = c->cap ? 2 * c->cap : 1024;
            int64_t *nc = realloc(c->cnt, (size_t)c->cap * sizeof *nc);
            if (!nc) return mmf_fail(MMF_ERR_NOMEM, "out of memory");
            c->cnt = nc;
        }
        mmf_status s = mmf_vocab_set(&c->v, w, n, (int32_t)c->n, 0);
        if (s) return s;
        c->cnt[c->n] = 0;
        id = (int32_t)c->n++;
    }
    c->cnt[id]++;
    return MMF_OK;
}

/* words sorted as (count, word) pairs: most frequent first, ties by bytes */
typedef struct word_count { int64_t n; const char *w; } word_count;
static int cmp_word_count(const void *a, const void *b) {
    const word_count *x = a, *y = b;
    if (x->n != y->n) return x->n > y->n ? -1 : 1;
    return strcmp(x->w, y->w);
}

static int file_exists(const char *p) { struct stat sb; return stat(p, &sb) == 0 && S_ISREG(sb.st_mode); }

/* write dir/vocab.txt and dir/classes.txt from these records */
static mmf_status learn(const mmf_records *rs, const char *dir, const mmf_featurize_params *p) {
    counter c = {0};
    mmf_status s = mmf_vocab_init(&c.v, 4096);
    for (size_t i = 0; i < rs->n && !s; i++) s = each_word(rs->r[i].text, count_fn, &c);
    word_count *wc = s ? NULL : malloc((size_t)(c.n + 1) * sizeof *wc);
    if (!s && !wc) s = mmf_fail(MMF_ERR_NOMEM, "out of memory");
    mmf_strbuf b = {0};
    if (!s) {
        for (int64_t i = 0; i < c.n; i++) wc[i] = (word_count){c.cnt[i], mmf_vocab_token(&c.v, (int32_t)i)};
        qsort(wc, (size_t)c.n, sizeof *wc, cmp_word_count);
        for (int64_t i = 0; i < c.n && i < p->max_words && !s; i++) {
            if (wc[i].n < p->min_count) break;
            const char *w = wc[i].w;
            s = mmf_strbuf_add(&b, w, strlen(w));
            if (!s) s = mmf_strbuf_add(&b, "\n", 1);
        }
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    if (!s) s = mmf_write_file_atomic(path, b.s ? b.s : "", b.n);
    free(wc);
    mmf_vocab_free(&c.v);
    free(c.cnt);
    b.n = 0;
    const char **labels = NULL;
    int nl = 0;
    if (!s) s = mmf_records_label_set(rs, &labels, &nl);
    for (int i = 0; i < nl && !s; i++) {
        s = mmf_strbuf_add(&b, labels[i], strlen(labels[i]));
        if (!s) s = mmf_strbuf_add(&b, "\n", 1);
    }
    snprintf(path, sizeof path, "%s/classes.txt", dir);
    if (!s) s = mmf_write_file_atomic(path, b.s ? b.s : "", b.n);
    free(labels);
    free(b.s);
    return s;
}

/* lines of a file into a vocab (line -> index); *n lines */
static mmf_status read_lines(const char *path, mmf_vocab *v, int64_t *n, char **text) {
    size_t len;
    mmf_status s = mmf_read_file(path, (size_t)64 << 20, text, &len);
    if (s) return s;
    s = mmf_vocab_init(v, 4096);
    int64_t k = 0;
    for (char *p = *text; !s && p < *text + len;) {
        char *e = memchr(p, '\n', (size_t)(*text + len - p));
        size_t l = e ? (size_t)(e - p) : (size_t)(*text + len - p);
        if (l) s = mmf_vocab_set(v, p, l, (int32_t)k++, 0);
        if (s) s = mmf_fail(MMF_ERR_FORMAT, "%s: line %lld repeats an entry", path, (long long)k);
        p += l + 1;
    }
    *n = k;
    return s;
}

typedef struct bow { const mmf_vocab *v; float *row; } bow;
static mmf_status bow_fn(void *u, const char *w, size_t n) {
    bow *b = u;
    int32_t id = mmf_vocab_get(b->v, w, n);
    if (id >= 0) b->row[id] = 1.0f;
    return MMF_OK;
}

mmf_status mmf_records_features(const char *records, const char *dir, const mmf_featurize_params *pp, const char *out) {
    mmf_featurize_params p = pp ? *pp : mmf_featurize_params_default();
    if (p.image_side < 1 || p.image_side > 256) return mmf_fail(MMF_ERR_ARG, "features: image side %d should be in [1, 256]", p.image_side);
    if (p.max_words < 1) p.max_words = 1;
    mmf_records rs;
    mmf_status s = mmf_records_load(records, p.label_field, &rs);
    if (s) return s;
    char vpath[4096], cpath[4096];
    snprintf(vpath, sizeof vpath, "%s/vocab.txt", dir);
    snprintf(cpath, sizeof cpath, "%s/classes.txt", dir);
    s = mmf_mkdirs(dir);
    if (!s && !(file_exists(vpath) && file_exists(cpath))) s = learn(&rs, dir, &p);
    mmf_vocab voc = {0}, cls = {0};
    char *vt = NULL, *ct = NULL;
    int64_t V = 0, C = 0;
    if (!s) s = read_lines(vpath, &voc, &V, &vt);
    if (!s) s = read_lines(cpath, &cls, &C, &ct);
    if (!s && V < 1) s = mmf_fail(MMF_ERR_FORMAT, "%s: empty vocabulary (the records have no words)", vpath);
    int S = p.image_side;
    int64_t N = (int64_t)rs.n, DI = 3 * (int64_t)S * S;
    float *xi = s ? NULL : calloc((size_t)(N * DI + 1), sizeof(float));
    float *xt = s ? NULL : calloc((size_t)(N * V + 1), sizeof(float));
    uint8_t *mask = s ? NULL : calloc((size_t)(N * 2 + 1), 1);
    int64_t *y = s ? NULL : malloc((size_t)(N + 1) * sizeof *y), *ids = s ? NULL : malloc((size_t)(N + 1) * sizeof *ids);
    if (!s && (!xi || !xt || !mask || !y || !ids)) s = mmf_fail(MMF_ERR_NOMEM, "features: out of memory for %lld records", (long long)N);
    int64_t unknown = 0, no_img = 0;
    for (int64_t i = 0; i < N && !s; i++) {
        const mmf_record *r = &rs.r[i];
        ids[i] = i;
        int32_t c = r->label ? mmf_vocab_get(&cls, r->label, strlen(r->label)) : -1;
        if (c < 0) { unknown++; c = 0; }
        y[i] = c;
        if (r->text) {
            bow b = {&voc, xt + i * V};
            s = each_word(r->text, bow_fn, &b);
            mask[i * 2 + 1] = 1;
        }
        if (r->image && !s) {
            mmf_image im, sm;
            s = mmf_image_load(r->image, NULL, &im);
            if (!s) {
                s = (im.width == S && im.height == S) ? MMF_OK : mmf_image_resize(&im, S, S, MMF_RESAMPLE_BILINEAR, &sm);
                if (!s) {
                    const mmf_image *g = (im.width == S && im.height == S) ? &im : &sm;
                    for (int k = 0; k < 3; k++)
                        for (int q = 0; q < S * S; q++) xi[i * DI + (int64_t)k * S * S + q] = g->rgb[q * 3 + k] / 255.0f;
                    if (g == &sm) mmf_image_free(&sm);
                }
                mmf_image_free(&im);
            }
            mask[i * 2] = 1;
        } else if (!r->image) no_img++;
    }
    if (!s && unknown)
        mmf_log(MMF_LOG_WARN, "%s: %lld records have no label listed in %s; their labels are written as class 0", records,
                (long long)unknown, cpath);
    if (!s && no_img) mmf_log(MMF_LOG_WARN, "%s: %lld records have no \"image\": the image modality is absent there", records, (long long)no_img);
    if (!s) {
        const char *names[2] = {"image", "text"};
        int64_t dims[2] = {DI, V};
        const float *data[2] = {xi, xt};
        mmf_embfile_spec sp = {.n_rows = N, .n_modalities = 2, .names = names, .dims = dims, .data = data, .mask = mask,
                               .labels = C >= 1 ? y : NULL, .n_classes = C, .ids = ids};
        s = mmf_embfile_write(out, &sp);
    }
    free(xi); free(xt); free(mask); free(y); free(ids); free(vt); free(ct);
    mmf_vocab_free(&voc);
    mmf_vocab_free(&cls);
    mmf_records_free(&rs);
    return s;
}
