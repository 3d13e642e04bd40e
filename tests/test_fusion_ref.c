/* Every fusion operator against PyTorch (tests/data/fusion_ref, made by
 * tests/ref/ref_fusion.py from the formulas in docs/fusion.md and
 * docs/direct.md, in float64). For each case: load the head the reference
 * wrote (its parameters, drawn by the reference), run the fixed batch with
 * masked modalities (every pattern of presence, the empty row included), and
 * compare the fused embedding, the logits, the loss (cross-entropy + the
 * operator's auxiliary term), the gradient of every parameter, and the loss
 * before each of 5 SGD steps (momentum 0.9). Every operator `mmfuse fusions`
 * lists must have a case; a parameter without a reference gradient fails.
 *
 * Tolerances (fp32 here, float64 there): outputs and loss |d| <= 2e-6 + 1e-5 |ref|;
 * gradients |d| <= 2e-5 * max|ref grad of that parameter| + 1e-4 |ref| + 1e-8
 * (small gradient elements are sums of cancelling terms); the loss curve
 * |d| <= 1e-5 + 1e-4 |ref| (five updates of drift). */
#include "test_util.h"
#include "fusion/head.h"
#include "train/optim.h"
#include <dirent.h>

#define TOL_OUT_ABS 2e-6
#define TOL_OUT_REL 1e-5
#define TOL_GRAD_SCALE 2e-5
#define TOL_GRAD_REL 1e-4
#define TOL_CURVE_ABS 1e-5
#define TOL_CURVE_REL 1e-4

static double worst_out, worst_grad, worst_curve;   /* fractions of the tolerance, reported */

static float *get(mmf_safetensors *st, const char *case_name, const char *name, int64_t want) {
    const mmf_tensor_info *t = mmf_st_find(st, name);
    if (!t || (want >= 0 && t->numel != want)) {
        CHECK_MSG(0, "%s: reference tensor %s %s", case_name, name, t ? "has another size" : "is missing");
        return NULL;
    }
    float *p = malloc((size_t)t->numel * sizeof(float) + 4);
    if (mmf_st_read_f32(st, name, p, (size_t)t->numel)) { free(p); return NULL; }
    return p;
}

/* |got - ref| <= abs + rel |ref| everywhere; tracks the worst fraction of the tolerance */
static void close_to(const char *case_name, const char *what, const float *got, const float *ref, int64_t n,
                     double abs, double rel, double *worst) {
    double w = 0.0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]) / (abs + rel * fabs((double)ref[i]));
        if (!(e <= w)) { w = isnan(e) ? INFINITY : e; at = i; }
    }
    if (w > *worst) *worst = w;
    CHECK_MSG(w <= 1.0, "%s: %s[%lld] = %.9g, reference %.9g (%.3g x tolerance)", case_name, what, (long long)at,
              n ? got[at] : 0.0f, n ? ref[at] : 0.0f, w);
}

static mmf_var loss_of(mmf_head *h, mmf_tape *tp, const fz_out *o, const int64_t *labels) {
    mmf_var L = mmf_t_cross_entropy(tp, o->out, labels, 0.0f, NULL);
    return o->aux >= 0 ? mmf_t_add(tp, L, o->aux) : L;
}

