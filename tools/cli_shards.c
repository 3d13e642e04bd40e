#include "cli_shards.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli_dist.h"

uint64_t cli_fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) { h ^= b[i]; h *= 0x100000001b3ULL; }
    return h;
}

static int write_progress(cli_shards *s) {
    cJSON *o = cJSON_CreateObject();
    char fp[32];
    snprintf(fp, sizeof fp, "%016llx", (unsigned long long)s->fingerprint);
    cJSON_AddStringToObject(o, "fingerprint", fp);
    cJSON_AddNumberToObject(o, "rank", cli_dist_rank());
    cJSON_AddNumberToObject(o, "ranks", cli_dist_size());
    cJSON_AddNumberToObject(o, "rows", (double)s->n);
    cJSON_AddNumberToObject(o, "lo", (double)s->lo);
    cJSON_AddNumberToObject(o, "hi", (double)s->hi);
    cJSON_AddNumberToObject(o, "done", (double)s->done);
    cJSON_AddNumberToObject(o, "notes_count", (double)s->notes_count);
    cJSON_AddStringToObject(o, "notes", s->notes ? s->notes : "");
    char *js = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!js) { fprintf(stderr, "mmfuse %s: error: out of memory\n", s->cmd); return 1; }
    mmf_status st = mmf_write_file_atomic(s->progress, js, strlen(js));
    free(js);
    if (st) { fprintf(stderr, "mmfuse %s: error: %s\n", s->cmd, mmf_last_error()); return 1; }
    return 0;
}

static int add_notes(cli_shards *s, const char *notes, size_t n_notes) {
    if (!notes || !n_notes) return 0;
    size_t len = strlen(notes);
    char *t = realloc(s->notes, s->notes_len + len + 2);
    if (!t) return 1;
    s->notes = t;
    if (s->notes_len) s->notes[s->notes_len++] = '\n';
    memcpy(s->notes + s->notes_len, notes, len + 1);
    s->notes_len += len;
    s->notes_count += n_notes;
    return 0;
}

/* The progress an earlier run left: 1 = usable (s->done and notes set), 0 = none, -1 = refused. */
static int read_progress(cli_shards *s) {
    FILE *f = fopen(s->progress, "rb");
    if (!f) return 0;
    char buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    int big = !feof(f);
    fclose(f);
    char *all = NULL;
    if (big) {   /* many notes: read it whole */
        struct stat st;
        if (stat(s->progress, &st) || !(all = malloc((size_t)st.st_size + 1)) || !(f = fopen(s->progress, "rb"))) { free(all); return -1; }
        len = fread(all, 1, (size_t)st.st_size, f);
        fclose(f);
        all[len] = 0;
    } else buf[len] = 0;
    cJSON *o = cJSON_Parse(all ? all : buf);
    free(all);
    char fp[32];
    snprintf(fp, sizeof fp, "%016llx", (unsigned long long)s->fingerprint);
    const cJSON *jf = cJSON_GetObjectItemCaseSensitive(o, "fingerprint"), *jr = cJSON_GetObjectItemCaseSensitive(o, "ranks");
    const cJSON *jlo = cJSON_GetObjectItemCaseSensitive(o, "lo"), *jhi = cJSON_GetObjectItemCaseSensitive(o, "hi");
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(o, "done"), *jn = cJSON_GetObjectItemCaseSensitive(o, "notes");
    const cJSON *jc = cJSON_GetObjectItemCaseSensitive(o, "notes_count");
    int rc = -1;
    if (!o || !cJSON_IsString(jf) || !cJSON_IsNumber(jr) || !cJSON_IsNumber(jlo) || !cJSON_IsNumber(jhi) || !cJSON_IsNumber(jd))
        fprintf(stderr, "mmfuse %s: error: %s is not a progress file (remove %s or run without --resume)\n", s->cmd, s->progress, s->dir);
    else if (strcmp(jf->valuestring, fp) || jr->valuedouble != cli_dist_size() || jlo->valuedouble != (double)s->lo ||
             jhi->valuedouble != (double)s->hi)
        fprintf(stderr, "mmfuse %s: error: %s is the progress of another run (other inputs, options or number of ranks); "
                        "remove %s or run without --resume\n", s->cmd, s->progress, s->dir);
    else if (jd->valuedouble < 0 || jd->valuedouble > (double)(s->hi - s->lo))
        fprintf(stderr, "mmfuse %s: error: %s: \"done\" is out of range\n", s->cmd, s->progress);
    else {
        s->done = (size_t)jd->valuedouble;
        rc = 1;
        if (cJSON_IsString(jn) && jn->valuestring[0] && add_notes(s, jn->valuestring, cJSON_IsNumber(jc) ? (size_t)jc->valuedouble : 1)) rc = -1;
    }
    cJSON_Delete(o);
    return rc;
}

