#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "cli_train_opts.h"
#include "cli_dist.h"

static const char help[] =
    "Usage: mmfuse train --train TRAIN.safetensors [--val VAL.safetensors] --out HEAD.safetensors\n"
    "                    [--fusion NAME] [--task classify|multilabel|align] [options]\n\n"
    "Trains a fusion head on embedding files (docs/embedding-file.md) with AdamW and\n"
    "keeps the epoch with the best validation score (accuracy for classify, macro-F1\n"
    "for multilabel, loss for align); stops early after --patience epochs without\n"
    "improvement. The head is written atomically as safetensors with its JSON config\n"
    "in the metadata; nothing is written when training fails (NaN/Inf, bad labels...).\n\n"
    "Options (defaults in brackets):\n"
    "  --train FILE            training embeddings (required)\n"
    "  --val FILE              validation embeddings (same modalities and dims)\n"
    "  --out FILE              where to write the head (required)\n"
    "  --fusion NAME           operator, see `mmfuse fusions` [concat]\n"
    "  --task T                classify | multilabel | align [classify]\n"
    "  --hidden N              common size H of the operator [128]\n"
    "  --epochs N              [20]\n"
    "  --batch N               [64]\n"
    "  --lr X                  peak learning rate [0.001]\n"
    "  --weight-decay X        AdamW decoupled weight decay [0.01]\n"
    "  --dropout P             dropout on the fused embedding [0.1]\n"
    "  --label-smoothing X     classify only [0]\n"
    "  --clip X                gradient-norm clipping, 0 = off [1]\n"
    "  --constant-lr           no cosine schedule (default: cosine with 5% warmup)\n"
    "  --modality-dropout P    drop each modality of each training row with\n"
    "                          probability P (one always kept); or per modality:\n"
    "                          text=0.3,image=0.1 [0]\n"
    "  --patience N            early-stopping patience in epochs, 0 = off [5]\n"
    "  --heads N, --layers N   transformer fusion [4, 1]\n"
    "  --rank N                LMF rank / MFB factors [4]\n"
    "  --proj N                TFN per-modality size [16]\n"
    "  --sketch N              compact bilinear size, a power of two [1024]\n"
    "  --budget N              max weights of the full bilinear/TFN layer [16777216]\n"
    "  --seed S                [1]\n"
    "  --threads N             (default: the cores this process may use, or MMFUSE_THREADS)\n"
    "  --precision P           fp32 | bf16 [fp32]; bf16 rounds the operands of the\n"
    "                          linear layers' GEMMs (forward and backward) to bf16\n"
    "                          with fp32 sums, on CPUs with AVX512-BF16; weights,\n"
    "                          optimiser state, loss and validation stay fp32\n"
    "  --profile               print where the training time went: gathering\n"
    "                          batches, forward, backward, optimiser (ms per step;\n"
    "                          with --precision bf16 on one thread the weights'\n"
    "                          AdamW updates run inside the next forward)\n"
    CLI_TRAIN_CHECKPOINT_HELP
    "  --quiet                 no per-epoch lines\n\n"
    "Under `mpirun -np N` the training is data parallel: each rank takes a contiguous\n"
    "slice of every batch with its own --threads, gradients are all-reduced, and every\n"
    "rank holds the head one process trains on the same batches; rank 0 writes it, and\n"
    "the checkpoint (which must be where every rank reads it): after a node fails, rerun\n"
    "the same mpirun command with --resume. --modality-dropout is drawn for the whole\n"
    "batch as one process draws it; align's loss (and xmodal's alignment term) compares\n"
    "each rank's rows with the whole batch's, all-gathered; --dropout draws the whole\n"
    "batch's masks too.\n\n"
    "Example:\n"
    "  mmfuse train --train train.safetensors --val val.safetensors --fusion gmu \\\n"
    "        --hidden 256 --epochs 30 --modality-dropout 0.2 --out gmu.head.safetensors\n"
    "  # resumable: after a crash, the same command with --resume carries on\n"
    "  mmfuse train --train train.safetensors --val val.safetensors --fusion gmu \\\n"
    "        --checkpoint gmu.ckpt --out gmu.head.safetensors [--resume]\n";

typedef struct prog { int quiet; mmf_task task; } prog;

static void on_progress(void *user, int epoch, int epochs, int64_t batch, int64_t batches, double loss, const double *vm) {
    prog *p = user;
    char label[64];
    snprintf(label, sizeof label, "epoch %d/%d loss %.4f", epoch, epochs, loss);
    if (!vm) { cli_progress(label, (long)batch, (long)batches); return; }
    if (p->quiet) return;
    if (p->task == MMF_TASK_ALIGN)
        printf("epoch %3d  train loss %.4f  val loss %.4f  R@1 %.4f  R@5 %.4f\n", epoch, loss, vm[0], vm[1], vm[2]);
    else
        printf("epoch %3d  train loss %.4f  val loss %.4f  acc %.4f  macro-F1 %.4f\n", epoch, loss, vm[0], vm[1], vm[2]);
    fflush(stdout);
}

