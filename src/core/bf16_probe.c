/* The bf16 / fp32 multiply-add rate probe (bf16_probe.h). */
#include "core/bf16_probe.h"
#include "core/gemm_bf16.h"
#include <immintrin.h>
#include <pthread.h>
#include <time.h>

enum { CHAINS = 24, ROUNDS = 10000, TRIES = 15 };   /* 24 independent chains: fewer leave vdpbf16ps latency-bound on some cores; 15 tries (~60 us each side): on a loaded VM a vCPU descheduled by the host still counts as thread CPU time, and a best of 5 once read 2.6x */

static double thread_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);   /* time-slicing by other jobs does not count */
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Unrolled so that the chains live in registers: left as a loop, gcc -O2 keeps
 * acc[] in memory and both timings measure loads and stores instead (Zen 5: 43
 * GFLOP/s "fma" against a 229 GFLOP/s peak, and a ratio anywhere in 2.4-3.7). */
#define UNROLLED _Pragma("GCC unroll 24")

#define TGT_FMA __attribute__((target("avx512f")))
#define TGT_BF16 __attribute__((target("avx512f,avx512bf16")))

/* Both timings end here: the seconds since t0, then the chains summed into a
 * volatile so that the compiler keeps the loops. */
TGT_FMA static double chains_done(const __m512 *acc, double t0) {
    double t = thread_s() - t0;
    __m512 s = acc[0];
    for (int c = 1; c < CHAINS; c++) s = _mm512_add_ps(s, acc[c]);
    volatile float sink = _mm512_reduce_add_ps(s);
    (void)sink;
    return t;
}

/* seconds for ROUNDS x CHAINS zmm FMAs (32 flops each) */
TGT_FMA static double time_fma(float seed) {
    __m512 acc[CHAINS], m = _mm512_set1_ps(0.999f), a = _mm512_set1_ps(seed);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_set1_ps((float)c);
    double t0 = thread_s();
    for (int r = 0; r < ROUNDS; r++)
        UNROLLED for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_fmadd_ps(acc[c], m, a);
    return chains_done(acc, t0);
}

/* seconds for ROUNDS x CHAINS zmm vdpbf16ps (64 flops each) */
TGT_BF16 static double time_bf16(float seed) {
    __m512 acc[CHAINS];
    __m512bh x = _mm512_cvtne2ps_pbh(_mm512_set1_ps(seed), _mm512_set1_ps(0.5f));
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_set1_ps((float)c);
    double t0 = thread_s();
    for (int r = 0; r < ROUNDS; r++)
        UNROLLED for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_dpbf16_ps(acc[c], x, x);
    return chains_done(acc, t0);
}

static double g_speedup;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void measure(void) {
    if (!mmf_bf16_gemm_supported()) return;
    double f = 1e9, b = 1e9;
    for (int i = 0; i < TRIES; i++) {   /* best of each, interleaved */
        double tf = time_fma(1e-3f), tb = time_bf16(1e-3f);
        f = tf < f ? tf : f;
        b = tb < b ? tb : b;
    }
    if (f > 0 && b > 0) g_speedup = (64.0 / b) / (32.0 / f);
}

double mmf_bf16_speedup(void) {
    pthread_once(&g_once, measure);
    return g_speedup;
}

int mmf_bf16_pays(void) { return mmf_bf16_speedup() >= MMF_BF16_AUTO_SPEEDUP; }
