#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static const char help[] =
    "Usage: mmfuse eval HEAD.safetensors --data TEST.safetensors [--drop MODALITY]\n"
    "                   [--noise SIGMA] [--json] [--no-table] [--threads N]\n\n"
    "Evaluates a fusion head: loss, accuracy and macro-F1 (classify; multilabel uses\n"
    "exact-match accuracy and macro-F1 at threshold 0.5) or recall@1/5/10 of the first\n"
    "modality against the second (align). Then a robustness table: every modality\n"
    "removed in turn, random modality drops at rates 0.1/0.25/0.5 (one modality always\n"
    "kept), and Gaussian noise with sigma 0.1/0.25/0.5/1 times each feature's std.\n"
    "The data must carry the head's modalities with the same dimensions (a modality\n"
    "missing from the file counts as absent in every row).\n\n"
    "Options:\n"
    "  --data FILE      embedding file to evaluate on (required)\n"
    "  --drop NAME      treat modality NAME as absent in every row\n"
    "  --noise SIGMA    add N(0, (SIGMA * feature std)^2) to present embeddings [0]\n"
    "  --json           one JSON object per line instead of a table\n"
    "  --no-table       only the main result, no robustness table\n"
    "  --seed S         seed for drops and noise [1]\n"
    "  --predictions F  classify: also write each row's predicted class, top-5 classes\n"
    "                   and true label as JSON (atomically): {\"n\", \"classes\",\n"
    "                   \"rows\": [{\"id\", \"label\", \"pred\", \"top5\"}, ...]}\n"
    "  --threads N      (default: the cores this process may use, or MMFUSE_THREADS)\n\n"
    "Example:\n"
    "  mmfuse eval gmu.head.safetensors --data test.safetensors\n";

static void row(const char *label, const mmf_eval_result *r, mmf_task task, int as_json) {
    if (as_json) {
        if (task == MMF_TASK_ALIGN)
            printf("{\"setting\": \"%s\", \"n\": %lld, \"loss\": %.6f, \"recall@1\": %.6f, \"recall@5\": %.6f, \"recall@10\": %.6f}\n",
                   label, (long long)r->n, r->loss, r->recall[0], r->recall[1], r->recall[2]);
        else
            printf("{\"setting\": \"%s\", \"n\": %lld, \"loss\": %.6f, \"accuracy\": %.6f, \"macro_f1\": %.6f}\n",
                   label, (long long)r->n, r->loss, r->accuracy, r->macro_f1);
    } else if (task == MMF_TASK_ALIGN) {
        printf("%-24s %8lld %9.4f %9.4f %9.4f %9.4f\n", label, (long long)r->n, r->loss, r->recall[0], r->recall[1], r->recall[2]);
    } else {
        printf("%-24s %8lld %9.4f %9.4f %9.4f\n", label, (long long)r->n, r->loss, r->accuracy, r->macro_f1);
    }
}

/* --predictions: argmax and top-5 of the outputs under the same options as the main row */
static int write_predictions(mmf_head *h, const mmf_embfile *f, const mmf_eval_params *o, const char *path) {
    int64_t N = mmf_embfile_rows(f), C = mmf_head_out_dim(h);
    const int64_t *lab = mmf_embfile_labels(f), *ids = mmf_embfile_ids(f);
    float *out = malloc((size_t)(N * C + 1) * sizeof(float));
    size_t cap = (size_t)N * 160 + 64, n = 0;
    char *buf = malloc(cap);
    if (!out || !buf) { free(out); free(buf); return cli_fail("eval", MMF_ERR_NOMEM, "out of memory for the predictions"); }
    mmf_status s = mmf_head_predict(h, f, o, NULL, out);
    if (s) { free(out); free(buf); return cli_fail("eval", s, "prediction failed"); }
    n += (size_t)snprintf(buf + n, cap - n, "{\"n\": %lld, \"classes\": %lld, \"rows\": [", (long long)N, (long long)C);
    for (int64_t i = 0; i < N; i++) {
        const float *y = out + i * C;
        int64_t top[5];
        int k = C < 5 ? (int)C : 5;
        cli_top_k(y, C, k, top);
        n += (size_t)snprintf(buf + n, cap - n, "%s\n{\"id\": %lld, \"label\": %lld, \"pred\": %lld, \"top5\": [", i ? "," : "",
                              (long long)(ids ? ids[i] : i), (long long)(lab ? lab[i] : -1), (long long)top[0]);
        for (int j = 0; j < k; j++) n += (size_t)snprintf(buf + n, cap - n, "%s%lld", j ? ", " : "", (long long)top[j]);
        n += (size_t)snprintf(buf + n, cap - n, "]}");
    }
    n += (size_t)snprintf(buf + n, cap - n, "\n]}\n");
    s = mmf_write_file_atomic(path, buf, n);
    free(out);
    free(buf);
    return s ? cli_fail("eval", s, "cannot write the predictions") : MMF_EXIT_OK;
}

