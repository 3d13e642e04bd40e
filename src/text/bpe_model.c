/* BPE models of the pipeline tokenizer (see pipeline.h).
 *
 * Rank BPE (tokenizer.json "BPE" other than CLIP's; vocab.json + merges.txt
 * of GPT-2 / RoBERTa): each character of a piece is a symbol (with
 * continuing_subword_prefix / end_of_word_suffix where set), a character
 * missing from the vocabulary becomes its <0xXX> byte pieces (byte_fallback)
 * or the unknown token (runs fused when fuse_unk), then the merge engine of
 * text/bpe.c applies merges by rank. Byte-level models see GPT-2's byte
 * characters, which the ByteLevel pre-tokeniser produced.
 *
 * SentencePiece BPE (.model): symbols are characters; the adjacent pair whose
 * concatenation is the highest-scoring piece merges first (ties: leftmost),
 * as sentencepiece's bpe_model.cc does; leftover characters that are no piece
 * are unknown, spelled as bytes with byte fallback. */
#include "text/pipeline.h"
#include "text/bpe.h"
#include "text/merge_queue.h"
#include "text/tokenizer.h"
#include "core/error.h"
#include "io/json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


typedef struct rank_bpe {
    mmf_bpe *eng;
    int32_t unk;              /* -1: none */
    int byte_fallback, fuse_unk, ignore_merges;
    char prefix[32], suffix[32];
    int32_t byte_id[256];
} rank_bpe;

static void rank_free(void *p) {
    rank_bpe *b = p;
    if (!b) return;
    mmf_bpe_free(b->eng);
    free(b);
}

