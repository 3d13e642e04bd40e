/* The pipeline tokenizer (see pipeline.h): normaliser -> pre-tokeniser ->
 * model, as an mmf_tok_ops of the common tokenizer, loaded from tokenizer.json
 * (model.type Unigram, or BPE other than CLIP's) or from a SentencePiece
 * .model file. */
#include "text/pipeline.h"
#include "text/spm_model.h"
#include "text/tokenizer.h"
#include "core/error.h"
#include "io/json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>


typedef struct pipe_impl {
    mmf_normalizer *norm;
    mmf_pretok *pretok;
    mmf_tok_model model;
    int32_t *remap;          /* model id -> tokenizer id (fairseq offsets), or NULL */
    int32_t n_remap;
    /* SigLIP: transformers' SiglipTokenizer work before sentencepiece */
    int siglip, lower;
    int32_t unk_cp[32];      /* the unknown token's text, encoded before each section */
    size_t n_unk_cp, unk_len;
} pipe_impl;

/* Python's str.isspace (the \s of SiglipTokenizer's regex) */
static int py_space(int32_t c) {
    return (c >= 9 && c <= 13) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static mmf_status model_ids(const pipe_impl *p, const int32_t *cp, size_t n, mmf_i32vec *ids) {
    mmf_i32vec norm = {0};
    mmf_status s = mmf_normalizer_run(p->norm, cp, n, &norm);
    if (!s && norm.n) s = p->model.encode(p->model.m, norm.v, norm.n, ids);
    free(norm.v);
    return s;
}

/* SiglipTokenizer: "▁" before the text ("▁" in it made a space), lower case,
 * ASCII punctuation removed, whitespace runs -> " ", stripped; encoded behind
 * the unknown token's text, whose pieces are then dropped (so sentencepiece,
 * without its dummy prefix here, strips nothing at the front). */
static mmf_status siglip_section(const pipe_impl *p, const int32_t *cp, size_t n, int first, mmf_i32vec *ids) {
    mmf_i32vec w = {0}, out = {0};
    mmf_status s = mmf_i32vec_reserve(&w, p->n_unk_cp + 2 * n + 2);
    if (s) return s;
    memcpy(w.v, p->unk_cp, p->n_unk_cp * sizeof *w.v);
    w.n = p->n_unk_cp;
    size_t start = w.n;
    if (first) w.v[w.n++] = MMF_SPIECE_SPACE;
    for (size_t i = 0; i < n; i++) {
        int32_t c = cp[i] == MMF_SPIECE_SPACE ? ' ' : cp[i];
        if (c < 128 && c > 32 && !((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) continue;
        if (py_space(c)) {
            if (w.n > start && w.v[w.n - 1] != ' ') w.v[w.n++] = ' ';
            continue;
        }
        if (p->lower && c == 0x130) { w.v[w.n++] = 'i'; w.v[w.n++] = 0x307; continue; }
        w.v[w.n++] = p->lower ? utf8proc_tolower(c) : c;
    }
    if (w.n > start && w.v[w.n - 1] == ' ') w.n--;
    s = model_ids(p, w.v, w.n, &out);
    size_t skip = out.n >= p->unk_len ? p->unk_len : 0;
    if (!s && out.n > skip) {
        s = mmf_i32vec_reserve(ids, ids->n + out.n - skip);
        if (!s) { memcpy(ids->v + ids->n, out.v + skip, (out.n - skip) * sizeof *out.v); ids->n += out.n - skip; }
    }
    free(w.v);
    free(out.v);
    return s;
}

static mmf_status pipe_normalize(const mmf_tokenizer *t, const int32_t *cp, size_t n, mmf_i32vec *out) {
    const pipe_impl *p = t->impl;
    return mmf_normalizer_run(p->siglip ? NULL : p->norm, cp, n, out);
}

static mmf_status pipe_tokenize(const mmf_tokenizer *t, const int32_t *cp, size_t n, int first, mmf_i32vec *ids) {
    const pipe_impl *p = t->impl;
    if (p->siglip) return siglip_section(p, cp, n, first, ids);
    mmf_pieces pc = {0};
    size_t from = ids->n;
    mmf_status s = mmf_pretok_run(p->pretok, cp, n, first, &pc);
    for (size_t k = 0; k < pc.n && !s; k++) {
        size_t a = k ? pc.end[k - 1] : 0;
        s = p->model.encode(p->model.m, pc.cp.v + a, pc.end[k] - a, ids);
    }
    mmf_pieces_free(&pc);
    for (size_t i = from; p->remap && i < ids->n; i++)
        if (ids->v[i] >= 0 && ids->v[i] < p->n_remap) ids->v[i] = p->remap[ids->v[i]];
    return s;
}

static void pipe_free(void *impl) {
    pipe_impl *p = impl;
    if (!p) return;
    mmf_normalizer_free(p->norm);
    mmf_pretok_free(p->pretok);
    if (p->model.free) p->model.free(p->model.m);
    free(p->remap);
    free(p);
}

static const mmf_tok_ops unigram_ops = {"Unigram", pipe_normalize, pipe_tokenize, pipe_free};
static const mmf_tok_ops bpe_ops = {"BPE", pipe_normalize, pipe_tokenize, pipe_free};

static mmf_status new_impl(mmf_tokenizer *t, const mmf_tok_ops *ops, pipe_impl **out) {
    pipe_impl *p = calloc(1, sizeof *p);
    if (!p) return mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory");
    t->ops = ops;
    t->impl = p;
    *out = p;
    return MMF_OK;
}

/* tokenizer.json "padding": {"pad_id": N}, else a "<pad>" token, else 0 */
static mmf_status pick_pad(mmf_tokenizer *t, const cJSON *root, const char *file) {
    const cJSON *pad = root ? cJSON_GetObjectItemCaseSensitive(root, "padding") : NULL;
    if (cJSON_IsObject(pad)) {
        int64_t pid;
        MMF_TRY(mmf_json_int(pad, "pad_id", -1, -1, INT32_MAX, file, &pid));
        if (pid >= 0) { t->pad_id = (int32_t)pid; return MMF_OK; }
    }
    if (t->pad_id < 0) t->pad_id = mmf_vocab_get(&t->vocab, "<pad>", 5);
    if (t->pad_id < 0) t->pad_id = 0;
    return MMF_OK;
}

static mmf_status unigram_from_json(mmf_tokenizer *t, pipe_impl *p, const cJSON *model, const char *file) {
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsArray(vocab)) return mmf_fail(MMF_ERR_FORMAT, "%s: model.vocab should be an array of [piece, score]", file);
    int n = cJSON_GetArraySize(vocab);
    if (n <= 0 || n > 10000000) return mmf_fail(MMF_ERR_FORMAT, "%s: model.vocab has %d pieces", file, n);
    int64_t unk;
    int fb;
    MMF_TRY(mmf_json_int(model, "unk_id", -1, -1, n - 1, file, &unk));
    MMF_TRY(mmf_json_bool(model, "byte_fallback", 0, file, &fb));
    char **pieces = calloc((size_t)n, sizeof *pieces);
    double *scores = calloc((size_t)n, sizeof *scores);
    mmf_status s = pieces && scores ? MMF_OK : mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory");
    int i = 0;
    for (const cJSON *e = vocab->child; e && !s; e = e->next, i++) {
        const cJSON *tok = cJSON_GetArrayItem(e, 0), *sc = cJSON_GetArrayItem(e, 1);
        if (!cJSON_IsArray(e) || !cJSON_IsString(tok) || !cJSON_IsNumber(sc)) {
            s = mmf_fail(MMF_ERR_FORMAT, "%s: model.vocab[%d] should be [piece, score]", file, i);
            break;
        }
        pieces[i] = tok->valuestring;
        scores[i] = sc->valuedouble;
        size_t len = strlen(tok->valuestring);
        if (!mmf_utf8_valid(tok->valuestring, len)) s = mmf_fail(MMF_ERR_FORMAT, "%s: model.vocab[%d] is not valid UTF-8", file, i);
        else if (len && mmf_vocab_get(&t->vocab, tok->valuestring, len) < 0) s = mmf_vocab_set(&t->vocab, tok->valuestring, len, i, 0);
    }
    mmf_unigram *u = NULL;
    if (!s) s = mmf_unigram_new(pieces, scores, NULL, n, (int32_t)unk, fb, file, &u);
    free(pieces);
    free(scores);
    if (s) return s;
    p->model = (mmf_tok_model){"Unigram", mmf_unigram_encode, mmf_unigram_free, u};
    t->unk_id = (int32_t)unk;
    return MMF_OK;
}

mmf_status mmf_pipeline_from_json(mmf_tokenizer *t, const cJSON *root, const char *file) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const char *type = NULL;
    MMF_TRY(mmf_json_str(model, "type", NULL, file, &type));
    pipe_impl *p = NULL;
    if (type && !strcmp(type, "Unigram")) {
        MMF_TRY(new_impl(t, &unigram_ops, &p));
        MMF_TRY(unigram_from_json(t, p, model, file));
    } else if (type && !strcmp(type, "BPE")) {
        MMF_TRY(new_impl(t, &bpe_ops, &p));
        MMF_TRY(mmf_bpe_model_from_json(t, model, file, &p->model));
    } else {
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: model type \"%s\" for the pipeline tokenizer", file, type ? type : "(none)");
    }
    MMF_TRY(mmf_normalizer_from_json(cJSON_GetObjectItemCaseSensitive(root, "normalizer"), file, &p->norm));
    MMF_TRY(mmf_pretok_from_json(cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), file, &p->pretok));
    return pick_pad(t, root, file);
}

