/* mmfuse train-direct --model clip: the contrastive dual encoder trained from
 * scratch on JSONL records (mmf_clip_train), written as a model folder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "cli_train_opts.h"
#include "cli_train_clip.h"
#include "cli_dist.h"


static void progress(void *user, int epoch, int epochs, double loss, double scale, double r1, double r10) {
    (void)user;
    if (r10 >= 0)
        fprintf(stderr, "train-direct: clip epoch %d/%d  loss %.4f  logit scale %.1f  val text->image R@1 %.3f  R@10 %.3f\n",
                epoch, epochs, loss, scale, r1, r10);
    else
        fprintf(stderr, "train-direct: clip epoch %d/%d  loss %.4f  logit scale %.1f\n", epoch, epochs, loss, scale);
}

int cli_train_clip(int argc, char **argv) {
    mmf_clip_params p = mmf_clip_params_default();
    p.n_threads = cli_default_threads();
    const char *records = NULL, *val = NULL, *out = NULL, *v;
    int bad = 0, quiet = 0;
    cli_train_opts to = cli_train_opts_make("train-direct", 0);
    const cli_num nums[] = {
        {"--epochs", &p.epochs, NULL, 1, 100000},
        {"--batch", &p.batch, NULL, 2, 4096},
        {"--dim", &p.dim, NULL, 2, 4096},
        {"--text-dim", &p.text_dim, NULL, 4, 4096},
        {"--image-dim", &p.image_dim, NULL, 2, 4096},
        {"--image-size", &p.image_size, NULL, 8, 512},
        {"--layers", &p.layers, NULL, 1, 64},
        {"--heads", &p.heads, NULL, 1, 64},
        {"--max-length", &p.max_length, NULL, 4, 512},
        {"--min-count", &p.min_count, NULL, 1, 1000000},
        {"--patience", &p.patience, NULL, 0, 100000},
        {"--threads", &p.n_threads, NULL, 1, 1024},
        {"--lr", NULL, &p.lr, 1e-9, 10},
        {"--weight-decay", NULL, &p.weight_decay, 0, 10},
        {"--temperature", NULL, &p.temperature, 0.01, 1},
        {"--dropout", NULL, &p.dropout, 0, 0.99},
    };
    for (int i = 1; i < argc && !bad; i++) {
        if (cli_opt(argc, argv, &i, "--model", &v, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--records", &records, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--val", &val, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--out", &out, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--pair-field", &p.pair_field, &bad)) continue;
        if (cli_num_opt(argc, argv, &i, nums, (int)(sizeof nums / sizeof nums[0]), &bad)) continue;
        if (cli_train_opt(argc, argv, &i, &to, &bad)) { p.seed = to.seed; continue; }
        if (cli_flag(argv, i, "--no-augment")) { p.augment = 0; continue; }
        if (cli_flag(argv, i, "--quiet")) { quiet = 1; continue; }
        return cli_usage("train-direct", "--model clip: unknown argument %s", argv[i]);
    }
    if (bad) return MMF_EXIT_USAGE;
    if (cli_train_checkpoint(&to, argc, argv, (const char *const[]){"--records", "--val", NULL}, &p.checkpoint)) return MMF_EXIT_USAGE;
    if (!records) return cli_usage("train-direct", "--model clip needs --records TRAIN.jsonl");
    if (!out) return cli_usage("train-direct", "--out DIR is required");
    if (p.text_dim % p.heads) return cli_usage("train-direct", "--text-dim %d is not divisible by --heads %d", p.text_dim, p.heads);
    /* under mpirun: data parallel (the loss over the whole batch); rank 0 reports and writes */
    const int lead = cli_dist_rank() == 0;
    if (!quiet && lead) p.progress = progress;
    p.comm = cli_dist_comm();
    mmf_status s = mmf_clip_train(records, val, out, &p);
    if (!cli_dist_all_ok(!s)) return s ? cli_fail("train-direct", s, "contrastive training failed") : MMF_EXIT_FAIL;
    if (!quiet && lead) fprintf(stderr, "train-direct: wrote %s (model_type mmfuse_clip, %d-dimensional joint space)\n", out, p.dim);
    return MMF_EXIT_OK;
}
