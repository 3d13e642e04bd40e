/* Random-input robustness of the tokenizers: 20000 random byte strings
 * (invalid UTF-8, control characters, code points from every plane, special
 * tokens glued into words, very long runs) through the tiny WordPiece folders
 * (vocab.txt and tokenizer.json) and, when present, bert-base-uncased.
 * Invariants: success, [CLS] first and [SEP] last, every id a vocabulary id,
 * truncation honoured, pairs typed 0 then 1, same ids from both loaders. */
#include "test_util.h"
#include <unistd.h>

static uint64_t st = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd(void) { st ^= st << 13; st ^= st >> 7; st ^= st << 17; return (uint32_t)(st >> 11); }

static int put_cp(char *o, uint32_t c) {
    if (c < 0x80) { o[0] = (char)c; return 1; }
    if (c < 0x800) { o[0] = (char)(0xC0 | (c >> 6)); o[1] = (char)(0x80 | (c & 0x3F)); return 2; }
    if (c < 0x10000) { o[0] = (char)(0xE0 | (c >> 12)); o[1] = (char)(0x80 | ((c >> 6) & 0x3F)); o[2] = (char)(0x80 | (c & 0x3F)); return 3; }
    o[0] = (char)(0xF0 | (c >> 18)); o[1] = (char)(0x80 | ((c >> 12) & 0x3F)); o[2] = (char)(0x80 | ((c >> 6) & 0x3F)); o[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

static void random_text(char *buf, size_t cap) {
    static const char *pieces[] = {"[CLS]", "[SEP]", "[MASK]", "[UNK]", "[PAD]", "hello", "##s", " ", "\t", "\n", "é", "中", "😀", "e\xcc\x81"};
    size_t n = 0, len = rnd() % 64;
    if (rnd() % 50 == 0) len = 400 + rnd() % 300;   /* long inputs */
    for (size_t i = 0; i < len && n + 8 < cap; i++) {
        uint32_t k = rnd() % 10;
        if (k < 3) buf[n++] = (char)(0x20 + rnd() % 95);                        /* ASCII */
        else if (k == 3) buf[n++] = (char)(1 + rnd() % 255);                    /* any byte but NUL */
        else if (k == 4) { const char *p = pieces[rnd() % 14]; size_t l = strlen(p); if (n + l < cap - 8) { memcpy(buf + n, p, l); n += l; } }
        else if (k == 5) n += (size_t)put_cp(buf + n, 0x80 + rnd() % 0x780);    /* 2-byte */
        else if (k == 6) { uint32_t c = 0x800 + rnd() % 0xF800; if (c >= 0xD800 && c < 0xE000) c = 0x4E00; n += (size_t)put_cp(buf + n, c); }
        else if (k == 7) n += (size_t)put_cp(buf + n, 0x10000 + rnd() % 0x100000);
        else if (k == 8) { uint32_t r = 1 + rnd() % 30; for (uint32_t j = 0; j < r && n + 8 < cap; j++) buf[n++] = 'a' + (char)(rnd() % 3); }
        else buf[n++] = (char)(0x80 + rnd() % 0x40);                            /* stray continuation */
    }
    buf[n] = 0;
}

static void check_enc(const mmf_tokenizer *t, const mmf_encoding *e, int32_t cls, int32_t sep, int maxlen, int pair) {
    int64_t V = mmf_tokenizer_vocab_size(t);
    CHECK(e->n >= 2 + pair);
    CHECK(maxlen <= 0 || e->n <= (maxlen > 3 ? maxlen : 3));
    CHECK(e->ids[0] == cls && e->ids[e->n - 1] == sep);
    int bad = 0, types_ok = 1, seen1 = 0;
    for (int i = 0; i < e->n; i++) {
        if (e->ids[i] < 0 || e->ids[i] >= V || !mmf_tokenizer_id_to_token(t, e->ids[i])) bad++;
        if (e->type_ids[i] == 1) seen1 = 1;
        else if (seen1 || e->type_ids[i] != 0) types_ok = 0;
    }
    CHECK(bad == 0);
    CHECK(types_ok);
    if (pair) CHECK(seen1);
}

static void run(const char *label, mmf_tokenizer *a, mmf_tokenizer *b, int iters) {
    int32_t cls = mmf_tokenizer_token_to_id(a, "[CLS]"), sep = mmf_tokenizer_token_to_id(a, "[SEP]");
    char t1[4096], t2[4096];
    int diff = 0;
    for (int i = 0; i < iters; i++) {
        random_text(t1, sizeof t1);
        random_text(t2, sizeof t2);
        int maxlen = (rnd() % 3 == 0) ? 1 + (int)(rnd() % 40) : -1;   /* 0 would mean each folder's own limit */
        int pair = rnd() % 4 == 0;
        mmf_encoding e, f;
        CHECK_OK(mmf_tokenizer_encode(a, t1, pair ? t2 : NULL, 1, maxlen, &e));
        check_enc(a, &e, cls, sep, maxlen, pair);
        if (b) {
            CHECK_OK(mmf_tokenizer_encode(b, t1, pair ? t2 : NULL, 1, maxlen, &f));
            if (f.n != e.n || memcmp(f.ids, e.ids, (size_t)e.n * 4)) {
                if (!diff && getenv("MMF_DEBUG")) {
                    fprintf(stderr, "differ (maxlen %d pair %d): ", maxlen, pair);
                    for (const char *q = t1; *q; q++) fprintf(stderr, "%02x", (unsigned char)*q);
                    fprintf(stderr, "\n  %d vs %d tokens\n", e.n, f.n);
                }
                diff++;
            }
            mmf_encoding_free(&f);
        }
        mmf_encoding_free(&e);
    }
    CHECK_MSG(diff == 0, "%s: %d inputs where the two loaders disagree", label, diff);
    printf("%s: %d random inputs, invariants hold, loaders agree\n", label, iters);
}

int main(void) {
    mmf_log_set_level(MMF_LOG_ERROR);   /* invalid UTF-8 warnings are expected */
    char a[1024], b[1024];
    mmf_tokenizer *ta = NULL, *tb = NULL;
    CHECK_OK(mmf_tokenizer_load(t_src_path("tests/data/text/bert_a", a, sizeof a), &ta));   /* vocab.txt */
    CHECK_OK(mmf_tokenizer_load(t_src_path("tests/data/text/bert_b", b, sizeof b), &tb));   /* tokenizer.json */
    if (ta && tb) run("tiny vocab", ta, tb, 10000);
    mmf_tokenizer_free(ta);
    mmf_tokenizer_free(tb);
    const char *shared = getenv("MMFUSE_SHARED");
    char dir[2048];
    snprintf(dir, sizeof dir, "%s/tokenizers/bert-base-uncased", shared ? shared : "../shared");
    snprintf(a, sizeof a, "%.1000s/vocab.txt", dir);
    if (access(a, R_OK) == 0) {
        mmf_tokenizer *t = NULL;
        CHECK_OK(mmf_tokenizer_load(dir, &t));
        if (t) run("bert-base-uncased", t, NULL, 10000);
        mmf_tokenizer_free(t);
    } else {
        printf("bert-base-uncased not found: tiny vocabularies only\n");
    }
    return t_done("test_tokenizer_random");
}
