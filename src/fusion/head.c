/* A fusion head: an operator from the zoo + the output layer (or, for the align
 * task, two projections trained with InfoNCE). Building, one forward pass over a
 * batch, and saving/loading as safetensors with the JSON config in metadata. */
#include "fusion/head.h"
#include "core/error.h"
#include "io/json.h"
#include "io/model_file.h"
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mmf_head_free(mmf_head *h) {
    if (!h) return;
    mmf_params_free(&h->ps);
    for (int m = 0; m < FZ_MAXM; m++) { free(h->sk_h[m]); free(h->sk_s[m]); }
    free(h->path);
    free(h);
}

static const char *task_name(mmf_task t) {
    return t == MMF_TASK_CLASSIFY ? "classify" : t == MMF_TASK_MULTILABEL ? "multilabel" : "align";
}

mmf_status fz_head_new(const fz_config *cfg, mmf_head **out) {
    *out = NULL;
    if (cfg->M < 1 || cfg->M > FZ_MAXM || (cfg->task == MMF_TASK_ALIGN && cfg->M < 2))
        return mmf_fail(MMF_ERR_ARG, "fusion head: %d modalities, expected %d..%d", cfg->M, cfg->task == MMF_TASK_ALIGN ? 2 : 1, FZ_MAXM);
    if (cfg->hidden < 1 || cfg->hidden > 65536) return mmf_fail(MMF_ERR_ARG, "fusion head: hidden size %d out of range", cfg->hidden);
    if (cfg->n_out < 1 || cfg->n_out > 1000000) return mmf_fail(MMF_ERR_ARG, "fusion head: output size %lld out of range", (long long)cfg->n_out);
    if (cfg->task == MMF_TASK_CLASSIFY && cfg->n_out < 2)
        return mmf_fail(MMF_ERR_ARG, "fusion head: classify needs at least 2 classes, the data has %lld", (long long)cfg->n_out);
    const fz_op *op = NULL;
    if (cfg->task != MMF_TASK_ALIGN) {
        op = fz_find(cfg->op);
        if (!op) return mmf_fail(MMF_ERR_ARG, "fusion head: unknown fusion \"%s\" (see `mmfuse fusions`)", cfg->op);
        if (cfg->M < op->min_m || cfg->M > op->max_m)
            return mmf_fail(MMF_ERR_ARG, "fusion %s takes %d..%d modalities, the data has %d", op->name, op->min_m, op->max_m, cfg->M);
    }
    if (cfg->rank < 1 || cfg->rank > 64 || cfg->proj < 1 || cfg->proj > 4096 || cfg->budget < 1)
        return mmf_fail(MMF_ERR_ARG, "fusion head: rank %d (1..64), proj %d (1..4096) or budget out of range", cfg->rank, cfg->proj);
    mmf_head *h = calloc(1, sizeof *h);
    if (!h) return mmf_fail(MMF_ERR_NOMEM, "fusion head: out of memory");
    h->cfg = *cfg;
    h->op = op;
    mmf_params_init(&h->ps);
    mmf_status s;
    if (cfg->task == MMF_TASK_ALIGN) {
        h->emb_dim = cfg->n_out;
        s = fz_linear_decl(h, "align.a", cfg->dims[0], cfg->n_out, 1);
        if (!s) s = fz_linear_decl(h, "align.b", cfg->dims[1], cfg->n_out, 1);
        if (!s && fz_param(h, "align.logit_scale", 1, (int64_t[]){1}, MMF_INIT_CONST, logf(1.0f / 0.07f)) < 0) s = MMF_ERR_ARG;
    } else {
        s = op->declare(h, &h->emb_dim);
        if (!s && !h->own_logits) s = fz_linear_decl(h, "out", h->emb_dim, cfg->n_out, 1);
    }
    if (!s) {
        mmf_rng r;
        mmf_rng_seed(&r, cfg->seed);
        s = mmf_params_alloc(&h->ps, &r);
    }
    if (s) {
        if (!mmf_last_error()[0]) mmf_fail(s, "fusion head: could not declare the parameters");
        mmf_head_free(h);
        return s;
    }
    *out = h;
    return MMF_OK;
}

mmf_status fz_head_forward(mmf_head *h, mmf_tape *tp, int64_t B, float *const *xs, const uint8_t *mask,
                           const int64_t *labels, fz_out *o) {
    return fz_head_forward_capture(h, tp, B, xs, mask, labels, NULL, o);
}

