/* The caption decoder: a fusion operator from the zoo (src/fusion) turns the
 * modality embeddings of a sample into one vector z; a GRU or LSTM conditioned
 * on z (initial state and/or an extra input at every step) emits the words.
 * Training is teacher-forced cross-entropy on the tape; generation (greedy and
 * beam search) runs the same cells as plain BLAS code, no tape, so a beam can
 * carry its states cheaply. docs/caption.md has the formulas. */
#include "tasks/caption_model.h"
#include "core/error.h"
#include "core/ops.h"
#include "io/json.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mmf_caption_train_params mmf_caption_train_params_default(void) {
    mmf_caption_train_params p;
    memset(&p, 0, sizeof p);
    p.fusion = "concat";
    p.fusion_hidden = 128;
    p.cell = MMF_CELL_GRU;
    p.inject = MMF_INJECT_INIT | MMF_INJECT_INPUT;
    p.hidden = 256;
    p.embed = 128;
    p.min_count = 1;
    p.max_len = 20;
    p.epochs = 20;
    p.batch = 64;
    p.lr = 2e-3f;
    p.weight_decay = 0.0f;
    p.clip_norm = 5.0f;
    p.dropout = 0.1f;
    p.patience = 5;
    p.seed = 1;
    p.n_threads = 1;
    return p;
}

mmf_caption_gen_params mmf_caption_gen_params_default(void) {
    mmf_caption_gen_params g;
    memset(&g, 0, sizeof g);
    g.beam = 1;
    g.length_penalty = 0.0f;
    g.n_threads = 1;
    return g;
}

void mmf_captioner_free(mmf_captioner *c) {
    if (!c) return;
    mmf_head_free(c->fusion);
    mmf_params_free(&c->ps);
    mmf_caption_vocab_free(c->vocab);
    free(c);
}

/* ------------------------------------------------------------- building */

static int gates(const cap_cfg *k) { return k->cell == MMF_CELL_LSTM ? 4 : 3; }

/* Declare and allocate the decoder parameters; c->E (conditioning size) must be set. */
static mmf_status declare_decoder(mmf_captioner *c) {
    const cap_cfg *k = &c->cfg;
    int64_t V = c->vocab->n, We = k->embed, Hd = k->hidden, G = gates(k);
    int64_t I = We + ((k->inject & MMF_INJECT_INPUT) ? We : 0);
    int init_n = k->cell == MMF_CELL_LSTM ? 2 : 1;   /* LSTM: h0 and c0 */
    mmf_params *ps = &c->ps;
    mmf_params_init(ps);
    float sr = 1.0f / sqrtf((float)Hd);
    int ok = 1;
    ok &= (c->p_emb = mmf_params_add(ps, "dec.embed", 2, (int64_t[]){V, We}, MMF_INIT_NORMAL, 0.1f)) >= 0;
    if (k->inject & MMF_INJECT_INIT) {
        ok &= (c->p_init_w = mmf_params_add(ps, "dec.init.w", 2, (int64_t[]){init_n * Hd, c->E}, MMF_INIT_LINEAR, 0)) >= 0;
        ok &= (c->p_init_b = mmf_params_add(ps, "dec.init.b", 1, (int64_t[]){init_n * Hd}, MMF_INIT_UNIFORM, 1.0f / sqrtf((float)c->E))) >= 0;
    }
    if (k->inject & MMF_INJECT_INPUT) {
        ok &= (c->p_in_w = mmf_params_add(ps, "dec.in.w", 2, (int64_t[]){We, c->E}, MMF_INIT_LINEAR, 0)) >= 0;
        ok &= (c->p_in_b = mmf_params_add(ps, "dec.in.b", 1, (int64_t[]){We}, MMF_INIT_UNIFORM, 1.0f / sqrtf((float)c->E))) >= 0;
    }
    /* PyTorch's nn.GRU / nn.LSTM initialisation: U(-1/sqrt(H), 1/sqrt(H)) */
    ok &= (c->p_wih = mmf_params_add(ps, "dec.rnn.wih", 2, (int64_t[]){G * Hd, I}, MMF_INIT_UNIFORM, sr)) >= 0;
    ok &= (c->p_whh = mmf_params_add(ps, "dec.rnn.whh", 2, (int64_t[]){G * Hd, Hd}, MMF_INIT_UNIFORM, sr)) >= 0;
    ok &= (c->p_bih = mmf_params_add(ps, "dec.rnn.bih", 1, (int64_t[]){G * Hd}, MMF_INIT_UNIFORM, sr)) >= 0;
    ok &= (c->p_bhh = mmf_params_add(ps, "dec.rnn.bhh", 1, (int64_t[]){G * Hd}, MMF_INIT_UNIFORM, sr)) >= 0;
    ok &= (c->p_out_w = mmf_params_add(ps, "dec.out.w", 2, (int64_t[]){V, Hd}, MMF_INIT_LINEAR, 0)) >= 0;
    ok &= (c->p_out_b = mmf_params_add(ps, "dec.out.b", 1, (int64_t[]){V}, MMF_INIT_UNIFORM, sr)) >= 0;
    if (!ok) return mmf_fail(MMF_ERR_ARG, "captioner: could not declare the decoder parameters");
    mmf_rng r;
    mmf_rng_seed(&r, k->seed ^ 0xCA9710ull);
    return mmf_params_alloc(ps, &r);
}

