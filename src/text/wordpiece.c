/* BERT's tokenizer: BertNormalizer + BertPreTokenizer + WordPiece, with the
 * semantics of Hugging Face `tokenizers` (Rust) and its JS port.
 *
 * Where the two references disagree we follow:
 *  - control characters: Cc, Cf, Co, Cs are dropped (JS); unassigned code
 *    points (Cn) are kept, so emoji newer than our Unicode tables survive as
 *    [UNK] instead of vanishing;
 *  - CJK ideographs outside the BMP are split like the BMP ones (Rust; the
 *    JS port looks at UTF-16 units and misses them);
 *  - lower-casing is per code point (Rust): final capital sigma becomes
 *    U+03C3, not U+03C2 as JS's context-sensitive toLowerCase gives;
 *  - accents: NFD then drop Mn (both), before lower-casing (Rust).
 * utf8proc supplies categories, NFD and case mapping. */
#include "text/tokenizer.h"
#include "core/error.h"
#include "io/json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>


typedef struct wp_impl {
    int has_normalizer, clean_text, chinese, strip_accents /* -1 = follow lowercase */, lowercase;
    int has_pretok;
    int max_chars;
    char prefix[32];
    size_t prefix_len;
} wp_impl;

static int is_control(int32_t c) {
    if (c == '\t' || c == '\n' || c == '\r') return 0;
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CO ||
           k == UTF8PROC_CATEGORY_CS;
}

