/* The BPE merge loop (text/merge_queue.c):
 *  - against a plain reference written here (rescan the word, merge the
 *    lowest-priority pair, the leftmost among equals, repeat) on random words
 *    and random merge tables, values and symbol starts;
 *  - known structures: "aaa" -> [aa, a]; 2^k and odd runs of one letter;
 *  - words of 100,000 symbols (through the loop, and letters with no space
 *    through a byte-level and a SentencePiece BPE tokenizer): they
 *    finish and the tokens spell the word again. Before the queue each merge
 *    rescanned the word, which made such a word take minutes. */
#include "test_util.h"
#include "text/merge_queue.h"
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

/* a merge table over values 0..V) : table[l*V + r] = merged value + 1 (0: no merge) */
typedef struct table { int V; int32_t *merged; double *prio; } table;

static int table_pair(void *ctx, int32_t l, int32_t r, size_t beg, size_t mid, size_t end, double *prio, int32_t *merged) {
    (void)beg, (void)mid, (void)end;
    const table *t = ctx;
    if (l < 0 || r < 0 || l >= t->V || r >= t->V) return 0;
    int32_t m = t->merged[(size_t)l * t->V + r];
    if (!m) return 0;
    *prio = t->prio[(size_t)l * t->V + r];
    *merged = m - 1;
    return 1;
}

/* the reference: O(n^2), obviously the rule */
static size_t naive(int32_t *v, size_t *st, size_t n, const table *t) {
    for (size_t i = 0; i < n; i++) st[i] = i;
    for (;;) {
        size_t at = n;
        double best = 0;
        int32_t bm = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            double p;
            int32_t m;
            if (table_pair((void *)t, v[i], v[i + 1], 0, 0, 0, &p, &m) && (at == n || p < best)) { at = i; best = p; bm = m; }
        }
        if (at == n) return n;
        v[at] = bm;
        memmove(v + at + 1, v + at + 2, (n - at - 2) * sizeof *v);
        memmove(st + at + 1, st + at + 2, (n - at - 2) * sizeof *st);
        n--;
    }
}

static uint64_t rnd = 0x243f6a8885a308d3ULL;
static uint32_t next_u32(void) {
    rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
    return (uint32_t)(rnd >> 11);
}

static void random_words(void) {
    enum { V = 12, N = 300 };
    int32_t merged[V * V];
    double prio[V * V];
    table t = {V, merged, prio};
    int32_t a[N], b[N];
    size_t sa[N], sb[N];
    int agree = 0, cases = 0;
    for (int trial = 0; trial < 400; trial++) {
        /* few distinct priorities so that ties are common */
        for (int i = 0; i < V * V; i++) {
            merged[i] = next_u32() % 3 == 0 ? (int32_t)(next_u32() % V) + 1 : 0;
            prio[i] = (double)(next_u32() % 4);
        }
        size_t n = 1 + next_u32() % N, na = 0, nb;
        for (size_t i = 0; i < n; i++) a[i] = b[i] = next_u32() % 5 == 0 ? -1 : (int32_t)(next_u32() % V);
        CHECK_OK(mmf_merge_run(a, n, table_pair, &t, sa, &na));
        nb = naive(b, sb, n, &t);
        int same = na == nb;
        for (size_t i = 0; same && i < na; i++) same = a[i] == b[i] && sa[i] == sb[i];
        agree += same;
        cases++;
    }
    printf("random words: %d of %d merged exactly as the reference\n", agree, cases);
    CHECK(agree == cases);
}

