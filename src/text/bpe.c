/* CLIP byte-level BPE (see bpe.h for the behaviour it reproduces). */
#include "text/bpe.h"
#include "core/error.h"
#include "text/merge_queue.h"
#include "text/text_util.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#define BOS_STR "<|startoftext|>"
#define EOS_STR "<|endoftext|>"
#define MAX_FILE (64u << 20)
/* Words longer than this (bytes) are merged in chunks: BPE is quadratic in the
 * word length, and a single enormous "word" must not stall the caller. */
#define MAX_WORD 4096

/* ---- open-addressing hash maps ---- */
typedef struct smap { char **keys; int32_t *vals; size_t cap, n; } smap;   /* string -> id */
typedef struct pmap { uint64_t *keys; int32_t *rank, *merged; size_t cap, n; } pmap;  /* (a,b) -> rank, id */

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)s[i]; h *= 1099511628211ULL; }
    return h;
}
static uint64_t hash_u64(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33;
    return x;
}

static int smap_init(smap *m, size_t n) {
    m->cap = 16;
    while (m->cap < 2 * n + 16) m->cap <<= 1;
    m->keys = calloc(m->cap, sizeof *m->keys);
    m->vals = calloc(m->cap, sizeof *m->vals);
    m->n = 0;
    return m->keys && m->vals;
}
static int32_t smap_get(const smap *m, const char *s, size_t n) {
    for (size_t i = hash_bytes(s, n) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i]) return -1;
        if (strlen(m->keys[i]) == n && !memcmp(m->keys[i], s, n)) return m->vals[i];
    }
}
/* key is borrowed (owned by the vocab array); returns 0 on a duplicate */
static int smap_put(smap *m, char *key, int32_t v) {
    size_t n = strlen(key);
    for (size_t i = hash_bytes(key, n) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i]) { m->keys[i] = key; m->vals[i] = v; m->n++; return 1; }
        if (!strcmp(m->keys[i], key)) return 0;
    }
}

static int pmap_init(pmap *m, size_t n) {
    m->cap = 16;
    while (m->cap < 2 * n + 16) m->cap <<= 1;
    m->keys = malloc(m->cap * sizeof *m->keys);
    m->rank = malloc(m->cap * sizeof *m->rank);
    m->merged = malloc(m->cap * sizeof *m->merged);
    if (!m->keys || !m->rank || !m->merged) return 0;
    memset(m->keys, 0xff, m->cap * sizeof *m->keys);
    m->n = 0;
    return 1;
}
static size_t pmap_slot(const pmap *m, uint64_t k) {
    size_t i = hash_u64(k) & (m->cap - 1);
    while (m->keys[i] != UINT64_MAX && m->keys[i] != k) i = (i + 1) & (m->cap - 1);
    return i;
}

struct mmf_bpe {
    char **tok;          /* id -> string */
    int64_t n_tok;
    smap vocab;
    pmap merges;
    int32_t byte_id[256], byte_end_id[256];   /* single byte-char symbols, plain and with </w> */
    int32_t bos, eos, unk;
    int max_len;
};

void mmf_bpe_free(mmf_bpe *t) {
    if (!t) return;
    for (int64_t i = 0; i < t->n_tok; i++) free(t->tok[i]);
    free(t->tok);
    free(t->vocab.keys); free(t->vocab.vals);
    free(t->merges.keys); free(t->merges.rank); free(t->merges.merged);
    free(t);
}

int32_t mmf_bpe_bos(const mmf_bpe *t) { return t->bos; }
int32_t mmf_bpe_eos(const mmf_bpe *t) { return t->eos; }
int mmf_bpe_max_len(const mmf_bpe *t) { return t->max_len; }
int64_t mmf_bpe_vocab_size(const mmf_bpe *t) { return t->n_tok; }
const char *mmf_bpe_token(const mmf_bpe *t, int32_t id) { return id >= 0 && id < t->n_tok ? t->tok[id] : NULL; }

