/* CNN image tower training throughput (the mmfuse_cnn model of src/direct/cnn.h:
 * conv3x3-BN-ReLU-maxpool stages 16/32/64/128 on 64x64x3, global average pool,
 * linear to 98 classes): forward + backward + AdamW step on random data.
 *   bench_direct train BATCH THREADS ITERS   -> JSON line with best and median ms/step,
 *   wall clock and process CPU time (the CPU time of a 1-thread run is the figure
 *   that survives a loaded machine)
 * Driven, interleaved with the same model in PyTorch, by bench/direct_torch.py
 * (bench/run.sh runs this without arguments: a no-op). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "direct/cnn.h"
#include "train/optim.h"

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double cpu_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int bench_train(int B, int nt, int iters) {
    cnn_config cfg = cnn_config_default(98);
    cnn_model m;
    if (cnn_init(&m, &cfg, 1)) { fprintf(stderr, "bench_direct: %s\n", mmf_last_error()); return 1; }
    mmf_optim opt;
    mmf_optim_params op = mmf_optim_params_default();
    mmf_optim_init(&opt, &m.ps, &op);
    mmf_tape *tp = mmf_tape_new(nt, 1);
    mmf_rng r;
    mmf_rng_seed(&r, 2);
    size_t n = (size_t)B * 3 * 64 * 64;
    float *x = malloc(n * sizeof(float));
    int64_t *y = malloc((size_t)B * sizeof(int64_t));
    for (size_t i = 0; i < n; i++) x[i] = 2.0f * mmf_rng_uniform(&r) - 1.0f;
    for (int b = 0; b < B; b++) y[b] = mmf_rng_below(&r, 98);
    double *t = malloc((size_t)(iters + 1) * sizeof(double)), *tc = malloc((size_t)(iters + 1) * sizeof(double));
    for (int it = -2; it < iters; it++) {   /* two warm-up steps size the tape */
        double t0 = now_ms(), c0 = cpu_ms();
        mmf_tape_reset(tp);
        mmf_tape_set_training(tp, 1);
        mmf_var lg = cnn_forward(tp, &m, mmf_t_const(tp, x, 4, (int64_t[]){B, 3, 64, 64}), NULL);
        mmf_var L = mmf_t_cross_entropy(tp, lg, y, 0.0f, NULL);
        if (mmf_tape_backward(tp, L) || mmf_optim_step(&opt, &m.ps)) { fprintf(stderr, "bench_direct: %s\n", mmf_last_error()); return 1; }
        if (it >= 0) { t[it] = now_ms() - t0; tc[it] = cpu_ms() - c0; }
    }
    qsort(t, (size_t)iters, sizeof *t, cmp_d);
    qsort(tc, (size_t)iters, sizeof *tc, cmp_d);
    printf("{\"best_ms\": %.3f, \"median_ms\": %.3f, \"best_cpu_ms\": %.3f, \"median_cpu_ms\": %.3f}\n", t[0], t[iters / 2],
           tc[0], tc[iters / 2]);
    free(t); free(tc); free(x); free(y);
    mmf_tape_free(tp);
    mmf_optim_free(&opt);
    cnn_free(&m);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 5 && !strcmp(argv[1], "train")) return bench_train(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
    if (argc == 1) return 0;
    fprintf(stderr, "usage: bench_direct train BATCH THREADS ITERS\n");
    return 2;
}
