/* mmfuse caption: train a caption decoder on an embedding file, caption one
 * image (+ text) through the encoders, or caption and score a whole file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "cli_train_opts.h"
#include "cli_encoders.h"
#include "cli_lines.h"
#include "cli_texts.h"

static const char help[] =
    "Usage: mmfuse caption train --train EMB.safetensors --captions CAPS.jsonl --out CAP.safetensors [options]\n"
    "       mmfuse caption run CAP.safetensors [--image PATH] [--text STR] [options]\n"
    "       mmfuse caption eval CAP.safetensors --data EMB.safetensors [--captions CAPS.jsonl] [options]\n\n"
    "A GRU or LSTM decoder conditioned on the fused embedding of a sample: its\n"
    "modality embeddings (e.g. an image and its accompanying text) go through a\n"
    "fusion operator from `mmfuse fusions`; either modality may be absent. The\n"
    "vocabulary comes from the training captions. See docs/caption.md.\n\n"
    "Captions: JSONL records joined to the embedding file's rows by id, as `mmfuse\n"
    "embed --records` assigns ids (the same records file works): one caption per\n"
    "record in --caption-field; several records with one id are several references.\n\n"
    "train options:\n"
    "  --train F            embedding file (required)\n"
    "  --captions F         JSONL with the captions (required)\n"
    "  --val F --val-captions F   validation data: keeps the epoch with the lowest loss\n"
    "  --caption-field K    record field holding the caption (default caption)\n"
    "  --id-field K         record field of the id (default: line number = row number)\n"
    "  --out F              the captioner (.safetensors, atomic) (required)\n"
    "  --cell C             gru | lstm (default gru)\n"
    "  --inject I           init | input | both: z sets the initial state, is fed at\n"
    "                       every step, or both (default both)\n"
    "  --fusion OP          fusion operator (default concat; ignored with one modality)\n"
    "  --fusion-hidden H    operator size (default 128)\n"
    "  --hidden H           decoder state size (default 256)\n"
    "  --embed E            word embedding size (default 128)\n"
    "  --min-count N        words seen fewer times become <unk> (default 1)\n"
    "  --max-words N        vocabulary cap, 0 = none (default 0)\n"
    "  --max-len N          words per caption (training cut and generation limit; default 20)\n"
    "  --epochs N           (default 20)   --batch N (default 64)   --lr X (default 0.002)\n"
    "  --dropout P          on z, word embeddings, states (default 0.1)\n"
    "  --modality-dropout P or NAME=P,NAME=P   hide modalities at random while training\n"
    "                       (teaches captioning with partial data; default 0)\n"
    "  --patience N         early stopping with --val (default 5)\n"
    "  --encoder NAME=DIR   record the encoder folder of a modality (used by `run`); repeatable.\n"
    "                       Default: the folder the training file names (`mmfuse embed\n"
    "                       --records` writes it), so `run` needs no flags\n"
    CLI_TRAIN_CHECKPOINT_HELP
    "  --seed S (default 1)   --threads N (default: the cores this process may use, or MMFUSE_THREADS)\n\n"
    "run options (one sample through the recorded encoders):\n"
    "  --image PATH         image file for the image modality\n"
    "  --text STR           accompanying text for the text modality\n"
    "  --encoder NAME=DIR   override a recorded encoder folder\n"
    "  --precision P        of the encoders: fp32 | bf16 | int8 | auto (default auto; see mmfuse embed --help)\n\n"
    "eval options (every row of an embedding file):\n"
    "  --data F             embedding file (required)\n"
    "  --captions F         references: prints BLEU-1..4, CIDEr-D and CIDEr over the rows that have some\n"
    "  --caption-field K, --id-field K   as for train\n"
    "  --drop NAME          caption with this modality absent in every row\n"
    "  --out F              write the captions as JSONL {\"row\", \"id\", \"caption\"}\n\n"
    "run and eval options:\n"
    "  --beam K             beam width (default 1 = greedy)\n"
    "  --length-penalty A   GNMT alpha: score / ((5 + len) / 6)^A (default 0)\n"
    "  --repetition-penalty R  each earlier occurrence of a word lowers its log-probability\n"
    "                       by R (default 0; 1-2 stops \"heart heart heart\")\n"
    "  --max-len N          at most N words (default: the captioner's)\n"
    "  --prefix STR         every caption starts with these words (each must be in the vocabulary)\n"
    "  --threads N          (default: the cores this process may use, or MMFUSE_THREADS)\n\n"
    "Examples:\n"
    "  mmfuse embed --records data/emoji/train.jsonl --text-field tags --image-model models/resnet \\\n"
    "               --text-model models/minilm --out train.safetensors\n"
    "  mmfuse caption train --train train.safetensors --captions data/emoji/train.jsonl --caption-field text \\\n"
    "               --fusion gmu --modality-dropout text=0.3 --out emoji.caption.safetensors\n"
    "  mmfuse caption run emoji.caption.safetensors --image cat.png --text \"cat pet whiskers\" --beam 3\n"
    "  mmfuse caption eval emoji.caption.safetensors --data test.safetensors \\\n"
    "               --captions data/emoji/test.jsonl --caption-field text --drop text\n";

#define NAME "caption"

static void progress(void *u, int ep, int eps, double tl, double vl) {
    (void)u;
    if (isnan(vl)) fprintf(stderr, "epoch %d/%d  train loss %.4f\n", ep, eps, tl);
    else fprintf(stderr, "epoch %d/%d  train loss %.4f  val loss %.4f\n", ep, eps, tl, vl);
}

static int gen_opt(int argc, char **argv, int *i, mmf_caption_gen_params *g, int *bad, int *matched) {
    const char *v;
    long iv;
    double dv;
    *matched = 1;
    if (cli_opt(argc, argv, i, "--beam", &v, bad)) {
        if (*bad || !cli_int("--beam", v, 1, 32, &iv)) return MMF_EXIT_USAGE;
        g->beam = (int)iv;
    } else if (cli_opt(argc, argv, i, "--length-penalty", &v, bad)) {
        if (*bad || !cli_float("--length-penalty", v, &dv)) return MMF_EXIT_USAGE;
        g->length_penalty = (float)dv;
    } else if (cli_opt(argc, argv, i, "--repetition-penalty", &v, bad)) {
        if (*bad || !cli_float("--repetition-penalty", v, &dv)) return MMF_EXIT_USAGE;
        if (!(dv >= 0.0)) { fprintf(stderr, "mmfuse caption: --repetition-penalty %s: expected a number >= 0\n", v); return MMF_EXIT_USAGE; }
        g->repetition_penalty = (float)dv;
    } else if (cli_opt(argc, argv, i, "--max-len", &v, bad)) {
        if (*bad || !cli_int("--max-len", v, 1, 256, &iv)) return MMF_EXIT_USAGE;
        g->max_len = (int)iv;
    } else if (cli_opt(argc, argv, i, "--prefix", &v, bad)) g->prefix = v;
    else if (cli_opt(argc, argv, i, "--threads", &v, bad)) {
        if (*bad || !cli_int("--threads", v, 1, 1024, &iv)) return MMF_EXIT_USAGE;
        g->n_threads = (int)iv;
    } else *matched = 0;
    return *bad ? MMF_EXIT_USAGE : 0;
}

/* ---------------------------------------------------------------- train */

