/* Caption decoders end to end on a synthetic set where the caption is fixed by
 * the inputs: the image embedding carries colour and shape, the accompanying
 * text embedding carries the place: "a red circle in the park".
 * Stated targets (fixed seeds, held-out rows):
 *   - GRU and LSTM, both modalities, greedy: BLEU-4 >= 0.90, CIDEr-D >= 5
 *   - beam 3 with length penalty: BLEU-4 >= 0.90
 *   - text absent at test time: still captions, BLEU-4 lower than with text
 *     (the place word is a guess) but >= 0.55 (colour and shape still right)
 *   - inject init only (GRU, mlp fusion) and input only (LSTM): BLEU-4 >= 0.90
 * Also: the plain (BLAS) decoder equals the tape's teacher-forced loss; beam search
 * equals exhaustive search where the beam cannot prune; save/load round trip; bad
 * input (dimension mismatch, unknown prefix words, corrupt files). */
#include "test_util.h"
#include "tasks/caption_model.h"
#include "train/rng.h"
#include <unistd.h>

static const char *colours[] = {"red", "green", "blue", "yellow"};
static const char *shapes[] = {"circle", "square", "triangle"};
static const char *places[] = {"park", "city", "sea", "desert"};
enum { DI = 16, DT = 12 };

typedef struct set {
    int64_t n;
    float *img, *txt;
    uint8_t *mask;
    char **caps;
    size_t *off;
} set;

/* Fixed random projections of the one-hot attributes plus noise. */
static void make_set(set *s, int64_t n, uint64_t seed, const float *Ri, const float *Rt) {
    mmf_rng r;
    mmf_rng_seed(&r, seed);
    s->n = n;
    s->img = malloc((size_t)n * DI * sizeof(float));
    s->txt = malloc((size_t)n * DT * sizeof(float));
    s->mask = malloc((size_t)n * 2);
    s->caps = malloc((size_t)n * sizeof(char *));
    s->off = malloc((size_t)(n + 1) * sizeof(size_t));
    for (int64_t i = 0; i < n; i++) {
        int c = (int)mmf_rng_below(&r, 4), sh = (int)mmf_rng_below(&r, 3), p = (int)mmf_rng_below(&r, 4);
        for (int d = 0; d < DI; d++) s->img[i * DI + d] = Ri[d * 7 + c] + Ri[d * 7 + 4 + sh] + 0.2f * mmf_rng_normal(&r);
        for (int d = 0; d < DT; d++) s->txt[i * DT + d] = Rt[d * 4 + p] + 0.2f * mmf_rng_normal(&r);
        s->mask[i * 2] = s->mask[i * 2 + 1] = 1;
        char buf[128];
        snprintf(buf, sizeof buf, "A %s %s in the %s.", colours[c], shapes[sh], places[p]);
        s->caps[i] = strdup(buf);
        s->off[i] = (size_t)i;
    }
    s->off[n] = (size_t)n;
}

static void free_set(set *s) {
    for (int64_t i = 0; i < s->n; i++) free(s->caps[i]);
    free(s->img); free(s->txt); free(s->mask); free(s->caps); free(s->off);
}

static mmf_embfile *write_open2(const char *dir, const char *name, const set *s, const char *img_name, int64_t img_dim,
                                const char *txt_name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    const char *names[2] = {img_name, txt_name};
    int64_t dims[2] = {img_dim, DT};
    const float *data[2] = {s->img, s->txt};
    mmf_embfile_spec sp = {.n_rows = s->n, .n_modalities = 2, .names = names, .dims = dims, .data = data, .mask = s->mask};
    mmf_embfile *f = NULL;
    CHECK_OK(mmf_embfile_write(path, &sp));
    CHECK_OK(mmf_embfile_open(path, &f));
    return f;
}

static mmf_embfile *write_open(const char *dir, const char *name, const set *s, const char *img_name, int64_t img_dim) {
    return write_open2(dir, name, s, img_name, img_dim, "text");
}

