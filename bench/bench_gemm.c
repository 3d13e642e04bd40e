/* GEMM benchmark: our path (mmf_linear / mmf_gemm / mmf_gemm_batched, on
 * oneDNN) vs raw OpenBLAS cblas_sgemm (the BLAS mmfuse used before, and the one
 * Debian's PyTorch uses) vs the machine's measured fp32 FMA peak, at shapes of
 * BERT-base / ViT-B inference, with 1 and 2 threads. Writes a markdown fragment
 * (default bench/results/gemm.md, run from the source root; bench/run.sh does).
 *
 *   bench_gemm [--quick] [--out FILE]
 *
 * Each timing is the best of several repetitions, ours and OpenBLAS interleaved
 * so that load from other processes hits both sides alike. The peak is measured,
 * not taken from a datasheet: every thread runs 12 independent FMA chains
 * (AVX-512 and AVX2 variants; the faster counts) long enough for the clock to
 * settle, timed in its own CPU time. */
#include "core/ops.h"
#include <cblas.h>
#include "mmfuse.h"
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- fp32 peak: independent FMA chains, per thread ----
 * 12 chains in named variables (an array would live in memory): enough to hide
 * a 4-cycle FMA latency on two FMA pipes, and few enough for AVX2's 16 registers. */
#define CHAINS 12
#define FMA12(F, m, c) \
    a0 = F(a0, m, c); a1 = F(a1, m, c); a2 = F(a2, m, c); a3 = F(a3, m, c); \
    a4 = F(a4, m, c); a5 = F(a5, m, c); a6 = F(a6, m, c); a7 = F(a7, m, c); \
    a8 = F(a8, m, c); a9 = F(a9, m, c); a10 = F(a10, m, c); a11 = F(a11, m, c)

