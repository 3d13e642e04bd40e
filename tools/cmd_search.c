/* mmfuse search: nearest neighbours of query vectors in an index file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "cli_embfile.h"
#include "cli_items.h"
#include "cli_lines.h"
#include "cli_dist.h"
#include "cli_index_shards.h"

static const char help[] =
    "Usage: mmfuse search IDX --vector-file Q.safetensors [options]\n"
    "       mmfuse search IDX --text STR --model DIR [options]\n"
    "       mmfuse search IDX --image PATH --model DIR [options]\n\n"
    "Finds the k nearest stored vectors for each query row, best first, using\n"
    "the index's metric (cosine and dot: higher score is better; l2: the score\n"
    "is the squared distance, lower is better). Text -> image and image -> text\n"
    "search work when queries and index share an embedding space (CLIP, or an\n"
    "align head). Items named at build time (`mmfuse index build --records`)\n"
    "print with their name and payload. A query embedded by a model other than\n"
    "the one the index records (checked by a fingerprint of the encoder folder),\n"
    "or of another dimension, is refused: its scores would mean nothing.\n\n"
    "Options:\n"
    "  --vector-file F    safetensors file with the query vectors\n"
    "  --text STR         embed STR with the --model folder and search with it\n"
    "  --image PATH       embed the image with the --model folder and search with it\n"
    "  --model DIR        encoder folder for --text / --image (e.g. a CLIP folder;\n"
    "                     its default pooling and normalisation are used)\n"
    "  --tensor NAME      query modality / tensor, [N, D] or [D] (default: the only\n"
    "                     modality of an embedding file, else \"embeddings\")\n"
    "  --query-ids NAME   integer tensor [N] in F naming the queries in the output\n"
    "                     (default: ids if present, else the row number)\n"
    "  --query-records R  JSONL records the queries were embedded from: each query\n"
    "                     prints with its record's id and --query-payload fields\n"
    "  --query-id-field F record field that gave the query ids (default: id)\n"
    "  --query-payload FIELDS  fields of the query's record to print (default: text)\n"
    "  -k N, --k N        results per query (default: 10)\n"
    "  --ef N             HNSW beam width (default: the index's ef_search, at least k)\n"
    "  --exact            brute-force scan with BLAS instead of the graph\n"
    "  --precision P      encoder precision: fp32 | bf16 | int8 | auto (default auto; see mmfuse embed --help)\n"
    "  --threads N        search and encoder threads (default: the cores this process may use, or MMFUSE_THREADS)\n"
    "  --json             one JSON object per query:\n"
    "                     {\"query\": ID, \"results\": [{\"id\": ID, \"score\": S,\n"
    "                     \"name\": NAME, \"payload\": {...}}, ...]} (name and payload\n"
    "                     when the item has them)\n\n"
    "IDX may be a shard manifest (`mpirun -np N mmfuse index build`): every shard is\n"
    "searched and each query's top k merged; under `mpirun -np N` with N the number of\n"
    "shards, rank r searches shard r and rank 0 merges and prints.\n\n"
    "Examples:\n"
    "  mmfuse search images.mmfidx --vector-file text.safetensors --tensor text -k 5 --json\n"
    "  mmfuse search images.mmfidx --text \"a red heart\" --model models/clip-vit-base-patch32\n"
    "  (prints, for an index named from its records:\n"
    "     1  2764         score 0.301  {\"text\":\"red heart\",\"image\":\"img/openmoji/2764.png\"})\n";

/* One query row embedded by an encoder folder (text or image). */
static int encode_query(const char *model, const char *text, const char *image, int threads, mmf_precision prec,
                        cli_emb *q) {
    mmf_encoder_params ep = mmf_encoder_params_default();
    ep.n_threads = threads;
    ep.precision = prec;
    mmf_encoder *enc;
    mmf_status s = mmf_encoder_load(model, &ep, &enc);
    if (s) { cli_fail("search", s, "cannot load the encoder"); return 0; }
    int want = text ? MMF_MODALITY_TEXT : MMF_MODALITY_IMAGE;
    if (!(mmf_encoder_modalities(enc) & want)) {
        fprintf(stderr, "mmfuse search: %s (model_type %s) has no %s encoder\n", model,
                mmf_encoder_model_type(enc), text ? "text" : "image");
        mmf_encoder_free(enc);
        return 0;
    }
    int d = mmf_encoder_dim(enc);
    q->x = malloc((size_t)d * sizeof *q->x);
    q->ids = calloc(1, sizeof *q->ids);
    q->rows = calloc(1, sizeof *q->rows);
    if (!q->x || !q->ids || !q->rows) { fprintf(stderr, "mmfuse search: out of memory\n"); mmf_encoder_free(enc); return 0; }
    if (text) {
        const char *t[1] = {text};
        s = mmf_encoder_embed_text(enc, t, 1, MMF_POOL_DEFAULT, MMF_NORMALIZE_DEFAULT, q->x);
    } else {
        const char *p[1] = {image};
        uint8_t failed = 0;
        s = mmf_encoder_embed_image_files(enc, p, 1, MMF_POOL_DEFAULT, MMF_NORMALIZE_DEFAULT, 0, &failed, q->x, NULL, NULL);
    }
    mmf_encoder_free(enc);
    if (s) { cli_fail("search", s, text ? "cannot embed the text" : "cannot embed the image"); return 0; }
    q->n = 1;
    q->d = d;
    q->n_file = 1;
    snprintf(q->tensor, sizeof q->tensor, "%s", text ? "text" : "image");
    snprintf(q->file, sizeof q->file, "%s", model);
    return 1;
}

