#include <stdio.h>
#include <string.h>
#include "cli.h"

static const char help[] =
    "Usage: mmfuse inspect FILE.safetensors [--json]\n"
    "       mmfuse inspect model.safetensors.index.json\n\n"
    "Validates a safetensors file (or a sharded checkpoint through its index) and\n"
    "lists its tensors (name, dtype, shape, bytes) and its __metadata__.\n"
    "Exits 1 with the fault named if the file is malformed: truncated header,\n"
    "overlapping or out-of-range offsets, unknown dtype, duplicate names, ...\n\n"
    "Options:\n"
    "  --json    one JSON object per tensor instead of a table (default: a table\n            plus the __metadata__ entries)\n\n"
    "Example:\n"
    "  mmfuse inspect models/all-MiniLM-L6-v2/model.safetensors\n";

static void print_shape(const mmf_tensor_info *t) {
    putchar('[');
    for (int d = 0; d < t->ndim; d++) printf(d ? ", %lld" : "%lld", (long long)t->shape[d]);
    putchar(']');
}

static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

/* Names and metadata come from the file: show control bytes as \xNN so a
 * hostile name cannot break the table or drive the terminal. */
static void put_safe(const char *s, int width) {
    int n = 0;
    for (; *s; s++, n++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f) { printf("\\x%02x", c); n += 3; }
        else putchar(c);
    }
    for (; n < width; n++) putchar(' ');
}

static int run(int argc, char **argv) {
    const char *path = NULL;
    int as_json = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--json")) as_json = 1;
        else if (argv[i][0] == '-' && argv[i][1]) return cli_usage("inspect", "unknown option %s", argv[i]);
        else if (!path) path = argv[i];
        else return cli_usage("inspect", "one file at a time (got %s and %s)", path, argv[i]);
    }
    if (!path) return cli_usage("inspect", "missing FILE.safetensors");
    mmf_safetensors *st;
    mmf_status s = mmf_st_open(path, &st);
    if (s) return cli_fail("inspect", s, "invalid safetensors file");
    size_t n = mmf_st_count(st), total = 0;
    if (!as_json) printf("%-48s %-5s %-20s %12s\n", "name", "dtype", "shape", "bytes");
    for (size_t i = 0; i < n; i++) {
        const mmf_tensor_info *t = mmf_st_at(st, i);
        total += t->nbytes;
        if (as_json) {
            printf("{\"name\": ");
            json_str(t->name);
            printf(", \"dtype\": \"%s\", \"shape\": ", mmf_dtype_name(t->dtype));
            print_shape(t);
            printf(", \"bytes\": %zu}\n", t->nbytes);
        } else {
            put_safe(t->name, 48);
            printf(" %-5s ", mmf_dtype_name(t->dtype));
            char buf[64];
            int k = 0;
            k += snprintf(buf + k, sizeof buf - (size_t)k, "[");
            for (int d = 0; d < t->ndim && k < (int)sizeof buf - 24; d++)
                k += snprintf(buf + k, sizeof buf - (size_t)k, d ? ", %lld" : "%lld", (long long)t->shape[d]);
            snprintf(buf + k, sizeof buf - (size_t)k, "]");
            printf("%-20s %12zu\n", buf, t->nbytes);
        }
    }
    if (!as_json) {
        printf("%zu tensors, %zu bytes of data\n", n, total);
        size_t nm = mmf_st_metadata_count(st);
        if (nm) printf("metadata:\n");
        for (size_t i = 0; i < nm; i++) {
            const char *k, *v;
            mmf_st_metadata_at(st, i, &k, &v);
            printf("  ");
            put_safe(k, 0);
            printf(" = ");
            put_safe(v, 0);
            putchar('\n');
        }
    }
    mmf_st_close(st);
    return MMF_EXIT_OK;
}

const mmf_cli_command mmf_cmd_inspect = {"inspect", "validate a safetensors file and list its tensors", run, help};
