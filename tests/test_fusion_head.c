/* Fusion heads: every operator trains a little, reports its costs, saves and
 * reloads to bit-identical outputs (same code path); training is deterministic for a seed and
 * thread count; bad inputs fail with the file and the problem named. */
#include "synth.h"
#include "train/tape.h"

static char dir[256];

static mmf_train_params quick(const char *fusion) {
    mmf_train_params p = mmf_train_params_default();
    p.fusion = fusion;
    p.hidden = 16;
    p.epochs = 2;
    p.batch = 16;
    p.sketch = 64;
    p.proj = 4;
    p.heads = 2;
    p.seed = 3;
    return p;
}

static float *predict(mmf_head *h, mmf_embfile *f, int nt) {
    int64_t N = mmf_embfile_rows(f);
    float *o = calloc((size_t)(N * (mmf_head_out_dim(h) + mmf_head_emb_dim(h))), sizeof(float));
    mmf_eval_params eo = mmf_eval_params_default();
    eo.n_threads = nt;
    eo.batch = 7; /* odd batch: partial batches too */
    CHECK_OK(mmf_head_predict(h, f, &eo, o + N * mmf_head_out_dim(h), o));
    return o;
}

int main(void) {
    t_tmpdir(dir, sizeof dir);
    /* partial presence: every operator sees absent modalities while training */
    mmf_embfile *tr = synth_open(dir, "tr", SYN_XOR, 96, 6, 1, 0.7f, -1);
    mmf_embfile *te = synth_open(dir, "te", SYN_XOR, 40, 6, 2, 0.7f, -1);
    char path[600];
    for (int i = 0; i < mmf_fusion_count(); i++) {
        const char *name = mmf_fusion_name(i);
        /* xmodal reads raw pixels and word ids, not embeddings: its own tests cover it */
        if (!strcmp(name, "xmodal")) continue;
        mmf_train_params p = quick(name);
        mmf_head *h = NULL;
        mmf_status s = mmf_head_train(tr, te, &p, &h);
        CHECK_MSG(s == MMF_OK, "%s: %s", name, mmf_last_error());
        if (s) continue;
        CHECK(!strcmp(mmf_head_fusion(h), name));
        CHECK(mmf_head_param_count(h) > 0 && mmf_head_flops(h) > 0);
        int64_t N = mmf_embfile_rows(te), n = N * (mmf_head_out_dim(h) + mmf_head_emb_dim(h));
        float *a = predict(h, te, 1);
        int finite = 1;
        for (int64_t k = 0; k < n; k++) finite &= isfinite(a[k]) != 0;
        CHECK_MSG(finite, "%s: non-finite outputs", name);
        snprintf(path, sizeof path, "%s/%s.head", dir, name);
        CHECK_OK(mmf_head_save(h, path));
        mmf_head *h2 = NULL;
        CHECK_OK(mmf_head_load(path, &h2));
        if (h2) {
            float *b = predict(h2, te, 1);
            CHECK_MSG(!memcmp(a, b, (size_t)n * sizeof(float)), "%s: reloaded head gives other outputs", name);
            CHECK(mmf_head_param_count(h2) == mmf_head_param_count(h));
            /* the reloaded head names the train file's modalities with their sizes */
            CHECK(mmf_head_n_modalities(h2) == mmf_embfile_n_modalities(tr));
            for (int m = 0; m < mmf_embfile_n_modalities(tr); m++) {
                CHECK(mmf_head_modality(h2, m) && !strcmp(mmf_head_modality(h2, m), mmf_embfile_modality(tr, m)));
                CHECK(mmf_head_dim(h2, m) == mmf_embfile_dim(tr, m));
            }
            CHECK(!mmf_head_modality(h2, -1) && !mmf_head_modality(h2, mmf_head_n_modalities(h2)) && mmf_head_dim(h2, 99) == 0);
            free(b);
            mmf_head_free(h2);
        }
        /* same seed, same threads: the same head */
        mmf_head *h3 = NULL;
        CHECK_OK(mmf_head_train(tr, te, &p, &h3));
        if (h3) {
            float *c = predict(h3, te, 1);
            CHECK_MSG(!memcmp(a, c, (size_t)n * sizeof(float)), "%s: training is not deterministic", name);
            free(c);
            mmf_head_free(h3);
        }
        char desc[512];
        printf("%-17s %s\n", name, mmf_head_describe(h, desc, sizeof desc));
        free(a);
        mmf_head_free(h);
    }

    /* 2 threads: deterministic run to run */
    {
        mmf_train_params p = quick("transformer");
        p.n_threads = 2;
        mmf_head *h1 = NULL, *h2 = NULL;
        CHECK_OK(mmf_head_train(tr, te, &p, &h1));
        CHECK_OK(mmf_head_train(tr, te, &p, &h2));
        if (h1 && h2) {
            int64_t n = mmf_embfile_rows(te) * (mmf_head_out_dim(h1) + mmf_head_emb_dim(h1));
            float *a = predict(h1, te, 2), *b = predict(h2, te, 2);
            CHECK_MSG(!memcmp(a, b, (size_t)n * sizeof(float)), "2 threads: not deterministic");
            free(a); free(b);
        }
        mmf_head_free(h1); mmf_head_free(h2);
    }

    /* multilabel and align tasks */
    {
        int64_t N = 200;
        int D = 6;
        mmf_rng r;
        mmf_rng_seed(&r, 4);
        float *t = malloc(sizeof(float) * N * D), *im = malloc(sizeof(float) * N * D), *mh = malloc(sizeof(float) * N * 3);
        for (int64_t i = 0; i < N; i++) {
            for (int d = 0; d < D; d++) t[i * D + d] = mmf_rng_normal(&r);
            for (int d = 0; d < D; d++) im[i * D + d] = t[i * D + (d + 1) % D] + 0.1f * mmf_rng_normal(&r);
            mh[i * 3] = t[i * D] > 0; mh[i * 3 + 1] = im[i * D + 2] > 0; mh[i * 3 + 2] = 0;
        }
        const char *names[2] = {"text", "image"};
        int64_t dims[2] = {D, D};
        const float *data[2] = {t, im};
        mmf_embfile_spec sp = {.n_rows = N, .n_modalities = 2, .names = names, .dims = dims, .data = data, .multihot = mh, .n_classes = 3};
        snprintf(path, sizeof path, "%s/ml.safetensors", dir);
        CHECK_OK(mmf_embfile_write(path, &sp));
        mmf_embfile *ml = NULL;
        CHECK_OK(mmf_embfile_open(path, &ml));
        mmf_train_params p = quick("mlp");
        p.task = MMF_TASK_MULTILABEL;
        p.epochs = 30;
        p.lr = 1e-2f;
        mmf_head *h = NULL;
        CHECK_OK(mmf_head_train(ml, NULL, &p, &h));
        mmf_eval_result er;
        mmf_eval_params eo = mmf_eval_params_default();
        if (h) {
            CHECK_OK(mmf_head_eval(h, ml, &eo, &er));
            printf("multilabel: exact %.3f macro-F1 %.3f\n", er.accuracy, er.macro_f1);
            CHECK(er.accuracy > 0.7);
            mmf_head_free(h);
        }
        p = quick("concat");
        p.task = MMF_TASK_ALIGN;
        p.epochs = 40;
        p.lr = 1e-2f;
        p.batch = 50;
        CHECK_OK(mmf_head_train(ml, NULL, &p, &h));
        if (h) {
            CHECK_OK(mmf_head_eval(h, ml, &eo, &er));
            printf("align: R@1 %.3f R@5 %.3f R@10 %.3f (chance R@1 %.3f)\n", er.recall[0], er.recall[1], er.recall[2], 1.0 / N);
            CHECK(er.recall[0] > 0.3 && er.recall[2] > 0.8);
            snprintf(path, sizeof path, "%s/align.head", dir);
            CHECK_OK(mmf_head_save(h, path));
            mmf_head *h2 = NULL;
            CHECK_OK(mmf_head_load(path, &h2));
            mmf_eval_result er2;
            if (h2) { CHECK_OK(mmf_head_eval(h2, ml, &eo, &er2)); CHECK(er2.recall[0] == er.recall[0] && er2.loss == er.loss); }
            mmf_head_free(h2);
            mmf_head_free(h);
        }
        mmf_embfile_close(ml);
        free(t); free(im); free(mh);
    }

    /* bad inputs */
    {
        mmf_head *h = NULL;
        mmf_train_params p = quick("mlp");
        CHECK_OK(mmf_head_train(tr, NULL, &p, &h));
        mmf_embfile *wide = synth_open(dir, "wide", SYN_XOR, 10, 9, 5, 1.0f, -1);
        mmf_eval_result er;
        mmf_eval_params eo = mmf_eval_params_default();
        CHECK(mmf_head_eval(h, wide, &eo, &er) == MMF_ERR_SHAPE);
        CHECK(strstr(mmf_last_error(), "dimension 9") && strstr(mmf_last_error(), "expects 6") && strstr(mmf_last_error(), "wide"));
        eo.drop = "audio";
        CHECK(mmf_head_eval(h, te, &eo, &er) == MMF_ERR_ARG);
        CHECK(strstr(mmf_last_error(), "audio") != NULL);
        /* val data with other dimensions */
        mmf_head *h2 = NULL;
        CHECK(mmf_head_train(tr, wide, &p, &h2) == MMF_ERR_SHAPE && h2 == NULL);
        /* labels out of range for the head */
        {
            float x[12] = {0};
            const char *names[2] = {"text", "image"};
            int64_t dims[2] = {6, 6}, y[1] = {5};
            const float *d[2] = {x, x};
            mmf_embfile_spec sp = {.n_rows = 1, .n_modalities = 2, .names = names, .dims = dims, .data = d, .labels = y};
            snprintf(path, sizeof path, "%s/lab.safetensors", dir);
            CHECK_OK(mmf_embfile_write(path, &sp));
            mmf_embfile *lf = NULL;
            CHECK_OK(mmf_embfile_open(path, &lf));
            eo.drop = NULL;
            CHECK(mmf_head_eval(h, lf, &eo, &er) == MMF_ERR_FORMAT);
            CHECK(strstr(mmf_last_error(), "class 5") && strstr(mmf_last_error(), "2 classes"));
            CHECK(mmf_head_train(tr, lf, &p, &h2) == MMF_ERR_FORMAT);
            /* fusing needs no labels: classes the head never saw are fine there */
            snprintf(path, sizeof path, "%s/lab.fused.safetensors", dir);
            CHECK_OK(mmf_head_fuse(h, lf, path, 1));
            mmf_embfile_close(lf);
        }
        /* a learning rate that blows up: reported with the step */
        p.lr = 1e30f;
        p.clip_norm = 0.0f;
        p.epochs = 3;
        mmf_status s = mmf_head_train(tr, NULL, &p, &h2);
        CHECK(s == MMF_ERR_NUMERIC && h2 == NULL);
        CHECK_MSG(strstr(mmf_last_error(), "step") != NULL, "%s", mmf_last_error());
        /* full bilinear above the budget names the sizes */
        mmf_embfile *big = synth_open(dir, "big", SYN_XOR, 10, 300, 5, 1.0f, -1);
        p = quick("bilinear");
        p.hidden = 256;
        CHECK(mmf_head_train(big, NULL, &p, &h2) == MMF_ERR_NOMEM);
        CHECK_MSG(strstr(mmf_last_error(), "300 x 300") && strstr(mmf_last_error(), "16777216"), "%s", mmf_last_error());
        p = quick("tfn");
        p.proj = 200;
        p.hidden = 512;
        CHECK(mmf_head_train(big, NULL, &p, &h2) == MMF_ERR_NOMEM);
        /* corrupt head: a parameter with the wrong shape */
        snprintf(path, sizeof path, "%s/bad.head", dir);
        mmf_st_writer *w = mmf_st_writer_new();
        mmf_st_writer_meta(w, "mmfuse.head", "{\"format\":\"mmfuse.head/1\",\"fusion\":\"mlp\",\"task\":\"classify\",\"modalities\":"
                                              "[{\"name\":\"text\",\"dim\":6},{\"name\":\"image\",\"dim\":6}],\"outputs\":2,\"hidden\":16}");
        float z[4] = {0};
        mmf_st_writer_add(w, "f.fc1.w", MMF_DT_F32, 2, (int64_t[]){2, 2}, z);
        CHECK_OK(mmf_st_writer_finish(w, path));
        mmf_st_writer_free(w);
        CHECK(mmf_head_load(path, &h2) == MMF_ERR_FORMAT && h2 == NULL);
        CHECK(strstr(mmf_last_error(), "bad.head") != NULL);
        /* unknown fusion */
        p = quick("nonesuch");
        CHECK(mmf_head_train(tr, NULL, &p, &h2) == MMF_ERR_ARG && strstr(mmf_last_error(), "nonesuch"));
        mmf_embfile_close(big);
        mmf_embfile_close(wide);
        mmf_head_free(h);
    }

    /* fuse writes an embedding file of the fused layer */
    {
        mmf_head *h = NULL;
        mmf_train_params p = quick("gmu");
        CHECK_OK(mmf_head_train(tr, NULL, &p, &h));
        snprintf(path, sizeof path, "%s/fused.safetensors", dir);
        CHECK_OK(mmf_head_fuse(h, te, path, 1));
        mmf_embfile *f = NULL;
        CHECK_OK(mmf_embfile_open(path, &f));
        if (f) {
            CHECK(mmf_embfile_rows(f) == mmf_embfile_rows(te));
            CHECK(mmf_embfile_dim(f, 0) == mmf_head_emb_dim(h));
            CHECK(!strcmp(mmf_embfile_modality(f, 0), "fused"));
            CHECK(mmf_embfile_labels(f)[3] == mmf_embfile_labels(te)[3]);
            /* fuse and predict reach the fused layer through GEMMs of other shapes (batch
             * 7 vs the whole file), which a BLAS may block differently: equal to rounding */
            float *e = predict(h, te, 1);
            t_allclose(mmf_embfile_data(f, 0), e + mmf_embfile_rows(te) * mmf_head_out_dim(h),
                       (size_t)(mmf_embfile_rows(te) * mmf_head_emb_dim(h)), 1e-5, 1e-5, "fuse vs predict");
            free(e);
            mmf_embfile_close(f);
        }
        mmf_head_free(h);
    }
    mmf_embfile_close(tr);
    mmf_embfile_close(te);
    synth_cleanup(dir);
    return t_done("test_fusion_head");
}
