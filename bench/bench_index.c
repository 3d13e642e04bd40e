/* Our side of bench/index.py: builds an index or runs k-means on the vectors
 * that script generated, and prints one JSON line of timings. Run with no
 * arguments (as bench/run.sh does) it only points at the script. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "mmfuse.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double rss_mb(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) { if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0; fclose(f); }
    return (double)res * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static float *load(mmf_safetensors *st, const char *name, size_t *n, int *d) {
    const mmf_tensor_info *t = mmf_st_find(st, name);
    if (!t || t->ndim != 2) { fprintf(stderr, "bench_index: no 2-D tensor %s\n", name); exit(1); }
    *n = (size_t)t->shape[0];
    *d = (int)t->shape[1];
    float *x = malloc(*n * (size_t)*d * sizeof *x);
    if (!x || mmf_st_read_f32(st, name, x, *n * (size_t)*d)) { fprintf(stderr, "bench_index: cannot read %s: %s\n", name, mmf_last_error()); exit(1); }
    return x;
}

static const char *opt(int argc, char **argv, const char *name, const char *def) {
    for (int i = 1; i + 1 < argc; i++) if (!strcmp(argv[i], name)) return argv[i + 1];
    return def;
}

static int run_hnsw(int argc, char **argv) {
    mmf_safetensors *st;
    if (mmf_st_open(argv[2], &st)) { fprintf(stderr, "%s\n", mmf_last_error()); return 1; }
    size_t n, nq, ng;
    int d, dq, k;
    float *x = load(st, "train", &n, &d), *q = load(st, "queries", &nq, &dq);
    const mmf_tensor_info *g = mmf_st_find(st, "gt");
    if (!g || g->dtype != MMF_DT_I64 || g->ndim != 2) { fprintf(stderr, "bench_index: no I64 gt\n"); return 1; }
    ng = (size_t)g->shape[0];
    k = (int)g->shape[1];
    int64_t *gt = malloc(ng * (size_t)k * sizeof *gt);
    memcpy(gt, g->data, ng * (size_t)k * sizeof *gt);
    mmf_index_params p = mmf_index_params_default();
    p.M = atoi(opt(argc, argv, "--M", "16"));
    p.ef_construction = atoi(opt(argc, argv, "--efc", "200"));
    p.n_threads = atoi(opt(argc, argv, "--threads", "1"));
    p.quant = strcmp(opt(argc, argv, "--quant", "none"), "int8") ? MMF_QUANT_NONE : MMF_QUANT_INT8;
    if (mmf_metric_parse(opt(argc, argv, "--metric", "cosine"), &p.metric)) { fprintf(stderr, "%s\n", mmf_last_error()); return 1; }
    int qthreads = atoi(opt(argc, argv, "--qthreads", "1"));
    double r0 = rss_mb();
    mmf_index *ix;
    double t0 = now_s(), c0 = cpu_s();
    if (mmf_index_new(d, &p, &ix) || mmf_index_add(ix, n, x, NULL)) { fprintf(stderr, "%s\n", mmf_last_error()); return 1; }
    double build = now_s() - t0, build_cpu = cpu_s() - c0, r1 = rss_mb();
    mmf_index_info info;
    mmf_index_get_info(ix, &info);
    printf("{\"build_s\": %.3f, \"build_cpu_s\": %.3f, \"rss_delta_mb\": %.1f, \"index_mb\": %.1f, \"curve\": [", build, build_cpu, r1 - r0,
           (double)info.bytes / (1024.0 * 1024.0));
    int64_t *ids = malloc(nq * (size_t)k * sizeof *ids);
    char efs[256];
    snprintf(efs, sizeof efs, "%s", opt(argc, argv, "--efs", "16,32,64,128,256"));
    int first = 1;
    for (char *tok = strtok(efs, ","); tok; tok = strtok(NULL, ",")) {
        mmf_search_params sp = mmf_search_params_default();
        sp.ef = atoi(tok);
        sp.n_threads = qthreads;
        double best = 1e30, best_cpu = 1e30;
        for (int rep = 0; rep < 2; rep++) {
            double a = now_s(), ac = cpu_s();
            if (mmf_index_search(ix, nq, q, k, &sp, ids, NULL)) { fprintf(stderr, "%s\n", mmf_last_error()); return 1; }
            double e = now_s() - a, ec = cpu_s() - ac;
            if (e < best) best = e;
            if (ec < best_cpu) best_cpu = ec;
        }
        size_t hit = 0;
        for (size_t i = 0; i < nq; i++)
            for (int a = 0; a < k; a++)
                for (int b = 0; b < k; b++)
                    if (ids[i * (size_t)k + (size_t)a] == gt[i * (size_t)k + (size_t)b]) { hit++; break; }
        printf("%s{\"ef\": %d, \"recall\": %.4f, \"qps\": %.1f, \"qps_cpu\": %.1f}", first ? "" : ", ", sp.ef,
               (double)hit / (double)(nq * (size_t)k), (double)nq / best, (double)nq / best_cpu);
        first = 0;
    }
    printf("]}\n");
    mmf_index_free(ix);
    mmf_st_close(st);
    free(x); free(q); free(gt); free(ids);
    return 0;
}

static int run_kmeans(int argc, char **argv) {
    mmf_safetensors *st;
    if (mmf_st_open(argv[2], &st)) { fprintf(stderr, "%s\n", mmf_last_error()); return 1; }
    size_t n;
    int d;
    float *x = load(st, "train", &n, &d);
    mmf_kmeans_params p = mmf_kmeans_params_default();
    p.k = atoi(opt(argc, argv, "--k", "100"));
    p.max_iter = atoi(opt(argc, argv, "--iters", "20"));
    p.seed = (uint64_t)atoi(opt(argc, argv, "--seed", "42"));
    p.tol = -1.0;   /* exactly max_iter iterations, as FAISS */
    p.n_threads = atoi(opt(argc, argv, "--threads", "1"));
    p.init_plus_plus = strcmp(opt(argc, argv, "--init", "kmeans++"), "random") != 0;
    mmf_kmeans_result r;
    double t0 = now_s(), c0 = cpu_s();
    if (mmf_kmeans(x, n, d, &p, &r)) { fprintf(stderr, "%s\n", mmf_last_error()); return 1; }
    double t = now_s() - t0, tc = cpu_s() - c0;
    printf("{\"time_s\": %.3f, \"cpu_s\": %.3f, \"inertia\": %.6g, \"iterations\": %d}\n", t, tc, r.inertia, r.iterations);
    mmf_kmeans_result_free(&r);
    mmf_st_close(st);
    free(x);
    return 0;
}

