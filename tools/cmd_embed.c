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
    "  --pooling P          cls | mean | max | pooler | none | default (default: default =\n"
    "                       the folder's 1_Pooling config, else mean)\n"
    "  --normalize          L2-normalize each embedding (default: only if the folder has\n"
    "                       a sentence-transformers Normalize module)\n"
    "  --no-normalize       never normalize\n"
    "  --batch N            sequences per forward pass (default 32)\n"
    "  --threads N          CPU threads (default: the cores this process may use, or MMFUSE_THREADS)\n"
    "  --max-length N       tokens per input, specials included (default: the model's limit)\n"
    "  --precision P        fp32 | bf16 | int8 | auto (default fp32).\n"
    "                       bf16 needs a CPU with AVX512-BF16 and runs the transformer\n"
    "                       projections and FFN (BERT, ViT, CLIP) or every convolution\n"
    "                       (ResNet) as bf16 GEMMs with fp32 accumulation: about twice the\n"
    "                       GEMM rate, ~3 significant digits (cosine to fp32 >= 0.9999 on\n"
    "                       the test models). int8 needs VNNI and runs the transformer\n"
    "                       projections and FFN with int8 weights (per output channel) and\n"
    "                       int8 activations (per token); cosine to fp32 >= 0.99 on the test\n"
    "                       models; ResNet too (accurate, but slower than fp32 there so\n"
    "                       far: use bf16). auto: bf16 where the CPU and model\n"
    "                       run it, else fp32\n"
    "  --image-list F       images instead of text: one PNG/JPEG path per line (blank lines\n"
    "                       skipped; - = stdin), preprocessed as the folder's\n"
    "                       preprocessor_config.json says. vit: --pooling pooler (default when\n"
    "                       the checkpoint has one) | cls | mean (patch tokens); clip: the\n"
    "                       projected image features; resnet: the pooled features\n"
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

typedef struct embed_opts {
    const char *model, *text_file, *out, *image_list;
    const char *records, *text_model, *image_model;
    cli_records_opts rec;
    int skip_bad;
    mmf_pooling pooling;
    int normalize;
    long batch, threads, max_len;
    mmf_precision precision;
} embed_opts;

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
    p.progress = progress_labelled;
    p.progress_user = (void *)label;
    p.precision = o->precision;
    mmf_status s = mmf_encoder_load(dir, &p, enc);
    if (s) return cli_fail("embed", s, "cannot load the model");
    return MMF_EXIT_OK;
}

