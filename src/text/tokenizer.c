#include "text/tokenizer.h"
#include "core/error.h"
#include "io/json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


int mmf_tok_is_space(int32_t c) {
    /* Unicode White_Space (Rust's char::is_whitespace) plus U+FEFF (JS \s) */
    return (c >= 9 && c <= 13) || c == 32 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000 || c == 0xFEFF;
}

mmf_status mmf_tok_add_token(mmf_tokenizer *t, const char *content, int32_t id, int special, int normalized,
                             int lstrip, int rstrip) {
    size_t len = strlen(content);
    if (!len) return mmf_fail(MMF_ERR_FORMAT, "%s: added token with id %d is empty", t->path, id);
    if (!mmf_utf8_valid(content, len))
        return mmf_fail(MMF_ERR_FORMAT, "%s: added token with id %d is not valid UTF-8", t->path, id);
    MMF_TRY(mmf_vocab_set(&t->vocab, content, len, id, 1));
    mmf_added_token *a = realloc(t->added, (t->n_added + 1) * sizeof *a);
    if (!a) return mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory");
    t->added = a;
    mmf_added_token *at = &a[t->n_added];
    memset(at, 0, sizeof *at);
    int32_t *cp = malloc(len * sizeof *cp);
    if (!cp) return mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory");
    size_t n = mmf_utf8_decode(content, len, cp, NULL);
    if (normalized && t->ops && t->ops->normalize) {
        mmf_i32vec v = {0};
        mmf_status s = t->ops->normalize(t, cp, n, &v);
        free(cp);
        if (s) { free(v.v); return s; }
        cp = v.v;
        n = v.n;
        if (!n) { free(cp); return MMF_OK; }   /* normalizes to nothing: never matches */
    }
    *at = (mmf_added_token){.cp = cp, .n = n, .id = id, .special = special, .normalized = normalized,
                            .lstrip = lstrip, .rstrip = rstrip};
    t->n_added++;
    return MMF_OK;
}

void mmf_tok_bert_template(mmf_tokenizer *t, int32_t cls, int32_t sep) {
    t->n_single = 0;
    t->single[t->n_single++] = (mmf_tok_item){-1, cls, 0};
    t->single[t->n_single++] = (mmf_tok_item){0, 0, 0};
    t->single[t->n_single++] = (mmf_tok_item){-1, sep, 0};
    t->n_pair = 0;
    t->pair[t->n_pair++] = (mmf_tok_item){-1, cls, 0};
    t->pair[t->n_pair++] = (mmf_tok_item){0, 0, 0};
    t->pair[t->n_pair++] = (mmf_tok_item){-1, sep, 0};
    t->pair[t->n_pair++] = (mmf_tok_item){1, 0, 1};
    t->pair[t->n_pair++] = (mmf_tok_item){-1, sep, 1};
}

/* ------------------------------------------------------------ encoding */

/* Longest added token (with the given `normalized` flag) matching at cp[i]; -1 if none. */
static int match_at(const mmf_tokenizer *t, const int32_t *cp, size_t n, size_t i, int normalized) {
    int best = -1;
    size_t best_len = 0;
    for (size_t k = 0; k < t->n_added; k++) {
        const mmf_added_token *a = &t->added[k];
        if (a->normalized != normalized || a->n > n - i || a->n <= best_len) continue;
        if (memcmp(a->cp, cp + i, a->n * sizeof *cp) == 0) { best = (int)k; best_len = a->n; }
    }
    return best;
}

typedef mmf_status (*section_fn)(const mmf_tokenizer *t, const int32_t *cp, size_t n, int first, mmf_i32vec *ids);

/* Split cp on added tokens (leftmost-longest), trim around lstrip/rstrip
 * tokens, hand the plain sections to `fn` and emit the tokens' ids. */