/* ---------------------------------------------------------- .model files */

static int exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* tokenizer_config.json's tokenizer_class, "" if none (*cfg kept for later reads) */
static mmf_status config_class(const char *dir, cJSON **cfg, const char **cls) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    *cfg = NULL;
    *cls = "";
    if (!exists(path)) return MMF_OK;
    MMF_TRY(mmf_json_load(path, cfg));
    return mmf_json_str(*cfg, "tokenizer_class", "", path, cls);
}

static void set_template(mmf_tokenizer *t, int32_t bos, int32_t eos, int fairseq) {
    t->n_single = t->n_pair = 0;
    if (fairseq) {   /* <s> A </s> and <s> A </s> </s> B </s> */
        mmf_tok_item s1[] = {{-1, bos, 0}, {0, 0, 0}, {-1, eos, 0}};
        mmf_tok_item p1[] = {{-1, bos, 0}, {0, 0, 0}, {-1, eos, 0}, {-1, eos, 0}, {1, 0, 0}, {-1, eos, 0}};
        memcpy(t->single, s1, sizeof s1);
        memcpy(t->pair, p1, sizeof p1);
        t->n_single = 3;
        t->n_pair = 6;
    } else if (eos >= 0) {   /* T5 and SigLIP: A </s> and A </s> B </s> */
        mmf_tok_item s1[] = {{0, 0, 0}, {-1, eos, 0}};
        mmf_tok_item p1[] = {{0, 0, 0}, {-1, eos, 0}, {1, 0, 0}, {-1, eos, 0}};
        memcpy(t->single, s1, sizeof s1);
        memcpy(t->pair, p1, sizeof p1);
        t->n_single = 2;
        t->n_pair = 4;
    }
}

