/* mmfuse index build|info|add|delete|compact */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"
#include "cli_embfile.h"
#include "cli_items.h"
#include "cli_lines.h"
#include "cli_dist.h"
#include "cli_index_shards.h"

static const char help[] =
    "Usage: mmfuse index build EMB.safetensors --out IDX [options]\n"
    "       mmfuse index info IDX [--json]\n"
    "       mmfuse index add IDX EMB.safetensors [--tensor NAME] [--ids NAME] [--threads N] [--out IDX2]\n"
    "       mmfuse index delete IDX --id ID [--id ID ...] [--compact] [--out IDX2]\n"
    "       mmfuse index compact IDX [--threads N] [--out IDX2]\n\n"
    "Builds a vector index over the rows of an embedding tensor (F32/F16/BF16,\n"
    "[N, D]) and saves it as one checksummed file, written atomically: a failed\n"
    "build or update leaves any previous file untouched. Searches open the file\n"
    "by mmap (see `mmfuse search`).\n"
    "EMB is an embedding file (docs/embedding-file.md: the tensor is a modality,\n"
    "the only one by default; samples where it is absent are left out; ids from\n"
    "its \"ids\") or any safetensors file with a float tensor [N, D] and\n"
    "optionally an integer id tensor [N]. Without ids, the row number is the id.\n"
    "With --records, every item also gets a name (its record's id, e.g. an emoji\n"
    "hexcode) and a JSON payload (chosen fields of the record), which `mmfuse\n"
    "search` prints beside the scores. The index records the model that embedded\n"
    "the vectors (a fingerprint of the encoder folder the embedding file names,\n"
    "or of --model DIR) and the tensor, and search refuses queries from another.\n\n"
    "build options:\n"
    "  --out IDX              index file to write (required)\n"
    "  --tensor NAME          modality / tensor (default: the only modality, or\n"
    "                         \"embeddings\" in a plain safetensors file)\n"
    "  --ids NAME|none        id tensor (default: ids, if the file has one)\n"
    "  --metric M             cosine | dot | l2 (default: cosine; cosine\n"
    "                         normalises vectors, scores are similarities)\n"
    "  --type T               hnsw | flat (default: hnsw; flat = exact BLAS scan)\n"
    "  --M N                  HNSW links per node (default: 16; 2M on level 0)\n"
    "  --ef-construction N    HNSW build beam width (default: 200)\n"
    "  --ef-search N          default search beam width saved in the file (default: 64)\n"
    "  --quant Q              none | int8 (default: none; int8 walks the graph on\n"
    "                         int8 codes and re-ranks with the float vectors)\n"
    "  --threads N            build threads (default: the cores this process may use, or MMFUSE_THREADS)\n"
    "  --seed S               level draws (default: 42)\n"
    "  --records R.jsonl      name the items from these records (the ones `embed\n"
    "                         --records` read): matched by --id-field\n"
    "  --id-field F           record field that gave the ids (default: id; the\n"
    "                         demo embeds with --id-field hexcode)\n"
    "  --payload FIELDS       record fields kept as each item's payload, comma-\n"
    "                         separated, or none (default: text,image)\n"
    "  --model DIR            the encoder folder that embedded the vectors, when\n"
    "                         the file does not record it\n\n"
    "Under `mpirun -np N`, build writes one index per rank over its contiguous share of\n"
    "the rows (IDX.shard-R-of-N, each with its own --threads) and a JSON manifest at IDX\n"
    "naming them; `mmfuse search IDX` searches them all and merges (docs/scale.md).\n\n"
    "add/delete/compact write the updated index back to IDX (or to --out IDX2).\n"
    "Deleted ids are never returned again; their slots keep routing the graph\n"
    "and stay in the file until a compaction (`index compact`, or `delete\n"
    "--compact`) drops them and rebuilds the graph over the live vectors: it\n"
    "costs a build (--threads) and frees the space of the deleted ones.\n\n"
    "Examples:\n"
    "  mmfuse index build train.safetensors --tensor image --out images.mmfidx --threads 2\n"
    "  mmfuse index build gallery.safetensors --tensor image --records openmoji.jsonl \\\n"
    "      --id-field hexcode --payload text,image,emoji --out gallery.mmfidx\n"
    "  mmfuse index info images.mmfidx\n"
    "  mmfuse index delete images.mmfidx --id 17\n"
    "  mmfuse index compact images.mmfidx --threads 2\n";

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Names and payloads from --records, and the source model, onto a built index. */
static int label_items(mmf_index *ix, const cli_emb *e, const char *records, const char *id_field,
                       const char *fields, const char *model_dir) {
    char mid[MMF_MODEL_ID_MAX], why[600];
    int known = cli_source_model_id(e->file, e->tensor, model_dir, mid, why, sizeof why);
    if (model_dir && !known) { fprintf(stderr, "mmfuse index: error: --model %s: %s\n", model_dir, why); return MMF_EXIT_FAIL; }
    if (!known && why[0]) fprintf(stderr, "mmfuse index: notice: model unknown (%s); search will check dimensions only\n", why);
    mmf_status s = mmf_index_set_source(ix, known ? mid : NULL, e->tensor);
    if (s) return cli_fail("index", s, "cannot record the source");
    if (!records) return MMF_EXIT_OK;
    cli_items it;
    int rc = cli_items_load("index", records, id_field, fields, e->ids, e->n, &it);
    if (rc) return rc;
    for (size_t i = 0; i < it.n && !s; i++)
        if (it.names[i] || it.payloads[i]) s = mmf_index_set_item(ix, e->ids[i], it.names[i], it.payloads[i]);
    size_t matched = it.matched;
    cli_items_free(&it);
    if (s) return cli_fail("index", s, "cannot name the items");
    if (matched < e->n)
        fprintf(stderr, "mmfuse index: notice: %zu of %zu vectors have no record in %s (field \"%s\"): they stay unnamed\n",
                e->n - matched, e->n, records, id_field);
    return MMF_EXIT_OK;
}

