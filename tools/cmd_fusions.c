#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "cli_lines.h"

static const char help[] =
    "Usage: mmfuse fusions [--json]\n\n"
    "Lists the fusion operators `mmfuse train --fusion NAME` accepts, with their\n"
    "formula, parameter and FLOP costs (per sample; D_m = modality dims, H = --hidden,\n"
    "C = classes, M = modalities) and what each does when a modality is absent.\n"
    "Details and references: docs/fusion.md.\n\n"
    "Options:\n"
    "  --json    one JSON object per operator\n\n"
    "Example:\n"
    "  mmfuse fusions\n";

static void js(const char *s) { cli_json_string(stdout, s); }

static int run(int argc, char **argv) {
    int as_json = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--json")) as_json = 1;
        else return cli_usage("fusions", "unknown argument %s", argv[i]);
    }
    for (int i = 0; i < mmf_fusion_count(); i++) {
        if (as_json) {
            printf("{\"name\": "); js(mmf_fusion_name(i));
            printf(", \"summary\": "); js(mmf_fusion_summary(i));
            printf(", \"cost\": "); js(mmf_fusion_cost(i));
            printf(", \"absent\": "); js(mmf_fusion_absent(i));
            printf("}\n");
        } else {
            printf("%-17s %s\n", mmf_fusion_name(i), mmf_fusion_summary(i));
            printf("%-17s   cost:   %s\n", "", mmf_fusion_cost(i));
            printf("%-17s   absent: %s\n", "", mmf_fusion_absent(i));
        }
    }
    if (!as_json)
        printf("\nTask align (--task align) ignores --fusion: two projections trained with symmetric InfoNCE.\n");
    return MMF_EXIT_OK;
}

const mmf_cli_command mmf_cmd_fusions = {"fusions", "list the fusion operators and their costs", run, help};