int cli_shards_open(cli_shards *s, const char *cmd, const char *out, size_t n, int nt, const cli_rowtensor *t,
                    uint64_t fingerprint, int resume) {
    memset(s, 0, sizeof *s);
    s->cmd = cmd;
    s->n = n;
    s->nt = nt;
    s->fingerprint = fingerprint;
    for (int i = 0; i < nt; i++) s->t[i] = t[i];
    cli_dist_range(n, &s->lo, &s->hi);
    snprintf(s->out, sizeof s->out, "%s", out);
    snprintf(s->dir, sizeof s->dir, "%s.parts", out);
    int r = cli_dist_rank(), R = cli_dist_size(), ok = 1;
    snprintf(s->progress, sizeof s->progress, "%s/shard-%05d-of-%05d.json", s->dir, r, R);
    for (int i = 0; i < nt; i++) snprintf(s->rows_path[i], sizeof s->rows_path[i], "%s/shard-%05d-of-%05d.%s.rows", s->dir, r, R, t[i].name);
    if (r == 0 && mkdir(s->dir, 0755) && errno != EEXIST) {
        fprintf(stderr, "mmfuse %s: error: cannot create %s: %s\n", cmd, s->dir, strerror(errno));
        ok = 0;
    }
    if (!cli_dist_all_ok(ok)) return 1;
    int have = resume ? read_progress(s) : 0;
    if (have < 0) ok = 0;
    for (int i = 0; ok && i < nt; i++) {
        if (have > 0) {
            /* keep exactly the rows the progress file vouches for: a chunk written
             * after it (the rank died before recording it) is cut off */
            struct stat st;
            off_t want = (off_t)(s->done * t[i].row_bytes);
            if (stat(s->rows_path[i], &st) || st.st_size < want || truncate(s->rows_path[i], want)) {
                fprintf(stderr, "mmfuse %s: error: %s is shorter than its progress file says; remove %s or run without --resume\n",
                        cmd, s->rows_path[i], s->dir);
                ok = 0;
                break;
            }
            s->f[i] = fopen(s->rows_path[i], "ab");
        } else s->f[i] = fopen(s->rows_path[i], "wb");
        if (!s->f[i]) { fprintf(stderr, "mmfuse %s: error: cannot open %s: %s\n", cmd, s->rows_path[i], strerror(errno)); ok = 0; }
    }
    if (ok && have <= 0 && write_progress(s)) ok = 0;
    if (!cli_dist_all_ok(ok)) { cli_shards_close(s); return 1; }
    if (have > 0)
        fprintf(stderr, "mmfuse %s: rank %d: shard rows %zu..%zu: %zu done by an earlier run%s\n", cmd, r, s->lo, s->hi, s->done,
                s->done == s->hi - s->lo ? " (complete)" : ", resuming");
    return 0;
}

int cli_shards_append(cli_shards *s, size_t rows, const void *const *data, const char *notes, size_t n_notes) {
    for (int i = 0; i < s->nt; i++) {
        size_t len = rows * s->t[i].row_bytes;
        if ((len && fwrite(data[i], 1, len, s->f[i]) != len) || fflush(s->f[i]) || fsync(fileno(s->f[i]))) {
            fprintf(stderr, "mmfuse %s: error: writing %s: %s\n", s->cmd, s->rows_path[i], strerror(errno));
            return 1;
        }
    }
    s->done += rows;
    if (add_notes(s, notes, n_notes)) { fprintf(stderr, "mmfuse %s: error: out of memory\n", s->cmd); return 1; }
    return write_progress(s);
}

int cli_shards_notes(cli_shards *s, char **all, size_t *count) {
    *all = NULL;
    *count = 0;
    /* each shard's text with a trailing newline, so that the concatenation splits cleanly */
    size_t len = s->notes_len;
    char *mine = malloc(len + 2);
    int ok = mine != NULL;
    if (mine) {
        if (len) memcpy(mine, s->notes, len);
        if (len) mine[len++] = '\n';
        mine[len] = 0;
    }
    int64_t cnt = (int64_t)s->notes_count;
    void *g = NULL;
    size_t glen = 0;
    if (cli_dist_gather(ok ? mine : "", ok ? len : 0, &g, &glen)) ok = 0;
    free(mine);
    if (cli_dist_allreduce(&cnt, 1, MMF_DT_I64, CLI_DIST_SUM)) ok = 0;
    if (!cli_dist_all_ok(ok)) { free(g); return 1; }
    if (g && glen && ((char *)g)[glen - 1] == '\n') ((char *)g)[glen - 1] = 0;
    *all = g;
    *count = (size_t)cnt;
    return 0;
}

static void fsync_dir_of(const char *path) {
    char d[4096];
    snprintf(d, sizeof d, "%s", path);
    char *sl = strrchr(d, '/');
    if (sl) { if (sl == d) sl[1] = 0; else *sl = 0; } else snprintf(d, sizeof d, ".");
    int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) { fsync(fd); close(fd); }
}

