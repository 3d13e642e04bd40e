#include "core/gemm_int8.h"
#include "core/ops.h"
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <string.h>

int mmf_int8_supported(void) {
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return isa == dnnl_cpu_isa_avx512_core_vnni || isa == dnnl_cpu_isa_avx512_core_bf16 ||
           isa == dnnl_cpu_isa_avx512_core_amx || isa == dnnl_cpu_isa_avx2_vnni;
}

const char *mmf_engine_isa_name(void) {
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "other";
    }
}

static size_t up64(size_t n) { return (n + 63) & ~(size_t)63; }

size_t mmf_int8_packed_bytes(int N, int K) { return up64((size_t)N * sizeof(float)) + up64((size_t)N * (size_t)K); }

void mmf_int8_pack(void *dst, const float *W, int N, int K) {
    float *scale = dst;
    int8_t *q = (int8_t *)dst + up64((size_t)N * sizeof(float));
    for (int n = 0; n < N; n++) {
        const float *w = W + (size_t)n * K;
        float amax = 0.0f;
        for (int k = 0; k < K; k++) amax = fmaxf(amax, fabsf(w[k]));
        float s = amax > 0.0f ? amax / 127.0f : 1.0f, inv = 1.0f / s;
        scale[n] = s;
        for (int k = 0; k < K; k++) {
            float v = nearbyintf(w[k] * inv);
            q[(size_t)n * K + k] = (int8_t)(v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v);
        }
    }
}

size_t mmf_int8_scratch_bytes(int64_t rows, int Kmax, int Nmax) {
    return up64((size_t)rows * (size_t)Kmax) + up64((size_t)rows * sizeof(float)) +
           up64((size_t)rows * (size_t)Nmax * sizeof(int32_t)) + 64;
}

int mmf_int8_linear(float *y, const float *x, const void *Wp, const float *bias, int64_t rows, int K, int N,
                    int accumulate, void *scratch, int nt) {
    if (rows <= 0) return 0;
    if (nt < 1) nt = 1;
    unsigned char *p = (unsigned char *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    uint8_t *a = p;
    float *ascale = (float *)(p + up64((size_t)rows * K));
    int32_t *c = (int32_t *)((unsigned char *)ascale + up64((size_t)rows * sizeof(float)));
    const float *wscale = Wp;
    const int8_t *wq = (const int8_t *)Wp + up64((size_t)N * sizeof(float));
    /* per-row symmetric quantisation: q = round(x / s), s = max|x| / 127 */
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && rows * K >= 65536)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * K;
        float amax = 0.0f;
        for (int k = 0; k < K; k++) amax = fmaxf(amax, fabsf(xr[k]));
        float s = amax > 0.0f ? amax / 127.0f : 1.0f, inv = 1.0f / s;
        ascale[r] = s;
        uint8_t *ar = a + r * K;
        for (int k = 0; k < K; k++) {
            float v = nearbyintf(xr[k] * inv);
            v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
            ar[k] = (uint8_t)((int)v + 128);
        }
    }
    mmf_threads_use(nt);
    const int32_t co = 0;
    /* C = (A - 128) (B - 0)^T: the A offset undoes the +128 of the storage */
    if (dnnl_gemm_u8s8s32('N', 'T', 'F', rows, N, K, 1.0f, a, K, 128, wq, K, 0, 0.0f, c, N, &co) != dnnl_success)
        return -1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && rows * N >= 65536)
    for (int64_t r = 0; r < rows; r++) {
        const int32_t *cr = c + r * N;
        float *yr = y + r * N, s = ascale[r];
        for (int n = 0; n < N; n++) {
            float v = (float)cr[n] * s * wscale[n] + (bias ? bias[n] : 0.0f);
            yr[n] = accumulate ? yr[n] + v : v;
        }
    }
    return 0;
}
