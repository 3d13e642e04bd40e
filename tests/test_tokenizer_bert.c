/* WordPiece parity with the reference: bert-base-uncased from
 * $MMFUSE_SHARED/tokenizers against ids from npm's @huggingface/tokenizers
 * (tests/ref/ref_tokenizer_bert.mjs -> tests/data/text/bert_ids.json) over the
 * strings of tests/data/text/strings.json. Both loading paths (tokenizer.json;
 * vocab.txt + tokenizer_config.json) must give exactly those ids. */
#include "test_util.h"
#include "io/json.h"
#include <sys/stat.h>
#include <unistd.h>

static int same_ids(const mmf_encoding *e, const cJSON *ids) {
    if (cJSON_GetArraySize(ids) != e->n) return 0;
    int k = 0;
    for (const cJSON *v = ids->child; v; v = v->next, k++)
        if ((int32_t)v->valuedouble != e->ids[k]) return 0;
    return 1;
}

static void show(const char *what, const char *text, const mmf_encoding *e, const cJSON *ids) {
    fprintf(stderr, "%s mismatch for ", what);
    for (const char *p = text; *p; p++) fprintf(stderr, (unsigned char)*p < 32 ? "\\x%02x" : "%c", *p);
    fprintf(stderr, "\n  got     ");
    for (int i = 0; i < e->n; i++) fprintf(stderr, "%d(%s) ", e->ids[i], e->tokens[i]);
    fprintf(stderr, "\n  expected");
    for (const cJSON *v = ids->child; v; v = v->next) fprintf(stderr, " %d", (int)v->valuedouble);
    fputc('\n', stderr);
}

static int run(const char *label, mmf_tokenizer *tok, const cJSON *ref) {
    int agree = 0, total = 0, shown = 0;
    const cJSON *singles = cJSON_GetObjectItem(ref, "singles"), *pairs = cJSON_GetObjectItem(ref, "pairs");
    for (const cJSON *c = singles->child; c; c = c->next) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        const cJSON *ids = cJSON_GetObjectItem(c, "ids");
        mmf_encoding e;
        CHECK_OK(mmf_tokenizer_encode(tok, text, NULL, 1, -1, &e));
        total++;
        if (same_ids(&e, ids)) agree++;
        else if (shown++ < 8) show(label, text, &e, ids);
        mmf_encoding_free(&e);
    }
    for (const cJSON *c = pairs->child; c; c = c->next) {
        const char *a = cJSON_GetObjectItem(c, "text")->valuestring, *b = cJSON_GetObjectItem(c, "pair")->valuestring;
        const cJSON *ids = cJSON_GetObjectItem(c, "ids"), *types = cJSON_GetObjectItem(c, "type_ids");
        mmf_encoding e;
        CHECK_OK(mmf_tokenizer_encode(tok, a, b, 1, -1, &e));
        total++;
        int ok = same_ids(&e, ids);
        int k = 0;
        for (const cJSON *v = types->child; ok && v; v = v->next, k++) ok = e.type_ids[k] == (int32_t)v->valuedouble;
        if (ok) agree++;
        else if (shown++ < 8) show(label, a, &e, ids);
        mmf_encoding_free(&e);
    }
    printf("%s: %d of %d encodings identical to the reference\n", label, agree, total);
    CHECK_MSG(agree == total, "%s: %d of %d differ", label, total - agree, total);
    return total;
}

int main(void) {
    const char *shared = getenv("MMFUSE_SHARED");
    char dir[2048], path[4096];
    snprintf(dir, sizeof dir, "%s/tokenizers/bert-base-uncased", shared ? shared : "../shared");
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (access(path, R_OK) != 0) return t_skip_shared(dir, "bert-base-uncased", "vocab.txt, tokenizer.json, tokenizer_config.json, config.json");
    cJSON *ref;
    CHECK_OK(mmf_json_load(t_src_path("tests/data/text/bert_ids.json", path, sizeof path), &ref));
    if (!ref) return 1;

    mmf_tokenizer *tok = NULL;
    CHECK_OK(mmf_tokenizer_load(dir, &tok));
    if (!tok) return 1;
    int n = run("tokenizer.json", tok, ref);
    CHECK(n >= 500);
    /* the special tokens and the classic example */
    CHECK(mmf_tokenizer_token_to_id(tok, "[CLS]") == 101);
    CHECK(mmf_tokenizer_pad_id(tok) == 0);
    mmf_tokenizer_free(tok);

    /* the same folder seen only through vocab.txt + tokenizer_config.json */
    char tmp[512], src[4200], dst[1024];
    t_tmpdir(tmp, sizeof tmp);
    const char *files[] = {"vocab.txt", "tokenizer_config.json"};
    for (int i = 0; i < 2; i++) {
        snprintf(src, sizeof src, "%s/%s", dir, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", tmp, files[i]);
        CHECK(symlink(src, dst) == 0);
    }
    CHECK_OK(mmf_tokenizer_load(tmp, &tok));
    if (tok) {
        run("vocab.txt", tok, ref);
        mmf_tokenizer_free(tok);
    }
    for (int i = 0; i < 2; i++) { snprintf(dst, sizeof dst, "%s/%s", tmp, files[i]); unlink(dst); }
    rmdir(tmp);
    cJSON_Delete(ref);
    return t_done("test_tokenizer_bert");
}