static mmf_caption_scores score(char **hyps, const set *s) {
    mmf_caption_scores sc;
    memset(&sc, 0, sizeof sc);
    CHECK_OK(mmf_caption_score((const char *const *)hyps, (size_t)s->n, (const char *const *)s->caps, s->off, &sc));
    return sc;
}

static char **gen(mmf_captioner *c, const mmf_embfile *f, const mmf_caption_gen_params *g) {
    char **out = calloc((size_t)mmf_embfile_rows(f), sizeof(char *));
    CHECK_OK(mmf_captioner_generate_file(c, f, g, out));
    return out;
}

static void free_caps(char **c, int64_t n) {
    for (int64_t i = 0; i < n; i++) free(c[i]);
    free(c);
}

/* The plain decoder must give the same log-likelihood as the tape's loss. */
static void check_plain_vs_tape(mmf_captioner *c, const mmf_embfile *f, const set *s) {
    /* first 5 rows, one caption each: loss = -sum log p / words (incl. <eos>) */
    double total_lp = 0.0, words = 0.0;
    float *xi = s->img, *xt = s->txt;
    float *xs[2] = {xi, xt};
    float z[4096];
    mmf_tape *tp = mmf_tape_new(1, 1);
    CHECK(c->E <= 4096);
    CHECK_OK(cap_condition_values(c, tp, 5, xs, s->mask, z));
    for (int i = 0; i < 5; i++) {
        int32_t ids[32];
        int n;
        cap_encode(c->vocab, s->caps[i], ids, 32, &n, NULL);
        double lp;
        CHECK_OK(cap_sequence_logprob(c, z + (size_t)i * c->E, ids, n, &lp));
        total_lp += lp;
        words += n + 1;
    }
    mmf_tape_free(tp);
    /* the tape's loss over the same 5 rows: a 5-row file */
    set s5 = *s;
    s5.n = 5;
    char dir[256];
    t_tmpdir(dir, sizeof dir);
    mmf_embfile *f5 = write_open(dir, "five.safetensors", &s5, "image", DI);
    double loss = 0;
    CHECK_OK(mmf_captioner_loss(c, f5, (const char *const *)s->caps, s->off, 1, &loss));
    CHECK_NEAR(loss, -total_lp / words, 1e-5 * (1 + fabs(loss)));
    mmf_embfile_close(f5);
    (void)f;
}

static set g_train;