static mmf_status split_added(const mmf_tokenizer *t, const int32_t *cp, size_t n, int normalized,
                              section_fn fn, int first, mmf_i32vec *ids, size_t *first_added_at) {
    size_t start = 0, i = 0;
    int pending_rstrip = 0;
    while (i <= n) {
        int m = i < n ? match_at(t, cp, n, i, normalized) : -1;
        if (m < 0 && i < n) { i++; continue; }
        /* plain section [start, i) */
        size_t a = start, b = i;
        if (pending_rstrip) while (a < b && mmf_tok_is_space(cp[a])) a++;
        if (m >= 0 && t->added[m].lstrip) while (b > a && mmf_tok_is_space(cp[b - 1])) b--;
        if (b > a) MMF_TRY(fn(t, cp + a, b - a, first && start == 0, ids));
        if (m < 0) break;
        if (first_added_at && *first_added_at == SIZE_MAX) *first_added_at = ids->n;
        MMF_TRY(mmf_i32vec_push(ids, t->added[m].id));
        pending_rstrip = t->added[m].rstrip;
        i += t->added[m].n;
        start = i;
    }
    return MMF_OK;
}

static mmf_status model_section(const mmf_tokenizer *t, const int32_t *cp, size_t n, int first, mmf_i32vec *ids) {
    return t->ops->tokenize(t, cp, n, first, ids);
}

static int has_normalized_added(const mmf_tokenizer *t) {
    for (size_t k = 0; k < t->n_added; k++)
        if (t->added[k].normalized) return 1;
    return 0;
}

static mmf_status normalized_section(const mmf_tokenizer *t, const int32_t *cp, size_t n, int first, mmf_i32vec *ids) {
    if (!t->ops->normalize) return split_added(t, cp, n, 1, model_section, first, ids, NULL);
    mmf_i32vec norm = {0};
    mmf_status s = t->ops->normalize(t, cp, n, &norm);
    if (!s && norm.n) {
        if (has_normalized_added(t)) s = split_added(t, norm.v, norm.n, 1, model_section, first, ids, NULL);
        else s = t->ops->tokenize(t, norm.v, norm.n, first, ids);
    }
    free(norm.v);
    return s;
}

static mmf_status encode_one(const mmf_tokenizer *t, const char *text, mmf_i32vec *ids) {
    size_t len = strlen(text), bad = 0;
    int32_t *cp = malloc((len ? len : 1) * sizeof *cp);
    if (!cp) return mmf_fail(MMF_ERR_NOMEM, "tokenizer: cannot decode %zu bytes of text", len);
    size_t n = mmf_utf8_decode(text, len, cp, &bad);
    if (bad)
        mmf_log(MMF_LOG_WARN, "tokenizer: input is not valid UTF-8: %zu bad byte(s) replaced by U+FFFD", bad);
    size_t first_added = SIZE_MAX;
    mmf_status s = n == 0 && t->encode_empty ? t->ops->tokenize(t, cp, 0, 1, ids)
                                             : split_added(t, cp, n, 0, normalized_section, 1, ids, &first_added);
    /* SigLIP: a text that starts with an added token loses the lone "▁" before it */
    if (!s && first_added == 1 && t->lone_prefix_id >= 0 && ids->v[0] == t->lone_prefix_id) {
        memmove(ids->v, ids->v + 1, (ids->n - 1) * sizeof *ids->v);
        ids->n--;
    }
    free(cp);
    return s;
}

static int n_specials(const mmf_tok_item *items, int n) {
    int k = 0;
    for (int i = 0; i < n; i++) k += items[i].seq < 0;
    return k;
}