static mmf_status rank_encode(const void *p, const int32_t *cp, size_t n, mmf_i32vec *ids) {
    const rank_bpe *b = p;
    if (!n) return MMF_OK;
    mmf_strbuf s = {0};
    mmf_status st = MMF_OK;
    if (b->ignore_merges) {
        for (size_t i = 0; i < n && !st; i++) st = mmf_strbuf_cp(&s, cp[i]);
        int32_t id = st ? -1 : mmf_bpe_id(b->eng, s.s, s.n);
        if (id >= 0) { free(s.s); return mmf_i32vec_push(ids, id); }
    }
    int32_t *w = malloc(sizeof(int32_t) * (4 * n + 1));
    if (!w) { free(s.s); return mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory"); }
    size_t m = 0;
    int pending_unk = 0;
    for (size_t i = 0; i < n && !st; i++) {
        s.n = 0;
        if (i && b->prefix[0]) st = mmf_strbuf_add(&s, b->prefix, strlen(b->prefix));
        if (!st) st = mmf_strbuf_cp(&s, cp[i]);
        if (!st && i + 1 == n && b->suffix[0]) st = mmf_strbuf_add(&s, b->suffix, strlen(b->suffix));
        if (st) break;
        int32_t id = mmf_bpe_id(b->eng, s.s, s.n);
        if (id >= 0) {
            if (pending_unk) { w[m++] = b->unk; pending_unk = 0; }
            w[m++] = id;
            continue;
        }
        if (b->byte_fallback) {
            int all = 1;
            for (size_t k = 0; k < s.n && all; k++) all = b->byte_id[(unsigned char)s.s[k]] >= 0;
            if (all) {
                if (pending_unk) { w[m++] = b->unk; pending_unk = 0; }
                for (size_t k = 0; k < s.n; k++) w[m++] = b->byte_id[(unsigned char)s.s[k]];
                continue;
            }
        }
        if (b->unk < 0) continue;   /* no unknown token: the character is dropped */
        if (pending_unk && !b->fuse_unk) w[m++] = b->unk;
        pending_unk = 1;
    }
    if (!st && pending_unk) w[m++] = b->unk;
    if (!st) {
        st = mmf_bpe_merge(b->eng, w, m, &m);
        if (!st) st = mmf_i32vec_reserve(ids, ids->n + m);
        if (!st) { memcpy(ids->v + ids->n, w, m * sizeof *w); ids->n += m; }
    }
    free(w);
    free(s.s);
    return st;
}

static mmf_status adopt_vocab(mmf_tokenizer *t, const mmf_bpe *eng) {
    for (int64_t i = 0; i < mmf_bpe_vocab_size(eng); i++) {
        const char *tok = mmf_bpe_token(eng, (int32_t)i);
        if (tok[0]) MMF_TRY(mmf_vocab_set(&t->vocab, tok, strlen(tok), (int32_t)i, 1));
    }
    return MMF_OK;
}

static void byte_ids(rank_bpe *b) {
    for (int k = 0; k < 256; k++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", k);
        b->byte_id[k] = mmf_bpe_id(b->eng, name, 6);
    }
}

mmf_status mmf_bpe_model_from_json(mmf_tokenizer *t, const cJSON *model, const char *file, mmf_tok_model *out) {
    rank_bpe *b = calloc(1, sizeof *b);
    if (!b) return mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory");
    *out = (mmf_tok_model){"BPE", rank_encode, rank_free, b};
    MMF_TRY(mmf_bpe_engine_from_model(model, file, &b->eng));
    const char *unk = NULL, *prefix = NULL, *suffix = NULL;
    MMF_TRY(mmf_json_str(model, "unk_token", NULL, file, &unk));
    MMF_TRY(mmf_json_str(model, "continuing_subword_prefix", NULL, file, &prefix));
    MMF_TRY(mmf_json_str(model, "end_of_word_suffix", NULL, file, &suffix));
    MMF_TRY(mmf_json_bool(model, "byte_fallback", 0, file, &b->byte_fallback));
    MMF_TRY(mmf_json_bool(model, "fuse_unk", 0, file, &b->fuse_unk));
    MMF_TRY(mmf_json_bool(model, "ignore_merges", 0, file, &b->ignore_merges));
    const cJSON *drop = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (cJSON_IsNumber(drop) && drop->valuedouble > 0)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: BPE dropout %g (only deterministic BPE, dropout null or 0)", file, drop->valuedouble);
    if ((prefix && strlen(prefix) >= sizeof b->prefix) || (suffix && strlen(suffix) >= sizeof b->suffix))
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: BPE continuing_subword_prefix / end_of_word_suffix longer than 31 bytes", file);
    if (prefix) strcpy(b->prefix, prefix);
    if (suffix) strcpy(b->suffix, suffix);
    b->unk = unk ? mmf_bpe_id(b->eng, unk, strlen(unk)) : -1;
    byte_ids(b);
    MMF_TRY(adopt_vocab(t, b->eng));
    t->unk_id = b->unk;
    return MMF_OK;
}

mmf_status mmf_bpe_model_from_files(mmf_tokenizer *t, const char *dir, mmf_tok_model *out) {
    rank_bpe *b = calloc(1, sizeof *b);
    if (!b) return mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory");
    *out = (mmf_tok_model){"BPE", rank_encode, rank_free, b};
    char vocab[4096], merges[4096];
    snprintf(vocab, sizeof vocab, "%s/vocab.json", dir);
    snprintf(merges, sizeof merges, "%s/merges.txt", dir);
    MMF_TRY(mmf_bpe_engine_from_files(vocab, merges, &b->eng));
    b->unk = mmf_bpe_id(b->eng, "<unk>", 5);
    byte_ids(b);
    MMF_TRY(adopt_vocab(t, b->eng));
    t->unk_id = b->unk;
    return MMF_OK;
}

/* ------------------------------------------------- SentencePiece BPE */

typedef struct spm_bpe {
    mmf_vocab pieces;        /* mergeable pieces -> id */
    double *score;
    int32_t unk;
    int byte_fallback, split_at_space;
    int32_t byte_id[256];
} spm_bpe;

static void spm_free(void *p) {
    spm_bpe *b = p;
    if (!b) return;
    mmf_vocab_free(&b->pieces);
    free(b->score);
    free(b);
}

/* a merge of adjacent pieces covering code points [beg, end) of the segment:
 * the piece's score as the priority (higher merges first) */
typedef struct spm_seg { const spm_bpe *b; const char *s; const size_t *off; } spm_seg;

static int spm_pair(void *ctx, int32_t l, int32_t r, size_t beg, size_t mid, size_t end, double *prio, int32_t *merged) {
    (void)l, (void)r, (void)mid;
    const spm_seg *g = ctx;
    int32_t id = mmf_vocab_get(&g->b->pieces, g->s + g->off[beg], g->off[end] - g->off[beg]);
    if (id < 0) return 0;
    *prio = -g->b->score[id];
    *merged = id;
    return 1;
}

/* one segment [cp, cp+n): symbols are code points at first, pieces as they merge */
static mmf_status spm_segment(const spm_bpe *b, const int32_t *cp, size_t n, mmf_i32vec *ids) {
    mmf_strbuf s = {0};
    size_t *off = malloc((n + 1) * sizeof *off), *start = malloc((n + 1) * sizeof *start);
    int32_t *val = malloc((n + 1) * sizeof *val);
    mmf_status st = off && start && val ? MMF_OK : mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory");
    for (size_t i = 0; i < n && !st; i++) {
        off[i] = s.n;
        val[i] = -1;   /* unused by spm_pair: pieces are looked up by their bytes */
        st = mmf_strbuf_cp(&s, cp[i]);
    }
    size_t m = 0;
    if (!st) {
        off[n] = s.n;
        spm_seg g = {b, s.s, off};
        st = mmf_merge_run(val, n, spm_pair, &g, start, &m);
    }
    for (size_t i = 0; i < m && !st; i++) {
        size_t beg = off[start[i]], len = (i + 1 < m ? off[start[i + 1]] : s.n) - beg;
        int32_t id = mmf_vocab_get(&b->pieces, s.s + beg, len);
        if (id >= 0) { st = mmf_i32vec_push(ids, id); continue; }
        int all = b->byte_fallback;
        for (size_t k = 0; k < len && all; k++) all = b->byte_id[(unsigned char)s.s[beg + k]] >= 0;
        if (all) for (size_t k = 0; k < len && !st; k++) st = mmf_i32vec_push(ids, b->byte_id[(unsigned char)s.s[beg + k]]);
        else st = mmf_i32vec_push(ids, b->unk);
    }
    free(off);
    free(start);
    free(val);
    free(s.s);
    return st;
}

static mmf_status spm_encode(const void *p, const int32_t *cp, size_t n, mmf_i32vec *ids) {
    const spm_bpe *b = p;
    if (!b->split_at_space) return n ? spm_segment(b, cp, n, ids) : MMF_OK;
    /* no piece has U+2581 inside: segments before each one merge alone */
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && cp[j] != MMF_SPIECE_SPACE) j++;
        MMF_TRY(spm_segment(b, cp + i, j - i, ids));
        i = j;
    }
    return MMF_OK;
}