static mmf_status read_all(const char *path, char **out, size_t *len) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return mmf_fail(errno == ENOENT ? MMF_ERR_NOT_FOUND : MMF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode) || (size_t)sb.st_size > MAX_FILE) {
        fclose(f);
        return mmf_fail(MMF_ERR_IO, "%s: not a regular file of at most %u bytes", path, MAX_FILE);
    }
    char *b = malloc((size_t)sb.st_size + 1);
    if (!b) { fclose(f); return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", path); }
    size_t n = fread(b, 1, (size_t)sb.st_size, f);
    fclose(f);
    if (n != (size_t)sb.st_size) { free(b); return mmf_fail(MMF_ERR_IO, "%s: short read", path); }
    b[n] = 0;
    *out = b;
    *len = n;
    return MMF_OK;
}

static mmf_status load_json(const char *path, cJSON **out) {
    char *b;
    size_t n;
    mmf_status s = read_all(path, &b, &n);
    if (s) return s;
    *out = cJSON_ParseWithLength(b, n);
    free(b);
    if (!*out) return mmf_fail(MMF_ERR_FORMAT, "%s: invalid JSON", path);
    return MMF_OK;
}

/* vocab object {token: id} -> t->tok, t->vocab */
static mmf_status take_vocab(mmf_bpe *t, const cJSON *v, const char *file) {
    if (!cJSON_IsObject(v)) return mmf_fail(MMF_ERR_FORMAT, "%s: the vocabulary should be an object {token: id}", file);
    int64_t n = cJSON_GetArraySize(v);
    if (n < 256 || n > 10000000) return mmf_fail(MMF_ERR_FORMAT, "%s: vocabulary of %lld entries (expected 256 .. 10M)", file, (long long)n);
    t->tok = calloc((size_t)n, sizeof *t->tok);
    t->n_tok = n;
    if (!t->tok || !smap_init(&t->vocab, (size_t)n)) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", file);
    for (const cJSON *e = v->child; e; e = e->next) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= (double)n || e->valuedouble != (double)(int64_t)e->valuedouble)
            return mmf_fail(MMF_ERR_FORMAT, "%s: vocabulary id of \"%.40s\" should be an integer in [0, %lld)", file, e->string, (long long)n);
        int64_t id = (int64_t)e->valuedouble;
        if (t->tok[id]) return mmf_fail(MMF_ERR_FORMAT, "%s: id %lld is used twice in the vocabulary", file, (long long)id);
        t->tok[id] = strdup(e->string);
        if (!t->tok[id]) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", file);
        if (!smap_put(&t->vocab, t->tok[id], (int32_t)id))
            return mmf_fail(MMF_ERR_FORMAT, "%s: token \"%.40s\" appears twice", file, e->string);
    }
    return MMF_OK;
}

/* one merge "a b" with the given rank */
static void add_merge(mmf_bpe *t, const char *a, size_t na, const char *b, size_t nb, int32_t rank) {
    int32_t ia = smap_get(&t->vocab, a, na), ib = smap_get(&t->vocab, b, nb);
    if (ia < 0 || ib < 0 || na + nb > 1024) return;
    char buf[1100];
    memcpy(buf, a, na);
    memcpy(buf + na, b, nb);
    int32_t im = smap_get(&t->vocab, buf, na + nb);
    if (im < 0) return;
    uint64_t k = (uint64_t)(uint32_t)ia << 32 | (uint32_t)ib;
    size_t s = pmap_slot(&t->merges, k);
    if (t->merges.keys[s] == k) return;   /* first (best) rank wins */
    t->merges.keys[s] = k;
    t->merges.rank[s] = rank;
    t->merges.merged[s] = im;
    t->merges.n++;
}

static void bytes_to_unicode(int cp[256]) {
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        cp[b] = keep ? b : 256 + n++;
    }
}

