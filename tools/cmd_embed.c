/* mmfuse embed: inputs -> an encoder -> OUT.safetensors.
 * Inputs are gathered by kind (text lines now; the image encoders add an
 * --image-list branch beside embed_texts, and --records later), each kind a
 * function that adds its tensors to the writer. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "cli_failures.h"
#include "cli_lines.h"
#include "cli_records.h"
#include "cli_dist.h"
#include "cli_embed.h"

static const char help[] =
    "Usage: mmfuse embed --model DIR --text-file F --out OUT.safetensors [options]\n"
    "       mmfuse embed --model DIR --image-list F --out OUT.safetensors [options]\n"
    "       mmfuse embed --records F.jsonl [--text-model DIR] [--image-model DIR] --out OUT.safetensors\n\n"
    "Runs a pretrained encoder from a Hugging Face model folder (config.json,\n"
    "model.safetensors or a sharded index, tokenizer files, optional\n"
    "sentence-transformers modules.json + 1_Pooling) over every input and writes\n"
    "tensor \"embeddings\" (F32, [N, D]) to OUT; with --pooling none, \"embeddings\"\n"
    "is [N, T, D] (T = longest input) plus \"attention_mask\" (U8, [N, T]).\n"
    "Inputs longer than the model allows are truncated, with a notice.\n\n"
    "Options:\n"
    "  --model DIR          model folder (required)\n"
    "  --text-file F        one text per line (UTF-8; an empty line is an input too; - = stdin)\n"
    "  --out OUT            output .safetensors (written atomically) (required)\n"
    "  --pooling P          cls | mean | max | pooler | none | cls_mean | default (default:\n"
    "                       default = the folder's 1_Pooling config, else mean; cls_mean:\n"
    "                       DINOv2's [CLS, mean of patches], twice the hidden size)\n"
    "  --normalize          L2-normalize each embedding (default: only if the folder has\n"
    "                       a sentence-transformers Normalize module)\n"
    "  --no-normalize       never normalize\n"
    "  --batch N            sequences per forward pass (default 32)\n"
    "  --threads N          CPU threads (default: the cores this process may use, or MMFUSE_THREADS)\n"
    "  --max-length N       tokens per input, specials included (default: the model's limit)\n"
    "  --precision P        fp32 | bf16 | int8 | auto (default auto, or MMFUSE_PRECISION).\n"
    "                       fp32 matches the PyTorch reference (~1e-6): ask for it where\n"
    "                       you compare numbers. bf16 needs a CPU with AVX512-BF16 and runs\n"
    "                       the transformer projections and FFN (BERT, ViT, CLIP) or every\n"
    "                       convolution (ResNet, the mmfuse_cnn tower) as bf16 GEMMs with\n"
    "                       fp32 accumulation: about twice the GEMM rate, ~3 significant\n"
    "                       digits (cosine to fp32 >= 0.999). int8 needs VNNI: int8 weights\n"
    "                       (per output channel), activations quantised as they come, int32\n"
    "                       sums; cosine to fp32 >= 0.99; never chosen for you. auto: bf16\n"
    "                       where the model runs it and bf16 pays on this core (`mmfuse info`\n"
    "                       says), else fp32\n"
    "  --image-list F       images instead of text: one PNG/JPEG path per line (blank lines\n"
    "                       skipped; - = stdin), preprocessed as the folder's\n"
    "                       preprocessor_config.json says. vit: --pooling pooler (default when\n"
    "                       the checkpoint has one) | cls | mean (patch tokens); dinov2: cls\n"
    "                       (default) | mean | cls_mean; clip: the projected image features;\n"
    "                       resnet: the pooled features\n"
    "  --skip-bad           with --image-list: an image that cannot be read is reported,\n"
    "                       its row left zero, and the rest embedded; the output then holds\n"
    "                       \"failed\" (U8, [N], 1 = failed) and the messages in the\n"
    "                       metadata key \"failures\" (default: the first bad image stops the run)\n\n"
    "Records (an embedding file for the fusion heads, docs/embedding-file.md):\n"
    "  --records F          JSONL, one object a line: {\"id\", \"text\", \"image\", \"label\"}; text or\n"
    "                       image may be absent (missing, null or \"\"); image paths are\n"
    "                       relative to the folder of F. Writes one tensor per modality\n"
    "                       (\"text\" [N, Dt], \"image\" [N, Di]), \"mask\" (U8 [N, M], 1 = present),\n"
    "                       \"labels\" (I64 [N]) when the records have the label field, \"ids\"\n"
    "                       (I64 [N]) and metadata \"modalities\" (e.g. text,image)\n"
    "  --text-model DIR     encoder for the text modality (default: --model if it has a text tower)\n"
    "  --image-model DIR    encoder for the image modality (default: --model if it has an image\n"
    "                       tower); a modality without a model is not written\n"
    "  --text-field K       record field of the text (default text); an array of strings\n"
    "                       (e.g. tags) is joined with spaces\n"
    "  --image-field K      record field of the image path (default image)\n"
    "  --label-field K      record field of the class (default label; none = no labels): a\n"
    "                       class id, or a name looked up in the class list\n"
    "  --classes F          class list: a JSON array of names, or an object holding one\n"
    "                       under --classes-key (default: classes.json beside the records,\n"
    "                       when it exists); the index is the class id\n"
    "  --classes-key K      key of the list in the --classes object (default: the label field\n"
    "                       + \"s\", e.g. groups for --label-field group; subgroups for label)\n"
    "  --id-field K         record field for \"ids\": an integer as is, a string as its\n"
    "                       FNV-1a 64-bit hash with the top bit cleared (so the same hexcode\n"
    "                       gets the same id in every file) (default: the row number)\n"
    "  --skip-bad           an unreadable image is reported and its image marked absent\n\n"
    "Many processes (docs/scale.md): under `mpirun -np N mmfuse embed ...` (or srun) each rank\n"
    "embeds a contiguous share of the inputs with its own --threads, and the ranks write one\n"
    "OUT together, the file one process writes. Rows go to OUT.parts/ chunk by chunk first\n"
    "(a progress file per rank), removed once OUT is in place.\n"
    "  --resume             after a failed run, reuse the rows OUT.parts/ holds (the same\n"
    "                       command and number of ranks); in one process, --resume also makes\n"
    "                       the run keep progress in OUT.parts/ (without it, nothing is kept)\n"
    "  --chunk N            rows embedded between progress records (default 1024)\n\n"
    "A progress bar goes to stderr when it is a terminal (or MMFUSE_PROGRESS=1).\n\n"
    "Examples:\n"
    "  mmfuse embed --model models/all-MiniLM-L6-v2 --text-file captions.txt \\\n"
    "               --out captions.safetensors --threads 2\n"
    "  mmfuse embed --model models/clip-vit-base-patch32 --image-list photos.txt \\\n"
    "               --out photos.safetensors --normalize --skip-bad\n"
    "  mmfuse embed --model models/resnet-50 --image-list photos.txt \\\n"
    "               --out photos.safetensors --precision bf16 --batch 16\n"
    "  mmfuse embed --records data/emoji/train.jsonl --text-model models/emoji-text \\\n"
    "               --image-model models/emoji-cnn --label-field group --out train.safetensors\n";



static void progress(size_t done, size_t total, void *user) {
    (void)user;
    cli_progress("embed", (long)done, (long)total);
}

static int embed_texts(const embed_opts *o, mmf_encoder *enc, mmf_st_writer *w) {
    char **lines, *buf;
    size_t n;
    int rc = cli_read_lines("embed", o->text_file, &lines, &n, &buf);
    if (rc) return rc;
    const char *const *texts = (const char *const *)lines;
    mmf_status s;
    if (o->pooling == MMF_POOL_NONE) {
        int32_t *len = malloc((n ? n : 1) * sizeof *len);
        int T = 1;
        s = len ? mmf_encoder_text_lengths(enc, texts, n, len) : MMF_ERR_NOMEM;
        for (size_t i = 0; !s && i < n; i++) if (len[i] > T) T = len[i];
        free(len);
        int D = mmf_encoder_dim(enc);
        float *out = NULL;
        uint8_t *mask = NULL;
        if (!s) {
            out = malloc((n ? n : 1) * (size_t)T * D * sizeof(float));
            mask = malloc((n ? n : 1) * (size_t)T);
            if (!out || !mask) { fprintf(stderr, "mmfuse embed: error: out of memory for %zu x %d x %d states\n", n, T, D); rc = MMF_EXIT_FAIL; }
        }
        if (!s && !rc) s = mmf_encoder_embed_text_tokens(enc, texts, n, T, out, mask);
        int64_t sh[3] = {(int64_t)n, T, D};
        if (!s && !rc) s = mmf_st_writer_add(w, "embeddings", MMF_DT_F32, 3, sh, out);
        if (!s && !rc) s = mmf_st_writer_add(w, "attention_mask", MMF_DT_U8, 2, sh, mask);
        free(out);
        free(mask);
    } else {
        int D = mmf_encoder_dim(enc);
        float *out = malloc((n ? n : 1) * (size_t)D * sizeof(float));
        s = out ? mmf_encoder_embed_text(enc, texts, n, o->pooling, o->normalize, out) : MMF_ERR_NOMEM;
        int64_t sh[2] = {(int64_t)n, D};
        if (!s) s = mmf_st_writer_add(w, "embeddings", MMF_DT_F32, 2, sh, out);
        free(out);
    }
    free(lines);
    free(buf);
    if (rc) return rc;
    if (s) return cli_fail("embed", s, "embedding failed");
    return MMF_EXIT_OK;
}

/* --image-list: paths -> "embeddings" [N, D] (+ "failed" [N] with --skip-bad) */
static int embed_images(const embed_opts *o, mmf_encoder *enc, mmf_st_writer *w) {
    char **lines, *buf;
    size_t n0, n = 0;
    int rc = cli_read_lines("embed", o->image_list, &lines, &n0, &buf);
    if (rc) return rc;
    for (size_t i = 0; i < n0; i++)
        if (lines[i][0]) lines[n++] = lines[i];
    if (n == 0) { free(lines); free(buf); fprintf(stderr, "mmfuse embed: error: %s lists no images\n", o->image_list); return MMF_EXIT_FAIL; }
    int D = mmf_encoder_dim(enc);
    float *out = malloc(n * (size_t)D * sizeof(float));
    uint8_t *failed = calloc(n, 1);
    cli_failures fl = {.cmd = "embed"};
    mmf_status s = out && failed ? mmf_encoder_embed_image_files(enc, (const char *const *)lines, n, o->pooling, o->normalize,
                                                                o->skip_bad, failed, out, cli_failures_add, &fl)
                                 : MMF_ERR_NOMEM;
    int64_t sh[2] = {(int64_t)n, D};
    if (!s) s = mmf_st_writer_add(w, "embeddings", MMF_DT_F32, 2, sh, out);
    if (!s && o->skip_bad) s = mmf_st_writer_add(w, "failed", MMF_DT_U8, 1, sh, failed);
    if (!s && o->skip_bad) {
        char cnt[32];
        snprintf(cnt, sizeof cnt, "%zu", fl.n);
        s = mmf_st_writer_meta(w, "failed_count", cnt);
        if (!s && fl.n) s = mmf_st_writer_meta(w, "failures", fl.text);
        if (fl.n) fprintf(stderr, "mmfuse embed: %zu of %zu images failed (recorded in \"failed\")\n", fl.n, n);
    }
    free(fl.text);
    free(out);
    free(failed);
    free(lines);
    free(buf);
    if (s) return cli_fail("embed", s, "embedding failed");
    return MMF_EXIT_OK;
}

