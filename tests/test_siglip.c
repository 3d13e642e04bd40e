/* SigLIP parity with tests/ref/ref_siglip.py (float64, transformers' SiglipModel
 * semantics; the MAP head through torch's own nn.MultiheadAttention): a
 * SiglipModel folder (vision without CLS + attention-pooling head; text
 * tower with projection_size != hidden, texts padded to
 * max_position_embeddings, pooled at the last position) and a
 * siglip_vision_model folder, and one whose image size is not a multiple of
 * the patch (so400m-patch14-384's case). Vision hidden states, head and mean poolings,
 * image files through the SiglipImageProcessor; text states and embeddings
 * from ids and from texts (ids checked against the reference's word lookup);
 * zero-shot logits and sigmoid probabilities, and `mmfuse zeroshot`;
 * 1 and 2 threads; max abs diff <= 1e-4. bf16 / int8 where the CPU runs
 * them: cosine >= 0.99. */
#include "test_util.h"
#include "models/clip.h"
#include "models/encoder.h"
#include "core/gemm_bf16.h"
#include "core/gemm_int8.h"

static double worst = 0;
static const char *images[] = {"photo400x300.jpg", "tall190x257.png", "rgb8.png"};
static const char *texts[] = {"a photo of a cat", "a photo of a dog", "two red bird sitting on the branch", "car",
                              "the cat the dog the car the bird a photo of a red car"};
#define NT 5

static const mmf_tensor_info *need(const mmf_safetensors *st, const char *k) {
    const mmf_tensor_info *t = mmf_st_find(st, k);
    if (!t) { fprintf(stderr, "missing %s\n", k); t_failures++; }
    return t;
}

static void cmp(const char *label, const float *got, const mmf_tensor_info *t) {
    double d = t_max_abs_diff(got, t->data, (size_t)t->numel);
    printf("  %-34s max diff %.3g\n", label, d);
    CHECK_MSG(d <= 1e-4, "%s: %g", label, d);
    if (d > worst) worst = d;
}

static mmf_encoder *load(const char *name, int nt, mmf_precision prec) {
    char rel[256], dir[1024];
    snprintf(rel, sizeof rel, "tests/data/image/%s", name);
    mmf_encoder_params p = mmf_encoder_params_default();
    p.n_threads = nt;
    p.max_batch = 2;
    p.precision = prec;
    mmf_encoder *e = NULL;
    CHECK_OK(mmf_encoder_load(t_src_path(rel, dir, sizeof dir), &p, &e));
    return e;
}

static const char *key(const char *pre, const char *name) {
    static char k[4][128];
    static int i;
    i = (i + 1) % 4;
    snprintf(k[i], sizeof k[i], "%s%s", pre, name);
    return k[i];
}

static void vision_checks(mmf_encoder *e, const mmf_safetensors *ex, const char *pre) {
    const mmf_tensor_info *px = need(ex, key(pre, "pixel_values")), *vh = need(ex, key(pre, "vision_last_hidden")),
                          *ie = need(ex, key(pre, "image_embeds")), *im = need(ex, key(pre, "image_mean"));
    if (!px || !vh || !ie || !im) return;
    int B = (int)px->shape[0], D = mmf_encoder_dim(e);
    size_t per = (size_t)px->numel / B, hper = (size_t)vh->numel / B;
    float *h = malloc(sizeof(float) * (size_t)vh->numel), *o = malloc(sizeof(float) * (size_t)B * D);
    CHECK_OK(mmf_siglip_vision(e, px->data, 2, h));
    CHECK_OK(mmf_siglip_vision(e, (const float *)px->data + 2 * per, B - 2, h + 2 * hper));
    cmp("vision last_hidden_state", h, vh);
    CHECK(mmf_encoder_default_pooling(e) == MMF_POOL_POOLER);
    CHECK_OK(mmf_encoder_embed_pixels(e, px->data, (size_t)B, MMF_POOL_POOLER, 0, o));
    cmp("image embeds (MAP head)", o, ie);
    CHECK_OK(mmf_encoder_embed_pixels(e, px->data, (size_t)B, MMF_POOL_MEAN, 0, o));
    cmp("image mean", o, im);
    CHECK(mmf_encoder_embed_pixels(e, px->data, (size_t)B, MMF_POOL_CLS, 0, o) == MMF_ERR_UNSUPPORTED);
    char paths[3][1024], rel[256];
    const char *pp[3];
    for (int i = 0; i < 3; i++) {
        snprintf(rel, sizeof rel, "tests/data/image/%s", images[i]);
        pp[i] = t_src_path(rel, paths[i], sizeof paths[i]);
    }
    uint8_t failed[3];
    CHECK_OK(mmf_encoder_embed_image_files(e, pp, 3, MMF_POOL_DEFAULT, MMF_NORMALIZE_DEFAULT, 0, failed, o, NULL, NULL));
    cmp("image files -> embeds", o, ie);
    free(h);
    free(o);
}