/* model.vocab + model.merges of a tokenizer.json "model" node */
static mmf_status from_model(mmf_bpe *t, const cJSON *model, const char *path) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "BPE"))
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: model.type should be \"BPE\"", path);
    mmf_status s = take_vocab(t, cJSON_GetObjectItemCaseSensitive(model, "vocab"), path);
    if (s) return s;
    const cJSON *mg = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsArray(mg)) return mmf_fail(MMF_ERR_FORMAT, "%s: model.merges should be an array", path);
    if (!pmap_init(&t->merges, (size_t)cJSON_GetArraySize(mg))) return mmf_fail(MMF_ERR_NOMEM, "out of memory");
    int32_t r = 0;
    for (const cJSON *e = mg->child; e; e = e->next, r++) {
        if (cJSON_IsString(e)) {
            const char *sp = strchr(e->valuestring, ' ');
            if (!sp) return mmf_fail(MMF_ERR_FORMAT, "%s: merge %d \"%.40s\" has no space", path, r, e->valuestring);
            add_merge(t, e->valuestring, (size_t)(sp - e->valuestring), sp + 1, strlen(sp + 1), r);
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(e->child) && cJSON_IsString(e->child->next)) {
            add_merge(t, e->child->valuestring, strlen(e->child->valuestring), e->child->next->valuestring,
                      strlen(e->child->next->valuestring), r);
        } else {
            return mmf_fail(MMF_ERR_FORMAT, "%s: merge %d should be \"a b\" or [\"a\", \"b\"]", path, r);
        }
    }
    return MMF_OK;
}

static mmf_status from_root(mmf_bpe *t, const cJSON *root, const char *path) {
    return from_model(t, cJSON_GetObjectItemCaseSensitive(root, "model"), path);
}

/* vocab.json + merges.txt (GPT-2's files; "#version" line skipped) */
static mmf_status from_files(mmf_bpe *t, const char *vocab_path, const char *merges_path) {
    cJSON *root;
    mmf_status s = load_json(vocab_path, &root);
    if (s) return s;
    s = take_vocab(t, root, vocab_path);
    cJSON_Delete(root);
    if (s) return s;
    char *buf;
    size_t len;
    if ((s = read_all(merges_path, &buf, &len))) return s;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    if (!pmap_init(&t->merges, lines)) { free(buf); return mmf_fail(MMF_ERR_NOMEM, "out of memory"); }
    int32_t r = 0;
    for (char *p = buf, *e; p < buf + len; p = e + 1) {
        e = memchr(p, '\n', (size_t)(buf + len - p));
        if (!e) e = buf + len;
        size_t n = (size_t)(e - p);
        if (n && p[n - 1] == '\r') n--;
        if (n == 0 || (p == buf && n >= 8 && !memcmp(p, "#version", 8))) continue;
        char *sp = memchr(p, ' ', n);
        if (!sp) { free(buf); return mmf_fail(MMF_ERR_FORMAT, "%s: merge line %d has no space", merges_path, r + 1); }
        add_merge(t, p, (size_t)(sp - p), sp + 1, (size_t)(p + n - sp - 1), r++);
    }
    free(buf);
    return MMF_OK;
}

/* every id has a token (a vocabulary with holes is refused) */
static mmf_status check_ids(const mmf_bpe *t, const char *dir) {
    for (int64_t i = 0; i < t->n_tok; i++)
        if (!t->tok[i]) return mmf_fail(MMF_ERR_FORMAT, "%s: vocabulary has no token with id %lld", dir, (long long)i);
    return MMF_OK;
}

