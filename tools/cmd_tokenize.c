#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "cli_lines.h"

static const char help[] =
    "Usage: mmfuse tokenize --model DIR (--text STR | --text-file F) [options]\n\n"
    "Tokenizes text with the tokenizer of a Hugging Face model folder (tokenizer.json:\n"
    "WordPiece, BPE or Unigram; or vocab.txt, vocab.json + merges.txt, or a SentencePiece\n"
    "spiece.model / sentencepiece.bpe.model) as the reference `tokenizers` library or\n"
    "sentencepiece does, and prints one JSON object per input on stdout:\n"
    "  {\"ids\": [101, 7592, 102], \"tokens\": [\"[CLS]\", \"hello\", \"[SEP]\"]}\n"
    "Invalid UTF-8 bytes are replaced by U+FFFD (with a warning); BERT drops them.\n\n"
    "Options:\n"
    "  --model DIR        model or tokenizer folder (required)\n"
    "  --text STR         one input (may be repeated)\n"
    "  --text-file F      one input per line (UTF-8; an empty line is an input too; - = stdin)\n"
    "  --pair STR         second text of a pair for every input (type ids 1), default none\n"
    "  --max-length N     truncate to N tokens, specials included; 0 = the tokenizer's own\n"
    "                     limit (model_max_length), -1 = never (default 0)\n"
    "  --no-special       leave out [CLS]/[SEP] and other template tokens\n"
    "  --type-ids         also print \"type_ids\"\n\n"
    "Example:\n"
    "  mmfuse tokenize --model models/bert-base-uncased --text \"Hello, world!\"\n";

static void print_ids(const mmf_encoding *e, int type_ids) {
    fputs("{\"ids\": [", stdout);
    for (int i = 0; i < e->n; i++) printf(i ? ", %d" : "%d", e->ids[i]);
    fputs("], \"tokens\": [", stdout);
    for (int i = 0; i < e->n; i++) {
        if (i) fputs(", ", stdout);
        cli_json_string(stdout, e->tokens[i]);
    }
    fputc(']', stdout);
    if (type_ids) {
        fputs(", \"type_ids\": [", stdout);
        for (int i = 0; i < e->n; i++) printf(i ? ", %d" : "%d", e->type_ids[i]);
        fputc(']', stdout);
    }
    fputs("}\n", stdout);
}

static int run(int argc, char **argv) {
    const char *model = NULL, *file = NULL, *pair = NULL, *v;
    const char **texts = calloc((size_t)argc, sizeof *texts);
    size_t n_texts = 0;
    long max_len = 0;
    int special = 1, types = 0, bad = 0;
    for (int i = 1; i < argc && !bad; i++) {
        if (cli_opt(argc, argv, &i, "--model", &model, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--text-file", &file, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--text", &v, &bad)) { if (!bad) texts[n_texts++] = v; continue; }
        if (cli_opt(argc, argv, &i, "--pair", &pair, &bad)) continue;
        if (cli_opt(argc, argv, &i, "--max-length", &v, &bad)) {
            if (!bad && !cli_int("--max-length", v, -1, 1 << 24, &max_len)) bad = 1;
            continue;
        }
        if (cli_flag(argv, i, "--no-special")) { special = 0; continue; }
        if (cli_flag(argv, i, "--type-ids")) { types = 1; continue; }
        free(texts);
        return cli_usage("tokenize", "unknown argument %s", argv[i]);
    }
    if (bad) { free(texts); return MMF_EXIT_USAGE; }
    if (!model) { free(texts); return cli_usage("tokenize", "--model DIR is required"); }
    if (!file && !n_texts) { free(texts); return cli_usage("tokenize", "give --text STR or --text-file F"); }
    if (file && n_texts) { free(texts); return cli_usage("tokenize", "give --text or --text-file, not both"); }
    char **lines = NULL, *buf = NULL;
    size_t n = n_texts;
    if (file) {
        int rc = cli_read_lines("tokenize", file, &lines, &n, &buf);
        if (rc) { free(texts); return rc; }
    }
    mmf_tokenizer *tok;
    mmf_status s = mmf_tokenizer_load(model, &tok);
    if (s) { free(texts); free(lines); free(buf); return cli_fail("tokenize", s, "cannot load the tokenizer"); }
    int rc = MMF_EXIT_OK;
    size_t n_trunc = 0;
    for (size_t i = 0; i < n; i++) {
        mmf_encoding e;
        s = mmf_tokenizer_encode(tok, file ? lines[i] : texts[i], pair, special, (int)max_len, &e);
        if (s) { rc = cli_fail("tokenize", s, "cannot tokenize"); break; }
        n_trunc += (size_t)e.truncated;
        print_ids(&e, types);
        mmf_encoding_free(&e);
    }
    if (n_trunc) fprintf(stderr, "mmfuse tokenize: notice: %zu input(s) truncated to the maximum length\n", n_trunc);
    mmf_tokenizer_free(tok);
    free(texts);
    free(lines);
    free(buf);
    if (fflush(stdout) != 0) return MMF_EXIT_FAIL;
    return rc;
}

const mmf_cli_command mmf_cmd_tokenize = {"tokenize", "tokenize text with a model folder's tokenizer (JSON per input)", run, help};
