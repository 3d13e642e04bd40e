/* int8 precision: the kernel (core/gemm_int8.c) against an fp64 product, and
 * the encoders (BERT, ViT, CLIP vision, ResNet; CLIP text runs the same
 * layers but its test folders lack a tokenizer) in int8 against
 * their own fp32 path (which test_bert / test_vit_clip hold to PyTorch):
 * cosine >= 0.99 per embedding, the gate. Where the engine has no
 * VNNI (e.g. ONEDNN_MAX_CPU_ISA=AVX2), int8 must be refused with an error
 * naming the missing feature, and that is what is checked instead. ResNet's
 * convolutions run the same kernel over im2col rows. Also: auto is bf16 where
 * it pays on this core (core/bf16_probe.h), else fp32. (The from-scratch mmfuse_cnn tower's bf16 and
 * int8 are checked the same way in tests/test_direct_towers.c.) */
#include "test_util.h"
#include "core/gemm_int8.h"
#include "core/bf16_probe.h"
#include "core/gemm_bf16.h"

static unsigned rs = 2463534242u;
static float frnd(void) { rs ^= rs << 13; rs ^= rs >> 17; rs ^= rs << 5; return (rs >> 8) / 16777216.0f - 0.5f; }

static void check_kernel(void) {
    enum { R = 37, K = 96, N = 80 };
    static float x[R * K], W[N * K], b[N], y[R * N], y0[R * N], yacc[R * N];
    for (int i = 0; i < R * K; i++) x[i] = frnd() * 4;
    for (int i = 0; i < N * K; i++) W[i] = frnd();
    for (int i = 0; i < N; i++) b[i] = frnd();
    for (int k = 0; k < K; k++) x[5 * K + k] = 0.0f;   /* an all-zero row: output = bias */
    void *wp = malloc(mmf_int8_packed_bytes(N, K)), *scr = malloc(mmf_int8_scratch_bytes(R, K, N));
    mmf_int8_pack(wp, W, N, K);
    for (int nt = 1; nt <= 2; nt++) {
        CHECK(mmf_int8_linear(y, x, wp, b, R, K, N, 0, scr, nt) == 0);
        double num = 0, den = 0;
        for (int r = 0; r < R; r++)
            for (int n = 0; n < N; n++) {
                double ref = b[n];
                for (int k = 0; k < K; k++) ref += (double)x[r * K + k] * W[n * K + k];
                num += (y[r * N + n] - ref) * (y[r * N + n] - ref);
                den += ref * ref;
            }
        double rel = sqrt(num / den);
        CHECK_MSG(rel < 0.02, "int8 linear, %d thread(s): relative error %g", nt, rel);
        printf("int8 linear %dx%dx%d, %d thread(s): relative error %.4f vs fp64\n", R, N, K, nt, rel);
        for (int n = 0; n < N; n++) CHECK(y[5 * N + n] == b[n]);
        /* accumulate adds the same product onto y */
        for (int i = 0; i < R * N; i++) yacc[i] = y0[i] = frnd();
        CHECK(mmf_int8_linear(yacc, x, wp, b, R, K, N, 1, scr, nt) == 0);
        for (int i = 0; i < R * N; i++) yacc[i] -= y0[i];
        t_allclose(yacc, y, R * N, 1e-5, 1e-5, "int8 linear: accumulate = y0 + product");
    }
    free(wp);
    free(scr);
}

static double min_cosine(const float *a, const float *b, int n, int d) {
    double worst = 1;
    for (int i = 0; i < n; i++) {
        double ab = 0, aa = 0, bb = 0;
        for (int c = 0; c < d; c++) { ab += (double)a[i * d + c] * b[i * d + c]; aa += (double)a[i * d + c] * a[i * d + c]; bb += (double)b[i * d + c] * b[i * d + c]; }
        double cs = ab / sqrt(aa * bb + 1e-30);
        if (cs < worst) worst = cs;
    }
    return worst;
}

static const char *const texts[] = {"hello world", "a red heart on a white ground", "the quick brown fox jumps over the lazy dog",
                                    "x", "multimodal embeddings in C, batched and fast"};
enum { NT = 5, NI = 3 };

