/* mmfuse zeroshot: CLIP zero-shot classification, as CLIPModel's
 * logits_per_image.softmax(dim=1); SigLIP's as sigmoid(logits_per_image). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "cli_lines.h"

static const char help[] =
    "Usage: mmfuse zeroshot --model DIR --image-list F (--labels \"L1,L2,...\" | --labels-file F) [options]\n\n"
    "Zero-shot classification with a CLIP or SigLIP folder: every label text and every\n"
    "image is embedded, and each image gets softmax(exp(logit_scale) * cosine(image, label))\n"
    "over the labels (CLIP: Hugging Face's logits_per_image.softmax(dim=1)), or for SigLIP\n"
    "sigmoid(exp(logit_scale) * cosine + logit_bias) for each label on its own (the\n"
    "probabilities need not sum to 1). Prints a header line,\n"
    "then one tab-separated line per image: path, best label, one probability per label.\n\n"
    "Options:\n"
    "  --model DIR        a CLIP or SigLIP model folder with its tokenizer files, or one that\n"
    "                     `mmfuse train-direct --model clip` wrote (required)\n"
    "  --image-list F     one image path per line (blank lines skipped; - = stdin) (required)\n"
    "  --labels S         comma-separated label texts\n"
    "  --labels-file F    one label text per line (instead of --labels)\n"
    "  --batch N          images per forward pass (default 32)\n"
    "  --precision P      encoder precision: fp32 | bf16 | int8 | auto (default auto; see mmfuse embed --help)\n"
    "  --threads N        CPU threads (default: the cores this process may use, or MMFUSE_THREADS)\n"
    "  --skip-bad         report unreadable images (their line says \"failed\") and go on\n"
    "                     (default: the first bad image stops the run)\n\n"
    "Example:\n"
    "  mmfuse zeroshot --model models/clip-vit-base-patch32 --image-list photos.txt \\\n"
    "                  --labels \"a photo of a cat,a photo of a dog\"\n";

static void on_error(size_t index, const char *path, const char *message, void *user) {
    (void)user;
    fprintf(stderr, "mmfuse zeroshot: image %zu (%s) skipped: %s\n", index, path, message);
}

static int run(int argc, char **argv) {
    const char *model = NULL, *list = NULL, *labels = NULL, *labels_file = NULL, *v;
    long threads = cli_default_threads(), batch = 32;
    mmf_precision prec = mmf_default_precision();
    int skip_bad = 0, bad = 0;
    for (int i = 1; i < argc && !bad; i++) {
        if (cli_opt(argc, argv, &i, "--model", &model, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--image-list", &list, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--labels", &labels, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--labels-file", &labels_file, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--precision", &v, &bad)) { if (!bad && !cli_precision("zeroshot", v, &prec)) return MMF_EXIT_USAGE; continue; }
        if (cli_opt(argc, argv, &i, "--threads", &v, &bad)) { if (!bad && !cli_int("--threads", v, 1, 1024, &threads)) bad = 1; continue; }
        if (cli_opt(argc, argv, &i, "--batch", &v, &bad)) { if (!bad && !cli_int("--batch", v, 1, 65536, &batch)) bad = 1; continue; }
        if (cli_flag(argv, i, "--skip-bad")) { skip_bad = 1; continue; }
        return cli_usage("zeroshot", "unknown argument %s", argv[i]);
    }
    if (bad) return MMF_EXIT_USAGE;
    if (!model || !list) return cli_usage("zeroshot", "--model and --image-list are required");
    if (!labels == !labels_file) return cli_usage("zeroshot", "give the labels with exactly one of --labels or --labels-file");

    /* labels */
    char **lab = NULL, *lbuf = NULL;
    size_t nl = 0;
    if (labels) {
        lbuf = strdup(labels);
        size_t cap = 1;
        for (const char *c = labels; *c; c++) cap += *c == ',';
        lab = malloc(cap * sizeof *lab);
        if (!lbuf || !lab) { free(lbuf); free(lab); fprintf(stderr, "mmfuse zeroshot: out of memory\n"); return MMF_EXIT_FAIL; }
        for (char *tok = lbuf, *e; tok; tok = e) {
            e = strchr(tok, ',');
            if (e) *e++ = 0;
            if (*tok) lab[nl++] = tok;
        }
    } else {
        int rc = cli_read_lines("zeroshot", labels_file, &lab, &nl, &lbuf);
        if (rc) return rc;
    }
    if (nl < 1) { free(lab); free(lbuf); return cli_usage("zeroshot", "no labels given"); }

    mmf_encoder_params p = mmf_encoder_params_default();
    p.n_threads = (int)threads;
    p.precision = prec;
    p.max_batch = (int)batch;
    mmf_encoder *enc;
    mmf_status s = mmf_encoder_load(model, &p, &enc);
    if (s) { free(lab); free(lbuf); return cli_fail("zeroshot", s, "cannot load the model"); }
    int rc = MMF_EXIT_OK;
    /* a dual encoder: both modalities in one space (clip, siglip, mmfuse_clip) and a tokenizer */
    if (mmf_encoder_modalities(enc) != (MMF_MODALITY_TEXT | MMF_MODALITY_IMAGE) || !mmf_encoder_logit_scale(enc) ||
        !mmf_encoder_tokenizer(enc)) {
        rc = cli_usage("zeroshot", "%s is not a CLIP-style folder (text and image towers, logit scale, tokenizer files; model_type %s)", model, mmf_encoder_model_type(enc));
        goto done_enc;
    }
    char **lines = NULL, *buf = NULL;
    size_t n0, n = 0;
    if ((rc = cli_read_lines("zeroshot", list, &lines, &n0, &buf))) goto done_enc;
    for (size_t i = 0; i < n0; i++)
        if (lines[i][0]) lines[n++] = lines[i];
    int D = mmf_encoder_dim(enc);
    float *te = malloc(nl * (size_t)D * sizeof(float)), *ie = malloc((n ? n : 1) * (size_t)D * sizeof(float));
    uint8_t *failed = calloc(n ? n : 1, 1);
    if (!te || !ie || !failed) s = MMF_ERR_NOMEM;
    if (!s) s = mmf_encoder_embed_text(enc, (const char *const *)lab, nl, MMF_POOL_DEFAULT, 1, te);
    if (!s) s = mmf_encoder_embed_image_files(enc, (const char *const *)lines, n, MMF_POOL_DEFAULT, 1, skip_bad, failed, ie, on_error, NULL);
    if (s) rc = cli_fail("zeroshot", s, "embedding failed");
    else {
        float scale = mmf_encoder_logit_scale(enc), bias = mmf_encoder_logit_bias(enc);
        int sigmoid = mmf_encoder_logits_sigmoid(enc);
        double *pr = malloc(nl * sizeof(double));
        printf("image\tbest");
        for (size_t j = 0; j < nl; j++) printf("\t%s", lab[j]);
        putchar('\n');
        for (size_t i = 0; i < n && pr; i++) {
            printf("%s\t", lines[i]);
            if (failed[i]) { printf("failed\n"); continue; }
            double mx = -INFINITY, sum = 0;
            size_t best = 0;
            for (size_t j = 0; j < nl; j++) {
                double d = 0;
                for (int k = 0; k < D; k++) d += (double)ie[i * D + k] * te[j * D + k];
                pr[j] = scale * d + bias;
                if (pr[j] > mx) { mx = pr[j]; best = j; }
            }
            /* SigLIP: each label on its own, sigmoid(logit); CLIP: a softmax over the labels */
            if (sigmoid) for (size_t j = 0; j < nl; j++) pr[j] = 1.0 / (1.0 + exp(-pr[j]));
            else {
                for (size_t j = 0; j < nl; j++) sum += (pr[j] = exp(pr[j] - mx));
                for (size_t j = 0; j < nl; j++) pr[j] /= sum;
            }
            printf("%s", lab[best]);
            for (size_t j = 0; j < nl; j++) printf("\t%.6f", pr[j]);
            putchar('\n');
        }
        free(pr);
    }
    free(te);
    free(ie);
    free(failed);
    free(lines);
    free(buf);
done_enc:
    mmf_encoder_free(enc);
    free(lab);
    free(lbuf);
    return rc;
}

const mmf_cli_command mmf_cmd_zeroshot = {"zeroshot", "CLIP zero-shot image classification over label texts", run, help};
