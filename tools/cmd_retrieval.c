/* mmfuse retrieval: cross-modal retrieval scores over paired ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "cli_embfile.h"

static const char help[] =
    "Usage: mmfuse retrieval EMB.safetensors [--a NAME] [--b NAME] [options]\n\n"
    "Evaluates cross-modal retrieval between two embedding tensors that share a\n"
    "space (e.g. text and image from CLIP or an align head): every row of A\n"
    "ranks all rows of B (A -> B) and every row of B ranks all rows of A\n"
    "(B -> A), exactly (BLAS). A row is relevant to a query when their pair ids\n"
    "are equal. Prints R@1, R@5, R@10 and mAP for both directions.\n\n"
    "Options:\n"
    "  --a NAME          first tensor [N, D] (default: text)\n"
    "  --b NAME          second tensor [M, D] (default: image)\n"
    "  --b-file F        read B (and its ids) from another safetensors file\n"
    "  --a-ids NAME      pair ids of A, integer [N] (default: A_ids, else ids, else\n"
    "                    row numbers)\n"
    "  --b-ids NAME      pair ids of B (default: B_ids, else ids, else row numbers)\n"
    "  --metric M        cosine | dot | l2 (default: cosine)\n"
    "  --threads N       threads (default: 1)\n"
    "  --json            one JSON object instead of a table\n\n"
    "Example:\n"
    "  mmfuse retrieval clip_emb.safetensors --a text --b image --threads 2\n";

/* ids: explicit name, else "<tensor>_ids", else "ids", else row numbers */
static int pair_ids(const char *file, const char *tensor, const char *name, size_t n, int64_t **ids) {
    if (name) return cli_read_ids("retrieval", file, name, n, 0, ids);
    char buf[256];
    snprintf(buf, sizeof buf, "%s_ids", tensor);
    if (!cli_read_ids("retrieval", file, buf, n, 1, ids)) return 0;
    if (!*ids) {
        mmf_safetensors *st;
        int has = 0;
        if (mmf_st_open(file, &st) == MMF_OK) {
            const mmf_tensor_info *t = mmf_st_find(st, "ids");
            has = t && t->numel == (int64_t)n;
            mmf_st_close(st);
        }
        if (has && !cli_read_ids("retrieval", file, "ids", n, 1, ids)) return 0;
    }
    if (!*ids) {
        *ids = malloc((n ? n : 1) * sizeof **ids);
        if (!*ids) return 0;
        for (size_t i = 0; i < n; i++) (*ids)[i] = (int64_t)i;
    }
    return 1;
}

static int run(int argc, char **argv) {
    const char *file = NULL, *bfile = NULL, *a = "text", *b = "image", *aid = NULL, *bid = NULL, *v;
    mmf_metric metric = MMF_METRIC_COSINE;
    int bad = 0, json = 0, nt = 1;
    long iv;
    for (int i = 1; i < argc; i++) {
        if (cli_opt(argc, argv, &i, "--a", &v, &bad)) a = v;
        else if (cli_opt(argc, argv, &i, "--b", &v, &bad)) b = v;
        else if (cli_opt(argc, argv, &i, "--b-file", &v, &bad)) bfile = v;
        else if (cli_opt(argc, argv, &i, "--a-ids", &v, &bad)) aid = v;
        else if (cli_opt(argc, argv, &i, "--b-ids", &v, &bad)) bid = v;
        else if (cli_opt(argc, argv, &i, "--metric", &v, &bad)) {
            if (!bad && mmf_metric_parse(v, &metric)) return cli_usage("retrieval", "--metric: %s", mmf_last_error());
        } else if (cli_opt(argc, argv, &i, "--threads", &v, &bad)) {
            if (bad || !cli_int("--threads", v, 1, 1024, &iv)) return MMF_EXIT_USAGE;
            nt = (int)iv;
        } else if (cli_flag(argv, i, "--json")) json = 1;
        else if (argv[i][0] == '-' && argv[i][1]) return cli_usage("retrieval", "unknown option %s", argv[i]);
        else if (!file) file = argv[i];
        else return cli_usage("retrieval", "one embedding file at a time (use --b-file for a second)");
        if (bad) return MMF_EXIT_USAGE;
    }
    if (!file) return cli_usage("retrieval", "missing EMB.safetensors");
    if (!bfile) bfile = file;
    float *A = NULL, *B = NULL;
    int64_t *ia = NULL, *ib = NULL;
    size_t na, nb;
    int da, db, rc = MMF_EXIT_FAIL;
    if (!cli_read_matrix("retrieval", file, a, &A, &na, &da)) goto done;
    if (!cli_read_matrix("retrieval", bfile, b, &B, &nb, &db)) goto done;
    if (da != db) {
        fprintf(stderr, "mmfuse retrieval: dimension mismatch: %s \"%s\" has %d, %s \"%s\" has %d\n", file, a, da, bfile, b, db);
        goto done;
    }
    if (!pair_ids(file, a, aid, na, &ia) || !pair_ids(bfile, b, bid, nb, &ib)) goto done;
    mmf_retrieval_scores ab, ba;
    mmf_status s = mmf_retrieval_eval(A, ia, na, B, ib, nb, da, metric, nt, &ab);
    if (!s) s = mmf_retrieval_eval(B, ib, nb, A, ia, na, da, metric, nt, &ba);
    if (s) { cli_fail("retrieval", s, "evaluation failed"); goto done; }
    if (json) {
        printf("{\"metric\": \"%s\", \"%s->%s\": {\"r1\": %.6f, \"r5\": %.6f, \"r10\": %.6f, \"map\": %.6f, \"queries\": %zu}, "
               "\"%s->%s\": {\"r1\": %.6f, \"r5\": %.6f, \"r10\": %.6f, \"map\": %.6f, \"queries\": %zu}}\n",
               mmf_metric_name(metric), a, b, ab.r1, ab.r5, ab.r10, ab.map, ab.n_queries,
               b, a, ba.r1, ba.r5, ba.r10, ba.map, ba.n_queries);
    } else {
        printf("%-24s %8s %8s %8s %8s %8s\n", "direction", "R@1", "R@5", "R@10", "mAP", "queries");
        char dir[128];
        snprintf(dir, sizeof dir, "%s -> %s", a, b);
        printf("%-24s %8.4f %8.4f %8.4f %8.4f %8zu\n", dir, ab.r1, ab.r5, ab.r10, ab.map, ab.n_queries);
        snprintf(dir, sizeof dir, "%s -> %s", b, a);
        printf("%-24s %8.4f %8.4f %8.4f %8.4f %8zu\n", dir, ba.r1, ba.r5, ba.r10, ba.map, ba.n_queries);
    }
    rc = MMF_EXIT_OK;
done:
    free(A); free(B); free(ia); free(ib);
    return rc;
}

const mmf_cli_command mmf_cmd_retrieval = {"retrieval", "cross-modal retrieval scores (R@1/5/10, mAP) over paired ids", run, help};
