/* The shared training options (cli_train_opts.h). */
#include "cli_train_opts.h"
#include "cli.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cli_train_opts cli_train_opts_make(const char *cmd, int takes) {
    cli_train_opts o = {.cmd = cmd, .takes = takes, .seed = 1, .precision = MMF_PRECISION_F32};
    return o;
}

int cli_train_opt(int argc, char **argv, int *i, cli_train_opts *o, int *bad) {
    const char *v;
    if ((o->takes & CLI_TRAIN_PROFILE) && cli_flag(argv, *i, "--profile")) { o->profile = 1; return 1; }
    if ((o->takes & CLI_TRAIN_DROPOUT) && cli_opt(argc, argv, i, "--modality-dropout", &v, bad)) { o->modality_dropout = v; return 1; }
    if (cli_flag(argv, *i, "--resume")) { o->resume = 1; return 1; }
    if (cli_opt(argc, argv, i, "--checkpoint", &v, bad)) { o->checkpoint = v; return 1; }
    if (cli_opt(argc, argv, i, "--checkpoint-every", &v, bad)) {
        long n;
        if (*bad) return 1;
        if (!cli_int("--checkpoint-every", v, 0, 2000000000L, &n)) *bad = 1;
        else o->checkpoint_every = n;
        return 1;
    }
    if (cli_opt(argc, argv, i, "--seed", &v, bad)) {
        char *end;
        if (*bad) return 1;
        o->seed = strtoull(v, &end, 10);
        if (*end || !*v || *v == '-') { cli_usage(o->cmd, "--seed expects a non-negative integer, got \"%s\"", v); *bad = 1; }
        return 1;
    }
    if ((o->takes & CLI_TRAIN_PRECISION) && cli_opt(argc, argv, i, "--precision", &v, bad)) {
        if (*bad) return 1;
        if (!strcmp(v, "fp32")) o->precision = MMF_PRECISION_F32;
        else if (!strcmp(v, "bf16")) o->precision = MMF_PRECISION_BF16;
        else { cli_usage(o->cmd, "--precision %s: expected fp32 or bf16", v); *bad = 1; }
        return 1;
    }
    return 0;
}

static int prob(const char *s, const char *end, double *d) {
    char *e;
    *d = strtod(s, &e);
    return e != s && e == end && *d >= 0 && *d < 1;
}

int cli_train_dropout(const cli_train_opts *o, const mmf_embfile *f, float *md) {
    const char *v = o->modality_dropout;
    if (!v) return 0;
    double d;
    if (!strchr(v, '=')) {
        if (!prob(v, v + strlen(v), &d)) return cli_usage(o->cmd, "--modality-dropout %s: expected a probability in [0, 1)", v);
        for (int m = 0; m < MMF_EMB_MAX_MODALITIES; m++) md[m] = (float)d;
        return 0;
    }
    for (const char *p = v; *p;) {
        const char *eq = strchr(p, '='), *comma = strchr(p, ',');
        const char *stop = comma ? comma : p + strlen(p);
        if (!eq || eq > stop) return cli_usage(o->cmd, "--modality-dropout: expected P or NAME=P,... got \"%s\"", v);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(eq - p) < 127 ? (int)(eq - p) : 127, p);
        int m = mmf_embfile_find(f, name);
        if (m < 0) return cli_usage(o->cmd, "--modality-dropout: %s has no modality \"%s\"", mmf_embfile_path(f), name);
        if (!prob(eq + 1, stop, &d)) return cli_usage(o->cmd, "--modality-dropout: %s needs a probability in [0, 1)", name);
        md[m] = (float)d;
        p = comma ? comma + 1 : stop;
    }
    return 0;
}

void cli_train_print_profile(const cli_train_opts *o, const double *ph) {
    if (!o->profile || ph[4] <= 0) return;
    double ms = 1e3 / ph[4], all = ph[0] + ph[1] + ph[2] + ph[3];
    fprintf(stderr, "profile: %.0f steps, ms per step: gather %.3f, forward %.3f, backward %.3f, optimiser %.3f (total %.3f)\n",
            ph[4], ph[0] * ms, ph[1] * ms, ph[2] * ms, ph[3] * ms, all * ms);
}