/* The fusion operator (M >= 2) or the single modality itself (M == 1). */
static mmf_status build_fusion(mmf_captioner *c, const fz_config *fz) {
    if (c->cfg.M == 1) {
        c->E = c->cfg.dims[0];
        return MMF_OK;
    }
    mmf_status s = fz_head_new(fz, &c->fusion);
    if (s) return s;
    c->E = c->fusion->emb_dim;
    return MMF_OK;
}

mmf_status cap_build(const cap_cfg *k, const fz_config *fz, mmf_caption_vocab *vocab, mmf_captioner **out) {
    *out = NULL;
    mmf_captioner *c = calloc(1, sizeof *c);
    if (!c) { mmf_caption_vocab_free(vocab); return mmf_fail(MMF_ERR_NOMEM, "captioner: out of memory"); }
    c->cfg = *k;
    c->vocab = vocab;
    c->p_init_w = c->p_init_b = c->p_in_w = c->p_in_b = -1;
    mmf_params_init(&c->ps);
    mmf_status s = MMF_OK;
    if (k->cell != MMF_CELL_GRU && k->cell != MMF_CELL_LSTM) s = mmf_fail(MMF_ERR_ARG, "captioner: unknown cell %d", k->cell);
    else if (!(k->inject & (MMF_INJECT_INIT | MMF_INJECT_INPUT)) || (k->inject & ~3))
        s = mmf_fail(MMF_ERR_ARG, "captioner: inject must be init, input or both");
    else if (k->hidden < 1 || k->hidden > 8192 || k->embed < 1 || k->embed > 8192)
        s = mmf_fail(MMF_ERR_ARG, "captioner: hidden %d / embed %d out of range 1..8192", k->hidden, k->embed);
    else if (k->max_len < 1 || k->max_len > CAP_MAX_LEN)
        s = mmf_fail(MMF_ERR_ARG, "captioner: max_len %d out of range 1..%d", k->max_len, CAP_MAX_LEN);
    else if (k->M < 1 || k->M > FZ_MAXM) s = mmf_fail(MMF_ERR_ARG, "captioner: %d modalities, expected 1..%d", k->M, FZ_MAXM);
    if (!s) s = build_fusion(c, fz);
    if (!s) s = declare_decoder(c);
    if (s) { mmf_captioner_free(c); return s; }
    *out = c;
    return MMF_OK;
}

/* -------------------------------------------------------- tape forward */

