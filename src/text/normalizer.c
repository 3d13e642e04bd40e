/* tokenizer.json normalisers and SentencePiece's own (see pipeline.h).
 * Where Hugging Face's Rust tokenizer and its JS port differ, Rust is
 * followed (White_Space for Strip, per-code-point lower-casing); the
 * Precompiled map is applied as sentencepiece applies it (see run_precompiled). */
#include "text/pipeline.h"
#include "text/tokenizer.h"
#include "core/error.h"
#include "io/json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>


enum step_kind { ST_UNICODE, ST_LOWER, ST_STRIP, ST_STRIP_ACCENTS, ST_REPLACE, ST_PREPEND, ST_PRECOMPILED, ST_SPM };

/* A Replace pattern: atoms (a code point set) each repeated [min, max] times;
 * only the last atom may vary in length, so a greedy match is the regex match. */
typedef struct atom { int kind; /* 0 literal, 1 class */ int32_t c; int neg; int32_t *ranges; int n_ranges; int min, max; } atom;

typedef struct step {
    enum step_kind kind;
    int flags;                  /* ST_UNICODE: utf8proc options; ST_STRIP: 1 left, 2 right */
    atom *pat;                  /* ST_REPLACE */
    int n_pat;
    int32_t *text;              /* ST_REPLACE content, ST_PREPEND prefix */
    size_t n_text;
    mmf_charsmap map;           /* ST_PRECOMPILED, ST_SPM (n_units 0 = identity) */
    int dummy, extra_ws, escape; /* ST_SPM */
} step;

struct mmf_normalizer { step *s; int n; };

void mmf_normalizer_free(mmf_normalizer *nz) {
    if (!nz) return;
    for (int i = 0; i < nz->n; i++) {
        for (int k = 0; k < nz->s[i].n_pat; k++) free(nz->s[i].pat[k].ranges);
        free(nz->s[i].pat);
        free(nz->s[i].text);
        mmf_charsmap_free(&nz->s[i].map);
    }
    free(nz->s);
    free(nz);
}

static mmf_status push_step(mmf_normalizer *nz, step **out) {
    step *s = realloc(nz->s, (size_t)(nz->n + 1) * sizeof *s);
    if (!s) return mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory");
    nz->s = s;
    *out = &s[nz->n++];
    memset(*out, 0, sizeof **out);
    return MMF_OK;
}

static mmf_status utf8_cps(const char *s, const char *file, const char *what, int32_t **out, size_t *n) {
    size_t len = strlen(s), bad = 0;
    *out = malloc((len + 1) * sizeof **out);
    if (!*out) return mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory");
    *n = mmf_utf8_decode(s, len, *out, &bad);
    if (bad) return mmf_fail(MMF_ERR_FORMAT, "%s: %s is not valid UTF-8", file, what);
    return MMF_OK;
}

/* ---- the Replace pattern subset ---- */

static int add_range(atom *a, int32_t lo, int32_t hi) {
    int32_t *r = realloc(a->ranges, (size_t)(a->n_ranges + 1) * 2 * sizeof *r);
    if (!r) return 0;
    a->ranges = r;
    r[2 * a->n_ranges] = lo;
    r[2 * a->n_ranges + 1] = hi;
    a->n_ranges++;
    return 1;
}

/* \s \d \w as classes (Unicode, as Rust's regex): negative codes */
enum { CL_SPACE = -1, CL_DIGIT = -2, CL_WORD = -3 };

static int in_class(int32_t c, int32_t code) {
    if (code == CL_SPACE) return mmf_tok_is_space(c) && c != 0xFEFF;
    utf8proc_category_t k = utf8proc_category(c);
    if (code == CL_DIGIT) return k == UTF8PROC_CATEGORY_ND;
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) || k == UTF8PROC_CATEGORY_ND ||
           k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_MC || k == UTF8PROC_CATEGORY_ME ||
           k == UTF8PROC_CATEGORY_PC || k == UTF8PROC_CATEGORY_NL;
}

