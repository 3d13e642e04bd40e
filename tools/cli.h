/* The mmfuse CLI: one file per subcommand (tools/cmd_NAME.c), each defining
 *   const mmf_cli_command mmf_cmd_NAME = {"NAME", "one-line summary", run, help};
 * CMake collects them into the table, so adding one touches no shared file.
 * Subcommands use only the public API in mmfuse.h. */
#ifndef MMF_CLI_H
#define MMF_CLI_H
#include <stdio.h>
#include "mmfuse.h"

typedef struct mmf_cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);   /* argv[0] is the subcommand name */
    const char *help;                    /* full text for `mmfuse NAME --help` */
} mmf_cli_command;

/* Exit codes: 0 ok, 1 the work failed (bad input, I/O), 2 bad usage. */
enum { MMF_EXIT_OK = 0, MMF_EXIT_FAIL = 1, MMF_EXIT_USAGE = 2 };

/* Option parsing shared by subcommands. Options are --name VALUE or
 * --name=VALUE; flags are --name. Returns 1 and sets *value when argv[*i]
 * matches (advancing *i past a separate value), 0 when it does not match;
 * a missing value prints a usage error and sets *bad. */
int cli_opt(int argc, char **argv, int *i, const char *name, const char **value, int *bad);
int cli_flag(char **argv, int i, const char *name);
/* Parse integers/floats with range checks; print a usage error on failure. */
int cli_int(const char *opt, const char *s, long lo, long hi, long *out);
int cli_float(const char *opt, const char *s, double *out);
/* The default --threads: MMFUSE_THREADS when set (1..1024), else the cores
 * this process may run on (its affinity mask). */
int cli_default_threads(void);
/* --precision fp32 | bf16 | int8 | auto for an encoder; prints a usage error and returns 0 on anything else. */
int cli_precision(const char *cmd, const char *s, mmf_precision *out);
/* A numeric option that fills one field of a params struct: an int within
 * [lo, hi] (i32 set) or a float (f32 set) within [lo, hi] (any when lo == hi). Subcommands with many such options
 * list them in a table instead of one parsing branch each. */
typedef struct cli_num {
    const char *name;
    int *i32;
    float *f32;
    double lo, hi;   /* the accepted range (a float: any value when lo == hi) */
} cli_num;
/* Returns 1 when argv[*i] is one of the N options of TABLE, parsing its value
 * into the field (a missing or bad value prints why and sets *bad); 0 if none. */
int cli_num_opt(int argc, char **argv, int *i, const cli_num *table, int n, int *bad);
/* The k (<= C) highest of scores[C] into top[k], best first, ties to the
 * lower index: the classes `eval --predictions` and `serve` report. */
void cli_top_k(const float *scores, int64_t C, int k, int64_t *top);
/* Print "mmfuse NAME: error: <msg>" plus mmf_last_error() if status != OK. */
int cli_fail(const char *cmd, mmf_status s, const char *what);
int cli_usage(const char *cmd, const char *fmt, ...);
/* Wants --help? */
int cli_wants_help(int argc, char **argv);
/* Subcommands made of actions (`mmfuse CMD ACTION [options]`): no action prints
 * HELP to stderr (usage error), --help prints it to stdout, an unknown action is
 * a usage error listing NAMES ("train, run or eval"); else the action runs with
 * argv[1] its name. */
typedef struct cli_action {
    const char *name;
    int (*run)(int argc, char **argv);
} cli_action;
int cli_run_action(const char *cmd, const char *help, const cli_action *acts, int n, const char *names, int argc, char **argv);
/* A progress bar on stderr (only when stderr is a terminal or MMFUSE_PROGRESS=1). */
void cli_progress(const char *label, long done, long total);
#endif
