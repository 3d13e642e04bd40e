/* Text encoder speed (BERT family) with random weights.
 *
 *   bench_text make DIR base|minilm     write a random-weight model folder
 *                                       (config.json, model.safetensors F32, vocab.txt)
 *   bench_text run DIR BATCH THREADS ITERS [fp32|bf16|int8]
 *                                       embed BATCH texts of exactly 128 tokens
 *                                       ITERS times (after one warm-up); prints one
 *                                       JSON line: ms per batch, sequences/s, GFLOP/s
 *
 * bench/text.sh drives it against bench/text_torch.py and writes
 * bench/results/text.md. Process start to first embedding and peak RSS are
 * measured there around `mmfuse embed`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>
#include "mmfuse.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* CPU time of the whole process (all threads): robust to other jobs taking
 * the cores, which only stretch wall time */
static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint64_t rng = 88172645463325252ULL;
static float randn(void) {
    /* xorshift + Box-Muller: cheap, deterministic */
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    double u1 = ((rng >> 11) + 1.0) / 9007199254740993.0;
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    double u2 = (rng >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

typedef struct geom { const char *name; int C, L, H, F; } geom;
static const geom geoms[] = {{"base", 768, 12, 12, 3072}, {"minilm", 384, 6, 12, 1536}};
#define V 30522
#define P 512

static int add(mmf_st_writer *w, const char *name, int64_t d0, int64_t d1, float scale, float offset) {
    int64_t n = d0 * (d1 ? d1 : 1), sh[2] = {d0, d1};
    float *p = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) p[i] = offset + scale * randn();
    mmf_status s = mmf_st_writer_add(w, name, MMF_DT_F32, d1 ? 2 : 1, sh, p);
    free(p);
    if (s) fprintf(stderr, "%s: %s\n", name, mmf_last_error());
    return s != MMF_OK;
}

static int make(const char *dir, const char *which) {
    const geom *g = NULL;
    for (size_t i = 0; i < 2; i++) if (!strcmp(which, geoms[i].name)) g = &geoms[i];
    if (!g) { fprintf(stderr, "geometry should be base or minilm\n"); return 2; }
    char path[4096];
    snprintf(path, sizeof path, "mkdir -p '%s'", dir);
    if (system(path)) return 1;
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) { perror(path); return 1; }
    fprintf(f, "{\"model_type\": \"bert\", \"hidden_size\": %d, \"num_hidden_layers\": %d, \"num_attention_heads\": %d,\n"
               " \"intermediate_size\": %d, \"hidden_act\": \"gelu\", \"max_position_embeddings\": %d, \"vocab_size\": %d,\n"
               " \"type_vocab_size\": 2, \"layer_norm_eps\": 1e-12}\n", g->C, g->L, g->H, g->F, P, V);
    fclose(f);
    /* vocabulary: special tokens, "hello", filler */
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    f = fopen(path, "w");
    fprintf(f, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n");
    for (int i = 6; i < V; i++) fprintf(f, "tok%d\n", i);
    fclose(f);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    f = fopen(path, "w");
    fprintf(f, "{\"do_lower_case\": true, \"model_max_length\": %d}\n", P);
    fclose(f);
    mmf_st_writer *w = mmf_st_writer_new();
    int bad = 0;
    const int C = g->C, F = g->F;
    bad |= add(w, "embeddings.word_embeddings.weight", V, C, 0.02f, 0);
    bad |= add(w, "embeddings.position_embeddings.weight", P, C, 0.02f, 0);
    bad |= add(w, "embeddings.token_type_embeddings.weight", 2, C, 0.02f, 0);
    bad |= add(w, "embeddings.LayerNorm.weight", C, 0, 0.0f, 1);
    bad |= add(w, "embeddings.LayerNorm.bias", C, 0, 0.0f, 0);
    for (int l = 0; l < g->L && !bad; l++) {
        char n[128];
#define T(suffix, d0, d1, sc, off) (snprintf(n, sizeof n, "encoder.layer.%d.%s", l, suffix), add(w, n, d0, d1, sc, off))
        bad |= T("attention.self.query.weight", C, C, 0.02f, 0);
        bad |= T("attention.self.query.bias", C, 0, 0.02f, 0);
        bad |= T("attention.self.key.weight", C, C, 0.02f, 0);
        bad |= T("attention.self.key.bias", C, 0, 0.02f, 0);
        bad |= T("attention.self.value.weight", C, C, 0.02f, 0);
        bad |= T("attention.self.value.bias", C, 0, 0.02f, 0);
        bad |= T("attention.output.dense.weight", C, C, 0.02f, 0);
        bad |= T("attention.output.dense.bias", C, 0, 0.02f, 0);
        bad |= T("attention.output.LayerNorm.weight", C, 0, 0, 1);
        bad |= T("attention.output.LayerNorm.bias", C, 0, 0, 0);
        bad |= T("intermediate.dense.weight", F, C, 0.02f, 0);
        bad |= T("intermediate.dense.bias", F, 0, 0.02f, 0);
        bad |= T("output.dense.weight", C, F, 0.02f, 0);
        bad |= T("output.dense.bias", C, 0, 0.02f, 0);
        bad |= T("output.LayerNorm.weight", C, 0, 0, 1);
        bad |= T("output.LayerNorm.bias", C, 0, 0, 0);
#undef T
    }
    bad |= add(w, "pooler.dense.weight", C, C, 0.02f, 0);
    bad |= add(w, "pooler.dense.bias", C, 0, 0.02f, 0);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!bad && mmf_st_writer_finish(w, path)) { fprintf(stderr, "%s\n", mmf_last_error()); bad = 1; }
    mmf_st_writer_free(w);
    return bad;
}

