/* tools/cli_dist.h on MPI (Open MPI from Debian). MPI starts only when a
 * launcher started this process: mpirun sets OMPI_COMM_WORLD_SIZE, srun with
 * PMIx PMIX_RANK, Hydra (MPICH) and srun --mpi=pmi2 PMI_RANK. Without one,
 * mmfuse stays a plain process: Open MPI's singleton start forks a daemon,
 * which costs time at every run and fails where forking is not allowed.
 * MPI calls are made from the main thread only (MPI_THREAD_FUNNELED); each
 * rank's OpenMP threads do the compute between them. */
#include "cli_dist.h"
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_on, g_rank, g_size = 1;
static double g_comm;   /* seconds inside collectives */

double cli_dist_comm_seconds(void) { return g_comm; }

static int mpi_err(int rc, const char *what) {
    if (rc == MPI_SUCCESS) return 0;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    fprintf(stderr, "mmfuse: error: rank %d: %s: %s\n", g_rank, what, msg);
    return 1;
}

static int launched(void) {
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", NULL};
    for (int i = 0; vars[i]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

int cli_dist_init(int *argc, char ***argv) {
    if (!launched()) return 0;
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "mmfuse: error: MPI_Init failed\n");
        return 1;
    }
    g_on = 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    return 0;
}