mmf_status mmf_tokenizer_encode(const mmf_tokenizer *t, const char *text, const char *pair,
                                int add_special, int max_length, mmf_encoding *out) {
    memset(out, 0, sizeof *out);
    if (!t || !text) return mmf_fail(MMF_ERR_ARG, "mmf_tokenizer_encode: NULL tokenizer or text");
    mmf_i32vec a = {0}, b = {0};
    mmf_status s = encode_one(t, text, &a);
    if (!s && pair) s = encode_one(t, pair, &b);
    if (s) { free(a.v); free(b.v); return s; }

    const mmf_tok_item *items = pair ? t->pair : t->single;
    int n_items = pair ? t->n_pair : t->n_single;
    int use_template = add_special && n_items > 0;
    /* T5 / SigLIP add </s> only to a text that does not end with it */
    if (use_template && t->eos_once >= 0) {
        if (a.n && a.v[a.n - 1] == t->eos_once) a.n--;
        if (b.n && b.v[b.n - 1] == t->eos_once) b.n--;
    }
    size_t extra = use_template ? (size_t)n_specials(items, n_items) : 0;
    int limit = max_length > 0 ? max_length : (max_length == 0 ? t->max_length : 0);
    size_t na = a.n, nb = b.n;
    if (limit > 0 && na + nb + extra > (size_t)limit) {
        out->truncated = 1;
        size_t room = (size_t)limit > extra ? (size_t)limit - extra : 0;
        /* longest first: drop from the longer sequence (ties: the second) */
        while (na + nb > room) {
            if (na > nb) na--;
            else nb--;
        }
    }
    size_t total = na + nb + extra;
    out->ids = malloc((total ? total : 1) * sizeof *out->ids);
    out->type_ids = malloc((total ? total : 1) * sizeof *out->type_ids);
    out->attention_mask = malloc(total ? total : 1);
    out->tokens = malloc((total ? total : 1) * sizeof *out->tokens);
    if (!out->ids || !out->type_ids || !out->attention_mask || !out->tokens) {
        free(a.v); free(b.v); mmf_encoding_free(out);
        return mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory for %zu tokens", total);
    }
    size_t k = 0;
    if (use_template) {
        for (int i = 0; i < n_items; i++) {
            const mmf_tok_item *it = &items[i];
            if (it->seq < 0) { out->ids[k] = it->id; out->type_ids[k++] = it->type_id; continue; }
            const mmf_i32vec *v = it->seq == 0 ? &a : &b;
            size_t m = it->seq == 0 ? na : nb;
            for (size_t j = 0; j < m; j++) { out->ids[k] = v->v[j]; out->type_ids[k++] = it->type_id; }
        }
    } else {
        for (size_t j = 0; j < na; j++) { out->ids[k] = a.v[j]; out->type_ids[k++] = 0; }
        for (size_t j = 0; j < nb; j++) { out->ids[k] = b.v[j]; out->type_ids[k++] = 1; }
    }
    out->n = (int)k;
    for (size_t j = 0; j < k; j++) {
        out->attention_mask[j] = 1;
        const char *tok = mmf_vocab_token(&t->vocab, out->ids[j]);
        out->tokens[j] = tok ? tok : "";
    }
    free(a.v);
    free(b.v);
    return MMF_OK;
}

void mmf_encoding_free(mmf_encoding *e) {
    if (!e) return;
    free(e->ids);
    free(e->type_ids);
    free(e->attention_mask);
    free((void *)e->tokens);
    memset(e, 0, sizeof *e);
}

int64_t mmf_tokenizer_vocab_size(const mmf_tokenizer *t) {
    int64_t n = 0;
    for (int64_t i = 0; i < t->vocab.n_ids; i++)
        if (t->vocab.tok[i]) n = i + 1;
    return n;
}
const char *mmf_tokenizer_id_to_token(const mmf_tokenizer *t, int32_t id) { return mmf_vocab_token(&t->vocab, id); }
int32_t mmf_tokenizer_token_to_id(const mmf_tokenizer *t, const char *tok) {
    return mmf_vocab_get(&t->vocab, tok, strlen(tok));
}
int mmf_tokenizer_max_length(const mmf_tokenizer *t) { return t->max_length; }
int32_t mmf_tokenizer_pad_id(const mmf_tokenizer *t) { return t->pad_id; }

void mmf_tokenizer_free(mmf_tokenizer *t) {
    if (!t) return;
    if (t->ops && t->ops->free_impl) t->ops->free_impl(t->impl);
    for (size_t i = 0; i < t->n_added; i++) free(t->added[i].cp);
    free(t->added);
    mmf_vocab_free(&t->vocab);
    free(t->path);
    free(t);
}

/* ------------------------------------------------------------ loading */

