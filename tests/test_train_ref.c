/* The training engine against PyTorch (tests/data/train/ref.safetensors, made by
 * tests/ref/ref_train.py): GRU/LSTM cells, layernorm, label-smoothed cross-entropy
 * and its gradient, and 5 steps of SGD / Adam / AdamW (+ clipping, cosine warmup). */
#include "test_util.h"
#include "train/optim.h"

static mmf_safetensors *st;
static float *get(const char *name, int64_t *n) {
    const mmf_tensor_info *t = mmf_st_find(st, name);
    if (!t) { fprintf(stderr, "missing %s\n", name); exit(1); }
    float *p = malloc((size_t)t->numel * sizeof(float));
    mmf_st_read_f32(st, name, p, (size_t)t->numel);
    if (n) *n = t->numel;
    return p;
}
static mmf_var cst(mmf_tape *tp, const char *name, int ndim, int64_t d0, int64_t d1) {
    float *p = get(name, NULL);
    mmf_var v = mmf_t_const(tp, p, ndim, (int64_t[]){d0, d1});
    free(p);
    return v;
}
static void expect(mmf_tape *tp, mmf_var v, const char *name, double tol) {
    int64_t n;
    float *ref = get(name, &n);
    CHECK(mmf_tape_var(tp, v) && mmf_tape_var(tp, v)->n == n);
    if (mmf_tape_var(tp, v)) t_allclose(mmf_tape_var(tp, v)->v, ref, (size_t)n, tol, tol, name);
    free(ref);
}

static void run_opt(const char *name, mmf_optim_kind kind, float lr, float wd, float clip, int cosine) {
    mmf_params ps;
    mmf_params_init(&ps);
    int iw = mmf_params_add(&ps, "w", 2, (int64_t[]){2, 3}, MMF_INIT_ZERO, 0);
    int ib = mmf_params_add(&ps, "b", 1, (int64_t[]){3}, MMF_INIT_ZERO, 0);
    mmf_rng r;
    mmf_rng_seed(&r, 1);
    CHECK_OK(mmf_params_alloc(&ps, &r));
    float *w0 = get("opt.w0", NULL), *b0 = get("opt.b0", NULL), *A = get("opt.A", NULL), *t = get("opt.t", NULL);
    memcpy(mmf_params_value(&ps, iw), w0, 6 * sizeof(float));
    memcpy(mmf_params_value(&ps, ib), b0, 3 * sizeof(float));
    mmf_optim_params op = mmf_optim_params_default();
    op.kind = kind; op.lr = lr; op.weight_decay = wd; op.clip_norm = clip;
    if (cosine) { op.sched = MMF_SCHED_COSINE; op.warmup_steps = 2; op.total_steps = 5; }
    mmf_optim o;
    CHECK_OK(mmf_optim_init(&o, &ps, &op));
    for (int s = 0; s < 5; s++) {
        float *w = mmf_params_value(&ps, iw), *b = mmf_params_value(&ps, ib);
        mmf_params_zero_grad(&ps);   /* the step left them stale; gradients written by hand follow a zeroing */
        for (int j = 0; j < 6; j++) ps.grad[ps.p[iw].offset + j] = A[j] * (w[j] - t[j]);
        for (int j = 0; j < 3; j++) ps.grad[ps.p[ib].offset + j] = b[j] - 1.0f;
        CHECK_OK(mmf_optim_step(&o, &ps));
    }
    char key[64];
    snprintf(key, sizeof key, "opt.%s.w", name);
    float *rw = get(key, NULL);
    t_allclose(mmf_params_value(&ps, iw), rw, 6, 1e-5, 1e-4, key);
    snprintf(key, sizeof key, "opt.%s.b", name);
    float *rb = get(key, NULL);
    t_allclose(mmf_params_value(&ps, ib), rb, 3, 1e-5, 1e-4, key);
    /* a NaN gradient is refused with the step named, parameters untouched */
    float keep = mmf_params_value(&ps, iw)[0];
    mmf_params_zero_grad(&ps);
    ps.grad[ps.p[ib].offset + 1] = NAN;
    CHECK(mmf_optim_step(&o, &ps) == MMF_ERR_NUMERIC);
    CHECK(strstr(mmf_last_error(), "step 6") && strstr(mmf_last_error(), "\"b\""));
    CHECK(mmf_params_value(&ps, iw)[0] == keep);
    free(w0); free(b0); free(A); free(t); free(rw); free(rb);
    mmf_optim_free(&o);
    mmf_params_free(&ps);
}

int main(void) {
    char path[512];
    if (mmf_st_open(t_src_path("tests/data/train/ref.safetensors", path, sizeof path), &st)) {
        fprintf(stderr, "%s\n", mmf_last_error());
        return 1;
    }
    mmf_tape *tp = mmf_tape_new(1, 1);
    int B = 3, I = 4, H = 5;
    mmf_var x = cst(tp, "x", 2, B, I), h = cst(tp, "h", 2, B, H), c = cst(tp, "c", 2, B, H);
    mmf_var g = mmf_t_gru_cell(tp, x, h, cst(tp, "gru.weight_ih", 2, 3 * H, I), cst(tp, "gru.weight_hh", 2, 3 * H, H),
                               cst(tp, "gru.bias_ih", 1, 3 * H, 0), cst(tp, "gru.bias_hh", 1, 3 * H, 0));
    expect(tp, g, "gru.out", 1e-5);
    mmf_var ho, co;
    mmf_t_lstm_cell(tp, x, h, c, cst(tp, "lstm.weight_ih", 2, 4 * H, I), cst(tp, "lstm.weight_hh", 2, 4 * H, H),
                    cst(tp, "lstm.bias_ih", 1, 4 * H, 0), cst(tp, "lstm.bias_hh", 1, 4 * H, 0), &ho, &co);
    expect(tp, ho, "lstm.h", 1e-5);
    expect(tp, co, "lstm.c", 1e-5);
    expect(tp, mmf_t_layernorm(tp, h, cst(tp, "ln.w", 1, H, 0), cst(tp, "ln.b", 1, H, 0), 1e-5f), "ln.out", 1e-5);
    float *lg = get("ce.logits", NULL), *lf = get("ce.labels", NULL);
    int64_t lab[4];
    for (int i = 0; i < 4; i++) lab[i] = (int64_t)lf[i];
    mmf_var L = mmf_t_leaf(tp, lg, 2, (int64_t[]){4, 6});
    mmf_var loss = mmf_t_cross_entropy(tp, L, lab, 0.15f, NULL);
    expect(tp, loss, "ce.loss", 1e-6);
    CHECK_OK(mmf_tape_backward(tp, loss));
    float *gr = get("ce.grad", NULL);
    t_allclose(mmf_tape_var(tp, L)->g, gr, 24, 1e-6, 1e-5, "ce.grad");
    free(lg); free(lf); free(gr);
    mmf_tape_free(tp);

    run_opt("sgd", MMF_OPT_SGD, 0.1f, 0.05f, 0, 0);
    run_opt("adam", MMF_OPT_ADAM, 0.05f, 0.05f, 0, 0);
    run_opt("adamw", MMF_OPT_ADAMW, 0.05f, 0.1f, 0, 0);
    run_opt("adamw_clip_cos", MMF_OPT_ADAMW, 0.05f, 0.1f, 0.5f, 1);
    mmf_st_close(st);
    return t_done("test_train_ref");
}