/* values: 0 = a, 1 = aa, 2 = aaaa, 3 = aaaaaaaa; merges a+a, aa+aa, aaaa+aaaa by rank */
static void one_letter(void) {
    int32_t merged[16] = {0};
    double prio[16] = {0};
    table t = {4, merged, prio};
    for (int k = 0; k < 3; k++) { merged[k * 4 + k] = k + 2; prio[k * 4 + k] = k; }
    int32_t w[8] = {0, 0, 0};
    size_t n = 0;
    CHECK_OK(mmf_merge_run(w, 3, table_pair, &t, NULL, &n));
    CHECK_MSG(n == 2 && w[0] == 1 && w[1] == 0, "aaa -> %zu symbols", n);
    const size_t len = 100000;   /* = 12500 x 8 */
    int32_t *big = malloc((len + 3) * sizeof *big);
    size_t *st = malloc((len + 3) * sizeof *st);
    CHECK(big && st);
    if (!big || !st) return;
    for (size_t i = 0; i < len + 3; i++) big[i] = 0;
    CHECK_OK(mmf_merge_run(big, len, table_pair, &t, st, &n));
    int ok = n == len / 8;
    for (size_t i = 0; ok && i < n; i++) ok = big[i] == 3 && st[i] == 8 * i;
    CHECK_MSG(ok, "100000 x a -> %zu symbols, expected 12500 x aaaaaaaa", n);
    /* 8 + 4 + 2 + 1 = 15 letters: one of each, longest first */
    for (size_t i = 0; i < 15; i++) big[i] = 0;
    CHECK_OK(mmf_merge_run(big, 15, table_pair, &t, st, &n));
    CHECK_MSG(n == 4 && big[0] == 3 && big[1] == 2 && big[2] == 1 && big[3] == 0 && st[3] == 14, "15 x a -> %zu symbols", n);
    free(big);
    free(st);
}

/* a word of 100,000 letters, no spaces, through a real tokenizer: the tokens,
 * without the word-start marker, spell the word again */
static void long_word(const char *rel, const char *dir, const char *marker) {
    mmf_tokenizer *tok = NULL;
    CHECK_OK(mmf_tokenizer_load(dir, &tok));
    if (!tok) return;
    const size_t len = 100000;
    char *text = malloc(len + 1), *back = malloc(4 * len + 16);
    CHECK(text && back);
    if (!text || !back) return;
    static const char unit[] = "stringanaquel";   /* letters these vocabularies merge */
    for (size_t i = 0; i < len; i++) text[i] = unit[i % (sizeof unit - 1)];
    text[len] = 0;
    mmf_encoding e;
    CHECK_OK(mmf_tokenizer_encode(tok, text, NULL, 0, -1, &e));
    size_t k = 0;
    for (int i = 0; i < e.n; i++) {
        const char *s = e.tokens[i];
        if (i == 0 && !strncmp(s, marker, strlen(marker))) s += strlen(marker);
        size_t sl = strlen(s);
        if (k + sl > 4 * len) break;
        memcpy(back + k, s, sl);
        k += sl;
    }
    back[k] = 0;
    printf("[%s] %zu letters -> %d tokens\n", rel, len, e.n);
    CHECK_MSG(e.n > 0 && e.n < (int)len / 2 && k == len && !memcmp(back, text, len), "%s: the tokens spell %zu of %zu letters", rel, k, len);
    mmf_encoding_free(&e);
    mmf_tokenizer_free(tok);
    free(text);
    free(back);
}

int main(void) {
    char dir[1024], tmp[512], src[PATH_MAX], dst[1024];
    random_words();
    one_letter();
    long_word("bytebpe", t_src_path("tests/data/text/bytebpe", dir, sizeof dir), "\xc4\xa0");   /* U+0120 marks a space */
    long_word("spm_bpe", t_src_path("tests/data/text/spm_bpe", dir, sizeof dir), "\xe2\x96\x81");   /* U+2581 */
    /* the spm_train BPE as a spiece.model only: sentencepiece's score order
     * (this one took 29 s for the word before the queue) */
    t_tmpdir(tmp, sizeof tmp);
    snprintf(dst, sizeof dst, "%s/spiece.model", tmp);
    CHECK(realpath(t_src_path("tests/data/text/spm/bpe.model", dir, sizeof dir), src) && symlink(src, dst) == 0);
    long_word("spm/bpe.model", tmp, "\xe2\x96\x81");
    unlink(dst);
    rmdir(tmp);
    return t_done("test_merge_queue");
}