/* z [B, E]: the fused embedding. xs[m] [B, D_m] with absent rows zero. */
static mmf_var condition(mmf_captioner *c, mmf_tape *tp, int64_t B, float *const *xs, const uint8_t *mask) {
    if (c->cfg.M == 1) {
        return mmf_t_const(tp, xs[0], 2, (int64_t[]){B, c->cfg.dims[0]});
    }
    fz_out o;
    if (fz_head_forward(c->fusion, tp, B, xs, mask, NULL, &o)) return mmf_tape_fail(tp, mmf_tape_status(tp) ? mmf_tape_status(tp) : MMF_ERR_ARG);
    return o.emb;
}

static mmf_var P(mmf_captioner *c, mmf_tape *tp, int i) { return i < 0 ? -1 : mmf_t_param(tp, &c->ps, i); }

/* Concatenate many [B, D] variables along axis 0 (the op takes at most MMF_NODE_MAXIN). */
static mmf_var concat_many(mmf_tape *tp, mmf_var *v, int n) {
    while (n > 1) {
        int k = 0;
        for (int i = 0; i < n; i += MMF_NODE_MAXIN) {
            int m = n - i < MMF_NODE_MAXIN ? n - i : MMF_NODE_MAXIN;
            v[k++] = m == 1 ? v[i] : mmf_t_concat(tp, v + i, m, 0);
        }
        n = k;
    }
    return v[0];
}

mmf_var cap_forward_loss(mmf_captioner *c, mmf_tape *tp, const cap_batch *bt) {
    const cap_cfg *k = &c->cfg;
    int64_t B = bt->B, T = bt->T, Hd = k->hidden;
    mmf_var z = condition(c, tp, B, bt->x, bt->mask);
    z = mmf_t_dropout(tp, z, k->dropout);
    mmf_var h, cc = -1;
    if (k->inject & MMF_INJECT_INIT) {
        mmf_var hc = mmf_t_tanh(tp, mmf_t_linear(tp, z, P(c, tp, c->p_init_w), P(c, tp, c->p_init_b)));
        if (k->cell == MMF_CELL_LSTM) {
            h = mmf_t_slice(tp, hc, 1, 0, Hd);
            cc = mmf_t_slice(tp, hc, 1, Hd, 2 * Hd);
        } else {
            h = hc;
        }
    } else {
        h = mmf_t_full(tp, 0.0f, 2, (int64_t[]){B, Hd});
        if (k->cell == MMF_CELL_LSTM) cc = mmf_t_full(tp, 0.0f, 2, (int64_t[]){B, Hd});
    }
    mmf_var u = -1;
    if (k->inject & MMF_INJECT_INPUT) u = mmf_t_linear(tp, z, P(c, tp, c->p_in_w), P(c, tp, c->p_in_b));
    /* all input words at once: [T*B, We], time-major */
    mmf_var emb = mmf_t_embedding(tp, P(c, tp, c->p_emb), bt->in, T * B);
    emb = mmf_t_dropout(tp, emb, k->dropout);
    mmf_var wih = P(c, tp, c->p_wih), whh = P(c, tp, c->p_whh), bih = P(c, tp, c->p_bih), bhh = P(c, tp, c->p_bhh);
    mmf_var *hs = mmf_tape_scratch(tp, (size_t)T * sizeof(mmf_var));
    if (!hs) return mmf_tape_fail(tp, mmf_fail(MMF_ERR_NOMEM, "captioner: out of memory"));
    for (int64_t t = 0; t < T; t++) {
        mmf_var x = mmf_t_slice(tp, emb, 0, t * B, (t + 1) * B);
        if (u >= 0) x = mmf_t_concat(tp, (mmf_var[]){x, u}, 2, 1);
        if (k->cell == MMF_CELL_LSTM) {
            mmf_var h2, c2;
            mmf_t_lstm_cell(tp, x, h, cc, wih, whh, bih, bhh, &h2, &c2);
            h = h2;
            cc = c2;
        } else {
            h = mmf_t_gru_cell(tp, x, h, wih, whh, bih, bhh);
        }
        hs[t] = h;
    }
    mmf_var H = concat_many(tp, hs, (int)T);
    H = mmf_t_dropout(tp, H, k->dropout);
    mmf_var logits = mmf_t_linear(tp, H, P(c, tp, c->p_out_w), P(c, tp, c->p_out_b));
    return mmf_t_cross_entropy(tp, logits, bt->tgt, 0.0f, bt->w);
}