static int is_cjk(int32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static int is_punct(int32_t c) {
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return 1;
    if (c < 128) return 0;
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

static mmf_status wp_normalize(const mmf_tokenizer *t, const int32_t *cp, size_t n, mmf_i32vec *out) {
    const wp_impl *w = t->impl;
    if (!w->has_normalizer) {
        MMF_TRY(mmf_i32vec_reserve(out, out->n + n));
        memcpy(out->v + out->n, cp, n * sizeof *cp);
        out->n += n;
        return MMF_OK;
    }
    int strip = w->strip_accents < 0 ? w->lowercase : w->strip_accents;
    for (size_t i = 0; i < n; i++) {
        int32_t c = cp[i];
        if (w->clean_text) {
            if (c == 0 || c == 0xFFFD || is_control(c)) continue;
            if (mmf_tok_is_space(c) && c != 0xFEFF) c = ' ';
        }
        if (w->chinese && is_cjk(c)) {
            MMF_TRY(mmf_i32vec_push(out, ' '));
            MMF_TRY(mmf_i32vec_push(out, c));
            MMF_TRY(mmf_i32vec_push(out, ' '));
            continue;
        }
        int32_t dec[32];
        int nd = 1;
        dec[0] = c;
        if (strip) {
            int last = 0;
            utf8proc_ssize_t r = utf8proc_decompose_char(c, dec, 32, UTF8PROC_DECOMPOSE, &last);
            if (r < 1 || r > 32) { dec[0] = c; r = 1; }
            nd = (int)r;
        }
        for (int k = 0; k < nd; k++) {
            int32_t d = dec[k];
            if (strip && utf8proc_category(d) == UTF8PROC_CATEGORY_MN) continue;
            if (w->lowercase) {
                if (d == 0x130) {   /* the one unconditional multi-code-point lowercase */
                    MMF_TRY(mmf_i32vec_push(out, 'i'));
                    MMF_TRY(mmf_i32vec_push(out, 0x307));
                    continue;
                }
                d = utf8proc_tolower(d);
            }
            MMF_TRY(mmf_i32vec_push(out, d));
        }
    }
    return MMF_OK;
}

/* One word (no whitespace, no punctuation inside) -> WordPiece ids. */
static mmf_status wp_word(const mmf_tokenizer *t, const int32_t *cp, size_t n, mmf_i32vec *ids, mmf_strbuf *buf) {
    const wp_impl *w = t->impl;
    if (n > (size_t)w->max_chars) goto unk;
    /* UTF-8 of the word after the prefix; off[i] = byte offset of code point i */
    buf->n = 0;
    MMF_TRY(mmf_strbuf_add(buf, w->prefix, w->prefix_len));
    size_t *off = malloc((n + 1) * sizeof *off);
    if (!off) return mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory");
    for (size_t i = 0; i < n; i++) {
        off[i] = buf->n - w->prefix_len;
        mmf_status s = mmf_strbuf_cp(buf, cp[i]);
        if (s) { free(off); return s; }
    }
    off[n] = buf->n - w->prefix_len;
    const char *bytes = buf->s + w->prefix_len;
    size_t first = ids->n, start = 0;
    while (start < n) {
        size_t end = n;
        int32_t found = -1;
        while (start < end) {
            if (start == 0) found = mmf_vocab_get(&t->vocab, bytes, off[end]);
            else {
                /* prefix immediately before the substring: copy it in place */
                char *k = (char *)bytes + off[start] - w->prefix_len;
                char save[32];
                memcpy(save, k, w->prefix_len);
                memcpy(k, w->prefix, w->prefix_len);
                found = mmf_vocab_get(&t->vocab, k, w->prefix_len + off[end] - off[start]);
                memcpy(k, save, w->prefix_len);
            }
            if (found >= 0) break;
            end--;
        }
        if (found < 0) { ids->n = first; free(off); goto unk; }
        mmf_status s = mmf_i32vec_push(ids, found);
        if (s) { free(off); return s; }
        start = end;
    }
    free(off);
    return MMF_OK;
unk:
    if (t->unk_id < 0) return mmf_fail(MMF_ERR_FORMAT, "%s: a word needs the unknown token, but the vocabulary has none", t->path);
    return mmf_i32vec_push(ids, t->unk_id);
}

static mmf_status wp_tokenize(const mmf_tokenizer *t, const int32_t *cp, size_t n, int first, mmf_i32vec *ids) {
    const wp_impl *w = t->impl;
    (void)first;
    mmf_strbuf buf = {0};
    mmf_status s = MMF_OK;
    if (!w->has_pretok) {
        s = n ? wp_word(t, cp, n, ids, &buf) : MMF_OK;
        free(buf.s);
        return s;
    }
    size_t i = 0;
    while (i < n && !s) {
        if (mmf_tok_is_space(cp[i])) { i++; continue; }
        if (is_punct(cp[i])) { s = wp_word(t, cp + i, 1, ids, &buf); i++; continue; }
        size_t j = i;
        while (j < n && !mmf_tok_is_space(cp[j]) && !is_punct(cp[j])) j++;
        s = wp_word(t, cp + i, j - i, ids, &buf);
        i = j;
    }
    free(buf.s);
    return s;
}

static void wp_free(void *impl) { free(impl); }

static const mmf_tok_ops wp_ops = {"WordPiece", wp_normalize, wp_tokenize, wp_free};

static mmf_status wp_new(mmf_tokenizer *t, wp_impl **out) {
    wp_impl *w = calloc(1, sizeof *w);
    if (!w) return mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory");
    *w = (wp_impl){.has_normalizer = 1, .clean_text = 1, .chinese = 1, .strip_accents = -1, .lowercase = 1,
                   .has_pretok = 1, .max_chars = 100, .prefix = "##", .prefix_len = 2};
    t->ops = &wp_ops;
    t->impl = w;
    *out = w;
    return MMF_OK;
}

/* strip_accents: absent/null = follow lowercase, else a bool */
static mmf_status tri_bool(const cJSON *o, const char *key, const char *file, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) { *out = -1; return MMF_OK; }
    if (!cJSON_IsBool(v)) return mmf_fail(MMF_ERR_FORMAT, "%s: field \"%s\" should be true, false or null", file, key);
    *out = cJSON_IsTrue(v);
    return MMF_OK;
}


/* tokenizer.json's normalizer or pre_tokenizer beside a WordPiece model: null
 * or absent (*node = NULL), or the Bert one (anything else is refused) */
static mmf_status bert_step(const cJSON *root, const char *key, const char *bert_type, const char *file, const cJSON **node) {
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, key);
    *node = NULL;
    if (!n || cJSON_IsNull(n)) return MMF_OK;
    const char *type = NULL;
    MMF_TRY(mmf_json_str(n, "type", NULL, file, &type));
    if (!type || strcmp(type, bert_type))
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: %s type \"%s\" with a WordPiece model (supported: %s, null)", file, key,
                        type ? type : "(none)", bert_type);
    *node = n;
    return MMF_OK;
}
static mmf_status special_ids(mmf_tokenizer *t, const char *unk) {
    t->unk_id = mmf_vocab_get(&t->vocab, unk, strlen(unk));
    if (t->pad_id < 0) t->pad_id = mmf_vocab_get(&t->vocab, "[PAD]", 5);
    if (t->pad_id < 0) t->pad_id = 0;
    return MMF_OK;
}

mmf_status mmf_wordpiece_from_json(mmf_tokenizer *t, const cJSON *root, const char *file) {
    wp_impl *w = NULL;
    MMF_TRY(wp_new(t, &w));
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab)) return mmf_fail(MMF_ERR_FORMAT, "%s: model.vocab should be an object {token: id}", file);
    for (const cJSON *e = vocab->child; e; e = e->next) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > INT32_MAX || e->valuedouble != (double)(int64_t)e->valuedouble)
            return mmf_fail(MMF_ERR_FORMAT, "%s: model.vocab[\"%.40s\"] should be a non-negative integer id", file, e->string);
        MMF_TRY(mmf_vocab_set(&t->vocab, e->string, strlen(e->string), (int32_t)e->valuedouble, 0));
    }
    const char *unk = "[UNK]", *prefix = "##";
    int64_t mc;
    MMF_TRY(mmf_json_str(model, "unk_token", "[UNK]", file, &unk));
    MMF_TRY(mmf_json_str(model, "continuing_subword_prefix", "##", file, &prefix));
    MMF_TRY(mmf_json_int(model, "max_input_chars_per_word", 100, 1, 1 << 20, file, &mc));
    if (strlen(prefix) >= sizeof w->prefix)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: model.continuing_subword_prefix is longer than %zu bytes", file, sizeof w->prefix - 1);
    strcpy(w->prefix, prefix);
    w->prefix_len = strlen(prefix);
    w->max_chars = (int)mc;

    const cJSON *norm, *pt;
    MMF_TRY(bert_step(root, "normalizer", "BertNormalizer", file, &norm));
    if (!norm) w->has_normalizer = 0;
    else {
        MMF_TRY(mmf_json_bool(norm, "clean_text", 1, file, &w->clean_text));
        MMF_TRY(mmf_json_bool(norm, "handle_chinese_chars", 1, file, &w->chinese));
        MMF_TRY(mmf_json_bool(norm, "lowercase", 1, file, &w->lowercase));
        MMF_TRY(tri_bool(norm, "strip_accents", file, &w->strip_accents));
    }
    MMF_TRY(bert_step(root, "pre_tokenizer", "BertPreTokenizer", file, &pt));
    if (!pt) w->has_pretok = 0;
    const cJSON *pad = cJSON_GetObjectItemCaseSensitive(root, "padding");
    if (cJSON_IsObject(pad)) {
        int64_t pid;
        MMF_TRY(mmf_json_int(pad, "pad_id", -1, -1, INT32_MAX, file, &pid));
        t->pad_id = (int32_t)pid;
    }
    return special_ids(t, unk);
}

