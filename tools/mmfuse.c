/* mmfuse: the command-line front of the library. */
#define _GNU_SOURCE   /* sched_getaffinity */
#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "cli_dist.h"
#include "cli_table.h"

static void print_help(FILE *f) {
    fprintf(f,
        "mmfuse %s: multimodal deep learning in C\n\n"
        "Usage: mmfuse COMMAND [OPTIONS]\n"
        "       mmfuse COMMAND --help     details and examples for one command\n\n"
        "Commands:\n", MMFUSE_VERSION);
    for (const mmf_cli_command *const *c = mmf_cli_commands; *c; c++)
        fprintf(f, "  %-12s %s\n", (*c)->name, (*c)->summary);
    fprintf(f,
        "\nModel folders are Hugging Face folders as downloaded (config.json,\n"
        "model.safetensors, tokenizer and preprocessor files). Outputs are\n"
        "safetensors files written atomically: a failed run never leaves half a file.\n"
        "Exit status: 0 success, 1 failure (message on stderr), 2 bad usage.\n");
}

/* libgomp spins ~300k iterations at every barrier before it sleeps. On a busy
 * machine (more runnable threads than cores) the partner thread is often not
 * running, so each parallel region burns whole time slices spinning: at load
 * 11 on 2 cores, 2-thread fusion training ran 7x slower than 1 thread (and
 * 1.8x faster than 1 thread with a short spin). libgomp reads the spin count
 * from the environment when it loads, before main (in its constructor, from
 * the original environment block: a setenv in .preinit_array is not seen):
 * set a short one and exec ourselves once. A one-thread run has no barrier
 * to spin at and skips the exec, which costs a second dynamic load (~550 page
 * faults, ~25 ms CPU on the 2-core VMs here). A user's OMP_WAIT_POLICY or
 * GOMP_SPINCOUNT wins. */
static int one_thread(char **argv) {
    const char *n = NULL;   /* the last --threads N / --threads=N counts, as in the parsers */
    for (int i = 1; argv[i]; i++) {
        if (!strcmp(argv[i], "--threads") && argv[i + 1]) n = argv[++i];
        else if (!strncmp(argv[i], "--threads=", 10)) n = argv[i] + 10;
    }
    if (n) return !strcmp(n, "1");
    const char *env = getenv("MMFUSE_THREADS");
    if (env && *env) return !strcmp(env, "1");
    cpu_set_t set;
    return sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) == 1;
}

static void short_omp_spin(char **argv) {
    if (one_thread(argv)) {
        /* and no region may start a second thread before the command sets
         * its count (oneDNN's weight reorders at load would): an idle
         * libgomp worker spins its default 300k rounds at every barrier */
        omp_set_num_threads(1);
        return;
    }
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT") || getenv("MMFUSE_NO_REEXEC")) return;
    if (setenv("GOMP_SPINCOUNT", "1000", 1)) return;
    execv("/proc/self/exe", argv);
    /* exec failed: go on with libgomp's default spin */
}

static int run_command(int argc, char **argv);

/* The subcommands that split their work over the ranks of an MPI job
 * (docs/scale.md); the others refuse to run as several ranks. */
static int distributed(const char *name) {
    static const char *const names[] = {"embed", "cluster", "index", "search", "train", "train-encoder", "train-direct", NULL};
    for (int i = 0; names[i]; i++)
        if (!strcmp(names[i], name)) return 1;
    return 0;
}

int main(int argc, char **argv) {
    short_omp_spin(argv);
    if (cli_dist_init(&argc, &argv)) return MMF_EXIT_FAIL;
    return cli_dist_finish(run_command(argc, argv));
}

static int run_command(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        if (argc >= 3 && strcmp(argv[1], "help") == 0) {
            for (const mmf_cli_command *const *c = mmf_cli_commands; *c; c++)
                if (strcmp((*c)->name, argv[2]) == 0) { fputs((*c)->help, stdout); return 0; }
        }
        print_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? MMF_EXIT_USAGE : MMF_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) { printf("mmfuse %s\n", MMFUSE_VERSION); return 0; }
    for (const mmf_cli_command *const *c = mmf_cli_commands; *c; c++) {
        if (strcmp((*c)->name, argv[1]) != 0) continue;
        if (cli_wants_help(argc - 1, argv + 1)) { if (cli_dist_rank() == 0) fputs((*c)->help, stdout); return 0; }
        if (cli_dist_size() > 1 && !distributed((*c)->name)) {
            if (cli_dist_rank() == 0)
                fprintf(stderr, "mmfuse %s: error: does not run as %d ranks under mpirun; run it as one process "
                                "(distributed: embed, cluster, index build, search, train, train-encoder, train-direct)\n", (*c)->name, cli_dist_size());
            return MMF_EXIT_USAGE;
        }
        return (*c)->run(argc - 1, argv + 1);
    }
    fprintf(stderr, "mmfuse: unknown command '%s'. Run 'mmfuse --help' for the list.\n", argv[1]);
    return MMF_EXIT_USAGE;
}
