/* mmfuse attention: which image patches each word attends to, from an xmodal
 * head; with --overlay, drawn over the pictures as PNG strips. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static const char help[] =
    "Usage: mmfuse attention HEAD.safetensors --data X.safetensors --out MAPS.safetensors\n"
    "                        [--overlay DIR --records F.jsonl] [--rows N] [--size PX] [--vocab FILE]\n\n"
    "For a cross-modal transformer head (`mmfuse train-direct --model xmodal --records ...`)\n"
    "and the raw features it was trained on (an embedding file that train-direct wrote,\n"
    "e.g. DIR/test.safetensors), writes for every row the last layer's word -> patch\n"
    "attention, averaged over heads:\n"
    "  attention  F32 [N, 16, 16]  word slot x patch (a 4 x 4 grid over the image, row-major)\n"
    "  words      I32 [N, 16]      the word of each slot as a 0-based line of DIR/vocab.txt, -1 = empty\n"
    "  ids        I64 [N]          the rows' ids, when the data has them\n"
    "The model sees each picture stretched to SIDE x SIDE (--image-side of train-direct)\n"
    "and cuts it into 4 x 4 squares of SIDE/4 pixels: patch k = row k / 4, column k mod 4.\n\n"
    "With --overlay DIR it also draws the first N rows: DIR/<id>.png is a strip of\n"
    "PX x PX panels, max(2, PX/32) pixels apart:\n"
    "  - the picture, stretched to a square as the model sees it;\n"
    "  - one panel per word of the row that the model tokenised (vocabulary order):\n"
    "    the picture with that word's 4 x 4 attention as a red heat map (each patch\n"
    "    blended towards red (240, 20, 20) with weight 0.75 x (a - min) / (max - min),\n"
    "    min and max over that word's 16 patches: its least attended patch keeps the\n"
    "    picture, its most attended is the reddest; a flat map draws no red) and the\n"
    "    patch boundaries as thin light lines;\n"
    "  - under them a caption row (24 pixels for PX >= 128, else 12): the record's\n"
    "    \"id\" (or \"row N\") under the picture, \"word NN%\" under each panel (NN =\n"
    "    the word's largest attention share: how concentrated it is; 6% = uniform),\n"
    "    in a built-in font of lowercase letters and digits (other characters print\n"
    "    as '?', words too long for the panel end in '.'; --no-caption drops the row).\n"
    "Width = (words + 1) x PX + words x gap, height = PX + the caption row.\n"
    "<id> is the row's id: the 0-based line of --records (the JSONL featurised into\n"
    "--data; blank lines skipped), whose \"image\" (relative to the JSONL file, as in\n"
    "embed --records) is the picture. Every row's record, image and words are checked\n"
    "before any PNG is written; each PNG is written atomically (temp file + rename).\n\n"
    "Options:\n"
    "  --data FILE      features (required)\n"
    "  --out FILE       output safetensors (required)\n"
    "  --overlay DIR    also write DIR/<id>.png for the first --rows rows (created if needed)\n"
    "  --records F      with --overlay: the JSONL records the data was featurised from (required)\n"
    "  --rows N         with --overlay: how many rows to draw, from the first [8]\n"
    "  --size PX        with --overlay: panel side in pixels, 16..1024 [128]\n"
    "  --vocab FILE     with --overlay: the head's vocabulary [vocab.txt beside HEAD]\n"
    "  --no-caption     with --overlay: no caption row\n\n"
    "Examples:\n"
    "  mmfuse attention runs/xm/head.safetensors --data runs/xm/test.safetensors --out runs/xm/test.attn.safetensors\n"
    "  mmfuse attention runs/xm/head.safetensors --data runs/xm/test.safetensors --out runs/xm/test.attn.safetensors \\\n"
    "      --overlay runs/xm/overlay --records data/emoji/test.jsonl --rows 4 --size 96\n";

static int run(int argc, char **argv) {
    const char *head = NULL, *data = NULL, *out = NULL, *overlay = NULL, *records = NULL, *vocab = NULL, *v = NULL;
    mmf_overlay_params op = mmf_overlay_params_default();
    int bad = 0;
    long n;
    for (int i = 1; i < argc && !bad; i++) {
        if (cli_opt(argc, argv, &i, "--data", &data, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--out", &out, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--overlay", &overlay, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--records", &records, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--vocab", &vocab, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--rows", &v, &bad)) {
            if (!bad && !cli_int("--rows", v, 1, 1000000, &n)) return MMF_EXIT_USAGE;
            op.rows = (int)n;
            continue;
        }
        if (cli_opt(argc, argv, &i, "--size", &v, &bad)) {
            if (!bad && !cli_int("--size", v, 16, 1024, &n)) return MMF_EXIT_USAGE;
            op.size = (int)n;
            continue;
        }
        if (cli_flag(argv, i, "--no-caption")) { op.caption = 0; continue; }
        if (argv[i][0] != '-' && !head) { head = argv[i]; continue; }
        return cli_usage("attention", "unknown argument %s", argv[i]);
    }
    if (bad) return MMF_EXIT_USAGE;
    if (!head || !data || !out) return cli_usage("attention", "HEAD.safetensors, --data and --out are required");
    if (overlay && !records) return cli_usage("attention", "--overlay needs --records F.jsonl (the records the data was featurised from)");
    if (!overlay && records) return cli_usage("attention", "--records goes with --overlay DIR");
    char vpath[4096];
    if (overlay && !vocab) {   /* train-direct --records writes vocab.txt beside head.safetensors */
        const char *slash = strrchr(head, '/');
        int dl = slash ? (int)(slash - head) : 1;
        snprintf(vpath, sizeof vpath, "%.*s/vocab.txt", dl, slash ? head : ".");
        vocab = vpath;
    }
    mmf_head *h = NULL;
    mmf_embfile *f = NULL;
    mmf_status s = mmf_head_load(head, &h);
    if (s) return cli_fail("attention", s, "cannot load the head");
    s = mmf_embfile_open(data, &f);
    if (!s) s = mmf_xmodal_attention(h, f, out);
    int rc = s ? cli_fail("attention", s, "cannot write the attention maps") : MMF_EXIT_OK;
    if (!s) fprintf(stderr, "attention: wrote %s (%lld rows)\n", out, (long long)mmf_embfile_rows(f));
    mmf_embfile_close(f);
    mmf_head_free(h);
    if (!rc && overlay) {
        int written = 0;
        s = mmf_xmodal_overlay(out, records, vocab, overlay, &op, &written);
        if (s) rc = cli_fail("attention", s, "cannot draw the overlays");
        else fprintf(stderr, "attention: wrote %d overlays to %s/\n", written, overlay);
    }
    return rc;
}

const mmf_cli_command mmf_cmd_attention = {"attention", "word -> image patch attention maps of a cross-modal (xmodal) head, as data or PNG overlays", run, help};
