/* The Unigram model (SentencePiece; tokenizer.json "Unigram"): the best
 * segmentation of a piece by the sum of its pieces' scores (Viterbi, as
 * sentencepiece's and Hugging Face's optimised encoders walk it: start
 * positions left to right, lengths short to long, a later candidate wins only
 * when strictly better). A character no piece starts with is an unknown piece
 * of score min - 10; runs of unknowns fuse into one, which byte fallback
 * spells as <0xXX> pieces of its UTF-8 bytes. */
#include "text/pipeline.h"
#include "core/error.h"
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mmf_unigram {
    mmf_vocab pieces;        /* matchable pieces -> id */
    double *score;           /* by id */
    int32_t n, unk_id;
    int byte_fallback;
    int32_t byte_id[256];    /* <0xXX> ids, -1 if absent */
    double unk_score;
    int max_len;             /* longest matchable piece, in code points */
    int f32;                 /* path sums in float (sentencepiece) or double (Rust) */
};

void mmf_unigram_use_float(mmf_unigram *u) { u->f32 = 1; }

/* sentencepiece's EncodeOptimized keeps float path scores but forms a
 * piece's candidate in double (its score expression is double) and compares
 * that with the stored float; an unknown's candidate is a float sum. Those
 * roundings decide its ties, so they are reproduced; Rust sums in double. */
static double keep(const mmf_unigram *u, double x) { return u->f32 ? (double)(float)x : x; }
static double add_unk(const mmf_unigram *u, double a) { return u->f32 ? (double)((float)a + (float)u->unk_score) : a + u->unk_score; }

void mmf_unigram_free(void *p) {
    mmf_unigram *u = p;
    if (!u) return;
    mmf_vocab_free(&u->pieces);
    free(u->score);
    free(u);
}

mmf_status mmf_unigram_new(char **pieces, const double *scores, const unsigned char *kind, int32_t n, int32_t unk_id,
                           int byte_fallback, const char *file, mmf_unigram **out) {
    *out = NULL;
    if (n <= 0) return mmf_fail(MMF_ERR_FORMAT, "%s: the Unigram vocabulary is empty", file);
    if (unk_id < -1 || unk_id >= n) return mmf_fail(MMF_ERR_FORMAT, "%s: Unigram unk_id %d is outside the vocabulary of %d", file, unk_id, n);
    mmf_unigram *u = calloc(1, sizeof *u);
    if (!u) return mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory");
    u->n = n;
    u->unk_id = unk_id;
    u->byte_fallback = byte_fallback;
    u->score = malloc((size_t)n * sizeof *u->score);
    mmf_status s = u->score ? mmf_vocab_init(&u->pieces, (size_t)n) : mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory");
    double min = DBL_MAX;
    for (int b = 0; b < 256; b++) u->byte_id[b] = -1;
    for (int32_t i = 0; i < n && !s; i++) {
        u->score[i] = scores[i];
        if (scores[i] < min) min = scores[i];
        size_t len = strlen(pieces[i]);
        unsigned int bv;
        char tail;
        if (kind && kind[i] == 2) {
            if (len == 6 && sscanf(pieces[i], "<0x%2X%c", &bv, &tail) == 2 && tail == '>') u->byte_id[bv] = i;
            continue;
        }
        if (byte_fallback && len == 6 && sscanf(pieces[i], "<0x%2X%c", &bv, &tail) == 2 && tail == '>' && u->byte_id[bv] < 0)
            u->byte_id[bv] = i;
        if ((kind && kind[i] == 1) || !len) continue;
        if (mmf_vocab_get(&u->pieces, pieces[i], len) >= 0) continue;   /* the first id of a repeated piece */
        s = mmf_vocab_set(&u->pieces, pieces[i], len, i, 0);
        int cps = 0;
        for (size_t k = 0; k < len; k++) cps += ((unsigned char)pieces[i][k] & 0xC0) != 0x80;
        if (cps > u->max_len) u->max_len = cps;
    }
    u->unk_score = min - 10.0;   /* (in float where sums are float, as min_score_ - kUnkPenalty) */
    if (s) { mmf_unigram_free(u); return s; }
    *out = u;
    return MMF_OK;
}

typedef struct node { double score; int32_t id; int32_t start; } node;

static mmf_status emit_unknown(const mmf_unigram *u, const char *bytes, size_t len, mmf_i32vec *ids) {
    if (u->byte_fallback) {
        int all = 1;
        for (size_t k = 0; k < len && all; k++) all = u->byte_id[(unsigned char)bytes[k]] >= 0;
        if (all) {
            for (size_t k = 0; k < len; k++) {
                mmf_status s = mmf_i32vec_push(ids, u->byte_id[(unsigned char)bytes[k]]);
                if (s) return s;
            }
            return MMF_OK;
        }
    }
    if (u->unk_id < 0) return mmf_fail(MMF_ERR_FORMAT, "tokenizer: text needs the unknown piece, but the Unigram model has none");
    return mmf_i32vec_push(ids, u->unk_id);
}

mmf_status mmf_unigram_encode(const void *p, const int32_t *cp, size_t n, mmf_i32vec *ids) {
    const mmf_unigram *u = p;
    if (!n) return MMF_OK;
    mmf_strbuf b = {0};
    size_t *off = malloc((n + 1) * sizeof *off);
    node *best = malloc((n + 1) * sizeof *best);
    int32_t *path = malloc((n + 1) * sizeof *path);
    mmf_status s = off && best && path ? MMF_OK : mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory");
    for (size_t i = 0; i < n && !s; i++) {
        off[i] = b.n;
        s = mmf_strbuf_cp(&b, cp[i]);
    }
    if (s) goto done;
    off[n] = b.n;
    for (size_t i = 0; i <= n; i++) best[i] = (node){0, -2, -1};   /* id -2: not reached */
    best[0].id = -1;
    for (size_t i = 0; i < n; i++) {
        if (best[i].id == -2) continue;
        int single = 0;
        for (size_t L = 1; L <= (size_t)u->max_len && i + L <= n; L++) {
            int32_t id = mmf_vocab_get(&u->pieces, b.s + off[i], off[i + L] - off[i]);
            if (id < 0) continue;
            double c = best[i].score + u->score[id];
            if (best[i + L].id == -2 || c > best[i + L].score) best[i + L] = (node){keep(u, c), id, (int32_t)i};
            if (L == 1) single = 1;
        }
        if (!single) {
            double c = add_unk(u, best[i].score);
            if (best[i + 1].id == -2 || c > best[i + 1].score) best[i + 1] = (node){c, -3, (int32_t)i};   /* -3: unknown */
        }
    }
    /* back from the end */
    size_t np = 0;
    for (size_t e = n; e > 0; e = (size_t)best[e].start) path[np++] = (int32_t)e;
    for (size_t k = np; k-- > 0 && !s;) {
        size_t e = (size_t)path[k], st = (size_t)best[e].start;
        if (best[e].id != -3) { s = mmf_i32vec_push(ids, best[e].id); continue; }
        /* fuse a run of unknowns */
        while (k > 0 && best[path[k - 1]].id == -3) { k--; e = (size_t)path[k]; }
        s = emit_unknown(u, b.s + off[st], off[e] - off[st], ids);
    }
done:
    free(b.s);
    free(off);
    free(best);
    free(path);
    return s;
}