mmf_status fz_head_forward_capture(mmf_head *h, mmf_tape *tp, int64_t B, float *const *xs, const uint8_t *mask,
                                   const int64_t *labels, struct fz_xmodal_maps *capture, fz_out *o) {
    int M = h->cfg.M;
    o->emb = o->out = o->out2 = o->aux = -1;
    fz_ctx c = {.tp = tp, .h = h, .B = B, .mask = mask, .logits = -1, .aux_loss = -1, .labels = labels, .capture = capture};
    float *mf = mmf_tape_scratch(tp, (size_t)(B * M) * 2 * sizeof(float));
    if (!mf) return mmf_fail(MMF_ERR_NOMEM, "fusion: out of memory");
    for (int m = 0; m < M; m++) {
        float *pm = mf + (size_t)m * 2 * B, *pi = pm + B;
        for (int64_t b = 0; b < B; b++) { pm[b] = mask[b * M + m] ? 1.0f : 0.0f; pi[b] = 1.0f - pm[b]; }
        c.x[m] = mmf_t_view(tp, xs[m], 2, (int64_t[]){B, h->cfg.dims[m]});   /* the batch outlives the step */
        c.m[m] = mmf_t_const(tp, pm, 2, (int64_t[]){B, 1});
        c.inv_m[m] = mmf_t_const(tp, pi, 2, (int64_t[]){B, 1});
    }
    if (h->cfg.task == MMF_TASK_ALIGN) {
        mmf_var a = fz_lin(&c, "align.a", c.x[0]), b = fz_lin(&c, "align.b", c.x[1]);
        /* embedding: mean of the normalised projections of the present modalities */
        float *w = mmf_tape_scratch(tp, (size_t)B * 2 * sizeof(float));
        if (!w) return mmf_fail(MMF_ERR_NOMEM, "fusion: out of memory");
        for (int64_t r = 0; r < B; r++) {
            int n = mask[r * M] + mask[r * M + 1];
            w[r] = n ? mask[r * M] / (float)n : 0.0f;
            w[B + r] = n ? mask[r * M + 1] / (float)n : 0.0f;
        }
        mmf_var wa = mmf_t_const(tp, w, 2, (int64_t[]){B, 1}), wb = mmf_t_const(tp, w + B, 2, (int64_t[]){B, 1});
        o->emb = mmf_t_add(tp, mmf_t_mul(tp, mmf_t_l2norm(tp, a, 1e-12f), wa), mmf_t_mul(tp, mmf_t_l2norm(tp, b, 1e-12f), wb));
        o->out = a;
        o->out2 = b;
    } else {
        o->emb = h->op->forward(&c);
        if (h->own_logits) o->out = c.logits;
        else o->out = fz_lin(&c, "out", mmf_t_dropout(tp, o->emb, h->cfg.dropout));
        o->aux = c.aux_loss;
    }
    return mmf_tape_status(tp);
}

/* ------------------------------------------------------------- accessors */

const char *mmf_head_fusion(const mmf_head *h) { return h->cfg.task == MMF_TASK_ALIGN ? "align" : h->cfg.op; }
mmf_task mmf_head_task(const mmf_head *h) { return h->cfg.task; }
int64_t mmf_head_emb_dim(const mmf_head *h) { return h->emb_dim; }
int64_t mmf_head_out_dim(const mmf_head *h) { return h->cfg.n_out; }
int mmf_head_n_modalities(const mmf_head *h) { return h->cfg.M; }
const char *mmf_head_modality(const mmf_head *h, int m) { return m >= 0 && m < h->cfg.M ? h->cfg.names[m] : NULL; }
int64_t mmf_head_dim(const mmf_head *h, int m) { return m >= 0 && m < h->cfg.M ? h->cfg.dims[m] : 0; }

int64_t mmf_head_param_count(const mmf_head *h) {
    int64_t n = 0;
    for (int i = 0; i < h->ps.n; i++) n += h->ps.p[i].n;
    return n;
}

int64_t mmf_head_flops(const mmf_head *h) {
    if (h->cfg.task == MMF_TASK_ALIGN) return 2 * (h->cfg.dims[0] + h->cfg.dims[1]) * h->cfg.n_out;
    int64_t f = h->op->flops(h);
    if (!h->own_logits) f += 2 * h->emb_dim * h->cfg.n_out;
    return f;
}

const char *mmf_head_describe(const mmf_head *h, char *buf, size_t cap) {
    snprintf(buf, cap, "{\"fusion\": \"%s\", \"task\": \"%s\", \"modalities\": %d, \"hidden\": %d, \"embedding_dim\": %lld, "
             "\"outputs\": %lld, \"parameters\": %lld, \"flops_per_sample\": %lld}",
             mmf_head_fusion(h), task_name(h->cfg.task), h->cfg.M, h->cfg.hidden, (long long)h->emb_dim,
             (long long)h->cfg.n_out, (long long)mmf_head_param_count(h), (long long)mmf_head_flops(h));
    return buf;
}

/* ------------------------------------------------------------ save / load */