static const char *const prec_names[] = {"fp32", "bf16", "int8"};

static int run(const char *dir, int batch, int threads, int iters, int prec) {
    mmf_encoder_params p = mmf_encoder_params_default();
    p.n_threads = threads;
    p.max_batch = batch;
    p.max_length = 128;
    p.precision = (mmf_precision)prec;
    mmf_encoder *e;
    if (mmf_encoder_load(dir, &p, &e)) { fprintf(stderr, "%s\n", mmf_last_error()); return 1; }
    /* 126 words + [CLS] + [SEP] = 128 tokens */
    static char text[126 * 6 + 1];
    text[0] = 0;
    for (int i = 0; i < 126; i++) strcat(text, "hello ");
    const char **texts = malloc((size_t)batch * sizeof *texts);
    for (int i = 0; i < batch; i++) texts[i] = text;
    int D = mmf_encoder_dim(e);
    float *out = malloc((size_t)batch * D * sizeof(float));
    if (mmf_encoder_embed_text(e, texts, (size_t)batch, MMF_POOL_MEAN, 0, out)) { fprintf(stderr, "%s\n", mmf_last_error()); return 1; }
    double best = 1e30, total = 0, cpu_best = 1e30;
    for (int it = 0; it < iters; it++) {
        double t0 = now(), c0 = cpu_now();
        mmf_encoder_embed_text(e, texts, (size_t)batch, MMF_POOL_MEAN, 0, out);
        double dt = now() - t0, dc = cpu_now() - c0;
        total += dt;
        if (dt < best) best = dt;
        if (dc < cpu_best) cpu_best = dc;
    }
    /* FLOPs of one 128-token sequence: per layer 2T(4C^2 + 2CF) + 4T^2 C */
    const char *cfg_dim = mmf_encoder_model_type(e);
    (void)cfg_dim;
    double T = 128, C = D, F = 4 * C, L = C == 768 ? 12 : 6;
    double flops = L * (2 * T * (4 * C * C + 2 * C * F) + 4 * T * T * C) * batch;
    printf("{\"impl\": \"mmfuse\", \"precision\": \"%s\", \"batch\": %d, \"threads\": %d, \"iters\": %d, \"ms_best\": %.2f, \"ms_mean\": %.2f, \"cpu_ms_best\": %.2f, "
           "\"seq_per_s\": %.2f, \"gflops\": %.2f, \"checksum\": %.6f, \"emb0\": [",
           prec_names[prec], batch, threads, iters, best * 1e3, total / iters * 1e3, cpu_best * 1e3, batch / best, flops / best / 1e9, out[0] + out[D - 1]);
    /* the first embedding in full, for the driver's bf16-vs-fp32 cosine */
    for (int c = 0; c < D; c++) printf(c ? ", %.7g" : "%.7g", out[c]);
    printf("]}\n");
    free(out);
    free(texts);
    mmf_encoder_free(e);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "make")) return make(argv[2], argv[3]);
    if ((argc == 6 || argc == 7) && !strcmp(argv[1], "run")) {
        int prec = 0;
        for (int k = 0; k < 3; k++)
            if (argc == 7 && !strcmp(argv[6], prec_names[k])) prec = k;
        return run(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), prec);
    }
    if (argc == 1) {
        /* bench/run.sh runs every bench_* without arguments: the comparison is
         * driven by bench/text_torch.py, which run.sh also runs */
        fprintf(stderr, "bench_text: driven by bench/text_torch.py BUILD_DIR (see bench/run.sh)\n");
        return 0;
    }
    fprintf(stderr, "usage: bench_text make DIR base|minilm\n       bench_text run DIR BATCH THREADS ITERS [fp32|bf16|int8]\n");
    return 2;
}