__attribute__((target("avx512f"), noinline)) static float fma_avx512(long iters) {
    const __m512 m = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
    __m512 a0 = _mm512_set1_ps(0), a1 = _mm512_set1_ps(1), a2 = _mm512_set1_ps(2), a3 = _mm512_set1_ps(3),
           a4 = _mm512_set1_ps(4), a5 = _mm512_set1_ps(5), a6 = _mm512_set1_ps(6), a7 = _mm512_set1_ps(7),
           a8 = _mm512_set1_ps(8), a9 = _mm512_set1_ps(9), a10 = _mm512_set1_ps(10), a11 = _mm512_set1_ps(11);
    for (long it = 0; it < iters; it++) {
        FMA12(_mm512_fmadd_ps, m, c);
        FMA12(_mm512_fmadd_ps, m, c);
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"), noinline)) static float fma_avx2(long iters) {
    const __m256 m = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f);
    __m256 a0 = _mm256_set1_ps(0), a1 = _mm256_set1_ps(1), a2 = _mm256_set1_ps(2), a3 = _mm256_set1_ps(3),
           a4 = _mm256_set1_ps(4), a5 = _mm256_set1_ps(5), a6 = _mm256_set1_ps(6), a7 = _mm256_set1_ps(7),
           a8 = _mm256_set1_ps(8), a9 = _mm256_set1_ps(9), a10 = _mm256_set1_ps(10), a11 = _mm256_set1_ps(11);
    for (long it = 0; it < iters; it++) {
        FMA12(_mm256_fmadd_ps, m, c);
        FMA12(_mm256_fmadd_ps, m, c);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}

static volatile float sink;

static double thread_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* GFLOP/s of nt threads each running `width`-lane FMA chains, best of 5.
 * Each thread divides its FLOPs by its own CPU time, not wall time: on a
 * machine shared with other jobs the scheduler takes the core away now and
 * then, which says nothing about what the core can do while we hold it. */
static double fma_peak(int nt, int use512, double seconds) {
    int width = use512 ? 16 : 8;
    long iters = 1000000;
    /* size the run to about `seconds` of CPU time on one thread */
    for (;;) {
        double t0 = thread_cpu();
        sink = use512 ? fma_avx512(iters) : fma_avx2(iters);
        double dt = thread_cpu() - t0;
        if (dt > seconds / 4) { iters = (long)(iters * seconds / dt); break; }
        iters *= 4;
    }
    double best = 0.0;
    for (int rep = 0; rep < 5; rep++) {
        double total = 0.0;
#pragma omp parallel num_threads(nt) reduction(+ : total)
        {
            double t0 = thread_cpu();
            float r = use512 ? fma_avx512(iters) : fma_avx2(iters);
            double dt = thread_cpu() - t0;
            if (r == 12345.0f) sink = r;
            total += (double)iters * 2 * CHAINS * width * 2 / dt * 1e-9;
        }
        if (total > best) best = total;
    }
    return best;
}

/* ---- GEMM timings ---- */
static float *rnd(size_t n) {
    float *p = malloc(n * sizeof *p);
    unsigned s = 12345u;
    for (size_t i = 0; i < n; i++) { s = s * 1103515245u + 12345u; p[i] = ((s >> 9) & 0xffff) / 65536.0f - 0.5f; }
    return p;
}

typedef struct {
    const char *what;        /* model / use */
    const char *kind;        /* linear | batched */
    int batch, M, N, K;      /* linear: out (M,N) = in (M,K) W^T (N,K); batched: batch of (M,K)x(K,N) */
    int transB;
} shape;

static void raw_threads(int nt) {
    omp_set_num_threads(nt);
    openblas_set_num_threads(nt);
}

/* one run; returns seconds */
static double run_ours(const shape *s, float *A, float *B, float *bias, float *C, int nt) {
    double t0 = now();
    if (!strcmp(s->kind, "linear"))
        mmf_linear(C, A, B, bias, s->M, s->K, s->N, nt);
    else {
        int ldb = s->transB ? s->K : s->N;
        mmf_gemm_batched(0, s->transB, s->batch, s->M, s->N, s->K, 1.0f, A, s->K, (int64_t)s->M * s->K,
                         B, ldb, (int64_t)s->K * s->N, 0.0f, C, s->N, (int64_t)s->M * s->N, nt);
    }
    return now() - t0;
}

static double run_raw(const shape *s, float *A, float *B, float *C, int nt) {
    raw_threads(nt);
    double t0 = now();
    if (!strcmp(s->kind, "linear"))
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->M, s->N, s->K, 1.0f, A, s->K, B, s->K, 0.0f, C, s->N);
    else {
        int ldb = s->transB ? s->K : s->N;
        for (int b = 0; b < s->batch; b++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, s->transB ? CblasTrans : CblasNoTrans, s->M, s->N, s->K, 1.0f,
                        A + (size_t)b * s->M * s->K, s->K, B + (size_t)b * s->K * s->N, ldb, 0.0f,
                        C + (size_t)b * s->M * s->N, s->N);
    }
    return now() - t0;
}

static void cpu_model(char *buf, size_t cap) {
    snprintf(buf, cap, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512], name[256] = "", fam[32] = "", mod[32] = "";
    while (fgets(line, sizeof line, f)) {
        char *v = strchr(line, ':');
        if (!v) continue;
        v++;
        while (*v == ' ') v++;
        v[strcspn(v, "\n")] = 0;
        if (!strncmp(line, "model name", 10) && !name[0]) snprintf(name, sizeof name, "%s", v);
        else if (!strncmp(line, "cpu family", 10) && !fam[0]) snprintf(fam, sizeof fam, "%s", v);
        else if (!strncmp(line, "model\t", 6) && !mod[0]) snprintf(mod, sizeof mod, "%s", v);
    }
    fclose(f);
    snprintf(buf, cap, "%s (cpu family %s, model %s)", name, fam, mod);
}

