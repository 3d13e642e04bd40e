/* Multi-head scaled dot-product attention with key padding and causal masks.
 * Forward saves the probabilities P [B,H,Tq,Tk]; backward:
 *   dV = P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(dP * P)),  dQ = s dS K,  dK = s dS^T Q.
 * Plain loops parallel over (batch, head): every (b,h) writes its own slice of
 * dQ/dK/dV, so the result does not depend on the thread count. */
#include "train/tape.h"
#include "core/error.h"
#include <math.h>
#include <omp.h>
#include <string.h>

#define TV(v) mmf_tape_var(tp, (v))

static inline int visible(const uint8_t *keep, int causal, int64_t b, int64_t t, int64_t j, int64_t Tq, int64_t Tk) {
    if (keep && !keep[b * Tk + j]) return 0;
    if (causal && j > t + Tk - Tq) return 0;
    return 1;
}

/* i = {B, Tq, Tk, H, D, causal}; f[0] = scale; aux[0] = P, aux[1] = keep copy or NULL */
static void attention_backward(mmf_tape *tp, const mmf_node *nd) {
    mmf_tvar *q = TV(nd->in[0]), *k = TV(nd->in[1]), *v = TV(nd->in[2]), *o = TV(nd->out);
    int64_t B = nd->i[0], Tq = nd->i[1], Tk = nd->i[2], H = nd->i[3], D = nd->i[4];
    float sc = nd->f[0];
    const float *P = nd->aux[0];
    int64_t ld = H * D;
    int nt = mmf_tape_threads(tp);
    float *scratch = mmf_tape_scratch(tp, (size_t)nt * (size_t)Tk * sizeof(float) + 64);
    #pragma omp parallel for num_threads(nt) schedule(static) collapse(2) if (nt > 1 && B * H > 1)
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++) {
            int tid = omp_get_thread_num();
            float *dP = scratch + (size_t)tid * Tk;
            for (int64_t t = 0; t < Tq; t++) {
                const float *p = P + ((b * H + h) * Tq + t) * Tk;
                const float *go = o->g + (b * Tq + t) * ld + h * D;
                float dot = 0.0f;
                for (int64_t j = 0; j < Tk; j++) {
                    float s = 0.0f;
                    if (p[j] != 0.0f) {
                        const float *vj = v->v + (b * Tk + j) * ld + h * D;
                        for (int64_t d = 0; d < D; d++) s += go[d] * vj[d];
                        if (v->g) {
                            float *gv = v->g + (b * Tk + j) * ld + h * D;
                            for (int64_t d = 0; d < D; d++) gv[d] += p[j] * go[d];
                        }
                    }
                    dP[j] = s;
                    dot += s * p[j];
                }
                const float *qt = q->v + (b * Tq + t) * ld + h * D;
                float *gq = q->g ? q->g + (b * Tq + t) * ld + h * D : NULL;
                for (int64_t j = 0; j < Tk; j++) {
                    if (p[j] == 0.0f) continue;
                    float ds = p[j] * (dP[j] - dot) * sc;
                    const float *kj = k->v + (b * Tk + j) * ld + h * D;
                    if (gq) for (int64_t d = 0; d < D; d++) gq[d] += ds * kj[d];
                    if (k->g) {
                        float *gk = k->g + (b * Tk + j) * ld + h * D;
                        for (int64_t d = 0; d < D; d++) gk[d] += ds * qt[d];
                    }
                }
            }
        }
}

mmf_var mmf_t_attention(mmf_tape *tp, mmf_var q, mmf_var k, mmf_var v, int H, const uint8_t *key_keep, int causal) {
    if (q < 0 || k < 0 || v < 0 || mmf_tape_status(tp)) return mmf_tape_fail(tp, mmf_tape_status(tp));
    mmf_tvar *Q = TV(q), *K = TV(k), *Vv = TV(v);
    if (Q->ndim != 3 || K->ndim != 3 || Vv->ndim != 3 || H < 1 || Q->shape[2] % H || K->shape[2] != Q->shape[2] ||
        Vv->shape[2] != Q->shape[2] || K->shape[0] != Q->shape[0] || Vv->shape[0] != Q->shape[0] || K->shape[1] != Vv->shape[1])
        return mmf_tape_fail(tp, mmf_fail(MMF_ERR_SHAPE, "attention: expected q [B,Tq,H*D], k and v [B,Tk,H*D] with H = %d dividing the last dim", H));
    int64_t B = Q->shape[0], Tq = Q->shape[1], Tk = K->shape[1], D = Q->shape[2] / H, ld = Q->shape[2];
    mmf_var in[3] = {q, k, v};
    int ng = mmf_tape_needs_grad(tp, in, 3);
    mmf_var o = mmf_tape_alloc(tp, 3, Q->shape, ng);
    float *P = mmf_tape_scratch(tp, (size_t)(B * H * Tq * Tk) * sizeof(float) + 4);
    if (o < 0 || !P) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "attention: out of memory"));
    Q = TV(q); K = TV(k); Vv = TV(v);
    mmf_tvar *O = TV(o);
    float sc = 1.0f / sqrtf((float)D);
    int nt = mmf_tape_threads(tp);
    #pragma omp parallel for num_threads(nt) schedule(static) collapse(2) if (nt > 1 && B * H > 1)
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t t = 0; t < Tq; t++) {
                float *p = P + ((b * H + h) * Tq + t) * Tk;
                const float *qt = Q->v + (b * Tq + t) * ld + h * D;
                float mx = -INFINITY;
                for (int64_t j = 0; j < Tk; j++) {
                    if (!visible(key_keep, causal, b, t, j, Tq, Tk)) { p[j] = -INFINITY; continue; }
                    const float *kj = K->v + (b * Tk + j) * ld + h * D;
                    float s = 0.0f;
                    for (int64_t d = 0; d < D; d++) s += qt[d] * kj[d];
                    p[j] = s * sc;
                    if (p[j] > mx) mx = p[j];
                }
                float *ot = O->v + (b * Tq + t) * ld + h * D;
                memset(ot, 0, (size_t)D * sizeof(float));
                if (mx == -INFINITY) { memset(p, 0, (size_t)Tk * sizeof(float)); continue; }
                float sum = 0.0f;
                for (int64_t j = 0; j < Tk; j++) { p[j] = p[j] == -INFINITY ? 0.0f : expf(p[j] - mx); sum += p[j]; }
                for (int64_t j = 0; j < Tk; j++) {
                    p[j] /= sum;
                    if (p[j] == 0.0f) continue;
                    const float *vj = Vv->v + (b * Tk + j) * ld + h * D;
                    for (int64_t d = 0; d < D; d++) ot[d] += p[j] * vj[d];
                }
            }
    if (ng) {
        mmf_node nd = {.backward = attention_backward, .name = "attention", .out = o, .in = {q, k, v}, .n_in = 3,
                       .i = {B, Tq, Tk, H, D, causal}, .f = {sc}, .aux = {P}};
        mmf_tape_record(tp, &nd);
    }
    return o;
}