static int embed_records(const embed_opts *o) {
    cli_records r;
    int rc = cli_records_load("embed", &o->rec, &r);
    if (rc) return rc;
    const size_t N = r.n;
    if (N == 0) { cli_records_free(&r); fprintf(stderr, "mmfuse embed: error: %s holds no records\n", o->records); return MMF_EXIT_FAIL; }
    const char *dirs[2] = {o->text_model ? o->text_model : o->model, o->image_model ? o->image_model : o->model};
    const int want[2] = {MMF_MODALITY_TEXT, MMF_MODALITY_IMAGE};
    const char *names[2] = {"text", "image"}, *labels[2] = {"embed text", "embed image"};
    mmf_encoder *enc[2] = {NULL, NULL};
    float *data[2] = {NULL, NULL};
    int64_t dims[2] = {0, 0};
    int M = 0, col[2] = {-1, -1};
    uint8_t *present[2] = {NULL, NULL};
    for (int m = 0; m < 2 && !rc; m++) {
        if (!dirs[m]) continue;
        int explicit = (m == 0 ? o->text_model : o->image_model) != NULL;
        if (m == 1 && enc[0] && dirs[1] == dirs[0]) enc[1] = enc[0];
        else rc = load_encoder(o, dirs[m], labels[m], &enc[m]);
        if (rc) break;
        if (!(mmf_encoder_modalities(enc[m]) & want[m])) {
            if (explicit) rc = cli_usage("embed", "%s is a %s model without a%s tower", dirs[m], mmf_encoder_model_type(enc[m]), m ? "n image" : " text");
            if (enc[m] != enc[1 - m]) mmf_encoder_free(enc[m]);
            enc[m] = NULL;
            continue;
        }
        col[m] = M++;
    }
    if (!rc && M == 0) rc = cli_usage("embed", "--records needs --text-model DIR and/or --image-model DIR (or --model DIR)");
    /* embed the present inputs of each modality, compacted, then scatter back */
    for (int m = 0; m < 2 && !rc; m++) {
        if (!enc[m]) continue;
        char **in = m ? r.image : r.text;
        const char **list = malloc(N * sizeof *list);
        size_t *rows = malloc(N * sizeof *rows), k = 0;
        dims[m] = mmf_encoder_dim(enc[m]);
        data[m] = calloc(N * (size_t)dims[m], sizeof(float));
        present[m] = calloc(N, 1);
        if (!list || !rows || !data[m] || !present[m]) { free(list); free(rows); rc = cli_fail("embed", MMF_ERR_NOMEM, "out of memory"); break; }
        for (size_t i = 0; i < N; i++)
            if (in[i]) { list[k] = in[i]; rows[k++] = i; }
        float *out = malloc((k ? k : 1) * (size_t)dims[m] * sizeof(float));
        uint8_t *failed = calloc(k ? k : 1, 1);
        cli_failures fl = {.cmd = "embed"};
        mmf_status s = MMF_OK;
        if (!out || !failed) s = MMF_ERR_NOMEM;
        else if (k && m == 0) s = mmf_encoder_embed_text(enc[m], list, k, o->pooling, o->normalize, out);
        else if (k) s = mmf_encoder_embed_image_files(enc[m], list, k, o->pooling, o->normalize, o->skip_bad, failed, out, cli_failures_add, &fl);
        if (!s)
            for (size_t j = 0; j < k; j++) {
                if (failed[j]) continue;
                memcpy(data[m] + rows[j] * (size_t)dims[m], out + j * (size_t)dims[m], (size_t)dims[m] * sizeof(float));
                present[m][rows[j]] = 1;
            }
        if (!s && fl.n) fprintf(stderr, "mmfuse embed: %zu of %zu images failed and are marked absent\n", fl.n, k);
        free(fl.text);
        free(out);
        free(failed);
        free(list);
        free(rows);
        if (s) rc = cli_fail("embed", s, m ? "embedding the images failed" : "embedding the texts failed");
        else fprintf(stderr, "mmfuse embed: %s: %zu of %zu records present, dim %lld\n", names[m], k - fl.n, N, (long long)dims[m]);
    }
    if (!rc) {
        uint8_t *mask = malloc(N * (size_t)M);
        const char *wn[2], *wenc[2];
        const float *wd[2];
        int64_t wdim[2];
        /* each modality's encoder folder, absolute, so that a model trained on
         * this file (caption, vqa) can embed a new sample the same way */
        char absdir[2][PATH_MAX];
        for (int m = 0; m < 2; m++)
            if (col[m] >= 0) {
                wn[col[m]] = names[m]; wd[col[m]] = data[m]; wdim[col[m]] = dims[m];
                wenc[col[m]] = realpath(dirs[m], absdir[m]) ? absdir[m] : dirs[m];
            }
        if (!mask) rc = cli_fail("embed", MMF_ERR_NOMEM, "out of memory");
        else {
            for (size_t i = 0; i < N; i++)
                for (int m = 0; m < 2; m++)
                    if (col[m] >= 0) mask[i * (size_t)M + (size_t)col[m]] = present[m][i];
            mmf_embfile_spec sp = {.n_rows = (int64_t)N, .n_modalities = M, .names = wn, .dims = wdim, .data = wd,
                                   .mask = mask, .labels = r.labels, .n_classes = r.n_classes, .ids = r.ids,
                                   .label_names = r.label_names, .encoders = wenc};
            mmf_status s = mmf_embfile_write(o->out, &sp);
            if (s) rc = cli_fail("embed", s, "cannot write the output");
        }
        free(mask);
    }
    for (int m = 0; m < 2; m++) {
        free(data[m]);
        free(present[m]);
    }
    if (enc[1] && enc[1] != enc[0]) mmf_encoder_free(enc[1]);
    mmf_encoder_free(enc[0]);
    cli_records_free(&r);
    return rc;
}

static int run(int argc, char **argv) {
    embed_opts o = {.pooling = MMF_POOL_DEFAULT, .normalize = MMF_NORMALIZE_DEFAULT, .batch = 32, .threads = 0,
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
        return embed_records(&o);
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

    mmf_encoder_params p = mmf_encoder_params_default();
    p.n_threads = (int)o.threads;
    p.max_batch = (int)o.batch;
    p.max_length = (int)o.max_len;
    p.precision = o.precision;
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