/* ---- real embeddings: a trained image tower over deterministic augmentations
 * of real pictures. Each (image, variant) pair gets its own RNG stream, so the
 * output does not depend on batch size or thread count. */
static uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double unif(uint64_t *s) { *s = mix64(*s); return (double)(*s >> 11) * 0x1.0p-53; }

/* One augmentation of a W x H RGB picture (flattened onto white), same size
 * out: zoom in (crop a box of 70-100% of the side and scale it up) or zoom out
 * (scale to 55-100% and paste at a random place on white), optional mirror,
 * brightness and contrast in [0.8, 1.2]. */
static int augment(const mmf_image *in, uint64_t seed, mmf_image *out) {
    int W = in->width, H = in->height;
    uint64_t s = seed;
    mmf_image tmp = {0, 0, NULL}, crop = {0, 0, NULL};
    out->width = W; out->height = H;
    out->rgb = malloc((size_t)W * (size_t)H * 3);
    if (!out->rgb) return 1;
    memset(out->rgb, 255, (size_t)W * (size_t)H * 3);
    if (unif(&s) < 0.5) {   /* zoom in */
        double f = 0.70 + 0.30 * unif(&s);
        int cw = (int)(W * f + 0.5), ch = (int)(H * f + 0.5);
        int x0 = (int)((W - cw + 1) * unif(&s)), y0 = (int)((H - ch + 1) * unif(&s));
        crop.width = cw; crop.height = ch;
        crop.rgb = malloc((size_t)cw * (size_t)ch * 3);
        if (!crop.rgb) return 1;
        for (int y = 0; y < ch; y++) memcpy(crop.rgb + (size_t)y * cw * 3, in->rgb + ((size_t)(y0 + y) * W + x0) * 3, (size_t)cw * 3);
        if (mmf_image_resize(&crop, W, H, MMF_RESAMPLE_BILINEAR, &tmp)) { free(crop.rgb); return 1; }
        free(crop.rgb);
        memcpy(out->rgb, tmp.rgb, (size_t)W * (size_t)H * 3);
    } else {                /* zoom out */
        double f = 0.55 + 0.45 * unif(&s);
        int sw = (int)(W * f + 0.5), sh = (int)(H * f + 0.5);
        if (mmf_image_resize(in, sw, sh, MMF_RESAMPLE_BILINEAR, &tmp)) return 1;
        int x0 = (int)((W - sw + 1) * unif(&s)), y0 = (int)((H - sh + 1) * unif(&s));
        for (int y = 0; y < sh; y++) memcpy(out->rgb + ((size_t)(y0 + y) * W + x0) * 3, tmp.rgb + (size_t)y * sw * 3, (size_t)sw * 3);
    }
    mmf_image_free(&tmp);
    int mirror = unif(&s) < 0.5;
    double bright = 0.8 + 0.4 * unif(&s), contrast = 0.8 + 0.4 * unif(&s);
    for (int y = 0; y < H; y++) {
        uint8_t *row = out->rgb + (size_t)y * W * 3;
        if (mirror)
            for (int a = 0, b = W - 1; a < b; a++, b--)
                for (int c = 0; c < 3; c++) { uint8_t t = row[a * 3 + c]; row[a * 3 + c] = row[b * 3 + c]; row[b * 3 + c] = t; }
        for (int i = 0; i < W * 3; i++) {
            double v = ((row[i] - 128.0) * contrast + 128.0) * bright;
            row[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5);
        }
    }
    return 0;
}

