/* Bimodal deep autoencoder on a synthetic bimodal set made here: 4 classes, a
 * shared latent z = mu_class + noise (4-D); modality "a" = A z + noise (20-D),
 * modality "b" = tanh(B z) + noise (30-D). After unsupervised training (plus
 * the linear classifier on the code), with one modality removed at test time:
 *   - the linear classifier on the code inferred from the other modality alone
 *     beats chance (0.25) by at least 0.35;
 *   - the decoder's reconstruction of the missing modality has a lower mean
 *     squared error than predicting the training mean (at most 0.7 of it).
 * Also: the head round-trips through mmf_head_save/load and mmf_head_fuse, and
 * the op trains under the supervised trainer (reconstruction as aux loss). */
#include "test_util.h"
#include "fusion/head.h"
#include "fusion/bimodal_ae.h"
#include <sys/stat.h>
#include <unistd.h>

#define DA 20
#define DB 30
#define K 4

static float A[DA][4], Bm[DB][4], MU[K][4];

static void gen(int64_t n, uint64_t seed, float *xa, float *xb, int64_t *y) {
    mmf_rng r;
    mmf_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++) {
        int c = (int)(i % K);
        float z[4];
        for (int k = 0; k < 4; k++) z[k] = MU[c][k] + 0.35f * mmf_rng_normal(&r);
        for (int d = 0; d < DA; d++) {
            float v = 0;
            for (int k = 0; k < 4; k++) v += A[d][k] * z[k];
            xa[i * DA + d] = v + 0.1f * mmf_rng_normal(&r);
        }
        for (int d = 0; d < DB; d++) {
            float v = 0;
            for (int k = 0; k < 4; k++) v += Bm[d][k] * z[k];
            xb[i * DB + d] = tanhf(v) + 0.1f * mmf_rng_normal(&r);
        }
        y[i] = c;
    }
}

static mmf_embfile *write_set(const char *path, int64_t n, uint64_t seed) {
    float *xa = malloc(sizeof(float) * n * DA), *xb = malloc(sizeof(float) * n * DB);
    int64_t *y = malloc(sizeof(int64_t) * n);
    gen(n, seed, xa, xb, y);
    const char *names[2] = {"a", "b"};
    int64_t dims[2] = {DA, DB};
    const float *data[2] = {xa, xb};
    mmf_embfile_spec sp = {.n_rows = n, .n_modalities = 2, .names = names, .dims = dims, .data = data, .labels = y};
    CHECK_OK(mmf_embfile_write(path, &sp));
    free(xa); free(xb); free(y);
    mmf_embfile *f = NULL;
    CHECK_OK(mmf_embfile_open(path, &f));
    return f;
}

/* reconstruction MSE (standardised space) of modality `miss` from the other one
 * alone, and the MSE of predicting the training mean (0 after standardising) */
static void recon_error(mmf_head *h, const mmf_embfile *f, int miss, double *mse, double *mse_mean) {
    int64_t N = mmf_embfile_rows(f);
    mmf_tape *tp = mmf_tape_new(1, 1);
    fz_ctx ci = {.tp = tp, .h = h, .B = N, .logits = -1, .aux_loss = -1};
    fz_ctx ct = ci;
    uint8_t *mi = malloc((size_t)N * 2), *mt = malloc((size_t)N * 2);
    float *pi = malloc(sizeof(float) * N * 2), *pt = malloc(sizeof(float) * N * 2);
    for (int64_t i = 0; i < N; i++)
        for (int m = 0; m < 2; m++) {
            mi[i * 2 + m] = m != miss;
            mt[i * 2 + m] = 1;
            pi[m * N + i] = m != miss;
            pt[m * N + i] = 1;
        }
    ci.mask = mi;
    ct.mask = mt;
    for (int m = 0; m < 2; m++) {
        ci.x[m] = ct.x[m] = mmf_t_const(tp, mmf_embfile_data(f, m), 2, (int64_t[]){N, mmf_embfile_dim(f, m)});
        ci.m[m] = mmf_t_const(tp, pi + m * N, 2, (int64_t[]){N, 1});
        ct.m[m] = mmf_t_const(tp, pt + m * N, 2, (int64_t[]){N, 1});
    }
    mmf_var z[2];
    mmf_var code = fz_bimodal_ae_code(&ci, z);
    mmf_var target = fz_bimodal_ae_input(&ct, miss);
    const char *nm = miss ? "b" : "a";
    char d[32], r[32];
    snprintf(d, sizeof d, "f.dec.%s", nm);
    snprintf(r, sizeof r, "f.rec.%s", nm);
    mmf_var rec = fz_lin(&ci, r, mmf_t_relu(tp, fz_lin(&ci, d, code)));
    CHECK_OK(mmf_tape_status(tp));
    const float *R = mmf_tape_var(tp, rec)->v, *T = mmf_tape_var(tp, target)->v;
    int64_t n = mmf_tape_var(tp, rec)->n;
    double e = 0, e0 = 0;
    for (int64_t i = 0; i < n; i++) { e += (R[i] - T[i]) * (R[i] - T[i]); e0 += T[i] * T[i]; }
    *mse = e / n;
    *mse_mean = e0 / n;
    free(mi); free(mt); free(pi); free(pt);
    mmf_tape_free(tp);
}