static int file_exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static mmf_status parse_added_tokens(mmf_tokenizer *t, const cJSON *root, const char *file) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (!arr || cJSON_IsNull(arr)) return MMF_OK;
    if (!cJSON_IsArray(arr)) return mmf_fail(MMF_ERR_FORMAT, "%s: field \"added_tokens\" should be an array", file);
    int k = 0;
    for (const cJSON *o = arr->child; o; o = o->next, k++) {
        char field[64];
        snprintf(field, sizeof field, "added_tokens[%d]", k);
        if (!cJSON_IsObject(o)) return mmf_fail(MMF_ERR_FORMAT, "%s: %s should be an object", file, field);
        int64_t id;
        const char *content = NULL;
        int special, normalized, lstrip, rstrip;
        MMF_TRY(mmf_json_int_req(o, "id", 0, INT32_MAX, file, &id));
        MMF_TRY(mmf_json_str(o, "content", NULL, file, &content));
        if (!content) return mmf_fail(MMF_ERR_FORMAT, "%s: %s has no \"content\"", file, field);
        MMF_TRY(mmf_json_bool(o, "special", 0, file, &special));
        MMF_TRY(mmf_json_bool(o, "normalized", !special, file, &normalized));
        MMF_TRY(mmf_json_bool(o, "lstrip", 0, file, &lstrip));
        MMF_TRY(mmf_json_bool(o, "rstrip", 0, file, &rstrip));
        MMF_TRY(mmf_tok_add_token(t, content, (int32_t)id, special, normalized, lstrip, rstrip));
    }
    return MMF_OK;
}

static mmf_status token_id(mmf_tokenizer *t, const char *tok, const char *file, const char *field, int32_t *id) {
    *id = mmf_vocab_get(&t->vocab, tok, strlen(tok));
    if (*id < 0) return mmf_fail(MMF_ERR_FORMAT, "%s: %s names token \"%s\", which is not in the vocabulary", file, field, tok);
    return MMF_OK;
}

static mmf_status parse_template(mmf_tokenizer *t, const cJSON *arr, const char *file, const char *field,
                                 mmf_tok_item *items, int *n_items) {
    if (!cJSON_IsArray(arr)) return mmf_fail(MMF_ERR_FORMAT, "%s: post_processor.%s should be an array", file, field);
    int n = 0;
    for (const cJSON *o = arr->child; o; o = o->next) {
        if (n >= MMF_TOK_MAX_ITEMS) return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: post_processor.%s has more than %d items", file, field, MMF_TOK_MAX_ITEMS);
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "SpecialToken");
        const cJSON *sq = cJSON_GetObjectItemCaseSensitive(o, "Sequence");
        const cJSON *x = sp ? sp : sq;
        if (!x || !cJSON_IsObject(x))
            return mmf_fail(MMF_ERR_FORMAT, "%s: post_processor.%s item %d should be {\"SpecialToken\": ...} or {\"Sequence\": ...}", file, field, n);
        const char *name = NULL;
        int64_t type_id;
        MMF_TRY(mmf_json_str(x, "id", NULL, file, &name));
        MMF_TRY(mmf_json_int(x, "type_id", 0, 0, 1 << 16, file, &type_id));
        if (!name) return mmf_fail(MMF_ERR_FORMAT, "%s: post_processor.%s item %d has no \"id\"", file, field, n);
        if (sp) {
            int32_t id;
            MMF_TRY(token_id(t, name, file, "post_processor", &id));
            items[n++] = (mmf_tok_item){-1, id, (int32_t)type_id};
        } else {
            if (strcmp(name, "A") && strcmp(name, "B"))
                return mmf_fail(MMF_ERR_FORMAT, "%s: post_processor.%s sequence id \"%s\" (expected A or B)", file, field, name);
            items[n++] = (mmf_tok_item){name[0] == 'A' ? 0 : 1, 0, (int32_t)type_id};
        }
    }
    *n_items = n;
    return MMF_OK;
}