static int atom_match(const atom *a, int32_t c) {
    if (a->kind == 0) return a->c < 0 ? in_class(c, a->c) : c == a->c;
    int in = 0;
    for (int i = 0; i < a->n_ranges && !in; i++) {
        int32_t lo = a->ranges[2 * i], hi = a->ranges[2 * i + 1];
        in = lo < 0 ? in_class(c, lo) : (c >= lo && c <= hi);
    }
    return in != a->neg;
}

/* one escaped character after '\' at p[i]; returns the code (literal or class) */
static int escape_code(const int32_t *p, size_t n, size_t *i, int32_t *code) {
    if (*i >= n) return 0;
    int32_t c = p[(*i)++];
    switch (c) {
    case 's': *code = CL_SPACE; return 1;
    case 'd': *code = CL_DIGIT; return 1;
    case 'w': *code = CL_WORD; return 1;
    case 'n': *code = '\n'; return 1;
    case 't': *code = '\t'; return 1;
    case 'r': *code = '\r'; return 1;
    case 'f': *code = '\f'; return 1;
    case 'v': *code = '\v'; return 1;
    default:
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return 0;
        *code = c;
        return 1;
    }
}

static mmf_status parse_regex(step *st, const char *src, const char *file) {
    int32_t *p = NULL;
    size_t n = 0;
    MMF_TRY(utf8_cps(src, file, "a Replace pattern", &p, &n));
    mmf_status s = MMF_OK;
    size_t i = 0;
#define BAD(why) do { s = mmf_fail(MMF_ERR_UNSUPPORTED, "%s: Replace regex \"%s\": %s (supported: characters, escapes and [classes] with ?, *, +, {n,m}; only the last may vary in length)", file, src, why); goto done; } while (0)
    while (i < n) {
        atom *pa = realloc(st->pat, (size_t)(st->n_pat + 1) * sizeof *pa);
        if (!pa) { s = mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory"); goto done; }
        st->pat = pa;
        atom *a = &pa[st->n_pat++];
        memset(a, 0, sizeof *a);
        a->min = a->max = 1;
        int32_t c = p[i++];
        if (c == '(' || c == ')' || c == '|' || c == '^' || c == '$' || c == '.' || c == '*' || c == '+' || c == '?' || c == '{')
            BAD("groups, alternation, anchors and '.' are not supported");
        if (c == '\\') {
            if (!escape_code(p, n, &i, &a->c)) BAD("unsupported escape");
        } else if (c == '[') {
            a->kind = 1;
            if (i < n && p[i] == '^') { a->neg = 1; i++; }
            int first = 1;
            while (i < n && (p[i] != ']' || first)) {
                first = 0;
                int32_t lo = p[i++], hi;
                if (lo == '\\') { if (!escape_code(p, n, &i, &lo)) BAD("unsupported escape in a class"); }
                hi = lo;
                if (lo >= 0 && i + 1 < n && p[i] == '-' && p[i + 1] != ']') {
                    i++;
                    hi = p[i++];
                    if (hi == '\\' && !escape_code(p, n, &i, &hi)) BAD("unsupported escape in a class");
                    if (hi < lo) BAD("reversed range");
                }
                if (!add_range(a, lo, hi)) { s = mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory"); goto done; }
            }
            if (i >= n) BAD("unterminated class");
            i++;
        } else {
            a->c = c;
        }
        if (i < n && (p[i] == '?' || p[i] == '*' || p[i] == '+')) {
            a->min = p[i] == '+';
            a->max = p[i] == '?' ? 1 : -1;
            i++;
        } else if (i < n && p[i] == '{') {
            i++;
            long lo = 0, hi = -1;
            int got = 0;
            while (i < n && p[i] >= '0' && p[i] <= '9') { lo = lo * 10 + (p[i++] - '0'); got = 1; if (lo > 100000) BAD("count too large"); }
            if (!got) BAD("bad {n,m}");
            if (i < n && p[i] == ',') {
                i++;
                if (i < n && p[i] >= '0' && p[i] <= '9') {
                    hi = 0;
                    while (i < n && p[i] >= '0' && p[i] <= '9') { hi = hi * 10 + (p[i++] - '0'); if (hi > 100000) BAD("count too large"); }
                    if (hi < lo) BAD("bad {n,m}");
                }
            } else hi = lo;
            if (i >= n || p[i] != '}') BAD("bad {n,m}");
            i++;
            a->min = (int)lo;
            a->max = (int)hi;
        }
        if (i < n && (p[i] == '?' || p[i] == '+')) BAD("lazy or possessive quantifiers");
    }
    for (int k = 0; k + 1 < st->n_pat; k++)
        if (st->pat[k].min != st->pat[k].max) BAD("a variable-length part before the end");
    if (!st->n_pat || (st->n_pat == 1 && st->pat[0].min == 0)) BAD("matches the empty string");
#undef BAD
done:
    free(p);
    return s;
}

/* length of the match at cp[i] (0 = none) */
static size_t pat_match(const step *st, const int32_t *cp, size_t n, size_t i) {
    size_t j = i;
    for (int k = 0; k < st->n_pat; k++) {
        const atom *a = &st->pat[k];
        int got = 0;
        while ((a->max < 0 || got < a->max) && j < n && atom_match(a, cp[j])) { j++; got++; }
        if (got < a->min) return 0;
    }
    return j - i;
}

/* ---- reading tokenizer.json ---- */


static mmf_status parse_precompiled(step *st, const cJSON *node, const char *file) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(node, "precompiled_charsmap");
    if (cJSON_IsNull(m) || !m) return MMF_OK;   /* no map: identity */
    if (!cJSON_IsString(m)) return mmf_fail(MMF_ERR_FORMAT, "%s: normalizer.precompiled_charsmap should be a base64 string", file);
    unsigned char *blob;
    size_t len;
    char what[600];
    snprintf(what, sizeof what, "%s: precompiled_charsmap", file);
    MMF_TRY(mmf_base64_decode(m->valuestring, strlen(m->valuestring), &blob, &len, what));
    mmf_status s = len ? mmf_charsmap_init(&st->map, blob, len, file) : MMF_OK;
    free(blob);
    return s;
}

/* one normalizer step (mmf_pipeline_walk flattens the Sequences) */
static mmf_status parse_step(void *ctx, const cJSON *node, const char *type, const char *file) {
    mmf_normalizer *nz = ctx;
    step *st = NULL;
    MMF_TRY(push_step(nz, &st));
    if (!strcmp(type, "NFC")) { st->kind = ST_UNICODE; st->flags = UTF8PROC_STABLE | UTF8PROC_COMPOSE; }
    else if (!strcmp(type, "NFD")) { st->kind = ST_UNICODE; st->flags = UTF8PROC_STABLE | UTF8PROC_DECOMPOSE; }
    else if (!strcmp(type, "NFKC")) { st->kind = ST_UNICODE; st->flags = UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT; }
    else if (!strcmp(type, "NFKD")) { st->kind = ST_UNICODE; st->flags = UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; }
    else if (!strcmp(type, "Lowercase")) st->kind = ST_LOWER;
    else if (!strcmp(type, "StripAccents")) st->kind = ST_STRIP_ACCENTS;
    else if (!strcmp(type, "Strip")) {
        int l, r;
        st->kind = ST_STRIP;
        MMF_TRY(mmf_json_bool(node, "strip_left", 1, file, &l));
        MMF_TRY(mmf_json_bool(node, "strip_right", 1, file, &r));
        st->flags = l | r << 1;
    } else if (!strcmp(type, "Prepend")) {
        const char *p = NULL;
        st->kind = ST_PREPEND;
        MMF_TRY(mmf_json_str(node, "prepend", NULL, file, &p));
        if (!p) return mmf_fail(MMF_ERR_FORMAT, "%s: normalizer Prepend has no \"prepend\" string", file);
        MMF_TRY(utf8_cps(p, file, "Prepend's text", &st->text, &st->n_text));
    } else if (!strcmp(type, "Replace")) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(node, "pattern");
        const char *content = NULL;
        st->kind = ST_REPLACE;
        MMF_TRY(mmf_json_str(node, "content", NULL, file, &content));
        if (!content || !cJSON_IsObject(pat)) return mmf_fail(MMF_ERR_FORMAT, "%s: normalizer Replace needs \"pattern\" and \"content\"", file);
        MMF_TRY(utf8_cps(content, file, "Replace's content", &st->text, &st->n_text));
        const cJSON *str = cJSON_GetObjectItemCaseSensitive(pat, "String"), *re = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
        if (cJSON_IsString(str)) {
            int32_t *p = NULL;
            size_t n = 0;
            MMF_TRY(utf8_cps(str->valuestring, file, "Replace's pattern", &p, &n));
            if (!n) { free(p); return mmf_fail(MMF_ERR_FORMAT, "%s: normalizer Replace has an empty pattern", file); }
            st->pat = calloc(n, sizeof *st->pat);
            if (!st->pat) { free(p); return mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory"); }
            for (size_t i = 0; i < n; i++) st->pat[i] = (atom){.kind = 0, .c = p[i], .min = 1, .max = 1};
            st->n_pat = (int)n;
            free(p);
        } else if (cJSON_IsString(re)) {
            MMF_TRY(parse_regex(st, re->valuestring, file));
        } else {
            return mmf_fail(MMF_ERR_FORMAT, "%s: normalizer Replace pattern should be {\"String\": ...} or {\"Regex\": ...}", file);
        }
    } else if (!strcmp(type, "Precompiled")) {
        st->kind = ST_PRECOMPILED;
        MMF_TRY(parse_precompiled(st, node, file));
    } else {
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: normalizer type \"%s\" is not supported here (supported: Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Replace, Prepend, Precompiled)", file, type);
    }
    return MMF_OK;
}