/* id table complete, special ids, byte symbols */
static mmf_status finish(mmf_bpe *t, const char *dir) {
    mmf_status s = check_ids(t, dir);
    if (s) return s;
    t->bos = smap_get(&t->vocab, BOS_STR, strlen(BOS_STR));
    t->eos = smap_get(&t->vocab, EOS_STR, strlen(EOS_STR));
    if (t->bos < 0 || t->eos < 0) { s = mmf_fail(MMF_ERR_FORMAT, "%s: vocabulary lacks %s or %s", dir, BOS_STR, EOS_STR); return s; }
    t->unk = t->eos;
    int cps[256];
    bytes_to_unicode(cps);
    for (int b = 0; b < 256; b++) {
        char u[16];
        int n = (int)utf8proc_encode_char(cps[b], (utf8proc_uint8_t *)u);
        memcpy(u + n, "</w>", 4);
        t->byte_id[b] = smap_get(&t->vocab, u, (size_t)n);
        t->byte_end_id[b] = smap_get(&t->vocab, u, (size_t)n + 4);
        if (t->byte_id[b] < 0) t->byte_id[b] = t->unk;
        if (t->byte_end_id[b] < 0) t->byte_end_id[b] = t->unk;
    }
    return MMF_OK;
}

mmf_status mmf_bpe_from_root(const cJSON *root, const char *file, mmf_bpe **out) {
    *out = NULL;
    mmf_bpe *t = calloc(1, sizeof *t);
    if (!t) return mmf_fail(MMF_ERR_NOMEM, "out of memory");
    mmf_status s = from_root(t, root, file);
    if (!s) s = finish(t, file);
    if (s) { mmf_bpe_free(t); return s; }
    t->max_len = 77;
    *out = t;
    return MMF_OK;
}

mmf_status mmf_bpe_load(const char *dir, mmf_bpe **out) {
    *out = NULL;
    mmf_bpe *t = calloc(1, sizeof *t);
    if (!t) return mmf_fail(MMF_ERR_NOMEM, "out of memory");
    char path[4096];
    cJSON *root = NULL;
    mmf_status s;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    struct stat sb;
    if (stat(path, &sb) == 0) {
        if ((s = load_json(path, &root))) goto fail;
        if ((s = from_root(t, root, path))) goto fail;
        cJSON_Delete(root);
        root = NULL;
    } else {
        char merges[4096];
        snprintf(path, sizeof path, "%s/vocab.json", dir);
        snprintf(merges, sizeof merges, "%s/merges.txt", dir);
        if ((s = from_files(t, path, merges))) goto fail;
    }
    if ((s = finish(t, dir))) goto fail;
    t->max_len = 77;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    if (stat(path, &sb) == 0 && load_json(path, &root) == MMF_OK) {
        const cJSON *ml = cJSON_GetObjectItemCaseSensitive(root, "model_max_length");
        if (cJSON_IsNumber(ml) && ml->valuedouble >= 3 && ml->valuedouble <= 1e6) t->max_len = (int)ml->valuedouble;
        cJSON_Delete(root);
        root = NULL;
    }
    *out = t;
    return MMF_OK;
fail:
    cJSON_Delete(root);
    mmf_bpe_free(t);
    return s;
}

/* ---------------------------------------------------------------- encode */

/* JavaScript's \s (the reference tokenizer's regex engine) */
static int is_space(int32_t c) {
    return (c >= 9 && c <= 13) || c == 0x20 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}
static int is_letter(int32_t c) {
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}
static int is_number(int32_t c) {
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO;
}
static int is_cased(int32_t c) {
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
           utf8proc_islower(c) || utf8proc_isupper(c);
}
static int is_case_ignorable(int32_t c) {
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
           k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK || c == '\'' || c == '.' || c == ':' ||
           c == 0xB7 || c == 0x2018 || c == 0x2019 || c == 0x2024 || c == 0x2027;
}