/* bench_index embed-aug MODEL LIST OUT [--variants V] [--queries Q] [--seed S] [--threads T]
 * LIST: one image path a line. Writes "train" [n_images * V, D] (image i,
 * variant v at row i * V + v), "queries" [Q, D] (fresh augmentations of
 * images drawn at random) and "query_image" I64 [Q]. */
static int run_embed_aug(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: bench_index embed-aug MODEL LIST OUT [options]\n"); return 2; }
    int V = atoi(opt(argc, argv, "--variants", "18")), Q = atoi(opt(argc, argv, "--queries", "1000"));
    uint64_t seed = (uint64_t)strtoull(opt(argc, argv, "--seed", "20261128"), NULL, 10);
    mmf_encoder_params ep = mmf_encoder_params_default();
    ep.n_threads = atoi(opt(argc, argv, "--threads", "1"));
    ep.max_batch = 256;
    mmf_encoder *enc;
    if (mmf_encoder_load(argv[2], &ep, &enc)) { fprintf(stderr, "%s\n", mmf_last_error()); return 1; }
    const mmf_image_processor *proc = mmf_encoder_image_processor(enc);
    if (!proc) { fprintf(stderr, "bench_index: %s is not an image encoder\n", argv[2]); return 1; }
    int C, Hp, Wp, D = mmf_encoder_dim(enc);
    mmf_image_processor_size(proc, &C, &Hp, &Wp);
    size_t per = (size_t)C * Hp * Wp;
    FILE *lf = fopen(argv[3], "r");
    if (!lf) { fprintf(stderr, "bench_index: cannot open %s\n", argv[3]); return 1; }
    char line[4096], **paths = NULL;
    size_t np = 0, capp = 0;
    while (fgets(line, sizeof line, lf)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0]) continue;
        if (np == capp) { capp = capp ? 2 * capp : 1024; paths = realloc(paths, capp * sizeof *paths); }
        paths[np++] = strdup(line);
    }
    fclose(lf);
    if (!np) { fprintf(stderr, "bench_index: %s lists no images\n", argv[3]); return 1; }
    size_t n = np * (size_t)V, total = n + (size_t)Q;
    float *emb = malloc(total * (size_t)D * sizeof *emb);
    int64_t *qimg = malloc((size_t)(Q ? Q : 1) * sizeof *qimg);
    enum { BATCH = 256 };
    float *pix = malloc(BATCH * per * sizeof *pix);
    if (!emb || !qimg || !pix) { fprintf(stderr, "bench_index: out of memory\n"); return 1; }
    mmf_image img = {0, 0, NULL};
    size_t loaded = (size_t)-1, nb = 0, row0 = 0;
    for (size_t r = 0; r < total; r++) {
        size_t im, var;
        if (r < n) { im = r / (size_t)V; var = (size_t)r % (size_t)V; }
        else {      /* queries: an image drawn at random, variants numbered past the base set's */
            uint64_t s = mix64(seed ^ 0x51ed2701u ^ mix64(r - n));
            im = (size_t)(mix64(s) % np);
            var = (size_t)V + (r - n);
            qimg[r - n] = (int64_t)im;
        }
        if (im != loaded) {
            mmf_image_free(&img);
            if (mmf_image_load(paths[im], NULL, &img)) { fprintf(stderr, "%s\n", mmf_last_error()); return 1; }
            loaded = im;
        }
        mmf_image a;
        if (augment(&img, mix64(seed ^ mix64(((uint64_t)im << 24) ^ var)), &a)) { fprintf(stderr, "bench_index: augment: %s\n", mmf_last_error()); return 1; }
        if (mmf_image_processor_run(proc, &a, pix + nb * per)) { fprintf(stderr, "%s\n", mmf_last_error()); return 1; }
        mmf_image_free(&a);
        if (++nb == BATCH || r + 1 == total) {
            if (mmf_encoder_embed_pixels(enc, pix, nb, MMF_POOL_DEFAULT, 0, emb + row0 * (size_t)D)) { fprintf(stderr, "%s\n", mmf_last_error()); return 1; }
            row0 += nb;
            nb = 0;
        }
    }
    mmf_image_free(&img);
    mmf_st_writer *w = mmf_st_writer_new();
    int64_t s_train[2] = {(int64_t)n, D}, s_q[2] = {Q, D}, s_qi[1] = {Q};
    char meta[128];
    snprintf(meta, sizeof meta, "%zu images x %d variants, %d queries, seed %llu", np, V, Q, (unsigned long long)seed);
    if (mmf_st_writer_add(w, "train", MMF_DT_F32, 2, s_train, emb) || mmf_st_writer_add(w, "queries", MMF_DT_F32, 2, s_q, emb + n * (size_t)D) ||
        mmf_st_writer_add(w, "query_image", MMF_DT_I64, 1, s_qi, qimg) || mmf_st_writer_meta(w, "bench_index.embed_aug", meta) ||
        mmf_st_writer_finish(w, argv[4])) { fprintf(stderr, "%s\n", mmf_last_error()); return 1; }
    mmf_st_writer_free(w);
    printf("{\"images\": %zu, \"variants\": %d, \"queries\": %d, \"dim\": %d}\n", np, V, Q, D);
    for (size_t i = 0; i < np; i++) free(paths[i]);
    free(paths); free(emb); free(qimg); free(pix);
    mmf_encoder_free(enc);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        printf("bench_index: driven by bench/index.py, which generates the vectors and runs hnswlib and FAISS "
               "beside this program (usage: bench_index hnsw|kmeans DATA.safetensors [options] | embed-aug MODEL LIST OUT [options])\n");
        return 0;
    }
    if (!strcmp(argv[1], "hnsw")) return run_hnsw(argc, argv);
    if (!strcmp(argv[1], "kmeans")) return run_kmeans(argc, argv);
    if (!strcmp(argv[1], "embed-aug")) return run_embed_aug(argc, argv);
    fprintf(stderr, "bench_index: unknown mode %s\n", argv[1]);
    return 2;
}
