#include <stdio.h>
#include <stdlib.h>
#include "cli.h"
#include "cli_lines.h"

static const char help[] =
    "Usage: mmfuse info [--json]\n\n"
    "Prints the machine this process runs on: the CPU model, the SIMD features\n"
    "mmfuse's kernels use (counted only where the OS enables them), the cores this\n"
    "process may use, the compute engine and the instruction set it picked, and\n"
    "the environment variables that change that choice, and how fast bf16\n"
    "multiply-adds run against fp32 on this core (what --precision auto goes by).\n"
    "Put it at the top of a bug report or a benchmark: the last bits of a GEMM\n"
    "depend on the kernel.\n\n"
    "Options:\n"
    "  --json    one JSON object instead of lines\n\n"
    "Example:\n"
    "  mmfuse info\n";

static const char *const env_names[] = {"ONEDNN_MAX_CPU_ISA", "ONEDNN_CPU_ISA_HINTS", "OMP_NUM_THREADS", "MMFUSE_PRECISION", "MMFUSE_THREADS"};
enum { N_ENV = sizeof env_names / sizeof env_names[0] };

static void json_str(const char *s) { cli_json_string(stdout, s); }

static int run(int argc, char **argv) {
    int as_json = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--json")) as_json = 1;
        else return cli_usage("info", "unknown argument %s", argv[i]);
    }
    mmf_machine_info m;
    mmf_machine_info_get(&m);
    const double bf16 = mmf_bf16_speedup();
    if (as_json) {
        printf("{\"version\": "); json_str(MMFUSE_VERSION);
        printf(", \"cpu\": "); json_str(m.cpu_model);
        printf(", \"cpus\": %d, \"avx2\": %d, \"fma\": %d, \"avx512f\": %d, \"avx512_bf16\": %d, "
               "\"avx512_vnni\": %d, \"amx\": %d, \"engine\": ",
               m.n_cpus, m.avx2, m.fma, m.avx512f, m.avx512_bf16, m.avx512_vnni, m.amx);
        json_str(m.engine);
        printf(", \"bf16_speedup\": %.2f, \"auto_precision\": \"%s\"", bf16, bf16 >= MMF_BF16_AUTO_SPEEDUP ? "bf16" : "fp32");
        for (int k = 0; k < N_ENV; k++) {
            const char *v = getenv(env_names[k]);
            printf(", \"%s\": ", env_names[k]);
            if (v) json_str(v); else printf("null");
        }
        printf("}\n");
        return MMF_EXIT_OK;
    }
    printf("mmfuse   %s\n", MMFUSE_VERSION);
    printf("cpu      %s\n", m.cpu_model);
    printf("cpus     %d\n", m.n_cpus);
    printf("simd     avx2=%s fma=%s avx512f=%s avx512_bf16=%s avx512_vnni=%s amx=%s\n",
           m.avx2 ? "yes" : "no", m.fma ? "yes" : "no", m.avx512f ? "yes" : "no",
           m.avx512_bf16 ? "yes" : "no", m.avx512_vnni ? "yes" : "no", m.amx ? "yes" : "no");
    printf("engine   %s\n", m.engine);
    if (bf16 > 0)
        printf("bf16     multiply-adds at %.2fx the fp32 FMA rate on this core: --precision auto (the default) runs %s\n", bf16,
               bf16 >= MMF_BF16_AUTO_SPEEDUP ? "bf16" : "fp32 (bf16 would be slower here)");
    else printf("bf16     no AVX512-BF16: --precision auto (the default) runs fp32\n");
    for (int k = 0; k < N_ENV; k++) {
        const char *v = getenv(env_names[k]);
        printf("env      %s=%s\n", env_names[k], v ? v : "(unset)");
    }
    return MMF_EXIT_OK;
}

const mmf_cli_command mmf_cmd_info = {"info", "the CPU, SIMD features, cores and engine kernels this machine gives mmfuse", run, help};