/* ------------------------------------------------------ plain forward */

/* z for B rows, through the tape without training (no dropout): out [B, E]. */
mmf_status cap_condition_values(mmf_captioner *c, mmf_tape *tp, int64_t B, float *const *xs, const uint8_t *mask,
                                float *out) {
    mmf_tape_reset(tp);
    mmf_tape_set_training(tp, 0);
    mmf_var z = condition(c, tp, B, xs, mask);
    mmf_status s = mmf_tape_status(tp);
    if (s) return s;
    memcpy(out, mmf_tape_var(tp, z)->v, (size_t)(B * c->E) * sizeof(float));
    return MMF_OK;
}

/* One step for K rows: x [K, I], h/cst [K, Hd] updated in place; g scratch [K, 2*G*Hd]. */
static void cell_step(const mmf_captioner *c, int K, const float *x, float *h, float *cst, float *g, int nt) {
    const cap_cfg *k = &c->cfg;
    int Hd = k->hidden, G = gates(k), I = k->embed + ((k->inject & MMF_INJECT_INPUT) ? k->embed : 0);
    const float *D = c->ps.data;
    const mmf_param_info *pi = c->ps.p;
    float *gi = g, *gh = g + (size_t)K * G * Hd;
    mmf_linear(gi, x, D + pi[c->p_wih].offset, D + pi[c->p_bih].offset, K, I, G * Hd, nt);
    mmf_linear(gh, h, D + pi[c->p_whh].offset, D + pi[c->p_bhh].offset, K, Hd, G * Hd, nt);
    for (int b = 0; b < K; b++) {
        float *a = gi + (size_t)b * G * Hd, *r = gh + (size_t)b * G * Hd, *hb = h + (size_t)b * Hd;
        if (k->cell == MMF_CELL_GRU) {
            for (int j = 0; j < Hd; j++) {
                float rr = 1.0f / (1.0f + expf(-(a[j] + r[j])));
                float zz = 1.0f / (1.0f + expf(-(a[Hd + j] + r[Hd + j])));
                float nn = tanhf(a[2 * Hd + j] + rr * r[2 * Hd + j]);
                hb[j] = nn + zz * (hb[j] - nn);
            }
        } else {
            float *cb = cst + (size_t)b * Hd;
            for (int j = 0; j < Hd; j++) {
                float ig = 1.0f / (1.0f + expf(-(a[j] + r[j])));
                float fg = 1.0f / (1.0f + expf(-(a[Hd + j] + r[Hd + j])));
                float gg = tanhf(a[2 * Hd + j] + r[2 * Hd + j]);
                float og = 1.0f / (1.0f + expf(-(a[3 * Hd + j] + r[3 * Hd + j])));
                cb[j] = fg * cb[j] + ig * gg;
                hb[j] = og * tanhf(cb[j]);
            }
        }
    }
}