int cli_dist_finish(int rc) {
    if (!g_on) return rc;
    int all = rc;
    if (g_size > 1 && MPI_Allreduce(&rc, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS) all = rc ? rc : 1;
    MPI_Finalize();
    g_on = 0;
    return all;
}

int cli_dist_rank(void) { return g_rank; }
int cli_dist_size(void) { return g_size; }
int cli_dist_built(void) { return 1; }

void cli_dist_range(size_t n, size_t *lo, size_t *hi) {
    /* 128-bit products: n * rank overflows 64 bits only beyond 2^53 rows, but be exact */
    *lo = (size_t)((unsigned __int128)n * (unsigned)g_rank / (unsigned)g_size);
    *hi = (size_t)((unsigned __int128)n * (unsigned)(g_rank + 1) / (unsigned)g_size);
}

int cli_dist_all_ok(int ok) {
    if (g_size == 1) return ok != 0;
    int mine = ok != 0, all = 0;
    double t = MPI_Wtime();
    int rc = MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    g_comm += MPI_Wtime() - t;
    return rc == MPI_SUCCESS && all;
}

void cli_dist_barrier(void) {
    if (g_size == 1) return;
    double t = MPI_Wtime();
    MPI_Barrier(MPI_COMM_WORLD);
    g_comm += MPI_Wtime() - t;
}

static MPI_Datatype mpi_type(mmf_dtype dt) {
    switch (dt) {
    case MMF_DT_F32: return MPI_FLOAT;
    case MMF_DT_F64: return MPI_DOUBLE;
    case MMF_DT_I64: return MPI_INT64_T;
    case MMF_DT_I32: return MPI_INT32_T;
    case MMF_DT_U8: return MPI_UINT8_T;
    default: return MPI_DATATYPE_NULL;
    }
}

int cli_dist_allreduce(void *buf, size_t count, mmf_dtype dt, int op) {
    if (g_size == 1 || count == 0) return 0;
    MPI_Datatype t = mpi_type(dt);
    MPI_Op o = op == CLI_DIST_MAX ? MPI_MAX : op == CLI_DIST_MIN ? MPI_MIN : MPI_SUM;
    if (t == MPI_DATATYPE_NULL) return 1;
    /* MPI counts are int: large buffers go in pieces */
    size_t es = mmf_dtype_size(dt), step = (size_t)1 << 28;
    double t0 = MPI_Wtime();
    int rc = 0;
    for (size_t at = 0; !rc && at < count; at += step) {
        int c = (int)(count - at < step ? count - at : step);
        rc = mpi_err(MPI_Allreduce(MPI_IN_PLACE, (char *)buf + at * es, c, t, o, MPI_COMM_WORLD), "MPI_Allreduce");
    }
    g_comm += MPI_Wtime() - t0;
    return rc;
}

int cli_dist_bcast(void *buf, size_t nbytes, int root) {
    if (g_size == 1) return 0;
    size_t step = (size_t)1 << 30;
    double t0 = MPI_Wtime();
    int rc = 0;
    for (size_t at = 0; !rc && at < nbytes; at += step) {
        int c = (int)(nbytes - at < step ? nbytes - at : step);
        rc = mpi_err(MPI_Bcast((char *)buf + at, c, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
    }
    g_comm += MPI_Wtime() - t0;
    return rc;
}

int cli_dist_gather(const void *mine, size_t len, void **all, size_t *all_len) {
    *all = NULL;
    *all_len = 0;
    if (len > (size_t)1 << 30) { fprintf(stderr, "mmfuse: error: rank %d: %zu bytes to gather, more than 1 GiB\n", g_rank, len); len = 0; }
    int n = (int)len, *counts = NULL, *displs = NULL;
    char *buf = NULL;
    double t0 = MPI_Wtime();
    if (g_rank == 0) {
        counts = calloc((size_t)g_size, sizeof *counts);
        displs = calloc((size_t)g_size, sizeof *displs);
    }
    int rc = mpi_err(MPI_Gather(&n, 1, MPI_INT, counts, 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Gather");
    size_t total = 0;
    if (!rc && g_rank == 0) {
        for (int r = 0; r < g_size; r++) { displs[r] = (int)total; total += (size_t)counts[r]; }
        if (total > (size_t)INT32_MAX) { fprintf(stderr, "mmfuse: error: %zu bytes to gather on rank 0\n", total); rc = 1; }
        buf = malloc(total + 1);
    }
    /* everyone joins the Gatherv even when rank 0 could not allocate (it then receives nothing) */
    int ok0 = g_rank != 0 || (buf && !rc);
    if (g_rank == 0 && !ok0) for (int r = 0; r < g_size; r++) counts[r] = 0;
    char dummy;
    if (mpi_err(MPI_Gatherv(mine, n, MPI_BYTE, ok0 ? buf : &dummy, counts, displs, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Gatherv")) rc = 1;
    free(counts);
    free(displs);
    g_comm += MPI_Wtime() - t0;
    if (g_rank == 0 && ok0 && !rc) {
        buf[total] = 0;
        *all = buf;
        *all_len = total;
    } else free(buf);
    return g_rank == 0 ? (rc || !ok0) : rc;
}

static int comm_allreduce(void *buf, size_t count, mmf_dtype dt, mmf_comm_op op, void *user) {
    (void)user;
    return cli_dist_allreduce(buf, count, dt, op == MMF_COMM_MAX ? CLI_DIST_MAX : op == MMF_COMM_MIN ? CLI_DIST_MIN : CLI_DIST_SUM);
}

const mmf_comm *cli_dist_comm(void) {
    static mmf_comm c;
    if (g_size == 1) return NULL;
    c.rank = g_rank;
    c.size = g_size;
    c.allreduce = comm_allreduce;
    c.user = NULL;
    return &c;
}

struct cli_dist_file { MPI_File fh; char path[4096]; };

int cli_dist_file_create(const char *path, cli_dist_file **out) {
    *out = NULL;
    cli_dist_file *f = calloc(1, sizeof *f);
    int ok = f != NULL, rc = MPI_SUCCESS;
    if (f) {
        snprintf(f->path, sizeof f->path, "%s", path);
        /* collective: every rank calls it (MPI_MODE_CREATE by all is allowed) */
        rc = MPI_File_open(MPI_COMM_WORLD, path, MPI_MODE_CREATE | MPI_MODE_WRONLY, MPI_INFO_NULL, &f->fh);
        if (rc != MPI_SUCCESS) { ok = 0; mpi_err(rc, path); }
    }
    if (!cli_dist_all_ok(ok)) {
        if (f && rc == MPI_SUCCESS) MPI_File_close(&f->fh);
        free(f);
        return 1;
    }
    /* a file left from an earlier, longer attempt: cut it (collective) */
    if (mpi_err(MPI_File_set_size(f->fh, 0), path)) ok = 0;
    if (!cli_dist_all_ok(ok)) { MPI_File_close(&f->fh); free(f); return 1; }
    *out = f;
    return 0;
}

int cli_dist_file_write_at(cli_dist_file *f, uint64_t off, const void *buf, size_t len) {
    const char *p = buf;
    size_t step = (size_t)1 << 30;
    while (len) {
        int c = (int)(len < step ? len : step);
        MPI_Status st;
        if (mpi_err(MPI_File_write_at(f->fh, (MPI_Offset)off, p, c, MPI_BYTE, &st), f->path)) return 1;
        int got = 0;
        MPI_Get_count(&st, MPI_BYTE, &got);
        if (got != c) { fprintf(stderr, "mmfuse: error: rank %d: short write to %s\n", g_rank, f->path); return 1; }
        p += c; off += (uint64_t)c; len -= (size_t)c;
    }
    return 0;
}

int cli_dist_file_close(cli_dist_file *f, int ok) {
    if (mpi_err(MPI_File_sync(f->fh), f->path)) ok = 0;   /* collective */
    if (mpi_err(MPI_File_close(&f->fh), f->path)) ok = 0;  /* collective */
    free(f);
    return cli_dist_all_ok(ok);
}