/* cli_encoders_record takes any model: this adapts the captioner's setter */
static mmf_status set_encoder(void *c, const char *name, const char *dir) { return mmf_captioner_set_encoder(c, name, dir); }

static int do_train(int argc, char **argv) {
    const char *train = NULL, *caps = NULL, *val = NULL, *vcaps = NULL, *field = "caption", *idf = NULL, *out = NULL, *v;
    cli_encoders enc = {0};
    int bad = 0;
    cli_train_opts to = cli_train_opts_make(NAME, CLI_TRAIN_DROPOUT);
    mmf_caption_train_params p = mmf_caption_train_params_default();
    p.n_threads = cli_default_threads();
    const cli_num nums[] = {
        {"--fusion-hidden", &p.fusion_hidden, NULL, 1, 65536},
        {"--hidden", &p.hidden, NULL, 1, 8192},
        {"--embed", &p.embed, NULL, 1, 8192},
        {"--min-count", &p.min_count, NULL, 1, 1000000000},
        {"--max-words", &p.max_words, NULL, 0, 10000000},
        {"--max-len", &p.max_len, NULL, 1, 256},
        {"--epochs", &p.epochs, NULL, 1, 100000},
        {"--batch", &p.batch, NULL, 1, 1000000},
        {"--patience", &p.patience, NULL, 0, 100000},
        {"--threads", &p.n_threads, NULL, 1, 1024},
        {"--lr", NULL, &p.lr, 0, 0},
        {"--dropout", NULL, &p.dropout, 0, 0},
    };
    for (int i = 2; i < argc; i++) {
        if (cli_opt(argc, argv, &i, "--train", &v, &bad)) train = v;
        else if (cli_opt(argc, argv, &i, "--captions", &v, &bad)) caps = v;
        else if (cli_opt(argc, argv, &i, "--val", &v, &bad)) val = v;
        else if (cli_opt(argc, argv, &i, "--val-captions", &v, &bad)) vcaps = v;
        else if (cli_opt(argc, argv, &i, "--caption-field", &v, &bad)) field = v;
        else if (cli_opt(argc, argv, &i, "--id-field", &v, &bad)) idf = v;
        else if (cli_opt(argc, argv, &i, "--out", &v, &bad)) out = v;
        else if (cli_opt(argc, argv, &i, "--fusion", &v, &bad)) p.fusion = v;
        else if (cli_train_opt(argc, argv, &i, &to, &bad)) { /* seed, modality dropout */ }
        else if (cli_opt(argc, argv, &i, "--encoder", &v, &bad)) {
            int r = cli_encoders_add(NAME, &enc, bad ? NULL : v);
            if (r) return r;
        } else if (cli_opt(argc, argv, &i, "--cell", &v, &bad)) {
            if (!bad && !strcmp(v, "gru")) p.cell = MMF_CELL_GRU;
            else if (!bad && !strcmp(v, "lstm")) p.cell = MMF_CELL_LSTM;
            else if (!bad) return cli_usage(NAME, "--cell expects gru or lstm, got \"%s\"", v);
        } else if (cli_opt(argc, argv, &i, "--inject", &v, &bad)) {
            if (!bad && !strcmp(v, "init")) p.inject = MMF_INJECT_INIT;
            else if (!bad && !strcmp(v, "input")) p.inject = MMF_INJECT_INPUT;
            else if (!bad && !strcmp(v, "both")) p.inject = MMF_INJECT_INIT | MMF_INJECT_INPUT;
            else if (!bad) return cli_usage(NAME, "--inject expects init, input or both, got \"%s\"", v);
        } else if (cli_num_opt(argc, argv, &i, nums, (int)(sizeof nums / sizeof nums[0]), &bad)) {
            /* parsed into p */
        } else if (argv[i][0] == '-') return cli_usage(NAME, "unknown option %s for caption train", argv[i]);
        else return cli_usage(NAME, "unexpected argument %s", argv[i]);
        if (bad) return MMF_EXIT_USAGE;
    }
    if (!train || !caps || !out) return cli_usage(NAME, "caption train needs --train, --captions and --out");
    if (!!val != !!vcaps) return cli_usage(NAME, "--val and --val-captions go together");
    if (cli_train_checkpoint(&to, argc, argv, (const char *const[]){"--train", "--captions", "--val", "--val-captions", NULL}, &p.checkpoint))
        return MMF_EXIT_USAGE;
    int rc = MMF_EXIT_FAIL;
    mmf_embfile *ft = NULL, *fv = NULL;
    cli_texts tt = {0}, tv = {0};
    mmf_captioner *c = NULL;
    mmf_status s = mmf_embfile_open(train, &ft);
    if (s) return cli_fail(NAME, s, "cannot read the training file");
    p.seed = to.seed;
    if ((rc = cli_train_dropout(&to, ft, p.modality_dropout))) goto done;
    rc = MMF_EXIT_FAIL;
    if (val && (s = mmf_embfile_open(val, &fv))) { cli_fail(NAME, s, "cannot read the validation file"); goto done; }
    if (cli_texts_load(NAME, ft, caps, field, idf, &tt)) goto done;
    if (fv && cli_texts_load(NAME, fv, vcaps, field, idf, &tv)) goto done;
    p.progress = progress;
    s = mmf_captioner_train(ft, tt.texts, tt.off, fv, fv ? tv.texts : NULL, fv ? tv.off : NULL, &p, &c);
    if (s) { cli_fail(NAME, s, "training failed"); goto done; }
    int r = cli_encoders_record(NAME, &enc, set_encoder, c);
    if (!r) r = cli_encoders_record_from(NAME, &enc, ft, set_encoder, c);
    if (r) { rc = r; goto done; }
    if ((s = mmf_captioner_save(c, out))) { cli_fail(NAME, s, "cannot write the captioner"); goto done; }
    char buf[512];
    printf("%s\n", mmf_captioner_describe(c, buf, sizeof buf));
    rc = MMF_EXIT_OK;
done:
    mmf_captioner_free(c);
    cli_texts_free(&tt);
    cli_texts_free(&tv);
    mmf_embfile_close(ft);
    mmf_embfile_close(fv);
    return rc;
}

