/* Training the text tower (mmf_train_text_tower).
 *
 * The vocabulary is learned from the training texts with the tokenizer that
 * will read it: a first vocab.txt holding only the specials and single
 * characters (plain and "##"-continued) makes the WordPiece tokenizer split
 * every text into characters after its own normalisation (lower case, accents
 * stripped, punctuation split); gluing "##" pieces back gives exactly the
 * words the final tokenizer will look up. The final vocab.txt is the specials,
 * the words seen at least min_count times (most frequent first), then the
 * characters, so unseen words fall back to characters instead of [UNK]. */
#include "direct/textnet.h"
#include "direct/tower.h"
#include "core/error.h"
#include "text/text_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

typedef struct wcount { char *w; int64_t n; } wcount;

static int cmp_wc(const void *a, const void *b) {
    const wcount *x = a, *y = b;
    if (x->n != y->n) return x->n > y->n ? -1 : 1;
    return strcmp(x->w, y->w);
}

static mmf_status write_text(const char *dir, const char *name, const char *txt, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return mmf_write_file_atomic(path, txt, n);
}

static mmf_status write_tok_config(const char *dir, int max_length) {
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "{\n  \"tokenizer_class\": \"BertTokenizer\",\n  \"do_lower_case\": true,\n"
                     "  \"tokenize_chinese_chars\": true,\n  \"model_max_length\": %d,\n"
                     "  \"unk_token\": \"[UNK]\", \"cls_token\": \"[CLS]\", \"sep_token\": \"[SEP]\",\n"
                     "  \"pad_token\": \"[PAD]\", \"mask_token\": \"[MASK]\"\n}\n", max_length);
    return write_text(dir, "tokenizer_config.json", buf, (size_t)n);
}

/* the characters of the texts (UTF-8 strings, unique), ASCII printable included */
static mmf_status collect_chars(const mmf_records *rs, mmf_vocab *chars) {
    mmf_status s = mmf_vocab_init(chars, 512);
    int32_t next = 0;
    char u[8];
    for (int c = 33; c < 127 && !s; c++) {
        u[0] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        if (mmf_vocab_get(chars, u, 1) < 0) s = mmf_vocab_set(chars, u, 1, next++, 0);
    }
    for (size_t i = 0; i < rs->n && !s; i++) {
        const char *t = rs->r[i].text;
        if (!t) continue;
        size_t len = strlen(t), bad;
        int32_t *cp = malloc((len + 1) * sizeof *cp);
        if (!cp) return mmf_fail(MMF_ERR_NOMEM, "out of memory");
        size_t n = mmf_utf8_decode(t, len, cp, &bad);
        for (size_t k = 0; k < n && !s; k++) {
            if (cp[k] <= 32 || cp[k] == 0xFFFD) continue;
            int32_t c = cp[k] >= 'A' && cp[k] <= 'Z' ? cp[k] + 32 : cp[k];
            int l = mmf_utf8_put(c, u);
            if (mmf_vocab_get(chars, u, (size_t)l) < 0) s = mmf_vocab_set(chars, u, (size_t)l, next++, 0);
        }
        free(cp);
    }
    return s;
}

static mmf_status append_line(mmf_strbuf *b, const char *s, size_t n) {
    mmf_status st = mmf_strbuf_add(b, s, n);
    return st ? st : mmf_strbuf_add(b, "\n", 1);
}

/* write vocab.txt: specials, words (may be NULL), characters and ##characters */
static mmf_status write_vocab(const char *dir, const mmf_vocab *chars, const wcount *words, int64_t n_words, int64_t *size) {
    mmf_strbuf b = {0};
    mmf_vocab seen;
    mmf_status s = mmf_vocab_init(&seen, 4096);
    int32_t id = 0;
#define PUT(str, len) do { if (!s && mmf_vocab_get(&seen, str, len) < 0) { \
        s = mmf_vocab_set(&seen, str, len, id++, 0); if (!s) s = append_line(&b, str, len); } } while (0)
    for (int i = 0; i < 5; i++) PUT(specials[i], strlen(specials[i]));
    for (int64_t i = 0; i < n_words; i++) PUT(words[i].w, strlen(words[i].w));
    for (int64_t i = 0; i < chars->n_ids; i++) {
        const char *c = mmf_vocab_token(chars, (int32_t)i);
        if (c) PUT(c, strlen(c));
    }
    for (int64_t i = 0; i < chars->n_ids; i++) {
        const char *c = mmf_vocab_token(chars, (int32_t)i);
        char cc[16];
        if (!c) continue;
        int l = snprintf(cc, sizeof cc, "##%s", c);
        PUT(cc, (size_t)l);
    }
