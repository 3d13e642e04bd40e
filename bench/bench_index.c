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

int main(int argc, char **argv) {
    if (argc < 3) {
        printf("bench_index: driven by bench/index.py, which generates the vectors and runs hnswlib and FAISS "
               "beside this program (usage: bench_index hnsw|kmeans DATA.safetensors [options])\n");
        return 0;
    }
    if (!strcmp(argv[1], "hnsw")) return run_hnsw(argc, argv);
    if (!strcmp(argv[1], "kmeans")) return run_kmeans(argc, argv);
    fprintf(stderr, "bench_index: unknown mode %s\n", argv[1]);
    return 2;
}