/* --records: JSONL -> one tensor per modality + mask, labels, ids (docs/embedding-file.md) */
static void progress_labelled(size_t done, size_t total, void *user) {
    cli_progress((const char *)user, (long)done, (long)total);
}

static int load_encoder(const embed_opts *o, const char *dir, const char *label, mmf_encoder **enc) {
    mmf_encoder_params p = mmf_encoder_params_default();
    p.n_threads = (int)o->threads;
    p.max_batch = (int)o->batch;
    p.max_length = (int)o->max_len;
    p.progress = cli_dist_rank() == 0 ? progress_labelled : NULL;
    p.progress_user = (void *)label;
    p.precision = o->precision;
    if (o->pooling == MMF_POOL_CLS_MEAN) p.pooling = MMF_POOL_CLS_MEAN;   /* it sets the dim */
    mmf_status s = mmf_encoder_load(dir, &p, enc);
    if (s) return cli_fail("embed", s, "cannot load the model");
    return MMF_EXIT_OK;
}

int embed_rec_open(const embed_opts *o, embed_rec *er) {
    memset(er, 0, sizeof *er);
    er->col[0] = er->col[1] = -1;
    int rc = cli_records_load("embed", &o->rec, &er->r);
    if (rc) return rc;
    if (er->r.n == 0) { fprintf(stderr, "mmfuse embed: error: %s holds no records\n", o->records); return MMF_EXIT_FAIL; }
    er->dirs[0] = o->text_model ? o->text_model : o->model;
    er->dirs[1] = o->image_model ? o->image_model : o->model;
    const int want[2] = {MMF_MODALITY_TEXT, MMF_MODALITY_IMAGE};
    const char *labels[2] = {"embed text", "embed image"};
    mmf_encoder **enc = er->enc;
    for (int m = 0; m < 2 && !rc; m++) {
        if (!er->dirs[m]) continue;
        int explicit = (m == 0 ? o->text_model : o->image_model) != NULL;
        if (m == 1 && enc[0] && er->dirs[1] == er->dirs[0]) enc[1] = enc[0];
        else rc = load_encoder(o, er->dirs[m], labels[m], &enc[m]);
        if (rc) break;
        if (!(mmf_encoder_modalities(enc[m]) & want[m])) {
            if (explicit) rc = cli_usage("embed", "%s is a %s model without a%s tower", er->dirs[m], mmf_encoder_model_type(enc[m]), m ? "n image" : " text");
            if (enc[m] != enc[1 - m]) mmf_encoder_free(enc[m]);
            enc[m] = NULL;
            continue;
        }
        er->dims[m] = mmf_encoder_dim(enc[m]);
        er->col[m] = er->M++;
    }
    if (!rc && er->M == 0) rc = cli_usage("embed", "--records needs --text-model DIR and/or --image-model DIR (or --model DIR)");
    return rc;
}