/* Unicode full lower-casing of cps[0..n) into out (capacity 2n), as String.toLowerCase. */
static size_t lower(const int32_t *cps, size_t n, int32_t *out) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t c = cps[i];
        if (c == 0x130) { out[m++] = 'i'; out[m++] = 0x307; continue; }
        if (c == 0x3A3) {
            /* Final_Sigma: a cased letter before (skipping case-ignorables), none after */
            int before = 0, after = 0;
            for (size_t j = i; j-- > 0;) {
                if (is_case_ignorable(cps[j])) continue;
                before = is_cased(cps[j]);
                break;
            }
            for (size_t j = i + 1; j < n; j++) {
                if (is_case_ignorable(cps[j])) continue;
                after = is_cased(cps[j]);
                break;
            }
            out[m++] = before && !after ? 0x3C2 : 0x3C3;
            continue;
        }
        out[m++] = utf8proc_tolower(c);
    }
    return m;
}

typedef struct enc_state {
    const mmf_bpe *t;
    mmf_i32vec *vec;     /* growable output (no cap), or NULL: ids[] with cap */
    int oom;
    int32_t *ids;
    int n, cap;          /* content ids so far, content capacity */
    int32_t *work;
    size_t work_cap;
} enc_state;

static void emit(enc_state *e, int32_t id) {
    if (e->vec) { if (mmf_i32vec_push(e->vec, id)) e->oom = 1; return; }
    if (e->n < e->cap) e->ids[e->n] = id;
    e->n++;
}

/* BPE over byte symbols; `end` marks the word end (</w> on the last symbol). */
static void bpe_word(enc_state *e, const unsigned char *b, size_t nb, int end) {
    const mmf_bpe *t = e->t;
    int32_t *w = e->work;
    size_t n = nb;
    for (size_t i = 0; i < nb; i++) w[i] = (end && i + 1 == nb) ? t->byte_end_id[b[i]] : t->byte_id[b[i]];
    if (mmf_bpe_merge(t, w, nb, &n)) { e->oom = 1; return; }
    for (size_t i = 0; i < n && e->n < e->cap; i++) emit(e, w[i]);
}

static void piece(enc_state *e, const int32_t *cps, size_t n) {
    unsigned char buf[4 * 64];
    /* UTF-8 bytes of the piece, BPE'd in chunks of at most MAX_WORD bytes */
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += (size_t)utf8proc_encode_char(cps[i], buf);
    unsigned char *bytes = malloc(total + 4);
    if (!bytes) return;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += (size_t)utf8proc_encode_char(cps[i], bytes + k);
    for (size_t off = 0; off < total && e->n < e->cap; off += MAX_WORD) {
        size_t len = total - off < MAX_WORD ? total - off : MAX_WORD;
        bpe_word(e, bytes + off, len, off + len == total);
    }
    free(bytes);
}

static const int32_t bos_cps[] = {'<', '|', 's', 't', 'a', 'r', 't', 'o', 'f', 't', 'e', 'x', 't', '|', '>'};
static const int32_t eos_cps[] = {'<', '|', 'e', 'n', 'd', 'o', 'f', 't', 'e', 'x', 't', '|', '>'};

/* the CLIP pre-tokeniser pattern over low[0..m), each match BPE'd */
static void pretok(enc_state *e, const int32_t *low, size_t m) {
    static const char *contr[] = {"s", "t", "re", "ve", "m", "ll", "d"};
    size_t i = 0;
    while (i < m && e->n < e->cap) {
        int32_t c = low[i];
        if (is_space(c)) { i++; continue; }
        if (c == '\'') {
            size_t got = 0;
            for (int k = 0; k < 7 && !got; k++) {
                size_t L = strlen(contr[k]);
                if (i + 1 + L > m) continue;
                int eq = 1;
                for (size_t j = 0; j < L && eq; j++) eq = low[i + 1 + j] == (int32_t)contr[k][j];
                if (eq) got = L + 1;
            }
            if (got) { piece(e, low + i, got); i += got; continue; }
        }
        size_t j = i + 1;
        if (is_letter(c)) {
            while (j < m && is_letter(low[j])) j++;
        } else if (is_number(c)) {
            /* one digit at a time */
        } else {
            /* [^\s\p{L}\p{N}]+ ; a run stops at a space, letter or digit. A
             * contraction cannot start inside it: the regex only tries the
             * alternatives at the start of a match. */
            while (j < m && !is_space(low[j]) && !is_letter(low[j]) && !is_number(low[j])) j++;
        }
        piece(e, low + i, j - i);
        i = j;
    }
}

