/* BERT parity with the PyTorch reference (tests/ref/ref_bert.py): four small
 * folders (12 heads gelu_new F32 with "bert." prefix and vocab.txt; 1 head
 * relu F16 without prefix and tokenizer.json; BF16 sharded; a
 * sentence-transformers folder with mean pooling + Normalize and
 * max_seq_length). Checks the last hidden state and every pooling over a
 * mixed-length id batch (lengths 1..max, random token types) and over texts
 * (tokenized here, ids checked against the reference), with 1 and 2 threads
 * and batches split across forward passes. Tolerance: max abs diff 1e-4. */
#include "test_util.h"
#include "models/encoder.h"
#include "core/gemm_bf16.h"
#include <stdlib.h>

#define TOL 1e-4
static double worst_seen = 0;

static float *getf(mmf_safetensors *st, const char *name, size_t *n) {
    const mmf_tensor_info *t = mmf_st_find(st, name);
    if (!t) { fprintf(stderr, "missing %s\n", name); exit(1); }
    float *p = malloc((size_t)t->numel * sizeof(float));
    CHECK_OK(mmf_st_read_f32(st, name, p, (size_t)t->numel));
    if (n) *n = (size_t)t->numel;
    return p;
}

static const int32_t *geti(mmf_safetensors *st, const char *name, int64_t *d0, int64_t *d1) {
    const mmf_tensor_info *t = mmf_st_find(st, name);
    if (!t || t->dtype != MMF_DT_I32) { fprintf(stderr, "missing I32 %s\n", name); exit(1); }
    if (d0) *d0 = t->shape[0];
    if (d1) *d1 = t->ndim > 1 ? t->shape[1] : 1;
    return t->data;
}

static void cmp(const char *what, const char *cas, const float *got, const float *want, size_t n) {
    double d = t_max_abs_diff(got, want, n);
    if (d > worst_seen) worst_seen = d;
    CHECK_MSG(d <= TOL, "%s %s: max abs diff %g", cas, what, d);
}

static const char *texts[64];
static int n_texts;

static void load_texts(void) {
    /* the same list as TEXTS in tests/ref/ref_bert.py */
    static const char *t[] = {
        "", "hello", "Hello, world!", "the cat sat on the mat.",
        "The dog was running and playing; it is unbelievable!", "unbelievableness of the world",
        "a b c d e f g h i j k l m n o p q r s t u v w x y z", "  spaced   out\ttabs\nand newlines  ",
        "numbers 12345 and 007, (parens) \"quotes\" 'single'", "zzzzqqqq xyzzy",
        "this that and of to in for the a is was it run play hello world cat dog sat on mat", "?!?!...",
    };
    n_texts = (int)(sizeof t / sizeof t[0]);
    for (int i = 0; i < n_texts; i++) texts[i] = t[i];
}