void embed_rec_close(embed_rec *er) {
    if (er->enc[1] && er->enc[1] != er->enc[0]) mmf_encoder_free(er->enc[1]);
    mmf_encoder_free(er->enc[0]);
    er->enc[0] = er->enc[1] = NULL;
    cli_records_free(&er->r);
}

/* Records [lo, hi): the present inputs of each modality embedded compacted,
 * then scattered back to their rows; absent rows stay zero. */
int embed_rec_rows(const embed_opts *o, embed_rec *er, size_t lo, size_t hi, float *data[2], uint8_t *mask,
                   size_t present[2], size_t failed[2], cli_failures *fl) {
    const size_t n = hi - lo;
    const int M = er->M;
    int rc = MMF_EXIT_OK;
    memset(mask, 0, n * (size_t)M);
    for (int m = 0; m < 2 && !rc; m++) {
        if (!er->enc[m]) continue;
        const size_t dm = (size_t)er->dims[m];
        char **in = m ? er->r.image : er->r.text;
        const char **list = malloc((n ? n : 1) * sizeof *list);
        size_t *rows = malloc((n ? n : 1) * sizeof *rows), k = 0;
        float *out = malloc((n ? n : 1) * dm * sizeof(float));
        uint8_t *fail = calloc(n ? n : 1, 1);
        if (!list || !rows || !out || !fail) { free(list); free(rows); free(out); free(fail); return cli_fail("embed", MMF_ERR_NOMEM, "out of memory"); }
        memset(data[m], 0, n * dm * sizeof(float));
        for (size_t i = 0; i < n; i++)
            if (in[lo + i]) { list[k] = in[lo + i]; rows[k++] = i; }
        size_t nf0 = fl->n;
        mmf_status s = MMF_OK;
        if (k && m == 0) s = mmf_encoder_embed_text(er->enc[m], list, k, o->pooling, o->normalize, out);
        else if (k) s = mmf_encoder_embed_image_files(er->enc[m], list, k, o->pooling, o->normalize, o->skip_bad, fail, out, cli_failures_add, fl);
        if (!s)
            for (size_t j = 0; j < k; j++) {
                if (fail[j]) continue;
                memcpy(data[m] + rows[j] * dm, out + j * dm, dm * sizeof(float));
                mask[rows[j] * (size_t)M + (size_t)er->col[m]] = 1;
            }
        present[m] += k - (fl->n - nf0);
        failed[m] += fl->n - nf0;
        free(out);
        free(fail);
        free(list);
        free(rows);
        if (s) rc = cli_fail("embed", s, m ? "embedding the images failed" : "embedding the texts failed");
    }
    return rc;
}