mmf_status mmf_bpe_model_from_spm(char **pieces, const double *scores, const unsigned char *kind, int32_t n,
                                  int32_t unk_id, int byte_fallback, const char *file, mmf_tok_model *out) {
    spm_bpe *b = calloc(1, sizeof *b);
    if (!b) return mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory");
    *out = (mmf_tok_model){"BPE", spm_encode, spm_free, b};
    b->unk = unk_id;
    b->byte_fallback = byte_fallback;
    b->split_at_space = 1;
    b->score = malloc((size_t)n * sizeof *b->score);
    if (!b->score) return mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory");
    MMF_TRY(mmf_vocab_init(&b->pieces, (size_t)n));
    for (int k = 0; k < 256; k++) b->byte_id[k] = -1;
    for (int32_t i = 0; i < n; i++) {
        b->score[i] = scores[i];
        size_t len = strlen(pieces[i]);
        unsigned bv;
        char tail;
        if (kind[i] == 2 && len == 6 && sscanf(pieces[i], "<0x%2X%c", &bv, &tail) == 2 && tail == '>') { b->byte_id[bv] = i; continue; }
        if (kind[i] != 0 || !len || mmf_vocab_get(&b->pieces, pieces[i], len) >= 0) continue;
        /* U+2581 (e2 96 81) anywhere but first: segments cannot be merged apart */
        for (size_t k = 1; k + 2 < len + 0 && b->split_at_space; k++)
            if (!memcmp(pieces[i] + k, "\xe2\x96\x81", 3)) b->split_at_space = 0;
        MMF_TRY(mmf_vocab_set(&b->pieces, pieces[i], len, i, 0));
    }
    (void)file;
    return MMF_OK;
}
