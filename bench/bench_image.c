/* Image encoder and preprocessing timings (one measurement per call, so
 * bench/image_torch.py can interleave ours with PyTorch's and write the
 * fragment bench/results/image.md).
 *
 *   bench_image model vit|resnet BATCH THREADS ITERS [fp32|bf16|int8] [EMB_OUT]
 *                                                      -> JSON line, ms per batch (median); EMB_OUT:
 *                                                         the embeddings of the timed input, raw float32
 *   bench_image preprocess LIST_FILE THREADS REPEATS   -> JSON line, images per second
 *   bench_image                                        -> nothing (bench/run.sh runs bench/image_torch.py)
 *
 * Model folders with the ViT-B/16 and ResNet-50 geometries and random weights
 * (F16 storage to keep them small) are written once under
 * $MMFUSE_BENCH_CACHE (default /tmp/mmfuse-bench-models). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/resource.h>
#include "mmfuse.h"
#include "core/tensor.h"   /* mmf_f32_to_f16 */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* process CPU seconds (user + system): on a shared machine this counts only
 * the time we actually ran, so single-thread runs can be compared fairly */
static double cpu_now(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + 1e-6 * (double)u.ru_utime.tv_usec + (double)u.ru_stime.tv_sec + 1e-6 * (double)u.ru_stime.tv_usec;
}

static uint64_t rng = 88172645463325252ULL;
static float frand(void) {   /* ~N(0,1)-ish: sum of uniforms */
    float s = 0;
    for (int i = 0; i < 4; i++) {
        rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
        s += (float)(rng >> 40) / (float)(1 << 24);
    }
    return (s - 2.0f) * 1.7320508f;
}

static int add(mmf_st_writer *w, const char *name, int ndim, const int64_t *shape, float stdv, float mean) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    uint16_t *h = malloc(sizeof(uint16_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) h[i] = mmf_f32_to_f16(mean + stdv * frand());
    mmf_status s = mmf_st_writer_add(w, name, MMF_DT_F16, ndim, shape, h);
    free(h);
    return s == MMF_OK;
}
#define A1(n, a, sd, m) do { int64_t sh_[1] = {a}; add(w, n, 1, sh_, sd, m); } while (0)
#define A2(n, a, b, sd, m) do { int64_t sh_[2] = {a, b}; add(w, n, 2, sh_, sd, m); } while (0)
#define A4(n, a, b, c, d, sd, m) do { int64_t sh_[4] = {a, b, c, d}; add(w, n, 4, sh_, sd, m); } while (0)

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) { fputs(text, f); fclose(f); }
}

static int make_vit(const char *dir) {
    char p[1024], n[256];
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/config.json", dir);
    write_text(p, "{\"model_type\": \"vit\", \"hidden_size\": 768, \"num_hidden_layers\": 12, \"num_attention_heads\": 12,"
                  " \"intermediate_size\": 3072, \"hidden_act\": \"gelu\", \"layer_norm_eps\": 1e-12, \"image_size\": 224,"
                  " \"patch_size\": 16, \"num_channels\": 3, \"qkv_bias\": true}");
    snprintf(p, sizeof p, "%s/preprocessor_config.json", dir);
    write_text(p, "{\"image_processor_type\": \"ViTImageProcessor\", \"do_resize\": true, \"size\": {\"height\": 224, \"width\": 224},"
                  " \"resample\": 2, \"do_rescale\": true, \"rescale_factor\": 0.00392156862745098, \"do_normalize\": true,"
                  " \"image_mean\": [0.5, 0.5, 0.5], \"image_std\": [0.5, 0.5, 0.5]}");
    mmf_st_writer *w = mmf_st_writer_new();
    const int C = 768, F = 3072;
    { int64_t sh[3] = {1, 1, C}; add(w, "embeddings.cls_token", 3, sh, 0.02f, 0); }
    { int64_t sh[3] = {1, 197, C}; add(w, "embeddings.position_embeddings", 3, sh, 0.02f, 0); }
    A4("embeddings.patch_embeddings.projection.weight", C, 3, 16, 16, 0.02f, 0);
    A1("embeddings.patch_embeddings.projection.bias", C, 0.02f, 0);
    for (int l = 0; l < 12; l++) {
        const char *lin[6][2] = {{"attention.attention.query", "C"}, {"attention.attention.key", "C"}, {"attention.attention.value", "C"},
                                 {"attention.output.dense", "C"}, {"intermediate.dense", "F"}, {"output.dense", "O"}};
        for (int k = 0; k < 6; k++) {
            int out = lin[k][1][0] == 'F' ? F : C, in = lin[k][1][0] == 'O' ? F : C;
            snprintf(n, sizeof n, "encoder.layer.%d.%s.weight", l, lin[k][0]);
            A2(n, out, in, 0.02f, 0);
            snprintf(n, sizeof n, "encoder.layer.%d.%s.bias", l, lin[k][0]);
            A1(n, out, 0.02f, 0);
        }
        const char *ln[2] = {"layernorm_before", "layernorm_after"};
        for (int k = 0; k < 2; k++) {
            snprintf(n, sizeof n, "encoder.layer.%d.%s.weight", l, ln[k]);
            A1(n, C, 0.02f, 1);
            snprintf(n, sizeof n, "encoder.layer.%d.%s.bias", l, ln[k]);
            A1(n, C, 0.02f, 0);
        }
    }
    A1("layernorm.weight", C, 0.02f, 1);
    A1("layernorm.bias", C, 0.02f, 0);
    A2("pooler.dense.weight", C, C, 0.02f, 0);
    A1("pooler.dense.bias", C, 0.02f, 0);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    mmf_status s = mmf_st_writer_finish(w, p);
    mmf_st_writer_free(w);
    return s == MMF_OK;
}