static const char *cfg_token(const cJSON *cfg, const char *key, const char *def);

/* SiglipTokenizer's special tokens (eos, unk, pad; each strips the spaces
 * around it), lower-casing, the unknown-token prefix and the lone "▁" rule */
static mmf_status siglip_setup(mmf_tokenizer *t, pipe_impl *p, const cJSON *cfg, const char *path, int32_t *bos, int32_t *eos) {
    const char *names[3] = {cfg_token(cfg, "eos_token", "</s>"), cfg_token(cfg, "unk_token", "<unk>"), cfg_token(cfg, "pad_token", "</s>")};
    int32_t id[3];
    for (int k = 0; k < 3; k++) {
        id[k] = mmf_vocab_get(&t->vocab, names[k], strlen(names[k]));
        if (id[k] < 0) return mmf_fail(MMF_ERR_FORMAT, "%s: SigLIP's special token \"%s\" is not a piece of the model", path, names[k]);
        int dup = 0;
        for (int j = 0; j < k; j++) dup |= id[j] == id[k];
        if (!dup) MMF_TRY(mmf_tok_add_token(t, names[k], id[k], 1, 0, 1, 1));
    }
    *bos = -1;
    *eos = id[0];
    t->pad_id = id[2];
    t->unk_id = id[1];
    p->siglip = 1;
    p->lower = 1;
    if (cfg) MMF_TRY(mmf_json_bool(cfg, "do_lower_case", 1, path, &p->lower));
    size_t len = strlen(names[1]), bad = 0;
    if (len >= sizeof p->unk_cp / sizeof *p->unk_cp) return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: unk_token longer than 31 bytes", path);
    p->n_unk_cp = mmf_utf8_decode(names[1], len, p->unk_cp, &bad);
    mmf_i32vec v = {0};
    mmf_status s = model_ids(p, p->unk_cp, p->n_unk_cp, &v);
    p->unk_len = v.n;
    free(v.v);
    t->encode_empty = 1;
    t->lone_prefix_id = mmf_vocab_get(&t->vocab, "\xe2\x96\x81", 3);
    return s;
}