static void run_cell(mmf_rnn_cell cell, const char *fusion, const char *dir, mmf_embfile *ftr, mmf_embfile *fte,
                     const set *te) {
    mmf_caption_train_params p = mmf_caption_train_params_default();
    p.cell = cell;
    p.fusion = fusion;
    p.fusion_hidden = 32;
    p.hidden = 64;
    p.embed = 32;
    p.epochs = 25;
    p.batch = 32;
    p.lr = 5e-3f;
    p.dropout = 0.0f;
    p.modality_dropout[1] = 0.3f;   /* text sometimes hidden: teaches the absent path */
    p.seed = 7;
    mmf_captioner *c = NULL;
    CHECK_OK(mmf_captioner_train(ftr, (const char *const *)g_train.caps, g_train.off, NULL, NULL, NULL, &p, &c));
    if (!c) return;
    const char *cname = cell == MMF_CELL_LSTM ? "lstm" : "gru";
    mmf_caption_gen_params g = mmf_caption_gen_params_default();
    char **h = gen(c, fte, &g);
    mmf_caption_scores full = score(h, te);
    printf("%s/%s greedy: \"%s\" (ref \"%s\") BLEU-1..4 %.3f %.3f %.3f %.3f CIDEr-D %.3f\n", cname, fusion, h[0], te->caps[0],
           full.bleu[0], full.bleu[1], full.bleu[2], full.bleu[3], full.cider_d);
    CHECK_MSG(full.bleu[3] >= 0.90, "%s: BLEU-4 %.3f < 0.90", cname, full.bleu[3]);
    CHECK_MSG(full.cider_d >= 5.0, "%s: CIDEr-D %.3f < 5", cname, full.cider_d);
    free_caps(h, te->n);

    g.beam = 3;
    g.length_penalty = 0.6f;
    h = gen(c, fte, &g);
    mmf_caption_scores beam = score(h, te);
    printf("%s/%s beam 3: BLEU-4 %.3f CIDEr-D %.3f\n", cname, fusion, beam.bleu[3], beam.cider_d);
    CHECK_MSG(beam.bleu[3] >= 0.90, "%s beam: BLEU-4 %.3f", cname, beam.bleu[3]);
    free_caps(h, te->n);

    g.beam = 1;
    g.length_penalty = 0;
    g.drop = "text";
    h = gen(c, fte, &g);
    mmf_caption_scores notext = score(h, te);
    int nonempty = 0;
    for (int64_t i = 0; i < te->n; i++) nonempty += h[i][0] != 0;
    printf("%s/%s text absent: \"%s\" BLEU-4 %.3f CIDEr-D %.3f\n", cname, fusion, h[0], notext.bleu[3], notext.cider_d);
    CHECK(nonempty == te->n);
    CHECK_MSG(notext.bleu[3] < full.bleu[3] - 0.03, "%s: text absent BLEU-4 %.3f not below %.3f", cname, notext.bleu[3], full.bleu[3]);
    CHECK_MSG(notext.bleu[3] >= 0.55, "%s: text absent BLEU-4 %.3f < floor 0.55", cname, notext.bleu[3]);
    free_caps(h, te->n);
    g.drop = NULL;

    check_plain_vs_tape(c, fte, te);

    /* save, load: identical captions */
    char path[512];
    snprintf(path, sizeof path, "%s/%s.caption.safetensors", dir, cname);
    CHECK_OK(mmf_captioner_set_encoder(c, "text", "/models/minilm"));
    CHECK_OK(mmf_captioner_save(c, path));
    mmf_captioner *c2 = NULL;
    CHECK_OK(mmf_captioner_load(path, &c2));
    if (c2) {
        CHECK(!strcmp(mmf_captioner_encoder(c2, 1), "/models/minilm"));
        CHECK(mmf_caption_vocab_size(mmf_captioner_vocab(c2)) == mmf_caption_vocab_size(mmf_captioner_vocab(c)));
        g.beam = 2;
        char **a = gen(c, fte, &g), **b = gen(c2, fte, &g);
        int same = 1;
        for (int64_t i = 0; i < te->n; i++) same &= !strcmp(a[i], b[i]);
        CHECK(same);
        g.n_threads = 2;   /* rows spread over threads: the same captions */
        char **t2 = gen(c2, fte, &g);
        same = 1;
        for (int64_t i = 0; i < te->n; i++) same &= !strcmp(a[i], t2[i]);
        CHECK(same);
        free_caps(t2, te->n);
        g.n_threads = 1;
        free_caps(a, te->n);
        free_caps(b, te->n);
        g.beam = 1;

        /* direct generation from arrays, prefix with an unknown word: a clear error naming it */
        const float *xs[2] = {te->img, NULL};   /* text absent */
        char *one[1] = {0};
        g.prefix = "a zebra";
        CHECK(mmf_captioner_generate(c2, 1, xs, NULL, &g, one) == MMF_ERR_ARG);
        CHECK_MSG(strstr(mmf_last_error(), "\"zebra\"") && strstr(mmf_last_error(), "vocabulary"), "error: \"%s\"", mmf_last_error());
        CHECK(one[0] == NULL);
        g.prefix = "a";
        CHECK_OK(mmf_captioner_generate(c2, 1, xs, NULL, &g, one));
        CHECK_MSG(one[0] && !strncmp(one[0], "a", 1), "prefix caption \"%s\"", one[0] ? one[0] : "(null)");
        free(one[0]);
        g.prefix = NULL;
        mmf_captioner_free(c2);
    }

    /* bad input: a file whose image has another dimension */
    set bad = *te;
    bad.n = 4;
    float *wide = calloc((size_t)4 * (DI + 3), sizeof(float));
    bad.img = wide;
    mmf_embfile *fb = write_open(dir, "wide.safetensors", &bad, "image", DI + 3);
    char *caps4[4];
    mmf_status s = mmf_captioner_generate_file(c, fb, &g, caps4);
    CHECK(s == MMF_ERR_SHAPE);
    CHECK_MSG(strstr(mmf_last_error(), "image") && strstr(mmf_last_error(), "19") && strstr(mmf_last_error(), "16"),
              "message: %s", mmf_last_error());
    mmf_embfile_close(fb);
    /* a file with none of the modalities */
    fb = write_open2(dir, "other.safetensors", &bad, "audio", DI + 3, "speech");
    CHECK(mmf_captioner_generate_file(c, fb, &g, caps4) == MMF_ERR_SHAPE);
    mmf_embfile_close(fb);
    free(wide);
    g.beam = 99;
    char **many = calloc((size_t)te->n, sizeof(char *));
    CHECK(mmf_captioner_generate_file(c, fte, &g, many) == MMF_ERR_ARG);
    free(many);
    mmf_captioner_free(c);
}


