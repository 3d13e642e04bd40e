/* Caption words, vocabulary, BLEU and CIDEr against hand-computed values.
 * Every expected number below is derived in the comments from the n-gram
 * counts (nothing is copied from our own output). */
#include "test_util.h"
#include "tasks/caption.h"

static void test_words(void) {
    const char *p = "  Don't STOP,now!  a-b 42x ";
    char buf[CAP_MAX_WORD + 1];
    const char *want[] = {"don't", "stop", "now", "a", "b", "42x"};
    for (int i = 0; i < 6; i++) {
        size_t n = cap_next_word(&p, buf);
        CHECK_MSG(n == strlen(want[i]) && !strcmp(buf, want[i]), "word %d: got \"%s\", want \"%s\"", i, buf, want[i]);
    }
    CHECK(cap_next_word(&p, buf) == 0);
    /* non-ASCII bytes are word bytes: "café" stays one word, case untouched */
    p = "Café au lait";
    CHECK(cap_next_word(&p, buf) == 5 && !strcmp(buf, "caf\xc3\xa9"));
    /* a very long word is cut at CAP_MAX_WORD bytes, never inside a UTF-8 sequence */
    char longw[200];
    memset(longw, 'x', 63);
    strcpy(longw + 63, "\xc3\xa9zzz");   /* the 2-byte é would straddle the cut at 64 */
    p = longw;
    CHECK(cap_next_word(&p, buf) == 63);
}

static void test_vocab(void) {
    /* counts: a 3, red 2, circle 2, blue 1, square 1; min_count 2 keeps a, circle, red
     * (ties by bytes: "circle" < "red") after <unk> <bos> <eos>. */
    const char *caps[] = {"a red circle", "a blue circle", "A red square!"};
    mmf_caption_vocab *v;
    CHECK_OK(mmf_caption_vocab_build(caps, 3, 2, 0, &v));
    CHECK(mmf_caption_vocab_size(v) == 6);
    CHECK(!strcmp(mmf_caption_vocab_word(v, 0), "<unk>") && !strcmp(mmf_caption_vocab_word(v, 2), "<eos>"));
    CHECK(!strcmp(mmf_caption_vocab_word(v, 3), "a"));
    CHECK(!strcmp(mmf_caption_vocab_word(v, 4), "circle"));
    CHECK(!strcmp(mmf_caption_vocab_word(v, 5), "red"));
    CHECK(mmf_caption_vocab_id(v, "blue") == -1);
    int32_t ids[8];
    int n, unk;
    CHECK_OK(cap_encode(v, "A blue circle.", ids, 8, &n, &unk));
    CHECK(n == 3 && ids[0] == 3 && ids[1] == CAP_UNK && ids[2] == 4 && unk == 1);
    char *s = cap_decode(v, (int32_t[]){CAP_BOS, 5, 4, CAP_EOS}, 4);
    CHECK(s && !strcmp(s, "red circle"));
    free(s);
    mmf_caption_vocab_free(v);
    /* max_words caps the list */
    CHECK_OK(mmf_caption_vocab_build(caps, 3, 1, 2, &v));
    CHECK(mmf_caption_vocab_size(v) == 5);
    mmf_caption_vocab_free(v);
    CHECK(mmf_caption_vocab_build(caps, 3, 0, 0, &v) == MMF_ERR_ARG);
}