mmf_status mmf_normalizer_from_json(const cJSON *node, const char *file, mmf_normalizer **out) {
    *out = NULL;
    if (!node || cJSON_IsNull(node)) return MMF_OK;
    mmf_normalizer *nz = calloc(1, sizeof *nz);
    if (!nz) return mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory");
    mmf_status s = mmf_pipeline_walk(node, "normalizer", "normalizers", file, parse_step, nz);
    if (s) { mmf_normalizer_free(nz); return s; }
    *out = nz;
    return MMF_OK;
}

mmf_status mmf_normalizer_spm(const unsigned char *charsmap, size_t len, int add_dummy_prefix, int remove_extra_ws,
                              int escape_ws, const char *file, mmf_normalizer **out) {
    *out = NULL;
    mmf_normalizer *nz = calloc(1, sizeof *nz);
    step *st = NULL;
    mmf_status s = nz ? push_step(nz, &st) : mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory");
    if (!s) {
        st->kind = ST_SPM;
        st->dummy = add_dummy_prefix;
        st->extra_ws = remove_extra_ws;
        st->escape = escape_ws;
        if (charsmap && len) s = mmf_charsmap_init(&st->map, charsmap, len, file);
    }
    if (s) { mmf_normalizer_free(nz); return s; }
    *out = nz;
    return MMF_OK;
}

