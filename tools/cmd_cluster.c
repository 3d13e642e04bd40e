/* mmfuse cluster: k-means over an embedding tensor. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"
#include "cli_embfile.h"
#include "cli_dist.h"

static const char help[] =
    "Usage: mmfuse cluster EMB.safetensors -k K --out ASSIGN.json [options]\n\n"
    "k-means (squared Euclidean) over the rows of an embedding tensor [N, D]:\n"
    "greedy k-means++ seeding, assignments by BLAS, Lloyd iterations until no\n"
    "point moves (or --tol), or mini-batch k-means for large N. Writes one JSON\n"
    "file (atomically) with each id's cluster; with --labels it also reports\n"
    "NMI, ARI and purity against a reference labelling.\n\n"
    "Options:\n"
    "  -k K, --k K          number of clusters (required, 1..N)\n"
    "  --out FILE           assignments as JSON (required)\n"
    "  --tensor NAME        modality / tensor (default: the only modality of an\n"
    "                       embedding file, else \"embeddings\"); samples where the\n"
    "                       modality is absent are left out\n"
    "  --ids NAME|none      id tensor (default: ids if present, else row numbers)\n"
    "  --labels NAME        integer tensor [N] of reference classes (\"labels\" of an\n"
    "                       embedding file): print NMI, ARI, purity\n"
    "  --iters N            Lloyd iterations, or batches with --mini-batch\n"
    "                       (default: 50, or 100 batches)\n"
    "  --tol X              stop when inertia improves by less than X (relative;\n"
    "                       default 1e-4; negative: run all --iters)\n"
    "  --mini-batch B       mini-batch k-means with B points per batch (default: off)\n"
    "  --init I             kmeans++ | random (default: kmeans++)\n"
    "  --centroids FILE     also write the centroids [K, D] as safetensors (\"centroids\")\n"
    "  --seed S             random seed (default: 42)\n"
    "  --threads N          threads (default: the cores this process may use, or MMFUSE_THREADS)\n\n"
    "Under `mpirun -np N` each rank clusters a contiguous share of the rows with its own\n"
    "--threads (seeding from all rows, centroid sums and counts all-reduced every\n"
    "iteration): the same clusters as one process from the same seed; rank 0 writes.\n\n"
    "Output: {\"k\": K, \"n\": N, \"dim\": D, \"iterations\": I, \"inertia\": X,\n"
    "         [\"scores\": {\"nmi\": .., \"ari\": .., \"purity\": ..},]\n"
    "         \"assignments\": [{\"id\": ID, \"cluster\": C}, ...]}\n\n"
    "Example:\n"
    "  mmfuse cluster train.safetensors --tensor image -k 98 --labels labels --out clusters.json\n";

typedef struct sbuf { char *p; size_t n, cap; int oom; } sbuf;
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (w < 0) { b->oom = 1; return; }
        if (b->p && b->n + (size_t)w < b->cap) { b->n += (size_t)w; return; }
        size_t nc = (b->cap ? b->cap * 2 : 4096) + (size_t)w;
        char *np = realloc(b->p, nc);
        if (!np) { b->oom = 1; return; }
        b->p = np; b->cap = nc;
    }
}

static int run(int argc, char **argv) {
    const char *emb = NULL, *out = NULL, *tensor = NULL, *ids_name = NULL, *labels = NULL, *cent = NULL, *v;
    mmf_kmeans_params p = mmf_kmeans_params_default();
    p.n_threads = cli_default_threads();
    int bad = 0;
    long iv;
    double dv;
    for (int i = 1; i < argc; i++) {
        if (cli_opt(argc, argv, &i, "-k", &v, &bad) || cli_opt(argc, argv, &i, "--k", &v, &bad)) {
            if (bad || !cli_int("-k", v, 1, 2147483647L, &iv)) return MMF_EXIT_USAGE;
            p.k = (int)iv;
        } else if (cli_opt(argc, argv, &i, "--out", &v, &bad)) out = v;
        else if (cli_opt(argc, argv, &i, "--tensor", &v, &bad)) tensor = v;
        else if (cli_opt(argc, argv, &i, "--ids", &v, &bad)) ids_name = v;
        else if (cli_opt(argc, argv, &i, "--labels", &v, &bad)) labels = v;
        else if (cli_opt(argc, argv, &i, "--centroids", &v, &bad)) cent = v;
        else if (cli_opt(argc, argv, &i, "--iters", &v, &bad)) {
            if (bad || !cli_int("--iters", v, 1, 1000000, &iv)) return MMF_EXIT_USAGE;
            p.max_iter = (int)iv;
        } else if (cli_opt(argc, argv, &i, "--tol", &v, &bad)) {
            if (bad || !cli_float("--tol", v, &dv)) return MMF_EXIT_USAGE;
            p.tol = dv;
        } else if (cli_opt(argc, argv, &i, "--mini-batch", &v, &bad)) {
            if (bad || !cli_int("--mini-batch", v, 1, 2147483647L, &iv)) return MMF_EXIT_USAGE;
            p.mini_batch = (int)iv;
        } else if (cli_opt(argc, argv, &i, "--init", &v, &bad)) {
            if (bad) return MMF_EXIT_USAGE;
            if (!strcmp(v, "kmeans++")) p.init_plus_plus = 1;
            else if (!strcmp(v, "random")) p.init_plus_plus = 0;
            else return cli_usage("cluster", "--init expects kmeans++ or random, got \"%s\"", v);
        } else if (cli_opt(argc, argv, &i, "--seed", &v, &bad)) {
            if (bad || !cli_int("--seed", v, 0, 2147483647L, &iv)) return MMF_EXIT_USAGE;
            p.seed = (uint64_t)iv;
        } else if (cli_opt(argc, argv, &i, "--threads", &v, &bad)) {
            if (bad || !cli_int("--threads", v, 1, 1024, &iv)) return MMF_EXIT_USAGE;
            p.n_threads = (int)iv;
        } else if (argv[i][0] == '-' && argv[i][1]) return cli_usage("cluster", "unknown option %s", argv[i]);
        else if (!emb) emb = argv[i];
        else return cli_usage("cluster", "one embedding file at a time (got %s and %s)", emb, argv[i]);
        if (bad) return MMF_EXIT_USAGE;
    }
    if (!emb) return cli_usage("cluster", "missing EMB.safetensors");
    if (!p.k) return cli_usage("cluster", "missing -k K");
    if (!out) return cli_usage("cluster", "missing --out ASSIGN.json");
    cli_emb e;   /* under mpirun every rank reads the file: all go on only if all could */
    if (!cli_dist_all_ok(cli_load_emb("cluster", emb, tensor, ids_name, &e))) { cli_emb_free(&e); return MMF_EXIT_FAIL; }
    float *x = e.x;
    size_t n = e.n;
    int d = e.d;
    int64_t *ids = e.ids, *lab = NULL;
    int rc = MMF_EXIT_FAIL;
    mmf_kmeans_result r = {0};
    sbuf b = {0};
    if (!cli_dist_all_ok(!labels || cli_load_labels("cluster", &e, labels, &lab))) goto done;
    if ((size_t)p.k > n) {
        fprintf(stderr, "mmfuse cluster: -k %d is larger than the number of vectors in %s (%zu)\n", p.k, emb, n);
        goto done;
    }
    /* under mpirun: this rank's rows; every rank read the file, rank 0 gets all assignments back */
    size_t lo, hi;
    cli_dist_range(n, &lo, &hi);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double comm0 = cli_dist_comm_seconds();
    mmf_status s = mmf_kmeans_sharded(x + lo * (size_t)d, hi - lo, lo, n, d, &p, cli_dist_comm(), &r);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec), comm = cli_dist_comm_seconds() - comm0;
    if (!cli_dist_all_ok(!s)) { if (s) cli_fail("cluster", s, "k-means failed"); goto done; }
    if (cli_dist_size() > 1) {
        void *all = NULL;
        size_t len = 0;
        int g = cli_dist_gather(r.assign, (hi - lo) * sizeof *r.assign, &all, &len);
        if (!cli_dist_all_ok(!g)) { free(all); goto done; }
        if (cli_dist_rank() != 0) { rc = MMF_EXIT_OK; goto done; }
        free(r.assign);
        r.assign = all;
    }
    sb_printf(&b, "{\"k\": %d, \"n\": %zu, \"dim\": %d, \"mode\": \"%s\", \"iterations\": %d, \"inertia\": %.9g",
              p.k, n, d, p.mini_batch ? "mini-batch" : "lloyd", r.iterations, r.inertia);
    if (lab) {
        int64_t *pred = malloc(n * sizeof *pred);
        if (!pred) goto done;
        for (size_t i = 0; i < n; i++) pred[i] = r.assign[i];
        mmf_cluster_scores cs;
        s = mmf_cluster_scores_compute(lab, pred, n, &cs);
        free(pred);
        if (s) { cli_fail("cluster", s, "cannot score the clustering"); goto done; }
        sb_printf(&b, ", \"scores\": {\"nmi\": %.6f, \"ari\": %.6f, \"purity\": %.6f}", cs.nmi, cs.ari, cs.purity);
        printf("NMI %.4f  ARI %.4f  purity %.4f  (k = %d, %zu points)\n", cs.nmi, cs.ari, cs.purity, p.k, n);
    }
    sb_printf(&b, ", \"assignments\": [");
    for (size_t i = 0; i < n; i++)
        sb_printf(&b, "%s{\"id\": %lld, \"cluster\": %d}", i ? ", " : "", (long long)ids[i], r.assign[i]);
    sb_printf(&b, "]}\n");
    if (b.oom) { fprintf(stderr, "mmfuse cluster: out of memory\n"); goto done; }
    s = mmf_write_file_atomic(out, b.p, b.n);
    if (s) { cli_fail("cluster", s, "cannot write the assignments"); goto done; }
    if (cent) {
        mmf_st_writer *w = mmf_st_writer_new();
        int64_t shape[2] = {p.k, d};
        s = w ? mmf_st_writer_add(w, "centroids", MMF_DT_F32, 2, shape, r.centroids) : MMF_ERR_NOMEM;
        if (!s) s = mmf_st_writer_finish(w, cent);
        mmf_st_writer_free(w);
        if (s) { cli_fail("cluster", s, "cannot write the centroids"); goto done; }
    }
    fprintf(stderr, "mmfuse cluster: %zu points into %d clusters, %d iterations, inertia %.6g, k-means %.3f s -> %s\n",
            n, p.k, r.iterations, r.inertia, secs, out);
    if (cli_dist_size() > 1)
        fprintf(stderr, "mmfuse cluster: %d ranks; rank 0 spent %.3f s of the k-means in all-reduces (waiting for the others included)\n",
                cli_dist_size(), comm);
    rc = MMF_EXIT_OK;
done:
    cli_emb_free(&e); free(lab); free(b.p);
    mmf_kmeans_result_free(&r);
    return rc;
}

const mmf_cli_command mmf_cmd_cluster = {"cluster", "k-means clustering of embeddings, with NMI/ARI/purity", run, help};
