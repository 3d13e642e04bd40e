/* DINOv2 parity with tests/ref/ref_dinov2.py (float64, transformers' Dinov2Model
 * semantics, the position table resized by torch's own bicubic
 * interpolation): three tiny folders, the checkpoint grid downsampled (10 ->
 * 7, dinov2-small layout), upsampled (4 -> 6, "dinov2." prefix with a
 * classifier, no qkv bias, gelu_new) and equal (used as is). Per case: the
 * last hidden state from the reference pixel_values, cls / pooler / mean
 * poolings, and the three image files through the folder's
 * BitImageProcessor (resize shortest edge, centre crop) to the cls embedding;
 * 1 and 2 threads; max abs diff <= 1e-4. bf16 / int8 where the CPU runs them:
 * cosine >= 0.99. */
#include "test_util.h"
#include "models/clip.h"
#include "core/gemm_bf16.h"
#include "core/gemm_int8.h"

static double worst = 0;
static const char *images[] = {"photo400x300.jpg", "tall190x257.png", "rgb8.png"};

static const mmf_tensor_info *need(const mmf_safetensors *st, const char *c, const char *what) {
    char k[128];
    snprintf(k, sizeof k, "%s/%s", c, what);
    const mmf_tensor_info *t = mmf_st_find(st, k);
    if (!t) { fprintf(stderr, "missing %s\n", k); t_failures++; }
    return t;
}

static void cmp(const char *label, const float *got, const mmf_tensor_info *t) {
    double d = t_max_abs_diff(got, t->data, (size_t)t->numel);
    printf("  %-30s max diff %.3g\n", label, d);
    CHECK_MSG(d <= 1e-4, "%s: %g", label, d);
    if (d > worst) worst = d;
}

static mmf_encoder *load(const char *c, int nt, mmf_precision prec) {
    char rel[256], dir[1024];
    snprintf(rel, sizeof rel, "tests/data/image/dinov2_%s", c);
    t_src_path(rel, dir, sizeof dir);
    mmf_encoder_params p = mmf_encoder_params_default();
    p.n_threads = nt;
    p.max_batch = 2;   /* three images: two forward passes */
    p.precision = prec;
    mmf_encoder *e = NULL;
    CHECK_OK(mmf_encoder_load(dir, &p, &e));
    return e;
}

static void run_case(const mmf_safetensors *ex, const char *c, int nt) {
    mmf_encoder *e = load(c, nt, MMF_PRECISION_F32);
    if (!e) return;
    printf("dinov2_%s threads %d\n", c, nt);
    const mmf_tensor_info *px = need(ex, c, "pixel_values"), *lh = need(ex, c, "last_hidden_state"),
                          *cls = need(ex, c, "cls"), *mean = need(ex, c, "mean");
    if (!px || !lh || !cls || !mean) { mmf_encoder_free(e); return; }
    CHECK(mmf_encoder_default_pooling(e) == MMF_POOL_CLS);
    int B = (int)px->shape[0], D = mmf_encoder_dim(e);
    float *h = malloc(sizeof(float) * (size_t)lh->numel), *o = malloc(sizeof(float) * (size_t)B * D);
    size_t per = (size_t)px->numel / (size_t)B;
    CHECK_OK(mmf_dinov2_tokens(e, px->data, 2, h));
    CHECK_OK(mmf_dinov2_tokens(e, (const float *)px->data + 2 * per, B - 2, h + (size_t)lh->numel / B * 2));
    cmp("last_hidden_state", h, lh);
    CHECK_OK(mmf_encoder_embed_pixels(e, px->data, (size_t)B, MMF_POOL_CLS, 0, o));
    cmp("cls", o, cls);
    CHECK_OK(mmf_encoder_embed_pixels(e, px->data, (size_t)B, MMF_POOL_POOLER, 0, o));
    cmp("pooler (= cls)", o, cls);
    CHECK_OK(mmf_encoder_embed_pixels(e, px->data, (size_t)B, MMF_POOL_MEAN, 0, o));
    cmp("mean", o, mean);
    CHECK(mmf_encoder_embed_pixels(e, px->data, (size_t)B, MMF_POOL_MAX, 0, o) == MMF_ERR_UNSUPPORTED);
    /* the files through the BitImageProcessor */
    char paths[3][1024], rel[256];
    const char *pp[3];
    for (int i = 0; i < 3; i++) {
        snprintf(rel, sizeof rel, "tests/data/image/%s", images[i]);
        pp[i] = t_src_path(rel, paths[i], sizeof paths[i]);
    }
    uint8_t failed[3] = {1, 1, 1};
    CHECK_OK(mmf_encoder_embed_image_files(e, pp, 3, MMF_POOL_DEFAULT, MMF_NORMALIZE_DEFAULT, 0, failed, o, NULL, NULL));
    CHECK(!failed[0] && !failed[1] && !failed[2]);
    cmp("image files -> cls", o, cls);
    /* cls_mean is twice as wide: chosen at load, refused otherwise */
    float *o2 = malloc(sizeof(float) * (size_t)B * 2 * D);
    CHECK(mmf_encoder_embed_pixels(e, px->data, (size_t)B, MMF_POOL_CLS_MEAN, 0, o2) == MMF_ERR_ARG);
    mmf_encoder_free(e);
    char rel2[256], dir[1024];
    snprintf(rel2, sizeof rel2, "tests/data/image/dinov2_%s", c);
    mmf_encoder_params p = mmf_encoder_params_default();
    p.n_threads = nt;
    p.pooling = MMF_POOL_CLS_MEAN;
    CHECK_OK(mmf_encoder_load(t_src_path(rel2, dir, sizeof dir), &p, &e));
    if (e) {
        const mmf_tensor_info *cm = need(ex, c, "cls_mean");
        CHECK(mmf_encoder_dim(e) == 2 * D && mmf_encoder_default_pooling(e) == MMF_POOL_CLS_MEAN);
        CHECK_OK(mmf_encoder_embed_image_files(e, pp, 3, MMF_POOL_DEFAULT, MMF_NORMALIZE_DEFAULT, 0, failed, o2, NULL, NULL));
        if (cm) cmp("image files -> cls_mean", o2, cm);
        CHECK(mmf_encoder_embed_pixels(e, px->data, (size_t)B, MMF_POOL_CLS, 0, o2) == MMF_ERR_ARG);
        mmf_encoder_free(e);
    }
    free(o2);
    free(h);
    free(o);
}