/* ---- running ---- */

static mmf_status to_utf8(const int32_t *cp, size_t n, mmf_strbuf *b) {
    b->n = 0;
    MMF_TRY(mmf_strbuf_add(b, "", 0));
    for (size_t i = 0; i < n; i++) MMF_TRY(mmf_strbuf_cp(b, cp[i]));
    return MMF_OK;
}

static mmf_status push_utf8(mmf_i32vec *out, const char *s, size_t len) {
    if (!len) return MMF_OK;   /* out->v may still be NULL */
    MMF_TRY(mmf_i32vec_reserve(out, out->n + len));
    out->n += mmf_utf8_decode(s, len, out->v + out->n, NULL);
    return MMF_OK;
}

static mmf_status run_unicode(const step *st, const int32_t *cp, size_t n, mmf_i32vec *out) {
    mmf_strbuf b = {0};
    mmf_status s = to_utf8(cp, n, &b);
    if (s) { free(b.s); return s; }
    utf8proc_uint8_t *r = NULL;
    utf8proc_ssize_t rn = b.n ? utf8proc_map((const utf8proc_uint8_t *)b.s, (utf8proc_ssize_t)b.n, &r, (utf8proc_option_t)st->flags) : 0;
    free(b.s);
    if (rn < 0) return mmf_fail(MMF_ERR_ARG, "tokenize: cannot normalise the text (%s)", utf8proc_errmsg(rn));
    s = push_utf8(out, (const char *)r, (size_t)rn);
    free(r);
    return s;
}

