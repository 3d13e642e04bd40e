/* mmfuse vqa: visual question answering as classification over the top-K
 * training answers, on (image, question) embeddings through a fusion operator. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "cli_train_opts.h"
#include "cli_encoders.h"
#include "cli_texts.h"

static const char help[] =
    "Usage: mmfuse vqa train --train EMB.safetensors --answers QA.jsonl --out VQA.safetensors [options]\n"
    "       mmfuse vqa run VQA.safetensors --image PATH --question STR [options]\n"
    "       mmfuse vqa eval VQA.safetensors --data EMB.safetensors --answers QA.jsonl [options]\n\n"
    "The embedding file holds an image modality and a question modality (e.g. from\n"
    "`mmfuse embed --records vqa_train.jsonl`, where the question is the text). A fusion\n"
    "head from `mmfuse fusions` answers with one of the K most frequent training\n"
    "answers (normalised: lower case, words joined by one space). Answers come from\n"
    "JSONL records joined to the rows by id, as for `mmfuse caption`. See docs/caption.md.\n\n"
    "train options:\n"
    "  --train F, --answers F   embedding file and its answers (required)\n"
    "  --val F --val-answers F  validation: keeps the epoch with the best accuracy\n"
    "  --answer-field K     record field of the answer (default answer)\n"
    "  --id-field K         record field of the id (default: line number = row number)\n"
    "  --top-k K            answers kept (default 1000); rows with another answer are not trained on\n"
    "  --fusion OP          (default mlb)   --hidden H (default 128)   --rank R (default 4)\n"
    "  --epochs N (default 20)   --batch N (default 64)   --lr X (default 0.001)\n"
    "  --dropout P          on the fused embedding (default 0.1)\n"
    "  --modality-dropout P or NAME=P,NAME=P   hide modalities at random while training (default 0)\n"
    "  --patience N (default 5)   --seed S (default 1)   --threads N\n"
    "                       (default: the cores this process may use, or MMFUSE_THREADS)\n"
    "  --precision P        fp32 | bf16 (default fp32): bf16 GEMMs in the head's larger\n"
    "                       linear layers, on CPUs with AVX512-BF16 (as mmfuse train)\n"
    "  --profile            print where the training time went (ms per step)\n"
    CLI_TRAIN_CHECKPOINT_HELP
    "  --encoder NAME=DIR   record the encoder folder of a modality (used by `run`); repeatable.\n"
    "                       Default: the folder the training file names (`mmfuse embed\n"
    "                       --records` writes it), so `run` needs no flags\n"
    "  --out F              the model (the fusion head file + answers; atomic) (required)\n\n"
    "run options: --image PATH, --question STR (embedded by the recorded encoders, or the\n"
    "  recorded bag of words), --encoder NAME=DIR (override), --precision P (of the\n"
    "  encoders: fp32 | bf16 | int8 | auto, default auto), --threads N. Prints the\n"
    "  answer and its probability as JSON.\n\n"
    "eval options: --data F, --answers F, --answer-field K, --id-field K, --drop NAME\n"
    "  (that modality absent in every row), --threads N. Prints the accuracy (exact match\n"
    "  of the normalised answer; answers outside the K count as wrong) over rows with an answer.\n\n"
    "Examples:\n"
    "  mmfuse embed --records data/emoji/vqa_train.jsonl --text-field question --label-field none \\\n"
    "               --text-model models/minilm --image-model models/resnet --out vqa_train.safetensors\n"
    "  mmfuse vqa train --train vqa_train.safetensors --answers data/emoji/vqa_train.jsonl \\\n"
    "               --fusion mlb --top-k 100 --out emoji.vqa.safetensors\n"
    "  mmfuse vqa run emoji.vqa.safetensors --image data/emoji/img/google/1F600.png \\\n"
    "               --question \"what is the main colour of this emoji?\"\n";

#define NAME "vqa"

static void progress(void *u, int ep, int eps, int64_t b, int64_t nb, double tl, const double *vm) {
    (void)u; (void)b; (void)nb;
    if (vm && !isnan(vm[1])) fprintf(stderr, "epoch %d/%d  train loss %.4f  val accuracy %.4f\n", ep, eps, tl, vm[1]);
    else if (vm) fprintf(stderr, "epoch %d/%d  train loss %.4f\n", ep, eps, tl);
}

/* answers of every row: row i's first joined answer, or NULL (rows without one are
 * left out by building a sub-list) */