/* Beam search against exhaustive search: with 3 words and max_len 3 there are
 * 1 + 3 + 9 = 13 finished captions (0..2 words + <eos>); a beam of 32 never prunes
 * (at most 9 alive, 36 candidates <= 2K), so it must return the caption with the
 * best length-normalised log-probability, computed here by the plain decoder for
 * every caption. */
static void test_beam_exhaustive(const char *dir) {
    enum { N = 200 };
    set s;
    memset(&s, 0, sizeof s);
    s.n = N;
    s.img = calloc(N * DI, sizeof(float));
    s.txt = calloc(N * DT, sizeof(float));
    s.mask = malloc(N * 2);
    s.caps = malloc(N * sizeof(char *));
    s.off = malloc((N + 1) * sizeof(size_t));
    mmf_rng r;
    mmf_rng_seed(&r, 5);
    const char *w[3] = {"x", "y", "z"};
    for (int i = 0; i < N; i++) {
        for (int d = 0; d < DI; d++) s.img[i * DI + d] = mmf_rng_normal(&r);
        for (int d = 0; d < DT; d++) s.txt[i * DT + d] = mmf_rng_normal(&r);
        s.mask[2 * i] = s.mask[2 * i + 1] = 1;
        char buf[32];
        /* length 1 or 2 and the words follow the inputs, with some noise, so that the
         * optimum varies in length and words across rows */
        int n = 1 + (s.img[i * DI + 2] > 0), w1 = (s.img[i * DI] > 0) + (s.img[i * DI + 1] > 0), w2 = s.txt[i * DT] > 0 ? 2 : 0;
        if (mmf_rng_uniform(&r) < 0.2f) w1 = (int)mmf_rng_below(&r, 3);
        snprintf(buf, sizeof buf, n == 1 ? "%s" : "%s %s", w[w1], w[w2]);
        s.caps[i] = strdup(buf);
        s.off[i] = (size_t)i;
    }
    s.off[N] = N;
    mmf_embfile *f = write_open(dir, "beam.safetensors", &s, "image", DI);
    mmf_caption_train_params p = mmf_caption_train_params_default();
    p.hidden = 16; p.embed = 8; p.fusion_hidden = 8; p.epochs = 30; p.lr = 1e-2f; p.batch = 32; p.max_len = 3; p.cell = MMF_CELL_LSTM;
    p.inject = MMF_INJECT_INIT;
    mmf_captioner *c = NULL;
    CHECK_OK(mmf_captioner_train(f, (const char *const *)s.caps, s.off, NULL, NULL, NULL, &p, &c));
    if (!c) return;
    CHECK(c->vocab->n == 6);
    float *xs[2] = {s.img, s.txt};
    enum { ROWS = 64 };   /* enough rows that some optima repeat a word */
    float z[ROWS * 64];
    mmf_tape *tp = mmf_tape_new(1, 1);
    CHECK(c->E <= 64);
    CHECK_OK(cap_condition_values(c, tp, ROWS, xs, s.mask, z));
    mmf_tape_free(tp);
    /* length penalty alpha, and a repetition penalty: "x x" and "z z" are among
     * the captions, so repeats are optima the penalty must move away from */
    float alphas[3] = {0.0f, 1.0f, 0.0f}, reps[3] = {0.0f, 0.0f, 3.0f};
    int agree = 0, total = 0, lengths[3] = {0, 0, 0}, repeats[3] = {0, 0, 0};
    for (int a = 0; a < 3; a++)
        for (int i = 0; i < ROWS; i++) {
            /* exhaustive: ids 3..5, lengths 0..2 */
            double best = -INFINITY;
            int32_t best_ids[2];
            int best_n = -1;
            for (int n = 0; n <= 2; n++)
                for (int code = 0; code < (n == 0 ? 1 : n == 1 ? 3 : 9); code++) {
                    int32_t ids[2] = {3 + code % 3, 3 + code / 3};
                    double lp;
                    CHECK_OK(cap_sequence_logprob(c, z + i * c->E, ids, n, &lp));
                    if (n == 2 && ids[0] == ids[1]) lp -= reps[a];   /* one earlier occurrence */
                    double sc = lp / pow((5.0 + n + 1) / 6.0, alphas[a]);
                    if (sc > best) { best = sc; best_n = n; memcpy(best_ids, ids, sizeof ids); }
                }
            mmf_caption_gen_params g = mmf_caption_gen_params_default();
            g.beam = 32;
            g.length_penalty = alphas[a];
            g.repetition_penalty = reps[a];
            int32_t out[8];
            int n_out = -1;
            CHECK_OK(cap_beam_search(c, z + i * c->E, NULL, 0, &g, out, &n_out));
            total++;
            lengths[best_n]++;
            repeats[a] += best_n == 2 && best_ids[0] == best_ids[1];
            if (getenv("CAP_DEBUG")) fprintf(stderr, "alpha %g row %d: best n %d, beam n %d\n", alphas[a], i, best_n, n_out);
            agree += n_out == best_n && (n_out < 1 || out[0] == best_ids[0]) && (n_out < 2 || out[1] == best_ids[1]);
        }
    CHECK_MSG(agree == total, "beam 32 matched the exhaustive optimum in %d of %d cases", agree, total);
    CHECK_MSG(lengths[1] > 0 && lengths[2] > 0, "the optima should vary in length (%d, %d, %d)", lengths[0], lengths[1], lengths[2]);
    CHECK_MSG(repeats[0] > 0 && repeats[2] < repeats[0], "repeated-word optima: %d without the penalty, %d with it "
              "(the case needs some, and the penalty must remove some)", repeats[0], repeats[2]);
    mmf_caption_gen_params bad = mmf_caption_gen_params_default();
    bad.repetition_penalty = -1.0f;
    char *cap1[1] = {NULL};
    CHECK(mmf_captioner_generate(c, 1, (const float *const *)xs, s.mask, &bad, cap1) == MMF_ERR_ARG);
    CHECK_MSG(strstr(mmf_last_error(), "repetition penalty") != NULL, "%s", mmf_last_error());
    free(cap1[0]);
    mmf_captioner_free(c);
    mmf_embfile_close(f);
    free_set(&s);
}