static void conv_bn(mmf_st_writer *w, const char *pre, int ic, int oc, int k) {
    char n[512];
    snprintf(n, sizeof n, "%sconvolution.weight", pre);
    A4(n, oc, ic, k, k, sqrtf(2.0f / (float)(ic * k * k)), 0);
    const char *bn[4] = {"weight", "bias", "running_mean", "running_var"};
    float m[4] = {1, 0, 0, 1}, sd[4] = {0.1f, 0.1f, 0.1f, 0.1f};
    for (int i = 0; i < 4; i++) {
        snprintf(n, sizeof n, "%snormalization.%s", pre, bn[i]);
        A1(n, oc, sd[i], m[i]);
    }
}

static int make_resnet(const char *dir) {
    char p[1024], pre[256];
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/config.json", dir);
    write_text(p, "{\"model_type\": \"resnet\", \"num_channels\": 3, \"embedding_size\": 64, \"hidden_sizes\": [256, 512, 1024, 2048],"
                  " \"depths\": [3, 4, 6, 3], \"layer_type\": \"bottleneck\", \"hidden_act\": \"relu\", \"downsample_in_first_stage\": false}");
    snprintf(p, sizeof p, "%s/preprocessor_config.json", dir);
    write_text(p, "{\"image_processor_type\": \"ConvNextImageProcessor\", \"crop_pct\": 0.875, \"do_normalize\": true, \"do_rescale\": true,"
                  " \"do_resize\": true, \"image_mean\": [0.485, 0.456, 0.406], \"image_std\": [0.229, 0.224, 0.225], \"resample\": 3,"
                  " \"rescale_factor\": 0.00392156862745098, \"size\": {\"shortest_edge\": 224}}");
    mmf_st_writer *w = mmf_st_writer_new();
    conv_bn(w, "embedder.embedder.", 3, 64, 7);
    int hs[4] = {256, 512, 1024, 2048}, ds[4] = {3, 4, 6, 3}, in = 64;
    for (int s = 0; s < 4; s++)
        for (int l = 0; l < ds[s]; l++) {
            int ic = l == 0 ? in : hs[s], oc = hs[s], r = oc / 4, stride = l == 0 && s > 0 ? 2 : 1;
            if (ic != oc || stride != 1) {
                snprintf(pre, sizeof pre, "encoder.stages.%d.layers.%d.shortcut.", s, l);
                conv_bn(w, pre, ic, oc, 1);
            }
            snprintf(pre, sizeof pre, "encoder.stages.%d.layers.%d.layer.0.", s, l);
            conv_bn(w, pre, ic, r, 1);
            snprintf(pre, sizeof pre, "encoder.stages.%d.layers.%d.layer.1.", s, l);
            conv_bn(w, pre, r, r, 3);
            snprintf(pre, sizeof pre, "encoder.stages.%d.layers.%d.layer.2.", s, l);
            conv_bn(w, pre, r, oc, 1);
            if (l == ds[s] - 1) in = oc;
        }
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    mmf_status s = mmf_st_writer_finish(w, p);
    mmf_st_writer_free(w);
    return s == MMF_OK;
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int bench_model(const char *which, int B, int nt, int iters, const char *prec, const char *emb_out) {
    const char *cache = getenv("MMFUSE_BENCH_CACHE");
    char dir[1024], p[1100];
    snprintf(dir, sizeof dir, "%s", cache ? cache : "/tmp/mmfuse-bench-models");
    mkdir(dir, 0755);
    strcat(dir, strcmp(which, "vit") ? "/resnet-50" : "/vit-base-patch16-224");
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    struct stat sb;
    if (stat(p, &sb) != 0) {
        int ok = strcmp(which, "vit") ? make_resnet(dir) : make_vit(dir);
        if (!ok) { fprintf(stderr, "bench_image: cannot write %s\n", dir); return 1; }
    }
    mmf_encoder_params ep = mmf_encoder_params_default();
    ep.n_threads = nt;
    ep.max_batch = B;
    int bf16 = prec && !strcmp(prec, "bf16"), int8 = prec && !strcmp(prec, "int8");
    ep.precision = bf16 ? MMF_PRECISION_BF16 : int8 ? MMF_PRECISION_INT8 : MMF_PRECISION_F32;
    mmf_encoder *e;
    double t0 = now();
    if (mmf_encoder_load(dir, &ep, &e)) { fprintf(stderr, "bench_image: %s\n", mmf_last_error()); return 1; }
    double load_s = now() - t0;
    int C, H, W;
    mmf_image_processor_size(mmf_encoder_image_processor(e), &C, &H, &W);
    size_t per = (size_t)C * H * W;
    float *px = malloc(sizeof(float) * per * B), *out = malloc(sizeof(float) * (size_t)mmf_encoder_dim(e) * B);
    rng = 88172645463325252ULL;   /* the same input for fp32 and bf16 runs */
    for (size_t i = 0; i < per * B; i++) px[i] = frand();
    mmf_encoder_embed_pixels(e, px, (size_t)B, MMF_POOL_DEFAULT, 0, out);   /* warm-up */
    double *t = malloc(sizeof(double) * iters), cpu_best = 1e30;
    for (int i = 0; i < iters; i++) {
        double a = now(), c = cpu_now();
        mmf_encoder_embed_pixels(e, px, (size_t)B, MMF_POOL_DEFAULT, 0, out);
        t[i] = now() - a;
        c = cpu_now() - c;
        if (c < cpu_best) cpu_best = c;
    }
    qsort(t, (size_t)iters, sizeof *t, cmpd);
    if (emb_out) {
        FILE *f = fopen(emb_out, "wb");
        size_t n = (size_t)mmf_encoder_dim(e) * B;
        if (!f || fwrite(out, sizeof(float), n, f) != n) { fprintf(stderr, "bench_image: cannot write %s\n", emb_out); return 1; }
        fclose(f);
    }
    printf("{\"impl\": \"mmfuse\", \"model\": \"%s\", \"precision\": \"%s\", \"batch\": %d, \"threads\": %d, \"ms\": %.3f, \"best_ms\": %.3f, \"cpu_ms\": %.3f, \"load_s\": %.3f, \"sum\": %.6g}\n",
           which, bf16 ? "bf16" : int8 ? "int8" : "fp32", B, nt, 1e3 * t[iters / 2], 1e3 * t[0], 1e3 * cpu_best, load_s, (double)out[0]);
    free(t); free(px); free(out);
    mmf_encoder_free(e);
    return 0;
}

static int bench_preprocess(const char *list, int nt, int repeats) {
    FILE *f = fopen(list, "r");
    if (!f) { perror(list); return 1; }
    char line[4096], **paths = NULL;
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0]) continue;
        paths = realloc(paths, sizeof *paths * (n + 1));
        paths[n++] = strdup(line);
    }
    fclose(f);
    const char *cache = getenv("MMFUSE_BENCH_CACHE");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/clip_proc.json", cache ? cache : "/tmp/mmfuse-bench-models");
    write_text(dir, "{\"crop_size\": 224, \"do_center_crop\": true, \"do_normalize\": true, \"do_resize\": true,"
                    " \"feature_extractor_type\": \"CLIPFeatureExtractor\", \"image_mean\": [0.48145466, 0.4578275, 0.40821073],"
                    " \"image_std\": [0.26862954, 0.26130258, 0.27577711], \"resample\": 3, \"size\": 224}");
    mmf_image_processor *p;
    if (mmf_image_processor_load(dir, &p)) { fprintf(stderr, "%s\n", mmf_last_error()); return 1; }
    float *px = malloc(sizeof(float) * 3 * 224 * 224 * n);
    double best = 1e30;
    for (int r = 0; r < repeats; r++) {
        double a = now();
        if (mmf_image_processor_files(p, (const char *const *)paths, n, 0, nt, NULL, px, NULL, NULL)) {
            fprintf(stderr, "%s\n", mmf_last_error());
            return 1;
        }
        double d = now() - a;
        if (d < best) best = d;
    }
    printf("{\"impl\": \"mmfuse\", \"task\": \"decode+preprocess\", \"images\": %zu, \"threads\": %d, \"img_per_s\": %.2f, \"sum\": %.6g}\n",
           n, nt, (double)n / best, (double)px[0]);
    for (size_t i = 0; i < n; i++) free(paths[i]);
    free(paths);
    free(px);
    mmf_image_processor_free(p);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 6 && !strcmp(argv[1], "model"))
        return bench_model(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), argc > 6 ? argv[6] : NULL, argc > 7 ? argv[7] : NULL);
    if (argc >= 5 && !strcmp(argv[1], "preprocess")) return bench_preprocess(argv[2], atoi(argv[3]), atoi(argv[4]));
    /* bench/run.sh runs every bench_* without arguments: the measurement itself is
     * driven (and interleaved with PyTorch) by bench/image_torch.py, which run.sh runs next */
    if (argc == 1) return 0;
    fprintf(stderr, "usage: bench_image model vit|resnet BATCH THREADS ITERS [fp32|bf16|int8] [EMB_OUT] | preprocess LIST THREADS REPEATS\n");
    return 2;
}