/* this rank's rows of tensor i, from its rows file to [off, off + done * row_bytes) of the output */
static int copy_rows(cli_shards *s, int i, cli_dist_file *f, uint64_t off) {
    if (fflush(s->f[i])) return 1;
    FILE *in = fopen(s->rows_path[i], "rb");
    if (!in) { fprintf(stderr, "mmfuse %s: error: cannot read %s: %s\n", s->cmd, s->rows_path[i], strerror(errno)); return 1; }
    size_t left = s->done * s->t[i].row_bytes, cap = (size_t)8 << 20;
    char *buf = malloc(cap);
    int rc = buf ? 0 : 1;
    while (!rc && left) {
        size_t m = left < cap ? left : cap;
        if (fread(buf, 1, m, in) != m) { fprintf(stderr, "mmfuse %s: error: %s is short\n", s->cmd, s->rows_path[i]); rc = 1; break; }
        rc = cli_dist_file_write_at(f, off, buf, m);
        off += m;
        left -= m;
    }
    free(buf);
    fclose(in);
    return rc;
}

int cli_shards_write(cli_shards *s, mmf_st_writer *layout, int ok) {
    const int r = cli_dist_rank();
    if (ok && s->done != s->hi - s->lo) {
        fprintf(stderr, "mmfuse %s: error: rank %d: shard has %zu of %zu rows\n", s->cmd, r, s->done, s->hi - s->lo);
        ok = 0;
    }
    if (!cli_dist_all_ok(ok)) return 1;
    /* rank 0 lays the file out; everyone learns the row tensors' offsets and the temp name */
    struct { uint64_t ok, total, off[CLI_SHARDS_MAX]; char tmp[4200]; } plan;
    memset(&plan, 0, sizeof plan);
    void *header = NULL;
    size_t hlen = 0, count = layout ? mmf_st_writer_count(layout) : 0;
    uint64_t *offs = NULL;
    if (r == 0) {
        offs = calloc(count ? count : 1, sizeof *offs);
        mmf_status st = offs ? mmf_st_writer_layout(layout, &header, &hlen, offs, &plan.total) : MMF_ERR_NOMEM;
        plan.ok = st == MMF_OK;
        for (int i = 0; plan.ok && i < s->nt; i++) {
            size_t j = 0;
            while (j < count && strcmp(mmf_st_writer_name(layout, j), s->t[i].name)) j++;
            if (j == count || mmf_st_writer_data(layout, j, NULL)) { plan.ok = 0; break; }
            plan.off[i] = offs[j];
        }
        if (!plan.ok) fprintf(stderr, "mmfuse %s: error: cannot lay out %s: %s\n", s->cmd, s->out, st ? mmf_last_error() : "row tensors do not match");
        snprintf(plan.tmp, sizeof plan.tmp, "%s.tmp-%ld", s->out, (long)getpid());
    }
    if (cli_dist_bcast(&plan, sizeof plan, 0) || !plan.ok) { free(header); free(offs); cli_dist_all_ok(0); return 1; }
    if (!cli_dist_all_ok(1)) { free(header); free(offs); return 1; }
    cli_dist_file *f;
    if (cli_dist_file_create(plan.tmp, &f)) { free(header); free(offs); if (r == 0) unlink(plan.tmp); return 1; }
    int wok = 1;
    if (r == 0) {
        wok = !cli_dist_file_write_at(f, 0, header, hlen);
        for (size_t j = 0; wok && j < count; j++) {
            size_t nb;
            const void *d = mmf_st_writer_data(layout, j, &nb);
            if (d && nb) wok = !cli_dist_file_write_at(f, offs[j], d, nb);
        }
    }
    for (int i = 0; wok && i < s->nt; i++) wok = !copy_rows(s, i, f, plan.off[i] + (uint64_t)s->lo * s->t[i].row_bytes);
    free(header);
    free(offs);
    int all = cli_dist_file_close(f, wok);
    /* every rank synced its rows: now the file may appear */
    int renamed = 1;
    if (r == 0) {
        if (all && rename(plan.tmp, s->out)) {
            fprintf(stderr, "mmfuse %s: error: cannot rename %s to %s: %s\n", s->cmd, plan.tmp, s->out, strerror(errno));
            renamed = 0;
        }
        if (all && renamed) fsync_dir_of(s->out);
        else unlink(plan.tmp);
    }
    if (!cli_dist_all_ok(all && renamed)) return 1;
    /* the output is in place: the progress is no longer needed */
    for (int i = 0; i < s->nt; i++) {
        if (s->f[i]) fclose(s->f[i]);
        s->f[i] = NULL;
        unlink(s->rows_path[i]);
    }
    unlink(s->progress);
    cli_dist_barrier();
    if (r == 0) rmdir(s->dir);
    return 0;
}

void cli_shards_close(cli_shards *s) {
    for (int i = 0; i < s->nt; i++) {
        if (s->f[i]) fclose(s->f[i]);
        s->f[i] = NULL;
    }
    free(s->notes);
    s->notes = NULL;
}
