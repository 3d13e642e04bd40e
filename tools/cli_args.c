#define _GNU_SOURCE
#include "cli.h"
#include <sched.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int cli_opt(int argc, char **argv, int *i, const char *name, const char **value, int *bad) {
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return 0;
    if (a[n] == '=') { *value = a + n + 1; return 1; }
    if (a[n] != 0) return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "mmfuse: option %s needs a value (see --help)\n", name);
        *bad = 1;
        return 1;
    }
    *value = argv[++*i];
    return 1;
}

int cli_flag(char **argv, int i, const char *name) { return strcmp(argv[i], name) == 0; }

int cli_int(const char *opt, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "mmfuse: %s expects an integer in [%ld, %ld], got \"%s\"\n", opt, lo, hi, s);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_float(const char *opt, const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end) {
        fprintf(stderr, "mmfuse: %s expects a number, got \"%s\"\n", opt, s);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_num_opt(int argc, char **argv, int *i, const cli_num *table, int n, int *bad) {
    for (int k = 0; k < n; k++) {
        const cli_num *o = &table[k];
        const char *v;
        if (!cli_opt(argc, argv, i, o->name, &v, bad)) continue;
        if (*bad) return 1;
        long iv;
        double dv;
        if (o->i32) {
            if (cli_int(o->name, v, (long)o->lo, (long)o->hi, &iv)) *o->i32 = (int)iv;
            else *bad = 1;
        } else if (!cli_float(o->name, v, &dv)) {
            *bad = 1;
        } else if (o->lo < o->hi && (dv < o->lo || dv > o->hi)) {
            fprintf(stderr, "mmfuse: %s expects a number in [%g, %g], got \"%s\"\n", o->name, o->lo, o->hi, v);
            *bad = 1;
        } else {
            *o->f32 = (float)dv;
        }
        return 1;
    }
    return 0;
}

void cli_top_k(const float *scores, int64_t C, int k, int64_t *top) {
    for (int t = 0; t < k; t++) {
        int64_t best = -1;
        for (int64_t i = 0; i < C; i++) {
            int used = 0;
            for (int u = 0; u < t; u++) used |= top[u] == i;
            if (!used && (best < 0 || scores[i] > scores[best])) best = i;
        }
        top[t] = best;
    }
}

int cli_fail(const char *cmd, mmf_status s, const char *what) {
    const char *msg = mmf_last_error();
    if (msg && *msg) fprintf(stderr, "mmfuse %s: %s: %s\n", cmd, what, msg);
    else fprintf(stderr, "mmfuse %s: %s: %s\n", cmd, what, mmf_status_str(s));
    return MMF_EXIT_FAIL;
}

int cli_usage(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "mmfuse %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'mmfuse %s --help'.\n", cmd);
    return MMF_EXIT_USAGE;
}

int cli_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
    return 0;
}

int cli_run_action(const char *cmd, const char *help, const cli_action *acts, int n, const char *names, int argc, char **argv) {
    if (argc < 2 || cli_wants_help(argc, argv)) {
        fputs(help, argc < 2 ? stderr : stdout);
        return argc < 2 ? MMF_EXIT_USAGE : MMF_EXIT_OK;
    }
    for (int k = 0; k < n; k++)
        if (!strcmp(argv[1], acts[k].name)) return acts[k].run(argc, argv);
    return cli_usage(cmd, "unknown action \"%s\" (%s)", argv[1], names);
}

void cli_progress(const char *label, long done, long total) {
    static int enabled = -1;
    static struct timespec t0;
    if (enabled < 0) {
        const char *e = getenv("MMFUSE_PROGRESS");
        enabled = e ? atoi(e) != 0 : isatty(2);
        clock_gettime(CLOCK_MONOTONIC, &t0);
    }
    if (!enabled || total <= 0) return;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    double el = (double)(t.tv_sec - t0.tv_sec) + 1e-9 * (double)(t.tv_nsec - t0.tv_nsec);
    int width = 30, fill = (int)((double)width * (double)done / (double)total);
    char bar[64];
    for (int k = 0; k < width; k++) bar[k] = k < fill ? '#' : '.';
    bar[width] = 0;
    double rate = el > 0 ? (double)done / el : 0.0;
    fprintf(stderr, "\r%s [%s] %ld/%ld  %.1f/s ", label, bar, done, total, rate);
    if (done >= total) fputc('\n', stderr);
    fflush(stderr);
}

int cli_precision(const char *cmd, const char *s, mmf_precision *out) {
    static const char *const names[] = {"fp32", "bf16", "int8", "auto"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i])) { *out = (mmf_precision)i; return 1; }
    cli_usage(cmd, "--precision %s: expected fp32, bf16, int8 or auto", s);
    return 0;
}

int cli_default_threads(void) {
    const char *env = getenv("MMFUSE_THREADS");
    if (env && *env) {
        char *end;
        long n = strtol(env, &end, 10);
        if (!*end && n >= 1 && n <= 1024) return (int)n;
        fprintf(stderr, "mmfuse: warning: MMFUSE_THREADS=%s is not a thread count in 1..1024; ignored\n", env);
    }
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set) > 1024 ? 1024 : CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 ? (int)(n > 1024 ? 1024 : n) : 1;
}