/* ---------------------------------------------------------------- run */

static int do_run(int argc, char **argv) {
    const char *path = NULL, *image = NULL, *text = NULL, *v;
    cli_encoders enc = {0};
    int bad = 0, matched;
    mmf_caption_gen_params g = mmf_caption_gen_params_default();
    mmf_precision prec = mmf_default_precision();
    g.n_threads = cli_default_threads();
    for (int i = 2; i < argc; i++) {
        int r = gen_opt(argc, argv, &i, &g, &bad, &matched);
        if (r) return r;
        if (matched) continue;
        if (cli_opt(argc, argv, &i, "--image", &v, &bad)) image = v;
        else if (cli_opt(argc, argv, &i, "--text", &v, &bad)) text = v;
        else if (cli_opt(argc, argv, &i, "--precision", &v, &bad)) {
            if (bad || !cli_precision(NAME, v, &prec)) return MMF_EXIT_USAGE;
        }
        else if (cli_opt(argc, argv, &i, "--encoder", &v, &bad)) {
            if ((r = cli_encoders_add(NAME, &enc, bad ? NULL : v))) return r;
        } else if (argv[i][0] == '-') return cli_usage(NAME, "unknown option %s for caption run", argv[i]);
        else if (!path) path = argv[i];
        else return cli_usage(NAME, "one captioner at a time (got %s and %s)", path, argv[i]);
        if (bad) return MMF_EXIT_USAGE;
    }
    if (!path) return cli_usage(NAME, "caption run needs the captioner file");
    if (!image && !text) return cli_usage(NAME, "caption run needs --image PATH and/or --text STR");
    mmf_captioner *c;
    mmf_status s = mmf_captioner_load(path, &c);
    if (s) return cli_fail(NAME, s, "cannot load the captioner");
    int M = mmf_captioner_n_modalities(c), rc = MMF_EXIT_FAIL, used_image = 0, used_text = 0;
    float *xs[8] = {0};
    char *cap = NULL;
    const cli_sample in = {image, text, "text", "captioner", g.n_threads, prec};
    for (int m = 0; m < M; m++) {
        const char *name = mmf_captioner_modality(c, m);
        const char *dir = cli_encoders_dir(&enc, name, mmf_captioner_encoder(c, m));
        if (!dir || !dir[0]) continue;
        int is_text;
        if (cli_sample_embed(NAME, &in, name, strstr(name, "text") != NULL, mmf_captioner_dim(c, m), dir, &xs[m], &is_text)) goto done;
        if (xs[m] && is_text) used_text = 1;
        else if (xs[m]) used_image = 1;
    }
    if (image && !used_image) fprintf(stderr, "mmfuse caption: notice: no image encoder recorded in %s (give --encoder NAME=DIR): --image ignored\n", path);
    if (text && !used_text) fprintf(stderr, "mmfuse caption: notice: no text encoder recorded in %s (give --encoder NAME=DIR): --text ignored\n", path);
    if (!used_image && !used_text) { fprintf(stderr, "mmfuse caption: error: no input could be embedded\n"); goto done; }
    if ((s = mmf_captioner_generate(c, 1, (const float *const *)xs, NULL, &g, &cap))) { cli_fail(NAME, s, "captioning failed"); goto done; }
    printf("%s\n", cap);
    rc = MMF_EXIT_OK;
done:
    free(cap);
    for (int m = 0; m < 8; m++) free(xs[m]);
    mmf_captioner_free(c);
    return rc;
}

