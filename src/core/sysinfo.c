/* mmf_machine_info_get: what CPU, SIMD features and compute-engine kernels this
 * process runs on. CI and benchmarks print it first, so that a number or a
 * failure can be tied to a machine (the engine picks its kernels per CPU, and
 * the last bits of a GEMM depend on them). */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <oneapi/dnnl/dnnl.h>
#include "mmfuse.h"
#include "core/gemm_int8.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define MMF_X86 1
#endif

static void copy_trimmed(char *dst, size_t cap, const char *src) {
    while (*src == ' ' || *src == '\t') src++;
    size_t n = strcspn(src, "\n");
    while (n > 0 && (src[n - 1] == ' ' || src[n - 1] == '\t')) n--;
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

static void read_cpu_model(char *dst, size_t cap) {
    dst[0] = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10) == 0) {
                const char *colon = strchr(line, ':');
                if (colon) copy_trimmed(dst, cap, colon + 1);
                break;
            }
        }
        fclose(f);
    }
#ifdef MMF_X86
    if (!dst[0]) {  /* no /proc: the brand string from CPUID 0x80000002..4 */
        unsigned r[12] = {0}, max = __get_cpuid_max(0x80000000u, NULL);
        if (max >= 0x80000004u) {
            for (unsigned k = 0; k < 3; k++)
                __cpuid(0x80000002u + k, r[4 * k], r[4 * k + 1], r[4 * k + 2], r[4 * k + 3]);
            char brand[49];
            memcpy(brand, r, 48);
            brand[48] = 0;
            copy_trimmed(dst, cap, brand);
        }
    }
#endif
    if (!dst[0]) snprintf(dst, cap, "unknown");
}

#ifdef MMF_X86
static unsigned long long xgetbv0(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

/* A feature counts only if the CPU has it and the OS saves the registers it
 * uses (XCR0): a kernel or hypervisor may hide AVX-512 state. */
static void read_simd(mmf_machine_info *m) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, avx = (c >> 28) & 1;
    unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
    int ymm_ok = (xcr0 & 0x6) == 0x6;             /* SSE + AVX state */
    int zmm_ok = ymm_ok && (xcr0 & 0xe0) == 0xe0; /* opmask + ZMM state */
    int tile_ok = (xcr0 & 0x60000ull) == 0x60000ull;
    if (__get_cpuid_max(0, NULL) < 7) return;
    unsigned b7, c7, d7, a71, b71, c71, d71;
    __cpuid_count(7, 0, a, b7, c7, d7);
    __cpuid_count(7, 1, a71, b71, c71, d71);
    (void)b71; (void)c71; (void)d71;
    m->fma = ymm_ok && avx && fma;
    m->avx2 = ymm_ok && avx && ((b7 >> 5) & 1);
    m->avx512f = zmm_ok && ((b7 >> 16) & 1);
    m->avx512_vnni = zmm_ok && ((c7 >> 11) & 1);
    m->avx512_bf16 = zmm_ok && ((a71 >> 5) & 1);
    m->amx = tile_ok && ((d7 >> 24) & 1);         /* AMX-TILE */
}
#endif

static int affinity_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static void read_engine(char *dst, size_t cap) {
    const dnnl_version_t *v = dnnl_version();
    snprintf(dst, cap, "oneDNN %d.%d.%d, ISA %s", v->major, v->minor, v->patch, mmf_engine_isa_name());
}

void mmf_machine_info_get(mmf_machine_info *out) {
    memset(out, 0, sizeof *out);
    read_cpu_model(out->cpu_model, sizeof out->cpu_model);
#ifdef MMF_X86
    read_simd(out);
#endif
    out->n_cpus = affinity_cpus();
    read_engine(out->engine, sizeof out->engine);
}