/* Initial state and per-step conditioning input from z (one row): h0/c0 [Hd], u [We]. */
static mmf_status init_state(const mmf_captioner *c, const float *z, float *h0, float *c0, float *u, int nt) {
    const cap_cfg *k = &c->cfg;
    int Hd = k->hidden;
    const float *D = c->ps.data;
    const mmf_param_info *pi = c->ps.p;
    if (k->inject & MMF_INJECT_INIT) {
        int n = k->cell == MMF_CELL_LSTM ? 2 * Hd : Hd;
        float *buf = malloc((size_t)n * sizeof(float));
        if (!buf) return mmf_fail(MMF_ERR_NOMEM, "caption: out of memory");
        mmf_linear(buf, z, D + pi[c->p_init_w].offset, D + pi[c->p_init_b].offset, 1, (int)c->E, n, nt);
        for (int j = 0; j < n; j++) buf[j] = tanhf(buf[j]);
        memcpy(h0, buf, (size_t)Hd * sizeof(float));
        if (c0) memcpy(c0, buf + Hd, (size_t)Hd * sizeof(float));
        free(buf);
    } else {
        memset(h0, 0, (size_t)Hd * sizeof(float));
        if (c0) memset(c0, 0, (size_t)Hd * sizeof(float));
    }
    if (k->inject & MMF_INJECT_INPUT)
        mmf_linear(u, z, D + pi[c->p_in_w].offset, D + pi[c->p_in_b].offset, 1, (int)c->E, k->embed, nt);
    return MMF_OK;
}

/* log-softmax of logits [V] in place */
static void log_softmax(float *x, int V) {
    float mx = x[0];
    for (int v = 1; v < V; v++) if (x[v] > mx) mx = x[v];
    double s = 0.0;
    for (int v = 0; v < V; v++) s += exp((double)(x[v] - mx));
    float ls = (float)log(s) + mx;
    for (int v = 0; v < V; v++) x[v] -= ls;
}

typedef struct cand { float score; int from; int32_t tok; } cand;

static float lp_norm(float score, int len, float alpha) {
    /* GNMT length penalty: ((5 + len) / 6)^alpha; alpha 0 = plain log-probability */
    return alpha == 0.0f ? score : score / powf((5.0f + (float)len) / 6.0f, alpha);
}

/* Beam search for one sample from its z. Writes the best word ids (no bos/eos)
 * into out[max_len], *n_out. Beam 1 is greedy decoding. */
