/* Shared helpers for tests/test_grad_*.c: random inputs and one-line gradchecks. */
#ifndef MMF_GRAD_UTIL_H
#define MMF_GRAD_UTIL_H
#include "test_util.h"
#include "train/gradcheck.h"

static mmf_rng g_rng;

/* a gradcheck input of the given shape, values U(lo, hi) with |x| >= away (kinks) */
static mmf_gc_input gin(int ndim, int64_t d0, int64_t d1, int64_t d2, float lo, float hi, float away) {
    mmf_gc_input g = {0};
    g.ndim = ndim;
    int64_t dd[3] = {d0, d1, d2}, n = 1;
    for (int i = 0; i < ndim; i++) { g.shape[i] = dd[i]; n *= dd[i]; }
    g.data = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        float v;
        do v = lo + (hi - lo) * mmf_rng_uniform(&g_rng); while (fabsf(v) < away);
        g.data[i] = v;
    }
    return g;
}

#define GC(name, fn, user, inputs, n, training) do { \
    mmf_gc_result r_; \
    mmf_status s_ = mmf_gradcheck(fn, user, inputs, n, 1e-2f, 2e-3, 2e-2, training, &r_); \
    t_checks++; \
    if (s_ || !(r_.worst <= 1.0) || r_.checked == 0) { t_failures++; \
        fprintf(stderr, "%s:%d: gradcheck %s failed: status %s (%s), worst %.3g at input %d [%lld]: analytic %.6g numeric %.6g\n", \
                __FILE__, __LINE__, name, mmf_status_str(s_), mmf_last_error(), r_.worst, r_.worst_input, \
                (long long)r_.worst_index, r_.analytic, r_.numeric); } \
    else printf("gradcheck %-22s ok: %lld partials, worst %.3f of tolerance\n", name, (long long)r_.checked, r_.worst); \
    for (int k_ = 0; k_ < (n); k_++) free((inputs)[k_].data); \
} while (0)
#endif
