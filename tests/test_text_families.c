/* RoBERTa / XLM-RoBERTa, DistilBERT and MPNet parity with the float64
 * references of tests/ref/ref_text_families.py: tiny random folders in the
 * layouts of roberta-base ("roberta." prefix, pooler), multilingual-e5 /
 * paraphrase-multilingual (no prefix, F16, mean + Normalize,
 * max_seq_length), distilbert-base-uncased ("distilbert." prefix),
 * an XLM-R folder tokenized by its sentencepiece.bpe.model (fairseq ids; an
 * spm_train Unigram model, ids from python3-sentencepiece) over multilingual
 * texts, a RoBERTa folder with a byte-level BPE tokenizer.json (strings and
 * ids from npm @huggingface/tokenizers), multi-qa-distilbert (cls + Normalize, sinusoidal table absent from the
 * checkpoint), all-mpnet-base-v2 (mean + Normalize, 38 positions so the
 * logarithmic buckets are used) and an "mpnet."-prefixed one with 16 buckets.
 * Per case: last hidden states and every pooling over an id batch of lengths
 * 1..max (pads after the end, real tokens equal to the pad id inside), then
 * texts through the public API (ids checked, token states, poolings, the
 * folder's default), with 1 and 2 threads and batches split across forward
 * passes. Tolerance: max abs diff 1e-4. bf16 / int8 (where the CPU runs them):
 * cosine to the reference >= 0.99. */
#include "test_util.h"
#include "models/encoder.h"
#include "core/gemm_bf16.h"
#include "core/gemm_int8.h"
#include <cjson/cJSON.h>
#include <stdlib.h>

#define TOL 1e-4
static double worst_seen = 0;

/* The texts of each case come from its expected file (metadata "texts", a JSON
 * array written by the reference with the ids it computed for them). */
static const char *texts[64];
static int N_TEXTS;
static cJSON *texts_json;

static void load_texts(mmf_safetensors *ex, const char *cas) {
    cJSON_Delete(texts_json);
    N_TEXTS = 0;
    const char *m = mmf_st_metadata(ex, "texts");
    texts_json = m ? cJSON_Parse(m) : NULL;
    CHECK_MSG(cJSON_IsArray(texts_json), "%s: no \"texts\" metadata in the expected file", cas);
    for (const cJSON *t = texts_json ? texts_json->child : NULL; t && N_TEXTS < 64; t = t->next)
        if (cJSON_IsString(t)) texts[N_TEXTS++] = t->valuestring;
}