/* TemplateProcessing, BertProcessing or RobertaProcessing (cls/sep pairs). */
static mmf_status parse_post_processor(mmf_tokenizer *t, const cJSON *root, const char *file) {
    const cJSON *pp = cJSON_GetObjectItemCaseSensitive(root, "post_processor");
    if (!pp || cJSON_IsNull(pp)) { t->n_single = t->n_pair = 0; return MMF_OK; }
    const char *type = NULL;
    MMF_TRY(mmf_json_str(pp, "type", NULL, file, &type));
    if (!type) return mmf_fail(MMF_ERR_FORMAT, "%s: post_processor has no \"type\"", file);
    if (!strcmp(type, "TemplateProcessing")) {
        MMF_TRY(parse_template(t, cJSON_GetObjectItemCaseSensitive(pp, "single"), file, "single", t->single, &t->n_single));
        MMF_TRY(parse_template(t, cJSON_GetObjectItemCaseSensitive(pp, "pair"), file, "pair", t->pair, &t->n_pair));
        return MMF_OK;
    }
    if (!strcmp(type, "BertProcessing") || !strcmp(type, "RobertaProcessing")) {
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(pp, "cls"), *sep = cJSON_GetObjectItemCaseSensitive(pp, "sep");
        if (!cJSON_IsArray(cls) || !cJSON_IsArray(sep) || !cJSON_IsNumber(cJSON_GetArrayItem(cls, 1)) ||
            !cJSON_IsNumber(cJSON_GetArrayItem(sep, 1)))
            return mmf_fail(MMF_ERR_FORMAT, "%s: post_processor.cls and .sep should be [token, id]", file);
        int32_t c = (int32_t)cJSON_GetArrayItem(cls, 1)->valuedouble, s = (int32_t)cJSON_GetArrayItem(sep, 1)->valuedouble;
        mmf_tok_bert_template(t, c, s);
        if (type[0] == 'R') {   /* <s> A </s> </s> B </s>, all type 0 */
            t->n_pair = 0;
            mmf_tok_item p[] = {{-1, c, 0}, {0, 0, 0}, {-1, s, 0}, {-1, s, 0}, {1, 0, 0}, {-1, s, 0}};
            memcpy(t->pair, p, sizeof p);
            t->n_pair = 6;
        }
        return MMF_OK;
    }
    return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: post_processor type \"%s\" (supported: TemplateProcessing, BertProcessing, RobertaProcessing)", file, type);
}

static mmf_status read_config_max_length(mmf_tokenizer *t, const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    if (!file_exists(path)) return MMF_OK;
    cJSON *cfg;
    MMF_TRY(mmf_json_load(path, &cfg));
    double ml = 0;
    mmf_status s = mmf_json_num(cfg, "model_max_length", 0, path, &ml);
    /* transformers writes 1e30 ("no limit") for some models */
    if (!s && ml >= 1 && ml < 1e7) t->max_length = (int)ml;
    cJSON_Delete(cfg);
    return s;
}

static mmf_status load_json(mmf_tokenizer *t, const char *path) {
    cJSON *root;
    MMF_TRY(mmf_json_load(path, &root));
    mmf_status s = MMF_OK;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const char *type = NULL;
    if (!cJSON_IsObject(model)) s = mmf_fail(MMF_ERR_FORMAT, "%s: field \"model\" should be an object", path);
    if (!s) s = mmf_json_str(model, "type", NULL, path, &type);
    if (!s && !type) {
        /* older files omit model.type: WordPiece models have continuing_subword_prefix + vocab */
        if (cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix") && !cJSON_GetObjectItemCaseSensitive(model, "merges"))
            type = "WordPiece";
        else s = mmf_fail(MMF_ERR_FORMAT, "%s: model has no \"type\"", path);
    }
    /* model families: WordPiece; CLIP's BPE (its "</w>" end-of-word suffix);
     * Unigram and every other BPE through the normaliser / pre-tokeniser
     * pipeline that tokenizer.json describes */
    if (!s) {
        const cJSON *eow = cJSON_GetObjectItemCaseSensitive(model, "end_of_word_suffix");
        int clip = cJSON_IsString(eow) && !strcmp(eow->valuestring, "</w>");
        if (!strcmp(type, "WordPiece")) s = mmf_wordpiece_from_json(t, root, path);
        else if (!strcmp(type, "BPE") && clip) s = mmf_bpe_from_json(t, root, path);
        else if (!strcmp(type, "BPE") || !strcmp(type, "Unigram")) s = mmf_pipeline_from_json(t, root, path);
        else s = mmf_fail(MMF_ERR_UNSUPPORTED, "%s: tokenizer model type \"%s\" is not supported (supported: WordPiece, BPE, Unigram)", path, type);
    }
    if (!s) s = parse_added_tokens(t, root, path);
    if (!s) s = parse_post_processor(t, root, path);
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(root, "truncation");
    if (!s && cJSON_IsObject(tr)) {
        int64_t ml;
        s = mmf_json_int(tr, "max_length", 0, 0, 1 << 24, path, &ml);
        if (!s) t->max_length = (int)ml;
    }
    cJSON_Delete(root);
    return s;
}

/* the SentencePiece model file of a folder, NULL if none */
static const char *find_spm(const char *dir) {
    static const char *names[] = {"spiece.model", "sentencepiece.bpe.model", "tokenizer.model"};
    char path[4096];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (file_exists(path)) return names[i];
    }
    return NULL;
}

