#include <stdio.h>
#include "cli.h"

static const char help[] =
    "Usage: mmfuse fuse HEAD.safetensors --data X.safetensors --out FUSED.safetensors [--threads N]\n\n"
    "Writes the multimodal embeddings (the layer before the head's output) of every\n"
    "row of X as an embedding file with one modality, \"fused\" [N, E], plus X's labels\n"
    "and ids. Rows where some modalities are absent are fused the way the operator\n"
    "defines (see `mmfuse fusions`); rows with none of the head's modalities present\n"
    "are marked absent in the output mask. The file is written atomically.\n\n"
    "Options:\n"
    "  --data FILE     embeddings to fuse (required)\n"
    "  --out FILE      output embedding file (required)\n"
    "  --threads N     (default: the cores this process may use, or MMFUSE_THREADS)\n\n"
    "Example:\n"
    "  mmfuse fuse gmu.head.safetensors --data test.safetensors --out test.fused.safetensors\n";

static int run(int argc, char **argv) {
    const char *head = NULL, *data = NULL, *out = NULL, *v;
    long threads = cli_default_threads();
    int bad = 0;
    for (int i = 1; i < argc && !bad; i++) {
        if (cli_opt(argc, argv, &i, "--data", &data, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--out", &out, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--threads", &v, &bad)) { if (bad || !cli_int("--threads", v, 1, 1024, &threads)) return MMF_EXIT_USAGE; continue; }
        if (argv[i][0] == '-' && argv[i][1]) return cli_usage("fuse", "unknown option %s", argv[i]);
        if (head) return cli_usage("fuse", "one head at a time (got %s and %s)", head, argv[i]);
        head = argv[i];
    }
    if (bad) return MMF_EXIT_USAGE;
    if (!head || !data || !out) return cli_usage("fuse", "need HEAD, --data FILE and --out FILE");
    mmf_head *h = NULL;
    mmf_embfile *f = NULL;
    mmf_status s = mmf_head_load(head, &h);
    if (s) return cli_fail("fuse", s, "cannot load the head");
    if ((s = mmf_embfile_open(data, &f))) { mmf_head_free(h); return cli_fail("fuse", s, "cannot use the data"); }
    s = mmf_head_fuse(h, f, out, (int)threads);
    int rc = s ? cli_fail("fuse", s, "fusing failed") : MMF_EXIT_OK;
    if (!s) printf("wrote %s: %lld rows x %lld\n", out, (long long)mmf_embfile_rows(f), (long long)mmf_head_emb_dim(h));
    mmf_embfile_close(f);
    mmf_head_free(h);
    return rc;
}

const mmf_cli_command mmf_cmd_fuse = {"fuse", "write the multimodal embeddings of a fusion head", run, help};