#undef PUT
    if (!s) s = write_text(dir, "vocab.txt", b.s, b.n);
    *size = id;
    free(b.s);
    mmf_vocab_free(&seen);
    return s;
}

/* words of every text as the tokenizer normalises them, counted */
static mmf_status count_words(const mmf_records *rs, const mmf_tokenizer *tok, wcount **out, int64_t *n_out) {
    mmf_vocab idx;
    mmf_status s = mmf_vocab_init(&idx, 4096);
    wcount *wc = NULL;
    int64_t n = 0, cap = 0;
    mmf_strbuf w = {0};
    for (size_t i = 0; i < rs->n && !s; i++) {
        if (!rs->r[i].text) continue;
        mmf_encoding e;
        s = mmf_tokenizer_encode(tok, rs->r[i].text, NULL, 0, -1, &e);
        if (s) break;
        for (int k = 0; k <= e.n && !s; k++) {
            const char *t = k < e.n ? e.tokens[k] : NULL;
            int cont = t && t[0] == '#' && t[1] == '#' && t[2];
            if (!cont && w.n) {  /* a word ends */
                int32_t j = mmf_vocab_get(&idx, w.s, w.n);
                if (j < 0) {
                    if (n == cap) {
                        cap = cap ? 2 * cap : 1024;
                        wcount *nw = realloc(wc, (size_t)cap * sizeof *nw);
                        if (!nw) { s = mmf_fail(MMF_ERR_NOMEM, "out of memory"); break; }
                        wc = nw;
                    }
                    wc[n].w = strndup(w.s, w.n);
                    wc[n].n = 0;
                    s = mmf_vocab_set(&idx, w.s, w.n, (int32_t)n, 0);
                    j = (int32_t)n++;
                }
                wc[j].n++;
                w.n = 0;
            }
            if (!t || !strcmp(t, "[UNK]")) continue;
            if (!s) s = cont ? mmf_strbuf_add(&w, t + 2, strlen(t + 2)) : mmf_strbuf_add(&w, t, strlen(t));
        }
        mmf_encoding_free(&e);
    }
    free(w.s);
    mmf_vocab_free(&idx);
    if (s) { for (int64_t i = 0; i < n; i++) free(wc[i].w); free(wc); return s; }
    qsort(wc, (size_t)n, sizeof *wc, cmp_wc);
    *out = wc;
    *n_out = n;
    return MMF_OK;
}

typedef struct tset { int64_t n; int T; int32_t *ids; uint8_t *keep; int64_t *y; } tset;

static void tset_free(tset *t) { free(t->ids); free(t->keep); free(t->y); memset(t, 0, sizeof *t); }

/* token ids padded to T = max_length per record with a known label */
static mmf_status encode_set(const mmf_records *rs, const int64_t *cls, const mmf_tokenizer *tok, int T, tset *out) {
    memset(out, 0, sizeof *out);
    int64_t n = 0;
    for (size_t i = 0; i < rs->n; i++) n += cls[i] >= 0 && rs->r[i].text;
    if (!n) return mmf_fail(MMF_ERR_FORMAT, "%s: no record has both a text and a known label", rs->path);
    out->T = T;
    out->ids = calloc((size_t)n * T, sizeof(int32_t));
    out->keep = calloc((size_t)n * T, 1);
    out->y = malloc((size_t)n * sizeof(int64_t));
    if (!out->ids || !out->keep || !out->y) { tset_free(out); return mmf_fail(MMF_ERR_NOMEM, "out of memory"); }
    for (size_t i = 0; i < rs->n; i++) {
        if (cls[i] < 0 || !rs->r[i].text) continue;
        mmf_encoding e;
        mmf_status s = mmf_tokenizer_encode(tok, rs->r[i].text, NULL, 1, T, &e);
        if (s) { tset_free(out); return s; }
        for (int k = 0; k < e.n && k < T; k++) {
            out->ids[out->n * T + k] = e.ids[k];
            out->keep[out->n * T + k] = 1;
        }
        mmf_encoding_free(&e);
        out->y[out->n++] = cls[i];
    }
    return MMF_OK;
}