/* Precompiled as sentencepiece applies its map: at each point the longest
 * rule, else one character unchanged. (Hugging Face's Rust port shortcuts
 * per grapheme and takes the shortest rule, which drops a second accent after
 * a rule and leaves decomposed kana and jamo uncomposed; sentencepiece's way
 * is the one the model was trained with.) */
static mmf_status run_precompiled(const step *st, const int32_t *cp, size_t n, mmf_i32vec *out) {
    mmf_strbuf in = {0};
    mmf_status s = to_utf8(cp, n, &in);
    for (size_t i = 0; !s && i < in.n;) {
        const char *rep;
        size_t rl, used = st->map.n_units ? mmf_charsmap_match(&st->map, in.s + i, in.n - i, 1, &rep, &rl) : 0;
        if (used) { s = push_utf8(out, rep, rl); i += used; continue; }
        int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)in.s + i, (utf8proc_ssize_t)(in.n - i), &c);
        if (k <= 0) { c = 0xFFFD; k = 1; }
        s = mmf_i32vec_push(out, c);
        i += (size_t)k;
    }
    free(in.s);
    return s;
}

/* sentencepiece::normalizer::Normalizer::Normalize over the UTF-8 bytes */
static mmf_status run_spm(const step *st, const int32_t *cp, size_t n, mmf_i32vec *out) {
    mmf_strbuf in = {0}, o = {0};
    mmf_status s = to_utf8(cp, n, &in);
    const char *p = in.s;
    size_t len = in.n;
    /* the next normalised prefix: rule text or the character itself */
#define PREFIX(rep, rl, used) do { \
        used = st->map.n_units ? mmf_charsmap_match(&st->map, p, len, 1, &rep, &rl) : 0; \
        if (!used) { int32_t c_; utf8proc_ssize_t k_ = utf8proc_iterate((const utf8proc_uint8_t *)p, (utf8proc_ssize_t)len, &c_); \
            used = k_ > 0 ? (size_t)k_ : 1; rep = p; rl = used; } } while (0)
    const char *rep;
    size_t rl, used;
    if (!s && st->extra_ws) {
        while (len) {
            PREFIX(rep, rl, used);
            if (!(rl == 1 && rep[0] == ' ')) break;
            p += used;
            len -= used;
        }
    }
    if (!s && len) {
        if (st->dummy) s = mmf_strbuf_add(&o, st->escape ? "\xe2\x96\x81" : " ", st->escape ? 3 : 1);
        int prev_space = st->extra_ws;
        while (!s && len) {
            PREFIX(rep, rl, used);
            while (prev_space && rl && rep[0] == ' ') { rep++; rl--; }
            if (rl) {
                for (size_t k = 0; k < rl && !s; k++)
                    s = (st->escape && rep[k] == ' ') ? mmf_strbuf_add(&o, "\xe2\x96\x81", 3) : mmf_strbuf_add(&o, rep + k, 1);
                prev_space = rep[rl - 1] == ' ';
            }
            p += used;
            len -= used;
            if (!st->extra_ws) prev_space = 0;
        }
        if (!s && st->extra_ws) {
            const char *sp = st->escape ? "\xe2\x96\x81" : " ";
            size_t sl = st->escape ? 3 : 1;
            while (o.n >= sl && !memcmp(o.s + o.n - sl, sp, sl)) o.n -= sl;
        }
    }