static float *getf(mmf_safetensors *st, const char *name, size_t *n) {
    const mmf_tensor_info *t = mmf_st_find(st, name);
    if (!t) return NULL;
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

static double worst_cosine(const float *a, const float *b, int n, int C) {
    double w = 1;
    for (int i = 0; i < n; i++) {
        double d = 0, x = 0, y = 0;
        for (int c = 0; c < C; c++) { d += a[i * C + c] * b[i * C + c]; x += a[i * C + c] * a[i * C + c]; y += b[i * C + c] * b[i * C + c]; }
        double cs = d / sqrt(x * y + 1e-30);
        if (cs < w) w = cs;
    }
    return w;
}

static const char *const pool_names[] = {"cls", "mean", "max", "pooler"};
static const mmf_pooling pools[] = {MMF_POOL_CLS, MMF_POOL_MEAN, MMF_POOL_MAX, MMF_POOL_POOLER};

static void check_case(const char *cas, const char *model_type, mmf_pooling def_pool, int def_norm, int max_len) {
    char dir[1024], path[256], epath[1024];
    snprintf(path, sizeof path, "tests/data/text/%s", cas);
    t_src_path(path, dir, sizeof dir);
    snprintf(path, sizeof path, "tests/data/text/expect_%s.safetensors", cas);
    mmf_safetensors *ex;
    CHECK_OK(mmf_st_open(t_src_path(path, epath, sizeof epath), &ex));
    if (!ex) return;
    load_texts(ex, cas);
    for (int nt = 1; nt <= 2; nt++) {
        int64_t B, T;
        const int32_t *ids = geti(ex, "ids", &B, &T), *mask = geti(ex, "mask", NULL, NULL);
        mmf_encoder_params p = mmf_encoder_params_default();
        p.n_threads = nt;
        p.max_batch = (int)B;
        p.max_length = (int)T;
        mmf_encoder *e = NULL;
        CHECK_OK(mmf_encoder_load(dir, &p, &e));
        if (!e) break;
        CHECK(strcmp(mmf_encoder_model_type(e), model_type) == 0);
        int C = mmf_encoder_dim(e);
        uint8_t *keep = malloc((size_t)(B * T));
        int32_t *types = calloc((size_t)(B * T), sizeof *types);
        for (int64_t i = 0; i < B * T; i++) keep[i] = (uint8_t)mask[i];
        float *h = malloc((size_t)(B * T * C) * sizeof(float)), *pooled = malloc((size_t)(B * C) * sizeof(float));
        size_t nh = 0;
        float *want_h = getf(ex, "hidden", &nh);
        CHECK_OK(e->ops->text_forward(e, ids, types, keep, (int)B, (int)T, MMF_POOL_CLS, NULL, h));
        for (int64_t i = 0; i < B * T; i++)
            if (!keep[i]) memset(h + i * C, 0, (size_t)C * sizeof(float)), memset(want_h + i * C, 0, (size_t)C * sizeof(float));
        cmp("id batch hidden", cas, h, want_h, nh);
        for (int k = 0; k < 4; k++) {
            char n[32];
            snprintf(n, sizeof n, "pool_%s", pool_names[k]);
            float *want = getf(ex, n, NULL);
            if (!want) {   /* no pooler in the checkpoint: asking for it is an error */
                CHECK(e->ops->text_forward(e, ids, types, keep, (int)B, (int)T, pools[k], pooled, NULL) == MMF_ERR_UNSUPPORTED);
                continue;
            }
            CHECK_OK(e->ops->text_forward(e, ids, types, keep, (int)B, (int)T, pools[k], pooled, NULL));
            cmp(n, cas, pooled, want, (size_t)(B * C));
            free(want);
        }
        free(want_h); free(h); free(pooled); free(keep); free(types);
        mmf_encoder_free(e);

        /* ---- texts through the public API, batches of 4 */
        p = mmf_encoder_params_default();
        p.n_threads = nt;
        p.max_batch = 4;
        CHECK_OK(mmf_encoder_load(dir, &p, &e));
        if (!e) break;
        CHECK(mmf_encoder_default_pooling(e) == def_pool);
        CHECK(mmf_encoder_default_normalize(e) == def_norm);
        CHECK_MSG(mmf_encoder_max_length(e) == max_len, "%s: max_length %d, want %d", cas, mmf_encoder_max_length(e), max_len);
        int64_t N, TT;
        const int32_t *tids = geti(ex, "text_ids", &N, &TT), *tmask = geti(ex, "text_mask", NULL, NULL);
        CHECK(N == N_TEXTS);
        int tok_ok = 1;
        for (int i = 0; i < N_TEXTS; i++) {
            mmf_encoding en;
            CHECK_OK(mmf_tokenizer_encode(mmf_encoder_tokenizer(e), texts[i], NULL, 1, mmf_encoder_max_length(e), &en));
            int len = 0;
            for (int t = 0; t < TT; t++) len += tmask[i * TT + t];
            if (en.n != len) tok_ok = 0;
            for (int t = 0; t < en.n && t < len; t++) if (en.ids[t] != tids[i * TT + t]) tok_ok = 0;
            mmf_encoding_free(&en);
        }
        CHECK_MSG(tok_ok, "%s: text ids differ from the reference", cas);
        float *th = malloc((size_t)(N * TT * C) * sizeof(float)), *want_th = getf(ex, "text_hidden", NULL);
        uint8_t *tm = malloc((size_t)(N * TT));
        CHECK_OK(mmf_encoder_embed_text_tokens(e, texts, (size_t)N, (int)TT, th, tm));
        for (int64_t i = 0; i < N * TT; i++) {
            CHECK(tm[i] == (uint8_t)tmask[i]);
            if (!tmask[i]) memset(want_th + i * C, 0, (size_t)C * sizeof(float));
        }
        cmp("text hidden", cas, th, want_th, (size_t)(N * TT * C));
        float *out = malloc((size_t)(N * C) * sizeof(float));
        for (int k = 0; k < 4; k++) {
            char n[32];
            snprintf(n, sizeof n, "text_%s", pool_names[k]);
            float *want = getf(ex, n, NULL);
            if (!want) continue;
            CHECK_OK(mmf_encoder_embed_text(e, texts, (size_t)N, pools[k], 0, out));
            cmp(n, cas, out, want, (size_t)(N * C));
            free(want);
        }
        float *want = getf(ex, "text_default", NULL);
        if (want) {
            CHECK_OK(mmf_encoder_embed_text(e, texts, (size_t)N, MMF_POOL_DEFAULT, MMF_NORMALIZE_DEFAULT, out));
            cmp("text default", cas, out, want, (size_t)(N * C));
            free(want);
        }
        free(out); free(th); free(tm); free(want_th);
        mmf_encoder_free(e);
    }
    /* bf16 and int8 run the same layers through the shared transformer: accuracy, not parity */
    for (int prec = MMF_PRECISION_BF16; prec <= MMF_PRECISION_INT8; prec++) {
        if (prec == MMF_PRECISION_BF16 ? !mmf_bf16_gemm_supported() : !mmf_int8_supported()) continue;
        mmf_encoder_params p = mmf_encoder_params_default();
        p.precision = (mmf_precision)prec;
        mmf_encoder *e = NULL;
        CHECK_OK(mmf_encoder_load(dir, &p, &e));
        if (!e) continue;
        int C = mmf_encoder_dim(e);
        float *out = malloc((size_t)N_TEXTS * C * sizeof(float)), *want = getf(ex, "text_mean", NULL);
        CHECK_OK(mmf_encoder_embed_text(e, texts, (size_t)N_TEXTS, MMF_POOL_MEAN, 0, out));
        double wc = worst_cosine(out, want, N_TEXTS, C);
        CHECK_MSG(wc >= 0.99, "%s %s: worst cosine %g", cas, prec == MMF_PRECISION_BF16 ? "bf16" : "int8", wc);
        printf("%s %s: worst cosine to the reference %.5f\n", cas, prec == MMF_PRECISION_BF16 ? "bf16" : "int8", wc);
        free(out); free(want);
        mmf_encoder_free(e);
    }
    mmf_st_close(ex);
}

int main(void) {
    check_case("roberta_a", "roberta", MMF_POOL_MEAN, 0, 18);
    check_case("roberta_bpe", "roberta", MMF_POOL_MEAN, 0, 32);   /* byte-level BPE tokenizer.json */
    check_case("xlmr_spm", "xlm-roberta", MMF_POOL_MEAN, 1, 38);  /* sentencepiece.bpe.model, multilingual */
    check_case("xlmr_st", "xlm-roberta", MMF_POOL_MEAN, 1, 10);
    check_case("distilbert_a", "distilbert", MMF_POOL_MEAN, 0, 16);
    check_case("distilbert_st", "distilbert", MMF_POOL_CLS, 1, 16);
    check_case("mpnet_st", "mpnet", MMF_POOL_MEAN, 1, 38);
    check_case("mpnet_b", "mpnet", MMF_POOL_MEAN, 0, 22);
    cJSON_Delete(texts_json);
    printf("worst max abs diff over all cases and poolings: %.3g (tolerance %g)\n", worst_seen, TOL);
    return t_done("test_text_families");
}
