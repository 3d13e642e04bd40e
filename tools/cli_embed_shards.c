/* `mmfuse embed` in row shards: under mpirun each rank embeds its contiguous
 * share of the inputs, chunk by chunk, into OUT.parts/ (tools/cli_shards.h),
 * and the ranks write OUT together. The file equals the one a single process
 * writes (same header, same rows up to the last bits of batched GEMMs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"
#include "cli_dist.h"
#include "cli_embed.h"
#include "cli_lines.h"
#include "cli_shards.h"

typedef struct job {
    const embed_opts *o;
    int nt;
    cli_rowtensor t[3];
    mmf_encoder *enc;
    const char *const *in;   /* text or image inputs, all N (every rank reads the list) */
    int T;                   /* --pooling none: the longest input over all ranks */
    embed_rec *er;
    size_t present[2], failed[2];
    /* rows [a, b) into bufs (one per row tensor); failures noted in fl */
    int (*rows)(struct job *j, size_t a, size_t b, void **bufs, cli_failures *fl);
} job;

static int text_rows(job *j, size_t a, size_t b, void **bufs, cli_failures *fl) {
    (void)fl;
    mmf_status s = mmf_encoder_embed_text(j->enc, j->in + a, b - a, j->o->pooling, j->o->normalize, bufs[0]);
    return s ? cli_fail("embed", s, "embedding failed") : 0;
}

static int token_rows(job *j, size_t a, size_t b, void **bufs, cli_failures *fl) {
    (void)fl;
    mmf_status s = mmf_encoder_embed_text_tokens(j->enc, j->in + a, b - a, j->T, bufs[0], bufs[1]);
    return s ? cli_fail("embed", s, "embedding failed") : 0;
}

static int image_rows(job *j, size_t a, size_t b, void **bufs, cli_failures *fl) {
    const embed_opts *o = j->o;
    uint8_t *failed = j->nt > 1 ? bufs[1] : calloc(b - a, 1);
    if (!failed) return cli_fail("embed", MMF_ERR_NOMEM, "out of memory");
    memset(failed, 0, b - a);
    mmf_status s = mmf_encoder_embed_image_files(j->enc, j->in + a, b - a, o->pooling, o->normalize, o->skip_bad, failed, bufs[0],
                                                 cli_failures_add, fl);
    if (j->nt == 1) free(failed);
    return s ? cli_fail("embed", s, "embedding failed") : 0;
}

static int record_rows(job *j, size_t a, size_t b, void **bufs, cli_failures *fl) {
    embed_rec *er = j->er;
    float *data[2] = {NULL, NULL};
    int k = 0;
    for (int m = 0; m < 2; m++)
        if (er->enc[m]) data[m] = bufs[k++];
    return embed_rec_rows(j->o, er, a, b, data, bufs[k], j->present, j->failed, fl);
}

/* Options and inputs of this rank's shard: progress from another run is refused.
 * Threads, batch and chunk sizes do not change the result and may differ. */
static uint64_t fingerprint(const embed_opts *o, size_t n, const char *const *a, const char *const *b, size_t lo, size_t hi) {
    uint64_t h = CLI_FNV_INIT;
    for (int i = 1; i < o->argc; i++) {
        const char *v = o->argv[i];
        if (!strcmp(v, "--resume")) continue;
        if (!strcmp(v, "--threads") || !strcmp(v, "--batch") || !strcmp(v, "--chunk")) { i++; continue; }
        if (!strncmp(v, "--threads=", 10) || !strncmp(v, "--batch=", 8) || !strncmp(v, "--chunk=", 8)) continue;
        h = cli_fnv1a(h, v, strlen(v) + 1);
    }
    int64_t sz[2] = {(int64_t)n, cli_dist_size()};
    h = cli_fnv1a(h, sz, sizeof sz);
    for (size_t i = lo; i < hi; i++) {
        if (a) h = cli_fnv1a(h, a[i] ? a[i] : "", a[i] ? strlen(a[i]) + 1 : 1);
        if (b) h = cli_fnv1a(h, b[i] ? b[i] : "", b[i] ? strlen(b[i]) + 1 : 1);
    }
    return h;
}

/* Embed this rank's shard (what an earlier run left is kept). Returns 1 when it succeeded here. */
static int embed_shard(job *j, cli_shards *sh) {
    const size_t chunk = (size_t)j->o->chunk;
    void *bufs[3] = {NULL, NULL, NULL};
    int ok = 1;
    for (int i = 0; i < j->nt; i++)
        if (!(bufs[i] = malloc(chunk * j->t[i].row_bytes))) { cli_fail("embed", MMF_ERR_NOMEM, "out of memory for a chunk"); ok = 0; }
    for (size_t a = sh->lo + sh->done; ok && a < sh->hi;) {
        size_t m = sh->hi - a < chunk ? sh->hi - a : chunk;
        cli_failures fl = {.cmd = "embed", .base = a};
        if (j->rows(j, a, a + m, bufs, &fl) || cli_shards_append(sh, m, (const void *const *)bufs, fl.text, fl.n)) ok = 0;
        free(fl.text);
        a += m;
    }
    for (int i = 0; i < j->nt; i++) free(bufs[i]);
    return ok;
}

