/* From-scratch towers: the training forward (tape, eval mode) equals the
 * inference the encoder registry runs on the saved folder (mmfuse_cnn with
 * batchnorm folded; mmfuse_text through the BERT family and the learned
 * tokenizer); and both trainers learn a synthetic task written here
 * (PNG images of a bright square in one of two corners; texts whose words
 * give the class) well above chance. mmfuse_cnn in bf16 and int8 against its
 * own fp32 path: cosine >= 0.999 / 0.99 per embedding (the gate), int8
 * refused naming VNNI where the engine lacks it (ONEDNN_MAX_CPU_ISA=AVX2), bf16
 * where the CPU lacks AVX512-BF16, and auto = the bf16-or-fp32 path. */
#include "test_util.h"
#include "direct/cnn.h"
#include "direct/textnet.h"
#include "core/bf16_probe.h"
#include "core/gemm_bf16.h"
#include "core/gemm_int8.h"
#include "train/optim.h"
#include <png.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static void write_file(const char *path, const char *txt) {
    FILE *f = fopen(path, "wb");
    fputs(txt, f);
    fclose(f);
}

static int write_png(const char *path, const uint8_t *rgb, int W, int H) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(p);
    if (setjmp(png_jmpbuf(p))) { fclose(f); return 0; }
    png_init_io(p, f);
    png_set_IHDR(p, info, W, H, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(p, info);
    for (int y = 0; y < H; y++) png_write_row(p, (png_bytep)(rgb + (size_t)y * W * 3));
    png_write_end(p, NULL);
    png_destroy_write_struct(&p, &info);
    fclose(f);
    return 1;
}

static void cnn_parity(void) {
    cnn_config cfg = cnn_config_default(3);
    cfg.image_size = 16;
    cfg.n_stages = 3;
    cfg.channels[0] = 4; cfg.channels[1] = 6; cfg.channels[2] = 8;
    cnn_model m;
    CHECK_OK(cnn_init(&m, &cfg, 5));
    mmf_rng r;
    mmf_rng_seed(&r, 6);
    int B = 5, n = B * 3 * 16 * 16;
    float *x = malloc(sizeof(float) * n);
    for (int i = 0; i < n; i++) x[i] = 2.0f * mmf_rng_uniform(&r) - 1.0f;
    /* a few training steps move weights and running statistics off their init */
    mmf_optim opt;
    mmf_optim_params op = mmf_optim_params_default();
    op.lr = 0.05f;
    CHECK_OK(mmf_optim_init(&opt, &m.ps, &op));
    mmf_tape *tp = mmf_tape_new(1, 1);
    int64_t y[5] = {0, 1, 2, 1, 0};
    for (int step = 0; step < 5; step++) {
        mmf_tape_reset(tp);
        mmf_tape_set_training(tp, 1);
        mmf_var lg = cnn_forward(tp, &m, mmf_t_const(tp, x, 4, (int64_t[]){B, 3, 16, 16}), NULL);
        CHECK_OK(mmf_tape_backward(tp, mmf_t_cross_entropy(tp, lg, y, 0.0f, NULL)));
        CHECK_OK(mmf_optim_step(&opt, &m.ps));
    }
    CHECK(fabsf(m.running[1]) > 1e-4f);
    mmf_tape_reset(tp);
    mmf_tape_set_training(tp, 0);
    mmf_var feat;
    cnn_forward(tp, &m, mmf_t_const(tp, x, 4, (int64_t[]){B, 3, 16, 16}), &feat);
    CHECK_OK(mmf_tape_status(tp));
    char dir[300];
    snprintf(dir, sizeof dir, "%s/cnn", tmpdir);
    mkdir(dir, 0777);
    const char *labels[3] = {"a", "b", "c"};
    CHECK_OK(cnn_save(&m, dir, labels));
    for (int nt = 1; nt <= 2; nt++) {
        mmf_encoder_params ep = mmf_encoder_params_default();
        ep.n_threads = nt;
        ep.max_batch = 4;
        ep.precision = MMF_PRECISION_F32;   /* the parity is fp32's; auto may pick bf16 for this tower */
        mmf_encoder *enc = NULL;
        CHECK_OK(mmf_encoder_load(dir, &ep, &enc));
        if (!enc) break;
        CHECK(mmf_encoder_dim(enc) == 8 && mmf_encoder_modalities(enc) == MMF_MODALITY_IMAGE);
        CHECK(strcmp(mmf_encoder_model_type(enc), "mmfuse_cnn") == 0);
        float out[5 * 8];
        CHECK_OK(mmf_encoder_embed_pixels(enc, x, B, MMF_POOL_DEFAULT, 0, out));
        double d = t_max_abs_diff(out, mmf_tape_var(tp, feat)->v, 5 * 8);
        printf("mmfuse_cnn inference vs training forward (threads %d): max |diff| %.3g\n", nt, d);
        t_allclose(out, mmf_tape_var(tp, feat)->v, 5 * 8, 1e-5, 1e-4, "mmfuse_cnn vs tape");
        mmf_encoder_free(enc);
    }
    mmf_optim_free(&opt);
    mmf_tape_free(tp);
    cnn_free(&m);
    free(x);
}