static int do_build(int argc, char **argv) {
    const char *emb = NULL, *out = NULL, *tensor = NULL, *ids_name = NULL, *v;
    const char *records = NULL, *id_field = "id", *fields = "text,image", *model_dir = NULL;
    mmf_index_params p = mmf_index_params_default();
    p.n_threads = cli_default_threads();
    int bad = 0;
    long iv;
    const cli_num nums[] = {
        {"--M", &p.M, NULL, 2, 256},
        {"--ef-construction", &p.ef_construction, NULL, 1, 100000},
        {"--ef-search", &p.ef_search, NULL, 1, 100000},
        {"--threads", &p.n_threads, NULL, 1, 1024},
    };
    for (int i = 2; i < argc; i++) {
        if (cli_opt(argc, argv, &i, "--out", &v, &bad)) out = v;
        else if (cli_num_opt(argc, argv, &i, nums, (int)(sizeof nums / sizeof nums[0]), &bad)) { /* into p */ }
        else if (cli_opt(argc, argv, &i, "--tensor", &v, &bad)) tensor = v;
        else if (cli_opt(argc, argv, &i, "--ids", &v, &bad)) ids_name = v;
        else if (cli_opt(argc, argv, &i, "--records", &v, &bad)) records = v;
        else if (cli_opt(argc, argv, &i, "--id-field", &v, &bad)) id_field = v;
        else if (cli_opt(argc, argv, &i, "--payload", &v, &bad)) fields = v;
        else if (cli_opt(argc, argv, &i, "--model", &v, &bad)) model_dir = v;
        else if (cli_opt(argc, argv, &i, "--metric", &v, &bad)) {
            if (!bad && mmf_metric_parse(v, &p.metric)) return cli_usage("index", "--metric: %s", mmf_last_error());
        } else if (cli_opt(argc, argv, &i, "--type", &v, &bad)) {
            if (bad) break;
            if (!strcmp(v, "hnsw")) p.kind = MMF_INDEX_HNSW;
            else if (!strcmp(v, "flat")) p.kind = MMF_INDEX_FLAT;
            else return cli_usage("index", "--type expects hnsw or flat, got \"%s\"", v);
        } else if (cli_opt(argc, argv, &i, "--quant", &v, &bad)) {
            if (bad) break;
            if (!strcmp(v, "none")) p.quant = MMF_QUANT_NONE;
            else if (!strcmp(v, "int8")) p.quant = MMF_QUANT_INT8;
            else return cli_usage("index", "--quant expects none or int8, got \"%s\"", v);
        } else if (cli_opt(argc, argv, &i, "--seed", &v, &bad)) {
            if (bad || !cli_int("--seed", v, 0, 2147483647L, &iv)) return MMF_EXIT_USAGE;
            p.seed = (uint64_t)iv;
        } else if (argv[i][0] == '-' && argv[i][1]) return cli_usage("index", "unknown option %s", argv[i]);
        else if (!emb) emb = argv[i];
        else return cli_usage("index", "one embedding file at a time (got %s and %s)", emb, argv[i]);
        if (bad) return MMF_EXIT_USAGE;
    }
    if (bad) return MMF_EXIT_USAGE;
    if (!emb) return cli_usage("index", "build: missing EMB.safetensors");
    if (!out) return cli_usage("index", "build: missing --out IDX");
    cli_emb e;
    if (!cli_dist_all_ok(cli_load_emb("index", emb, tensor, ids_name, &e))) { cli_emb_free(&e); return MMF_EXIT_FAIL; }
    /* under mpirun: this rank's contiguous share of the rows, into its own shard file */
    const int R = cli_dist_size(), rank = cli_dist_rank();
    size_t lo, hi;
    cli_dist_range(e.n, &lo, &hi);
    cli_emb mine = e;   /* a view of the share: e owns the memory */
    mine.x = e.x + lo * (size_t)e.d;
    mine.ids = e.ids + lo;
    mine.rows = e.rows + lo;
    mine.n = hi - lo;
    char shard[4200];
    if (R > 1) cli_sindex_shard_name(out, rank, R, shard, sizeof shard);
    const char *dest = R > 1 ? shard : out;
    float *x = mine.x;
    size_t n = mine.n;
    int d = e.d;
    int64_t *ids = mine.ids;
    mmf_index *ix = NULL;
    mmf_status s = mmf_index_new(d, &p, &ix);
    if (s) cli_fail("index", s, "cannot create the index");
    double t0 = now_s();
    /* add in chunks so the progress bar moves; the graph is the same */
    size_t chunk = n / 50 + 1;
    for (size_t at = 0; at < n && !s; at += chunk) {
        size_t m = n - at < chunk ? n - at : chunk;
        s = mmf_index_add(ix, m, x + at * (size_t)d, ids ? ids + at : NULL);
        if (s) cli_fail("index", s, "cannot add the vectors");
        if (rank == 0) cli_progress("index", (long)(at + m), (long)n);
    }
    double t1 = now_s();
    int rc = s ? MMF_EXIT_FAIL : label_items(ix, &mine, records, id_field, fields, model_dir);
    cli_emb_free(&e);
    if (!rc) {
        s = mmf_index_save(ix, dest);
        if (s) rc = cli_fail("index", s, "cannot save the index");
    }
    mmf_index_info info;
    if (ix) mmf_index_get_info(ix, &info);
    mmf_index_free(ix);
    if (!cli_dist_all_ok(!rc)) return rc ? rc : MMF_EXIT_FAIL;
    if (R > 1) {   /* every shard saved: rank 0 names them in the manifest */
        double *counts = calloc((size_t)R, sizeof *counts), secs[1] = {t1 - t0};
        int ok = counts != NULL;
        if (ok) counts[rank] = (double)n;
        if (!ok || cli_dist_allreduce(counts, (size_t)R, MMF_DT_F64, CLI_DIST_SUM) || cli_dist_allreduce(secs, 1, MMF_DT_F64, CLI_DIST_MAX)) ok = 0;
        if (ok && rank == 0) {
            char (*names)[4200] = malloc((size_t)R * sizeof *names);
            const char **files = malloc((size_t)R * sizeof *files);
            size_t *cnt = malloc((size_t)R * sizeof *cnt);
            ok = names && files && cnt;
            for (int r = 0; ok && r < R; r++) {
                cli_sindex_shard_name(out, r, R, names[r], sizeof names[r]);
                files[r] = names[r];
                cnt[r] = (size_t)counts[r];
            }
            if (ok) ok = cli_sindex_write_manifest("index", out, R, files, cnt, &info);
            free(names); free(files); free(cnt);
            if (ok) fprintf(stderr, "mmfuse index: %zu vectors of dimension %d in %d shards, %s %s%s, built in %.2f s (slowest rank) -> %s\n",
                            e.n, d, R, p.kind == MMF_INDEX_HNSW ? "hnsw" : "flat", mmf_metric_name(p.metric),
                            p.quant == MMF_QUANT_INT8 ? " int8" : "", secs[0], out);
        }
        free(counts);
        return cli_dist_all_ok(ok) ? MMF_EXIT_OK : MMF_EXIT_FAIL;
    }
    fprintf(stderr, "mmfuse index: %zu vectors of dimension %d, %s %s%s, built in %.2f s -> %s\n", n, d,
            p.kind == MMF_INDEX_HNSW ? "hnsw" : "flat", mmf_metric_name(p.metric),
            p.quant == MMF_QUANT_INT8 ? " int8" : "", t1 - t0, out);
    return MMF_EXIT_OK;
}

