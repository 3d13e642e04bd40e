/* Finite-difference gradient check for any graph built on the tape.
 * `build` makes an output from the input leaves; the harness checks
 * d(sum(out * R))/d(inputs) (R fixed random weights, so every output element
 * counts) against central differences. The tape is re-seeded before every
 * build, so dropout masks repeat. Inputs should avoid kinks (ReLU at 0). */
#ifndef MMF_TRAIN_GRADCHECK_H
#define MMF_TRAIN_GRADCHECK_H
#include "train/tape.h"

typedef mmf_var (*mmf_gc_build)(mmf_tape *tp, const mmf_var *in, void *user);

typedef struct mmf_gc_input {
    float *data;                    /* values (perturbed in place, then restored) */
    int ndim;
    int64_t shape[MMF_T_MAXDIM];
    int no_grad;                    /* 1: a constant (not checked) */
} mmf_gc_input;

typedef struct mmf_gc_result {
    double worst;       /* max |analytic - numeric| / (atol + rtol |numeric|); <= 1 passes */
    int worst_input;
    int64_t worst_index;
    double analytic, numeric;
    int64_t checked;
} mmf_gc_result;

/* eps: finite-difference step (1e-2 suits float32 with O(1) inputs).
 * training: tape training mode (dropout). */
mmf_status mmf_gradcheck(mmf_gc_build build, void *user, mmf_gc_input *in, int n_in, float eps,
                         double atol, double rtol, int training, mmf_gc_result *res);
#endif
