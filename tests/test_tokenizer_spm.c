/* SentencePiece tokenizers against Debian's python3-sentencepiece: the
 * Unigram (nmt_nfkc charsmap + byte fallback; identity normaliser with
 * unknown pieces and whitespace kept) and BPE models of tests/data/text/spm
 * (trained by tests/ref/gen_spm_models.py with spm_train), expected ids from
 * tests/ref/ref_spm.py. Layouts: a folder with only spiece.model (T5: A </s>),
 * spiece.model + SiglipTokenizer's tokenizer_config.json (its lower-casing,
 * punctuation removal and "▁" handling, as transcribed in tests/ref/ref_spm.py),
 * only sentencepiece.bpe.model (XLM-R's fairseq ids, <s> A </s>),
 * and a tokenizer.json written as transformers' converter writes one
 * (Precompiled charsmap, Metaspace, Unigram). Every string must give exactly
 * the reference ids. */
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

/* every single and pair of a reference file; returns the number compared */
static int run(const char *label, const char *dir, const char *ref_rel) {
    char path[1024];
    cJSON *ref = NULL;
    CHECK_OK(mmf_json_load(t_src_path(ref_rel, path, sizeof path), &ref));
    mmf_tokenizer *tok = NULL;
    CHECK_OK(mmf_tokenizer_load(dir, &tok));
    if (!ref || !tok) { cJSON_Delete(ref); mmf_tokenizer_free(tok); return 0; }
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
    printf("[%s] %d of %d encodings identical to python3-sentencepiece\n", label, agree, total);
    CHECK(total >= 600);
    CHECK_MSG(agree == total, "%s: %d of %d differ", label, total - agree, total);
    mmf_tokenizer_free(tok);
    cJSON_Delete(ref);
    return total;
}

/* a temp folder holding one file of tests/data/text/spm under another name */
static void folder_with(char *tmp, size_t cap, const char *src_rel, const char *as) {
    char src[1024], dst[1200], abs[2048];
    t_tmpdir(tmp, cap);
    t_src_path(src_rel, src, sizeof src);
    if (src[0] != '/') {
        char cwd[1024];
        if (!getcwd(cwd, sizeof cwd)) cwd[0] = 0;
        snprintf(abs, sizeof abs, "%s/%s", cwd, src);
    } else snprintf(abs, sizeof abs, "%s", src);
    snprintf(dst, sizeof dst, "%s/%s", tmp, as);
    CHECK(symlink(abs, dst) == 0);
}

static void cleanup(const char *tmp, const char *name) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", tmp, name);
    unlink(p);
    rmdir(tmp);
}

/* Damaged model files: every truncation point of a small model and random
 * byte changes either load (and then encode without fault) or fail with a
 * message naming the file; never a crash (the sanitizer build checks the
 * reads). */
static void damaged(const char *rel) {
    char path[1024], tmp[512], dst[1200];
    char *orig = NULL;
    size_t len = 0;
    CHECK_OK(mmf_read_file(t_src_path(rel, path, sizeof path), (size_t)1 << 24, &orig, &len));
    if (!orig) return;
    t_tmpdir(tmp, sizeof tmp);
    snprintf(dst, sizeof dst, "%s/spiece.model", tmp);
    uint32_t seed = 12345;
    int loaded = 0, refused = 0, named = 0;
    for (int k = 0; k < 300; k++) {
        size_t n = len;
        char *buf = malloc(len);
        memcpy(buf, orig, len);
        if (k < 100) n = (size_t)k * len / 100;   /* truncated */
        else {
            for (int j = 0; j < 1 + k % 8; j++) {   /* bytes changed */
                seed = seed * 1664525u + 1013904223u;
                buf[(seed >> 8) % len] = (char)(seed >> 24);
            }
        }
        FILE *f = fopen(dst, "wb");
        if (f) { fwrite(buf, 1, n, f); fclose(f); }
        free(buf);
        mmf_tokenizer *tok = NULL;
        if (mmf_tokenizer_load(tmp, &tok) == MMF_OK) {
            loaded++;
            mmf_encoding e;
            if (mmf_tokenizer_encode(tok, "Hello wörld, 東京 😀 <s> x", "pair", 1, 0, &e) == MMF_OK) mmf_encoding_free(&e);
            mmf_tokenizer_free(tok);
        } else {
            refused++;
            named += strstr(mmf_last_error(), "spiece.model") != NULL;
        }
    }
    printf("[damaged %s] %d loaded, %d refused (%d naming the file)\n", rel, loaded, refused, named);
    CHECK(refused > 50 && named == refused);
    unlink(dst);
    rmdir(tmp);
    free(orig);
}

