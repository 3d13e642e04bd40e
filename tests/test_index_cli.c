/* The index, search, cluster and retrieval commands end to end: fixtures are
 * written with the public safetensors writer, the CLI ($MMFUSE_CLI) is run
 * through the shell and its exit status and output checked. */
#include "test_util.h"
#include "index_testdata.h"
#include <sys/wait.h>

static char out_buf[1 << 16];

/* Runs the CLI with `args` (stderr folded into stdout); returns the exit status. */
static int cli(const char *args) {
    const char *bin = getenv("MMFUSE_CLI");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", bin, args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out_buf, 1, sizeof out_buf - 1, p);
    out_buf[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_st(const char *path, int nt, const char **names, const int64_t (*shapes)[2], const int *ndims,
                     const mmf_dtype *dts, const void **data) {
    mmf_st_writer *w = mmf_st_writer_new();
    for (int i = 0; i < nt; i++) CHECK_OK(mmf_st_writer_add(w, names[i], dts[i], ndims[i], shapes[i], data[i]));
    CHECK_OK(mmf_st_writer_finish(w, path));
    mmf_st_writer_free(w);
}

int main(void) {
    if (!getenv("MMFUSE_CLI")) return t_skip("MMFUSE_CLI is not set (run through ctest)");
    char dir[128], a[4096], p_emb[256], p_q[256], p_bad[256], p_one[256], p_idx[256];
    t_tmpdir(dir, sizeof dir);
    snprintf(p_emb, sizeof p_emb, "%s/emb.safetensors", dir);
    snprintf(p_q, sizeof p_q, "%s/q.safetensors", dir);
    snprintf(p_bad, sizeof p_bad, "%s/bad.safetensors", dir);
    snprintf(p_one, sizeof p_one, "%s/one.safetensors", dir);
    snprintf(p_idx, sizeof p_idx, "%s/a.mmfidx", dir);

    size_t n = 600, np = 50;
    int d = 16;
    int64_t *lab = malloc(n * sizeof *lab), *ids = malloc(n * sizeof *ids), *pid = malloc(np * sizeof *pid);
    float *x = td_clustered(n, d, 4, 0.2f, 5, lab);
    for (size_t i = 0; i < n; i++) ids[i] = 100 + (int64_t)i;
    /* paired text/image: image = text + small noise, pair id = 7 * row */
    float *text = td_clustered(np, d, 10, 1.0f, 6, NULL), *image = malloc(np * (size_t)d * sizeof *image);
    for (size_t i = 0; i < np * (size_t)d; i++) image[i] = text[i] + 0.01f * td_gauss();
    for (size_t i = 0; i < np; i++) pid[i] = 7 * (int64_t)i;
    {
        const char *names[] = {"embeddings", "ids", "labels", "text", "image", "text_ids", "image_ids"};
        const int64_t shapes[][2] = {{(int64_t)n, d}, {(int64_t)n, 0}, {(int64_t)n, 0}, {(int64_t)np, d}, {(int64_t)np, d}, {(int64_t)np, 0}, {(int64_t)np, 0}};
        const int nd[] = {2, 1, 1, 2, 2, 1, 1};
        const mmf_dtype dt[] = {MMF_DT_F32, MMF_DT_I64, MMF_DT_I64, MMF_DT_F32, MMF_DT_F32, MMF_DT_I64, MMF_DT_I64};
        const void *data[] = {x, ids, lab, text, image, pid, pid};
        write_st(p_emb, 7, names, shapes, nd, dt, data);
    }
    {   /* queries: copies of rows 3, 50, 599 */
        float q[3 * 16];
        memcpy(q, x + 3 * d, sizeof(float) * (size_t)d);
        memcpy(q + d, x + 50 * d, sizeof(float) * (size_t)d);
        memcpy(q + 2 * d, x + 599 * d, sizeof(float) * (size_t)d);
        const char *names[] = {"embeddings"};
        const int64_t shapes[][2] = {{3, d}};
        const int nd[] = {2};
        const mmf_dtype dt[] = {MMF_DT_F32};
        const void *data[] = {q};
        write_st(p_q, 1, names, shapes, nd, dt, data);
        const int64_t bshape[][2] = {{2, 8}};
        write_st(p_bad, 1, names, bshape, nd, dt, data);
        const int64_t oshape[][2] = {{1, d}};
        write_st(p_one, 1, names, oshape, nd, dt, data);
    }

    snprintf(a, sizeof a, "index build %s --out %s --threads 2 --M 8 --ef-construction 64", p_emb, p_idx);
    CHECK_MSG(cli(a) == 0, "%s", out_buf);
    snprintf(a, sizeof a, "index info %s --json", p_idx);
    CHECK(cli(a) == 0 && strstr(out_buf, "\"count\": 600") && strstr(out_buf, "\"metric\": \"cosine\""));
    snprintf(a, sizeof a, "search %s --vector-file %s -k 3 --json", p_idx, p_q);
    CHECK_MSG(cli(a) == 0, "%s", out_buf);
    CHECK_MSG(strstr(out_buf, "{\"query\": 0, \"results\": [{\"id\": 103, \"score\": 1") != NULL, "%s", out_buf);
    CHECK_MSG(strstr(out_buf, "{\"query\": 1, \"results\": [{\"id\": 150, \"score\": 1") != NULL, "%s", out_buf);
    CHECK_MSG(strstr(out_buf, "{\"query\": 2, \"results\": [{\"id\": 699, \"score\": 1") != NULL, "%s", out_buf);
    snprintf(a, sizeof a, "search %s --vector-file %s -k 3 --exact", p_idx, p_q);
    CHECK(cli(a) == 0 && strstr(out_buf, "id 103"));
    /* delete, then the id is gone */
    snprintf(a, sizeof a, "index delete %s --id 103", p_idx);
    CHECK_MSG(cli(a) == 0, "%s", out_buf);
    snprintf(a, sizeof a, "search %s --vector-file %s -k 3 --json", p_idx, p_q);
    CHECK(cli(a) == 0 && !strstr(out_buf, "\"id\": 103,"));
    snprintf(a, sizeof a, "index delete %s --id 103", p_idx);
    CHECK(cli(a) == 1 && strstr(out_buf, "not in the index"));
    /* compaction drops the tombstone, into a new file; the old one keeps it */
    snprintf(a, sizeof a, "index info %s --json", p_idx);
    CHECK_MSG(cli(a) == 0 && strstr(out_buf, "\"count\": 599") && strstr(out_buf, "\"deleted\": 1,"), "%s", out_buf);
    snprintf(a, sizeof a, "index compact %s --threads 2 --out %s/k.mmfidx", p_idx, dir);
    CHECK_MSG(cli(a) == 0 && strstr(out_buf, "1 deleted slots dropped, 599 vectors kept"), "%s", out_buf);
    snprintf(a, sizeof a, "index info %s/k.mmfidx --json", dir);
    CHECK_MSG(cli(a) == 0 && strstr(out_buf, "\"count\": 599") && strstr(out_buf, "\"deleted\": 0,"), "%s", out_buf);
    snprintf(a, sizeof a, "index info %s --json", p_idx);
    CHECK_MSG(cli(a) == 0 && strstr(out_buf, "\"deleted\": 1,"), "%s", out_buf);
    snprintf(a, sizeof a, "search %s/k.mmfidx --vector-file %s -k 3 --json", dir, p_q);
    CHECK_MSG(cli(a) == 0 && !strstr(out_buf, "\"id\": 103,") &&
              strstr(out_buf, "{\"query\": 1, \"results\": [{\"id\": 150, \"score\": 1") &&
              strstr(out_buf, "{\"query\": 2, \"results\": [{\"id\": 699, \"score\": 1"), "%s", out_buf);
    /* delete --compact in one step; compact takes no --id */
    snprintf(a, sizeof a, "index delete %s/k.mmfidx --id 150 --compact", dir);
    CHECK_MSG(cli(a) == 0 && strstr(out_buf, "598 vectors kept"), "%s", out_buf);
    snprintf(a, sizeof a, "index info %s/k.mmfidx --json", dir);
    CHECK_MSG(cli(a) == 0 && strstr(out_buf, "\"count\": 598") && strstr(out_buf, "\"deleted\": 0,"), "%s", out_buf);
    snprintf(a, sizeof a, "index compact %s --id 5", p_idx);
    CHECK_MSG(cli(a) == 2 && strstr(out_buf, "unknown option --id"), "%s", out_buf);
    /* bad input: dimension mismatch, missing tensor, a --model folder that is not there */
    snprintf(a, sizeof a, "search %s --vector-file %s", p_idx, p_bad);
    CHECK_MSG(cli(a) == 1 && strstr(out_buf, "dimension mismatch"), "%s", out_buf);
    snprintf(a, sizeof a, "index build %s --tensor nope --out %s/x.mmfidx", p_emb, dir);
    CHECK(cli(a) == 1 && strstr(out_buf, "no tensor \"nope\""));
    snprintf(a, sizeof a, "search %s --text hello --model %s/no_such_model", p_idx, dir);
    CHECK_MSG(cli(a) == 1 && strstr(out_buf, "no_such_model"), "%s", out_buf);
    snprintf(a, sizeof a, "index add %s %s --tensor text", p_idx, p_emb);
    CHECK_MSG(cli(a) == 1 && strstr(out_buf, "must be [50]"), "%s", out_buf);   /* "ids" is [600] */
    snprintf(a, sizeof a, "index add %s %s --tensor text --ids text_ids", p_idx, p_emb);
    CHECK_MSG(cli(a) == 1 && strstr(out_buf, "id 105 is already in the index"), "%s", out_buf);
    /* an empty index */
    snprintf(a, sizeof a, "index build %s --out %s/e.mmfidx --type flat", p_one, dir);
    CHECK(cli(a) == 0);
    /* k larger than the index: every vector is returned, with a notice (not an error) */
    snprintf(a, sizeof a, "search %s/e.mmfidx --vector-file %s -k 5", dir, p_one);
    CHECK_MSG(cli(a) == 0 && strstr(out_buf, "-k 5 is more than the 1 vectors") && strstr(out_buf, "  1  id 0 ") &&
              !strstr(out_buf, "  2  id"), "%s", out_buf);
    snprintf(a, sizeof a, "index delete %s/e.mmfidx --id 0", dir);
    CHECK(cli(a) == 0);
    snprintf(a, sizeof a, "search %s/e.mmfidx --vector-file %s", dir, p_q);
    CHECK_MSG(cli(a) == 1 && strstr(out_buf, "no vectors"), "%s", out_buf);
    /* a corrupt and a truncated file */
    {
        char c2[1024];
        snprintf(c2, sizeof c2, "cp %s %s/c.mmfidx && printf X | dd of=%s/c.mmfidx bs=1 seek=5000 conv=notrunc 2>/dev/null", p_idx, dir, dir);
        CHECK(system(c2) == 0);
        snprintf(c2, sizeof c2, "head -c 3000 %s > %s/t.mmfidx", p_idx, dir);
        CHECK(system(c2) == 0);
    }
    snprintf(a, sizeof a, "search %s/c.mmfidx --vector-file %s", dir, p_q);
    CHECK_MSG(cli(a) == 1 && strstr(out_buf, "checksum"), "%s", out_buf);
    snprintf(a, sizeof a, "index info %s/t.mmfidx", dir);
    CHECK_MSG(cli(a) == 1 && strstr(out_buf, "truncated"), "%s", out_buf);

    /* clustering against the generating blobs */
    snprintf(a, sizeof a, "cluster %s -k 4 --labels labels --out %s/c.json --centroids %s/cent.safetensors", p_emb, dir, dir);
    CHECK_MSG(cli(a) == 0 && strstr(out_buf, "NMI 1.0000"), "%s", out_buf);
    snprintf(a, sizeof a, "head -c 60 %s/c.json | grep -q '\"k\": 4, \"n\": 600'", dir);
    CHECK(system(a) == 0);
    snprintf(a, sizeof a, "inspect %s/cent.safetensors", dir);
    CHECK(cli(a) == 0 && strstr(out_buf, "[4, 16]"));
    snprintf(a, sizeof a, "cluster %s -k 601 --out %s/c2.json", p_emb, dir);
    CHECK_MSG(cli(a) == 1 && strstr(out_buf, "larger than"), "%s", out_buf);

    /* retrieval: image i is text i plus noise */
    snprintf(a, sizeof a, "retrieval %s --a text --b image --json", p_emb);
    CHECK_MSG(cli(a) == 0 && strstr(out_buf, "\"text->image\": {\"r1\": 1.000000") && strstr(out_buf, "\"map\": 1.000000"), "%s", out_buf);
    snprintf(a, sizeof a, "retrieval %s --a text --b embeddings --b-file %s", p_emb, p_bad);
    CHECK_MSG(cli(a) == 1 && strstr(out_buf, "dimension mismatch"), "%s", out_buf);

    /* an embedding file (docs/embedding-file.md): modalities, mask, ids, labels */
    {
        char p_ef[256];
        snprintf(p_ef, sizeof p_ef, "%s/ef.safetensors", dir);
        uint8_t *mask = malloc(np * 2);
        int64_t *eids = malloc(np * sizeof *eids), *elab = malloc(np * sizeof *elab);
        for (size_t i = 0; i < np; i++) {
            mask[2 * i] = 1;
            mask[2 * i + 1] = i % 10 != 3;   /* 5 samples lack the image */
            eids[i] = 5000 + (int64_t)i;
            elab[i] = (int64_t)(i % 2);
        }
        const char *names[2] = {"text", "image"};
        int64_t dims[2] = {d, d};
        const float *data[2] = {text, image};
        mmf_embfile_spec sp;
        memset(&sp, 0, sizeof sp);
        sp.n_rows = (int64_t)np; sp.n_modalities = 2; sp.names = names; sp.dims = dims; sp.data = data;
        sp.mask = mask; sp.labels = elab; sp.ids = eids;
        CHECK_OK(mmf_embfile_write(p_ef, &sp));
        snprintf(a, sizeof a, "index build %s --out %s/ef.mmfidx", p_ef, dir);
        CHECK_MSG(cli(a) == 1 && strstr(out_buf, "several modalities") && strstr(out_buf, "text image"), "%s", out_buf);
        snprintf(a, sizeof a, "index build %s --tensor image --out %s/ef.mmfidx", p_ef, dir);
        CHECK_MSG(cli(a) == 0 && strstr(out_buf, "5 of 50 samples lack \"image\""), "%s", out_buf);
        snprintf(a, sizeof a, "index info %s/ef.mmfidx --json", dir);
        CHECK(cli(a) == 0 && strstr(out_buf, "\"count\": 45"));
        /* text queries against the image index: sample 13 lacks its image */
        snprintf(a, sizeof a, "search %s/ef.mmfidx --vector-file %s --tensor text -k 1 --json", dir, p_ef);
        CHECK_MSG(cli(a) == 0 && strstr(out_buf, "{\"query\": 5012, \"results\": [{\"id\": 5012,") &&
                  !strstr(out_buf, "[{\"id\": 5013,"), "%s", out_buf);
        snprintf(a, sizeof a, "retrieval %s --json", p_ef);
        CHECK_MSG(cli(a) == 0 && strstr(out_buf, "\"text->image\": {\"r1\": 1.000000") &&
                  strstr(out_buf, "\"queries\": 45}"), "%s", out_buf);
        /* one tensor name on both sides (two files): the directions get distinct keys */
        snprintf(a, sizeof a, "cp %s %s/ef2.safetensors", p_ef, dir);
        CHECK(system(a) == 0);
        snprintf(a, sizeof a, "retrieval %s --a text --b text --b-file %s/ef2.safetensors --json", p_ef, dir);
        CHECK_MSG(cli(a) == 0 && strstr(out_buf, "\"ef:text->ef2:text\": {\"r1\": 1.000000") &&
                  strstr(out_buf, "\"ef2:text->ef:text\": {"), "%s", out_buf);
        snprintf(a, sizeof a, "cluster %s --tensor text -k 2 --labels labels --out %s/ef.json", p_ef, dir);
        CHECK_MSG(cli(a) == 0 && strstr(out_buf, "NMI"), "%s", out_buf);
        free(mask); free(eids); free(elab);
    }

    free(lab); free(ids); free(pid); free(x); free(text); free(image);
    return t_done("test_index_cli");
}
