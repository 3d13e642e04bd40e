/* CLIP's BPE (text/bpe.c) as a model family of the common tokenizer
 * (text/tokenizer.h): tokenizer.json with model.type "BPE", or
 * vocab.json + merges.txt (CLIPTokenizer's slow-tokenizer files, with CLIP's
 * <|startoftext|> A <|endoftext|> template and end token as padding). */
#include "text/bpe.h"
#include "text/tokenizer.h"
#include "core/error.h"
#include <stdio.h>
#include <string.h>

static mmf_status bpe_normalize(const mmf_tokenizer *t, const int32_t *cp, size_t n, mmf_i32vec *out) {
    (void)t;
    return mmf_bpe_normalize(cp, n, out);
}
static mmf_status bpe_tokenize(const mmf_tokenizer *t, const int32_t *cp, size_t n, int first, mmf_i32vec *ids) {
    (void)first;
    return mmf_bpe_tokenize(t->impl, cp, n, ids);
}
static void bpe_free(void *impl) { mmf_bpe_free(impl); }

static const mmf_tok_ops bpe_ops = {"BPE", bpe_normalize, bpe_tokenize, bpe_free};

static mmf_status adopt(mmf_tokenizer *t, mmf_bpe *b) {
    t->ops = &bpe_ops;
    t->impl = b;
    for (int64_t i = 0; i < mmf_bpe_vocab_size(b); i++) {
        const char *tok = mmf_bpe_token(b, (int32_t)i);
        mmf_status s = mmf_vocab_set(&t->vocab, tok, strlen(tok), (int32_t)i, 1);
        if (s) return s;
    }
    t->unk_id = mmf_bpe_eos(b);
    if (t->pad_id < 0) t->pad_id = mmf_bpe_eos(b);   /* CLIP pads with <|endoftext|> */
    return MMF_OK;
}

mmf_status mmf_bpe_from_json(mmf_tokenizer *t, const cJSON *root, const char *file) {
    mmf_bpe *b;
    mmf_status s = mmf_bpe_from_root(root, file, &b);
    if (s) return s;
    return adopt(t, b);
}

mmf_status mmf_bpe_from_files(mmf_tokenizer *t, const char *dir) {
    mmf_bpe *b;
    mmf_status s = mmf_bpe_load(dir, &b);
    if (s) return s;
    if ((s = adopt(t, b))) return s;
    /* the slow tokenizer's template: <|startoftext|> A <|endoftext|> */
    t->n_single = 0;
    t->single[t->n_single++] = (mmf_tok_item){-1, mmf_bpe_bos(b), 0};
    t->single[t->n_single++] = (mmf_tok_item){0, 0, 0};
    t->single[t->n_single++] = (mmf_tok_item){-1, mmf_bpe_eos(b), 0};
    t->n_pair = 0;
    mmf_tok_item p[] = {{-1, mmf_bpe_bos(b), 0}, {0, 0, 0}, {-1, mmf_bpe_eos(b), 0}, {-1, mmf_bpe_eos(b), 0}, {1, 0, 0}, {-1, mmf_bpe_eos(b), 0}};
    memcpy(t->pair, p, sizeof p);
    t->n_pair = 6;
    return MMF_OK;
}
