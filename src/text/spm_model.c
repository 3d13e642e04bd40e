/* A reader for SentencePiece's ModelProto (spiece.model,
 * sentencepiece.bpe.model, tokenizer.model): the pieces (text, score, type),
 * the trainer spec fields encoding needs (model type, byte fallback, special
 * ids) and the normaliser spec (charsmap, whitespace rules).
 *
 * Hand-written rather than linking libsentencepiece: those few fields of a
 * stable protobuf schema take one small reader, and a C++ library (and
 * libprotobuf under it) would enter a C library's link for them. Unknown
 * fields are skipped as protobuf requires; every length is bounds-checked. */
#include "text/spm_model.h"
#include "core/error.h"
#include "io/json.h"
#include <stdlib.h>
#include <string.h>

typedef struct rd { const unsigned char *p, *end; } rd;

static int varint(rd *r, uint64_t *v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return 0;
        unsigned char b = *r->p++;
        *v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) return 1;
    }
    return 0;
}

/* next field: number, wire type; LEN fields give their bytes in *sub */
static int field(rd *r, uint32_t *num, int *wt, uint64_t *v, rd *sub) {
    uint64_t key;
    if (!varint(r, &key)) return 0;
    *num = (uint32_t)(key >> 3);
    *wt = (int)(key & 7);
    switch (*wt) {
    case 0: return varint(r, v);
    case 1: if (r->end - r->p < 8) return 0; r->p += 8; return 1;
    case 5:
        if (r->end - r->p < 4) return 0;
        *v = (uint64_t)r->p[0] | (uint64_t)r->p[1] << 8 | (uint64_t)r->p[2] << 16 | (uint64_t)r->p[3] << 24;
        r->p += 4;
        return 1;
    case 2:
        if (!varint(r, v) || *v > (uint64_t)(r->end - r->p)) return 0;
        sub->p = r->p;
        sub->end = r->p + *v;
        r->p += *v;
        return 1;
    default: return 0;
    }
}

void mmf_spm_model_free(mmf_spm_model *m) {
    if (!m) return;
    for (int32_t i = 0; i < m->n; i++) free(m->piece[i]);
    free(m->piece);
    free(m->score);
    free(m->type);
    free(m->charsmap);
    memset(m, 0, sizeof *m);
}

static mmf_status bad(const char *file, const char *what) {
    return mmf_fail(MMF_ERR_FORMAT, "%s: not a SentencePiece model (%s)", file, what);
}

static mmf_status read_piece(mmf_spm_model *m, rd r, const char *file) {
    if (m->n == m->cap) {
        int32_t cap = m->cap ? 2 * m->cap : 1024;
        char **p = realloc(m->piece, (size_t)cap * sizeof *p);
        if (p) m->piece = p;
        float *s = realloc(m->score, (size_t)cap * sizeof *s);
        if (s) m->score = s;
        unsigned char *t = realloc(m->type, (size_t)cap);
        if (t) m->type = t;
        if (!p || !s || !t) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", file);
        m->cap = cap;
    }
    char *text = NULL;
    float score = 0;
    int type = 1;   /* NORMAL */
    uint32_t num;
    int wt;
    uint64_t v;
    rd sub;
    while (r.p < r.end) {
        if (!field(&r, &num, &wt, &v, &sub)) { free(text); return bad(file, "a truncated piece"); }
        if (num == 1 && wt == 2) {
            free(text);
            size_t len = (size_t)(sub.end - sub.p);
            text = malloc(len + 1);
            if (!text) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", file);
            memcpy(text, sub.p, len);
            text[len] = 0;
            if (memchr(text, 0, len) || !mmf_utf8_valid(text, len)) { free(text); return bad(file, "a piece that is not UTF-8 text"); }
        } else if (num == 2 && wt == 5) {
            uint32_t u = (uint32_t)v;
            memcpy(&score, &u, 4);
        } else if (num == 3 && wt == 0) {
            type = v >= 1 && v <= 6 ? (int)v : 1;
        }
    }
    if (!text) return bad(file, "a piece without text");
    m->piece[m->n] = text;
    m->score[m->n] = score;
    m->type[m->n] = (unsigned char)type;
    m->n++;
    return MMF_OK;
}

