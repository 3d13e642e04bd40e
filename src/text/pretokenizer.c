/* tokenizer.json pre-tokenisers (see pipeline.h), as Hugging Face's Rust
 * tokenizer runs them. Regex \s is Unicode White_Space (U+0085 yes, U+FEFF
 * no), as in Rust; the JS port's \s differs on those two. */
#include "text/pipeline.h"
#include "text/tokenizer.h"
#include "core/error.h"
#include "core/grow.h"
#include "io/json.h"
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>


enum { PT_METASPACE, PT_BYTELEVEL, PT_WSSPLIT };
enum { PREPEND_ALWAYS, PREPEND_NEVER, PREPEND_FIRST };

typedef struct pt_step {
    int kind;
    int32_t replacement;        /* Metaspace */
    int prepend, split;         /* Metaspace */
    int add_prefix_space, use_regex;   /* ByteLevel */
} pt_step;

struct mmf_pretok { pt_step *s; int n; int32_t byte_map[256]; };

void mmf_pieces_free(mmf_pieces *p) {
    free(p->cp.v);
    free(p->end);
    memset(p, 0, sizeof *p);
}

static mmf_status piece_end(mmf_pieces *p) {
    if (p->n && p->end[p->n - 1] == p->cp.n) return MMF_OK;   /* no empty pieces */
    if (mmf_grow(&p->end, &p->cap, p->n, sizeof *p->end, 16)) return mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory");
    p->end[p->n++] = p->cp.n;
    return MMF_OK;
}

static mmf_status piece_add(mmf_pieces *p, const int32_t *cp, size_t n) {
    if (!n) return MMF_OK;
    MMF_TRY(mmf_i32vec_reserve(&p->cp, p->cp.n + n));
    memcpy(p->cp.v + p->cp.n, cp, n * sizeof *cp);
    p->cp.n += n;
    return piece_end(p);
}

void mmf_gpt2_byte_map(int32_t map[256]) {
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        map[b] = keep ? b : 256 + n++;
    }
}

void mmf_pretok_free(mmf_pretok *pt) {
    if (!pt) return;
    free(pt->s);
    free(pt);
}

int mmf_pretok_is_byte_level(const mmf_pretok *pt) {
    for (int i = 0; pt && i < pt->n; i++)
        if (pt->s[i].kind == PT_BYTELEVEL) return 1;
    return 0;
}

/* one pre_tokenizer step (mmf_pipeline_walk flattens the Sequences) */
static mmf_status parse(void *ctx, const cJSON *node, const char *type, const char *file) {
    mmf_pretok *pt = ctx;
    pt_step *s = realloc(pt->s, (size_t)(pt->n + 1) * sizeof *s);
    if (!s) return mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory");
    pt->s = s;
    pt_step *st = &s[pt->n++];
    memset(st, 0, sizeof *st);
    if (!strcmp(type, "Metaspace")) {
        const char *rep = NULL, *scheme = NULL;
        int aps;
        st->kind = PT_METASPACE;
        MMF_TRY(mmf_json_str(node, "replacement", "\xe2\x96\x81", file, &rep));
        int32_t cps[8];
        size_t bad = 0, len = strlen(rep);
        if (len == 0 || len > 4 || mmf_utf8_decode(rep, len, cps, &bad) != 1 || bad)
            return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: pre_tokenizer Metaspace replacement \"%s\" should be one character", file, rep);
        st->replacement = cps[0];
        MMF_TRY(mmf_json_bool(node, "add_prefix_space", 1, file, &aps));
        MMF_TRY(mmf_json_str(node, "prepend_scheme", NULL, file, &scheme));
        MMF_TRY(mmf_json_bool(node, "split", 1, file, &st->split));
        if (!scheme) st->prepend = aps ? PREPEND_ALWAYS : PREPEND_NEVER;
        else if (!strcmp(scheme, "always")) st->prepend = PREPEND_ALWAYS;
        else if (!strcmp(scheme, "never")) st->prepend = PREPEND_NEVER;
        else if (!strcmp(scheme, "first")) st->prepend = PREPEND_FIRST;
        else return mmf_fail(MMF_ERR_FORMAT, "%s: pre_tokenizer Metaspace prepend_scheme \"%s\" (expected always, never or first)", file, scheme);
    } else if (!strcmp(type, "ByteLevel")) {
        st->kind = PT_BYTELEVEL;
        MMF_TRY(mmf_json_bool(node, "add_prefix_space", 1, file, &st->add_prefix_space));
        MMF_TRY(mmf_json_bool(node, "use_regex", 1, file, &st->use_regex));
    } else if (!strcmp(type, "WhitespaceSplit")) {
        st->kind = PT_WSSPLIT;
    } else {
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: pre_tokenizer type \"%s\" is not supported here (supported: Metaspace, ByteLevel, WhitespaceSplit, Sequence)", file, type);
    }
    return MMF_OK;
}

mmf_status mmf_pretok_from_json(const cJSON *node, const char *file, mmf_pretok **out) {
    *out = NULL;
    if (!node || cJSON_IsNull(node)) return MMF_OK;
    mmf_pretok *pt = calloc(1, sizeof *pt);
    if (!pt) return mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory");
    mmf_gpt2_byte_map(pt->byte_map);
    mmf_status s = mmf_pipeline_walk(node, "pre_tokenizer", "pretokenizers", file, parse, pt);
    if (s) { mmf_pretok_free(pt); return s; }
    *out = pt;
    return MMF_OK;
}

