/* The tokenizer.json pipeline against npm's @huggingface/tokenizers@0.2.0
 * (tests/ref/ref_hf_tokenizers.mjs -> ids_js.json): a byte-level BPE in
 * RoBERTa's layout (tests/data/text/bytebpe, trained by
 * tests/ref/gen_bytebpe.py: ByteLevel pre-tokeniser with GPT-2's pattern and byte
 * map, merges by rank, RobertaProcessing, <mask> with lstrip) through both
 * tokenizer.json and vocab.json + merges.txt + tokenizer_config.json; and a
 * Unigram tokenizer.json as older XLM-R files are written (NFKC, Replace,
 * Metaspace add_prefix_space, unknown pieces, <s> A </s></s> B </s>); and
 * the spm_train BPE as a Llama-style tokenizer.json (Prepend and Replace
 * normalisers, no pre-tokeniser, character BPE with byte fallback). Every
 * string and pair must give exactly the reference ids. */
#include "test_util.h"
#include "io/json.h"
#include <unistd.h>

static int same(const mmf_encoding *e, const cJSON *ids) {
    if (cJSON_GetArraySize(ids) != e->n) return 0;
    int k = 0;
    for (const cJSON *v = ids->child; v; v = v->next, k++)
        if ((int32_t)v->valuedouble != e->ids[k]) return 0;
    return 1;
}

static void show(const char *label, const char *text, const mmf_encoding *e, const cJSON *ids) {
    fprintf(stderr, "[%s] mismatch for \"", label);
    for (const char *p = text; *p; p++) fprintf(stderr, (unsigned char)*p < 32 ? "\\x%02x" : "%c", *p);
    fprintf(stderr, "\"\n  got     ");
    for (int i = 0; i < e->n; i++) fprintf(stderr, " %d(%s)", e->ids[i], e->tokens[i]);
    fprintf(stderr, "\n  expected");
    for (const cJSON *v = ids->child; v; v = v->next) fprintf(stderr, " %d", (int)v->valuedouble);
    fputc('\n', stderr);
}

static void run(const char *label, const char *dir, const cJSON *ref) {
    mmf_tokenizer *tok = NULL;
    CHECK_OK(mmf_tokenizer_load(dir, &tok));
    if (!tok) return;
    int total = 0, agree = 0, shown = 0;
    const char *keys[] = {"singles", "pairs"};
    for (int k = 0; k < 2; k++) {
        for (const cJSON *c = cJSON_GetObjectItem(ref, keys[k])->child; c; c = c->next) {
            const char *a = cJSON_GetObjectItem(c, "text")->valuestring;
            const cJSON *b = cJSON_GetObjectItem(c, "pair"), *ids = cJSON_GetObjectItem(c, "ids");
            mmf_encoding e;
            CHECK_OK(mmf_tokenizer_encode(tok, a, b ? b->valuestring : NULL, 1, -1, &e));
            total++;
            if (same(&e, ids)) agree++;
            else if (shown++ < 6) show(label, a, &e, ids);
            mmf_encoding_free(&e);
        }
    }
    printf("[%s] %d of %d encodings identical to @huggingface/tokenizers\n", label, agree, total);
    CHECK(total >= 600);
    CHECK_MSG(agree == total, "%s: %d of %d differ", label, total - agree, total);
    mmf_tokenizer_free(tok);
}

static cJSON *load_ref(const char *rel) {
    char path[1024];
    cJSON *ref = NULL;
    CHECK_OK(mmf_json_load(t_src_path(rel, path, sizeof path), &ref));
    return ref;
}

int main(void) {
    char dir[1024], src[2200], dst[1200], tmp[512], cwd[1024];
    cJSON *ref = load_ref("tests/data/text/bytebpe/ids_js.json");
    if (ref) {
        run("byte-level BPE, tokenizer.json", t_src_path("tests/data/text/bytebpe", dir, sizeof dir), ref);
        /* the same model as RobertaTokenizer's files only */
        t_tmpdir(tmp, sizeof tmp);
        if (!getcwd(cwd, sizeof cwd)) cwd[0] = 0;
        const char *files[] = {"vocab.json", "merges.txt", "tokenizer_config.json"};
        for (int i = 0; i < 3; i++) {
            snprintf(src, sizeof src, "%s/%s/%s", dir[0] == '/' ? "" : cwd, dir, files[i]);
            snprintf(dst, sizeof dst, "%s/%s", tmp, files[i]);
            CHECK(symlink(src, dst) == 0);
        }
        run("byte-level BPE, vocab.json + merges.txt", tmp, ref);
        mmf_tokenizer *tok = NULL;
        CHECK_OK(mmf_tokenizer_load(tmp, &tok));
        if (tok) {
            CHECK(mmf_tokenizer_pad_id(tok) == 1 && mmf_tokenizer_max_length(tok) == 512);
            mmf_tokenizer_free(tok);
        }
        for (int i = 0; i < 3; i++) { snprintf(dst, sizeof dst, "%s/%s", tmp, files[i]); unlink(dst); }
        rmdir(tmp);
        cJSON_Delete(ref);
    }
    ref = load_ref("tests/data/text/uni_nfkc/ids_js.json");
    if (ref) {
        run("Unigram tokenizer.json (NFKC, Metaspace)", t_src_path("tests/data/text/uni_nfkc", dir, sizeof dir), ref);
        cJSON_Delete(ref);
    }
    ref = load_ref("tests/data/text/spm_bpe/ids_js.json");
    if (ref) {
        run("SentencePiece BPE tokenizer.json (Prepend, Replace, byte fallback)", t_src_path("tests/data/text/spm_bpe", dir, sizeof dir), ref);
        cJSON_Delete(ref);
    }
    return t_done("test_tokenizer_pipeline");
}