static int32_t as_i32(uint64_t v) { return (int32_t)(uint32_t)v; }   /* int32 fields: negative ones are 10-byte varints */

mmf_status mmf_spm_model_read(const char *path, mmf_spm_model *m) {
    memset(m, 0, sizeof *m);
    m->model_type = 1;
    m->unk_id = 0;
    m->bos_id = 1;
    m->eos_id = 2;
    m->pad_id = -1;
    m->add_dummy_prefix = m->remove_extra_ws = m->escape_ws = 1;
    char *buf;
    size_t len;
    mmf_status s = mmf_read_file(path, (size_t)1 << 30, &buf, &len);
    if (s) return s;
    rd r = {(const unsigned char *)buf, (const unsigned char *)buf + len}, sub, sub2;
    uint32_t num, num2;
    int wt, wt2;
    uint64_t v, v2;
    while (!s && r.p < r.end) {
        if (!field(&r, &num, &wt, &v, &sub)) { s = bad(path, "a truncated field"); break; }
        if (num == 1 && wt == 2) s = read_piece(m, sub, path);
        else if (num == 2 && wt == 2) {   /* TrainerSpec */
            while (!s && sub.p < sub.end) {
                if (!field(&sub, &num2, &wt2, &v2, &sub2)) { s = bad(path, "a truncated trainer_spec"); break; }
                if (wt2 != 0) continue;
                if (num2 == 3) m->model_type = (int)v2;
                else if (num2 == 35) m->byte_fallback = v2 != 0;
                else if (num2 == 24) m->whitespace_suffix = v2 != 0;
                else if (num2 == 40) m->unk_id = as_i32(v2);
                else if (num2 == 41) m->bos_id = as_i32(v2);
                else if (num2 == 42) m->eos_id = as_i32(v2);
                else if (num2 == 43) m->pad_id = as_i32(v2);
            }
        } else if (num == 3 && wt == 2) {   /* NormalizerSpec */
            while (!s && sub.p < sub.end) {
                if (!field(&sub, &num2, &wt2, &v2, &sub2)) { s = bad(path, "a truncated normalizer_spec"); break; }
                if (num2 == 2 && wt2 == 2) {
                    free(m->charsmap);
                    m->charsmap_len = (size_t)(sub2.end - sub2.p);
                    m->charsmap = malloc(m->charsmap_len + 1);
                    if (!m->charsmap) { s = mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", path); break; }
                    memcpy(m->charsmap, sub2.p, m->charsmap_len);
                } else if (wt2 == 0 && num2 == 3) m->add_dummy_prefix = v2 != 0;
                else if (wt2 == 0 && num2 == 4) m->remove_extra_ws = v2 != 0;
                else if (wt2 == 0 && num2 == 5) m->escape_ws = v2 != 0;
            }
        }
    }
    free(buf);
    if (!s && m->n == 0) s = bad(path, "no pieces");
    if (!s && (m->model_type < 1 || m->model_type > 2))
        s = mmf_fail(MMF_ERR_UNSUPPORTED, "%s: SentencePiece model type %d (supported: 1 Unigram, 2 BPE)", path, m->model_type);
    if (!s && m->whitespace_suffix)
        s = mmf_fail(MMF_ERR_UNSUPPORTED, "%s: treat_whitespace_as_suffix models are not supported", path);
    if (!s && (m->unk_id < 0 || m->unk_id >= m->n))
        s = mmf_fail(MMF_ERR_FORMAT, "%s: unk_id %d is outside the %d pieces", path, m->unk_id, m->n);
    if (s) mmf_spm_model_free(m);
    return s;
}