static int run(int argc, char **argv) {
    const char *idx = NULL, *vf = NULL, *tensor = NULL, *qids_name = NULL, *v;
    const char *qtext = NULL, *qimage = NULL, *model = NULL;
    const char *qrecords = NULL, *qid_field = "id", *qfields = "text";
    cli_items qi = {0};
    int bad = 0, json = 0, k = 10;
    long iv;
    mmf_search_params sp = mmf_search_params_default();
    sp.n_threads = cli_default_threads();
    mmf_precision prec = mmf_default_precision();
    for (int i = 1; i < argc; i++) {
        if (cli_opt(argc, argv, &i, "--vector-file", &v, &bad)) vf = v;
        else if (cli_opt(argc, argv, &i, "--tensor", &v, &bad)) tensor = v;
        else if (cli_opt(argc, argv, &i, "--query-ids", &v, &bad)) qids_name = v;
        else if (cli_opt(argc, argv, &i, "--query-records", &v, &bad)) qrecords = v;
        else if (cli_opt(argc, argv, &i, "--query-id-field", &v, &bad)) qid_field = v;
        else if (cli_opt(argc, argv, &i, "--query-payload", &v, &bad)) qfields = v;
        else if (cli_opt(argc, argv, &i, "-k", &v, &bad) || cli_opt(argc, argv, &i, "--k", &v, &bad)) {
            if (bad || !cli_int("-k", v, 1, 100000, &iv)) return MMF_EXIT_USAGE;
            k = (int)iv;
        } else if (cli_opt(argc, argv, &i, "--ef", &v, &bad)) {
            if (bad || !cli_int("--ef", v, 1, 100000, &iv)) return MMF_EXIT_USAGE;
            sp.ef = (int)iv;
        } else if (cli_opt(argc, argv, &i, "--precision", &v, &bad)) {
            if (bad || !cli_precision("search", v, &prec)) return MMF_EXIT_USAGE;
        } else if (cli_opt(argc, argv, &i, "--threads", &v, &bad)) {
            if (bad || !cli_int("--threads", v, 1, 1024, &iv)) return MMF_EXIT_USAGE;
            sp.n_threads = (int)iv;
        } else if (cli_flag(argv, i, "--exact")) sp.exact = 1;
        else if (cli_flag(argv, i, "--json")) json = 1;
        else if (cli_opt(argc, argv, &i, "--text", &v, &bad)) qtext = v;
        else if (cli_opt(argc, argv, &i, "--image", &v, &bad)) qimage = v;
        else if (cli_opt(argc, argv, &i, "--model", &v, &bad)) model = v;
        else if (argv[i][0] == '-' && argv[i][1]) return cli_usage("search", "unknown option %s", argv[i]);
        else if (!idx) idx = argv[i];
        else return cli_usage("search", "one index at a time (got %s and %s)", idx, argv[i]);
        if (bad) return MMF_EXIT_USAGE;
    }
    if (!idx) return cli_usage("search", "missing IDX");
    if (!!vf + !!qtext + !!qimage != 1)
        return cli_usage("search", "give exactly one query: --vector-file F, --text STR or --image PATH");
    if ((qtext || qimage) && !model) return cli_usage("search", "--text and --image need --model DIR");
    if (vf && model) return cli_usage("search", "--model is for --text / --image, not --vector-file");
    if (qrecords && !vf) return cli_usage("search", "--query-records names the rows of a --vector-file");
    /* under mpirun: one rank per shard; rank 0 also opens the others for item names */
    const int R = cli_dist_size(), rank = cli_dist_rank();
    cli_sindex si;
    if (!cli_dist_all_ok(cli_sindex_open("search", idx, rank != 0, rank, R, &si))) {
        if (si.ix) cli_sindex_free(&si);
        return MMF_EXIT_FAIL;
    }
    if (R > 1 && si.n_shards != R) {
        if (rank == 0)
            fprintf(stderr, "mmfuse search: error: under mpirun, one rank per shard: %s has %d shard%s, the job %d ranks\n", idx,
                    si.n_shards, si.n_shards == 1 ? "" : "s", R);
        cli_sindex_free(&si);
        return MMF_EXIT_USAGE;
    }
    mmf_index *ix = si.ix[0];
    mmf_index_info in = si.info;
    mmf_status s;
    int synced = R == 1;   /* under mpirun a rank failing before the search still joins the ranks' agreement */
    cli_emb qe = {0};
    int64_t *ids = NULL;
    float *scores = NULL;
    int rc = MMF_EXIT_FAIL;
    size_t nq = 0;
    if (vf ? !cli_load_emb("search", vf, tensor, qids_name, &qe)
           : !encode_query(model, qtext, qimage, sp.n_threads, prec, &qe)) goto out;
    nq = qe.n;
    if (qe.d != in.dim) {
        fprintf(stderr, "mmfuse search: dimension mismatch: %s tensor \"%s\" has dimension %d, the index %s has %d\n",
                qe.file, qe.tensor, qe.d, idx, in.dim);
        goto out;
    }
    {   /* same dimension is not the same space: the models must agree too */
        char mid[MMF_MODEL_ID_MAX];
        int known = cli_source_model_id(vf, qe.tensor, model, mid, NULL, 0);
        s = mmf_index_check_query(ix, known ? mid : NULL, qe.d);
        if (s) {
            fprintf(stderr, "mmfuse search: error: %s cannot query %s: %s\n", vf ? vf : model, idx, mmf_last_error());
            goto out;
        }
    }
    if (rank == 0 && in.count > 0 && (size_t)k > in.count)   /* not an error: every live vector is a result */
        fprintf(stderr, "mmfuse search: notice: -k %d is more than the %zu vectors in %s; each query returns %zu results\n",
                k, in.count, idx, in.count);
    if (qrecords && cli_items_load("search", qrecords, qid_field, qfields, qe.ids, qe.n, &qi)) goto out;
    ids = malloc((nq ? nq : 1) * (size_t)k * sizeof *ids);
    scores = malloc((nq ? nq : 1) * (size_t)k * sizeof *scores);
    if (!ids || !scores) { fprintf(stderr, "mmfuse search: out of memory\n"); goto out; }
    if (R > 1) {   /* this rank's shard, then rank 0 merges everyone's top k */
        s = cli_sindex_search_one(ix, nq, qe.x, k, &sp, ids, scores);
        if (s) cli_fail("search", s, "search failed");
        synced = 1;
        if (!cli_dist_all_ok(!s)) goto out;
        void *gi = NULL, *gs = NULL;
        size_t li, ls, per = nq * (size_t)k;
        int g = cli_dist_gather(ids, per * sizeof *ids, &gi, &li) | cli_dist_gather(scores, per * sizeof *scores, &gs, &ls);
        if (!cli_dist_all_ok(!g)) { free(gi); free(gs); goto out; }
        if (rank != 0) { rc = MMF_EXIT_OK; goto out; }
        const int64_t **lid = malloc((size_t)R * sizeof *lid);
        const float **lsc = malloc((size_t)R * sizeof *lsc);
        if (lid && lsc) {
            for (int r = 0; r < R; r++) { lid[r] = (const int64_t *)gi + (size_t)r * per; lsc[r] = (const float *)gs + (size_t)r * per; }
            cli_sindex_merge(in.metric, nq, k, R, lid, lsc, ids, scores);
        }
        free(lid); free(lsc); free(gi); free(gs);
        if (!lid || !lsc) { fprintf(stderr, "mmfuse search: out of memory\n"); goto out; }
    } else {
        s = cli_sindex_search(&si, nq, qe.x, k, &sp, ids, scores);
        if (s) { cli_fail("search", s, "search failed"); goto out; }
    }
    for (size_t i = 0; i < nq; i++) {
        long long qid = (long long)qe.ids[i];
        const char *qn = qi.names ? qi.names[i] : NULL, *qp = qi.payloads ? qi.payloads[i] : NULL;
        if (json) {
            printf("{\"query\": %lld", qid);
            if (qn) { printf(", \"query_name\": "); cli_json_string(stdout, qn); }
            if (qp) printf(", \"query_payload\": %s", qp);
            printf(", \"results\": [");
        } else if (qn) printf("query %s%s%s:\n", qn, qp ? "  " : "", qp ? qp : "");
        else printf("query %lld:\n", qid);
        int first = 1;
        for (int j = 0; j < k; j++) {
            size_t o = i * (size_t)k + (size_t)j;
            if (ids[o] < 0) break;
            const char *nm = cli_sindex_item_name(&si, ids[o]), *pl = cli_sindex_item_payload(&si, ids[o]);
            if (json) {
                printf("%s{\"id\": %lld, \"score\": %.6g", first ? "" : ", ", (long long)ids[o], scores[o]);
                if (nm) { printf(", \"name\": "); cli_json_string(stdout, nm); }
                if (pl) printf(", \"payload\": %s", pl);   /* one JSON value, checked when stored */
                printf("}");
            } else if (nm || pl) printf("  %3d  %-12s score %.6f%s%s\n", j + 1, nm ? nm : "-", scores[o], pl ? "  " : "", pl ? pl : "");
            else printf("  %3d  id %-12lld score %.6f\n", j + 1, (long long)ids[o], scores[o]);
            first = 0;
        }
        if (json) printf("]}\n");
    }
    rc = MMF_EXIT_OK;
out:
    if (!synced) cli_dist_all_ok(0);
    cli_emb_free(&qe); free(ids); free(scores);
    cli_items_free(&qi);
    cli_sindex_free(&si);
    return rc;
}

const mmf_cli_command mmf_cmd_search = {"search", "k nearest neighbours of query vectors in an index", run, help};