mmf_status mmf_pipeline_from_spm(mmf_tokenizer *t, const char *dir, const char *file) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    cJSON *cfg = NULL;
    const char *cls = "";
    mmf_spm_model m;
    MMF_TRY(mmf_spm_model_read(path, &m));
    mmf_status s = config_class(dir, &cfg, &cls);
    /* fairseq's id layout (XLM-R, CamemBERT's sentencepiece.bpe.model):
     * <s> <pad> </s> <unk> first, every other piece one place later */
    int fairseq = !s && (strstr(cls, "XLMRoberta") || strstr(cls, "Camembert") ||
                         (!cls[0] && !strcmp(file, "sentencepiece.bpe.model")));
    int siglip = !s && strstr(cls, "Siglip") != NULL;
    pipe_impl *p = NULL;
    if (!s) s = new_impl(t, m.model_type == 2 ? &bpe_ops : &unigram_ops, &p);
    unsigned char *kind = NULL;
    double *scores = NULL;
    if (!s) {
        kind = malloc((size_t)m.n);
        scores = malloc((size_t)m.n * sizeof *scores);
        if (!kind || !scores) s = mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory");
    }
    for (int32_t i = 0; !s && i < m.n; i++) {
        int ty = m.type[i];
        kind[i] = ty == MMF_SPM_BYTE ? 2 : (ty == MMF_SPM_NORMAL || ty == MMF_SPM_USER) ? 0 : 1;
        scores[i] = m.score[i];
    }
    int32_t off = fairseq ? 1 : 0;
    if (!s && fairseq) {
        p->n_remap = m.n;
        p->remap = malloc((size_t)m.n * sizeof *p->remap);
        if (!p->remap) s = mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory");
        for (int32_t i = 0; !s && i < m.n; i++) p->remap[i] = i + off;
        if (!s) p->remap[m.unk_id] = 3;
    }
    /* the tokenizer's vocabulary: ids as the model files number them */
    static const char *fair[] = {"<s>", "<pad>", "</s>", "<unk>"};
    for (int k = 0; !s && fairseq && k < 4; k++) s = mmf_vocab_set(&t->vocab, fair[k], strlen(fair[k]), k, 1);
    for (int32_t i = 0; !s && i < m.n; i++) {
        if (fairseq && (i == m.unk_id || i == m.bos_id || i == m.eos_id || i == m.pad_id)) continue;
        size_t len = strlen(m.piece[i]);
        if (len && mmf_vocab_get(&t->vocab, m.piece[i], len) < 0) s = mmf_vocab_set(&t->vocab, m.piece[i], len, i + off, 0);
    }
    if (!s && fairseq) s = mmf_vocab_set(&t->vocab, "<mask>", 6, m.n + off, 1);
    if (!s && m.model_type == 1) {
        mmf_unigram *u;
        s = mmf_unigram_new(m.piece, scores, kind, m.n, m.unk_id, m.byte_fallback, path, &u);
        if (!s) { mmf_unigram_use_float(u); p->model = (mmf_tok_model){"Unigram", mmf_unigram_encode, mmf_unigram_free, u}; }
    } else if (!s) {
        s = mmf_bpe_model_from_spm(m.piece, scores, kind, m.n, m.unk_id, m.byte_fallback, path, &p->model);
    }
    /* SiglipTokenizer turns sentencepiece's dummy prefix off */
    if (!s) s = mmf_normalizer_spm(m.charsmap, m.charsmap_len, siglip ? 0 : m.add_dummy_prefix, m.remove_extra_ws, m.escape_ws, path, &p->norm);
    /* special pieces are split out of the text as the transformers tokenizers
     * do: the model's control and unknown pieces, or fairseq's five */
    int32_t bos = -1, eos = -1;
    for (int k = 0; !s && fairseq && k < 4; k++) s = mmf_tok_add_token(t, fair[k], k, 1, 0, 0, 0);
    if (!s && fairseq) s = mmf_tok_add_token(t, "<mask>", m.n + off, 1, 0, 1, 0);
    if (fairseq) { bos = 0; eos = 2; }
    if (!s && siglip) s = siglip_setup(t, p, cfg, path, &bos, &eos);
    for (int32_t i = 0; !s && !fairseq && !siglip && i < m.n; i++) {
        if (m.type[i] != MMF_SPM_CONTROL && m.type[i] != MMF_SPM_UNKNOWN) continue;
        if (m.piece[i][0]) s = mmf_tok_add_token(t, m.piece[i], i, 1, 0, 0, 0);
        if (i == m.bos_id) bos = i;
        if (i == m.eos_id) eos = i;
    }
    if (!s) {
        t->unk_id = fairseq ? 3 : m.unk_id;
        if (!siglip) t->pad_id = fairseq ? 1 : m.pad_id >= 0 ? m.pad_id : 0;
        if (!fairseq) t->eos_once = eos;   /* T5Tokenizer / SiglipTokenizer._add_eos_if_not_present */
        set_template(t, bos, eos, fairseq);
    }
    free(kind);
    free(scores);
    cJSON_Delete(cfg);
    mmf_spm_model_free(&m);
    return s;
}