void embed_rec_report(const embed_rec *er, const size_t present[2], const size_t failed[2]) {
    static const char *names[2] = {"text", "image"};
    for (int m = 0; m < 2; m++) {
        if (!er->enc[m]) continue;
        if (failed[m]) fprintf(stderr, "mmfuse embed: %zu of %zu images failed and are marked absent\n", failed[m], present[m] + failed[m]);
        fprintf(stderr, "mmfuse embed: %s: %zu of %zu records present, dim %lld\n", names[m], present[m], er->r.n, (long long)er->dims[m]);
    }
}

/* The embedding file's spec for er (data and mask as given; NULL for a layout).
 * absdir holds each modality's encoder folder made absolute, so that a model
 * trained on the file (caption, vqa) can embed a new sample the same way. */
void embed_rec_spec(const embed_rec *er, float *const data[2], const uint8_t *mask, char absdir[2][PATH_MAX],
                    const char *wn[2], const char *wenc[2], const float *wd[2], int64_t wdim[2], mmf_embfile_spec *sp) {
    static const char *names[2] = {"text", "image"};
    for (int m = 0; m < 2; m++)
        if (er->col[m] >= 0) {
            wn[er->col[m]] = names[m]; wd[er->col[m]] = data ? data[m] : NULL; wdim[er->col[m]] = er->dims[m];
            wenc[er->col[m]] = realpath(er->dirs[m], absdir[m]) ? absdir[m] : er->dirs[m];
        }
    mmf_embfile_spec s = {.n_rows = (int64_t)er->r.n, .n_modalities = er->M, .names = wn, .dims = wdim, .data = data ? wd : NULL,
                          .mask = mask, .labels = er->r.labels, .n_classes = er->r.n_classes, .ids = er->r.ids,
                          .label_names = er->r.label_names, .encoders = wenc};
    *sp = s;
}