mmf_status cap_beam_search(const mmf_captioner *c, const float *z, const int32_t *prefix, int n_prefix,
                           const mmf_caption_gen_params *gp, int32_t *out, int *n_out) {
    const cap_cfg *k = &c->cfg;
    int K = gp->beam, Hd = k->hidden, We = k->embed, V = c->vocab->n, G = gates(k);
    int L = gp->max_len > 0 ? gp->max_len : k->max_len, nt = gp->n_threads;
    if (L > CAP_MAX_LEN) L = CAP_MAX_LEN;
    if (n_prefix > L) n_prefix = L;
    int lstm = k->cell == MMF_CELL_LSTM, inj_in = (k->inject & MMF_INJECT_INPUT) != 0;
    int I = We + (inj_in ? We : 0);
    size_t need = (size_t)K * Hd * 4 + (size_t)K * I + (size_t)K * 2 * G * Hd + (size_t)K * V + We;
    float *mem = malloc(need * sizeof(float));
    cand *cands = malloc((size_t)K * V * sizeof *cands);
    int32_t *seq = malloc((size_t)K * (L + 1) * 2 * sizeof(int32_t));
    int32_t *fin_seq = malloc((size_t)(K + 1) * (L + 1) * sizeof(int32_t));
    float *fin_score = malloc((size_t)(K + 1) * sizeof(float));
    int *fin_len = malloc((size_t)(K + 1) * sizeof(int));
    if (!mem || !cands || !seq || !fin_seq || !fin_score || !fin_len) {
        free(mem); free(cands); free(seq); free(fin_seq); free(fin_score); free(fin_len);
        return mmf_fail(MMF_ERR_NOMEM, "caption: out of memory for beam %d", K);
    }
    float *h = mem, *cs = h + (size_t)K * Hd, *h2 = cs + (size_t)K * Hd, *c2 = h2 + (size_t)K * Hd;
    float *x = c2 + (size_t)K * Hd, *g = x + (size_t)K * I, *lg = g + (size_t)K * 2 * G * Hd, *u = lg + (size_t)K * V;
    float score[64], nscore[64];
    int32_t *cur = seq, *nxt = seq + (size_t)K * (L + 1);
    if (init_state(c, z, h, lstm ? cs : NULL, u, nt)) {
        free(mem); free(cands); free(seq); free(fin_seq); free(fin_score); free(fin_len);
        return MMF_ERR_NOMEM;
    }
    const float *E = c->ps.data + c->ps.p[c->p_emb].offset;
    const float *Wo = c->ps.data + c->ps.p[c->p_out_w].offset, *bo = c->ps.data + c->ps.p[c->p_out_b].offset;
    int alive = 1, len = 0, n_fin = 0;
    score[0] = 0.0f;
    int32_t last[64];
    last[0] = CAP_BOS;
    /* forced prefix: feed its words, accumulating their log-probabilities */
    for (int t = 0; t < n_prefix; t++) {
        memcpy(x, E + (size_t)last[0] * We, (size_t)We * sizeof(float));
        if (inj_in) memcpy(x + We, u, (size_t)We * sizeof(float));
        cell_step(c, 1, x, h, cs, g, nt);
        mmf_linear(lg, h, Wo, bo, 1, Hd, V, nt);
        log_softmax(lg, V);
        score[0] += lg[prefix[t]];
        cur[len++] = prefix[t];
        last[0] = prefix[t];
    }
    while (alive > 0 && len < L) {
        for (int b = 0; b < alive; b++) {
            memcpy(x + (size_t)b * I, E + (size_t)last[b] * We, (size_t)We * sizeof(float));
            if (inj_in) memcpy(x + (size_t)b * I + We, u, (size_t)We * sizeof(float));
        }
        cell_step(c, alive, x, h, cs, g, nt);
        mmf_linear(lg, h, Wo, bo, alive, Hd, V, nt);
        int nc = 0;
        for (int b = 0; b < alive; b++) {
            float *row = lg + (size_t)b * V;
            log_softmax(row, V);
            /* a word already said costs rp per earlier occurrence: captions such as
             * "heart heart heart" lose to ones that say something new */
            if (gp->repetition_penalty > 0.0f)
                for (int t = 0; t < len; t++) {
                    int32_t w = cur[(size_t)b * (L + 1) + t];
                    if (w >= CAP_N_SPECIAL && w < V) row[w] -= gp->repetition_penalty;
                }
            for (int v = 0; v < V; v++) {
                if (v == CAP_BOS) continue;                 /* <bos> is never emitted */
                if (v == CAP_UNK && V > CAP_N_SPECIAL) continue;   /* nor <unk>, when real words exist */
                cands[nc++] = (cand){score[b] + row[v], b, v};
            }
        }
        /* partial selection: the best 2K candidates in order (K <= 64) */
        int want = 2 * K < nc ? 2 * K : nc;
        for (int i = 0; i < want; i++) {
            int best = i;
            for (int j = i + 1; j < nc; j++)
                if (cands[j].score > cands[best].score ||
                    (cands[j].score == cands[best].score && (cands[j].from < cands[best].from ||
                     (cands[j].from == cands[best].from && cands[j].tok < cands[best].tok)))) best = j;
            cand t = cands[i]; cands[i] = cands[best]; cands[best] = t;
        }
        int na = 0;
        len++;
        for (int i = 0; i < want && na < K; i++) {
            cand cd = cands[i];
            if (cd.tok == CAP_EOS) {
                /* a finished hypothesis; its length counts the words and the <eos> */
                if (n_fin < K + 1) {
                    memcpy(fin_seq + (size_t)n_fin * (L + 1), cur + (size_t)cd.from * (L + 1), (size_t)(len - 1) * sizeof(int32_t));
                    fin_len[n_fin] = len - 1;
                    fin_score[n_fin] = lp_norm(cd.score, len, gp->length_penalty);
                    n_fin++;
                }
                continue;
            }
            memcpy(nxt + (size_t)na * (L + 1), cur + (size_t)cd.from * (L + 1), (size_t)(len - 1) * sizeof(int32_t));
            nxt[(size_t)na * (L + 1) + len - 1] = cd.tok;
            memcpy(h2 + (size_t)na * Hd, h + (size_t)cd.from * Hd, (size_t)Hd * sizeof(float));
            if (lstm) memcpy(c2 + (size_t)na * Hd, cs + (size_t)cd.from * Hd, (size_t)Hd * sizeof(float));
            nscore[na] = cd.score;
            last[na] = cd.tok;
            na++;
        }
        alive = na;
        memcpy(h, h2, (size_t)alive * Hd * sizeof(float));
        if (lstm) memcpy(cs, c2, (size_t)alive * Hd * sizeof(float));
        memcpy(score, nscore, (size_t)alive * sizeof(float));
        int32_t *t = cur; cur = nxt; nxt = t;
        if (n_fin >= K) break;
    }
    /* nothing finished within max_len: take the alive hypotheses as they are */
    for (int b = 0; n_fin == 0 && b < alive; b++) {
        memcpy(fin_seq, cur + (size_t)b * (L + 1), (size_t)len * sizeof(int32_t));
        fin_len[0] = len;
        fin_score[0] = lp_norm(score[b], len, gp->length_penalty);
        n_fin = 1;
    }
    int best = 0;
    for (int i = 1; i < n_fin; i++) if (fin_score[i] > fin_score[best]) best = i;
    if (n_fin == 0) { *n_out = 0; }
    else {
        memcpy(out, fin_seq + (size_t)best * (L + 1), (size_t)fin_len[best] * sizeof(int32_t));
        *n_out = fin_len[best];
    }
    free(mem); free(cands); free(seq); free(fin_seq); free(fin_score); free(fin_len);
    return MMF_OK;
}