void fz_config_sizes_to_json(cJSON *o, const fz_config *c) {
    cJSON_AddNumberToObject(o, "hidden", c->hidden);
    cJSON_AddNumberToObject(o, "heads", c->heads);
    cJSON_AddNumberToObject(o, "layers", c->layers);
    cJSON_AddNumberToObject(o, "rank", c->rank);
    cJSON_AddNumberToObject(o, "proj", c->proj);
    cJSON_AddNumberToObject(o, "sketch", c->sketch);
    cJSON_AddNumberToObject(o, "budget", (double)c->budget);
}

mmf_status fz_config_sizes_from_json(const cJSON *o, const char *file, fz_config *c) {
    int64_t v;
    const char *seed;
    mmf_status s = mmf_json_int_req(o, "hidden", 1, 65536, file, &v);
    c->hidden = (int)v;
    if (!s) { s = mmf_json_int(o, "heads", 4, 1, 256, file, &v); c->heads = (int)v; }
    if (!s) { s = mmf_json_int(o, "layers", 1, 1, 12, file, &v); c->layers = (int)v; }
    if (!s) { s = mmf_json_int(o, "rank", 4, 1, 64, file, &v); c->rank = (int)v; }
    if (!s) { s = mmf_json_int(o, "proj", 16, 1, 4096, file, &v); c->proj = (int)v; }
    if (!s) { s = mmf_json_int(o, "sketch", 1024, 1, 65536, file, &v); c->sketch = (int)v; }
    if (!s) s = mmf_json_int(o, "budget", 1 << 24, 1, INT64_MAX, file, &c->budget);
    if (!s) s = mmf_json_str(o, "seed", "1", file, &seed);
    if (!s) c->seed = strtoull(seed, NULL, 10);
    return s;
}

static char *config_json(const fz_config *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", "mmfuse.head/1");
    cJSON_AddStringToObject(o, "fusion", c->op);
    cJSON_AddStringToObject(o, "task", task_name(c->task));
    cJSON *mods = cJSON_AddArrayToObject(o, "modalities");
    for (int m = 0; m < c->M; m++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", c->names[m]);
        cJSON_AddNumberToObject(e, "dim", (double)c->dims[m]);
        cJSON_AddItemToArray(mods, e);
    }
    cJSON_AddNumberToObject(o, "outputs", (double)c->n_out);
    fz_config_sizes_to_json(o, c);
    cJSON_AddNumberToObject(o, "dropout", c->dropout);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->seed);
    cJSON_AddStringToObject(o, "seed", seed);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

mmf_status fz_model_save(const char *path, const char *key, const char *config, int n_sets, const mmf_params *const *sets,
                         const char *const *prefixes) {
    if (!config) return mmf_fail(MMF_ERR_NOMEM, "out of memory");
    mmf_st_writer *w = mmf_st_writer_new();
    if (!w) return mmf_fail(MMF_ERR_NOMEM, "out of memory");
    mmf_status s = mmf_st_writer_meta(w, key, config);
    if (!s) s = mmf_st_writer_meta(w, "format", "pt");
    for (int k = 0; k < n_sets && !s; k++) {
        const mmf_params *ps = sets[k];
        for (int i = 0; i < ps->n && !s; i++) {
            const mmf_param_info *p = &ps->p[i];
            for (int64_t j = 0; j < p->n && !s; j++)
                if (!isfinite(ps->data[p->offset + j]))
                    s = mmf_fail(MMF_ERR_NUMERIC, "%s: parameter \"%s%s\" holds NaN/Inf; refusing to save", path, prefixes[k], p->name);
            char nm[MMF_PARAM_NAME + 16];
            snprintf(nm, sizeof nm, "%s%s", prefixes[k], p->name);
            if (!s) s = mmf_st_writer_add(w, nm, MMF_DT_F32, p->ndim, p->shape, ps->data + p->offset);
        }
    }
    if (!s) s = mmf_st_writer_finish(w, path);
    mmf_st_writer_free(w);
    return s;
}

mmf_status mmf_head_save(const mmf_head *h, const char *path) {
    char *cfg = config_json(&h->cfg);
    const mmf_params *sets[] = {&h->ps};
    mmf_status s = fz_model_save(path, "mmfuse.head", cfg, 1, sets, (const char *const[]){""});
    free(cfg);
    return s;
}

