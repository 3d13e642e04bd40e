/* Whether bf16 pays on this CPU: AVX512-BF16 doubles the multiply-adds per
 * instruction (vdpbf16ps: 32 products into 16 fp32 sums), but only where the
 * core issues it as often as an fp32 FMA. AMD Zen 4 / Zen 5 do (bf16 GEMMs run
 * at about twice the fp32 rate); Intel Xeons without AMX issue it at half the
 * FMA rate, so there bf16 runs no faster than fp32 and the conversions make
 * it 1.5x slower end to end. So `auto` asks the core: a short timing of both
 * instructions, measured once per process. */
#ifndef MMF_CORE_BF16_PROBE_H
#define MMF_CORE_BF16_PROBE_H
#include "mmfuse.h"   /* mmf_bf16_speedup: the measured rate ratio */

/* 1 when auto should pick bf16: a measured speed-up >= MMF_BF16_AUTO_SPEEDUP. */
int mmf_bf16_pays(void);
#endif