static mmf_status add_meta(const embed_opts *o, mmf_encoder *enc, mmf_st_writer *w) {
    mmf_pooling pool = o->pooling == MMF_POOL_DEFAULT ? mmf_encoder_default_pooling(enc) : o->pooling;
    int norm = o->normalize == MMF_NORMALIZE_DEFAULT ? mmf_encoder_default_normalize(enc) : o->normalize;
    if (pool == MMF_POOL_NONE) norm = 0;
    mmf_status s = mmf_st_writer_meta(w, "model", o->model);
    if (!s) s = mmf_st_writer_meta(w, "model_type", mmf_encoder_model_type(enc));
    if (!s) s = mmf_st_writer_meta(w, "pooling", mmf_pooling_name(pool));
    if (!s) s = mmf_st_writer_meta(w, "normalize", norm ? "true" : "false");
    return s;
}

/* rank 0: the writer of OUT with the row tensors reserved, as one process would fill it */
static mmf_st_writer *layout(job *j, size_t N, const char *notes, size_t n_notes) {
    const embed_opts *o = j->o;
    mmf_st_writer *w = NULL;
    mmf_status s = MMF_OK;
    if (j->er) {
        char absdir[2][PATH_MAX];
        const char *wn[2], *wenc[2];
        const float *wd[2];
        int64_t wdim[2];
        mmf_embfile_spec sp;
        embed_rec_spec(j->er, NULL, NULL, absdir, wn, wenc, wd, wdim, &sp);
        s = mmf_embfile_layout(&sp, o->out, &w);
    } else if (!(w = mmf_st_writer_new())) s = MMF_ERR_NOMEM;
    else if (o->image_list) {
        int64_t sh[2] = {(int64_t)N, mmf_encoder_dim(j->enc)};
        s = mmf_st_writer_reserve(w, "embeddings", MMF_DT_F32, 2, sh);
        if (!s && o->skip_bad) s = mmf_st_writer_reserve(w, "failed", MMF_DT_U8, 1, sh);
        if (!s && o->skip_bad) {
            char cnt[32];
            snprintf(cnt, sizeof cnt, "%zu", n_notes);
            s = mmf_st_writer_meta(w, "failed_count", cnt);
            if (!s && n_notes) s = mmf_st_writer_meta(w, "failures", notes);
        }
    } else if (o->pooling == MMF_POOL_NONE) {
        int64_t sh[3] = {(int64_t)N, j->T, mmf_encoder_dim(j->enc)};
        s = mmf_st_writer_reserve(w, "embeddings", MMF_DT_F32, 3, sh);
        if (!s) s = mmf_st_writer_reserve(w, "attention_mask", MMF_DT_U8, 2, sh);
    } else {
        int64_t sh[2] = {(int64_t)N, mmf_encoder_dim(j->enc)};
        s = mmf_st_writer_reserve(w, "embeddings", MMF_DT_F32, 2, sh);
    }
    if (!s && !j->er) s = add_meta(o, j->enc, w);
    if (s) { cli_fail("embed", s, "cannot lay out the output"); mmf_st_writer_free(w); return NULL; }
    return w;
}

