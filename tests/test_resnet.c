/* ResNet parity against tests/ref/ref_resnet.py (PyTorch re-implementation with
 * Hugging Face names, random weights, non-trivial BN statistics): basic and
 * bottleneck, threads 1 and 2, max abs diff <= 1e-4, on the plain path and on
 * the oneDNN engine. Plus config/weight
 * disagreement errors. */
#include "test_util.h"
#include "models/resnet.h"
#include "core/dnnl_net.h"   /* mmf_dnet_winograd_supported */
#include "core/gemm_int8.h"  /* mmf_engine_isa_name */
#include "io/json.h"

static const mmf_tensor_info *need(const mmf_safetensors *st, const char *name) {
    const mmf_tensor_info *t = mmf_st_find(st, name);
    if (!t) { fprintf(stderr, "missing %s\n", name); t_failures++; }
    return t;
}

static double worst = 0;

/* dnnl 1: oneDNN convolutions per layer on NHWC (MMFUSE_RESNET_PLAIN=1, the
 * fp32 engine where oneDNN has no Winograd); 2: one oneDNN net in the
 * kernels' layout, direct convolutions (MMFUSE_RESNET_WINO=0
 * MMFUSE_RESNET_NET=1); 3: the encoders' fp32 default, that net in nChw16c
 * with Winograd 3x3 convolutions where oneDNN has them (F(4x4,3x3) for the
 * batch of 2 here, F(2x2,3x3) for the single image, both checked against the
 * same 1e-4 as direct: worst measured 4.6e-5 against 3.4e-5 direct);
 * 0: the plain NHWC im2col + GEMM path */
static const char *const case_name[4] = {"", " (oneDNN)", " (oneDNN net)", " (oneDNN net, Winograd)"};

static void run_case(const mmf_safetensors *ex, const char *name, int dnnl) {
    char dir[1024], key[256];
    snprintf(key, sizeof key, "tests/data/image/resnet_%s", name);
    t_src_path(key, dir, sizeof dir);
    mmf_resnet *m;
    CHECK_OK(mmf_resnet_load(dir, &m));
    if (!m) return;
    if (dnnl == 1) setenv("MMFUSE_RESNET_PLAIN", "1", 1);
    if (dnnl == 2) { setenv("MMFUSE_RESNET_NET", "1", 1); setenv("MMFUSE_RESNET_WINO", "0", 1); }
    if (dnnl) CHECK_OK(mmf_resnet_use_dnnl(m));
    unsetenv("MMFUSE_RESNET_NET");
    unsetenv("MMFUSE_RESNET_WINO");
    unsetenv("MMFUSE_RESNET_PLAIN");
    snprintf(key, sizeof key, "%s/pixel_values", name);
    const mmf_tensor_info *px = need(ex, key);
    snprintf(key, sizeof key, "%s/last_hidden_state", name);
    const mmf_tensor_info *lh = need(ex, key);
    snprintf(key, sizeof key, "%s/pooler_output", name);
    const mmf_tensor_info *po = need(ex, key);
    if (!px || !lh || !po) { mmf_resnet_free(m); return; }
    int B = (int)px->shape[0], H = (int)px->shape[2], W = (int)px->shape[3];
    int oh, ow;
    mmf_resnet_out_hw(m, H, W, &oh, &ow);
    CHECK(lh->shape[1] == mmf_resnet_out_dim(m) && lh->shape[2] == oh && lh->shape[3] == ow);
    float *pool = malloc(sizeof(float) * (size_t)po->numel), *hid = malloc(sizeof(float) * (size_t)lh->numel);
    for (int nt = 1; nt <= 2; nt++) {
        /* also run a single image of the batch: batch size must not change results */
        CHECK_OK(mmf_resnet_forward(m, px->data, B, H, W, pool, hid, nt));
        double d1 = t_max_abs_diff(pool, po->data, (size_t)po->numel), d2 = t_max_abs_diff(hid, lh->data, (size_t)lh->numel);
        printf("resnet %s%s threads %d: pooler max diff %.3g, last_hidden max diff %.3g\n", name, case_name[dnnl], nt, d1, d2);
        CHECK(d1 <= 1e-4 && d2 <= 1e-4);
        if (d1 > worst) worst = d1;
        if (d2 > worst) worst = d2;
        CHECK_OK(mmf_resnet_forward(m, (const float *)px->data + (size_t)3 * H * W, 1, H, W, pool, NULL, nt));
        CHECK(t_max_abs_diff(pool, (const float *)po->data + po->shape[1], (size_t)po->shape[1]) <= 1e-4);
    }
    /* the default net runs Winograd wherever the engine has it (not under AVX2), the others never */
    const int wino = mmf_resnet_winograd_convs(m);
    printf("resnet %s%s: %d Winograd convolutions (engine %s)\n", name, case_name[dnnl], wino, mmf_engine_isa_name());
    CHECK(dnnl == 3 && mmf_dnet_winograd_supported() ? wino > 0 : wino == 0);
    /* a workspace planned for one image: the batch goes through in chunks */
    CHECK_OK(mmf_resnet_reserve(m, 1, H, W));
    CHECK_OK(mmf_resnet_forward(m, px->data, B, H, W, pool, hid, 1));
    CHECK(t_max_abs_diff(pool, po->data, (size_t)po->numel) <= 1e-4 && t_max_abs_diff(hid, lh->data, (size_t)lh->numel) <= 1e-4);
    free(pool);
    free(hid);
    mmf_resnet_free(m);
}

int main(void) {
    char p[1024], tmp[512], cmd[4096];
    t_src_path("tests/data/image/resnet_expected.safetensors", p, sizeof p);
    mmf_safetensors *ex;
    CHECK_OK(mmf_st_open(p, &ex));
    if (!ex) return t_done("test_resnet");
    for (int dnnl = 0; dnnl <= 3; dnnl++) {
        run_case(ex, "bottleneck", dnnl);
        run_case(ex, "basic", dnnl);
    }
    mmf_st_close(ex);
    printf("resnet worst diff %.3g\n", worst);

    /* a config that disagrees with the weights: a clear error naming the tensor */
    t_tmpdir(tmp, sizeof tmp);
    t_src_path("tests/data/image/resnet_basic", p, sizeof p);
    snprintf(cmd, sizeof cmd, "cp %s/model.safetensors %s/", p, tmp);
    CHECK(system(cmd) == 0);
    snprintf(cmd, sizeof cmd, "%s/config.json", tmp);
    FILE *f = fopen(cmd, "w");
    if (f) {
        fputs("{\"model_type\": \"resnet\", \"embedding_size\": 6, \"hidden_sizes\": [7, 12], \"depths\": [2, 2],"
              " \"layer_type\": \"basic\", \"downsample_in_first_stage\": true}", f);
        fclose(f);
    }
    mmf_resnet *m = NULL;
    mmf_status s = mmf_resnet_load(tmp, &m);
    CHECK_MSG(s == MMF_ERR_SHAPE, "status %s: %s", mmf_status_str(s), mmf_last_error());
    CHECK(strstr(mmf_last_error(), "encoder.stages.0") != NULL);
    /* missing weights file */
    snprintf(cmd, sizeof cmd, "rm %s/model.safetensors", tmp);
    CHECK(system(cmd) == 0);
    s = mmf_resnet_load(tmp, &m);
    CHECK(s == MMF_ERR_NOT_FOUND || s == MMF_ERR_IO);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd)) {}
    return t_done("test_resnet");
}