static int embed_records(const embed_opts *o) {
    embed_rec er;
    int rc = embed_rec_open(o, &er);
    const size_t N = er.r.n;
    float *data[2] = {NULL, NULL};
    uint8_t *mask = NULL;
    size_t present[2] = {0, 0}, failed[2] = {0, 0};
    if (!rc) {
        for (int m = 0; m < 2; m++)
            if (er.enc[m] && !(data[m] = malloc(N * (size_t)er.dims[m] * sizeof(float)))) rc = cli_fail("embed", MMF_ERR_NOMEM, "out of memory");
        if (!rc && !(mask = malloc(N * (size_t)er.M))) rc = cli_fail("embed", MMF_ERR_NOMEM, "out of memory");
    }
    cli_failures fl = {.cmd = "embed"};
    if (!rc) rc = embed_rec_rows(o, &er, 0, N, data, mask, present, failed, &fl);
    free(fl.text);
    if (!rc) {
        embed_rec_report(&er, present, failed);
        char absdir[2][PATH_MAX];
        const char *wn[2], *wenc[2];
        const float *wd[2];
        int64_t wdim[2];
        mmf_embfile_spec sp;
        embed_rec_spec(&er, data, mask, absdir, wn, wenc, wd, wdim, &sp);
        mmf_status s = mmf_embfile_write(o->out, &sp);
        if (s) rc = cli_fail("embed", s, "cannot write the output");
    }
    free(data[0]);
    free(data[1]);
    free(mask);
    embed_rec_close(&er);
    return rc;
}