/* Corpus BLEU, two candidates:
 *   1: "the cat sat on the mat"   refs "the cat is on the mat", "a cat sat on the mat"
 *   2: "a red circle"             refs "a big red circle", "red circle"
 * Clipped matches / candidate n-grams:
 *   n=1: cand 1: the x2 (max ref count 2), cat, sat, on, mat -> 6/6; cand 2: a, red, circle -> 3/3.  p1 = 9/9
 *   n=2: cand 1: the cat (r1), cat sat (r2), sat on (r2), on the, the mat -> 5/5;
 *        cand 2: "a red" no, "red circle" yes -> 1/2.                                             p2 = 6/7
 *   n=3: cand 1: "the cat sat" no, "cat sat on" (r2), "sat on the" (r2), "on the mat" -> 3/4;
 *        cand 2: "a red circle" no -> 0/1.                                                         p3 = 3/5
 *   n=4: cand 1: "the cat sat on" no, "cat sat on the" (r2), "sat on the mat" (r2) -> 2/3;
 *        cand 2: none.                                                                            p4 = 2/3
 * Lengths: c = 6 + 3 = 9; closest reference lengths: 6 (both are 6), and for cand 2 (len 3)
 * the refs of 4 and 2 words tie at distance 1 -> the shorter, 2. r = 8 <= c, so BP = 1.
 * (Had the tie gone to 4, r = 10 and BP = exp(1 - 10/9) would show.)
 *   BLEU-1 = 1, BLEU-2 = (1 * 6/7)^(1/2), BLEU-3 = (1 * 6/7 * 3/5)^(1/3) = (18/35)^(1/3),
 *   BLEU-4 = (18/35 * 2/3)^(1/4) = (12/35)^(1/4). */
static void test_bleu(void) {
    const char *hyps[] = {"the cat sat on the mat", "a red circle"};
    const char *refs[] = {"the cat is on the mat", "a cat sat on the mat", "a big red circle", "red circle"};
    size_t off[] = {0, 2, 4};
    mmf_caption_scores sc;
    CHECK_OK(mmf_caption_score(hyps, 2, refs, off, &sc));
    CHECK_NEAR(sc.brevity_penalty, 1.0, 1e-12);
    CHECK_NEAR(sc.bleu[0], 1.0, 1e-12);
    CHECK_NEAR(sc.bleu[1], sqrt(6.0 / 7.0), 1e-12);
    CHECK_NEAR(sc.bleu[2], cbrt(18.0 / 35.0), 1e-12);
    CHECK_NEAR(sc.bleu[3], pow(12.0 / 35.0, 0.25), 1e-12);

    /* Brevity: "the cat" against "the cat sat on the mat": p1 = 2/2, p2 = 1/1, no trigram
     * (BLEU-3, -4 = 0), c = 2, r = 6, BP = exp(1 - 6/2) = exp(-2); BLEU-1 = BLEU-2 = exp(-2). */
    const char *h2[] = {"The cat."};
    const char *r2[] = {"the cat sat on the mat"};
    size_t off2[] = {0, 1};
    CHECK_OK(mmf_caption_score(h2, 1, r2, off2, &sc));
    CHECK_NEAR(sc.brevity_penalty, exp(-2.0), 1e-12);
    CHECK_NEAR(sc.bleu[0], exp(-2.0), 1e-12);
    CHECK_NEAR(sc.bleu[1], exp(-2.0), 1e-12);
    CHECK_NEAR(sc.bleu[2], 0.0, 0);
    CHECK_NEAR(sc.bleu[3], 0.0, 0);

    /* Clipping: "the the the" vs "the cat": p1 = min(3, 1)/3 = 1/3, c = 3 > r = 2, BP = 1. */
    const char *h3[] = {"the the the"};
    const char *r3[] = {"the cat"};
    CHECK_OK(mmf_caption_score(h3, 1, r3, off2, &sc));
    CHECK_NEAR(sc.bleu[0], 1.0 / 3.0, 1e-12);
    CHECK_NEAR(sc.bleu[1], 0.0, 0);

    /* a candidate without references is an error, not a silent 0 */
    size_t off_bad[] = {0, 0};
    CHECK(mmf_caption_score(h3, 1, r3, off_bad, &sc) == MMF_ERR_ARG);
}

