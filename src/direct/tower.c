/* Shared pieces of the tower trainers and the public defaults. */
#include "direct/tower.h"
#include "core/error.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

mmf_tower_params mmf_tower_params_default(void) {
    mmf_tower_params p = {0};
    p.batch = 64;
    p.lr = 2e-3f;
    p.weight_decay = 1e-4f;
    p.dim = 128;
    p.image_size = 64;
    p.layers = 2;
    p.heads = 4;
    p.max_length = 32;
    p.min_count = 1;
    p.augment = 1;
    p.seed = 1;
    p.n_threads = 1;
    return p;
}

mmf_status mmf_mkdirs(const char *dir) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) return mmf_fail(MMF_ERR_ARG, "%s: path too long", dir);
    for (char *p = buf + 1; ; p++) {
        char c = *p;
        if (c == '/' || c == 0) {
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) return mmf_fail(MMF_ERR_IO, "%s: cannot create folder: %s", buf, strerror(errno));
            *p = c;
        }
        if (!c) break;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) return mmf_fail(MMF_ERR_IO, "%s: not a folder", dir);
    return MMF_OK;
}

int64_t mmf_records_class_ids(const mmf_records *rs, const char *const *labels, int n_labels, int64_t *ids) {
    int64_t k = 0;
    for (size_t i = 0; i < rs->n; i++) {
        ids[i] = mmf_label_index(labels, n_labels, rs->r[i].label);
        if (ids[i] >= 0) k++;
    }
    return k;
}

mmf_optim_params mmf_tower_optim(const mmf_tower_params *p, int64_t total_steps) {
    mmf_optim_params o = mmf_optim_params_default();
    o.kind = MMF_OPT_ADAMW;
    o.lr = p->lr;
    o.weight_decay = p->weight_decay;
    o.clip_norm = 5.0f;
    o.sched = MMF_SCHED_COSINE;
    o.total_steps = total_steps;
    o.warmup_steps = total_steps / 20 > 0 ? total_steps / 20 : 1;
    return o;
}