/* log p(ids, <eos> | z) by the plain forward (for tests: must equal the tape's loss). */
mmf_status cap_sequence_logprob(const mmf_captioner *c, const float *z, const int32_t *ids, int n, double *lp) {
    const cap_cfg *k = &c->cfg;
    int Hd = k->hidden, We = k->embed, V = c->vocab->n, G = gates(k);
    int inj_in = (k->inject & MMF_INJECT_INPUT) != 0, I = We + (inj_in ? We : 0);
    float *mem = malloc(((size_t)Hd * 2 + I + 2 * (size_t)G * Hd + V + We) * sizeof(float));
    if (!mem) return mmf_fail(MMF_ERR_NOMEM, "caption: out of memory");
    float *h = mem, *cs = h + Hd, *x = cs + Hd, *g = x + I, *lg = g + 2 * (size_t)G * Hd, *u = lg + V;
    mmf_status s = init_state(c, z, h, k->cell == MMF_CELL_LSTM ? cs : NULL, u, 1);
    const float *E = c->ps.data + c->ps.p[c->p_emb].offset;
    const float *Wo = c->ps.data + c->ps.p[c->p_out_w].offset, *bo = c->ps.data + c->ps.p[c->p_out_b].offset;
    double acc = 0.0;
    for (int t = 0; !s && t <= n; t++) {
        int32_t in = t == 0 ? CAP_BOS : ids[t - 1], tgt = t < n ? ids[t] : CAP_EOS;
        memcpy(x, E + (size_t)in * We, (size_t)We * sizeof(float));
        if (inj_in) memcpy(x + We, u, (size_t)We * sizeof(float));
        cell_step(c, 1, x, h, cs, g, 1);
        mmf_linear(lg, h, Wo, bo, 1, Hd, V, 1);
        log_softmax(lg, V);
        acc += lg[tgt];
    }
    free(mem);
    *lp = acc;
    return s;
}
