/* Caption words and the vocabulary built from the training captions. The word
 * split is deliberately simple and stated in docs/caption.md, because the
 * metrics count n-grams of exactly these words. */
#include "tasks/caption.h"
#include "core/error.h"
#include <stdlib.h>
#include <string.h>

static int is_word_byte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '\'' || c >= 0x80;
}

size_t cap_next_word(const char **p, char *buf) {
    const unsigned char *s = (const unsigned char *)*p;
    while (*s && !is_word_byte(*s)) s++;
    size_t n = 0;
    while (*s && is_word_byte(*s)) {
        unsigned char c = *s++;
        if (n < CAP_MAX_WORD) buf[n++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    /* a cut must not split a UTF-8 sequence: drop a trailing partial one */
    if (n == CAP_MAX_WORD) {
        size_t k = n;
        while (k > 0 && ((unsigned char)buf[k - 1] & 0xC0) == 0x80) k--;
        if (k > 0 && (unsigned char)buf[k - 1] >= 0xC0) {
            unsigned char lead = (unsigned char)buf[k - 1];
            size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
            if (n - (k - 1) < need) n = k - 1;
        }
    }
    buf[n] = 0;
    *p = (const char *)s;
    return n;
}

static const char *const special_names[CAP_N_SPECIAL] = {"<unk>", "<bos>", "<eos>"};

void mmf_caption_vocab_free(mmf_caption_vocab *v) {
    if (!v) return;
    mmf_vocab_free(&v->map);
    free(v);
}

static mmf_status vocab_new(size_t expected, mmf_caption_vocab **out) {
    mmf_caption_vocab *v = calloc(1, sizeof *v);
    if (!v) return mmf_fail(MMF_ERR_NOMEM, "caption vocabulary: out of memory");
    mmf_status s = mmf_vocab_init(&v->map, expected + CAP_N_SPECIAL);
    for (int i = 0; !s && i < CAP_N_SPECIAL; i++) s = mmf_vocab_set(&v->map, special_names[i], strlen(special_names[i]), i, 0);
    if (s) { mmf_caption_vocab_free(v); return s; }
    v->n = CAP_N_SPECIAL;
    *out = v;
    return MMF_OK;
}

typedef struct wc { const char *w; int64_t c; } wc;
static int wc_cmp(const void *a, const void *b) {
    const wc *x = a, *y = b;
    if (x->c != y->c) return x->c > y->c ? -1 : 1;
    return strcmp(x->w, y->w);
}

mmf_status mmf_caption_vocab_build(const char *const *captions, size_t n, int min_count, int max_words,
                                   mmf_caption_vocab **out) {
    *out = NULL;
    if (min_count < 1) return mmf_fail(MMF_ERR_ARG, "caption vocabulary: min_count %d, expected >= 1", min_count);
    mmf_vocab tmp;
    mmf_status s = mmf_vocab_init(&tmp, 1024);
    if (s) return s;
    int64_t *cnt = NULL;
    size_t cap = 0;
    int32_t nw = 0;
    char buf[CAP_MAX_WORD + 1];
    for (size_t i = 0; i < n && !s; i++) {
        const char *p = captions[i] ? captions[i] : "";
        size_t len;
        while (!s && (len = cap_next_word(&p, buf)) > 0) {
            int32_t id = mmf_vocab_get(&tmp, buf, len);
            if (id < 0) {
                if ((size_t)nw == cap) {
                    size_t nc = cap ? cap * 2 : 1024;
                    int64_t *np = realloc(cnt, nc * sizeof *np);
                    if (!np) { s = mmf_fail(MMF_ERR_NOMEM, "caption vocabulary: out of memory"); break; }
                    cnt = np; cap = nc;
                }
                id = nw++;
                cnt[id] = 0;
                s = mmf_vocab_set(&tmp, buf, len, id, 0);
            }
            if (!s) cnt[id]++;
        }
    }
    wc *order = NULL;
    if (!s && nw > 0 && !(order = malloc((size_t)nw * sizeof *order))) s = mmf_fail(MMF_ERR_NOMEM, "caption vocabulary: out of memory");
    int32_t kept = 0;
    if (!s) {
        for (int32_t i = 0; i < nw; i++) order[i] = (wc){mmf_vocab_token(&tmp, i), cnt[i]};
        if (nw > 0) qsort(order, (size_t)nw, sizeof *order, wc_cmp);
        while (kept < nw && order[kept].c >= min_count && (max_words <= 0 || kept < max_words)) kept++;
    }
    mmf_caption_vocab *v = NULL;
    if (!s) s = vocab_new((size_t)kept, &v);
    for (int32_t i = 0; !s && i < kept; i++) {
        /* a caption word can never collide with "<unk>" etc.: '<' is a separator */
        s = mmf_vocab_set(&v->map, order[i].w, strlen(order[i].w), v->n, 0);
        if (!s) v->n++;
    }
    free(order);
    free(cnt);
    mmf_vocab_free(&tmp);
    if (s) { mmf_caption_vocab_free(v); return s; }
    *out = v;
    return MMF_OK;
}

mmf_status cap_vocab_from_list(const char *const *words, int32_t n, const char *file, mmf_caption_vocab **out) {
    *out = NULL;
    if (n < CAP_N_SPECIAL) return mmf_fail(MMF_ERR_FORMAT, "%s: vocabulary has %d entries, expected >= %d", file, n, CAP_N_SPECIAL);
    for (int i = 0; i < CAP_N_SPECIAL; i++)
        if (!words[i] || strcmp(words[i], special_names[i]))
            return mmf_fail(MMF_ERR_FORMAT, "%s: vocabulary entry %d must be \"%s\"", file, i, special_names[i]);
    mmf_caption_vocab *v;
    mmf_status s = vocab_new((size_t)n, &v);
    for (int32_t i = CAP_N_SPECIAL; !s && i < n; i++) {
        const char *w = words[i];
        char buf[CAP_MAX_WORD + 1];
        const char *p = w ? w : "";
        size_t len = cap_next_word(&p, buf);
        /* every entry must be exactly one word as the splitter makes it */
        if (!w || len == 0 || strcmp(buf, w) != 0) {
            s = mmf_fail(MMF_ERR_FORMAT, "%s: vocabulary entry %d is not a caption word", file, i);
            break;
        }
        s = mmf_vocab_set(&v->map, w, len, i, 0);
        if (s) { mmf_fail(MMF_ERR_FORMAT, "%s: vocabulary entry %d (\"%s\") is a duplicate", file, i, w); break; }
        v->n++;
    }
    if (s) { mmf_caption_vocab_free(v); return s; }
    *out = v;
    return MMF_OK;
}

int32_t mmf_caption_vocab_size(const mmf_caption_vocab *v) { return v->n; }
const char *mmf_caption_vocab_word(const mmf_caption_vocab *v, int32_t id) {
    return id >= 0 && id < v->n ? mmf_vocab_token(&v->map, id) : NULL;
}
int32_t mmf_caption_vocab_id(const mmf_caption_vocab *v, const char *word) {
    return mmf_vocab_get(&v->map, word, strlen(word));
}

mmf_status cap_encode(const mmf_caption_vocab *v, const char *text, int32_t *ids, int max_len, int *n_len,
                      int *n_unk) {
    char buf[CAP_MAX_WORD + 1];
    const char *p = text ? text : "";
    size_t len;
    int n = 0, unk = 0;
    while ((len = cap_next_word(&p, buf)) > 0) {
        if (n >= max_len) break;
        int32_t id = mmf_vocab_get(&v->map, buf, len);
        if (id < CAP_N_SPECIAL) { id = CAP_UNK; unk++; }
        ids[n++] = id;
    }
    *n_len = n;
    if (n_unk) *n_unk = unk;
    return MMF_OK;
}

char *cap_decode(const mmf_caption_vocab *v, const int32_t *ids, int n) {
    size_t total = 1;
    for (int i = 0; i < n; i++) {
        const char *w = mmf_caption_vocab_word(v, ids[i]);
        if (w) total += strlen(w) + 1;
    }
    char *out = malloc(total), *q = out;
    if (!out) return NULL;
    for (int i = 0; i < n; i++) {
        if (ids[i] == CAP_BOS || ids[i] == CAP_EOS) continue;
        const char *w = mmf_caption_vocab_word(v, ids[i]);
        if (!w) continue;
        if (q != out) *q++ = ' ';
        size_t l = strlen(w);
        memcpy(q, w, l);
        q += l;
    }
    *q = 0;
    return out;
}