/* fp32 and `prec` embeddings of one folder: text (if it has a text tower) and random pixels (if images) */
static int embed_both(const char *dir, mmf_precision prec, float **ref, float **got, int *n, int *d, int text) {
    mmf_encoder_params p = mmf_encoder_params_default();
    p.max_batch = 8;
    mmf_encoder *e32 = NULL, *e = NULL;
    CHECK_OK(mmf_encoder_load(dir, &p, &e32));
    p.precision = prec;
    mmf_status s = mmf_encoder_load(dir, &p, &e);
    if (s) { mmf_encoder_free(e32); return s; }
    int D = mmf_encoder_dim(e);
    *d = D;
    if (text) {
        *n = NT;
        *ref = malloc(sizeof(float) * NT * D); *got = malloc(sizeof(float) * NT * D);
        CHECK_OK(mmf_encoder_embed_text(e32, texts, NT, MMF_POOL_DEFAULT, MMF_NORMALIZE_DEFAULT, *ref));
        CHECK_OK(mmf_encoder_embed_text(e, texts, NT, MMF_POOL_DEFAULT, MMF_NORMALIZE_DEFAULT, *got));
    } else {
        int C, H, W;
        mmf_image_processor_size(mmf_encoder_image_processor(e), &C, &H, &W);
        size_t per = (size_t)C * H * W;
        float *px = malloc(sizeof(float) * per * NI);
        for (size_t i = 0; i < per * NI; i++) px[i] = frnd() * 4;
        *n = NI;
        *ref = malloc(sizeof(float) * NI * D); *got = malloc(sizeof(float) * NI * D);
        CHECK_OK(mmf_encoder_embed_pixels(e32, px, NI, MMF_POOL_DEFAULT, MMF_NORMALIZE_DEFAULT, *ref));
        CHECK_OK(mmf_encoder_embed_pixels(e, px, NI, MMF_POOL_DEFAULT, MMF_NORMALIZE_DEFAULT, *got));
        free(px);
    }
    mmf_encoder_free(e32);
    mmf_encoder_free(e);
    return 0;
}

static void check_encoder(const char *rel, int text) {
    char dir[1024];
    t_src_path(rel, dir, sizeof dir);
    float *ref = NULL, *got = NULL;
    int n = 0, d = 0;
    int s = embed_both(dir, MMF_PRECISION_INT8, &ref, &got, &n, &d, text);
    if (!mmf_int8_supported()) {
        CHECK_MSG(s == MMF_ERR_UNSUPPORTED && strstr(mmf_last_error(), "VNNI"), "%s int8 without VNNI: status %d, \"%s\"", rel, s,
                  mmf_last_error());
        printf("%s: int8 refused as it must be without VNNI: %s\n", rel, mmf_last_error());
    } else {
        CHECK_MSG(s == 0, "%s int8: %s", rel, mmf_last_error());
        if (!s) {
            double c = min_cosine(got, ref, n, d);
            CHECK_MSG(c >= 0.99, "%s int8 (%s): worst cosine to fp32 %g", rel, text ? "text" : "image", c);
            printf("%s int8 (%s): worst cosine to fp32 %.6f over %d embeddings\n", rel, text ? "text" : "image", c, n);
        }
    }
    free(ref);
    free(got);
}

static void check_auto(void) {
    char dir[1024];
    t_src_path("tests/data/text/bert_a", dir, sizeof dir);
    mmf_encoder_params p = mmf_encoder_params_default();
    mmf_encoder *ea = NULL, *eb = NULL;
    p.precision = MMF_PRECISION_AUTO;
    CHECK_OK(mmf_encoder_load(dir, &p, &ea));
    p.precision = mmf_bf16_pays() ? MMF_PRECISION_BF16 : MMF_PRECISION_F32;
    CHECK_OK(mmf_encoder_load(dir, &p, &eb));
    if (ea && eb) {
        int D = mmf_encoder_dim(ea);
        float *a = malloc(sizeof(float) * NT * D), *b = malloc(sizeof(float) * NT * D);
        CHECK_OK(mmf_encoder_embed_text(ea, texts, NT, MMF_POOL_DEFAULT, MMF_NORMALIZE_DEFAULT, a));
        CHECK_OK(mmf_encoder_embed_text(eb, texts, NT, MMF_POOL_DEFAULT, MMF_NORMALIZE_DEFAULT, b));
        CHECK_MSG(!memcmp(a, b, sizeof(float) * NT * D), "auto is not the %s path", p.precision ? "bf16" : "fp32");
        free(a);
        free(b);
    }
    mmf_encoder_free(ea);
    mmf_encoder_free(eb);
}

int main(void) {
    if (mmf_int8_supported()) check_kernel();
    else printf("int8 kernel checks skipped: the engine runs %s here (no VNNI); checking the refusal instead\n", mmf_engine_isa_name());
    check_encoder("tests/data/text/bert_a", 1);
    check_encoder("tests/data/text/bert_c", 1);
    check_encoder("tests/data/image/vit_pooler", 0);
    check_encoder("tests/data/image/clip_eos", 0);
    check_encoder("tests/data/image/resnet_basic", 0);
    check_encoder("tests/data/image/resnet_bottleneck", 0);
    check_auto();
    return t_done("test_int8");
}
