#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "cli.h"

static const char help[] =
    "Usage: mmfuse inspect FILE.safetensors [--json]\n"
    "       mmfuse inspect model.safetensors.index.json\n"
    "       mmfuse inspect MODEL_DIR [--json]\n\n"
    "Validates a safetensors file (or a sharded checkpoint through its index) and\n"
    "lists its tensors (name, dtype, shape, bytes) and its __metadata__.\n"
    "Given a model folder, loads it as mmfuse embed would and prints its\n"
    "model_type, the family that runs it, what it embeds, the embedding size,\n"
    "the sequence length, and the pooling and normalisation used by default\n"
    "(from sentence-transformers modules when the folder has them).\n"
    "Exits 1 with the fault named if the file is malformed: truncated header,\n"
    "overlapping or out-of-range offsets, unknown dtype, duplicate names, ...\n\n"
    "Options:\n"
    "  --json    one JSON object per tensor instead of a table (default: a table\n            plus the __metadata__ entries)\n\n"
    "Example:\n"
    "  mmfuse inspect models/all-MiniLM-L6-v2/model.safetensors\n"
    "  mmfuse inspect models/all-mpnet-base-v2\n";

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

/* A model folder: what mmfuse will run and how it pools. */
static int inspect_model(const char *dir, int as_json) {
    mmf_encoder *e;
    mmf_status s = mmf_encoder_load(dir, NULL, &e);
    if (s) return cli_fail("inspect", s, "cannot load the model folder");
    int mod = mmf_encoder_modalities(e);
    const char *what = mod == (MMF_MODALITY_TEXT | MMF_MODALITY_IMAGE) ? "text, image" : mod == MMF_MODALITY_IMAGE ? "image" : "text";
    mmf_pooling p = mmf_encoder_default_pooling(e);
    int norm = mmf_encoder_default_normalize(e);
    if (as_json) {
        printf("{\"model_type\": ");
        json_str(mmf_encoder_model_type(e));
        printf(", \"family\": ");
        json_str(mmf_encoder_family(e));
        printf(", \"modalities\": \"%s\", \"dim\": %d, \"max_length\": %d, \"pooling\": \"%s\", \"pooling_desc\": ",
               what, mmf_encoder_dim(e), (mod & MMF_MODALITY_TEXT) ? mmf_encoder_max_length(e) : 0, mmf_pooling_name(p));
        json_str(mmf_encoder_pooling_desc(e, p));
        printf(", \"normalize\": %s}\n", norm ? "true" : "false");
    } else {
        printf("model_type  ");
        put_safe(mmf_encoder_model_type(e), 0);
        printf("\nfamily      %s\nembeds      %s\ndim         %d\n", mmf_encoder_family(e), what, mmf_encoder_dim(e));
        if (mod & MMF_MODALITY_TEXT) printf("max_length  %d tokens\n", mmf_encoder_max_length(e));
        printf("pooling     %s: %s\nnormalize   %s\n", mmf_pooling_name(p), mmf_encoder_pooling_desc(e, p), norm ? "yes (L2)" : "no");
    }
    mmf_encoder_free(e);
    return MMF_EXIT_OK;
}

static int is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
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
    if (!path) return cli_usage("inspect", "missing FILE.safetensors or MODEL_DIR");
    if (is_dir(path)) return inspect_model(path, as_json);
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

const mmf_cli_command mmf_cmd_inspect = {"inspect", "list a safetensors file's tensors, or what a model folder runs and how it pools", run, help};