static int run(int argc, char **argv) {
    const char *head = NULL, *data = NULL, *drop = NULL, *pred = NULL, *v;
    double noise = 0.0;
    int as_json = 0, table = 1, bad = 0;
    long threads = cli_default_threads();
    unsigned long long seed = 1;
    for (int i = 1; i < argc && !bad; i++) {
        if (cli_opt(argc, argv, &i, "--data", &data, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--drop", &drop, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--predictions", &pred, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--noise", &v, &bad)) { if (bad || !cli_float("--noise", v, &noise) || noise < 0) return MMF_EXIT_USAGE; continue; }
        if (cli_opt(argc, argv, &i, "--threads", &v, &bad)) { if (bad || !cli_int("--threads", v, 1, 1024, &threads)) return MMF_EXIT_USAGE; continue; }
        if (cli_opt(argc, argv, &i, "--seed", &v, &bad)) { if (bad) return MMF_EXIT_USAGE; seed = strtoull(v, NULL, 10); continue; }
        if (cli_flag(argv, i, "--json")) { as_json = 1; continue; }
        if (cli_flag(argv, i, "--no-table")) { table = 0; continue; }
        if (argv[i][0] == '-' && argv[i][1]) return cli_usage("eval", "unknown option %s", argv[i]);
        if (head) return cli_usage("eval", "one head at a time (got %s and %s)", head, argv[i]);
        head = argv[i];
    }
    if (bad) return MMF_EXIT_USAGE;
    if (!head) return cli_usage("eval", "missing HEAD.safetensors");
    if (!data) return cli_usage("eval", "missing --data FILE");
    mmf_head *h = NULL;
    mmf_embfile *f = NULL;
    mmf_status s = mmf_head_load(head, &h);
    if (s) return cli_fail("eval", s, "cannot load the head");
    if ((s = mmf_embfile_open(data, &f))) { mmf_head_free(h); return cli_fail("eval", s, "cannot use the data"); }
    mmf_task task = mmf_head_task(h);
    mmf_eval_params o = mmf_eval_params_default();
    o.n_threads = (int)threads;
    o.seed = seed;
    o.drop = drop;
    o.noise = (float)noise;
    mmf_eval_result r;
    int rc = MMF_EXIT_OK;
    if ((s = mmf_head_eval(h, f, &o, &r))) { rc = cli_fail("eval", s, "evaluation failed"); goto done; }
    if (!as_json) {
        char desc[512];
        printf("head: %s\n", mmf_head_describe(h, desc, sizeof desc));
        if (task == MMF_TASK_ALIGN) printf("%-24s %8s %9s %9s %9s %9s\n", "setting", "n", "loss", "R@1", "R@5", "R@10");
        else printf("%-24s %8s %9s %9s %9s\n", "setting", "n", "loss", "accuracy", "macro-F1");
    }
    char label[96];
    snprintf(label, sizeof label, "%s%s%s", drop ? "without " : "as given", drop ? drop : "", noise > 0 ? " +noise" : "");
    row(label, &r, task, as_json);
    if (pred && task != MMF_TASK_CLASSIFY) { rc = cli_usage("eval", "--predictions is for classify heads"); goto done; }
    if (pred && (rc = write_predictions(h, f, &o, pred))) goto done;
    if (table && !drop && noise == 0.0) {
        if (!as_json) printf("-- robustness --\n");
        for (int m = 0; m < mmf_embfile_n_modalities(f) && !s; m++) {
            mmf_eval_params d = o;
            d.drop = mmf_embfile_modality(f, m);
            if ((s = mmf_head_eval(h, f, &d, &r))) break;
            snprintf(label, sizeof label, "without %s", d.drop);
            row(label, &r, task, as_json);
        }
        static const float rates[] = {0.1f, 0.25f, 0.5f}, sig[] = {0.1f, 0.25f, 0.5f, 1.0f};
        for (int k = 0; k < 3 && !s; k++) {
            mmf_eval_params d = o;
            d.drop_rate = rates[k];
            if ((s = mmf_head_eval(h, f, &d, &r))) break;
            snprintf(label, sizeof label, "drop rate %.2f", rates[k]);
            row(label, &r, task, as_json);
        }
        for (int k = 0; k < 4 && !s; k++) {
            mmf_eval_params d = o;
            d.noise = sig[k];
            if ((s = mmf_head_eval(h, f, &d, &r))) break;
            snprintf(label, sizeof label, "noise sigma %.2f", sig[k]);
            row(label, &r, task, as_json);
        }
        if (s) rc = cli_fail("eval", s, "robustness table failed");
    }
done:
    mmf_embfile_close(f);
    mmf_head_free(h);
    return rc;
}

const mmf_cli_command mmf_cmd_eval = {"eval", "evaluate a fusion head, with a robustness table", run, help};