/* The other conditioning variants: z only as the initial state, or only as a
 * per-step input (LSTM c0 then starts at 0). Same data and target. */
static void test_inject_variants(mmf_embfile *ftr, mmf_embfile *fte, const set *te) {
    struct { mmf_rnn_cell cell; int inject; const char *fusion; } v[2] = {
        {MMF_CELL_GRU, MMF_INJECT_INIT, "mlp"}, {MMF_CELL_LSTM, MMF_INJECT_INPUT, "concat"}};
    for (int k = 0; k < 2; k++) {
        mmf_caption_train_params p = mmf_caption_train_params_default();
        p.cell = v[k].cell; p.inject = v[k].inject; p.fusion = v[k].fusion;
        p.fusion_hidden = 32; p.hidden = 64; p.embed = 32; p.epochs = 25; p.batch = 32; p.lr = 5e-3f; p.dropout = 0.0f;
        p.seed = 11;
        mmf_captioner *c = NULL;
        CHECK_OK(mmf_captioner_train(ftr, (const char *const *)g_train.caps, g_train.off, NULL, NULL, NULL, &p, &c));
        if (!c) continue;
        mmf_caption_gen_params g = mmf_caption_gen_params_default();
        char **h = gen(c, fte, &g);
        mmf_caption_scores sc = score(h, te);
        printf("%s inject %s (%s): BLEU-4 %.3f\n", k ? "lstm" : "gru", k ? "input" : "init", v[k].fusion, sc.bleu[3]);
        CHECK_MSG(sc.bleu[3] >= 0.90, "variant %d: BLEU-4 %.3f", k, sc.bleu[3]);
        free_caps(h, te->n);
        mmf_captioner_free(c);
    }
}