/* ---- the steps ---- */

static mmf_status metaspace(const pt_step *st, const int32_t *cp, size_t n, int first, mmf_pieces *out) {
    int32_t r = st->replacement;
    int prepend = (st->prepend == PREPEND_ALWAYS || (st->prepend == PREPEND_FIRST && first)) && !(n && (cp[0] == ' ' || cp[0] == r));
    /* (a leading ' ' becomes the replacement, so it counts as "starts with") */
    size_t start = out->cp.n;
    if (prepend) MMF_TRY(mmf_i32vec_push(&out->cp, r));
    for (size_t i = 0; i < n; i++) {
        int32_t c = cp[i] == ' ' ? r : cp[i];
        /* MergedWithNext: each replacement starts a new piece */
        if (st->split && c == r && out->cp.n > start) MMF_TRY(piece_end(out));
        MMF_TRY(mmf_i32vec_push(&out->cp, c));
    }
    if (out->cp.n > start) MMF_TRY(piece_end(out));
    return MMF_OK;
}

static int ws(int32_t c) { return mmf_tok_is_space(c) && c != 0xFEFF; }
static int letter(int32_t c) {
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}
static int number(int32_t c) {
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO;
}
static int other(int32_t c) { return !ws(c) && !letter(c) && !number(c); }

/* GPT-2's pattern 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * matched at cp[i]: the length of the match (every position matches). */
static size_t gpt2_match(const int32_t *cp, size_t n, size_t i) {
    if (cp[i] == '\'' && i + 1 < n) {
        int32_t a = cp[i + 1], b = i + 2 < n ? cp[i + 2] : 0;
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    }
    size_t j = i + (cp[i] == ' ' && i + 1 < n);
    int (*cls[3])(int32_t) = {letter, number, other};
    for (int k = 0; k < 3; k++) {
        if (!cls[k](cp[j])) continue;
        size_t e = j + 1;
        while (e < n && cls[k](cp[e])) e++;
        return e - i;
    }
    /* whitespace: the run, less its last character when a non-space follows */
    size_t e = i;
    while (e < n && ws(cp[e])) e++;
    if (e == n || e - i == 1) return e - i;
    return e - i - 1;
}

static mmf_status byte_piece(const mmf_pretok *pt, const int32_t *cp, size_t n, mmf_pieces *out) {
    for (size_t i = 0; i < n; i++) {
        char u[4];
        int k = mmf_utf8_put(cp[i], u);
        for (int b = 0; b < k; b++) MMF_TRY(mmf_i32vec_push(&out->cp, pt->byte_map[(unsigned char)u[b]]));
    }
    return piece_end(out);
}

static mmf_status bytelevel(const mmf_pretok *pt, const pt_step *st, const int32_t *cp, size_t n, mmf_pieces *out) {
    int32_t *tmp = NULL;
    if (st->add_prefix_space && !(n && cp[0] == ' ')) {
        tmp = malloc((n + 1) * sizeof *tmp);
        if (!tmp) return mmf_fail(MMF_ERR_NOMEM, "tokenizer: out of memory");
        tmp[0] = ' ';
        if (n) memcpy(tmp + 1, cp, n * sizeof *cp);
        cp = tmp;
        n++;
    }
    mmf_status s = MMF_OK;
    if (!st->use_regex) s = n ? byte_piece(pt, cp, n, out) : MMF_OK;
    for (size_t i = 0; st->use_regex && i < n && !s;) {
        size_t m = gpt2_match(cp, n, i);
        s = byte_piece(pt, cp + i, m, out);
        i += m;
    }
    free(tmp);
    return s;
}

static mmf_status wssplit(const int32_t *cp, size_t n, mmf_pieces *out) {
    for (size_t i = 0; i < n;) {
        if (ws(cp[i])) { i++; continue; }
        size_t j = i;
        while (j < n && !ws(cp[j])) j++;
        MMF_TRY(piece_add(out, cp + i, j - i));
        i = j;
    }
    return MMF_OK;
}

mmf_status mmf_pretok_run(const mmf_pretok *pt, const int32_t *cp, size_t n, int first, mmf_pieces *out) {
    out->cp.n = 0;
    out->n = 0;
    MMF_TRY(piece_add(out, cp, n));
    mmf_pieces next = {0};
    mmf_status s = MMF_OK;
    for (int k = 0; pt && k < pt->n && !s; k++) {
        next.cp.n = next.n = 0;
        for (size_t p = 0; p < out->n && !s; p++) {
            size_t a = p ? out->end[p - 1] : 0, b = out->end[p];
            const pt_step *st = &pt->s[k];
            if (st->kind == PT_METASPACE) s = metaspace(st, out->cp.v + a, b - a, first && p == 0, &next);
            else if (st->kind == PT_BYTELEVEL) s = bytelevel(pt, st, out->cp.v + a, b - a, &next);
            else s = wssplit(out->cp.v + a, b - a, &next);
        }
        mmf_pieces t = *out;
        *out = next;
        next = t;
    }
    mmf_pieces_free(&next);
    return s;
}
