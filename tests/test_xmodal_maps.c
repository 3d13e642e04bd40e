/* Attention maps of the cross-modal transformer (mmf_xmodal_attention) carry
 * no hidden state: the capture buffers travel with the forward call, so two
 * heads writing maps at the same time from two threads give exactly the files
 * each gives alone. The maps also follow the documented rule (fusion/xmodal.h):
 * word slot k of a row holds the k-th word of its bag of words (vocabulary
 * order, at most 16) and a probability distribution over the 16 patches; an
 * empty slot, or a row without its image, is -1 / all zeros. */
#include "test_util.h"
#include "train/rng.h"
#include <pthread.h>
#include <unistd.h>

enum { N = 320, S = 16, V = 24, DI = 3 * S * S };
static char dir[256];

/* raw-mode rows: "image" pixels [3, 16, 16], "text" a binary bag of words */
static mmf_embfile *make(const char *name, uint64_t seed, uint8_t *mask_out, float *text_out) {
    mmf_rng r;
    mmf_rng_seed(&r, seed);
    static float img[N * DI];
    int64_t y[N];
    for (int i = 0; i < N; i++) {
        y[i] = i % 2;
        for (int k = 0; k < DI; k++) img[i * DI + k] = mmf_rng_uniform(&r) + (y[i] && k < DI / 2 ? 0.5f : 0.0f);
        for (int v = 0; v < V; v++) text_out[i * V + v] = (v == (int)y[i] || mmf_rng_uniform(&r) < 0.3f) ? 1.0f : 0.0f;
        mask_out[2 * i] = i % 7 != 3;       /* some rows without their image */
        mask_out[2 * i + 1] = i % 11 != 5;  /* some without their text */
    }
    const char *names[2] = {"image", "text"};
    int64_t dims[2] = {DI, V};
    const float *data[2] = {img, text_out};
    mmf_embfile_spec sp = {.n_rows = N, .n_modalities = 2, .names = names, .dims = dims, .data = data, .mask = mask_out,
                           .labels = y, .n_classes = 2};
    char path[400];
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
    CHECK_OK(mmf_embfile_write(path, &sp));
    mmf_embfile *f = NULL;
    CHECK_OK(mmf_embfile_open(path, &f));
    return f;
}

static void *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *b = malloc(*n + 1);
    if (fread(b, 1, *n, f) != *n) { free(b); b = NULL; }
    fclose(f);
    return b;
}

static int same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    void *x = slurp(a, &na), *y = slurp(b, &nb);
    int same = x && y && na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

typedef struct job { mmf_head *h; mmf_embfile *f; char out[400]; mmf_status s; } job;
static void *run(void *u) {
    job *j = u;
    for (int k = 0; k < 4 && !j->s; k++) j->s = mmf_xmodal_attention(j->h, j->f, j->out);
    return NULL;
}

/* the documented layout, from the input rows alone */
static void check_rule(const char *path, const uint8_t *mask, const float *text) {
    mmf_safetensors *st = NULL;
    CHECK_OK(mmf_st_open(path, &st));
    if (!st) return;
    const mmf_tensor_info *a = mmf_st_find(st, "attention"), *w = mmf_st_find(st, "words");
    CHECK(a && w && a->shape[0] == N && a->shape[1] == 16 && a->shape[2] == 16 && w->shape[1] == 16);
    if (a && w) {
        const float *maps = a->data;
        const int32_t *words = w->data;
        int bad = 0, filled = 0;
        for (int i = 0; i < N; i++) {
            int k = 0;
            for (int v = 0; v < V; v++)
                if (mask[2 * i + 1] && text[i * V + v] > 0 && k < 16) {
                    bad += words[i * 16 + k] != v;
                    double sum = 0;
                    for (int p = 0; p < 16; p++) sum += maps[(i * 16 + k) * 16 + p];
                    bad += mask[2 * i] ? fabs(sum - 1.0) > 1e-5 : sum != 0.0;
                    filled += mask[2 * i];
                    k++;
                }
            for (; k < 16; k++) {
                bad += words[i * 16 + k] != -1;
                for (int p = 0; p < 16; p++) bad += maps[(i * 16 + k) * 16 + p] != 0.0f;
            }
        }
        CHECK_MSG(bad == 0, "%s: %d slots break the documented layout", path, bad);
        CHECK(filled > N);
    }
    mmf_st_close(st);
}

int main(void) {
    t_tmpdir(dir, sizeof dir);
    static uint8_t ma[2 * N], mb[2 * N];
    static float ta[N * V], tb[N * V];
    mmf_embfile *fa = make("a", 1, ma, ta), *fb = make("b", 2, mb, tb);
    if (!fa || !fb) return 1;
    mmf_direct_params p = mmf_direct_params_default();
    p.model = "xmodal";
    p.hidden = 16;
    p.epochs = 2;
    p.batch = 64;
    mmf_head *ha = NULL, *hb = NULL;
    CHECK_OK(mmf_direct_train(fa, NULL, &p, &ha));
    p.seed = 2;
    CHECK_OK(mmf_direct_train(fb, NULL, &p, &hb));
    if (!ha || !hb) return 1;

    job alone[2] = {{ha, fa, "", MMF_OK}, {hb, fb, "", MMF_OK}}, both[2] = {{ha, fa, "", MMF_OK}, {hb, fb, "", MMF_OK}};
    for (int k = 0; k < 2; k++) {
        snprintf(alone[k].out, sizeof alone[k].out, "%s/alone%d.safetensors", dir, k);
        snprintf(both[k].out, sizeof both[k].out, "%s/both%d.safetensors", dir, k);
        CHECK_OK(mmf_xmodal_attention(alone[k].h, alone[k].f, alone[k].out));
    }
    check_rule(alone[0].out, ma, ta);
    check_rule(alone[1].out, mb, tb);
    pthread_t th[2];
    for (int k = 0; k < 2; k++) pthread_create(&th[k], NULL, run, &both[k]);
    for (int k = 0; k < 2; k++) pthread_join(th[k], NULL);
    for (int k = 0; k < 2; k++) {
        CHECK_OK(both[k].s);
        CHECK_MSG(same_file(alone[k].out, both[k].out), "head %d: maps written beside another head's differ from its maps alone", k);
        unlink(alone[k].out);
        unlink(both[k].out);
    }
    printf("xmodal maps: two heads in two threads give the files each gives alone\n");
    char path[400];
    snprintf(path, sizeof path, "%s/a.safetensors", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/b.safetensors", dir);
    unlink(path);
    rmdir(dir);
    mmf_head_free(ha);
    mmf_head_free(hb);
    mmf_embfile_close(fa);
    mmf_embfile_close(fb);
    return t_done("test_xmodal_maps");
}