/* Copy a captioner file with one change: a text substitution in the config, a
 * tensor dropped, a NaN written into a tensor, or an extra tensor. */
static void rewrite(const char *in, const char *out, const char *from, const char *to, const char *drop,
                    const char *nan_in, int extra) {
    mmf_safetensors *st;
    CHECK_OK(mmf_st_open(in, &st));
    mmf_st_writer *w = mmf_st_writer_new();
    for (size_t i = 0; i < mmf_st_metadata_count(st); i++) {
        const char *k, *v;
        mmf_st_metadata_at(st, i, &k, &v);
        char *nv = strdup(v);
        char *at = from ? strstr(nv, from) : NULL;
        if (at) {
            size_t n = strlen(nv) - strlen(from) + strlen(to) + 1;
            char *r = malloc(n);
            snprintf(r, n, "%.*s%s%s", (int)(at - nv), nv, to, at + strlen(from));
            free(nv);
            nv = r;
        }
        CHECK_OK(mmf_st_writer_meta(w, k, nv));
        free(nv);
    }
    for (size_t i = 0; i < mmf_st_count(st); i++) {
        const mmf_tensor_info *t = mmf_st_at(st, i);
        if (drop && !strcmp(t->name, drop)) continue;
        float *d = malloc(t->nbytes);
        memcpy(d, t->data, t->nbytes);
        if (nan_in && !strcmp(t->name, nan_in)) d[0] = NAN;
        CHECK_OK(mmf_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, d));
        free(d);
    }
    if (extra) CHECK_OK(mmf_st_writer_add(w, "junk", MMF_DT_F32, 1, (int64_t[]){1}, (float[]){1.0f}));
    CHECK_OK(mmf_st_writer_finish(w, out));
    mmf_st_writer_free(w);
    mmf_st_close(st);
}