/* NFC, whitespace runs -> one space, full lower-casing. *out is malloc'd. */
static mmf_status normalize_cps(const int32_t *in, size_t nin, int32_t **out, size_t *nout) {
    *out = NULL;
    *nout = 0;
    char *u8 = malloc(4 * nin + 1);
    if (!u8) return mmf_fail(MMF_ERR_NOMEM, "tokenize: out of memory");
    size_t len = 0;
    for (size_t i = 0; i < nin; i++) len += (size_t)mmf_utf8_put(in[i], u8 + len);
    utf8proc_uint8_t *nfc = NULL;
    utf8proc_ssize_t rn = len ? utf8proc_map((const utf8proc_uint8_t *)u8, (utf8proc_ssize_t)len, &nfc, UTF8PROC_STABLE | UTF8PROC_COMPOSE) : 0;
    free(u8);
    if (rn < 0) return mmf_fail(MMF_ERR_ARG, "tokenize: cannot normalise the text (%s)", utf8proc_errmsg(rn));
    size_t n = 0;
    int32_t *cps = malloc(sizeof(int32_t) * ((size_t)rn + 1)), *low = malloc(sizeof(int32_t) * 2 * ((size_t)rn + 1));
    if (!cps || !low) { free(nfc); free(cps); free(low); return mmf_fail(MMF_ERR_NOMEM, "tokenize: out of memory"); }
    for (utf8proc_ssize_t i = 0; i < rn;) {
        int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(nfc + i, rn - i, &c);
        if (k <= 0) break;
        i += k;
        if (is_space(c)) {
            if (n && cps[n - 1] == ' ') continue;
            c = ' ';
        }
        cps[n++] = c;
    }
    free(nfc);
    *nout = lower(cps, n, low);
    free(cps);
    *out = low;
    return MMF_OK;
}

/* Normalised code points -> ids: added tokens split out, pre-tokenised, BPE'd. */
static mmf_status tokenize_cps(enc_state *e, const int32_t *low, size_t m) {
    size_t need = 4 * m + 8;
    if (need > MAX_WORD + 8) need = MAX_WORD + 8;
    e->work = malloc(sizeof(int32_t) * need);
    if (!e->work) return mmf_fail(MMF_ERR_NOMEM, "tokenize: out of memory");
    /* The added tokens <|startoftext|> and <|endoftext|> are matched on the
     * normalised (lower-cased) text, as the reference does ("<|ENDOFTEXT|>"
     * is the end token too); the text between them is pre-tokenised. */
    size_t a = 0;
    for (size_t i = 0; i <= m && e->n < e->cap; i++) {
        int at = 0;
        if (i + 13 <= m && low[i] == '<') {
            int eq = i + 15 <= m;
            for (int j = 0; j < 15 && eq; j++) eq = low[i + j] == bos_cps[j];
            if (eq) at = 1;
            else {
                eq = 1;
                for (int j = 0; j < 13 && eq; j++) eq = low[i + j] == eos_cps[j];
                if (eq) at = 2;
            }
        }
        if (i == m || at) {
            pretok(e, low + a, i - a);
            if (at) { emit(e, at == 1 ? e->t->bos : e->t->eos); i += (at == 1 ? 15 : 13) - 1; a = i + 1; }
        }
    }
    free(e->work);
    e->work = NULL;
    return e->oom ? mmf_fail(MMF_ERR_NOMEM, "tokenize: out of memory") : MMF_OK;
}

mmf_status mmf_bpe_normalize(const int32_t *cp, size_t n, mmf_i32vec *out) {
    int32_t *low;
    size_t m;
    mmf_status s = normalize_cps(cp, n, &low, &m);
    if (s) return s;
    s = mmf_i32vec_reserve(out, out->n + m);
    if (!s) { memcpy(out->v + out->n, low, m * sizeof *low); out->n += m; }
    free(low);
    return s;
}