static int do_info(int argc, char **argv) {
    const char *path = NULL;
    int json = 0;
    for (int i = 2; i < argc; i++) {
        if (cli_flag(argv, i, "--json")) json = 1;
        else if (argv[i][0] == '-' && argv[i][1]) return cli_usage("index", "unknown option %s", argv[i]);
        else if (!path) path = argv[i];
        else return cli_usage("index", "info: one index at a time");
    }
    if (!path) return cli_usage("index", "info: missing IDX");
    cli_sindex si;   /* a shard manifest: the shards' totals */
    if (!cli_sindex_open("index", path, 0, 0, 1, &si)) return MMF_EXIT_FAIL;
    mmf_index *ix = si.ix[0];
    mmf_index_info in = si.info;
    const char *kind = in.kind == MMF_INDEX_HNSW ? "hnsw" : "flat", *q = in.quant == MMF_QUANT_INT8 ? "int8" : "none";
    const char *model, *tensor;
    mmf_index_get_source(ix, &model, &tensor);
    if (json) {
        printf("{\"file\": ");
        cli_json_string(stdout, path);
        printf(", \"kind\": \"%s\", \"metric\": \"%s\", \"quant\": \"%s\", \"dim\": %d, \"count\": %zu, "
               "\"deleted\": %zu, \"M\": %d, \"ef_construction\": %d, \"ef_search\": %d, \"max_level\": %d, \"bytes\": %zu, \"model\": ",
               kind, mmf_metric_name(in.metric), q, in.dim, in.count, in.deleted, in.M, in.ef_construction,
               in.ef_search, in.max_level, in.bytes);
        if (model) cli_json_string(stdout, model); else printf("null");
        printf(", \"tensor\": ");
        if (tensor) cli_json_string(stdout, tensor); else printf("null");
        printf(", \"shards\": %d}\n", si.n_shards);
    } else
        printf("%s: %s index, metric %s, quant %s, dim %d\n  %zu vectors (%zu deleted)\n"
               "  M %d, ef_construction %d, ef_search %d, top level %d\n  %zu bytes\n  vectors of tensor \"%s\" from model %s\n",
               path, kind, mmf_metric_name(in.metric), q, in.dim, in.count, in.deleted, in.M, in.ef_construction,
               in.ef_search, in.max_level, in.bytes, tensor ? tensor : "?", model ? model : "(not recorded)");
    if (!json && si.is_manifest) printf("  %d shards (the numbers above are their totals; M, ef and top level of the first)\n", si.n_shards);
    cli_sindex_free(&si);
    return MMF_EXIT_OK;
}