#undef PREFIX
    if (!s) s = push_utf8(out, o.s ? o.s : "", o.n);
    free(in.s);
    free(o.s);
    return s;
}

static int is_ws(int32_t c) { return mmf_tok_is_space(c) && c != 0xFEFF; }

static mmf_status run_step(const step *st, const int32_t *cp, size_t n, mmf_i32vec *out) {
    switch (st->kind) {
    case ST_UNICODE: return run_unicode(st, cp, n, out);
    case ST_PRECOMPILED: return run_precompiled(st, cp, n, out);
    case ST_SPM: return run_spm(st, cp, n, out);
    case ST_LOWER:
        for (size_t i = 0; i < n; i++) {
            if (cp[i] == 0x130) { MMF_TRY(mmf_i32vec_push(out, 'i')); MMF_TRY(mmf_i32vec_push(out, 0x307)); }
            else MMF_TRY(mmf_i32vec_push(out, utf8proc_tolower(cp[i])));
        }
        return MMF_OK;
    case ST_STRIP_ACCENTS:
        for (size_t i = 0; i < n; i++)
            if (utf8proc_category(cp[i]) != UTF8PROC_CATEGORY_MN) MMF_TRY(mmf_i32vec_push(out, cp[i]));
        return MMF_OK;
    case ST_STRIP: {
        size_t a = 0, b = n;
        if (st->flags & 1) while (a < b && is_ws(cp[a])) a++;
        if (st->flags & 2) while (b > a && is_ws(cp[b - 1])) b--;
        if (b == a) return MMF_OK;
        MMF_TRY(mmf_i32vec_reserve(out, out->n + (b - a)));
        memcpy(out->v + out->n, cp + a, (b - a) * sizeof *cp);
        out->n += b - a;
        return MMF_OK;
    }
    case ST_PREPEND:
        if (!n) return MMF_OK;   /* Rust prepends to non-empty text only */
        MMF_TRY(mmf_i32vec_reserve(out, out->n + st->n_text + n));
        memcpy(out->v + out->n, st->text, st->n_text * sizeof *cp);
        out->n += st->n_text;
        memcpy(out->v + out->n, cp, n * sizeof *cp);
        out->n += n;
        return MMF_OK;
    case ST_REPLACE:
        for (size_t i = 0; i < n;) {
            size_t m = pat_match(st, cp, n, i);
            if (m) {
                MMF_TRY(mmf_i32vec_reserve(out, out->n + st->n_text + 1));
                if (st->n_text) memcpy(out->v + out->n, st->text, st->n_text * sizeof *cp);
                out->n += st->n_text;
                i += m;
            } else {
                MMF_TRY(mmf_i32vec_push(out, cp[i++]));
            }
        }
        return MMF_OK;
    }
    return MMF_OK;
}

mmf_status mmf_normalizer_run(const mmf_normalizer *nz, const int32_t *cp, size_t n, mmf_i32vec *out) {
    if (!nz || !nz->n) {
        if (!n) return MMF_OK;
        MMF_TRY(mmf_i32vec_reserve(out, out->n + n));
        memcpy(out->v + out->n, cp, n * sizeof *cp);
        out->n += n;
        return MMF_OK;
    }
    mmf_i32vec a = {0}, b = {0};
    mmf_status s = MMF_OK;
    const int32_t *src = cp;
    size_t sn = n;
    for (int k = 0; k < nz->n && !s; k++) {
        b.n = 0;
        s = run_step(&nz->s[k], src, sn, &b);
        mmf_i32vec t = a;
        a = b;
        b = t;
        src = a.v;
        sn = a.n;
    }
    if (!s) {
        s = mmf_i32vec_reserve(out, out->n + sn);
        if (!s && sn) { memcpy(out->v + out->n, src, sn * sizeof *src); out->n += sn; }
    }
    free(a.v);
    free(b.v);
    return s;
}