static void test_bad_files(const char *dir) {
    char good[512], bad[512];
    snprintf(good, sizeof good, "%s/gru.caption.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/bad.caption.safetensors", dir);
    struct { const char *from, *to, *drop, *nan; int extra; const char *want; } cases[] = {
        {"\"cell\":\"gru\"", "\"cell\":\"rnn\"", NULL, NULL, 0, "\"cell\""},
        {"\"<eos>\",", "\"<eos>\",\"<eos>\",", NULL, NULL, 0, "vocabulary entry 3"},
        {"\"hidden\":64", "\"hidden\":65", NULL, NULL, 0, "has another shape"},
        {"\"op\":\"concat\"", "\"op\":\"nope\"", NULL, NULL, 0, "nope"},
        {"\"format\":\"mmfuse.caption/1\"", "\"format\":\"mmfuse.caption/9\"", NULL, NULL, 0, "format"},
        {"\"dim\":16", "\"dim\":17", NULL, NULL, 0, "shape"},
        {NULL, NULL, "dec.out.b", NULL, 0, "is missing"},
        {NULL, NULL, NULL, "dec.rnn.whh", 0, "NaN"},
        {NULL, NULL, NULL, NULL, 1, "tensors, the config declares"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        rewrite(good, bad, cases[i].from, cases[i].to, cases[i].drop, cases[i].nan, cases[i].extra);
        mmf_captioner *c = NULL;
        mmf_status s = mmf_captioner_load(bad, &c);
        CHECK_MSG(s != MMF_OK && !c && strstr(mmf_last_error(), "bad.caption.safetensors") && strstr(mmf_last_error(), cases[i].want),
                  "case %zu: status %d, message: %s", i, (int)s, mmf_last_error());
        mmf_captioner_free(c);
    }
}

int main(void) {
    char dir[256];
    t_tmpdir(dir, sizeof dir);
    mmf_rng r;
    mmf_rng_seed(&r, 99);
    float Ri[DI * 7], Rt[DT * 4];
    for (int i = 0; i < DI * 7; i++) Ri[i] = mmf_rng_normal(&r);
    for (int i = 0; i < DT * 4; i++) Rt[i] = mmf_rng_normal(&r);
    set te;
    make_set(&g_train, 600, 1, Ri, Rt);
    make_set(&te, 200, 2, Ri, Rt);
    mmf_embfile *ftr = write_open(dir, "train.safetensors", &g_train, "image", DI);
    mmf_embfile *fte = write_open(dir, "test.safetensors", &te, "image", DI);
    if (!ftr || !fte) return 1;
    run_cell(MMF_CELL_GRU, "concat", dir, ftr, fte, &te);
    run_cell(MMF_CELL_LSTM, "gmu", dir, ftr, fte, &te);
    test_inject_variants(ftr, fte, &te);
    test_beam_exhaustive(dir);

    test_bad_files(dir);
    /* corrupt and truncated captioner files */
    char path[512], bad[512];
    snprintf(path, sizeof path, "%s/gru.caption.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/trunc.safetensors", dir);
    FILE *fi = fopen(path, "rb");
    static char buf[1 << 20];
    size_t n = fi ? fread(buf, 1, sizeof buf, fi) : 0;
    if (fi) fclose(fi);
    FILE *fo = fopen(bad, "wb");
    fwrite(buf, 1, n / 2, fo);
    fclose(fo);
    mmf_captioner *c = NULL;
    CHECK(mmf_captioner_load(bad, &c) != MMF_OK && c == NULL);
    CHECK_MSG(strstr(mmf_last_error(), "trunc.safetensors"), "message: %s", mmf_last_error());
    /* a fusion head (or any safetensors) is not a captioner */
    CHECK(mmf_captioner_load(bad, &c) != MMF_OK);
    snprintf(bad, sizeof bad, "%s/test.safetensors", dir);
    CHECK(mmf_captioner_load(bad, &c) == MMF_ERR_FORMAT);
    CHECK_MSG(strstr(mmf_last_error(), "not a captioner"), "message: %s", mmf_last_error());

    mmf_embfile_close(ftr);
    mmf_embfile_close(fte);
    free_set(&g_train);
    free_set(&te);
    printf("%d checks, %d failures\n", t_checks, t_failures);
    return t_failures ? 1 : 0;
}