/* vocab.json + merges.txt: CLIP's (tokens ending in "</w>", or a CLIP
 * tokenizer_class) or GPT-2 / RoBERTa's byte-level BPE */
static mmf_status load_bpe_files(mmf_tokenizer *t, const char *dir) {
    char path[4096];
    cJSON *cfg = NULL;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    if (file_exists(path)) MMF_TRY(mmf_json_load(path, &cfg));
    const char *cls = "";
    mmf_status s = cfg ? mmf_json_str(cfg, "tokenizer_class", "", path, &cls) : MMF_OK;
    int clip = strstr(cls, "CLIP") != NULL;
    if (!s && !cls[0]) {
        /* no class named: CLIP's merges end words with "</w>" */
        snprintf(path, sizeof path, "%s/merges.txt", dir);
        char *text;
        size_t len;
        s = mmf_read_file(path, (size_t)64 << 20, &text, &len);
        for (size_t i = 0; !s && !clip && i + 4 <= len; i++) clip = !memcmp(text + i, "</w>", 4);
        if (!s) free(text);
    }
    if (!s) s = clip ? mmf_bpe_from_files(t, dir) : mmf_pipeline_from_bpe_files(t, dir, cfg);
    cJSON_Delete(cfg);
    return s;
}

mmf_status mmf_tokenizer_load(const char *dir, mmf_tokenizer **out) {
    *out = NULL;
    if (!dir) return mmf_fail(MMF_ERR_ARG, "mmf_tokenizer_load: NULL folder");
    mmf_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory");
    t->path = strdup(dir);
    t->unk_id = t->pad_id = -1;
    t->lone_prefix_id = t->eos_once = -1;
    mmf_status s = mmf_vocab_init(&t->vocab, 1024);
    char path[4096];
    if (!s) {
        snprintf(path, sizeof path, "%s/tokenizer.json", dir);
        if (file_exists(path)) s = load_json(t, path);
        else {
            snprintf(path, sizeof path, "%s/vocab.txt", dir);
            char merges[4096];
            snprintf(merges, sizeof merges, "%s/merges.txt", dir);
            const char *spm = find_spm(dir);
            if (file_exists(path)) s = mmf_wordpiece_from_vocab(t, dir);
            else if (file_exists(merges)) s = load_bpe_files(t, dir);
            else if (spm) s = mmf_pipeline_from_spm(t, dir, spm);
            else s = mmf_fail(MMF_ERR_NOT_FOUND, "%s: no tokenizer.json, vocab.txt, vocab.json + merges.txt or SentencePiece model (spiece.model, sentencepiece.bpe.model, tokenizer.model) in the folder", dir);
        }
    }
    if (!s) s = read_config_max_length(t, dir);
    if (!s && !t->ops) s = mmf_fail(MMF_ERR_FORMAT, "%s: the tokenizer has no model", dir);
    if (s) {
        mmf_fail_wrap(s, "loading tokenizer from %s", dir);
        mmf_tokenizer_free(t);
        return s;
    }
    *out = t;
    return MMF_OK;
}