int main(int argc, char **argv) {
    const char *out_path = "bench/results/gemm.md";
    int quick = 0, peak_only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--peak")) peak_only = 1;
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out_path = argv[++i];
        else {
            fprintf(stderr, "usage: bench_gemm [--quick] [--out FILE]   (default FILE bench/results/gemm.md)\n"
                            "       bench_gemm --peak   (only the fp32 FMA peak, one JSON line: bench/ort.py's rate column)\n");
            return 2;
        }
    }
    shape shapes[] = {
        {"BERT-base Q/K/V/O proj (32x128 tokens)", "linear", 1, 4096, 768, 768, 1},
        {"BERT-base fused QKV", "linear", 1, 4096, 2304, 768, 1},
        {"BERT-base FFN up", "linear", 1, 4096, 3072, 768, 1},
        {"BERT-base FFN down", "linear", 1, 4096, 768, 3072, 1},
        {"ViT-B/16 FFN up (8x197 tokens)", "linear", 1, 1576, 3072, 768, 1},
        {"single sequence proj (128 tokens)", "linear", 1, 128, 768, 768, 1},
        {"attention scores QK^T (8x12 heads)", "batched", 96, 128, 128, 64, 1},
        {"attention context PV (8x12 heads)", "batched", 96, 128, 64, 128, 0},
    };
    int n_shapes = (int)(sizeof shapes / sizeof *shapes);
    double min_time = quick ? 0.05 : 1.0;   /* per side, per shape and thread count */

    char cpu[400];
    cpu_model(cpu, sizeof cpu);
    int ncpu = omp_get_num_procs();
    int has512 = __builtin_cpu_supports("avx512f"), has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    double peak[3] = {0, 0, 0}, peak512[3] = {0, 0, 0}, peak2[3] = {0, 0, 0};
    for (int nt = 1; nt <= 2 && nt <= ncpu; nt++) {
        if (has512) peak512[nt] = fma_peak(nt, 1, quick ? 0.1 : 0.5);
        if (has2) peak2[nt] = fma_peak(nt, 0, quick ? 0.1 : 0.5);
        peak[nt] = fmax(peak512[nt], peak2[nt]);
        fprintf(stderr, "peak %d thread(s): AVX-512 %.1f, AVX2 %.1f GFLOP/s\n", nt, peak512[nt], peak2[nt]);
    }
    if (peak_only) {
        printf("{\"peak_gflops_1t\": %.1f, \"peak_gflops_2t\": %.1f, \"avx512\": %d}\n", peak[1], peak[2], has512 != 0);
        return 0;
    }

    char *report = NULL;
    size_t report_len = 0;
    FILE *md = open_memstream(&report, &report_len);
    fprintf(md, "## GEMM: our path (oneDNN) vs OpenBLAS vs fp32 peak\n\n");
    time_t tnow = time(NULL);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&tnow));
    fprintf(md, "- Machine: %s, %d logical CPUs visible; measured %s by `bench/bench_gemm`%s.\n", cpu, ncpu, date,
            quick ? " --quick" : "");
    double load[3] = {0, 0, 0};
    int busy = getloadavg(load, 3) == 3 && load[0] > ncpu + 0.5;   /* the bench itself loads every core */
    fprintf(md, "- %s (1-minute load average %.1f at the end); ours and OpenBLAS were timed interleaved (best of "
                "repeated runs, each side >= %.2f s)%s.\n",
            busy ? "**Shared machine, other jobs running**" : "Quiet machine", load[0], min_time,
            busy ? ", so their ratio is the meaningful figure" : "");
    mmf_machine_info mi;
    mmf_machine_info_get(&mi);
    const char *coretype = getenv("OPENBLAS_CORETYPE");
    fprintf(md, "- Ours: %s. OpenBLAS: %s, kernel %s%s%s%s; precision fp32 throughout; CPU features: avx2 %d, "
                "avx512f %d, avx512_bf16 %d, avx512_vnni %d, amx %d.\n",
            mi.engine, openblas_get_config(), openblas_get_corename(), coretype ? " (OPENBLAS_CORETYPE=" : "",
            coretype ? coretype : "", coretype ? ")" : "", mi.avx2, mi.avx512f, mi.avx512_bf16, mi.avx512_vnni, mi.amx);
    if (coretype) fprintf(md, "  (the variable is set on this machine because this OpenBLAS build misbehaves on newer CPUs; it does not touch mmfuse.)\n");
    fprintf(md, "- Peak: every thread runs %d independent FMA chains for ~0.5 s of its own CPU time (AVX-512 "
                "`vfmadd` on zmm, and AVX2 on ymm; the faster counts), FLOPs = 2 x lanes x FMAs, divided by the "
                "thread's CPU time (CLOCK_THREAD_CPUTIME_ID) so that time-slicing by other jobs does not lower it; "
                "best of 5, summed over threads. ", CHAINS);
    for (int nt = 1; nt <= 2 && nt <= ncpu; nt++)
        fprintf(md, "%d thread%s: AVX-512 %.1f, AVX2 %.1f GFLOP/s. ", nt, nt > 1 ? "s" : "", peak512[nt], peak2[nt]);
    fprintf(md, "GEMM rates are wall-clock, so on this shared machine *x / peak* understates the kernels.");
    fprintf(md, "\n- Ours: `mmf_linear` (with bias: the bias is written first, GEMM accumulates onto it) for "
                "projections, `mmf_gemm_batched` (batches in parallel, one thread each) for attention; "
                "OpenBLAS: one `cblas_sgemm` (no bias) / a loop of `cblas_sgemm` with all threads each.\n\n");
    fprintf(md, "| shape (M x N x K) | use | threads | ours GFLOP/s | OpenBLAS GFLOP/s | ours / OpenBLAS | ours / peak | OpenBLAS / peak |\n");
    fprintf(md, "|---|---|---:|---:|---:|---:|---:|---:|\n");

    for (int si = 0; si < n_shapes; si++) {
        const shape *s = &shapes[si];
        size_t na = (size_t)s->batch * s->M * s->K, nb = (size_t)s->batch * s->K * s->N, nc = (size_t)s->batch * s->M * s->N;
        float *A = rnd(na), *B = rnd(nb), *bias = rnd(s->N), *C = calloc(nc, sizeof *C);
        double flops = 2.0 * s->batch * s->M * s->N * s->K;
        for (int nt = 1; nt <= 2 && nt <= ncpu; nt++) {
            run_ours(s, A, B, bias, C, nt);          /* warm up both */
            run_raw(s, A, B, C, nt);
            double best_o = INFINITY, best_r = INFINITY, tot_o = 0, tot_r = 0;
            int reps = 0;
            while ((tot_o < min_time || tot_r < min_time || reps < 3) && reps < 200) {
                double to = run_ours(s, A, B, bias, C, nt), tr = run_raw(s, A, B, C, nt);
                tot_o += to; tot_r += tr;
                if (to < best_o) best_o = to;
                if (tr < best_r) best_r = tr;
                reps++;
            }
            double go = flops / best_o * 1e-9, gr = flops / best_r * 1e-9;
            char dims[96];
            if (s->batch > 1) snprintf(dims, sizeof dims, "%d x (%d x %d x %d)", s->batch, s->M, s->N, s->K);
            else snprintf(dims, sizeof dims, "%d x %d x %d", s->M, s->N, s->K);
            fprintf(md, "| %s | %s | %d | %.1f | %.1f | %.2f | %.0f%% | %.0f%% |\n", dims, s->what, nt, go, gr, go / gr,
                    100.0 * go / peak[nt], 100.0 * gr / peak[nt]);
            fprintf(stderr, "%-40s %-28s t=%d ours %7.1f  openblas %7.1f  GFLOP/s (%d reps)\n", s->what, dims, nt, go, gr, reps);
        }
        free(A); free(B); free(bias); free(C);
    }
    fprintf(md, "\nReading the table: ours is oneDNN's sgemm, which picks its kernel from the CPU (AVX-512 here "
                "unless ONEDNN_MAX_CPU_ISA caps it); OpenBLAS runs the kernel named above. With 2 threads the raw "
                "loop of small `cblas_sgemm` calls pays an OpenMP fork/barrier per call, which collapses when the "
                "other core is busy; `mmf_gemm_batched` splits the batch once across threads and does not.\n\n");
    fclose(md);
    mmf_status st = mmf_write_file_atomic(out_path, report, report_len);
    free(report);
    if (st != MMF_OK) { fprintf(stderr, "bench_gemm: %s\n", mmf_last_error()); return 1; }
    fprintf(stderr, "wrote %s\n", out_path);
    return 0;
}
