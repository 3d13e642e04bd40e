/* mmfuse train-direct: a direct multimodal model (the bimodal deep autoencoder or
 * the cross-modal transformer) trained from scratch on embedding files or raw
 * record features, whose result is a fusion head file; or (--model clip,
 * cli_train_clip.c) contrastive dual encoders written as a model folder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "cli_train_opts.h"
#include "cli_train_clip.h"
#include "cli_dist.h"

static const char help[] =
    "Usage: mmfuse train-direct --model MODEL --train TRAIN.safetensors [--val VAL.safetensors]\n"
    "                           --out HEAD.safetensors [options]\n"
    "       mmfuse train-direct --model MODEL --records TRAIN.jsonl [--val VAL.jsonl]\n"
    "                           [--featurize OTHER.jsonl ...] --out DIR [options]\n"
    "       mmfuse train-direct --model clip --records TRAIN.jsonl [--val VAL.jsonl] --out DIR [options]\n\n"
    "Trains a multimodal model from scratch, rather than a fusion operator over\n"
    "pretrained encoders' embeddings. The output is a fusion head: `mmfuse eval`,\n"
    "`mmfuse fuse` and (xmodal) `mmfuse attention` work on it. docs/direct.md has more.\n\n"
    "Models (--model):\n"
    "  bimodal-ae  Ngiam et al.'s bimodal deep autoencoder (2011), trained without\n"
    "              labels: per-modality ReLU layers, a shared tanh code, decoders that\n"
    "              reconstruct every modality. For part of the samples all modalities\n"
    "              but one are zeroed, so the code can be inferred from either one\n"
    "              alone. When TRAIN has class labels, a linear classifier on the code\n"
    "              becomes the output layer. 2 or more modalities; the fused embedding\n"
    "              is the shared code.\n"
    "  xmodal      a cross-modal attention transformer, trained end to end for\n"
    "              classification plus an InfoNCE alignment term (needs class labels;\n"
    "              exactly 2 modalities). Over --records features the picture becomes\n"
    "              4 x 4 patch tokens and the bag of words one token per word; words\n"
    "              attend to patches and patches to words (`mmfuse attention` draws\n"
    "              the maps). Over other embeddings each modality is one token. Each\n"
    "              modality is dropped from a quarter of the training rows.\n"
    CLI_TRAIN_CLIP_HELP "\n"
    "With --records the inputs are raw features of JSONL records (\"image\" path\n"
    "relative to the file, \"text\", label field): the image resized to SIDE x SIDE\n"
    "RGB in [0, 1] and a binary bag of words over the training vocabulary. DIR gets\n"
    "vocab.txt, classes.txt, the features of every records file as an embedding\n"
    "file named after it (train.jsonl -> DIR/train.safetensors) and DIR/head.safetensors.\n\n"
    "Options (defaults in brackets):\n"
    "  --model M            bimodal-ae, xmodal or clip [bimodal-ae]\n"
    "  --train FILE         training embeddings (docs/embedding-file.md)\n"
    "  --val FILE           validation embeddings: the classifier's accuracy is reported\n"
    "  --out FILE|DIR       the head to write; with --records a folder (required)\n"
    "  --records F          training records, JSONL (instead of --train)\n"
    "  --featurize F        with --records: also write the features of F (up to 8 times)\n"
    "  --image-side N       with --records: image side in pixels [16]\n"
    "  --max-words N        with --records: bag-of-words vocabulary size [2000]\n"
    "  --label-field K      with --records [label]\n"
    "  --hidden N           bimodal-ae: layer and code size; xmodal: token width [128]\n"
    "  --epochs N           bimodal-ae: autoencoder epochs; xmodal: training epochs [40]\n"
    "  --batch N            [64]\n"
    "  --lr X               AdamW peak learning rate, cosine schedule [0.002]\n"
    "  --weight-decay X     [0.0001]\n"
    "  --single-fraction X  bimodal-ae: share of samples fed one modality only [0.667]\n"
    "  --probe-epochs N     bimodal-ae: epochs of the linear classifier on the code,\n"
    "                       0 = none [100]\n"
    "  --dropout P          xmodal: dropout on the fused embedding [0.1]\n"
    "  --seed S             [1]\n"
    "  --threads N          (default: the cores this process may use, or MMFUSE_THREADS)\n"
    CLI_TRAIN_CHECKPOINT_HELP
    "                          (bimodal-ae: its classifier phase writes FILE.probe)\n"
    "  --quiet              no progress lines on stderr\n\n"
    "Under `mpirun -np N` the training is data parallel (bimodal-ae, xmodal, clip): every\n"
    "rank reads the same inputs (rank 0 featurises --records first), takes a contiguous\n"
    "slice of every batch with its own --threads, and the gradients are all-reduced; the\n"
    "random choices (bimodal-ae's single-modality rows, xmodal's modality drops, clip's\n"
    "views, dropout) are drawn for the whole batch as one process draws them, and the\n"
    "contrastive terms compare each rank's rows with the whole batch's, so the model is\n"
    "the one a single process trains. Rank 0 writes the outputs; docs/scale.md.\n\n"
    "Examples:\n"
    "  mmfuse train-direct --model bimodal-ae --train train.safetensors --val val.safetensors \\\n"
    "      --out ae.safetensors\n"
    "  mmfuse eval ae.safetensors --data test.safetensors\n"
    "  mmfuse fuse ae.safetensors --data test.safetensors --out test.fused.safetensors\n"
    "  mmfuse train-direct --model bimodal-ae --records data/emoji/train.jsonl \\\n"
    "      --val data/emoji/val.jsonl --featurize data/emoji/test.jsonl --out runs/ae\n"
    "  mmfuse eval runs/ae/head.safetensors --data runs/ae/test.safetensors\n"
    "  mmfuse train-direct --model xmodal --records data/emoji/train.jsonl \\\n"
    "      --val data/emoji/val.jsonl --featurize data/emoji/test.jsonl --out runs/xm --hidden 64\n"
    "  mmfuse attention runs/xm/head.safetensors --data runs/xm/test.safetensors \\\n"
    "      --out runs/xm/test.attn.safetensors --overlay runs/xm/overlay --records data/emoji/test.jsonl\n"
    "  mmfuse train-direct --model clip --records data/emoji/train.jsonl --val data/emoji/val.jsonl \\\n"
    "      --out runs/clip\n"
    "  mmfuse search gallery.mmfidx --text \"smiling cat\" --model runs/clip -k 5\n";

static void progress(void *user, int phase, int epoch, int epochs, double loss, double val) {
    (void)user;
    if (phase == 0) {
        if (epoch == epochs || epoch % 5 == 0 || epoch == 1)
            fprintf(stderr, "train-direct: autoencoder epoch %d/%d  reconstruction MSE %.4f\n", epoch, epochs, loss);
    } else if (val >= 0) {
        fprintf(stderr, "train-direct: classifier epoch %d/%d  loss %.4f  val acc %.3f\n", epoch, epochs, loss, val);
    }
}

static int run(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--model") && !strcmp(argv[i + 1], "clip")) return cli_train_clip(argc, argv);
    mmf_direct_params p = mmf_direct_params_default();
    p.n_threads = cli_default_threads();
    const char *train = NULL, *val = NULL, *out = NULL, *records = NULL, *v, *extra[8];
    int n_extra = 0;
    mmf_featurize_params fp = mmf_featurize_params_default();
    int bad = 0, quiet = 0;
    cli_train_opts to = cli_train_opts_make("train-direct", 0);
    const cli_num nums[] = {
        {"--hidden", &p.hidden, NULL, 2, 65536},
        {"--epochs", &p.epochs, NULL, 1, 100000},
        {"--batch", &p.batch, NULL, 2, 65536},
        {"--probe-epochs", &p.probe_epochs, NULL, 0, 100000},
        {"--threads", &p.n_threads, NULL, 1, 1024},
        {"--image-side", &fp.image_side, NULL, 1, 256},
        {"--max-words", &fp.max_words, NULL, 1, 1000000},
        {"--lr", NULL, &p.lr, 1e-9, 10},
        {"--weight-decay", NULL, &p.weight_decay, 0, 10},
        {"--single-fraction", NULL, &p.single_fraction, 0, 1},
        {"--dropout", NULL, &p.dropout, 0, 0.99},
    };
    for (int i = 1; i < argc && !bad; i++) {
        if (cli_opt(argc, argv, &i, "--model", &p.model, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--train", &train, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--val", &val, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--out", &out, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--records", &records, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--label-field", &fp.label_field, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--featurize", &v, &bad)) {
            if (!bad && n_extra == 8) return cli_usage("train-direct", "--featurize: at most 8 files");
            if (!bad) extra[n_extra++] = v;
            continue;
        }
        if (cli_num_opt(argc, argv, &i, nums, (int)(sizeof nums / sizeof nums[0]), &bad)) continue;
        if (cli_train_opt(argc, argv, &i, &to, &bad)) { p.seed = to.seed; continue; }
        if (cli_flag(argv, i, "--quiet")) { quiet = 1; continue; }
        return cli_usage("train-direct", "unknown argument %s", argv[i]);
    }
    if (bad) return MMF_EXIT_USAGE;
    if (cli_train_checkpoint(&to, argc, argv, (const char *const[]){"--train", "--val", "--records", NULL}, &p.checkpoint))
        return MMF_EXIT_USAGE;
    if (strcmp(p.model, "bimodal-ae") && strcmp(p.model, "xmodal"))
        return cli_usage("train-direct", "--model %s: expected bimodal-ae, xmodal or clip", p.model);
    if (!train && !records) return cli_usage("train-direct", "--train TRAIN.safetensors or --records TRAIN.jsonl is required");
    if (train && records) return cli_usage("train-direct", "give --train or --records, not both");
    if (!out) return cli_usage("train-direct", "--out is required");
    if (n_extra && !records) return cli_usage("train-direct", "--featurize goes with --records");
    /* under mpirun: data parallel; rank 0 featurises, reports and writes */
    const int lead = cli_dist_rank() == 0;
    if (!quiet && lead) p.progress = progress;
    p.comm = cli_dist_comm();
    char trpath[4096], vapath[4096], headpath[4096];
    if (records) {
        /* featurise every records file into OUT/<name>.safetensors (train first: it defines the vocabulary) */
        const char *files[10];
        int nf = 0;
        files[nf++] = records;
        if (val) files[nf++] = val;
        for (int k = 0; k < n_extra; k++) files[nf++] = extra[k];
        int frc = MMF_EXIT_OK;
        for (int k = 0; k < nf && !frc; k++) {
            const char *base = strrchr(files[k], '/');
            base = base ? base + 1 : files[k];
            char stem[1024];
            snprintf(stem, sizeof stem, "%s", base);
            char *dot = strrchr(stem, '.');
            if (dot && dot != stem) *dot = 0;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s.safetensors", out, stem);
            if (k == 0) snprintf(trpath, sizeof trpath, "%s", path);
            if (k == 1 && val) snprintf(vapath, sizeof vapath, "%s", path);
            if (!lead) continue;
            mmf_status fs = mmf_records_features(files[k], out, &fp, path);
            if (fs) frc = cli_fail("train-direct", fs, "cannot featurise the records");
            else if (!quiet) fprintf(stderr, "train-direct: features of %s -> %s\n", files[k], path);
        }
        if (!cli_dist_all_ok(!frc)) return frc ? frc : MMF_EXIT_FAIL;
        train = trpath;
        if (val) val = vapath;
        snprintf(headpath, sizeof headpath, "%s/head.safetensors", out);
        out = headpath;
    }
    mmf_embfile *tr = NULL, *va = NULL;
    mmf_status s = mmf_embfile_open(train, &tr);
    int rc = s ? cli_fail("train-direct", s, "cannot read the training embeddings") : MMF_EXIT_OK;
    if (!rc && val && (s = mmf_embfile_open(val, &va))) rc = cli_fail("train-direct", s, "cannot read the validation embeddings");
    if (!cli_dist_all_ok(!rc)) {   /* every rank read the files, or none trains */
        mmf_embfile_close(tr);
        mmf_embfile_close(va);
        return rc ? rc : MMF_EXIT_FAIL;
    }
    mmf_head *h = NULL;
    s = mmf_direct_train(tr, va, &p, &h);
    if (!cli_dist_all_ok(!s)) rc = s ? cli_fail("train-direct", s, "training failed") : MMF_EXIT_FAIL;
    else if (!lead) rc = MMF_EXIT_OK;
    else if ((s = mmf_head_save(h, out))) rc = cli_fail("train-direct", s, "cannot write the head");
    else if (!quiet) {
        char buf[512];
        fprintf(stderr, "train-direct: wrote %s %s\n", out, mmf_head_describe(h, buf, sizeof buf));
    }
    mmf_head_free(h);
    mmf_embfile_close(tr);
    mmf_embfile_close(va);
    return rc;
}

const mmf_cli_command mmf_cmd_train_direct = {"train-direct", "train a direct multimodal model (bimodal autoencoder, cross-modal transformer) into a fusion head", run, help};