int main(void) {
    mmf_rng r;
    mmf_rng_seed(&r, 77);
    for (int d = 0; d < DA; d++) for (int k = 0; k < 4; k++) A[d][k] = mmf_rng_normal(&r) * 0.7f;
    for (int d = 0; d < DB; d++) for (int k = 0; k < 4; k++) Bm[d][k] = mmf_rng_normal(&r) * 0.7f;
    for (int c = 0; c < K; c++) for (int k = 0; k < 4; k++) MU[c][k] = mmf_rng_normal(&r);
    char dir[128], ptr[200], pte[200], ph[200], pf[200];
    snprintf(dir, sizeof dir, "/tmp/mmf_direct_ae_%d", (int)getpid());
    mkdir(dir, 0777);
    snprintf(ptr, sizeof ptr, "%s/train.safetensors", dir);
    snprintf(pte, sizeof pte, "%s/test.safetensors", dir);
    snprintf(ph, sizeof ph, "%s/head.safetensors", dir);
    snprintf(pf, sizeof pf, "%s/fused.safetensors", dir);
    mmf_embfile *tr = write_set(ptr, 800, 1), *te = write_set(pte, 400, 2);
    mmf_direct_params p = mmf_direct_params_default();
    p.hidden = 32;
    p.epochs = 40;
    p.probe_epochs = 60;
    mmf_head *h = NULL;
    CHECK_OK(mmf_direct_train(tr, te, &p, &h));
    if (!h) return 1;
    CHECK(strcmp(mmf_head_fusion(h), "bimodal-ae") == 0 && mmf_head_emb_dim(h) == 32);
    mmf_eval_params eo = mmf_eval_params_default();
    mmf_eval_result full, only_a, only_b;
    CHECK_OK(mmf_head_eval(h, te, &eo, &full));
    eo.drop = "b";
    CHECK_OK(mmf_head_eval(h, te, &eo, &only_a));
    eo.drop = "a";
    CHECK_OK(mmf_head_eval(h, te, &eo, &only_b));
    printf("linear classifier on the shared code: both %.3f, a only %.3f, b only %.3f (chance 0.25, required >= 0.60)\n",
           full.accuracy, only_a.accuracy, only_b.accuracy);
    CHECK(only_a.accuracy >= 0.60 && only_b.accuracy >= 0.60 && full.accuracy >= 0.60);
    double e, e0;
    recon_error(h, te, 1, &e, &e0);
    printf("reconstruct b from a alone: MSE %.3f vs mean predictor %.3f (ratio %.2f, required <= 0.7)\n", e, e0, e / e0);
    CHECK(e <= 0.7 * e0);
    recon_error(h, te, 0, &e, &e0);
    printf("reconstruct a from b alone: MSE %.3f vs mean predictor %.3f (ratio %.2f, required <= 0.7)\n", e, e0, e / e0);
    CHECK(e <= 0.7 * e0);

    /* save / load / fuse as any head */
    CHECK_OK(mmf_head_save(h, ph));
    mmf_head *h2 = NULL;
    CHECK_OK(mmf_head_load(ph, &h2));
    if (h2) {
        mmf_eval_result again;
        eo.drop = "b";
        CHECK_OK(mmf_head_eval(h2, te, &eo, &again));
        CHECK_NEAR(again.accuracy, only_a.accuracy, 1e-9);
        CHECK_OK(mmf_head_fuse(h2, te, pf, 1));
        mmf_embfile *fu = NULL;
        CHECK_OK(mmf_embfile_open(pf, &fu));
        if (fu) CHECK(mmf_embfile_dim(fu, 0) == 32 && mmf_embfile_rows(fu) == 400);
        mmf_embfile_close(fu);
        mmf_head_free(h2);
    }
    /* supervised training through the fusion trainer (aux reconstruction loss) */
    mmf_train_params tp = mmf_train_params_default();
    tp.fusion = "bimodal-ae";
    tp.hidden = 16;
    tp.epochs = 8;
    mmf_head *h3 = NULL;
    CHECK_OK(mmf_head_train(tr, NULL, &tp, &h3));
    if (h3) {
        mmf_eval_result r3;
        eo.drop = NULL;
        CHECK_OK(mmf_head_eval(h3, te, &eo, &r3));
        printf("supervised bimodal-ae head: accuracy %.3f\n", r3.accuracy);
        CHECK(r3.accuracy >= 0.6);
    }
    mmf_head_free(h3);
    /* bad input: one modality only */
    {
        const char *names[1] = {"a"};
        int64_t dims[1] = {2};
        float x[4] = {1, 2, 3, 4};
        const float *data[1] = {x};
        char p1[200];
        snprintf(p1, sizeof p1, "%s/one.safetensors", dir);
        mmf_embfile_spec sp = {.n_rows = 2, .n_modalities = 1, .names = names, .dims = dims, .data = data};
        CHECK_OK(mmf_embfile_write(p1, &sp));
        mmf_embfile *one = NULL;
        CHECK_OK(mmf_embfile_open(p1, &one));
        mmf_head *bad = NULL;
        CHECK(mmf_direct_train(one, NULL, &p, &bad) == MMF_ERR_FORMAT && bad == NULL);
        CHECK(strstr(mmf_last_error(), "one.safetensors") != NULL);
        mmf_embfile_close(one);
    }
    mmf_head_free(h);
    mmf_embfile_close(tr);
    mmf_embfile_close(te);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) {}
    printf("%d checks, %d failures\n", t_checks, t_failures);
    return t_failures ? 1 : 0;
}
