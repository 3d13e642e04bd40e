#include "models/transformer.h"
#include "core/ops.h"
#include <math.h>
#include <string.h>

size_t mmf_tf_layer_scratch(const mmf_tf_spec *s, int B, int T, int nt) {
    size_t rows = (size_t)B * (size_t)T, C = (size_t)s->hidden, F = (size_t)s->ffn;
    /* qkv (rows,3C) + attention out (rows,C) + ln/ffn input (rows,C) + ffn hidden (rows,F)
     * + attention scores; each block padded so the next stays 64-byte aligned. */
    size_t pad = 16;
    return rows * 3 * C + pad + rows * C + pad + rows * C + pad + rows * F + pad +
           (size_t)mmf_attention_scratch(T, T, nt) + pad;
}

void mmf_act_apply(mmf_act a, float *x, int64_t n, int nt) {
    switch (a) {
    case MMF_ACT_GELU: mmf_gelu_erf(x, n, nt); break;
    case MMF_ACT_GELU_TANH: mmf_gelu_tanh(x, n, nt); break;
    case MMF_ACT_QUICK_GELU: mmf_quick_gelu(x, n, nt); break;
    case MMF_ACT_RELU: mmf_relu(x, n, nt); break;
    case MMF_ACT_TANH: mmf_tanh(x, n, nt); break;
    }
}

void mmf_tf_fuse_qkv(float *qkv_w, float *qkv_b, const float *q_w, const float *k_w, const float *v_w,
                     const float *q_b, const float *k_b, const float *v_b, int C) {
    size_t cc = (size_t)C * C;
    memcpy(qkv_w, q_w, cc * sizeof(float));
    memcpy(qkv_w + cc, k_w, cc * sizeof(float));
    memcpy(qkv_w + 2 * cc, v_w, cc * sizeof(float));
    if (!qkv_b) return;
    const float *bs[3] = {q_b, k_b, v_b};
    for (int i = 0; i < 3; i++) {
        if (bs[i]) memcpy(qkv_b + (size_t)i * C, bs[i], (size_t)C * sizeof(float));
        else memset(qkv_b + (size_t)i * C, 0, (size_t)C * sizeof(float));
    }
}

static float *carve(float **p, size_t n) {
    float *r = *p;
    *p += (n + 15) & ~(size_t)15;
    return r;
}

/* y (rows, OC) = (accumulate ? y : 0) + bias + x @ W^T. Accumulating folds the
 * residual add into the GEMM (beta = 1) so no extra pass over the rows. */
static void dense(float *y, const float *x, const float *W, const float *b, int64_t rows, int IC, int OC,
                  int accumulate, int nt) {
    if (b) {
        if (accumulate) mmf_add_bias(y, b, rows, OC, nt);
        else
            for (int64_t i = 0; i < rows; i++) memcpy(y + i * OC, b, (size_t)OC * sizeof(float));
    }
    mmf_gemm(0, 1, (int)rows, OC, IC, 1.0f, x, IC, W, IC, (b || accumulate) ? 1.0f : 0.0f, y, OC, nt);
}

void mmf_tf_layer_forward(const mmf_tf_spec *s, const mmf_tf_layer_w *w, float *x,
                          const uint8_t *keep, int B, int T, float *scratch, int nt) {
    const int C = s->hidden, H = s->heads, D = C / H, F = s->ffn;
    const int64_t rows = (int64_t)B * T;
    float *p = scratch;
    float *qkv = carve(&p, (size_t)rows * 3 * C);
    float *att = carve(&p, (size_t)rows * C);
    float *tmp = carve(&p, (size_t)rows * C);
    float *hid = carve(&p, (size_t)rows * F);
    float *sc = carve(&p, (size_t)mmf_attention_scratch(T, T, nt));
    float scale = s->attn_scale > 0 ? s->attn_scale : 1.0f / sqrtf((float)D);

    /* attention block */
    const float *ain = x;
    if (s->pre_norm) {
        mmf_layernorm(tmp, x, w->ln1_w, w->ln1_b, rows, C, s->eps, nt);
        ain = tmp;
    }
    dense(qkv, ain, w->qkv_w, w->qkv_b, rows, C, 3 * C, 0, nt);
    mmf_attention(att, C, qkv, 3 * C, qkv + C, 3 * C, qkv + 2 * C, 3 * C, B, H, T, T, D, keep, s->causal,
                  scale, sc, nt);
    dense(x, att, w->o_w, w->o_b, rows, C, C, 1, nt);   /* x += proj(att) */
    if (!s->pre_norm) mmf_layernorm(x, x, w->ln1_w, w->ln1_b, rows, C, s->eps, nt);

    /* feed-forward block */
    const float *fin = x;
    if (s->pre_norm) {
        mmf_layernorm(tmp, x, w->ln2_w, w->ln2_b, rows, C, s->eps, nt);
        fin = tmp;
    }
    dense(hid, fin, w->fc1_w, w->fc1_b, rows, C, F, 0, nt);
    mmf_act_apply(s->act, hid, rows * F, nt);
    dense(x, hid, w->fc2_w, w->fc2_b, rows, F, C, 1, nt);  /* x += fc2(act(fc1)) */
    if (!s->pre_norm) mmf_layernorm(x, x, w->ln2_w, w->ln2_b, rows, C, s->eps, nt);
}

void mmf_tf_stack_forward(const mmf_tf_spec *s, const mmf_tf_layer_w *layers, int n_layers,
                          float *x, const uint8_t *keep, int B, int T, float *scratch, int nt) {
    for (int l = 0; l < n_layers; l++) mmf_tf_layer_forward(s, &layers[l], x, keep, B, T, scratch, nt);
}
