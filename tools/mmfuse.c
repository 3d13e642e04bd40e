/* mmfuse: the command-line front of the library. */
#include <stdio.h>
#include <string.h>
#include "cli.h"
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

int main(int argc, char **argv) {
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
        if (cli_wants_help(argc - 1, argv + 1)) { fputs((*c)->help, stdout); return 0; }
        return (*c)->run(argc - 1, argv + 1);
    }
    fprintf(stderr, "mmfuse: unknown command '%s'. Run 'mmfuse --help' for the list.\n", argv[1]);
    return MMF_EXIT_USAGE;
}
