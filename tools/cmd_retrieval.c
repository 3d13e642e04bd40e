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
    "  --a-ids NAME      pair ids of A, integer [N] (default: an embedding file's ids,\n"
    "                    else <A>_ids, else ids, else row numbers)\n"
    "  --b-ids NAME      pair ids of B (same defaults)\n"
    "In an embedding file (docs/embedding-file.md) A and B are modalities of the\n"
    "same samples; samples missing either side are left out of that side.\n"
    "  --metric M        cosine | dot | l2 (default: cosine)\n"
    "  --threads N       threads (default: the cores this process may use, or MMFUSE_THREADS)\n"
    "  --json            one JSON object instead of a table\n\n"
    "Example:\n"
    "  mmfuse retrieval test.safetensors --a text --b image --threads 2\n";

/* Pair ids: explicit name; else an embedding file's ids (or row numbers,
 * which pair row i of one modality with row i of the other); else in a plain
 * file "<tensor>_ids", then "ids" when it has one entry per row, then rows. */
static const char *auto_ids(const char *file, const char *tensor, const char *name, char *buf, size_t cap) {
    if (name) return name;
    mmf_safetensors *st;
    const char *pick = "none";
    if (mmf_st_open(file, &st) != MMF_OK) return NULL;   /* cli_load_emb reports it */
    const mmf_tensor_info *t = mmf_st_find(st, tensor);
    if (mmf_st_metadata(st, "modalities")) pick = NULL;
    else {
        snprintf(buf, cap, "%s_ids", tensor);
        if (mmf_st_find(st, buf)) pick = buf;
        else {
            const mmf_tensor_info *ids = mmf_st_find(st, "ids");
            if (ids && t && t->ndim >= 1 && ids->numel == t->shape[0]) pick = "ids";
        }
    }
    mmf_st_close(st);
    return pick;
}

/* A direction's label: the tensor name, qualified by its file's stem
 * ("queries:fused") when both sides carry the same name. Quotes and
 * backslashes are dropped so the label is safe inside JSON. */
static void label(char *out, size_t cap, const char *tensor, const char *path, int qualify) {
    char tmp[200];
    if (qualify) {
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        size_t n = strcspn(base, ".");
        snprintf(tmp, sizeof tmp, "%.*s:%s", (int)(n < 120 ? n : 120), base, tensor);
    } else snprintf(tmp, sizeof tmp, "%s", tensor);
    size_t j = 0;
    for (size_t i = 0; tmp[i] && j + 1 < cap; i++)
        if (tmp[i] != '"' && tmp[i] != '\\' && (unsigned char)tmp[i] >= 0x20) out[j++] = tmp[i];
    out[j] = 0;
}

static int run(int argc, char **argv) {
    const char *file = NULL, *bfile = NULL, *a = "text", *b = "image", *aid = NULL, *bid = NULL, *v;
    mmf_metric metric = MMF_METRIC_COSINE;
    int bad = 0, json = 0, nt = cli_default_threads();
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
    cli_emb A = {0}, B = {0};
    int rc = MMF_EXIT_FAIL;
    char ba[160], bb[160];
    if (!cli_load_emb("retrieval", file, a, auto_ids(file, a, aid, ba, sizeof ba), &A)) goto done;
    if (!cli_load_emb("retrieval", bfile, b, auto_ids(bfile, b, bid, bb, sizeof bb), &B)) goto done;
    if (A.d != B.d) {
        fprintf(stderr, "mmfuse retrieval: dimension mismatch: %s \"%s\" has %d, %s \"%s\" has %d\n", file, a, A.d, bfile, b, B.d);
        goto done;
    }
    mmf_retrieval_scores ab, ba2;
    mmf_status s = mmf_retrieval_eval(A.x, A.ids, A.n, B.x, B.ids, B.n, A.d, metric, nt, &ab);
    if (!s) s = mmf_retrieval_eval(B.x, B.ids, B.n, A.x, A.ids, A.n, A.d, metric, nt, &ba2);
    if (s) { cli_fail("retrieval", s, "evaluation failed"); goto done; }
    /* Both tensors may carry one name (e.g. "fused" from two files): then the
     * directions are told apart by their files, so the JSON keys stay unique. */
    char la[200], lb[200];
    label(la, sizeof la, a, file, !strcmp(a, b));
    label(lb, sizeof lb, b, bfile, !strcmp(a, b));
    if (json) {
        printf("{\"metric\": \"%s\", \"%s->%s\": {\"r1\": %.6f, \"r5\": %.6f, \"r10\": %.6f, \"map\": %.6f, \"queries\": %zu}, "
               "\"%s->%s\": {\"r1\": %.6f, \"r5\": %.6f, \"r10\": %.6f, \"map\": %.6f, \"queries\": %zu}}\n",
               mmf_metric_name(metric), la, lb, ab.r1, ab.r5, ab.r10, ab.map, ab.n_queries,
               lb, la, ba2.r1, ba2.r5, ba2.r10, ba2.map, ba2.n_queries);
    } else {
        printf("%-40s %8s %8s %8s %8s %8s\n", "direction", "R@1", "R@5", "R@10", "mAP", "queries");
        char dir[420];
        snprintf(dir, sizeof dir, "%s -> %s", la, lb);
        printf("%-40s %8.4f %8.4f %8.4f %8.4f %8zu\n", dir, ab.r1, ab.r5, ab.r10, ab.map, ab.n_queries);
        snprintf(dir, sizeof dir, "%s -> %s", lb, la);
        printf("%-40s %8.4f %8.4f %8.4f %8.4f %8zu\n", dir, ba2.r1, ba2.r5, ba2.r10, ba2.map, ba2.n_queries);
    }
    rc = MMF_EXIT_OK;
done:
    cli_emb_free(&A); cli_emb_free(&B);
    return rc;
}

const mmf_cli_command mmf_cmd_retrieval = {"retrieval", "cross-modal retrieval scores (R@1/5/10, mAP) over paired ids", run, help};
