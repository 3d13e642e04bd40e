/* mmfuse train-encoder: train a small image or text tower from scratch on
 * labelled JSONL records and write a model folder that `mmfuse embed` loads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "cli_train_opts.h"
#include "cli_dist.h"

static const char help[] =
    "Usage: mmfuse train-encoder --modality image|text --records TRAIN.jsonl --out DIR [options]\n\n"
    "Trains a small encoder from scratch to classify the records' label field and\n"
    "writes a model folder in the Hugging Face layout, so that `mmfuse embed --model DIR`\n"
    "and every later step load it like a pretrained model:\n"
    "  image: config.json (model_type \"mmfuse_cnn\"), model.safetensors,\n"
    "         preprocessor_config.json. Stages of conv3x3-batchnorm-ReLU-maxpool\n"
    "         (16, 32, 64, DIM channels); the embedding is the global average pool (DIM).\n"
    "  text:  config.json (model_type \"mmfuse_text\", BERT layout), model.safetensors,\n"
    "         vocab.txt + tokenizer_config.json (a word-level WordPiece vocabulary learned\n"
    "         from the training texts, with single characters for unseen words);\n"
    "         the embedding is the mean of the last hidden states (DIM).\n"
    "Records are JSON lines with \"text\", \"image\" (a path relative to the JSONL file)\n"
    "and the label field. With --val, the epoch with the best validation accuracy is kept.\n\n"
    "Options:\n"
    "  --modality M       image | text (required)\n"
    "  --records F        training records, JSONL (required)\n"
    "  --val F            validation records, JSONL (default: none; the last epoch is kept)\n"
    "  --out DIR          model folder to write (created) (required)\n"
    "  --label-field K    the record field to classify (default label)\n"
    "  --epochs N         default 10 (image), 40 (text)\n"
    "  --batch N          default 64\n"
    "  --lr X             AdamW learning rate, cosine schedule with 5% warmup (default 0.002)\n"
    "  --weight-decay X   default 0.0001\n"
    "  --dim N            embedding size (default 128)\n"
    "  --image-size N     image: input side, images are resized (default 64)\n"
    "  --no-augment       image: no random shifts\n"
    "  --layers N         text: transformer layers (default 2)\n"
    "  --heads N          text: attention heads (default 4)\n"
    "  --max-length N     text: tokens per text incl. [CLS] and [SEP] (default 32)\n"
    "  --min-count N      text: words seen fewer times get no vocabulary entry (default 1)\n"
    "  --dropout P        text: dropout in the transformer (default 0.1)\n"
    "  --seed N           default 1\n"
    "  --threads N        CPU threads (default: the cores this process may use, or MMFUSE_THREADS)\n"
    CLI_TRAIN_CHECKPOINT_HELP
    "  --quiet            no per-epoch lines on stderr\n\n"
    "Under `mpirun -np N` the training is data parallel: every rank reads the records,\n"
    "takes a contiguous slice of every batch (with its own --threads) and the gradients\n"
    "are all-reduced; batchnorm normalises with the whole batch's statistics and the\n"
    "random shifts and dropout masks are drawn for the whole batch, so the model is\n"
    "the one a single process trains. Rank 0 writes the model; docs/scale.md.\n\n"
    "Example:\n"
    "  mmfuse train-encoder --modality image --records data/emoji/train.jsonl \\\n"
    "      --val data/emoji/val.jsonl --out models/emoji-cnn --threads 2\n"
    "  mmfuse embed --model models/emoji-cnn --image-list images.txt --out img.safetensors\n";

static void progress(void *user, int epoch, int epochs, double loss, double acc, double val) {
    const char *what = user;
    if (val >= 0)
        fprintf(stderr, "train-encoder %s: epoch %d/%d  loss %.4f  train acc %.3f  val acc %.3f\n", what, epoch, epochs, loss, acc, val);
    else
        fprintf(stderr, "train-encoder %s: epoch %d/%d  loss %.4f  train acc %.3f\n", what, epoch, epochs, loss, acc);
}

static int run(int argc, char **argv) {
    mmf_tower_params p = mmf_tower_params_default();
    p.n_threads = cli_default_threads();
    const char *modality = NULL, *records = NULL, *val = NULL, *out = NULL, *v;
    int bad = 0, quiet = 0;
    cli_train_opts to = cli_train_opts_make("train-encoder", 0);
    double d;
    const cli_num nums[] = {
        {"--epochs", &p.epochs, NULL, 1, 100000},
        {"--batch", &p.batch, NULL, 2, 4096},
        {"--dim", &p.dim, NULL, 8, 4096},
        {"--image-size", &p.image_size, NULL, 8, 512},
        {"--layers", &p.layers, NULL, 1, 24},
        {"--heads", &p.heads, NULL, 1, 64},
        {"--max-length", &p.max_length, NULL, 4, 4096},
        {"--min-count", &p.min_count, NULL, 1, 1000000},
        {"--threads", &p.n_threads, NULL, 1, 1024},
    };
    for (int i = 1; i < argc && !bad; i++) {
        if (cli_opt(argc, argv, &i, "--modality", &modality, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--records", &records, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--val", &val, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--out", &out, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--label-field", &p.label_field, &bad)) continue;
        if (cli_num_opt(argc, argv, &i, nums, (int)(sizeof nums / sizeof nums[0]), &bad)) continue;
        if (cli_train_opt(argc, argv, &i, &to, &bad)) { p.seed = to.seed; continue; }
        if (cli_opt(argc, argv, &i, "--lr", &v, &bad)) {
            if (!bad && cli_float("--lr", v, &d) && d > 0 && d < 10) p.lr = (float)d;
            else if (!bad) return cli_usage("train-encoder", "--lr %s: expected a number in (0, 10)", v);
            continue;
        }
        if (cli_opt(argc, argv, &i, "--weight-decay", &v, &bad)) {
            if (!bad && cli_float("--weight-decay", v, &d) && d >= 0 && d < 10) p.weight_decay = (float)d;
            else if (!bad) return cli_usage("train-encoder", "--weight-decay %s: expected a number in [0, 10)", v);
            continue;
        }
        if (cli_opt(argc, argv, &i, "--dropout", &v, &bad)) {
            if (!bad && cli_float("--dropout", v, &d) && d >= 0 && d < 1) p.dropout = (float)d;
            else if (!bad) return cli_usage("train-encoder", "--dropout %s: expected a number in [0, 1)", v);
            continue;
        }
        if (cli_flag(argv, i, "--no-augment")) { p.augment = 0; continue; }
        if (cli_flag(argv, i, "--quiet")) { quiet = 1; continue; }
        return cli_usage("train-encoder", "unknown argument %s", argv[i]);
    }
    if (bad) return MMF_EXIT_USAGE;
    if (cli_train_checkpoint(&to, argc, argv, (const char *const[]){"--records", "--val", NULL}, &p.checkpoint)) return MMF_EXIT_USAGE;
    if (!modality || (strcmp(modality, "image") && strcmp(modality, "text")))
        return cli_usage("train-encoder", "--modality image or --modality text is required");
    if (!records) return cli_usage("train-encoder", "--records TRAIN.jsonl is required");
    if (!out) return cli_usage("train-encoder", "--out DIR is required");
    /* under mpirun: data parallel; rank 0 reports and writes the model */
    const int lead = cli_dist_rank() == 0;
    if (!quiet && lead) { p.progress = progress; p.progress_user = (void *)modality; }
    p.comm = cli_dist_comm();
    mmf_status s = !strcmp(modality, "image") ? mmf_image_tower_train(records, val, out, &p)
                                              : mmf_text_tower_train(records, val, out, &p);
    if (!cli_dist_all_ok(!s)) return s ? cli_fail("train-encoder", s, "training failed") : MMF_EXIT_FAIL;
    if (!quiet && lead) fprintf(stderr, "train-encoder: wrote %s\n", out);
    return MMF_EXIT_OK;
}

const mmf_cli_command mmf_cmd_train_encoder = {"train-encoder", "train a small image (CNN) or text (transformer) encoder from scratch", run, help};
