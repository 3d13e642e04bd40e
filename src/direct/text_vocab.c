/* Learning the text towers' vocabulary (text_vocab.h).
 *
 * The vocabulary is learned from the training texts with the tokenizer that
 * will read it: a first vocab.txt holding only the specials and single
 * characters (plain and "##"-continued) makes the WordPiece tokenizer split
 * every text into characters after its own normalisation (lower case, accents
 * stripped, punctuation split); gluing "##" pieces back gives exactly the
 * words the final tokenizer will look up. The final vocab.txt is the specials,
 * the words seen at least min_count times (most frequent first), then the
 * characters, so unseen words fall back to characters instead of [UNK]. */
#include "direct/text_vocab.h"
#include "train/comm.h"
#include "core/error.h"
#include "text/text_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

typedef struct wcount { char *w; int64_t n; } wcount;

static int cmp_wc(const void *a, const void *b) {
    const wcount *x = a, *y = b;
    if (x->n != y->n) return x->n > y->n ? -1 : 1;
    return strcmp(x->w, y->w);
}

static mmf_status write_text(const char *dir, const char *name, const char *txt, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return mmf_write_file_atomic(path, txt, n);
}

static mmf_status write_tok_config(const char *dir, int max_length) {
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "{\n  \"tokenizer_class\": \"BertTokenizer\",\n  \"do_lower_case\": true,\n"
                     "  \"tokenize_chinese_chars\": true,\n  \"model_max_length\": %d,\n"
                     "  \"unk_token\": \"[UNK]\", \"cls_token\": \"[CLS]\", \"sep_token\": \"[SEP]\",\n"
                     "  \"pad_token\": \"[PAD]\", \"mask_token\": \"[MASK]\"\n}\n", max_length);
    return write_text(dir, "tokenizer_config.json", buf, (size_t)n);
}

/* the characters of the texts (UTF-8 strings, unique), ASCII printable included */
static mmf_status collect_chars(const char *const *texts, size_t n_texts, mmf_vocab *chars) {
    mmf_status s = mmf_vocab_init(chars, 512);
    int32_t next = 0;
    char u[8];
    for (int c = 33; c < 127 && !s; c++) {
        u[0] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        if (mmf_vocab_get(chars, u, 1) < 0) s = mmf_vocab_set(chars, u, 1, next++, 0);
    }
    for (size_t i = 0; i < n_texts && !s; i++) {
        const char *t = texts[i];
        if (!t) continue;
        size_t len = strlen(t), bad;
        int32_t *cp = malloc((len + 1) * sizeof *cp);
        if (!cp) return mmf_fail(MMF_ERR_NOMEM, "out of memory");
        size_t n = mmf_utf8_decode(t, len, cp, &bad);
        for (size_t k = 0; k < n && !s; k++) {
            if (cp[k] <= 32 || cp[k] == 0xFFFD) continue;
            int32_t c = cp[k] >= 'A' && cp[k] <= 'Z' ? cp[k] + 32 : cp[k];
            int l = mmf_utf8_put(c, u);
            if (mmf_vocab_get(chars, u, (size_t)l) < 0) s = mmf_vocab_set(chars, u, (size_t)l, next++, 0);
        }
        free(cp);
    }
    return s;
}

static mmf_status append_line(mmf_strbuf *b, const char *s, size_t n) {
    mmf_status st = mmf_strbuf_add(b, s, n);
    return st ? st : mmf_strbuf_add(b, "\n", 1);
}

/* write vocab.txt: specials, words (may be NULL), characters and ##characters */
static mmf_status write_vocab(const char *dir, const mmf_vocab *chars, const wcount *words, int64_t n_words, int64_t *size) {
    mmf_strbuf b = {0};
    mmf_vocab seen;
    mmf_status s = mmf_vocab_init(&seen, 4096);
    int32_t id = 0;
#define PUT(str, len) do { if (!s && mmf_vocab_get(&seen, str, len) < 0) { \
        s = mmf_vocab_set(&seen, str, len, id++, 0); if (!s) s = append_line(&b, str, len); } } while (0)
    for (int i = 0; i < 5; i++) PUT(specials[i], strlen(specials[i]));
    for (int64_t i = 0; i < n_words; i++) PUT(words[i].w, strlen(words[i].w));
    for (int64_t i = 0; i < chars->n_ids; i++) {
        const char *c = mmf_vocab_token(chars, (int32_t)i);
        if (c) PUT(c, strlen(c));
    }
    for (int64_t i = 0; i < chars->n_ids; i++) {
        const char *c = mmf_vocab_token(chars, (int32_t)i);
        char cc[16];
        if (!c) continue;
        int l = snprintf(cc, sizeof cc, "##%s", c);
        PUT(cc, (size_t)l);
    }
