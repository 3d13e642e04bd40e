/* ViT and CLIP parity against tests/ref/ref_vit.py / tests/ref/ref_clip.py (PyTorch
 * re-implementations with Hugging Face names): token states, every pooling,
 * CLIP image/text features (legacy argmax and first-eos pooling) and
 * logits_per_image; threads 1 and 2; max abs diff <= 1e-4. */
#include "test_util.h"
#include "models/clip.h"
#include "io/hf_config.h"

static double worst = 0;

static const mmf_tensor_info *need(const mmf_safetensors *st, const char *c, const char *what) {
    char k[128];
    snprintf(k, sizeof k, "%s/%s", c, what);
    const mmf_tensor_info *t = mmf_st_find(st, k);
    if (!t) { fprintf(stderr, "missing %s\n", k); t_failures++; }
    return t;
}

static void cmp(const char *label, const float *got, const mmf_tensor_info *t, size_t n) {
    double d = t_max_abs_diff(got, t->data, n ? n : (size_t)t->numel);
    printf("  %-34s max diff %.3g\n", label, d);
    CHECK_MSG(d <= 1e-4, "%s: %g", label, d);
    if (d > worst) worst = d;
}

static mmf_encoder *load(const char *name, int nt) {
    char rel[256], dir[1024];
    snprintf(rel, sizeof rel, "tests/data/image/%s", name);
    t_src_path(rel, dir, sizeof dir);
    mmf_encoder_params p = mmf_encoder_params_default();
    p.n_threads = nt;
    p.max_batch = 4;
    mmf_encoder *e = NULL;
    CHECK_OK(mmf_encoder_load(dir, &p, &e));
    return e;
}

static void vit_case(const mmf_safetensors *ex, const char *c, int nt) {
    char name[64];
    snprintf(name, sizeof name, "vit_%s", c);
    mmf_encoder *e = load(name, nt);
    if (!e) return;
    printf("%s threads %d\n", name, nt);
    const mmf_tensor_info *px = need(ex, c, "pixel_values"), *lh = need(ex, c, "last_hidden_state");
    if (!px || !lh) { mmf_encoder_free(e); return; }
    int B = (int)px->shape[0], D = mmf_encoder_dim(e);
    float *h = malloc(sizeof(float) * (size_t)lh->numel), *o = malloc(sizeof(float) * (size_t)B * D);
    CHECK_OK(mmf_vit_tokens(e, px->data, B, h));
    cmp("last_hidden_state", h, lh, 0);
    const char *pools[3] = {"pooler", "cls", "mean"};
    mmf_pooling pv[3] = {MMF_POOL_POOLER, MMF_POOL_CLS, MMF_POOL_MEAN};
    for (int k = 0; k < 3; k++) {
        char key[96];
        snprintf(key, sizeof key, "%s/%s", c, pools[k]);
        const mmf_tensor_info *t = mmf_st_find(ex, key);
        mmf_status s = mmf_encoder_embed_pixels(e, px->data, (size_t)B, pv[k], 0, o);
        if (!t) { CHECK(s == MMF_ERR_UNSUPPORTED); continue; }   /* no pooler in a classifier checkpoint */
        CHECK_OK(s);
        cmp(pools[k], o, t, 0);
    }
    /* the default is the pooler when the checkpoint has one, else cls */
    CHECK(mmf_encoder_default_pooling(e) == (!strcmp(c, "pooler") ? MMF_POOL_POOLER : MMF_POOL_CLS));
    free(h);
    free(o);
    mmf_encoder_free(e);
}