static int run(int argc, char **argv) {
    mmf_train_params p = mmf_train_params_default();
    p.n_threads = cli_default_threads();
    const char *train = NULL, *val = NULL, *out = NULL, *task = "classify", *v;
    cli_train_opts to = cli_train_opts_make("train", CLI_TRAIN_ALL);
    int bad = 0, quiet = 0;
    double phases[5] = {0};
    long n;
    double x;
    for (int i = 1; i < argc && !bad; i++) {
        if (cli_opt(argc, argv, &i, "--train", &train, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--val", &val, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--out", &out, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--fusion", &p.fusion, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--task", &task, &bad)) continue;
        if (cli_train_opt(argc, argv, &i, &to, &bad)) continue;
        if (cli_flag(argv, i, "--quiet")) { quiet = 1; continue; }
        if (cli_flag(argv, i, "--constant-lr")) { p.cosine = 0; continue; }
#define INTOPT(name, field, lo, hi) if (cli_opt(argc, argv, &i, name, &v, &bad)) { if (bad || !cli_int(name, v, lo, hi, &n)) return MMF_EXIT_USAGE; p.field = n; continue; }
#define FLTOPT(name, field) if (cli_opt(argc, argv, &i, name, &v, &bad)) { if (bad || !cli_float(name, v, &x)) return MMF_EXIT_USAGE; p.field = (float)x; continue; }
        INTOPT("--hidden", hidden, 1, 65536)
        INTOPT("--epochs", epochs, 1, 100000)
        INTOPT("--batch", batch, 1, 1 << 20)
        INTOPT("--patience", patience, 0, 100000)
        INTOPT("--heads", heads, 1, 256)
        INTOPT("--layers", layers, 1, 12)
        INTOPT("--rank", rank, 1, 64)
        INTOPT("--proj", proj, 1, 4096)
        INTOPT("--sketch", sketch, 1, 65536)
        INTOPT("--budget", budget, 1, 2000000000L)
        INTOPT("--threads", n_threads, 1, 1024)
        FLTOPT("--lr", lr)
        FLTOPT("--weight-decay", weight_decay)
        FLTOPT("--dropout", dropout)
        FLTOPT("--label-smoothing", label_smoothing)
        FLTOPT("--clip", clip_norm)
        return cli_usage("train", "unknown argument %s", argv[i]);
    }
    if (bad) return MMF_EXIT_USAGE;
    if (cli_train_checkpoint(&to, argc, argv, (const char *const[]){"--train", "--val", NULL}, &p.checkpoint)) return MMF_EXIT_USAGE;
    p.seed = to.seed;
    p.precision = to.precision;
    if (to.profile) p.phase_seconds = phases;
    if (!train) return cli_usage("train", "missing --train FILE");
    if (!out) return cli_usage("train", "missing --out FILE");
    if (!strcmp(task, "classify")) p.task = MMF_TASK_CLASSIFY;
    else if (!strcmp(task, "multilabel")) p.task = MMF_TASK_MULTILABEL;
    else if (!strcmp(task, "align")) p.task = MMF_TASK_ALIGN;
    else return cli_usage("train", "--task must be classify, multilabel or align (got \"%s\")", task);
    int known = p.task == MMF_TASK_ALIGN;
    for (int i = 0; i < mmf_fusion_count(); i++) known |= !strcmp(mmf_fusion_name(i), p.fusion);
    if (!known) return cli_usage("train", "unknown fusion \"%s\" (see `mmfuse fusions`)", p.fusion);
    if (!(p.lr > 0) || !isfinite(p.lr)) return cli_usage("train", "--lr must be > 0");
    if (p.dropout < 0 || p.dropout >= 1) return cli_usage("train", "--dropout must be in [0, 1)");
    mmf_embfile *tr = NULL, *va = NULL;
    mmf_status s = mmf_embfile_open(train, &tr);
    int rc0 = s ? cli_fail("train", s, "cannot use the training file") : MMF_EXIT_OK;
    if (!rc0 && val && (s = mmf_embfile_open(val, &va))) rc0 = cli_fail("train", s, "cannot use the validation file");
    if (!rc0 && cli_train_dropout(&to, tr, p.modality_dropout)) rc0 = MMF_EXIT_USAGE;
    if (!cli_dist_all_ok(!rc0)) {   /* under mpirun: every rank read the files, or none trains */
        mmf_embfile_close(tr);
        mmf_embfile_close(va);
        return rc0 ? rc0 : MMF_EXIT_FAIL;
    }
    /* under mpirun: data parallel, every rank trains the same head; rank 0 reports and writes */
    const int rank = cli_dist_rank();
    prog pr = {quiet || rank != 0, p.task};
    p.progress = rank == 0 ? on_progress : NULL;
    p.progress_user = &pr;
    mmf_head *h = NULL;
    s = mmf_head_train_comm(tr, va, &p, cli_dist_comm(), &h);
    int rc = MMF_EXIT_OK;
    if (!cli_dist_all_ok(!s)) rc = s ? cli_fail("train", s, "training failed (no head written)") : MMF_EXIT_FAIL;
    else if (rank != 0) rc = MMF_EXIT_OK;
    else {
        char desc[512];
        fprintf(stderr, "head: %s\n", mmf_head_describe(h, desc, sizeof desc));
        cli_train_print_profile(&to, phases);
        if ((s = mmf_head_save(h, out))) rc = cli_fail("train", s, "cannot write the head");
        else if (!quiet) printf("wrote %s\n", out);
    }
    mmf_head_free(h);
    mmf_embfile_close(tr);
    mmf_embfile_close(va);
    return rc;
}

const mmf_cli_command mmf_cmd_train = {"train", "train a fusion head on embedding files", run, help};