enum update_action { UPDATE_DELETE, UPDATE_ADD, UPDATE_COMPACT };
static const char *const update_verb[] = {"delete from", "add to one of", "compact"};

static int do_update(int argc, char **argv, enum update_action act) {
    const char *path = NULL, *emb = NULL, *out = NULL, *tensor = NULL, *ids_name = NULL, *v;
    int bad = 0, nt = 1, is_add = act == UPDATE_ADD, compact = act == UPDATE_COMPACT;
    long iv;
    int64_t *del = NULL;
    size_t ndel = 0;
    for (int i = 2; i < argc; i++) {
        if (cli_opt(argc, argv, &i, "--out", &v, &bad)) out = v;
        else if (is_add && cli_opt(argc, argv, &i, "--tensor", &v, &bad)) tensor = v;
        else if (is_add && cli_opt(argc, argv, &i, "--ids", &v, &bad)) ids_name = v;
        else if (act == UPDATE_DELETE && !strcmp(argv[i], "--compact")) compact = 1;
        else if (act != UPDATE_DELETE && cli_opt(argc, argv, &i, "--threads", &v, &bad)) {
            if (bad || !cli_int("--threads", v, 1, 1024, &iv)) { free(del); return MMF_EXIT_USAGE; }
            nt = (int)iv;
        } else if (act == UPDATE_DELETE && cli_opt(argc, argv, &i, "--id", &v, &bad)) {
            char *end;
            if (bad) break;
            long long id = strtoll(v, &end, 10);
            if (end == v || *end) { free(del); return cli_usage("index", "--id expects an integer, got \"%s\"", v); }
            int64_t *nd = realloc(del, (ndel + 1) * sizeof *nd);
            if (!nd) { free(del); return MMF_EXIT_FAIL; }
            del = nd;
            del[ndel++] = id;
        } else if (argv[i][0] == '-' && argv[i][1]) { free(del); return cli_usage("index", "unknown option %s", argv[i]); }
        else if (!path) path = argv[i];
        else if (is_add && !emb) emb = argv[i];
        else { free(del); return cli_usage("index", "unexpected argument %s", argv[i]); }
        if (bad) { free(del); return MMF_EXIT_USAGE; }
    }
    if (bad) { free(del); return MMF_EXIT_USAGE; }
    if (!path) { free(del); return cli_usage("index", "missing IDX"); }
    if (is_add && !emb) return cli_usage("index", "add: missing EMB.safetensors");
    if (act == UPDATE_DELETE && !ndel) return cli_usage("index", "delete: give at least one --id");
    cli_sindex probe;   /* a manifest names shard files: those are what add and delete change */
    if (!cli_sindex_open("index", path, 1, 0, 1, &probe)) { free(del); return MMF_EXIT_FAIL; }
    int manifest = probe.is_manifest;
    cli_sindex_free(&probe);
    if (manifest) {
        free(del);
        fprintf(stderr, "mmfuse index: error: %s is a shard manifest: %s the shard files it names (%s.shard-R-of-N), "
                        "or rebuild the shards\n", path, update_verb[act], path);
        return MMF_EXIT_FAIL;
    }
    mmf_index *ix;
    mmf_status s = mmf_index_open(path, &ix);
    if (s) { free(del); return cli_fail("index", s, "cannot open the index"); }
    if (is_add) {
        mmf_index_info in;
        mmf_index_get_info(ix, &in);
        cli_emb e;
        if (!cli_load_emb("index", emb, tensor, ids_name, &e)) { mmf_index_free(ix); return MMF_EXIT_FAIL; }
        if (e.d != in.dim) {
            fprintf(stderr, "mmfuse index: dimension mismatch: %s tensor \"%s\" has dimension %d, the index %s has %d\n",
                    emb, e.tensor, e.d, path, in.dim);
            cli_emb_free(&e); mmf_index_free(ix);
            return MMF_EXIT_FAIL;
        }
        /* vectors of another model would share the dimension but not the space */
        char mid[MMF_MODEL_ID_MAX];
        int known = cli_source_model_id(e.file, e.tensor, NULL, mid, NULL, 0);
        s = mmf_index_check_query(ix, known ? mid : NULL, e.d);
        if (s) {
            fprintf(stderr, "mmfuse index: error: %s tensor \"%s\" cannot join %s: %s\n", emb, e.tensor, path, mmf_last_error());
            cli_emb_free(&e); mmf_index_free(ix);
            return MMF_EXIT_FAIL;
        }
        mmf_index_set_threads(ix, nt);
        s = mmf_index_add(ix, e.n, e.x, e.ids);
        size_t n = e.n;
        cli_emb_free(&e);
        if (s) { mmf_index_free(ix); return cli_fail("index", s, "cannot add the vectors"); }
        fprintf(stderr, "mmfuse index: added %zu vectors\n", n);
    } else if (act == UPDATE_DELETE) {
        for (size_t i = 0; i < ndel; i++) {
            s = mmf_index_delete(ix, del[i]);
            if (s) { free(del); mmf_index_free(ix); return cli_fail("index", s, "cannot delete"); }
        }
        fprintf(stderr, "mmfuse index: deleted %zu ids\n", ndel);
        free(del);
    }
    if (compact) {
        mmf_index_info before, after;
        mmf_index_get_info(ix, &before);
        mmf_index_set_threads(ix, nt);
        double t0 = now_s();
        s = mmf_index_compact(ix);
        if (s) { mmf_index_free(ix); return cli_fail("index", s, "cannot compact"); }
        mmf_index_get_info(ix, &after);
        fprintf(stderr, "mmfuse index: compacted: %zu deleted slots dropped, %zu vectors kept (%.2f s)\n",
                before.deleted, after.count, now_s() - t0);
    }
    s = mmf_index_save(ix, out ? out : path);
    mmf_index_free(ix);
    if (s) return cli_fail("index", s, "cannot save the index");
    return MMF_EXIT_OK;
}

static int run(int argc, char **argv) {
    if (argc < 2) return cli_usage("index", "missing action: build, info, add, delete or compact");
    if (!strcmp(argv[1], "build")) return do_build(argc, argv);
    if (cli_dist_size() > 1) {
        if (cli_dist_rank() == 0) fprintf(stderr, "mmfuse index: error: under mpirun only \"index build\" runs (one shard per rank)\n");
        return MMF_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "info")) return do_info(argc, argv);
    if (!strcmp(argv[1], "add")) return do_update(argc, argv, UPDATE_ADD);
    if (!strcmp(argv[1], "delete")) return do_update(argc, argv, UPDATE_DELETE);
    if (!strcmp(argv[1], "compact")) return do_update(argc, argv, UPDATE_COMPACT);
    return cli_usage("index", "unknown action \"%s\" (build, info, add, delete, compact)", argv[1]);
}

const mmf_cli_command mmf_cmd_index = {"index", "build, inspect and update a vector index (exact or HNSW)", run, help};