static const char **row_answers(const cli_texts *t) {
    const char **a = malloc((t->n_rows ? t->n_rows : 1) * sizeof *a);
    if (!a) return NULL;
    for (size_t i = 0; i < t->n_rows; i++) a[i] = t->off[i + 1] > t->off[i] ? t->texts[t->off[i]] : NULL;
    return a;
}

/* cli_encoders_record takes any model: this adapts the VQA model's setter */
static mmf_status set_encoder(void *q, const char *name, const char *dir) { return mmf_vqa_set_encoder(q, name, dir); }

static int do_train(int argc, char **argv) {
    const char *train = NULL, *ans = NULL, *val = NULL, *vans = NULL, *field = "answer", *idf = NULL, *out = NULL, *v;
    cli_encoders enc = {0};
    int bad = 0;
    cli_train_opts to = cli_train_opts_make(NAME, CLI_TRAIN_ALL);
    double phases[5] = {0};
    mmf_vqa_train_params p = mmf_vqa_train_params_default();
    mmf_train_params *f = &p.fusion;
    f->n_threads = cli_default_threads();
    const cli_num nums[] = {
        {"--top-k", &p.top_k, NULL, 2, 10000000},
        {"--hidden", &f->hidden, NULL, 1, 65536},
        {"--rank", &f->rank, NULL, 1, 64},
        {"--epochs", &f->epochs, NULL, 1, 100000},
        {"--batch", &f->batch, NULL, 1, 1000000},
        {"--patience", &f->patience, NULL, 0, 100000},
        {"--threads", &f->n_threads, NULL, 1, 1024},
        {"--lr", NULL, &f->lr, 0, 0},
        {"--dropout", NULL, &f->dropout, 0, 0},
    };
    for (int i = 2; i < argc; i++) {
        if (cli_opt(argc, argv, &i, "--train", &v, &bad)) train = v;
        else if (cli_opt(argc, argv, &i, "--answers", &v, &bad)) ans = v;
        else if (cli_opt(argc, argv, &i, "--val", &v, &bad)) val = v;
        else if (cli_opt(argc, argv, &i, "--val-answers", &v, &bad)) vans = v;
        else if (cli_opt(argc, argv, &i, "--answer-field", &v, &bad)) field = v;
        else if (cli_opt(argc, argv, &i, "--id-field", &v, &bad)) idf = v;
        else if (cli_opt(argc, argv, &i, "--out", &v, &bad)) out = v;
        else if (cli_opt(argc, argv, &i, "--fusion", &v, &bad)) f->fusion = v;
        else if (cli_opt(argc, argv, &i, "--encoder", &v, &bad)) {
            int r = cli_encoders_add(NAME, &enc, bad ? NULL : v);
            if (r) return r;
        } else if (cli_num_opt(argc, argv, &i, nums, (int)(sizeof nums / sizeof nums[0]), &bad)) {
            /* parsed into p */
        } else if (cli_train_opt(argc, argv, &i, &to, &bad)) {
            /* seed, precision, modality dropout, profile */
        } else if (argv[i][0] == '-') return cli_usage(NAME, "unknown option %s for vqa train", argv[i]);
        else return cli_usage(NAME, "unexpected argument %s", argv[i]);
        if (bad) return MMF_EXIT_USAGE;
    }
    if (!train || !ans || !out) return cli_usage(NAME, "vqa train needs --train, --answers and --out");
    if (!!val != !!vans) return cli_usage(NAME, "--val and --val-answers go together");
    if (cli_train_checkpoint(&to, argc, argv, (const char *const[]){"--train", "--answers", "--val", "--val-answers", NULL}, &f->checkpoint))
        return MMF_EXIT_USAGE;
    f->seed = to.seed;
    f->precision = to.precision;
    if (to.profile) f->phase_seconds = phases;
    int rc = MMF_EXIT_FAIL;
    mmf_embfile *ft = NULL, *fv = NULL;
    cli_texts tt = {0}, tv = {0};
    const char **at = NULL, **av = NULL;
    mmf_vqa *q = NULL;
    mmf_status s = mmf_embfile_open(train, &ft);
    if (s) return cli_fail(NAME, s, "cannot read the training file");
    if (cli_train_dropout(&to, ft, f->modality_dropout)) { rc = MMF_EXIT_USAGE; goto done; }
    if (val && (s = mmf_embfile_open(val, &fv))) { cli_fail(NAME, s, "cannot read the validation file"); goto done; }
    if (cli_texts_load(NAME, ft, ans, field, idf, &tt)) goto done;
    if (fv && cli_texts_load(NAME, fv, vans, field, idf, &tv)) goto done;
    if (!(at = row_answers(&tt)) || (fv && !(av = row_answers(&tv)))) goto done;
    f->progress = progress;
    if ((s = mmf_vqa_train(ft, at, fv, av, &p, &q))) { cli_fail(NAME, s, "training failed"); goto done; }
    cli_train_print_profile(&to, phases);
    int r = cli_encoders_record(NAME, &enc, set_encoder, q);
    if (!r) r = cli_encoders_record_from(NAME, &enc, ft, set_encoder, q);
    if (r) { rc = r; goto done; }
    if ((s = mmf_vqa_save(q, out))) { cli_fail(NAME, s, "cannot write the model"); goto done; }
    double acc = 0;
    if ((s = mmf_vqa_eval(q, fv ? fv : ft, fv ? av : at, NULL, f->n_threads, &acc))) { cli_fail(NAME, s, "cannot evaluate"); goto done; }
    printf("{\"answers\": %d, \"%s_accuracy\": %.4f}\n", mmf_vqa_n_answers(q), fv ? "val" : "train", acc);
    rc = MMF_EXIT_OK;
done:
    mmf_vqa_free(q);
    free(at); free(av);
    cli_texts_free(&tt); cli_texts_free(&tv);
    mmf_embfile_close(ft); mmf_embfile_close(fv);
    return rc;
}

