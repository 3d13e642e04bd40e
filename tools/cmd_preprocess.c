/* mmfuse preprocess: image files -> pixel_values exactly as the model
 * folder's Hugging Face image processor makes them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "cli_failures.h"
#include "cli_lines.h"

static const char help[] =
    "Usage: mmfuse preprocess --model DIR --image-list F --out OUT.safetensors [options]\n\n"
    "Decodes every image (PNG or JPEG; alpha dropped as Pillow's convert(\"RGB\"),\n"
    "JPEG EXIF orientation applied) and preprocesses it as DIR/preprocessor_config.json\n"
    "says (CLIPImageProcessor, ViTImageProcessor, ConvNextImageProcessor: Pillow-exact\n"
    "resize, crop_pct, center crop, rescale, normalise). Writes \"pixel_values\"\n"
    "(F32, [N, 3, H, W]).\n\n"
    "Options:\n"
    "  --model DIR       folder with preprocessor_config.json (or the json file) (required)\n"
    "  --image-list F    one image path per line (blank lines skipped; - = stdin) (required)\n"
    "  --out OUT         output .safetensors, written atomically (required)\n"
    "  --threads N       decode in parallel (default: the cores this process may use, or MMFUSE_THREADS)\n"
    "  --skip-bad        report unreadable images, leave their rows zero and go on; adds\n"
    "                    \"failed\" (U8, [N]) and the messages in metadata \"failures\"\n"
    "                    (default: the first bad image stops the run, nothing is written)\n\n"
    "Example:\n"
    "  mmfuse preprocess --model models/clip-vit-base-patch32 --image-list photos.txt \\\n"
    "                    --out pixels.safetensors --threads 2\n";

static int run(int argc, char **argv) {
    const char *model = NULL, *list = NULL, *out = NULL, *v;
    long threads = cli_default_threads();
    int skip_bad = 0, bad = 0;
    for (int i = 1; i < argc && !bad; i++) {
        if (cli_opt(argc, argv, &i, "--model", &model, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--image-list", &list, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--out", &out, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--threads", &v, &bad)) { if (!bad && !cli_int("--threads", v, 1, 1024, &threads)) bad = 1; continue; }
        if (cli_flag(argv, i, "--skip-bad")) { skip_bad = 1; continue; }
        return cli_usage("preprocess", "unknown argument %s", argv[i]);
    }
    if (bad) return MMF_EXIT_USAGE;
    if (!model || !list || !out) return cli_usage("preprocess", "--model, --image-list and --out are required");
    mmf_image_processor *p;
    mmf_status s = mmf_image_processor_load(model, &p);
    if (s) return cli_fail("preprocess", s, "cannot load the image processor");
    char **lines, *buf;
    size_t n0, n = 0;
    int rc = cli_read_lines("preprocess", list, &lines, &n0, &buf);
    if (rc) { mmf_image_processor_free(p); return rc; }
    for (size_t i = 0; i < n0; i++)
        if (lines[i][0]) lines[n++] = lines[i];
    int C, H, W;
    mmf_image_processor_size(p, &C, &H, &W);
    size_t per = (size_t)C * H * W;
    float *px = malloc((n ? n : 1) * per * sizeof(float));
    uint8_t *failed = calloc(n ? n : 1, 1);
    cli_failures fl = {.cmd = "preprocess"};
    if (!px || !failed) s = MMF_ERR_NOMEM;
    else s = mmf_image_processor_files(p, (const char *const *)lines, n, skip_bad, (int)threads, failed, px, cli_failures_add, &fl);
    mmf_st_writer *w = s ? NULL : mmf_st_writer_new();
    if (!s && !w) s = MMF_ERR_NOMEM;
    int64_t sh[4] = {(int64_t)n, C, H, W};
    if (!s) s = mmf_st_writer_add(w, "pixel_values", MMF_DT_F32, 4, sh, px);
    if (!s && skip_bad) s = mmf_st_writer_add(w, "failed", MMF_DT_U8, 1, sh, failed);
    if (!s && fl.n) s = mmf_st_writer_meta(w, "failures", fl.text);
    if (!s) s = mmf_st_writer_meta(w, "model", model);
    if (!s) s = mmf_st_writer_finish(w, out);
    if (s) rc = cli_fail("preprocess", s, "preprocessing failed");
    else if (fl.n) fprintf(stderr, "mmfuse preprocess: %zu of %zu images failed (recorded in \"failed\")\n", fl.n, n);
    mmf_st_writer_free(w);
    free(fl.text);
    free(px);
    free(failed);
    free(lines);
    free(buf);
    mmf_image_processor_free(p);
    return rc;
}

const mmf_cli_command mmf_cmd_preprocess = {"preprocess", "decode and preprocess images as a model folder's HF image processor", run, help};
