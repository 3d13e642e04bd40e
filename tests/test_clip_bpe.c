/* CLIP BPE ids against npm @huggingface/tokenizers@0.2.0 (tests/ref/ref_clip_bpe.cjs,
 * committed in tests/data/image/clip_bpe_cases.jsonl) on the real
 * openai/clip-vit-base-patch32 files in $MMFUSE_SHARED/tokenizers (skipped
 * when absent). Both loading paths: tokenizer.json and vocab.json + merges.txt. */
#include "test_util.h"
#include "text/bpe.h"
#include <cjson/cJSON.h>
#include <sys/stat.h>

/* exactly one of t (the BPE engine) or tok (the public tokenizer) */
static int run_cases(const mmf_bpe *t, const mmf_tokenizer *tok, const char *cases_path, const char *label) {
    FILE *f = fopen(cases_path, "rb");
    if (!f) { fprintf(stderr, "cannot open %s\n", cases_path); t_failures++; return 0; }
    static char line[1 << 16];
    int total = 0, same = 0;
    int32_t ids[80];
    while (fgets(line, sizeof line, f)) {
        cJSON *j = cJSON_Parse(line);
        if (!j) continue;
        const cJSON *tx = cJSON_GetObjectItem(j, "text"), *ex = cJSON_GetObjectItem(j, "ids");
        int n = 0;
        mmf_status s;
        if (t) s = mmf_bpe_encode(t, tx->valuestring, strlen(tx->valuestring), ids, 77, &n);
        else {
            mmf_encoding enc;
            s = mmf_tokenizer_encode(tok, tx->valuestring, NULL, 1, 0, &enc);
            if (!s) {
                n = enc.n <= 80 ? enc.n : 80;
                memcpy(ids, enc.ids, sizeof(int32_t) * (size_t)n);
                mmf_encoding_free(&enc);
            }
        }
        /* the reference does not truncate: apply HF's truncation=True rule
         * (content cut to 75, then the start and end tokens) to its ids */
        int ne = cJSON_GetArraySize(ex), trunc = ne > 77;
        if (trunc) ne = 77;
        int ok = s == MMF_OK && n == ne;
        for (int i = 0; ok && i < n; i++) {
            int32_t want = trunc && i == 76 ? 49407 : (int32_t)cJSON_GetArrayItem(ex, i)->valuedouble;
            ok = ids[i] == want;
        }
        total++;
        same += ok;
        if (!ok) {
            char *js = cJSON_PrintUnformatted(ex);
            fprintf(stderr, "[%s] mismatch for %s\n  expected %s\n  got     ", label, cJSON_PrintUnformatted(tx), js);
            for (int i = 0; i < n; i++) fprintf(stderr, "%d,", ids[i]);
            fputc('\n', stderr);
            free(js);
        }
        cJSON_Delete(j);
    }
    fclose(f);
    printf("[%s] %d / %d strings identical\n", label, same, total);
    CHECK(total >= 500);
    CHECK(same == total);
    return same;
}

int main(void) {
    const char *sh = getenv("MMFUSE_SHARED");
    char dir[1024], cases[1024], tmp[512], cmd[4096];
    snprintf(dir, sizeof dir, "%s/tokenizers/clip-vit-base-patch32", sh ? sh : "../shared");
    struct stat sb;
    snprintf(cmd, sizeof cmd, "%s/tokenizer.json", dir);
    if (stat(cmd, &sb) != 0) return t_skip_shared(dir, "openai/clip-vit-base-patch32", "vocab.json, merges.txt, tokenizer.json");
    t_src_path("tests/data/image/clip_bpe_cases.jsonl", cases, sizeof cases);
    mmf_bpe *t;
    CHECK_OK(mmf_bpe_load(dir, &t));
    if (!t) return t_done("test_clip_bpe");
    CHECK(mmf_bpe_max_len(t) == 77 && mmf_bpe_bos(t) == 49406 && mmf_bpe_eos(t) == 49407);
    run_cases(t, NULL, cases, "engine, tokenizer.json");
    /* truncation keeps the end token; a short capacity is honoured */
    int32_t ids[16];
    int n;
    CHECK_OK(mmf_bpe_encode(t, "a photo of a cat on a mat", 25, ids, 5, &n));
    CHECK(n == 5 && ids[0] == 49406 && ids[4] == 49407);
    CHECK(mmf_bpe_encode(t, "bad \xff utf8", 10, ids, 16, &n) == MMF_ERR_ARG);
    mmf_bpe_free(t);

    /* vocab.json + merges.txt only */
    t_tmpdir(tmp, sizeof tmp);
    snprintf(cmd, sizeof cmd, "cp %s/vocab.json %s/merges.txt %s/tokenizer_config.json %s/", dir, dir, dir, tmp);
    CHECK(system(cmd) == 0);
    CHECK_OK(mmf_bpe_load(tmp, &t));
    if (t) { run_cases(t, NULL, cases, "engine, vocab.json+merges.txt"); mmf_bpe_free(t); }
    mmf_tokenizer *tok;
    CHECK_OK(mmf_tokenizer_load(tmp, &tok));
    if (tok) { run_cases(NULL, tok, cases, "mmf_tokenizer, vocab.json+merges.txt"); mmf_tokenizer_free(tok); }
    CHECK_OK(mmf_tokenizer_load(dir, &tok));
    if (tok) {
        run_cases(NULL, tok, cases, "mmf_tokenizer, tokenizer.json");
        CHECK(mmf_tokenizer_pad_id(tok) == 49407 && mmf_tokenizer_max_length(tok) == 77);
        mmf_tokenizer_free(tok);
    }
    /* a corrupt vocabulary: a clear error */
    snprintf(cmd, sizeof cmd, "echo '{\"a\": 1' > %s/vocab.json", tmp);
    CHECK(system(cmd) == 0);
    CHECK(mmf_bpe_load(tmp, &t) == MMF_ERR_FORMAT);
    CHECK(strstr(mmf_last_error(), "vocab.json") != NULL);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd)) {}
    return t_done("test_clip_bpe");
}
