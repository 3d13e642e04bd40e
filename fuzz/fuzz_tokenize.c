/* libFuzzer harness for the tokenizers: text from a request body or an input
 * file reaches them unchecked, so any bytes must tokenize or fail with a
 * message, never crash, hang or read out of bounds. The first byte picks a
 * tokenizer of tests/data (WordPiece vocab.txt and tokenizer.json, byte-level
 * BPE, SentencePiece BPE and Unigram as tokenizer.json and as .model files,
 * XLM-R's fairseq layout; loaded once from the source root, where
 * scripts/run-fuzzers.sh runs) and the second how to call it (with or without
 * special tokens, a pair, a length limit); the rest is the text, and a NUL
 * byte in it starts the pair. The last tokenizer comes from ../shared when
 * present (the real CLIP BPE). Promises: ids within the vocabulary, a token
 * string and a type id of 0 or 1 for each, no more than max_length tokens
 * when one is asked for, the same encoding twice, and an error names
 * something. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "mmfuse.h"

#ifndef PROMISE   /* tests/test_fuzz_regress.c includes every harness in one file */
#define PROMISE(c) do { if (!(c)) { fprintf(stderr, "broken promise: %s\n", #c); __builtin_trap(); } } while (0)
#endif

/* folders as they are, or one .model file shown to the loader as spiece.model */
static const struct { const char *path; int model_file; } tok_sources[] = {
    {"tests/data/text/bert_a", 0},     {"tests/data/text/bert_st", 0},  {"tests/data/text/bytebpe", 0},
    {"tests/data/text/roberta_bpe", 0}, {"tests/data/text/spm_bpe", 0}, {"tests/data/text/uni_nfkc", 0},
    {"tests/data/text/mpnet_b", 0},    {"tests/data/text/xlmr_spm", 0}, {"tests/data/text/spm/bpe.model", 1},
    {"tests/data/text/spm/uni.model", 1}, {"../shared/tokenizers/clip-vit-base-patch32", 0},
};
enum { N_SOURCES = sizeof tok_sources / sizeof tok_sources[0] };
static mmf_tokenizer *toks[N_SOURCES];
static int n_toks;
static char tmp_dirs[N_SOURCES][64];

static void tok_cleanup(void) {
    for (int i = 0; i < N_SOURCES; i++) {
        if (!tmp_dirs[i][0]) continue;
        char link[1024];
        snprintf(link, sizeof link, "%s/spiece.model", tmp_dirs[i]);
        unlink(link);
        rmdir(tmp_dirs[i]);
    }
}

static void tok_setup(void) {
    static int done;
    if (done) return;
    done = 1;
    mmf_log_set_level(MMF_LOG_ERROR);
    atexit(tok_cleanup);
    for (int i = 0; i < N_SOURCES; i++) {
        const char *dir = tok_sources[i].path;
        if (tok_sources[i].model_file) {   /* a temp folder holding the file as spiece.model */
            char abs[PATH_MAX], link[1024];
            snprintf(tmp_dirs[i], sizeof tmp_dirs[i], "/tmp/mmfuse-fuzz-tok.XXXXXX");
            if (!realpath(dir, abs) || !mkdtemp(tmp_dirs[i])) { tmp_dirs[i][0] = 0; continue; }
            snprintf(link, sizeof link, "%s/spiece.model", tmp_dirs[i]);
            if (symlink(abs, link)) continue;
            dir = tmp_dirs[i];
        }
        mmf_tokenizer *t = NULL;
        if (mmf_tokenizer_load(dir, &t) == MMF_OK) toks[n_toks++] = t;
        else if (strncmp(dir, "../", 3)) {   /* the in-tree ones must load */
            fprintf(stderr, "fuzz_tokenize: cannot load %s (run from the source root): %s\n", tok_sources[i].path, mmf_last_error());
            exit(1);
        }
    }
}

static int same_encoding(const mmf_encoding *a, const mmf_encoding *b) {
    if (a->n != b->n || a->truncated != b->truncated) return 0;
    for (int i = 0; i < a->n; i++)
        if (a->ids[i] != b->ids[i] || a->type_ids[i] != b->type_ids[i] || strcmp(a->tokens[i], b->tokens[i])) return 0;
    return 1;
}

int mmf_fuzz_tokenize(const uint8_t *data, size_t size) {
    tok_setup();
    if (size < 2) return 0;
    const mmf_tokenizer *t = toks[data[0] % n_toks];
    const int how = data[1];
    const int special = how & 1, max_length = (how & 2) ? 1 + (how >> 4) : (how & 4) ? -1 : 0;
    /* text and pair as NUL-terminated copies, so a read past either is caught */
    size_t len = size - 2;
    char *text = malloc(len + 1);
    if (!text) return 0;
    memcpy(text, data + 2, len);
    text[len] = 0;
    size_t tl = strlen(text);
    const char *pair = (how & 8) && tl < len ? text + tl + 1 : NULL;
    mmf_encoding e, e2;
    mmf_status s = mmf_tokenizer_encode(t, text, pair, special, max_length, &e);
    if (s != MMF_OK) {
        PROMISE(mmf_last_error()[0] != 0);
        free(text);
        return 0;
    }
    const int64_t V = mmf_tokenizer_vocab_size(t);
    PROMISE(e.n >= 0);
    if (max_length > 0) PROMISE(e.n <= max_length || (special && e.n <= 4));   /* specials alone may exceed a tiny limit */
    for (int i = 0; i < e.n; i++) {
        PROMISE(e.ids[i] >= 0 && e.ids[i] < V);
        PROMISE(e.tokens[i] != NULL);
        PROMISE(e.type_ids[i] == 0 || e.type_ids[i] == 1);
        PROMISE(e.attention_mask[i] == 1);
    }
    PROMISE(mmf_tokenizer_encode(t, text, pair, special, max_length, &e2) == MMF_OK);
    PROMISE(same_encoding(&e, &e2));
    mmf_encoding_free(&e);
    mmf_encoding_free(&e2);
    free(text);
    return 0;
}

#ifndef MMF_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return mmf_fuzz_tokenize(data, size); }
#endif