static double worst_cosine(const float *a, const float *b, int n, int d) {
    double worst = 1;
    for (int i = 0; i < n; i++) {
        double ab = 0, aa = 0, bb = 0;
        for (int c = 0; c < d; c++) {
            ab += (double)a[i * d + c] * b[i * d + c];
            aa += (double)a[i * d + c] * a[i * d + c];
            bb += (double)b[i * d + c] * b[i * d + c];
        }
        double cs = ab / sqrt(aa * bb + 1e-30);
        if (cs < worst) worst = cs;
    }
    return worst;
}

/* embeddings of B images at `prec` and nt threads; returns the load status */
static mmf_status cnn_embed(const char *dir, mmf_precision prec, int nt, const float *x, int B, float *out) {
    mmf_encoder_params ep = mmf_encoder_params_default();
    ep.n_threads = nt;
    ep.max_batch = 4;   /* B = 7: two batches, the second short */
    ep.precision = prec;
    mmf_encoder *enc = NULL;
    mmf_status s = mmf_encoder_load(dir, &ep, &enc);
    if (s) return s;
    CHECK_OK(mmf_encoder_embed_pixels(enc, x, B, MMF_POOL_DEFAULT, 0, out));
    mmf_encoder_free(enc);
    return MMF_OK;
}

/* A tower of the demo's shape, narrower: 4 stages, 32 px, weights and
 * batchnorm scales and shifts moved off their init. */
static void cnn_precisions(void) {
    cnn_config cfg = cnn_config_default(3);
    cfg.image_size = 32;
    cfg.channels[0] = 16; cfg.channels[1] = 32; cfg.channels[2] = 32; cfg.channels[3] = 48;
    cnn_model m;
    CHECK_OK(cnn_init(&m, &cfg, 11));
    mmf_rng r;
    mmf_rng_seed(&r, 12);
    for (int64_t i = 0; i < m.ps.total; i++) m.ps.data[i] += 0.02f * mmf_rng_normal(&r);
    char dir[300];
    snprintf(dir, sizeof dir, "%s/cnn_prec", tmpdir);
    mkdir(dir, 0777);
    const char *labels[3] = {"a", "b", "c"};
    CHECK_OK(cnn_save(&m, dir, labels));
    enum { B = 7, D = 48 };
    int n = B * 3 * 32 * 32;
    float *x = malloc(sizeof(float) * n);
    for (int i = 0; i < n; i++) x[i] = 2.0f * mmf_rng_uniform(&r) - 1.0f;
    float ref[B * D], got[B * D], got2[B * D];
    CHECK_OK(cnn_embed(dir, MMF_PRECISION_F32, 1, x, B, ref));
    struct { mmf_precision p; const char *name; double gate; int ok; const char *missing; } cases[2] = {
        {MMF_PRECISION_INT8, "int8", 0.99, mmf_int8_supported(), "VNNI"},
        {MMF_PRECISION_BF16, "bf16", 0.999, mmf_bf16_gemm_supported(), "AVX512-BF16"},
    };
    for (int c = 0; c < 2; c++) {
        mmf_status s = cnn_embed(dir, cases[c].p, 1, x, B, got);
        if (!cases[c].ok) {
            CHECK_MSG(s == MMF_ERR_UNSUPPORTED && strstr(mmf_last_error(), cases[c].missing),
                      "mmfuse_cnn %s without %s: status %d, \"%s\"", cases[c].name, cases[c].missing, s, mmf_last_error());
            printf("mmfuse_cnn %s refused as it must be: %s\n", cases[c].name, mmf_last_error());
            continue;
        }
        CHECK_MSG(s == MMF_OK, "mmfuse_cnn %s: %s", cases[c].name, mmf_last_error());
        if (s) continue;
        double cs = worst_cosine(got, ref, B, D);
        CHECK_MSG(cs >= cases[c].gate, "mmfuse_cnn %s: worst cosine to fp32 %g < %g", cases[c].name, cs, cases[c].gate);
        printf("mmfuse_cnn %s: worst cosine to fp32 %.6f over %d embeddings\n", cases[c].name, cs, B);
        /* 2 threads split the GEMMs, not the images: the same embeddings */
        CHECK_OK(cnn_embed(dir, cases[c].p, 2, x, B, got2));
        t_allclose(got2, got, B * D, 1e-6, 1e-5, cases[c].name);
    }
    /* auto: bf16 where it pays (which implies the CPU has it), else fp32 */
    mmf_precision want = mmf_bf16_pays() ? MMF_PRECISION_BF16 : MMF_PRECISION_F32;
    CHECK_OK(cnn_embed(dir, MMF_PRECISION_AUTO, 1, x, B, got));
    CHECK_OK(cnn_embed(dir, want, 1, x, B, got2));
    CHECK_MSG(!memcmp(got, got2, sizeof got), "mmfuse_cnn auto is not the %s path", want ? "bf16" : "fp32");
    free(x);
    cnn_free(&m);
}