#undef PUT
    if (!s) s = write_text(dir, "vocab.txt", b.s, b.n);
    *size = id;
    free(b.s);
    mmf_vocab_free(&seen);
    return s;
}

/* words of every text as the tokenizer normalises them, counted */
static mmf_status count_words(const char *const *texts, size_t n_texts, const mmf_tokenizer *tok, wcount **out, int64_t *n_out) {
    mmf_vocab idx;
    mmf_status s = mmf_vocab_init(&idx, 4096);
    wcount *wc = NULL;
    int64_t n = 0, cap = 0;
    mmf_strbuf w = {0};
    for (size_t i = 0; i < n_texts && !s; i++) {
        if (!texts[i]) continue;
        mmf_encoding e;
        s = mmf_tokenizer_encode(tok, texts[i], NULL, 0, -1, &e);
        if (s) break;
        for (int k = 0; k <= e.n && !s; k++) {
            const char *t = k < e.n ? e.tokens[k] : NULL;
            int cont = t && t[0] == '#' && t[1] == '#' && t[2];
            if (!cont && w.n) {  /* a word ends */
                int32_t j = mmf_vocab_get(&idx, w.s, w.n);
                if (j < 0) {
                    if (n == cap) {
                        cap = cap ? 2 * cap : 1024;
                        wcount *nw = realloc(wc, (size_t)cap * sizeof *nw);
                        if (!nw) { s = mmf_fail(MMF_ERR_NOMEM, "out of memory"); break; }
                        wc = nw;
                    }
                    wc[n].w = strndup(w.s, w.n);
                    wc[n].n = 0;
                    s = mmf_vocab_set(&idx, w.s, w.n, (int32_t)n, 0);
                    j = (int32_t)n++;
                }
                wc[j].n++;
                w.n = 0;
            }
            if (!t || !strcmp(t, "[UNK]")) continue;
            if (!s) s = cont ? mmf_strbuf_add(&w, t + 2, strlen(t + 2)) : mmf_strbuf_add(&w, t, strlen(t));
        }
        mmf_encoding_free(&e);
    }
    free(w.s);
    mmf_vocab_free(&idx);
    if (s) { for (int64_t i = 0; i < n; i++) free(wc[i].w); free(wc); return s; }
    qsort(wc, (size_t)n, sizeof *wc, cmp_wc);
    *out = wc;
    *n_out = n;
    return MMF_OK;
}


mmf_status mmf_text_vocab_learn(const char *const *texts, size_t n_texts, const char *dir, int max_length, int min_count,
                                int64_t *vocab_size, mmf_tokenizer **tok) {
    *tok = NULL;
    mmf_vocab chars = {0};
    wcount *words = NULL;
    int64_t n_words = 0, vsize = 0;
    /* 1. character vocabulary, 2. words as the tokenizer sees them, 3. the final vocabulary */
    mmf_status s = collect_chars(texts, n_texts, &chars);
    if (!s) s = write_tok_config(dir, max_length);
    if (!s) s = write_vocab(dir, &chars, NULL, 0, &vsize);
    if (!s) s = mmf_tokenizer_load(dir, tok);
    if (!s) s = count_words(texts, n_texts, *tok, &words, &n_words);
    int64_t keep_words = 0;
    while (keep_words < n_words && words[keep_words].n >= min_count) keep_words++;
    mmf_tokenizer_free(*tok);
    *tok = NULL;
    if (!s) s = write_vocab(dir, &chars, words, keep_words, &vsize);
    if (!s) s = mmf_tokenizer_load(dir, tok);
    for (int64_t i = 0; i < n_words; i++) free(words[i].w);
    free(words);
    mmf_vocab_free(&chars);
    *vocab_size = vsize;
    return s;
}

mmf_status mmf_text_vocab_learn_comm(const mmf_comm *comm, mmf_status s, const char *const *texts, size_t n_texts,
                                     const char *dir, int max_length, int min_count, int64_t *vocab_size, mmf_tokenizer **tok) {
    *tok = NULL;
    if (!mmf_comm_multi(comm)) return s ? s : mmf_text_vocab_learn(texts, n_texts, dir, max_length, min_count, vocab_size, tok);
    int64_t v = 0;
    if (!s && comm->rank == 0) s = mmf_text_vocab_learn(texts, n_texts, dir, max_length, min_count, &v, tok);
    s = mmf_comm_agree(comm, s, "text vocabulary");   /* rank 0's files are in place */
    if (!s) s = mmf_comm_sum_i64(comm, &v, 1, "text vocabulary");   /* rank 0's size, the others add 0 */
    if (!s && comm->rank != 0) s = mmf_tokenizer_load(dir, tok);
    s = mmf_comm_agree(comm, s, "text vocabulary");
    if (s) { mmf_tokenizer_free(*tok); *tok = NULL; return s; }
    *vocab_size = v;
    return MMF_OK;
}