/* the inputs of a text or image run, read by every rank (blank image lines dropped, as one process does) */
static int read_inputs(const embed_opts *o, char ***lines, size_t *n, char **buf) {
    int rc = cli_read_lines("embed", o->image_list ? o->image_list : o->text_file, lines, n, buf);
    if (rc || !o->image_list) return rc;
    size_t k = 0;
    for (size_t i = 0; i < *n; i++)
        if ((*lines)[i][0]) (*lines)[k++] = (*lines)[i];
    *n = k;
    if (k == 0) { fprintf(stderr, "mmfuse embed: error: %s lists no images\n", o->image_list); return MMF_EXIT_FAIL; }
    return 0;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int embed_sharded(const embed_opts *o) {
    const int rank = cli_dist_rank();
    job j = {.o = o};
    embed_rec er;
    char **lines = NULL, *buf = NULL;
    size_t N = 0;
    int rc = 0;
    if (o->records) {
        rc = embed_rec_open(o, &er);
        j.er = &er;
        N = er.r.n;
    } else {
        rc = read_inputs(o, &lines, &N, &buf);
        if (!rc) {
            mmf_encoder_params p = mmf_encoder_params_default();
            p.n_threads = (int)o->threads;
            p.max_batch = (int)o->batch;
            p.max_length = (int)o->max_len;
            p.precision = o->precision;
            if (o->pooling == MMF_POOL_CLS_MEAN) p.pooling = MMF_POOL_CLS_MEAN;
            mmf_status s = mmf_encoder_load(o->model, &p, &j.enc);
            if (s) rc = cli_fail("embed", s, "cannot load the model");
            else if (!(mmf_encoder_modalities(j.enc) & (o->image_list ? MMF_MODALITY_IMAGE : MMF_MODALITY_TEXT)))
                rc = cli_usage("embed", "%s is a %s model without a%s tower", o->model, mmf_encoder_model_type(j.enc), o->image_list ? "n image" : " text");
        }
        j.in = (const char *const *)lines;
    }
    if (!cli_dist_all_ok(!rc)) {
        if (o->records) embed_rec_close(&er);
        mmf_encoder_free(j.enc);
        free(lines); free(buf);
        return rc ? rc : MMF_EXIT_FAIL;
    }
    size_t lo, hi;
    cli_dist_range(N, &lo, &hi);
    uint64_t fp;
    int ok = 1;
    if (o->records) {
        for (int m = 0; m < 2; m++)
            if (er.enc[m]) j.t[j.nt++] = (cli_rowtensor){m ? "image" : "text", (size_t)er.dims[m] * sizeof(float)};
        j.t[j.nt++] = (cli_rowtensor){"mask", (size_t)er.M};
        j.rows = record_rows;
        fp = fingerprint(o, N, (const char *const *)er.r.text, (const char *const *)er.r.image, lo, hi);
    } else {
        size_t D = (size_t)mmf_encoder_dim(j.enc);
        if (o->image_list) {
            j.t[j.nt++] = (cli_rowtensor){"embeddings", D * sizeof(float)};
            if (o->skip_bad) j.t[j.nt++] = (cli_rowtensor){"failed", 1};
            j.rows = image_rows;
        } else if (o->pooling == MMF_POOL_NONE) {
            /* the token axis is the longest input of all ranks */
            int32_t *len = malloc((hi - lo + 1) * sizeof *len);
            int64_t T = 1;
            mmf_status s = len ? mmf_encoder_text_lengths(j.enc, j.in + lo, hi - lo, len) : MMF_ERR_NOMEM;
            if (s) { cli_fail("embed", s, "cannot tokenize"); ok = 0; }
            for (size_t i = 0; ok && i < hi - lo; i++) if (len[i] > T) T = len[i];
            free(len);
            if (!cli_dist_all_ok(ok) || cli_dist_allreduce(&T, 1, MMF_DT_I64, CLI_DIST_MAX)) ok = 0;
            j.T = (int)T;
            j.t[j.nt++] = (cli_rowtensor){"embeddings", (size_t)T * D * sizeof(float)};
            j.t[j.nt++] = (cli_rowtensor){"attention_mask", (size_t)T};
            j.rows = token_rows;
        } else {
            j.t[j.nt++] = (cli_rowtensor){"embeddings", D * sizeof(float)};
            j.rows = text_rows;
        }
        fp = fingerprint(o, N, j.in, NULL, lo, hi);
    }
    cli_shards sh;
    memset(&sh, 0, sizeof sh);
    if (!ok || cli_shards_open(&sh, "embed", o->out, N, j.nt, j.t, fp, o->resume)) ok = 0;
    else {
        double t0 = now_s();
        ok = embed_shard(&j, &sh);
        double t_embed[1] = {now_s() - t0}, t1 = now_s(), comm0 = cli_dist_comm_seconds();
        char *notes = NULL;
        size_t n_notes = 0;
        mmf_st_writer *w = NULL;
        if (cli_shards_notes(&sh, &notes, &n_notes)) ok = 0;
        if (ok && rank == 0) {
            if (o->records) {
                /* counts over all ranks, from the inputs and the notes (which survive a resume) */
                size_t present[2] = {0, 0}, failed[2] = {0, n_notes};
                for (size_t i = 0; i < N; i++) {
                    present[0] += er.r.text[i] != NULL;
                    present[1] += er.r.image[i] != NULL;
                }
                present[1] -= n_notes;
                embed_rec_report(&er, present, failed);
            } else if (o->skip_bad && n_notes)
                fprintf(stderr, "mmfuse embed: %zu of %zu images failed (recorded in \"failed\")\n", n_notes, N);
            if (!(w = layout(&j, N, notes, n_notes))) ok = 0;
        }
        if (cli_shards_write(&sh, w, ok)) {
            ok = 0;
            if (rank == 0)
                fprintf(stderr, "mmfuse embed: error: %s not written; the rows already embedded are kept in %s: "
                                "rerun with --resume to reuse them\n", o->out, sh.dir);
        }
        mmf_st_writer_free(w);
        free(notes);
        double t_write = now_s() - t1, comm = cli_dist_comm_seconds() - comm0;
        if (cli_dist_allreduce(t_embed, 1, MMF_DT_F64, CLI_DIST_MAX)) ok = 0;
        if (ok && rank == 0 && cli_dist_size() > 1)
            fprintf(stderr, "mmfuse embed: %zu rows on %d ranks: embedding %.3f s (slowest rank), writing %s %.3f s "
                            "(%.3f s of it in collectives on rank 0, waiting for the others included)\n",
                    N, cli_dist_size(), t_embed[0], o->out, t_write, comm);
    }
    cli_shards_close(&sh);
    if (o->records) embed_rec_close(&er);
    mmf_encoder_free(j.enc);
    free(lines);
    free(buf);
    return ok ? MMF_EXIT_OK : MMF_EXIT_FAIL;
}