static void model_case(const mmf_safetensors *ex, int nt) {
    mmf_encoder *e = load("siglip_a", nt, MMF_PRECISION_F32);
    if (!e) return;
    printf("siglip_a threads %d\n", nt);
    CHECK(mmf_encoder_modalities(e) == (MMF_MODALITY_TEXT | MMF_MODALITY_IMAGE) && mmf_encoder_logits_sigmoid(e) == 1);
    vision_checks(e, ex, "");
    const mmf_tensor_info *ids = need(ex, "input_ids"), *th = need(ex, "text_last_hidden"), *te = need(ex, "text_embeds"),
                          *tids = need(ex, "texts_ids"), *tte = need(ex, "texts_embeds"), *lg = need(ex, "logits_per_image"),
                          *ie = need(ex, "image_embeds");
    if (!ids || !th || !te || !tids || !tte || !lg || !ie) { mmf_encoder_free(e); return; }
    int B = (int)ids->shape[0], T = (int)ids->shape[1], D = mmf_encoder_dim(e);
    float *h = malloc(sizeof(float) * (size_t)th->numel), *o = malloc(sizeof(float) * (size_t)NT * D);
    size_t hper = (size_t)th->numel / B;
    CHECK_OK(mmf_siglip_text_ids(e, ids->data, 2, T, o, h));
    CHECK_OK(mmf_siglip_text_ids(e, (const int32_t *)ids->data + 2 * T, B - 2, T, o + 2 * D, h + 2 * hper));
    cmp("text last_hidden_state (ids)", h, th);
    cmp("text embeds (ids)", o, te);
    /* texts: the tokenizer's ids equal the reference's word lookup, then the embeddings */
    const int P = (int)tids->shape[1];
    int ok = 1;
    for (int i = 0; i < NT; i++) {
        mmf_encoding en;
        CHECK_OK(mmf_tokenizer_encode(mmf_encoder_tokenizer(e), texts[i], NULL, 1, mmf_encoder_max_length(e), &en));
        const int32_t *want = (const int32_t *)tids->data + (size_t)i * P;
        int len = P;
        while (len > 1 && want[len - 1] == 1 && want[len - 2] == 1) len--;   /* real tokens end with the first </s> */
        if (en.n != len) ok = 0;
        for (int t = 0; t < en.n && t < len; t++) ok &= en.ids[t] == want[t];
        mmf_encoding_free(&en);
    }
    CHECK_MSG(ok, "SigLIP text ids differ from the reference");
    CHECK_OK(mmf_encoder_embed_text(e, texts, NT, MMF_POOL_DEFAULT, MMF_NORMALIZE_DEFAULT, o));
    cmp("texts -> embeds", o, tte);
    /* zero-shot logits from the normalised embeddings */
    float *img = malloc(sizeof(float) * 3 * (size_t)D), lgt[3 * NT];
    memcpy(img, ie->data, sizeof(float) * 3 * (size_t)D);
    mmf_l2_normalize_rows(img, 3, D);
    mmf_l2_normalize_rows(o, NT, D);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < NT; j++) {
            double d = 0;
            for (int k = 0; k < D; k++) d += (double)img[i * D + k] * o[j * D + k];
            lgt[i * NT + j] = (float)(mmf_encoder_logit_scale(e) * d + mmf_encoder_logit_bias(e));
        }
    cmp("logits_per_image", lgt, lg);
    free(img);
    free(h);
    free(o);
    mmf_encoder_free(e);
}

static void vision_case(const mmf_safetensors *ex, int nt, const char *folder, const char *pre) {
    mmf_encoder *e = load(folder, nt, MMF_PRECISION_F32);
    if (!e) return;
    printf("%s threads %d\n", folder, nt);
    CHECK(mmf_encoder_modalities(e) == MMF_MODALITY_IMAGE && strcmp(mmf_encoder_model_type(e), "siglip_vision_model") == 0);
    vision_checks(e, ex, pre);
    mmf_encoder_free(e);
}

