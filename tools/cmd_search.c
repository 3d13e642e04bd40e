/* mmfuse search: nearest neighbours of query vectors in an index file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "cli_embfile.h"

/* --text/--image with --model will join --vector-file as query sources once
 * the encoders are in the public API: they produce the same (nq, dim) float
 * matrix through the embedding call, and everything after query_vectors()
 * stays as it is. They are left out of the help until then. */
static const char help[] =
    "Usage: mmfuse search IDX --vector-file Q.safetensors [options]\n\n"
    "Finds the k nearest stored vectors for each query row, best first, using\n"
    "the index's metric (cosine and dot: higher score is better; l2: the score\n"
    "is the squared distance, lower is better). Text -> image and image -> text\n"
    "search work when queries and index share an embedding space (CLIP, or an\n"
    "align head).\n\n"
    "Options:\n"
    "  --vector-file F    safetensors file with the query vectors (required)\n"
    "  --tensor NAME      query modality / tensor, [N, D] or [D] (default: the only\n"
    "                     modality of an embedding file, else \"embeddings\")\n"
    "  --query-ids NAME   integer tensor [N] in F naming the queries in the output\n"
    "                     (default: ids if present, else the row number)\n"
    "  -k N, --k N        results per query (default: 10)\n"
    "  --ef N             HNSW beam width (default: the index's ef_search, at least k)\n"
    "  --exact            brute-force scan with BLAS instead of the graph\n"
    "  --threads N        search threads (default: 1)\n"
    "  --json             one JSON object per query:\n"
    "                     {\"query\": ID, \"results\": [{\"id\": ID, \"score\": S}, ...]}\n\n"
    "Example:\n"
    "  mmfuse search images.mmfidx --vector-file text.safetensors --tensor text -k 5 --json\n";

static int query_vectors(const char *vector_file, const char *tensor, const char *ids_name, cli_emb *q) {
    return cli_load_emb("search", vector_file, tensor, ids_name, q);
}

static int run(int argc, char **argv) {
    const char *idx = NULL, *vf = NULL, *tensor = NULL, *qids_name = NULL, *v;
    int bad = 0, json = 0, k = 10;
    long iv;
    mmf_search_params sp = mmf_search_params_default();
    for (int i = 1; i < argc; i++) {
        if (cli_opt(argc, argv, &i, "--vector-file", &v, &bad)) vf = v;
        else if (cli_opt(argc, argv, &i, "--tensor", &v, &bad)) tensor = v;
        else if (cli_opt(argc, argv, &i, "--query-ids", &v, &bad)) qids_name = v;
        else if (cli_opt(argc, argv, &i, "-k", &v, &bad) || cli_opt(argc, argv, &i, "--k", &v, &bad)) {
            if (bad || !cli_int("-k", v, 1, 100000, &iv)) return MMF_EXIT_USAGE;
            k = (int)iv;
        } else if (cli_opt(argc, argv, &i, "--ef", &v, &bad)) {
            if (bad || !cli_int("--ef", v, 1, 100000, &iv)) return MMF_EXIT_USAGE;
            sp.ef = (int)iv;
        } else if (cli_opt(argc, argv, &i, "--threads", &v, &bad)) {
            if (bad || !cli_int("--threads", v, 1, 1024, &iv)) return MMF_EXIT_USAGE;
            sp.n_threads = (int)iv;
        } else if (cli_flag(argv, i, "--exact")) sp.exact = 1;
        else if (cli_flag(argv, i, "--json")) json = 1;
        else if (!strcmp(argv[i], "--text") || !strcmp(argv[i], "--image") || !strcmp(argv[i], "--model")) {
            fprintf(stderr, "mmfuse search: %s needs the encoders, which this build does not have yet; "
                            "embed the queries first and pass them with --vector-file\n", argv[i]);
            return MMF_EXIT_USAGE;
        } else if (argv[i][0] == '-' && argv[i][1]) return cli_usage("search", "unknown option %s", argv[i]);
        else if (!idx) idx = argv[i];
        else return cli_usage("search", "one index at a time (got %s and %s)", idx, argv[i]);
        if (bad) return MMF_EXIT_USAGE;
    }
    if (!idx) return cli_usage("search", "missing IDX");
    if (!vf) return cli_usage("search", "missing --vector-file Q.safetensors");
    mmf_index *ix;
    mmf_status s = mmf_index_open(idx, &ix);
    if (s) return cli_fail("search", s, "cannot open the index");
    mmf_index_info in;
    mmf_index_get_info(ix, &in);
    cli_emb qe = {0};
    int64_t *ids = NULL;
    float *scores = NULL;
    int rc = MMF_EXIT_FAIL;
    size_t nq = 0;
    if (!query_vectors(vf, tensor, qids_name, &qe)) goto out;
    nq = qe.n;
    if (qe.d != in.dim) {
        fprintf(stderr, "mmfuse search: dimension mismatch: %s tensor \"%s\" has dimension %d, the index %s has %d\n",
                vf, qe.tensor, qe.d, idx, in.dim);
        goto out;
    }
    ids = malloc((nq ? nq : 1) * (size_t)k * sizeof *ids);
    scores = malloc((nq ? nq : 1) * (size_t)k * sizeof *scores);
    if (!ids || !scores) { fprintf(stderr, "mmfuse search: out of memory\n"); goto out; }
    s = mmf_index_search(ix, nq, qe.x, k, &sp, ids, scores);
    if (s) { cli_fail("search", s, "search failed"); goto out; }
    for (size_t i = 0; i < nq; i++) {
        long long qid = (long long)qe.ids[i];
        if (json) printf("{\"query\": %lld, \"results\": [", qid);
        else printf("query %lld:\n", qid);
        int first = 1;
        for (int j = 0; j < k; j++) {
            size_t o = i * (size_t)k + (size_t)j;
            if (ids[o] < 0) break;
            if (json) printf("%s{\"id\": %lld, \"score\": %.6g}", first ? "" : ", ", (long long)ids[o], scores[o]);
            else printf("  %3d  id %-12lld score %.6f\n", j + 1, (long long)ids[o], scores[o]);
            first = 0;
        }
        if (json) printf("]}\n");
    }
    rc = MMF_EXIT_OK;
out:
    cli_emb_free(&qe); free(ids); free(scores);
    mmf_index_free(ix);
    return rc;
}

const mmf_cli_command mmf_cmd_search = {"search", "k nearest neighbours of query vectors in an index", run, help};