/* ------------------------------------- GPT-2 / RoBERTa vocab.json + merges.txt */

/* a tokenizer_config.json special token: a string or {"content": ...} */
static const char *cfg_token(const cJSON *cfg, const char *key, const char *def) {
    const cJSON *v = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, key) : NULL;
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    return cJSON_IsString(v) ? v->valuestring : def;
}

mmf_status mmf_pipeline_from_bpe_files(mmf_tokenizer *t, const char *dir, const cJSON *cfg) {
    pipe_impl *p = NULL;
    MMF_TRY(new_impl(t, &bpe_ops, &p));
    MMF_TRY(mmf_bpe_model_from_files(t, dir, &p->model));
    char file[4096];
    snprintf(file, sizeof file, "%s/tokenizer_config.json", dir);
    int aps = 0;
    if (cfg) MMF_TRY(mmf_json_bool(cfg, "add_prefix_space", 0, file, &aps));
    cJSON *bl = cJSON_CreateObject();
    if (!bl || !cJSON_AddStringToObject(bl, "type", "ByteLevel") || !cJSON_AddBoolToObject(bl, "add_prefix_space", aps) ||
        !cJSON_AddBoolToObject(bl, "use_regex", 1)) { cJSON_Delete(bl); return mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory"); }
    mmf_status s = mmf_pretok_from_json(bl, file, &p->pretok);
    cJSON_Delete(bl);
    if (s) return s;
    const char *cls_name = "";
    if (cfg) MMF_TRY(mmf_json_str(cfg, "tokenizer_class", "", file, &cls_name));
    int gpt2 = strstr(cls_name, "GPT2") != NULL;
    /* RobertaTokenizer's specials (mask strips the space before it); GPT-2 has one */
    const char *keys[] = {"bos_token", "eos_token", "unk_token", "sep_token", "cls_token", "pad_token", "mask_token"};
    const char *defs[] = {"<s>", "</s>", "<unk>", "</s>", "<s>", "<pad>", "<mask>"};
    for (int k = 0; k < 7; k++) {
        const char *tok = cfg_token(cfg, keys[k], gpt2 ? "<|endoftext|>" : defs[k]);
        int32_t id = mmf_vocab_get(&t->vocab, tok, strlen(tok));
        if (id >= 0) MMF_TRY(mmf_tok_add_token(t, tok, id, 1, 0, k == 6 && !gpt2, 0));
    }
    const char *cls = cfg_token(cfg, "cls_token", "<s>"), *sep = cfg_token(cfg, "sep_token", "</s>");
    int32_t c = mmf_vocab_get(&t->vocab, cls, strlen(cls)), e = mmf_vocab_get(&t->vocab, sep, strlen(sep));
    if (!gpt2 && c >= 0 && e >= 0) {
        set_template(t, c, e, 1);   /* <s> A </s> and <s> A </s> </s> B </s> */
    }
    const char *pad = cfg_token(cfg, "pad_token", gpt2 ? "<|endoftext|>" : "<pad>");
    t->pad_id = mmf_vocab_get(&t->vocab, pad, strlen(pad));
    if (t->pad_id < 0) t->pad_id = 0;
    return MMF_OK;
}

static mmf_status walk(const cJSON *node, const char *what, const char *list, const char *file, mmf_pipeline_step_fn step,
                       void *ctx, int depth) {
    if (!node || cJSON_IsNull(node)) return MMF_OK;
    if (!cJSON_IsObject(node)) return mmf_fail(MMF_ERR_FORMAT, "%s: a %s should be an object", file, what);
    if (depth > 8) return mmf_fail(MMF_ERR_FORMAT, "%s: %s Sequences nested too deep", file, what);
    const char *type = NULL;
    MMF_TRY(mmf_json_str(node, "type", NULL, file, &type));
    if (!type) return mmf_fail(MMF_ERR_FORMAT, "%s: a %s has no \"type\"", file, what);
    if (strcmp(type, "Sequence")) return step(ctx, node, type, file);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(node, list);
    if (!cJSON_IsArray(arr)) return mmf_fail(MMF_ERR_FORMAT, "%s: %s Sequence needs a \"%s\" array", file, what, list);
    for (const cJSON *c = arr->child; c; c = c->next) MMF_TRY(walk(c, what, list, file, step, ctx, depth + 1));
    return MMF_OK;
}

mmf_status mmf_pipeline_walk(const cJSON *node, const char *what, const char *list, const char *file, mmf_pipeline_step_fn step,
                             void *ctx) {
    return walk(node, what, list, file, step, ctx, 0);
}