static int do_eval(int argc, char **argv) {
    const char *path = NULL, *data = NULL, *ans = NULL, *field = "answer", *idf = NULL, *drop = NULL, *v;
    int bad = 0, nt = cli_default_threads();
    long iv;
    for (int i = 2; i < argc; i++) {
        if (cli_opt(argc, argv, &i, "--data", &v, &bad)) data = v;
        else if (cli_opt(argc, argv, &i, "--answers", &v, &bad)) ans = v;
        else if (cli_opt(argc, argv, &i, "--answer-field", &v, &bad)) field = v;
        else if (cli_opt(argc, argv, &i, "--id-field", &v, &bad)) idf = v;
        else if (cli_opt(argc, argv, &i, "--drop", &v, &bad)) drop = v;
        else if (cli_opt(argc, argv, &i, "--threads", &v, &bad)) {
            if (bad || !cli_int("--threads", v, 1, 1024, &iv)) return MMF_EXIT_USAGE;
            nt = (int)iv;
        } else if (argv[i][0] == '-') return cli_usage(NAME, "unknown option %s for vqa eval", argv[i]);
        else if (!path) path = argv[i];
        else return cli_usage(NAME, "one model at a time (got %s and %s)", path, argv[i]);
        if (bad) return MMF_EXIT_USAGE;
    }
    if (!path || !data || !ans) return cli_usage(NAME, "vqa eval needs the model, --data and --answers");
    mmf_vqa *q = NULL;
    mmf_embfile *f = NULL;
    cli_texts tt = {0};
    const char **a = NULL;
    int rc = MMF_EXIT_FAIL;
    mmf_status s = mmf_vqa_load(path, &q);
    if (s) return cli_fail(NAME, s, "cannot load the model");
    if ((s = mmf_embfile_open(data, &f))) { cli_fail(NAME, s, "cannot read the data"); goto done; }
    if (cli_texts_load(NAME, f, ans, field, idf, &tt)) goto done;
    if (!(a = row_answers(&tt))) goto done;
    double acc;
    if ((s = mmf_vqa_eval(q, f, a, drop, nt, &acc))) { cli_fail(NAME, s, "evaluation failed"); goto done; }
    printf("{\"n\": %lld, \"accuracy\": %.4f, \"answers\": %d, \"drop\": %s%s%s}\n", (long long)mmf_embfile_rows(f), acc,
           mmf_vqa_n_answers(q), drop ? "\"" : "", drop ? drop : "null", drop ? "\"" : "");
    rc = MMF_EXIT_OK;
done:
    free(a);
    cli_texts_free(&tt);
    mmf_embfile_close(f);
    mmf_vqa_free(q);
    return rc;
}