/* rows idx[0..B) gathered, padded to the longest of them */
static int gather(const tset *d, const int64_t *idx, int B, int32_t *ids, uint8_t *keep) {
    int T = 1;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < d->T; t++) if (d->keep[idx[b] * d->T + t] && t + 1 > T) T = t + 1;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            ids[b * T + t] = d->ids[idx[b] * d->T + t];
            keep[b * T + t] = d->keep[idx[b] * d->T + t];
        }
    return T;
}

static double accuracy(mmf_tape *tp, textnet *m, const tset *d, int bs, int32_t *ids, uint8_t *keep, int64_t *idx) {
    int64_t correct = 0;
    int C = m->cfg.n_classes;
    mmf_tape_set_training(tp, 0);
    for (int64_t s = 0; s < d->n; s += bs) {
        int B = (int)(d->n - s < bs ? d->n - s : bs);
        for (int b = 0; b < B; b++) idx[b] = s + b;
        int T = gather(d, idx, B, ids, keep);
        mmf_tape_reset(tp);
        mmf_var lg = textnet_forward(tp, m, ids, keep, B, T, NULL);
        if (mmf_tape_status(tp)) return -1;
        correct += mmf_tower_correct(mmf_tape_var(tp, lg)->v, B, C, d->y + s);
    }
    return d->n ? (double)correct / (double)d->n : 0.0;
}

/* the text tower's side of the fit loop (train/fit.h) */
typedef struct text_fit {
    const mmf_tower_params *p;
    textnet *m;
    const tset *dt, *dv;
    int32_t *ids;
    uint8_t *keep;
    int64_t *y, *idx;   /* the batch's labels; validation's sample ids */
    int T;              /* the batch's padded length */
    mmf_tape *tp;       /* validation reuses the training tape */
    int64_t correct;
    double val_acc;
} text_fit;

static mmf_status tf_gather(void *ctx, const int64_t *idx, int64_t B) {
    text_fit *c = ctx;
    c->T = gather(c->dt, idx, (int)B, c->ids, c->keep);
    for (int64_t b = 0; b < B; b++) c->y[b] = c->dt->y[idx[b]];
    return MMF_OK;
}

static mmf_status tf_forward(void *ctx, mmf_tape *tp, const int64_t *idx, int64_t B, mmf_var *L) {
    text_fit *c = ctx;
    (void)idx;
    mmf_var lg = textnet_forward(tp, c->m, c->ids, c->keep, (int)B, c->T, NULL);
    *L = mmf_tower_loss(tp, lg, c->y, (int)B, c->m->cfg.n_classes, &c->correct);
    return MMF_OK;
}

static mmf_status tf_eval(void *ctx, int epoch, double *score, double *metrics) {
    text_fit *c = ctx;
    (void)epoch;
    *score = metrics[0] = accuracy(c->tp, c->m, c->dv, c->p->batch, c->ids, c->keep, c->idx);
    return mmf_tape_status(c->tp);
}

static void tf_progress(void *ctx, const mmf_fit_report *r) {
    text_fit *c = ctx;
    mmf_tower_progress(c->p, r, &c->correct, r->metrics ? r->metrics[0] : -1.0);
}