int main(void) {
    char tmp[512];
    const char *models[] = {"uni", "uni_plain", "bpe"};
    for (int i = 0; i < 3; i++) {
        char src[256], ref[256];
        snprintf(src, sizeof src, "tests/data/text/spm/%s.model", models[i]);
        snprintf(ref, sizeof ref, "tests/data/text/spm/%s_ids.json", models[i]);
        folder_with(tmp, sizeof tmp, src, "spiece.model");
        run(models[i], tmp, ref);
        cleanup(tmp, "spiece.model");
    }
    /* SigLIP's layout: spiece.model + tokenizer_config.json naming SiglipTokenizer */
    folder_with(tmp, sizeof tmp, "tests/data/text/spm/uni.model", "spiece.model");
    char cfg[1200];
    snprintf(cfg, sizeof cfg, "%s/tokenizer_config.json", tmp);
    FILE *cf = fopen(cfg, "w");
    if (cf) { fputs("{\"tokenizer_class\": \"SiglipTokenizer\", \"model_max_length\": 64}\n", cf); fclose(cf); }
    run("uni as SigLIP's spiece.model", tmp, "tests/data/text/spm/uni_siglip_ids.json");
    mmf_tokenizer *sg = NULL;
    CHECK_OK(mmf_tokenizer_load(tmp, &sg));
    if (sg) {   /* pads with </s>, 64 tokens */
        CHECK(mmf_tokenizer_pad_id(sg) == mmf_tokenizer_token_to_id(sg, "</s>") && mmf_tokenizer_max_length(sg) == 64);
        mmf_tokenizer_free(sg);
    }
    unlink(cfg);
    cleanup(tmp, "spiece.model");
    folder_with(tmp, sizeof tmp, "tests/data/text/spm/uni.model", "sentencepiece.bpe.model");
    run("uni as sentencepiece.bpe.model (fairseq ids)", tmp, "tests/data/text/spm/uni_fairseq_ids.json");
    mmf_tokenizer *tok = NULL;
    CHECK_OK(mmf_tokenizer_load(tmp, &tok));
    if (tok) {   /* XLM-R's layout: <pad> 1, <mask> after the pieces */
        CHECK(mmf_tokenizer_pad_id(tok) == 1);
        CHECK(mmf_tokenizer_token_to_id(tok, "<mask>") == mmf_tokenizer_vocab_size(tok) - 1);
        mmf_tokenizer_free(tok);
    }
    cleanup(tmp, "sentencepiece.bpe.model");
    folder_with(tmp, sizeof tmp, "tests/data/text/spm/uni_tokenizer.json", "tokenizer.json");
    run("uni tokenizer.json (Precompiled, Metaspace)", tmp, "tests/data/text/spm/uni_tokenizer_ids.json");
    cleanup(tmp, "tokenizer.json");

    damaged("tests/data/text/spm/bpe.model");
    damaged("tests/data/text/spm/uni_plain.model");
    /* a damaged model: a clear error naming the file */
    t_tmpdir(tmp, sizeof tmp);
    char p[1200];
    snprintf(p, sizeof p, "%s/spiece.model", tmp);
    FILE *f = fopen(p, "wb");
    if (f) { fwrite("\x0a\x05\x0a\x03", 1, 4, f); fclose(f); }
    CHECK(mmf_tokenizer_load(tmp, &tok) == MMF_ERR_FORMAT);
    CHECK(strstr(mmf_last_error(), "spiece.model") != NULL);
    cleanup(tmp, "spiece.model");
    return t_done("test_tokenizer_spm");
}