static void clip_case(const mmf_safetensors *ex, const char *c, int nt) {
    char name[64];
    snprintf(name, sizeof name, "clip_%s", c);
    mmf_encoder *e = load(name, nt);
    if (!e) return;
    printf("%s threads %d\n", name, nt);
    const mmf_tensor_info *px = need(ex, c, "pixel_values"), *vh = need(ex, c, "vision_last_hidden"),
                          *ie = need(ex, c, "image_embeds"), *ids = need(ex, c, "input_ids"),
                          *am = need(ex, c, "attention_mask"), *th = need(ex, c, "text_last_hidden"),
                          *te = need(ex, c, "text_embeds"), *lg = need(ex, c, "logits_per_image"),
                          *ls = need(ex, c, "logit_scale_exp");
    if (!px || !vh || !ie || !ids || !am || !th || !te || !lg || !ls) { mmf_encoder_free(e); return; }
    int Bi = (int)px->shape[0], Bt = (int)ids->shape[0], T = (int)ids->shape[1], D = mmf_encoder_dim(e);
    int Ct = (int)th->shape[2];
    float *a = malloc(sizeof(float) * (size_t)vh->numel), *img = malloc(sizeof(float) * (size_t)Bi * D);
    float *b = malloc(sizeof(float) * (size_t)th->numel), *txt = malloc(sizeof(float) * (size_t)Bt * D);
    CHECK_OK(mmf_clip_vision(e, px->data, Bi, img, a));
    cmp("vision last_hidden_state", a, vh, 0);
    cmp("image_embeds", img, ie, 0);
    /* the public path gives the same image features */
    CHECK_OK(mmf_encoder_embed_pixels(e, px->data, (size_t)Bi, MMF_POOL_DEFAULT, 0, a));
    cmp("image_embeds (embed_pixels)", a, ie, 0);
    CHECK_OK(mmf_clip_text_ids(e, ids->data, am->data, Bt, T, txt, b));
    /* hidden states at real tokens only (padding rows are unspecified) */
    const uint8_t *keep = am->data;
    const float *want = th->data;
    double d = 0;
    for (int i = 0; i < Bt * T; i++)
        if (keep[i])
            for (int j = 0; j < Ct; j++) { double x = fabs(b[(size_t)i * Ct + j] - want[(size_t)i * Ct + j]); if (x > d) d = x; }
    printf("  %-34s max diff %.3g\n", "text last_hidden_state (real)", d);
    CHECK(d <= 1e-4);
    if (d > worst) worst = d;
    cmp("text_embeds", txt, te, 0);
    /* logits_per_image = exp(logit_scale) * cos(image, text) */
    float scale = mmf_encoder_logit_scale(e);
    CHECK_NEAR(scale, ((const float *)ls->data)[0], 1e-4);
    float *lo = malloc(sizeof(float) * (size_t)Bi * Bt);
    for (int i = 0; i < Bi; i++)
        for (int j = 0; j < Bt; j++) {
            double dot = 0, ni = 0, nj = 0;
            for (int k = 0; k < D; k++) {
                dot += (double)img[i * D + k] * txt[j * D + k];
                ni += (double)img[i * D + k] * img[i * D + k];
                nj += (double)txt[j * D + k] * txt[j * D + k];
            }
            lo[i * Bt + j] = (float)(scale * dot / sqrt(ni * nj));
        }
    cmp("logits_per_image", lo, lg, 0);
    free(a); free(b); free(img); free(txt); free(lo);
    mmf_encoder_free(e);
}

int main(void) {
    char p[1024];
    mmf_safetensors *vx, *cx;
    CHECK_OK(mmf_st_open(t_src_path("tests/data/image/vit_expected.safetensors", p, sizeof p), &vx));
    CHECK_OK(mmf_st_open(t_src_path("tests/data/image/clip_expected.safetensors", p, sizeof p), &cx));
    if (t_failures) return t_done("test_vit_clip");
    for (int nt = 1; nt <= 2; nt++) {
        vit_case(vx, "pooler", nt);
        vit_case(vx, "classifier", nt);
        clip_case(cx, "legacy", nt);
        clip_case(cx, "eos", nt);
    }
    mmf_st_close(vx);
    mmf_st_close(cx);
    printf("vit/clip worst diff %.3g\n", worst);
    /* older CLIP configs keep the towers in *_config_dict */
    const char *old = "{\"model_type\": \"clip\", \"projection_dim\": 16, \"text_config\": null,"
                      " \"text_config_dict\": {\"hidden_size\": 64, \"num_attention_heads\": 4, \"eos_token_id\": 2},"
                      " \"vision_config_dict\": {\"hidden_size\": 96, \"num_attention_heads\": 6, \"patch_size\": 16}}";
    cJSON *j = cJSON_Parse(old);
    mmf_hf_config hc;
    CHECK_OK(mmf_hf_config_parse(j, "old.json", &hc));
    CHECK(hc.text.hidden_size == 64 && hc.text.eos_token_id == 2 && hc.vision.hidden_size == 96 && hc.vision.patch_size == 16);
    cJSON_Delete(j);
    return t_done("test_vit_clip");
}