/* one case: returns 1 when it ran (whatever it found) */
static int run_case(const char *dir, const char *case_name, char *fusion, size_t fcap) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.ref.safetensors", dir, case_name);
    mmf_safetensors *st;
    if (mmf_st_open(path, &st)) { CHECK_MSG(0, "%s", mmf_last_error()); return 0; }
    const char *fu = mmf_st_metadata(st, "fusion"), *tr = mmf_st_metadata(st, "training");
    snprintf(fusion, fcap, "%s", fu ? fu : "");
    snprintf(path, sizeof path, "%s/%s.head.safetensors", dir, case_name);
    mmf_head *h;
    if (!fu || !tr || mmf_head_load(path, &h)) {
        CHECK_MSG(0, "%s: %s", case_name, fu && tr ? mmf_last_error() : "no fusion/training metadata");
        mmf_st_close(st);
        return 0;
    }
    CHECK_MSG(!strcmp(mmf_head_fusion(h), fu), "%s: head is %s, reference says %s", case_name, mmf_head_fusion(h), fu);
    int M = h->cfg.M, training = tr[0] == '1';
    const mmf_tensor_info *mt = mmf_st_find(st, "mask");
    int64_t B = mt && mt->ndim == 2 && mt->shape[1] == M ? mt->shape[0] : 0;
    CHECK_MSG(B > 0, "%s: no [B, %d] mask", case_name, M);
    float *xs[FZ_MAXM] = {0}, *maskf = get(st, case_name, "mask", B * M), *labf = get(st, case_name, "labels", B);
    uint8_t *mask = malloc((size_t)(B * M) + 1);
    int64_t *labels = malloc((size_t)B * sizeof(int64_t) + 8);
    int ok = B > 0 && maskf && labf;
    for (int64_t i = 0; ok && i < B * M; i++) mask[i] = maskf[i] != 0.0f;
    for (int64_t i = 0; ok && i < B; i++) labels[i] = (int64_t)labf[i];
    for (int m = 0; m < M && ok; m++) {
        char nm[128];
        snprintf(nm, sizeof nm, "x.%s", h->cfg.names[m]);
        ok = (xs[m] = get(st, case_name, nm, B * h->cfg.dims[m])) != NULL;
        /* compact bilinear: the reference's fixed hashes and signs replace the head's own draw */
        if (ok && h->sk_h[m]) {
            snprintf(nm, sizeof nm, "sketch.h.%s", h->cfg.names[m]);
            float *hh = get(st, case_name, nm, h->cfg.dims[m]);
            snprintf(nm, sizeof nm, "sketch.s.%s", h->cfg.names[m]);
            float *ss = get(st, case_name, nm, h->cfg.dims[m]);
            ok = hh && ss;
            for (int64_t i = 0; ok && i < h->cfg.dims[m]; i++) { h->sk_h[m][i] = (int32_t)hh[i]; h->sk_s[m][i] = ss[i]; }
            free(hh); free(ss);
        }
    }
    /* every parameter has a reference gradient, and nothing else is there */
    int n_grad = 0;
    for (size_t i = 0; i < mmf_st_count(st); i++) n_grad += !strncmp(mmf_st_at(st, i)->name, "grad.", 5);
    CHECK_MSG(n_grad == h->ps.n, "%s: %d reference gradients for %d parameters", case_name, n_grad, h->ps.n);

    mmf_tape *tp = mmf_tape_new(1, 1);
    mmf_tape_set_training(tp, training);
    mmf_optim_params op = mmf_optim_params_default();
    op.kind = MMF_OPT_SGD; op.lr = 0.1f; op.momentum = 0.9f; op.weight_decay = 0.0f; op.clip_norm = 0.0f;
    mmf_optim o;
    CHECK_OK(mmf_optim_init(&o, &h->ps, &op));
    float *curve = ok ? get(st, case_name, "loss.curve", 5) : NULL;
    ok = ok && curve;
    for (int step = 0; ok && step < 5; step++) {
        mmf_tape_reset(tp);
        mmf_params_zero_grad(&h->ps);
        fz_out out;
        mmf_status s = fz_head_forward(h, tp, B, xs, mask, labels, &out);
        mmf_var L = s ? -1 : loss_of(h, tp, &out, labels);
        if (!s) s = mmf_tape_status(tp);
        if (!s) s = mmf_tape_backward(tp, L);
        if (s) { CHECK_MSG(0, "%s step %d: %s", case_name, step, mmf_last_error()); break; }
        float lv = mmf_tape_var(tp, L)->v[0];
        if (step == 0) {
            const char *names[3] = {"out.emb", "out.logits", "loss"};
            mmf_var vars[3] = {out.emb, out.out, L};
            for (int k = 0; k < 3; k++) {
                mmf_tvar *t = mmf_tape_var(tp, vars[k]);
                float *ref = get(st, case_name, names[k], t->n);
                if (ref) close_to(case_name, names[k], t->v, ref, t->n, TOL_OUT_ABS, TOL_OUT_REL, &worst_out);
                free(ref);
            }
            for (int i = 0; i < h->ps.n; i++) {
                const mmf_param_info *p = &h->ps.p[i];
                char nm[160];
                snprintf(nm, sizeof nm, "grad.%s", p->name);
                float *ref = get(st, case_name, nm, p->n);
                if (!ref) continue;
                double mx = 0.0;
                for (int64_t j = 0; j < p->n; j++) mx = fmax(mx, fabs(ref[j]));
                close_to(case_name, nm, h->ps.grad + p->offset, ref, p->n, TOL_GRAD_SCALE * mx + 1e-8, TOL_GRAD_REL, &worst_grad);
                free(ref);
            }
        }
        close_to(case_name, "loss.curve", &lv, curve + step, 1, TOL_CURVE_ABS, TOL_CURVE_REL, &worst_curve);
        CHECK_OK(mmf_optim_step(&o, &h->ps));
    }
    printf("%-18s %-16s B=%lld M=%d params=%d training=%d: checked\n", case_name, fu, (long long)B, M, h->ps.n, training);
    free(curve);
    mmf_optim_free(&o);
    mmf_tape_free(tp);
    for (int m = 0; m < M; m++) free(xs[m]);
    free(maskf); free(labf); free(mask); free(labels);
    mmf_head_free(h);
    mmf_st_close(st);
    return 1;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(void) {
    char dir[512];
    t_src_path("tests/data/fusion_ref", dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d) { fprintf(stderr, "test_fusion_ref: cannot open %s\n", dir); return 1; }
    char *cases[256];
    int n = 0;
    const char *suffix = ".ref.safetensors";
    for (struct dirent *e; (e = readdir(d)) && n < 256;) {
        size_t len = strlen(e->d_name), sl = strlen(suffix);
        if (len > sl && !strcmp(e->d_name + len - sl, suffix)) cases[n++] = strndup(e->d_name, len - sl);
    }
    closedir(d);
    qsort(cases, (size_t)n, sizeof *cases, by_name);
    int covered[64] = {0};
    for (int i = 0; i < n; i++) {
        char fusion[64];
        if (!run_case(dir, cases[i], fusion, sizeof fusion)) { free(cases[i]); continue; }
        int known = 0;
        for (int k = 0; k < mmf_fusion_count() && k < 64; k++)
            if (!strcmp(mmf_fusion_name(k), fusion)) { covered[k]++; known = 1; }
        CHECK_MSG(known, "%s: reference for an unknown fusion \"%s\"", cases[i], fusion);
        free(cases[i]);
    }
    for (int k = 0; k < mmf_fusion_count(); k++)
        CHECK_MSG(k < 64 && covered[k], "fusion %s (listed by mmfuse fusions) has no reference in %s: "
                  "add it to tests/ref/ref_fusion.py and run make refs", mmf_fusion_name(k), dir);
    printf("worst fraction of the tolerance: outputs %.3f, gradients %.3f, loss curve %.3f\n", worst_out, worst_grad, worst_curve);
    return t_done("test_fusion_ref");
}