/* tokenizer_config.json special tokens are strings or {"content": ...} */
static mmf_status cfg_token(const cJSON *cfg, const char *key, const char *def, const char *file, const char **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsObject(v)) return mmf_json_str(v, "content", def, file, out);
    return mmf_json_str(cfg, key, def, file, out);
}

mmf_status mmf_wordpiece_from_vocab(mmf_tokenizer *t, const char *dir) {
    wp_impl *w = NULL;
    MMF_TRY(wp_new(t, &w));
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    char *text;
    size_t len;
    MMF_TRY(mmf_read_file(path, (size_t)1 << 30, &text, &len));
    if (!mmf_utf8_valid(text, len)) { free(text); return mmf_fail(MMF_ERR_FORMAT, "%s: not valid UTF-8", path); }
    mmf_status s = MMF_OK;
    int32_t id = 0;
    /* one token a line, the line number is the id (Python's load_vocab keeps
     * everything but the "\n"; a repeated token takes the later id) */
    for (size_t i = 0; i < len && !s;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t e = nl ? (size_t)(nl - text) : len;
        if (memchr(text + i, 0, e - i)) s = mmf_fail(MMF_ERR_FORMAT, "%s: line %d contains a NUL byte", path, id + 1);
        else s = mmf_vocab_set(&t->vocab, text + i, e - i, id++, 1);
        i = e + 1;
    }
    free(text);
    if (s) return s;
    if (id == 0) return mmf_fail(MMF_ERR_FORMAT, "%s: empty vocabulary", path);

    cJSON *cfg = NULL;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    FILE *f = fopen(path, "rb");
    if (f) { fclose(f); MMF_TRY(mmf_json_load(path, &cfg)); }
    else cfg = cJSON_CreateObject();
    const char *unk = "[UNK]", *cls = "[CLS]", *sep = "[SEP]", *pad = "[PAD]", *mask = "[MASK]";
    s = mmf_json_bool(cfg, "do_lower_case", 1, path, &w->lowercase);
    if (!s) s = mmf_json_bool(cfg, "tokenize_chinese_chars", 1, path, &w->chinese);
    if (!s) s = tri_bool(cfg, "strip_accents", path, &w->strip_accents);
    if (!s) s = cfg_token(cfg, "unk_token", "[UNK]", path, &unk);
    if (!s) s = cfg_token(cfg, "cls_token", "[CLS]", path, &cls);
    if (!s) s = cfg_token(cfg, "sep_token", "[SEP]", path, &sep);
    if (!s) s = cfg_token(cfg, "pad_token", "[PAD]", path, &pad);
    if (!s) s = cfg_token(cfg, "mask_token", "[MASK]", path, &mask);
    /* the special tokens are never split and never normalized */
    const char *sp[5] = {pad, unk, cls, sep, mask};
    for (int k = 0; k < 5 && !s; k++) {
        int32_t sid = mmf_vocab_get(&t->vocab, sp[k], strlen(sp[k]));
        if (sid >= 0) s = mmf_tok_add_token(t, sp[k], sid, 1, 0, 0, 0);
    }
    int32_t cid = -1, sid = -1;
    if (!s) {
        cid = mmf_vocab_get(&t->vocab, cls, strlen(cls));
        sid = mmf_vocab_get(&t->vocab, sep, strlen(sep));
        if (cid < 0 || sid < 0)
            s = mmf_fail(MMF_ERR_FORMAT, "%s/vocab.txt: the classifier token \"%s\" or separator \"%s\" is missing", dir, cls, sep);
    }
    if (!s) {
        mmf_tok_bert_template(t, cid, sid);
        t->pad_id = mmf_vocab_get(&t->vocab, pad, strlen(pad));
        s = special_ids(t, unk);
    }
    cJSON_Delete(cfg);
    return s;
}
