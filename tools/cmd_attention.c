/* mmfuse attention: which image patches each word attends to, from an xmodal head. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static const char help[] =
    "Usage: mmfuse attention HEAD.safetensors --data X.safetensors --out MAPS.safetensors\n\n"
    "For a cross-modal transformer head (`mmfuse train-direct --model xmodal --records ...`)\n"
    "and the raw features it was trained on (an embedding file that train-direct wrote,\n"
    "e.g. DIR/test.safetensors), writes for every row the last layer's word -> patch\n"
    "attention, averaged over heads:\n"
    "  attention  F32 [N, 16, 16]  word slot x patch (a 4 x 4 grid over the image, row-major)\n"
    "  words      I32 [N, 16]      the word of each slot as a 0-based line of DIR/vocab.txt, -1 = empty\n"
    "  ids        I64 [N]          the rows' ids, when the data has them\n"
    "Drawing the maps over the images is left to the caller (each patch is a\n"
    "SIDE/4 x SIDE/4 square of the picture resized to SIDE x SIDE).\n\n"
    "Options:\n"
    "  --data FILE    features (required)\n"
    "  --out FILE     output safetensors (required)\n\n"
    "Example:\n"
    "  mmfuse attention runs/xm/head.safetensors --data runs/xm/test.safetensors --out runs/xm/test.attn.safetensors\n";

static int run(int argc, char **argv) {
    const char *head = NULL, *data = NULL, *out = NULL;
    int bad = 0;
    for (int i = 1; i < argc && !bad; i++) {
        if (cli_opt(argc, argv, &i, "--data", &data, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--out", &out, &bad)) continue;
        if (argv[i][0] != '-' && !head) { head = argv[i]; continue; }
        return cli_usage("attention", "unknown argument %s", argv[i]);
    }
    if (bad) return MMF_EXIT_USAGE;
    if (!head || !data || !out) return cli_usage("attention", "HEAD.safetensors, --data and --out are required");
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
    return rc;
}

const mmf_cli_command mmf_cmd_attention = {"attention", "word -> image patch attention maps of a cross-modal (xmodal) head", run, help};