mmf_status mmf_bpe_tokenize(const mmf_bpe *t, const int32_t *cp, size_t n, mmf_i32vec *ids) {
    enc_state e = {.t = t, .vec = ids, .cap = INT32_MAX};
    return tokenize_cps(&e, cp, n);
}

mmf_status mmf_bpe_encode(const mmf_bpe *t, const char *text, size_t len, int32_t *ids, int max_len, int *n) {
    *n = 0;
    if (max_len <= 0) max_len = t->max_len;
    if (max_len < 2) return mmf_fail(MMF_ERR_ARG, "tokenize: max_len %d leaves no room for the start and end tokens", max_len);
    /* validate UTF-8 up front so errors do not depend on where text is cut */
    for (size_t i = 0; i < len;) {
        int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(len - i), &c);
        if (k <= 0) return mmf_fail(MMF_ERR_ARG, "tokenize: invalid UTF-8 at byte %zu", i);
        i += (size_t)k;
    }
    enc_state e = {.t = t, .ids = ids + 1, .n = 0, .cap = max_len - 2};
    int32_t *cp = malloc(sizeof(int32_t) * (len + 1)), *low;
    if (!cp) return mmf_fail(MMF_ERR_NOMEM, "tokenize: out of memory");
    size_t ncp = mmf_utf8_decode(text, len, cp, NULL), m;
    mmf_status s = normalize_cps(cp, ncp, &low, &m);
    free(cp);
    if (s) return s;
    s = tokenize_cps(&e, low, m);
    free(low);
    if (s) return s;
    int k = e.n < e.cap ? e.n : e.cap;
    ids[0] = t->bos;
    ids[k + 1] = t->eos;
    *n = k + 2;
    return MMF_OK;
}

/* ---------------------------------------------- the engine for other BPEs */

static mmf_status generic_done(mmf_bpe *t, mmf_status s, const char *where, mmf_bpe **out) {
    if (!s) s = check_ids(t, where);
    if (s) { mmf_bpe_free(t); return s; }
    t->bos = t->eos = t->unk = -1;
    *out = t;
    return MMF_OK;
}

mmf_status mmf_bpe_engine_from_model(const cJSON *model, const char *file, mmf_bpe **out) {
    *out = NULL;
    mmf_bpe *t = calloc(1, sizeof *t);
    if (!t) return mmf_fail(MMF_ERR_NOMEM, "out of memory");
    return generic_done(t, from_model(t, model, file), file, out);
}

mmf_status mmf_bpe_engine_from_files(const char *vocab_path, const char *merges_path, mmf_bpe **out) {
    *out = NULL;
    mmf_bpe *t = calloc(1, sizeof *t);
    if (!t) return mmf_fail(MMF_ERR_NOMEM, "out of memory");
    return generic_done(t, from_files(t, vocab_path, merges_path), vocab_path, out);
}

int32_t mmf_bpe_id(const mmf_bpe *t, const char *s, size_t n) { return smap_get(&t->vocab, s, n); }

/* merge ranks as merge_queue priorities; negative ids never merge */
static int rank_pair(void *ctx, int32_t l, int32_t r, size_t beg, size_t mid, size_t end, double *prio, int32_t *merged) {
    (void)beg, (void)mid, (void)end;
    const pmap *pm = ctx;
    if (l < 0 || r < 0) return 0;
    uint64_t k = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
    size_t s = pmap_slot(pm, k);
    if (pm->keys[s] != k) return 0;
    *prio = pm->rank[s];
    *merged = pm->merged[s];
    return 1;
}

mmf_status mmf_bpe_merge(const mmf_bpe *t, int32_t *w, size_t n, size_t *n_out) {
    return mmf_merge_run(w, n, rank_pair, (void *)&t->merges, NULL, n_out);
}
