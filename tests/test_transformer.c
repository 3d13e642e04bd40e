/* The shared transformer layer against PyTorch: a pre-norm, causal,
 * padded CLIP-style layer (tests/ref/ref_bert.py writes tf_prenorm.safetensors).
 * The post-norm (BERT) arrangement is checked end to end by test_bert. */
#include "test_util.h"
#include "models/transformer.h"
#include <stdlib.h>

static float *get(mmf_safetensors *st, const char *name, size_t n) {
    float *p = malloc(n * sizeof(float));
    CHECK_OK(mmf_st_read_f32(st, name, p, n));
    return p;
}

int main(void) {
    char path[4096];
    mmf_safetensors *st;
    CHECK_OK(mmf_st_open(t_src_path("tests/data/text/tf_prenorm.safetensors", path, sizeof path), &st));
    if (!st) return 1;
    const int B = 3, T = 7, C = 16, H = 4, F = 40;
    float *q = get(st, "q_w", C * C), *k = get(st, "k_w", C * C), *v = get(st, "v_w", C * C);
    float *qb = get(st, "q_b", C), *kb = get(st, "k_b", C), *vb = get(st, "v_b", C);
    float *qkv = malloc(3 * C * C * sizeof(float)), *qkvb = malloc(3 * C * sizeof(float));
    mmf_tf_fuse_qkv(qkv, qkvb, q, k, v, qb, kb, vb, C);
    mmf_tf_layer_w w = {.qkv_w = qkv, .qkv_b = qkvb, .o_w = get(st, "o_w", C * C), .o_b = get(st, "o_b", C),
                        .ln1_w = get(st, "ln1_w", C), .ln1_b = get(st, "ln1_b", C),
                        .fc1_w = get(st, "fc1_w", F * C), .fc1_b = get(st, "fc1_b", F),
                        .fc2_w = get(st, "fc2_w", C * F), .fc2_b = get(st, "fc2_b", C),
                        .ln2_w = get(st, "ln2_w", C), .ln2_b = get(st, "ln2_b", C)};
    mmf_tf_spec s = {.hidden = C, .heads = H, .ffn = F, .eps = 1e-5f, .act = MMF_ACT_QUICK_GELU,
                     .pre_norm = 1, .causal = 1};
    float *x = get(st, "x", B * T * C), *want = get(st, "out", B * T * C);
    const mmf_tensor_info *ki = mmf_st_find(st, "keep");
    uint8_t keep[3 * 7];
    for (int i = 0; i < B * T; i++) keep[i] = (uint8_t)((const int32_t *)ki->data)[i];
    for (int nt = 1; nt <= 2; nt++) {
        float *xx = malloc(B * T * C * sizeof(float));
        memcpy(xx, x, B * T * C * sizeof(float));
        float *scratch = aligned_alloc(64, ((mmf_tf_layer_scratch(&s, B, T, nt) * 4 + 63) / 64) * 64);
        mmf_tf_stack_forward(&s, &w, 1, xx, keep, B, T, scratch, nt);
        /* compare only real (kept) rows: padding rows are unspecified */
        double worst = 0;
        for (int r = 0; r < B * T; r++)
            if (keep[r]) {
                double d = t_max_abs_diff(xx + r * C, want + r * C, C);
                if (d > worst) worst = d;
            }
        CHECK_MSG(worst <= 1e-5, "threads %d: max abs diff %g", nt, worst);
        printf("pre-norm causal layer, %d thread(s): max abs diff %.3g\n", nt, worst);
        free(xx);
        free(scratch);
    }
    float *owned[] = {q, k, v, qb, kb, vb, qkv, qkvb, (float *)w.o_w, (float *)w.o_b, (float *)w.ln1_w,
                      (float *)w.ln1_b, (float *)w.fc1_w, (float *)w.fc1_b, (float *)w.fc2_w, (float *)w.fc2_b,
                      (float *)w.ln2_w, (float *)w.ln2_b, x, want};
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) free(owned[i]);   /* clean under ASan */
    mmf_st_close(st);
    return t_done("test_transformer");
}