/* ---------------------------------------------------------------- eval */

typedef struct sbuf { char *p; size_t n, cap; } sbuf;
static int sb_add(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t nc = (b->cap + n) * 2 + 4096;
        char *np = realloc(b->p, nc);
        if (!np) return 0;
        b->p = np; b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 1;
}

static int json_str(sbuf *b, const char *s) {
    int ok = sb_add(b, "\"", 1);
    for (; *s && ok; s++) {
        char esc[8];
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { esc[0] = '\\'; esc[1] = (char)c; ok = sb_add(b, esc, 2); }
        else if (c < 0x20) { snprintf(esc, sizeof esc, "\\u%04x", c); ok = sb_add(b, esc, 6); }
        else ok = sb_add(b, (const char *)&c, 1);
    }
    return ok && sb_add(b, "\"", 1);
}

static int do_eval(int argc, char **argv) {
    const char *path = NULL, *data = NULL, *caps = NULL, *field = "caption", *idf = NULL, *out = NULL, *v;
    int bad = 0, matched;
    mmf_caption_gen_params g = mmf_caption_gen_params_default();
    g.n_threads = cli_default_threads();
    for (int i = 2; i < argc; i++) {
        int r = gen_opt(argc, argv, &i, &g, &bad, &matched);
        if (r) return r;
        if (matched) continue;
        if (cli_opt(argc, argv, &i, "--data", &v, &bad)) data = v;
        else if (cli_opt(argc, argv, &i, "--captions", &v, &bad)) caps = v;
        else if (cli_opt(argc, argv, &i, "--caption-field", &v, &bad)) field = v;
        else if (cli_opt(argc, argv, &i, "--id-field", &v, &bad)) idf = v;
        else if (cli_opt(argc, argv, &i, "--drop", &v, &bad)) g.drop = v;
        else if (cli_opt(argc, argv, &i, "--out", &v, &bad)) out = v;
        else if (argv[i][0] == '-') return cli_usage(NAME, "unknown option %s for caption eval", argv[i]);
        else if (!path) path = argv[i];
        else return cli_usage(NAME, "one captioner at a time (got %s and %s)", path, argv[i]);
        if (bad) return MMF_EXIT_USAGE;
    }
    if (!path || !data) return cli_usage(NAME, "caption eval needs the captioner file and --data");
    mmf_captioner *c = NULL;
    mmf_embfile *f = NULL;
    cli_texts tt = {0};
    char **hyp = NULL;
    int rc = MMF_EXIT_FAIL;
    mmf_status s = mmf_captioner_load(path, &c);
    if (s) return cli_fail(NAME, s, "cannot load the captioner");
    if ((s = mmf_embfile_open(data, &f))) { cli_fail(NAME, s, "cannot read the data"); goto done; }
    int64_t N = mmf_embfile_rows(f);
    if (caps && cli_texts_load(NAME, f, caps, field, idf, &tt)) goto done;
    if (!(hyp = calloc((size_t)(N ? N : 1), sizeof *hyp))) goto done;
    if ((s = mmf_captioner_generate_file(c, f, &g, hyp))) { cli_fail(NAME, s, "captioning failed"); goto done; }
    if (out) {
        sbuf b = {0};
        const int64_t *ids = mmf_embfile_ids(f);
        int ok = 1;
        for (int64_t i = 0; i < N && ok; i++) {
            char head[96];
            int n = snprintf(head, sizeof head, "{\"row\": %lld, \"id\": %lld, \"caption\": ", (long long)i, ids ? (long long)ids[i] : (long long)i);
            ok = sb_add(&b, head, (size_t)n) && json_str(&b, hyp[i]) && sb_add(&b, "}\n", 2);
        }
        if (!ok) { fprintf(stderr, "mmfuse caption: out of memory\n"); free(b.p); goto done; }
        s = mmf_write_file_atomic(out, b.p ? b.p : "", b.n);
        free(b.p);
        if (s) { cli_fail(NAME, s, "cannot write the captions"); goto done; }
    }
    if (caps) {
        /* score the rows that have references */
        const char **h = malloc((size_t)(N ? N : 1) * sizeof *h);
        size_t *off = malloc((size_t)(N + 1) * sizeof *off), k = 0;
        const char **refs = malloc((tt.off[N] ? tt.off[N] : 1) * sizeof *refs);
        if (!h || !off || !refs) { free(h); free(off); free(refs); goto done; }
        off[0] = 0;
        for (int64_t i = 0; i < N; i++) {
            if (tt.off[i + 1] == tt.off[i]) continue;
            h[k] = hyp[i];
            for (size_t j = tt.off[i]; j < tt.off[i + 1]; j++) refs[off[k] + (j - tt.off[i])] = tt.texts[j];
            off[k + 1] = off[k] + (tt.off[i + 1] - tt.off[i]);
            k++;
        }
        mmf_caption_scores sc;
        s = mmf_caption_score(h, k, refs, off, &sc);
        free(h); free(off); free(refs);
        if (s) { cli_fail(NAME, s, "cannot score"); goto done; }
        printf("{\"n\": %lld, \"bleu1\": %.4f, \"bleu2\": %.4f, \"bleu3\": %.4f, \"bleu4\": %.4f, \"brevity_penalty\": %.4f, "
               "\"cider_d\": %.4f, \"cider\": %.4f, \"beam\": %d, \"drop\": %s%s%s}\n",
               (long long)sc.n, sc.bleu[0], sc.bleu[1], sc.bleu[2], sc.bleu[3], sc.brevity_penalty, sc.cider_d, sc.cider, g.beam,
               g.drop ? "\"" : "", g.drop ? g.drop : "null", g.drop ? "\"" : "");
    } else if (!out) {
        for (int64_t i = 0; i < N; i++) printf("%s\n", hyp[i]);
    }
    rc = MMF_EXIT_OK;
done:
    for (int64_t i = 0; hyp && f && i < mmf_embfile_rows(f); i++) free(hyp[i]);
    free(hyp);
    cli_texts_free(&tt);
    mmf_embfile_close(f);
    mmf_captioner_free(c);
    return rc;
}

static int run(int argc, char **argv) {
    static const cli_action actions[] = {{"train", do_train}, {"run", do_run}, {"eval", do_eval}};
    return cli_run_action(NAME, help, actions, 3, "train, run or eval", argc, argv);
}

const mmf_cli_command mmf_cmd_caption = {"caption", "train caption decoders, caption images (+ text), BLEU/CIDEr", run, help};