static mmf_status parse_config(const char *path, const char *text, fz_config *c) {
    cJSON *o;
    mmf_status s = mmf_json_parse(text, strlen(text), path, &o);
    if (s) return s;
    memset(c, 0, sizeof *c);
    const char *fmt, *op, *task;
    double d;
    char file[600];
    snprintf(file, sizeof file, "%s: __metadata__ \"mmfuse.head\"", path);
    s = mmf_json_str(o, "format", NULL, file, &fmt);
    if (!s && (!fmt || strcmp(fmt, "mmfuse.head/1"))) s = mmf_fail(MMF_ERR_UNSUPPORTED, "%s: field \"format\": expected \"mmfuse.head/1\"", file);
    if (!s) s = mmf_json_str(o, "fusion", NULL, file, &op);
    if (!s && (!op || strlen(op) >= sizeof c->op)) s = mmf_fail(MMF_ERR_FORMAT, "%s: field \"fusion\" missing", file);
    if (!s) { snprintf(c->op, sizeof c->op, "%s", op); s = mmf_json_str(o, "task", NULL, file, &task); }
    if (!s) {
        if (task && !strcmp(task, "classify")) c->task = MMF_TASK_CLASSIFY;
        else if (task && !strcmp(task, "multilabel")) c->task = MMF_TASK_MULTILABEL;
        else if (task && !strcmp(task, "align")) c->task = MMF_TASK_ALIGN;
        else s = mmf_fail(MMF_ERR_FORMAT, "%s: field \"task\": expected classify, multilabel or align", file);
    }
    const cJSON *mods = cJSON_GetObjectItemCaseSensitive(o, "modalities");
    if (!s && (!cJSON_IsArray(mods) || cJSON_GetArraySize(mods) < 1 || cJSON_GetArraySize(mods) > FZ_MAXM))
        s = mmf_fail(MMF_ERR_FORMAT, "%s: field \"modalities\": expected an array of 1..%d objects", file, FZ_MAXM);
    for (int m = 0; !s && m < cJSON_GetArraySize(mods); m++) {
        const cJSON *e = cJSON_GetArrayItem(mods, m);
        const char *nm;
        s = mmf_json_str(e, "name", NULL, file, &nm);
        if (!s && (!nm || !nm[0] || strlen(nm) > 64)) s = mmf_fail(MMF_ERR_FORMAT, "%s: modality %d has no valid \"name\"", file, m);
        if (!s) { snprintf(c->names[m], sizeof c->names[m], "%s", nm); s = mmf_json_int_req(e, "dim", 1, 1 << 20, file, &c->dims[m]); }
        c->M = m + 1;
    }
    if (!s) s = mmf_json_int_req(o, "outputs", 1, 1000000, file, &c->n_out);
    if (!s) s = fz_config_sizes_from_json(o, file, c);
    if (!s) { s = mmf_json_num(o, "dropout", 0.0, file, &d); c->dropout = (float)d; }
    cJSON_Delete(o);
    return s;
}

mmf_status fz_params_read(mmf_safetensors *st, mmf_params *ps, const char *prefix, const char *path, int finite) {
    for (int i = 0; i < ps->n; i++) {
        const mmf_param_info *p = &ps->p[i];
        char nm[MMF_PARAM_NAME + 16];
        snprintf(nm, sizeof nm, "%s%s", prefix, p->name);
        const mmf_tensor_info *t = mmf_st_find(st, nm);
        int ok = t && t->ndim == p->ndim;
        for (int d = 0; ok && d < p->ndim; d++) ok = t->shape[d] == p->shape[d];
        if (!ok) {
            char b[64];
            return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"%s\" %s; the config needs %s", path, nm,
                            t ? "has another shape" : "is missing", mmf_shape_str(p->ndim, p->shape, b, sizeof b));
        }
        MMF_TRY(mmf_st_read_f32(st, nm, ps->data + p->offset, (size_t)p->n));
        for (int64_t j = 0; finite && j < p->n; j++)
            if (!isfinite(ps->data[p->offset + j]))
                return mmf_fail(MMF_ERR_NUMERIC, "%s: tensor \"%s\" holds NaN/Inf", path, nm);
    }
    return MMF_OK;
}

mmf_status mmf_head_load(const char *path, mmf_head **out) {
    *out = NULL;
    mmf_safetensors *st;
    const char *meta;
    MMF_TRY(mmf_model_file_open(path, "mmfuse.head", "fusion head", &st, &meta));
    fz_config cfg;
    mmf_head *h = NULL;
    mmf_status s = parse_config(path, meta, &cfg);
    if (!s) s = fz_head_new(&cfg, &h);
    if (s && h == NULL && !strstr(mmf_last_error(), path)) mmf_fail_wrap(s, "%s", path);
    if (!s) s = fz_params_read(st, &h->ps, "", path, 0);
    if (!s && mmf_st_count(st) != (size_t)h->ps.n)
        s = mmf_fail(MMF_ERR_FORMAT, "%s: %zu tensors, the config declares %d", path, mmf_st_count(st), h->ps.n);
    mmf_st_close(st);
    if (s) { mmf_head_free(h); return s; }
    /* fused embeddings name the head that made them, as embed names its encoder */
    char abs[PATH_MAX];
    h->path = strdup(realpath(path, abs) ? abs : path);
    if (!h->path) { mmf_head_free(h); return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", path); }
    *out = h;
    return MMF_OK;
}
