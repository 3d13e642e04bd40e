/* Fusion heads: the common interface every operator implements, the head that
 * wraps an operator with an output layer, and helpers shared by the operators.
 * Formulas, costs and absent-modality behaviour: docs/fusion.md. */
#ifndef MMF_FUSION_FUSION_H
#define MMF_FUSION_FUSION_H
#include "mmfuse.h"
#include "train/tape.h"

#define FZ_MAXM MMF_EMB_MAX_MODALITIES

/* Parameter names are "<prefix>.<modality>.<w|b>" with modality names of at most
 * 64 characters and short prefixes, so they fit MMF_PARAM_NAME (128); gcc cannot
 * see that bound through the nested snprintf calls. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

/* Everything that defines a head; saved as JSON in the head file. */
typedef struct fz_config {
    char op[32];
    mmf_task task;
    int M;
    char names[FZ_MAXM][65];
    int64_t dims[FZ_MAXM];
    int64_t n_out;          /* classes (classify, multilabel) or shared dim (align) */
    int hidden;             /* H: common size of the operators */
    int heads, layers;      /* transformer */
    int rank;               /* LMF rank, MFB factor k */
    int proj;               /* TFN per-modality size before the outer product */
    int sketch;             /* compact bilinear output size (power of two) */
    int64_t budget;         /* full bilinear / TFN: max weights in the big layer */
    float dropout;          /* on the fused embedding while training */
    uint64_t seed;          /* init and the fixed count-sketch hashes */
} fz_config;

typedef struct fz_ctx fz_ctx;
typedef struct mmf_head mmf_head;

typedef struct fz_op {
    const char *name;
    const char *summary;
    const char *cost;       /* parameter/FLOP formula, printed by `mmfuse fusions` */
    const char *absent;     /* what happens when a modality is absent */
    int min_m, max_m;
    /* declare parameters (names prefixed "f.") and return the embedding size */
    mmf_status (*declare)(mmf_head *h, int64_t *emb_dim);
    /* forward: returns the fused embedding [B, E] (may also set ctx->logits) */
    mmf_var (*forward)(fz_ctx *c);
    /* multiply-adds x 2 per sample of the fusion part (the output layer is added by the head) */
    int64_t (*flops)(const mmf_head *h);
} fz_op;

struct mmf_head {
    fz_config cfg;
    const fz_op *op;
    mmf_params ps;
    int64_t emb_dim;
    int own_logits;         /* the operator makes the logits itself (late fusion) */
    int32_t *sk_h[FZ_MAXM]; /* compact bilinear: fixed hashes and signs */
    float *sk_s[FZ_MAXM];
    char *path;             /* the file it was loaded from (absolute when it can be), or NULL */
};

struct fz_ctx {
    mmf_tape *tp;
    mmf_head *h;
    int64_t B;
    mmf_var x[FZ_MAXM];     /* [B, D_m]; rows of absent samples are zero */
    mmf_var m[FZ_MAXM];     /* [B, 1] 1 = present (constant) */
    mmf_var inv_m[FZ_MAXM]; /* [B, 1] 1 - m */
    const uint8_t *mask;    /* [B, M] */
    mmf_var logits;         /* set by operators that make their own logits, else -1 */
    mmf_var aux_loss;       /* an extra loss term (CentralNet's unimodal heads), else -1 */
    const int64_t *labels;  /* classify labels of the batch when training, else NULL */
    struct fz_xmodal_maps *capture;  /* xmodal: where this forward writes its attention maps, or NULL */
};

/* registry */
const fz_op *fz_find(const char *name);
int fz_count(void);
const fz_op *fz_at(int i);

/* helpers for operators */
int fz_param(mmf_head *h, const char *name, int ndim, const int64_t *shape, mmf_init init, float scale);
/* nn.Linear-shaped weight [out, in] + bias [out], named "<name>.w", "<name>.b" */
mmf_status fz_linear_decl(mmf_head *h, const char *name, int64_t in, int64_t out, int bias);
/* One such linear per modality, D_m -> out, named "<prefix>.<modality name>", in modality order */
mmf_status fz_linear_decl_each(mmf_head *h, const char *prefix, int64_t out, int bias);
mmf_var fz_p(fz_ctx *c, const char *name);                       /* parameter by name */
mmf_var fz_lin(fz_ctx *c, const char *name, mmf_var x);          /* "<name>.w", "<name>.b" (if declared) */
mmf_status fz_absent_decl(mmf_head *h);                          /* "absent.<m>" [D_m] for each modality */
mmf_var fz_fill(fz_ctx *c, int m);                               /* x_m, or the learned absent embedding */
mmf_var fz_concat_filled(fz_ctx *c);                             /* [B, sum D] of fz_fill */
mmf_status fz_fail_budget(const mmf_head *h, const char *what, int64_t n);
int64_t fz_sum_dims(const mmf_head *h);
#endif