static int do_run(int argc, char **argv) {
    const char *path = NULL, *image = NULL, *question = NULL, *v;
    cli_encoders enc = {0};
    int bad = 0, nt = cli_default_threads();
    mmf_precision prec = mmf_default_precision();
    long iv;
    for (int i = 2; i < argc; i++) {
        if (cli_opt(argc, argv, &i, "--image", &v, &bad)) image = v;
        else if (cli_opt(argc, argv, &i, "--question", &v, &bad)) question = v;
        else if (cli_opt(argc, argv, &i, "--precision", &v, &bad)) {
            if (bad || !cli_precision(NAME, v, &prec)) return MMF_EXIT_USAGE;
        }
        else if (cli_opt(argc, argv, &i, "--encoder", &v, &bad)) {
            int r = cli_encoders_add(NAME, &enc, bad ? NULL : v);
            if (r) return r;
        } else if (cli_opt(argc, argv, &i, "--threads", &v, &bad)) {
            if (bad || !cli_int("--threads", v, 1, 1024, &iv)) return MMF_EXIT_USAGE;
            nt = (int)iv;
        } else if (argv[i][0] == '-') return cli_usage(NAME, "unknown option %s for vqa run", argv[i]);
        else if (!path) path = argv[i];
        else return cli_usage(NAME, "one model at a time (got %s and %s)", path, argv[i]);
        if (bad) return MMF_EXIT_USAGE;
    }
    if (!path || (!image && !question)) return cli_usage(NAME, "vqa run needs the model and --image and/or --question");
    mmf_vqa *q;
    mmf_status s = mmf_vqa_load(path, &q);
    if (s) return cli_fail(NAME, s, "cannot load the model");
    int M = mmf_vqa_n_modalities(q), rc = MMF_EXIT_FAIL, used = 0;
    float *xs[8] = {0};
    const cli_sample in = {image, question, "question", "model", nt, prec};
    for (int m = 0; m < M; m++) {
        const char *name = mmf_vqa_modality(q, m), *dir = cli_encoders_dir(&enc, name, mmf_vqa_encoder(q, m));
        if (!dir || !dir[0]) continue;
        if (!strcmp(dir, "bow") && mmf_vqa_bow(q, m)) {
            /* the question as the model's own bag of words: no encoder folder */
            if (!question) continue;
            if (!(xs[m] = malloc((size_t)mmf_vqa_dim(q, m) * sizeof(float)))) goto done;
            int unk = 0;
            mmf_bow_encode(mmf_vqa_bow(q, m), question, xs[m], &unk);
            if (unk) fprintf(stderr, "mmfuse vqa: notice: %d question word%s not in the model's vocabulary (counted as <unk>)\n", unk, unk == 1 ? " is" : "s are");
            used++;
            continue;
        }
        int is_text, says_text = strstr(name, "text") || strstr(name, "question");
        if (cli_sample_embed(NAME, &in, name, says_text, mmf_vqa_dim(q, m), dir, &xs[m], &is_text)) goto done;
        if (xs[m]) used++;
    }
    if (!used) { fprintf(stderr, "mmfuse vqa: error: no encoder recorded in %s for the inputs given (use --encoder NAME=DIR)\n", path); goto done; }
    int32_t a;
    float pr;
    if ((s = mmf_vqa_predict(q, 1, (const float *const *)xs, NULL, nt, &a, &pr))) { cli_fail(NAME, s, "prediction failed"); goto done; }
    printf("{\"answer\": \"%s\", \"probability\": %.4f}\n", mmf_vqa_answer(q, a), pr);
    rc = MMF_EXIT_OK;
done:
    for (int m = 0; m < 8; m++) free(xs[m]);
    mmf_vqa_free(q);
    return rc;
}

static int run(int argc, char **argv) {
    static const cli_action actions[] = {{"train", do_train}, {"run", do_run}, {"eval", do_eval}};
    return cli_run_action(NAME, help, actions, 3, "train, run or eval", argc, argv);
}

const mmf_cli_command mmf_cmd_vqa = {"vqa", "visual question answering: train, answer, accuracy", run, help};