static void lower_precision(const mmf_safetensors *ex, const char *c) {
    for (int prec = MMF_PRECISION_BF16; prec <= MMF_PRECISION_INT8; prec++) {
        if (prec == MMF_PRECISION_BF16 ? !mmf_bf16_gemm_supported() : !mmf_int8_supported()) continue;
        mmf_encoder *e = load(c, 1, (mmf_precision)prec);
        const mmf_tensor_info *px = need(ex, c, "pixel_values"), *mean = need(ex, c, "mean");
        if (!e || !px || !mean) { mmf_encoder_free(e); continue; }
        int B = (int)px->shape[0], D = mmf_encoder_dim(e);
        float *o = malloc(sizeof(float) * (size_t)B * D);
        CHECK_OK(mmf_encoder_embed_pixels(e, px->data, (size_t)B, MMF_POOL_MEAN, 0, o));
        const float *w = mean->data;
        double wc = 1;
        for (int b = 0; b < B; b++) {
            double d = 0, x = 0, y = 0;
            for (int j = 0; j < D; j++) { d += o[b * D + j] * w[b * D + j]; x += o[b * D + j] * o[b * D + j]; y += w[b * D + j] * w[b * D + j]; }
            if (d / sqrt(x * y) < wc) wc = d / sqrt(x * y);
        }
        CHECK_MSG(wc >= 0.99, "dinov2_%s %s: worst cosine %g", c, prec == MMF_PRECISION_BF16 ? "bf16" : "int8", wc);
        printf("dinov2_%s %s: worst cosine to the reference %.5f\n", c, prec == MMF_PRECISION_BF16 ? "bf16" : "int8", wc);
        free(o);
        mmf_encoder_free(e);
    }
}

int main(void) {
    char path[1024];
    mmf_safetensors *ex = NULL;
    CHECK_OK(mmf_st_open(t_src_path("tests/data/image/dinov2_expected.safetensors", path, sizeof path), &ex));
    if (!ex) return t_done("test_dinov2");
    const char *cases[] = {"small", "up", "same"};
    for (int nt = 1; nt <= 2; nt++)
        for (int i = 0; i < 3; i++) run_case(ex, cases[i], nt);
    lower_precision(ex, "small");
    /* cls_mean on a family without it is refused at load */
    char dir[1024];
    mmf_encoder_params p = mmf_encoder_params_default();
    p.pooling = MMF_POOL_CLS_MEAN;
    mmf_encoder *e = NULL;
    CHECK(mmf_encoder_load(t_src_path("tests/data/image/vit_pooler", dir, sizeof dir), &p, &e) == MMF_ERR_UNSUPPORTED && !e);
    CHECK(mmf_encoder_load(t_src_path("tests/data/text/bert_a", dir, sizeof dir), &p, &e) == MMF_ERR_UNSUPPORTED && !e);
    mmf_st_close(ex);
    printf("worst max abs diff %.3g (tolerance 1e-4)\n", worst);
    return t_done("test_dinov2");
}