static void text_parity(void) {
    char dir[300], path[400];
    snprintf(dir, sizeof dir, "%s/txt", tmpdir);
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    write_file(path, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nred\nfish\nblue\n:\nflag\na\nb\n##a\n##b\n");
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    write_file(path, "{\"do_lower_case\": true, \"model_max_length\": 12}\n");
    textnet_config cfg = {.vocab = 14, .hidden = 16, .layers = 2, .heads = 2, .ffn = 24, .max_pos = 12, .n_classes = 2,
                          .eps = 1e-5f, .dropout = 0.1f};
    textnet m;
    CHECK_OK(textnet_init(&m, &cfg, 3));
    /* perturb the LN and bias parameters so every tensor matters */
    mmf_rng r;
    mmf_rng_seed(&r, 4);
    for (int64_t i = 0; i < m.ps.total; i++) m.ps.data[i] += 0.05f * mmf_rng_normal(&r);
    const char *labels[2] = {"x", "y"};
    CHECK_OK(textnet_save(&m, dir, labels));
    mmf_encoder *enc = NULL;
    CHECK_OK(mmf_encoder_load(dir, NULL, &enc));
    if (enc) {
        const char *texts[3] = {"Red fish", "flag: blue ab", "BLUE"};
        float out[3 * 16];
        CHECK_OK(mmf_encoder_embed_text(enc, texts, 3, MMF_POOL_DEFAULT, 0, out));
        CHECK(mmf_encoder_default_pooling(enc) == MMF_POOL_MEAN);
        const mmf_tokenizer *tok = mmf_encoder_tokenizer(enc);
        int32_t ids[3 * 12] = {0};
        uint8_t keep[3 * 12] = {0};
        int T = 0;
        for (int i = 0; i < 3; i++) {
            mmf_encoding e;
            CHECK_OK(mmf_tokenizer_encode(tok, texts[i], NULL, 1, 12, &e));
            for (int k = 0; k < e.n; k++) { ids[i * 12 + k] = e.ids[k]; keep[i * 12 + k] = 1; }
            if (e.n > T) T = e.n;
            if (i == 1) CHECK(e.n == 7);   /* [CLS] flag : blue a ##b [SEP] */
            mmf_encoding_free(&e);
        }
        /* repack to T columns */
        int32_t ids2[3 * 12];
        uint8_t keep2[3 * 12];
        for (int i = 0; i < 3; i++)
            for (int t = 0; t < T; t++) { ids2[i * T + t] = ids[i * 12 + t]; keep2[i * T + t] = keep[i * 12 + t]; }
        mmf_tape *tp = mmf_tape_new(1, 1);
        mmf_var pooled;
        textnet_forward(tp, &m, ids2, keep2, 3, T, &pooled);
        CHECK_OK(mmf_tape_status(tp));
        double d = t_max_abs_diff(out, mmf_tape_var(tp, pooled)->v, 3 * 16);
        printf("mmfuse_text inference (BERT family) vs training forward: max |diff| %.3g\n", d);
        t_allclose(out, mmf_tape_var(tp, pooled)->v, 3 * 16, 1e-5, 1e-4, "mmfuse_text vs tape");
        mmf_tape_free(tp);
        mmf_encoder_free(enc);
    }
    textnet_free(&m);
}

/* synthetic records: class 0 = bright square top-left, 1 = bottom-right, over
 * noise; texts "alpha ..." vs "beta ..." with shared filler words */
static void make_records(const char *name, int n, uint64_t seed) {
    char path[400];
    snprintf(path, sizeof path, "%s/%s.jsonl", tmpdir, name);
    FILE *f = fopen(path, "w");
    mmf_rng r;
    mmf_rng_seed(&r, seed);
    uint8_t img[16 * 16 * 3];
    static const char *filler[4] = {"small", "red", "round", "shiny"};
    for (int i = 0; i < n; i++) {
        int c = i % 2;
        for (int p = 0; p < 16 * 16 * 3; p++) img[p] = (uint8_t)(mmf_rng_below(&r, 80));
        int oy = c ? 9 : 2, ox = c ? 9 : 2;
        oy += (int)mmf_rng_below(&r, 3) - 1;
        ox += (int)mmf_rng_below(&r, 3) - 1;
        for (int y = oy; y < oy + 5; y++)
            for (int x = ox; x < ox + 5; x++)
                for (int k = 0; k < 3; k++) img[(y * 16 + x) * 3 + k] = 250;
        char png[400];
        snprintf(png, sizeof png, "%s/img_%s_%d.png", tmpdir, name, i);
        CHECK(write_png(png, img, 16, 16));
        fprintf(f, "{\"id\":\"%s%d\",\"image\":\"img_%s_%d.png\",\"text\":\"%s %s %s\",\"label\":\"%s\"}\n", name, i, name, i,
                filler[mmf_rng_below(&r, 4)], c ? "beta" : "alpha", filler[mmf_rng_below(&r, 4)], c ? "B" : "A");
    }
    fclose(f);
}

typedef struct { double val; int epochs; } prog;
static void on_epoch(void *u, int epoch, int epochs, double loss, double acc, double val) {
    prog *p = u;
    p->val = val;
    p->epochs = epoch;
    (void)epochs; (void)loss; (void)acc;
}

static void trainers(void) {
    make_records("train", 48, 1);
    make_records("val", 16, 2);
    char tr[400], va[400], out[400];
    snprintf(tr, sizeof tr, "%s/train.jsonl", tmpdir);
    snprintf(va, sizeof va, "%s/val.jsonl", tmpdir);
    mmf_tower_params p = mmf_tower_params_default();
    prog pr = {-1, 0};
    p.progress = on_epoch;
    p.progress_user = &pr;
    p.image_size = 16;
    p.dim = 16;
    p.epochs = 6;
    p.batch = 16;
    p.lr = 5e-3f;
    snprintf(out, sizeof out, "%s/tower_img", tmpdir);
    CHECK_OK(mmf_image_tower_train(tr, va, out, &p));
    printf("image tower on the synthetic corner task: val accuracy %.3f after %d epochs (chance 0.5)\n", pr.val, pr.epochs);
    CHECK(pr.epochs == 6 && pr.val >= 0.9);
    mmf_encoder *enc = NULL;
    CHECK_OK(mmf_encoder_load(out, NULL, &enc));
    if (enc) CHECK(mmf_encoder_dim(enc) == 16);
    mmf_encoder_free(enc);

    p.epochs = 15;
    p.dim = 32;
    p.layers = 1;
    p.heads = 2;
    pr.val = -1;
    snprintf(out, sizeof out, "%s/tower_txt", tmpdir);
    CHECK_OK(mmf_text_tower_train(tr, va, out, &p));
    printf("text tower on the synthetic word task: val accuracy %.3f after %d epochs (chance 0.5)\n", pr.val, pr.epochs);
    CHECK(pr.val >= 0.9);
    enc = NULL;
    CHECK_OK(mmf_encoder_load(out, NULL, &enc));
    if (enc) {
        const mmf_tokenizer *tok = mmf_encoder_tokenizer(enc);
        CHECK(mmf_tokenizer_token_to_id(tok, "alpha") >= 5 && mmf_tokenizer_token_to_id(tok, "shiny") >= 5);
        CHECK(mmf_tokenizer_token_to_id(tok, "##z") >= 5);   /* characters for unseen words */
        mmf_encoding e;
        CHECK_OK(mmf_tokenizer_encode(tok, "Zebra alpha", NULL, 1, 0, &e));
        CHECK(e.n == 2 + 5 + 1);   /* [CLS] z ##e ##b ##r ##a alpha [SEP] */
        mmf_encoding_free(&e);
    }
    mmf_encoder_free(enc);
    /* bad input: a label field nobody has */
    p.label_field = "nope";
    CHECK(mmf_text_tower_train(tr, NULL, out, &p) == MMF_ERR_FORMAT);
    CHECK(strstr(mmf_last_error(), "nope") != NULL);
    CHECK(mmf_image_tower_train("/nonexistent.jsonl", NULL, out, &p) != MMF_OK);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mmf_direct_towers_%d", (int)getpid());
    mkdir(tmpdir, 0777);
    cnn_parity();
    cnn_precisions();
    text_parity();
    trainers();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd)) {}
    printf("%d checks, %d failures\n", t_checks, t_failures);
    return t_failures ? 1 : 0;
}