mmf_status mmf_train_text_tower(const char *train_jsonl, const char *val_jsonl, const char *out_dir, const mmf_tower_params *pp) {
    mmf_tower_params p = pp ? *pp : mmf_tower_params_default();
    if (p.epochs <= 0) p.epochs = 40;
    if (p.batch < 2 || p.batch > 4096) return mmf_fail(MMF_ERR_ARG, "text tower: batch %d should be in [2, 4096]", p.batch);
    if (p.max_length < 4 || p.max_length > 4096) return mmf_fail(MMF_ERR_ARG, "text tower: max_length %d should be in [4, 4096]", p.max_length);
    /* one thread: the matrices are tiny (about 10 tokens x 128), so parallel
     * regions cost more than they save, badly so on a loaded machine */
    p.n_threads = 1;
    if (p.min_count < 1) p.min_count = 1;
    mmf_records tr = {0}, va = {0};
    const char **labels = NULL;
    int n_labels = 0;
    int64_t *cls = NULL, *vcls = NULL, n_words = 0, vsize = 0, *idx = NULL;
    wcount *words = NULL;
    mmf_vocab chars = {0};
    mmf_tokenizer *tok = NULL;
    tset dt = {0}, dv = {0};
    textnet m = {0};
    mmf_tape *tp = NULL;
    mmf_optim opt = {0};
    int32_t *bids = NULL;
    uint8_t *bkeep = NULL;
    mmf_status s = mmf_tower_records(train_jsonl, val_jsonl, p.label_field, out_dir, &tr, &va, &labels, &n_labels);
    /* 1. character vocabulary, 2. words as the tokenizer sees them, 3. the final vocabulary */
    if (!s) s = collect_chars(&tr, &chars);
    if (!s) s = write_tok_config(out_dir, p.max_length);
    if (!s) s = write_vocab(out_dir, &chars, NULL, 0, &vsize);
    if (!s) s = mmf_tokenizer_load(out_dir, &tok);
    if (!s) s = count_words(&tr, tok, &words, &n_words);
    int64_t keep_words = 0;
    while (keep_words < n_words && words[keep_words].n >= p.min_count) keep_words++;
    if (!s) { mmf_tokenizer_free(tok); tok = NULL; s = write_vocab(out_dir, &chars, words, keep_words, &vsize); }
    if (!s) s = mmf_tokenizer_load(out_dir, &tok);
    if (!s) {
        cls = malloc(tr.n * sizeof *cls);
        vcls = malloc((va.n + 1) * sizeof *vcls);
        if (!cls || !vcls) s = mmf_fail(MMF_ERR_NOMEM, "out of memory");
    }
    if (!s) { mmf_records_class_ids(&tr, labels, n_labels, cls); s = encode_set(&tr, cls, tok, p.max_length, &dt); }
    if (!s && val_jsonl) {
        if (mmf_tower_val_ids(&va, val_jsonl, labels, n_labels, vcls) > 0) s = encode_set(&va, vcls, tok, p.max_length, &dv);
    }
    textnet_config cfg = {.vocab = (int)vsize, .hidden = p.dim, .layers = p.layers, .heads = p.heads, .ffn = 2 * p.dim,
                          .max_pos = p.max_length, .n_classes = n_labels, .eps = 1e-5f, .dropout = 0.1f};
    if (!s) s = textnet_init(&m, &cfg, p.seed);
    int bs = p.batch;
    int64_t steps = mmf_fit_steps_per_epoch(dt.n, bs, 1);
    if (!s) {
        mmf_optim_params op = mmf_tower_optim(&p, steps * p.epochs);
        s = mmf_optim_init(&opt, &m.ps, &op);
    }
    int64_t *ybuf = NULL;
    if (!s) {
        tp = mmf_tape_new(p.n_threads, p.seed);
        bids = malloc((size_t)bs * p.max_length * sizeof *bids);
        bkeep = malloc((size_t)bs * p.max_length);
        idx = malloc((size_t)bs * sizeof *idx);
        ybuf = malloc((size_t)bs * sizeof *ybuf);
        if (!tp || !bids || !bkeep || !idx || !ybuf) s = mmf_fail(MMF_ERR_NOMEM, "text tower: out of memory");
    }
    mmf_rng rng;
    mmf_rng_seed(&rng, p.seed ^ 0x7e47ULL);
    text_fit c = {.p = &p, .m = &m, .dt = &dt, .dv = &dv, .ids = bids, .keep = bkeep, .y = ybuf, .idx = idx, .tp = tp};
    mmf_fit f = {.what = "text tower", .n = dt.n, .batch = bs, .epochs = p.epochs, .fresh_order = 1, .rng = &rng, .tp = tp,
                 .sets = {&m.ps}, .opts = {&opt}, .n_sets = 1, .ops = {tf_gather, tf_forward, dv.n ? tf_eval : NULL, tf_progress},
                 .ctx = &c};
    if (!s) s = mmf_fit_run(&f);
    if (!s) s = textnet_save(&m, out_dir, labels);
    free(bids); free(bkeep); free(idx); free(ybuf); free(cls); free(vcls); free(labels);
    for (int64_t i = 0; i < n_words; i++) free(words[i].w);
    free(words);
    mmf_vocab_free(&chars);
    mmf_tokenizer_free(tok);
    mmf_tape_free(tp);
    mmf_optim_free(&opt);
    tset_free(&dt); tset_free(&dv);
    textnet_free(&m);
    mmf_records_free(&tr); mmf_records_free(&va);
    return s;
}
