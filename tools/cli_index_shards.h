/* A sharded index (docs/scale.md): `mpirun -np N mmfuse index build` writes one
 * index file per rank (IDX.shard-R-of-N) and a manifest at IDX naming them;
 * `mmfuse search IDX` queries every shard, in this process or one rank per shard
 * under mpirun, and merges each query's top k. A plain index file opens as one
 * shard, so search has one code path. */
#ifndef MMF_CLI_INDEX_SHARDS_H
#define MMF_CLI_INDEX_SHARDS_H
#include <stddef.h>
#include <stdint.h>
#include "mmfuse.h"

typedef struct cli_sindex {
    mmf_index **ix;        /* the shards this process opened */
    int n_open;
    int n_shards;          /* shards in the manifest (1 for a plain index) */
    int first;             /* manifest number of ix[0] */
    int is_manifest;
    mmf_index_info info;   /* of the whole: count and deleted summed over the shards */
} cli_sindex;

/* The manifest file for shard files[0..n) (names relative to the manifest's folder). */
int cli_sindex_write_manifest(const char *cmd, const char *path, int n, const char *const *files, const size_t *counts,
                              const mmf_index_info *info);
/* The name of shard r of n beside `path` (the manifest), for the build. */
void cli_sindex_shard_name(const char *path, int r, int n, char *out, size_t cap);
/* Open IDX: a manifest (every shard, or with one_rank_each only shard `rank`
 * when the manifest has exactly `size` shards) or a plain index file. Prints
 * the error and returns 0 on failure. */
int cli_sindex_open(const char *cmd, const char *path, int one_rank_each, int rank, int size, cli_sindex *out);
void cli_sindex_free(cli_sindex *s);
/* Top k of every opened shard merged: ids/scores (nq, k), -1 / NAN padded. */
mmf_status cli_sindex_search(const cli_sindex *s, size_t nq, const float *q, int k, const mmf_search_params *sp,
                             int64_t *ids, float *scores);
/* One shard's top k; an empty shard gives no results instead of an error. */
mmf_status cli_sindex_search_one(const mmf_index *ix, size_t nq, const float *q, int k, const mmf_search_params *sp,
                                 int64_t *ids, float *scores);
/* Merge m lists of (nq, k) results (lists[i] ids and scores) into one (nq, k), best first. */
void cli_sindex_merge(mmf_metric metric, size_t nq, int k, int m, const int64_t *const *lid, const float *const *lsc,
                      int64_t *ids, float *scores);
/* Name and payload of id in whichever opened shard holds it (NULL: none). */
const char *cli_sindex_item_name(const cli_sindex *s, int64_t id);
const char *cli_sindex_item_payload(const cli_sindex *s, int64_t id);
#endif