static void zeroshot_cli(const mmf_safetensors *ex) {
    const char *cli = getenv("MMFUSE_CLI");
    const mmf_tensor_info *pr = need(ex, "probs_per_image");
    if (!cli || !pr) { printf("zeroshot CLI check skipped (MMFUSE_CLI not set)\n"); return; }
    char tmp[256], list[512], out[512], model[1024], rel[256], cmd[4096];
    t_tmpdir(tmp, sizeof tmp);
    snprintf(list, sizeof list, "%s/images.txt", tmp);
    snprintf(out, sizeof out, "%s/zs.tsv", tmp);
    FILE *f = fopen(list, "w");
    for (int i = 0; i < 3; i++) {
        char p[1024];
        snprintf(rel, sizeof rel, "tests/data/image/%s", images[i]);
        fprintf(f, "%s\n", t_src_path(rel, p, sizeof p));
    }
    fclose(f);
    f = fopen(out, "w");
    fclose(f);
    char labels[1024] = "";
    for (int j = 0; j < NT; j++) snprintf(labels + strlen(labels), sizeof labels - strlen(labels), "%s%s", j ? "," : "", texts[j]);
    snprintf(cmd, sizeof cmd, "'%s' zeroshot --model '%s' --image-list '%s' --labels '%s' --batch 2 > '%s'", cli,
             t_src_path("tests/data/image/siglip_a", model, sizeof model), list, labels, out);
    CHECK(system(cmd) == 0);
    f = fopen(out, "r");
    char line[4096];
    int row = -1;
    float got[3 * NT];
    while (f && fgets(line, sizeof line, f)) {
        if (row >= 0 && row < 3) {
            char *p = line;
            for (int k = 0; k < 2; k++) p = strchr(p, '\t') + 1;   /* path, best label */
            for (int j = 0; j < NT; j++) got[row * NT + j] = strtof(p, &p);
        }
        row++;
    }
    if (f) fclose(f);
    CHECK(row == 3);
    if (row == 3) cmp("mmfuse zeroshot sigmoid probs", got, pr);
}

static void lower_precision(const mmf_safetensors *ex) {
    for (int prec = MMF_PRECISION_BF16; prec <= MMF_PRECISION_INT8; prec++) {
        if (prec == MMF_PRECISION_BF16 ? !mmf_bf16_gemm_supported() : !mmf_int8_supported()) continue;
        mmf_encoder *e = load("siglip_a", 1, (mmf_precision)prec);
        const mmf_tensor_info *px = need(ex, "pixel_values"), *ie = need(ex, "image_embeds"), *tte = need(ex, "texts_embeds");
        if (!e || !px || !ie || !tte) { mmf_encoder_free(e); continue; }
        int D = mmf_encoder_dim(e);
        float o[8 * 64];
        double wc = 1;
        CHECK_OK(mmf_encoder_embed_pixels(e, px->data, 3, MMF_POOL_POOLER, 0, o));
        CHECK_OK(mmf_encoder_embed_text(e, texts, NT, MMF_POOL_DEFAULT, 0, o + 3 * D));
        for (int r = 0; r < 3 + NT; r++) {
            const float *w = r < 3 ? (const float *)ie->data + r * D : (const float *)tte->data + (r - 3) * D;
            double d = 0, x = 0, y = 0;
            for (int k = 0; k < D; k++) { d += o[r * D + k] * w[k]; x += o[r * D + k] * o[r * D + k]; y += w[k] * w[k]; }
            if (d / sqrt(x * y) < wc) wc = d / sqrt(x * y);
        }
        CHECK_MSG(wc >= 0.99, "siglip %s: worst cosine %g", prec == MMF_PRECISION_BF16 ? "bf16" : "int8", wc);
        printf("siglip_a %s: worst cosine to the reference %.5f\n", prec == MMF_PRECISION_BF16 ? "bf16" : "int8", wc);
        mmf_encoder_free(e);
    }
}

int main(void) {
    char path[1024];
    mmf_safetensors *ex = NULL;
    CHECK_OK(mmf_st_open(t_src_path("tests/data/image/siglip_expected.safetensors", path, sizeof path), &ex));
    if (!ex) return t_done("test_siglip");
    for (int nt = 1; nt <= 2; nt++) {
        model_case(ex, nt);
        vision_case(ex, nt, "siglip_vision", "");
        vision_case(ex, nt, "siglip_border", "border/");   /* 18 x 18 inputs, patch 4: a border the conv drops */
    }
    lower_precision(ex);
    zeroshot_cli(ex);
    mmf_st_close(ex);
    printf("worst max abs diff %.3g (tolerance 1e-4)\n", worst);
    return t_done("test_siglip");
}
