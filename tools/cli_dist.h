/* Running as one rank of an MPI job (`mpirun -np N mmfuse ...`, docs/scale.md):
 * the CLI's thin layer over MPI. tools/dist_mpi.c implements it when mmfuse is
 * built with MPI (MMFUSE_MPI), tools/dist_single.c otherwise (one rank, the
 * collectives are no-ops, the file calls plain POSIX I/O), so commands are
 * written once. MPI is started only when a launcher started us (mpirun, srun):
 * a plain `mmfuse embed` never touches it.
 * Every call is collective unless it says otherwise: all ranks make it in the
 * same order. Failures are made collective with cli_dist_all_ok, so that no
 * rank waits forever in a collective another rank never reaches. */
#ifndef MMF_CLI_DIST_H
#define MMF_CLI_DIST_H
#include <stddef.h>
#include <stdint.h>
#include "mmfuse.h"

/* main(): start MPI when launched by mpirun/srun (not collective; call first).
 * Returns 0, or prints why and returns nonzero. */
int cli_dist_init(int *argc, char ***argv);
/* main(): agree on the exit status (the largest over the ranks) and stop MPI. */
int cli_dist_finish(int rc);
/* Not collective. */
int cli_dist_rank(void);
int cli_dist_size(void);
int cli_dist_built(void);   /* 1 when this binary has MPI support */
/* This rank's contiguous share [lo, hi) of n rows: rank r gets n*r/size .. n*(r+1)/size.
 * Not collective. */
void cli_dist_range(size_t n, size_t *lo, size_t *hi);
/* 1 when ok is nonzero on every rank. */
int cli_dist_all_ok(int ok);
void cli_dist_barrier(void);
/* In place over all ranks: MMF_DT_F32, F64, I64 or I32; op 0 = sum, 1 = max, 2 = min. */
enum { CLI_DIST_SUM = 0, CLI_DIST_MAX = 1, CLI_DIST_MIN = 2 };
int cli_dist_allreduce(void *buf, size_t count, mmf_dtype dt, int op);
int cli_dist_bcast(void *buf, size_t nbytes, int root);
/* Rank 0 receives every rank's bytes, in rank order, concatenated (*all malloc'd,
 * NUL-terminated for convenience; *all_len excludes the NUL); other ranks get NULL. */
int cli_dist_gather(const void *mine, size_t len, void **all, size_t *all_len);
/* Not collective: seconds this rank spent inside the collectives above (waiting
 * for slower ranks included): the communication share of a run. */
double cli_dist_comm_seconds(void);
/* The library's view of the job, for mmf_kmeans_sharded and the trainers. */
const mmf_comm *cli_dist_comm(void);

/* One file written by every rank at its own offsets (MPI-IO under MPI). */
typedef struct cli_dist_file cli_dist_file;
int cli_dist_file_create(const char *path, cli_dist_file **f);   /* collective; all ok or all fail */
/* Not collective: this rank's bytes at an absolute offset. Returns 0 on success. */
int cli_dist_file_write_at(cli_dist_file *f, uint64_t off, const void *buf, size_t len);
/* Collective: sync to storage and close; returns 1 when every rank's writes succeeded. */
int cli_dist_file_close(cli_dist_file *f, int ok);
#endif
