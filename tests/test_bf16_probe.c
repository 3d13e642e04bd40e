/* The bf16 rate probe behind --precision auto (core/bf16_probe.c): 0 exactly
 * where the CPU has no AVX512-BF16; else a ratio a real core can have (one
 * vdpbf16ps does twice an FMA's multiply-adds, and issues at most as often,
 * so above 0 and at most about 2), measured once per process (the same value
 * twice), and the decision auto takes follows the public threshold. Which
 * side of the threshold this machine lands on is its own business: `mmfuse
 * info` prints it. */
#include "test_util.h"
#include "core/bf16_probe.h"
#include "core/gemm_bf16.h"

int main(void) {
    double r = mmf_bf16_speedup();
    printf("bf16 multiply-adds at %.3fx the fp32 FMA rate (AVX512-BF16 %s): auto runs %s\n", r,
           mmf_bf16_gemm_supported() ? "yes" : "no", mmf_bf16_pays() ? "bf16" : "fp32");
    if (!mmf_bf16_gemm_supported()) CHECK_MSG(r == 0.0 && !mmf_bf16_pays(), "no AVX512-BF16 but a speed-up of %g", r);
    else CHECK_MSG(r > 0.1 && r < 2.6, "speed-up %g is not a rate a core can have", r);
    CHECK(mmf_bf16_speedup() == r);
    CHECK(mmf_bf16_pays() == (r >= MMF_BF16_AUTO_SPEEDUP));
    return t_done("test_bf16_probe");
}
