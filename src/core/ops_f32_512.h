/* AVX-512 fp32 softmax and activations, picked at run time (ops_f32_512.c). */
#ifndef MMF_CORE_OPS_F32_512_H
#define MMF_CORE_OPS_F32_512_H
#include <stdint.h>

/* 1 when the CPU has AVX-512 F/BW/VL (these loops' instructions). */
int mmf_cpu_avx512(void);
/* as mmf_v_softmax_row (vmath.h); call only when mmf_cpu_avx512() */
void mmf_softmax_row_512(float *row, int cols, int visible, const uint8_t *keep);
/* x = act(x) for act in MMF_EPI_* (vmath512.h); call only when mmf_cpu_avx512() */
void mmf_act_512(int act, float *x, int64_t n);
#endif