/* Row shards with progress files: under mpirun, and for --resume in one process. */
static int sharded(const embed_opts *o) { return cli_dist_size() > 1 || o->resume; }

static int run(int argc, char **argv) {
    embed_opts o = {.precision = mmf_default_precision(), .pooling = MMF_POOL_DEFAULT, .normalize = MMF_NORMALIZE_DEFAULT, .batch = 32, .threads = 0, .chunk = 1024,
                    .argc = argc, .argv = argv,
                    .rec = {.text_field = "text", .image_field = "image", .label_field = "label"}};
    o.threads = cli_default_threads();
    const char *v;
    int bad = 0;
    for (int i = 1; i < argc && !bad; i++) {
        if (cli_opt(argc, argv, &i, "--model", &o.model, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--text-file", &o.text_file, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--out", &o.out, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--image-list", &o.image_list, &bad)) continue;
        if (cli_flag(argv, i, "--skip-bad")) { o.skip_bad = 1; continue; }
        if (cli_flag(argv, i, "--resume")) { o.resume = 1; continue; }
        if (cli_opt(argc, argv, &i, "--chunk", &v, &bad)) { if (!bad && !cli_int("--chunk", v, 1, 1 << 24, &o.chunk)) bad = 1; continue; }
        if (cli_opt(argc, argv, &i, "--records", &o.records, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--text-model", &o.text_model, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--image-model", &o.image_model, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--text-field", &o.rec.text_field, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--image-field", &o.rec.image_field, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--label-field", &o.rec.label_field, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--classes", &o.rec.classes, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--classes-key", &o.rec.classes_key, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--id-field", &o.rec.id_field, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--pooling", &v, &bad)) {
            if (!bad && mmf_pooling_parse(v, &o.pooling)) return cli_usage("embed", "--pooling %s: expected cls, mean, max, pooler, none or default", v);
            continue;
        }
        if (cli_flag(argv, i, "--normalize")) { o.normalize = 1; continue; }
        if (cli_flag(argv, i, "--no-normalize")) { o.normalize = 0; continue; }
        if (cli_opt(argc, argv, &i, "--batch", &v, &bad)) { if (!bad && !cli_int("--batch", v, 1, 65536, &o.batch)) bad = 1; continue; }
        if (cli_opt(argc, argv, &i, "--threads", &v, &bad)) { if (!bad && !cli_int("--threads", v, 1, 1024, &o.threads)) bad = 1; continue; }
        if (cli_opt(argc, argv, &i, "--max-length", &v, &bad)) { if (!bad && !cli_int("--max-length", v, 1, 1 << 20, &o.max_len)) bad = 1; continue; }
        if (cli_opt(argc, argv, &i, "--precision", &v, &bad)) {
            if (bad) continue;
            if (!cli_precision("embed", v, &o.precision)) return MMF_EXIT_USAGE;
            continue;
        }
        return cli_usage("embed", "unknown argument %s", argv[i]);
    }
    if (bad) return MMF_EXIT_USAGE;
    if (o.records) {
        if (!o.out) return cli_usage("embed", "--out OUT.safetensors is required");
        if (o.text_file || o.image_list) return cli_usage("embed", "--records goes without --text-file / --image-list");
        if (o.pooling == MMF_POOL_NONE) return cli_usage("embed", "--records writes pooled embeddings: --pooling none does not apply");
        if (o.rec.label_field && !strcmp(o.rec.label_field, "none")) o.rec.label_field = NULL;
        o.rec.path = o.records;
        return sharded(&o) ? embed_sharded(&o) : embed_records(&o);
    }
    if (o.text_model || o.image_model || o.rec.classes || o.rec.id_field)
        return cli_usage("embed", "--text-model, --image-model, --classes and --id-field go with --records");
    if (!o.model) return cli_usage("embed", "--model DIR is required");
    if (!o.out) return cli_usage("embed", "--out OUT.safetensors is required");
    if (!o.text_file && !o.image_list) return cli_usage("embed", "give the inputs: --text-file F or --image-list F");
    if (o.text_file && o.image_list) return cli_usage("embed", "--text-file and --image-list go in separate runs");
    if (o.skip_bad && !o.image_list) return cli_usage("embed", "--skip-bad applies to --image-list");
    if (o.image_list && o.pooling == MMF_POOL_NONE) return cli_usage("embed", "--pooling none is for text; images need a pooling");
    if (o.pooling == MMF_POOL_NONE && o.normalize == 1) return cli_usage("embed", "--normalize applies to pooled embeddings, not --pooling none");
    if (sharded(&o)) return embed_sharded(&o);

    mmf_encoder_params p = mmf_encoder_params_default();
    p.n_threads = (int)o.threads;
    p.max_batch = (int)o.batch;
    p.max_length = (int)o.max_len;
    p.precision = o.precision;
    if (o.pooling == MMF_POOL_CLS_MEAN) p.pooling = MMF_POOL_CLS_MEAN;   /* it sets the dim */
    p.progress = progress;
    mmf_encoder *enc;
    mmf_status s = mmf_encoder_load(o.model, &p, &enc);
    if (s) return cli_fail("embed", s, "cannot load the model");
    mmf_st_writer *w = mmf_st_writer_new();
    int rc = w ? MMF_EXIT_OK : MMF_EXIT_FAIL;
    if (!rc) {
        if (o.image_list) {
            if (!(mmf_encoder_modalities(enc) & MMF_MODALITY_IMAGE)) rc = cli_usage("embed", "%s is a %s model without an image tower", o.model, mmf_encoder_model_type(enc));
            else rc = embed_images(&o, enc, w);
        } else if (!(mmf_encoder_modalities(enc) & MMF_MODALITY_TEXT)) rc = cli_usage("embed", "%s is a %s model without a text tower", o.model, mmf_encoder_model_type(enc));
        else rc = embed_texts(&o, enc, w);
    }
    if (!rc) {
        mmf_pooling pool = o.pooling == MMF_POOL_DEFAULT ? mmf_encoder_default_pooling(enc) : o.pooling;
        int norm = o.normalize == MMF_NORMALIZE_DEFAULT ? mmf_encoder_default_normalize(enc) : o.normalize;
        if (pool == MMF_POOL_NONE) norm = 0;
        mmf_st_writer_meta(w, "model", o.model);
        mmf_st_writer_meta(w, "model_type", mmf_encoder_model_type(enc));
        mmf_st_writer_meta(w, "pooling", mmf_pooling_name(pool));
        mmf_st_writer_meta(w, "normalize", norm ? "true" : "false");
        s = mmf_st_writer_finish(w, o.out);
        if (s) rc = cli_fail("embed", s, "cannot write the output");
    }
    mmf_st_writer_free(w);
    mmf_encoder_free(enc);
    return rc;
}

const mmf_cli_command mmf_cmd_embed = {"embed", "embed text with a pretrained encoder into a safetensors file", run, help};