static void check_case(const char *cas, int st_pool) {
    char dir[1024], path[256];
    snprintf(path, sizeof path, "tests/data/text/%s", cas);
    t_src_path(path, dir, sizeof dir);
    snprintf(path, sizeof path, "tests/data/text/expect_%s.safetensors", cas);
    char epath[1024];
    mmf_safetensors *ex;
    CHECK_OK(mmf_st_open(t_src_path(path, epath, sizeof epath), &ex));
    if (!ex) return;

    for (int nt = 1; nt <= 2; nt++) {
        /* ---- id level: the whole (B, P) batch in one forward */
        int64_t B, T;
        const int32_t *ids = geti(ex, "ids", &B, &T), *types = geti(ex, "type_ids", NULL, NULL), *mask = geti(ex, "mask", NULL, NULL);
        mmf_encoder_params p = mmf_encoder_params_default();
        p.n_threads = nt;
        p.max_batch = (int)B;
        p.max_length = (int)T;
        mmf_encoder *e = NULL;
        CHECK_OK(mmf_encoder_load(dir, &p, &e));
        if (!e) break;
        int C = mmf_encoder_dim(e);
        uint8_t *keep = malloc((size_t)(B * T));
        for (int64_t i = 0; i < B * T; i++) keep[i] = (uint8_t)mask[i];
        float *h = malloc((size_t)(B * T * C) * sizeof(float)), *pooled = malloc((size_t)(B * C) * sizeof(float));
        size_t nh;
        float *want_h = getf(ex, "hidden", &nh);
        CHECK_OK(e->ops->text_forward(e, ids, types, keep, (int)B, (int)T, MMF_POOL_CLS, NULL, h));
        for (int64_t i = 0; i < B * T; i++)
            if (!keep[i]) memset(h + i * C, 0, (size_t)C * sizeof(float)), memset(want_h + i * C, 0, (size_t)C * sizeof(float));
        cmp("id batch hidden", cas, h, want_h, nh);
        const char *pn[] = {"pool_cls", "pool_mean", "pool_max", "pool_pooler"};
        mmf_pooling pp[] = {MMF_POOL_CLS, MMF_POOL_MEAN, MMF_POOL_MAX, MMF_POOL_POOLER};
        for (int k = 0; k < 4; k++) {
            float *want = getf(ex, pn[k], NULL);
            CHECK_OK(e->ops->text_forward(e, ids, types, keep, (int)B, (int)T, pp[k], pooled, NULL));
            cmp(pn[k], cas, pooled, want, (size_t)(B * C));
            free(want);
        }
        free(want_h); free(h); free(pooled); free(keep);
        mmf_encoder_free(e);

        /* ---- text level, through the public API, in batches of 5 */
        p = mmf_encoder_params_default();
        p.n_threads = nt;
        p.max_batch = 5;
        CHECK_OK(mmf_encoder_load(dir, &p, &e));
        if (!e) break;
        int64_t N, TT;
        const int32_t *tids = geti(ex, "text_ids", &N, &TT), *tmask = geti(ex, "text_mask", NULL, NULL);
        CHECK(N == n_texts);
        int tok_ok = 1;
        for (int i = 0; i < n_texts; i++) {
            mmf_encoding en;
            CHECK_OK(mmf_tokenizer_encode(mmf_encoder_tokenizer(e), texts[i], NULL, 1, mmf_encoder_max_length(e), &en));
            int len = 0;
            for (int t = 0; t < TT; t++) len += tmask[i * TT + t];
            if (en.n != len) tok_ok = 0;
            for (int t = 0; t < en.n && t < len; t++) if (en.ids[t] != tids[i * TT + t]) tok_ok = 0;
            mmf_encoding_free(&en);
        }
        CHECK_MSG(tok_ok, "%s: text ids differ from the reference tokenizer", cas);
        float *th = malloc((size_t)(N * TT * C) * sizeof(float));
        uint8_t *tm = malloc((size_t)(N * TT));
        CHECK_OK(mmf_encoder_embed_text_tokens(e, texts, (size_t)N, (int)TT, th, tm));
        float *want_th = getf(ex, "text_hidden", NULL);
        for (int64_t i = 0; i < N * TT; i++) {
            CHECK(tm[i] == (uint8_t)tmask[i]);
            if (!tmask[i]) memset(want_th + i * C, 0, (size_t)C * sizeof(float));
        }
        cmp("text hidden", cas, th, want_th, (size_t)(N * TT * C));
        const char *tn[] = {"text_cls", "text_mean", "text_max", "text_pooler"};
        float *out = malloc((size_t)(N * C) * sizeof(float));
        for (int k = 0; k < 4; k++) {
            float *want = getf(ex, tn[k], NULL);
            CHECK_OK(mmf_encoder_embed_text(e, texts, (size_t)N, pp[k], 0, out));
            cmp(tn[k], cas, out, want, (size_t)(N * C));
            free(want);
        }
        if (st_pool) {
            CHECK(mmf_encoder_default_pooling(e) == MMF_POOL_MEAN);
            CHECK(mmf_encoder_default_normalize(e) == 1);
            CHECK(mmf_encoder_max_length(e) == 12);
            float *want = getf(ex, "text_default", NULL);
            CHECK_OK(mmf_encoder_embed_text(e, texts, (size_t)N, MMF_POOL_DEFAULT, MMF_NORMALIZE_DEFAULT, out));
            cmp("text default (mean + normalize)", cas, out, want, (size_t)(N * C));
            free(want);
        }
        free(out); free(th); free(tm); free(want_th);
        mmf_encoder_free(e);
    }
    mmf_st_close(ex);
}

/* bf16 precision (opt-in): the same texts, against the fp32 reference, with
 * bf16's accuracy: every embedding's cosine to the reference >= 0.999. */
static void check_bf16(const char *cas) {
    char dir[1024], path[256], epath[1024];
    snprintf(path, sizeof path, "tests/data/text/%s", cas);
    t_src_path(path, dir, sizeof dir);
    snprintf(path, sizeof path, "tests/data/text/expect_%s.safetensors", cas);
    mmf_safetensors *ex;
    CHECK_OK(mmf_st_open(t_src_path(path, epath, sizeof epath), &ex));
    if (!ex) return;
    mmf_encoder_params p = mmf_encoder_params_default();
    p.precision = MMF_PRECISION_BF16;
    p.max_batch = 5;
    mmf_encoder *e = NULL;
    CHECK_OK(mmf_encoder_load(dir, &p, &e));
    if (e) {
        int C = mmf_encoder_dim(e);
        float *out = malloc((size_t)n_texts * C * sizeof(float)), *want = getf(ex, "text_mean", NULL);
        CHECK_OK(mmf_encoder_embed_text(e, texts, (size_t)n_texts, MMF_POOL_MEAN, 0, out));
        double worst_cos = 1, worst_abs = t_max_abs_diff(out, want, (size_t)n_texts * C);
        for (int i = 0; i < n_texts; i++) {
            double d = 0, a = 0, b = 0;
            for (int c = 0; c < C; c++) { d += out[i * C + c] * want[i * C + c]; a += out[i * C + c] * out[i * C + c]; b += want[i * C + c] * want[i * C + c]; }
            double cs = d / sqrt(a * b);
            if (cs < worst_cos) worst_cos = cs;
        }
        CHECK_MSG(worst_cos >= 0.999, "%s bf16: worst cosine %g", cas, worst_cos);
        printf("%s bf16: worst cosine to fp32 reference %.6f, max abs diff %.3g\n", cas, worst_cos, worst_abs);
        free(out);
        free(want);
        mmf_encoder_free(e);
    }
    mmf_st_close(ex);
}

int main(void) {
    load_texts();
    check_case("bert_a", 0);
    check_case("bert_b", 0);
    check_case("bert_c", 0);
    check_case("bert_st", 1);
    if (mmf_bf16_gemm_supported()) {
        check_bf16("bert_a");
        check_bf16("bert_c");
    } else {
        printf("bf16 checks skipped: this CPU has no AVX512-BF16\n");
    }
    printf("worst max abs diff over all cases and poolings: %.3g (tolerance %g)\n", worst_seen, TOL);
    return t_done("test_bert");
}