/* CIDEr-D and CIDEr, three images (N = 3, idf = log N - log max(1, df)):
 *   A: cand "red circle"     ref "red circle"
 *   B: cand "blue square"    ref "red square"
 *   C: cand "circle circle"  ref "a blue circle"
 * df over the references: red 2 (A, B), circle 2 (A, C), every other n-gram 1 (or 0
 * for n-grams only a candidate has, floored at 1). With L = log 3 and a = log 3 - log 2:
 * weight (tf * idf) of red, circle = a; of every other n-gram = L (times its count).
 * A: unigram vectors equal (a, a) -> cosine 1; bigram "red circle" equal -> 1; no 3-,4-grams
 *    (norm 0: left at 0). Bigram counts 1 and 1 -> no length penalty.
 *    CIDEr-D_A = 10 * (1 + 1 + 0 + 0) / 4 = 5;   CIDEr_A = (1 + 1) / 4 = 0.5.
 * B: cand (blue L, square L), norm L sqrt2; ref (red a, square L), norm sqrt(a^2 + L^2);
 *    shared: square: min(L, L) * L = L^2 -> u = L / (sqrt2 sqrt(a^2 + L^2)); bigrams differ -> 0.
 *    CIDEr-D_B = 10 u / 4;   CIDEr_B = u / 4 (the plain dot product is also L^2).
 * C: cand unigram circle tf 2 -> 2a, norm 2a; ref (a L, blue L, circle a), norm sqrt(2L^2 + a^2).
 *    CIDEr-D clips: min(2a, a) * a = a^2 -> a / (2 sqrt(2L^2 + a^2));
 *    CIDEr (no clip): 2a * a / (2a sqrt(2L^2 + a^2)) = a / sqrt(2L^2 + a^2).
 *    Bigrams "circle circle" vs "a blue", "blue circle": 0. Bigram counts 1 vs 2: delta = -1,
 *    CIDEr-D length penalty exp(-1 / (2 * 6^2)) = exp(-1/72).
 *    CIDEr-D_C = 10 * exp(-1/72) * a / (2 sqrt(2L^2 + a^2)) / 4;  CIDEr_C = a / sqrt(2L^2 + a^2) / 4.
 * Corpus scores are the means over A, B, C
 * (numerically CIDEr-D = (5 + 1.658425 + 0.311292) / 3 = 2.323239). */
static void test_cider(void) {
    const char *hyps[] = {"red circle", "blue square", "circle circle"};
    const char *refs[] = {"red circle", "red square", "a blue circle"};
    size_t off[] = {0, 1, 2, 3};
    mmf_caption_scores sc;
    CHECK_OK(mmf_caption_score(hyps, 3, refs, off, &sc));
    double L = log(3.0), a = log(3.0) - log(2.0);
    double u = L / (sqrt(2.0) * sqrt(a * a + L * L));
    double cd_a = 5.0, cd_b = 10.0 * u / 4.0, cd_c = 10.0 * exp(-1.0 / 72.0) * a / (2.0 * sqrt(2 * L * L + a * a)) / 4.0;
    double c_a = 0.5, c_b = u / 4.0, c_c = a / sqrt(2 * L * L + a * a) / 4.0;
    CHECK_NEAR(sc.cider_d, (cd_a + cd_b + cd_c) / 3.0, 1e-12);
    CHECK_NEAR(sc.cider_d, 2.323239, 2e-6);
    CHECK_NEAR(sc.cider, (c_a + c_b + c_c) / 3.0, 1e-12);

    /* Two references average: image A with refs "red circle" and "red square" (+ image B
     * "blue square" / "red square" so N = 2, L = log 2). df: red 2, circle 1, square 2,
     * "red circle" 1, "red square" 2. Weights: red 0, square 0, circle L, "red circle" L,
     * "red square" 0, candidate-only "blue" L, "blue square" L.
     * A vs "red circle": unigrams (0, L) vs (0, L) -> 1; bigram L vs L -> 1 => 2/4.
     * A vs "red square": unigram ref vector (0, 0) has norm 0 -> 0; bigram ref norm 0 -> 0.
     * CIDEr-D_A = 10 * (2/4 + 0) / 2 = 2.5.
     * B: cand (blue L, square 0) vs ref (red 0, square 0): ref norm 0 -> 0; bigrams: ref norm 0 -> 0.
     * CIDEr-D = (2.5 + 0) / 2 = 1.25. */
    const char *h2[] = {"red circle", "blue square"};
    const char *r2[] = {"red circle", "red square", "red square"};
    size_t off2[] = {0, 2, 3};
    CHECK_OK(mmf_caption_score(h2, 2, r2, off2, &sc));
    CHECK_NEAR(sc.cider_d, 1.25, 1e-12);
}

int main(void) {
    test_words();
    test_vocab();
    test_bleu();
    test_cider();
    printf("%d checks, %d failures\n", t_checks, t_failures);
    return t_failures ? 1 : 0;
}
