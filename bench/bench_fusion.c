/* Fusion-head training throughput (samples/s), the C side of bench/fusion_torch.py,
 * which runs both sides interleaved and writes bench/results/fusion.md.
 *
 *   bench_fusion                      prints where the comparison lives, exits 0
 *   bench_fusion run OP THREADS BATCH HIDDEN N EPOCHS [fp32|bf16]
 *                                     one JSON line: {"op":..., "samples_per_s":..., "samples_per_cpu_s":...,
 *                                     "flops_per_sample": forward FLOPs of the head, ...}
 *
 * Data: N rows of text (384-d, MiniLM-sized) and image (512-d, CLIP-sized)
 * embeddings, N(0,1), 10 classes, all present; the head trains with the
 * library's defaults (AdamW, cosine, clip 1, dropout 0.1), no validation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include "mmfuse.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* CPU seconds of the whole process (all threads), user + system */
static double cpu_s(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + 1e-6 * (double)u.ru_utime.tv_usec + (double)u.ru_stime.tv_sec + 1e-6 * (double)u.ru_stime.tv_usec;
}

int main(int argc, char **argv) {
    if (argc < 8 || strcmp(argv[1], "run")) {
        printf("bench_fusion: the comparison with PyTorch runs from bench/fusion_torch.py (bench/run.sh calls it)\n");
        return 0;
    }
    const char *op = argv[2];
    int threads = atoi(argv[3]), batch = atoi(argv[4]), hidden = atoi(argv[5]), epochs = atoi(argv[7]);
    int64_t N = atoll(argv[6]);
    int64_t dims[2] = {384, 512};
    float *t = malloc(sizeof(float) * (size_t)(N * dims[0])), *im = malloc(sizeof(float) * (size_t)(N * dims[1]));
    int64_t *y = malloc(sizeof(int64_t) * (size_t)N);
    unsigned s = 12345;
    for (int64_t i = 0; i < N * dims[0]; i++) { s = s * 1103515245u + 12345u; t[i] = (float)((s >> 8) & 0xFFFF) / 32768.0f - 1.0f; }
    for (int64_t i = 0; i < N * dims[1]; i++) { s = s * 1103515245u + 12345u; im[i] = (float)((s >> 8) & 0xFFFF) / 32768.0f - 1.0f; }
    for (int64_t i = 0; i < N; i++) y[i] = i % 10;
    const char *names[2] = {"text", "image"};
    const float *data[2] = {t, im};
    mmf_embfile_spec sp = {.n_rows = N, .n_modalities = 2, .names = names, .dims = dims, .data = data, .labels = y, .n_classes = 10};
    char path[256];
    snprintf(path, sizeof path, "%s/mmf_bench_fusion_%d.safetensors", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    mmf_embfile *f = NULL;
    if (mmf_embfile_write(path, &sp) || mmf_embfile_open(path, &f)) { fprintf(stderr, "%s\n", mmf_last_error()); return 1; }
    unlink(path);
    mmf_train_params p = mmf_train_params_default();
    p.fusion = op;
    p.hidden = hidden;
    p.batch = batch;
    p.epochs = epochs;
    p.n_threads = threads;
    p.sketch = 1024;
    p.proj = 16;
    p.budget = (int64_t)1 << 30;
    if (argc > 8 && !strcmp(argv[8], "bf16")) p.precision = MMF_PRECISION_BF16;
    double ph[5] = {0};
    p.phase_seconds = ph;
    mmf_head *h = NULL;
    double t0 = now(), c0 = cpu_s();
    mmf_status st = mmf_head_train(f, NULL, &p, &h);
    double dt = now() - t0, dc = cpu_s() - c0;
    if (st) { fprintf(stderr, "%s\n", mmf_last_error()); return 1; }
    printf("{\"op\": \"%s\", \"precision\": \"%s\", \"samples_per_s\": %.1f, \"samples_per_cpu_s\": %.1f, \"seconds\": %.3f, "
           "\"params\": %lld, \"flops_per_sample\": %lld, \"ms_per_step\": {\"gather\": %.4f, \"forward\": %.4f, "
           "\"backward\": %.4f, \"optimiser\": %.4f}}\n",
           op, p.precision == MMF_PRECISION_BF16 ? "bf16" : "fp32", (double)(N * epochs) / dt, (double)(N * epochs) / dc, dt,
           (long long)mmf_head_param_count(h), (long long)mmf_head_flops(h), ph[0] * 1e3 / ph[4], ph[1] * 1e3 / ph[4],
           ph[2] * 1e3 / ph[4], ph[3] * 1e3 / ph[4]);
    mmf_head_free(h);
    mmf_embfile_close(f);
    free(t); free(im); free(y);
    return 0;
}
