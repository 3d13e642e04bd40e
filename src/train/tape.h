/* Reverse-mode autograd: a tape of ops over float32 tensors (docs/autograd.md).
 *
 * A forward pass records, for every op whose output needs a gradient, one node
 * holding a plain backward function plus what it saved. mmf_tape_backward() runs
 * the nodes in reverse; each backward ADDS into the .g of its inputs (llm.c style
 * forward/backward pairs, shapes in comments).
 *
 *  - Variables are small integers (mmf_var) indexing the tape. -1 means "none"
 *    (e.g. no bias) or "failed".
 *  - Errors are sticky: an op given bad shapes records the message (mmf_fail),
 *    returns -1, and every later op given -1 returns -1. Check mmf_tape_status()
 *    once after building the graph.
 *  - Memory: values, gradients and saved buffers come from the tape's chunked
 *    arena; mmf_tape_reset() rewinds it, keeping the chunks, so after the first
 *    step a training loop allocates nothing.
 *  - Parameters live in one allocation (mmf_params) with a parallel gradient
 *    block; mmf_t_param() makes a variable that points into both.
 *  - Determinism: every op is deterministic for a given thread count (parallel
 *    loops split over independent outputs; reductions run in a fixed order).
 */
#ifndef MMF_TRAIN_TAPE_H
#define MMF_TRAIN_TAPE_H
#include <stddef.h>
#include <stdint.h>
#include "mmfuse.h"
#include "train/rng.h"

#define MMF_T_MAXDIM 4
#define MMF_NODE_MAXIN 8

typedef int mmf_var;
typedef struct mmf_tape mmf_tape;

typedef struct mmf_tvar {
    float *v;       /* values, contiguous row-major */
    float *g;       /* gradient (same shape), or NULL when no gradient flows here */
    int ndim;
    int64_t shape[MMF_T_MAXDIM];
    int64_t n;      /* number of elements */
    int g_lazy;     /* g not written yet: contents undefined, meaning zero (mmf_tape_alloc_lazy) */
    const uint16_t *b16;  /* bf16 copy of v (a parameter's mmf_params_bf16_shadow while fresh), or NULL */
    struct mmf_params *ps; /* the parameter set and index of a parameter's variable (mmf_t_param), or NULL */
    int pidx;
    int deferred;         /* mmf_t_param_deferred: while the parameter's update is pending (mmf_var_pending),
                           * v (and b16) are one optimiser update behind and the consumer applies it */
} mmf_tvar;

typedef struct mmf_node mmf_node;
typedef void (*mmf_backward_fn)(mmf_tape *tp, const mmf_node *nd);

struct mmf_node {
    mmf_backward_fn backward;
    const char *name;
    mmf_var out;
    mmf_var in[MMF_NODE_MAXIN];
    int n_in;
    int64_t i[8];       /* integer attributes (sizes, flags) */
    float f[4];         /* float attributes */
    void *aux[3];       /* saved buffers (tape memory) */
    unsigned lazy_ok;   /* bit k: this backward takes in[k]'s gradient unzeroed (mmf_tape_grad_fresh) */
};

/* ---- tape ---- */
mmf_tape *mmf_tape_new(int n_threads, uint64_t seed);
void mmf_tape_free(mmf_tape *tp);
/* Forget all variables and nodes; keep the memory. */
void mmf_tape_reset(mmf_tape *tp);
/* Training mode turns dropout on (default off). */
void mmf_tape_set_training(mmf_tape *tp, int on);
int mmf_tape_training(const mmf_tape *tp);
mmf_rng *mmf_tape_rng(mmf_tape *tp);
int mmf_tape_threads(const mmf_tape *tp);
mmf_status mmf_tape_status(const mmf_tape *tp);
/* Mixed precision for mmf_t_linear (default off): in layers with at least 32
 * inputs and 32 outputs, the forward, weight-gradient and input-gradient GEMMs
 * round their operands to bf16 and accumulate in fp32 (AVX512-BF16);
 * parameters, gradients and everything else stay fp32. Fails
 * (MMF_ERR_UNSUPPORTED, message set) on a CPU without AVX512-BF16. */
mmf_status mmf_tape_set_bf16(mmf_tape *tp, int on);
int mmf_tape_bf16(const mmf_tape *tp);
/* Seed the loss gradient with 1 (every element) and run the backward pass. */
mmf_status mmf_tape_backward(mmf_tape *tp, mmf_var loss);
size_t mmf_tape_bytes(const mmf_tape *tp);   /* arena capacity, for reports */
/* Data parallel (train/fit.h, docs/scale.md): the ranks whose batch slices make
 * up one batch. NULL (the default) or size 1: one process, and no op
 * communicates. Otherwise ops that couple the samples of a batch (batchnorm's
 * statistics, mmf_t_gather_rows and the contrastive loss over it) reduce over
 * all ranks, so every rank must build the same graph each step; such an op
 * still makes its collectives when the tape has already failed (and then
 * fails every rank). The trainer sets it; the comm must outlive the tape's use. */
void mmf_tape_set_comm(mmf_tape *tp, const mmf_comm *comm);
const mmf_comm *mmf_tape_comm(const mmf_tape *tp);   /* NULL unless size > 1 */
/* Data parallel: this rank's rows [lo, hi) of a batch of B (the fit loop sets
 * it before each forward pass; one process: 0, B, B). Dropout uses it to draw
 * the whole batch's masks on every rank, as one process draws them, and keep
 * its rows' (for tensors whose leading dimension is the batch), so every rank
 * drops what one process drops and the tapes' generators stay in step.
 * B = 0 (the default): not set. */
void mmf_tape_set_slice(mmf_tape *tp, int64_t lo, int64_t hi, int64_t B);
/* For ops: 1 and the slice when one is set that is smaller than its batch. */
int mmf_tape_slice(const mmf_tape *tp, int64_t *lo, int64_t *hi, int64_t *B);
/* For ops: sum buf[0..n) over the ranks in place (nothing without a comm);
 * buf has room for n + 1 doubles, the last carrying failures. A failure of
 * this rank (fail != 0, e.g. the tape's status) or of the all-reduce is made
 * everyone's: returns nonzero on every rank then, with the message set
 * (without a comm: returns fail). */
int mmf_tape_allreduce(mmf_tape *tp, double *buf, size_t n, int fail);

/* ---- variables ---- */
/* The variable's record, NULL for -1. The pointer lives in a growable array:
 * any call that makes a variable (every op, mmf_t_const/view/leaf/param)
 * may move it, and mmf_tape_reset ends it. Keep the mmf_var and look the
 * record up again after making variables; the v and g buffers themselves
 * stay put until the reset. */
mmf_tvar *mmf_tape_var(mmf_tape *tp, mmf_var v);
/* For ops: record an error (message already set with mmf_fail) and return -1. */
mmf_var mmf_tape_fail(mmf_tape *tp, mmf_status s);
/* For ops: a new variable, values uninitialised; gradient (zeroed) iff needs_grad. */
mmf_var mmf_tape_alloc(mmf_tape *tp, int ndim, const int64_t *shape, int needs_grad);
/* For elementwise and row-wise ops: a variable of x's shape with a (zeroed)
 * gradient iff x has one; -1 when x is -1 or the tape failed before (the
 * first error kept). */
mmf_var mmf_tape_alloc_like(mmf_tape *tp, mmf_var x);
/* For ops: as mmf_tape_alloc, but the gradient is not zeroed up front. Saves a
 * memset and a read for big activations whose consumer overwrites the whole
 * gradient. The backward driver zeroes it before any node that did not declare
 * (mmf_node.lazy_ok) that it handles this, and after the pass if no one wrote it. */
mmf_var mmf_tape_alloc_lazy(mmf_tape *tp, int ndim, const int64_t *shape, int needs_grad);
/* For a backward whose node set lazy_ok for this input: 1 if the gradient is
 * still unwritten (a lazy activation gradient, or a parameter's gradient left
 * stale by the optimiser), in which case the caller must overwrite every
 * element (= instead of +=); marks it written either way. */
int mmf_tape_grad_fresh(mmf_tvar *t);
/* For ops that alias a variable's gradient buffer (mmf_t_reshape): zero a
 * gradient that is still lazy or a parameter's stale one now, so writers
 * through the alias add onto zeros. */
void mmf_tape_grad_define(mmf_tvar *t);
/* For ops: scratch memory living until the next reset (64-byte aligned, not zeroed). */
void *mmf_tape_scratch(mmf_tape *tp, size_t bytes);
/* For ops: append a node (copied). Only called when the output needs a gradient. */
void mmf_tape_record(mmf_tape *tp, const mmf_node *nd);
int mmf_tape_needs_grad(mmf_tape *tp, const mmf_var *in, int n);

/* Constant input (copied into the tape; no gradient). */
mmf_var mmf_t_const(mmf_tape *tp, const float *data, int ndim, const int64_t *shape);
/* Constant over the caller's memory, no copy: data must stay unchanged and
 * alive until the tape is reset (a training batch; ops never write inputs). */
mmf_var mmf_t_view(mmf_tape *tp, const float *data, int ndim, const int64_t *shape);
/* Leaf that receives a gradient (copied in; read the gradient with mmf_tape_var()->g). */
mmf_var mmf_t_leaf(mmf_tape *tp, const float *data, int ndim, const int64_t *shape);
/* A constant filled with one value. */
mmf_var mmf_t_full(mmf_tape *tp, float value, int ndim, const int64_t *shape);

/* ---- parameters: one allocation for all ---- */
typedef enum mmf_init {
    MMF_INIT_ZERO, MMF_INIT_ONE, MMF_INIT_CONST,
    MMF_INIT_UNIFORM,      /* U(-a, a) with a = scale */
    MMF_INIT_NORMAL,       /* N(0, scale^2) */
    MMF_INIT_LINEAR        /* PyTorch nn.Linear default: U(-1/sqrt(fan_in), +) with fan_in = last dim */
} mmf_init;

#define MMF_PARAM_NAME 128
typedef struct mmf_param_info {
    char name[MMF_PARAM_NAME];
    int ndim;
    int64_t shape[MMF_T_MAXDIM];
    int64_t n, offset;
    mmf_init init;
    float scale;
    int no_decay;          /* excluded from weight decay (biases, norms, temperatures) */
    /* Training state, zero after mmf_params_alloc.
     * grad_stale: the gradient is stale, its contents undefined and meaning
     * zero. mmf_optim_step leaves every gradient stale instead of zeroing it
     * (a write of the whole block saved per step); the next backward pass
     * overwrites or zeroes it (mmf_tape_grad_fresh), and the optimiser zeroes
     * one no pass wrote. Code that writes ps->grad by hand calls
     * mmf_params_zero_grad first.
     * uses, sumsq, sumsq_ok: set by mmf_tape_backward for its pass: the number
     * of node inputs reading the parameter, and the sum of squares of its
     * gradient when the one node that wrote it computed that on the way (the
     * bf16 weight-gradient GEMM does): the optimiser's norm then skips a pass.
     * pending: an optimiser update is pending (mmf_optim_params.defer). */
    uint8_t grad_stale, sumsq_ok, pending;
    int uses;
    double sumsq;
} mmf_param_info;

typedef struct mmf_params {
    mmf_param_info *p;
    int n, cap;
    int64_t total;
    float *data;           /* all values, one allocation */
    float *grad;           /* all gradients, same layout */
    uint16_t *bf16;        /* bf16 copy of data, same layout (mmf_params_bf16_shadow), or NULL */
    /* the pending optimiser update (mmf_param_info.pending):
     * apply_pending(pending_opt, ps, i, off, n) applies it to elements
     * [off, off + n) of parameter i (whoever finishes a parameter clears its flag) */
    void (*apply_pending)(void *opt, struct mmf_params *ps, int idx, int64_t off, int64_t n);
    void *pending_opt;
    const float *pending_m, *pending_v;   /* the optimiser's moments, same layout as data (for prefetching) */
    int bf16_fresh;        /* bf16 == round(data): set by the shadow and mmf_optim_step, cleared by mmf_params_touch */
} mmf_params;

void mmf_params_init(mmf_params *ps);
void mmf_params_free(mmf_params *ps);
/* Declare a parameter (before mmf_params_alloc); returns its index or -1 (error set). */
int mmf_params_add(mmf_params *ps, const char *name, int ndim, const int64_t *shape, mmf_init init, float scale);
/* Allocate both blocks and initialise every parameter from rng (in declaration order). */
mmf_status mmf_params_alloc(mmf_params *ps, mmf_rng *rng);
void mmf_params_zero_grad(mmf_params *ps);
/* Keep a bf16 copy of the values (round to nearest even) that mmf_optim_step
 * rewrites in the same sweep as its update: bf16 linear layers then read their
 * weights without converting them every step. Whoever writes ps->data other
 * than through mmf_optim_step must call mmf_params_touch (the copy is then
 * ignored until the next step). */
mmf_status mmf_params_bf16_shadow(mmf_params *ps);
void mmf_params_touch(mmf_params *ps);
int mmf_params_find(const mmf_params *ps, const char *name);
float *mmf_params_value(mmf_params *ps, int idx);
/* Variable over parameter idx (values and gradient point into the blocks);
 * a pending optimiser update is applied first. */
mmf_var mmf_t_param(mmf_tape *tp, mmf_params *ps, int idx);
/* The same, leaving a pending update to the consumer (mmf_tvar.deferred,
 * mmf_var_pending): only for mmf_t_linear's weight, which applies it while it
 * multiplies. */
mmf_var mmf_t_param_deferred(mmf_tape *tp, mmf_params *ps, int idx);
/* Apply parameter idx's pending update, if any. */
void mmf_params_apply_pending(mmf_params *ps, int idx);
/* 1 if t came from mmf_t_param_deferred and its parameter's update is still
 * pending (read from the parameter, so every variable over it agrees). */
static inline int mmf_var_pending(const mmf_tvar *t) { return t->deferred && t->ps->p[t->pidx].pending; }

/* ================================================================== ops
 * Shapes: "[..., C]" means any leading dims, contiguous. Unless stated, inputs
 * may be constants or need gradients. */

/* y [..., OC] = x [..., IC] @ W^T + b; W [OC, IC], b [OC] or -1 */
mmf_var mmf_t_linear(mmf_tape *tp, mmf_var x, mmf_var W, mmf_var b);
/* 2-D: a [M,K] (or [K,M] if ta) @ b [K,N] (or [N,K] if tb) -> [M,N].
 * 3-D: batched over dim 0 (both [B,.,.]). */
mmf_var mmf_t_matmul(mmf_tape *tp, mmf_var a, mmf_var b, int ta, int tb);
/* Broadcasting elementwise (right-aligned, NumPy rules, up to 4 dims). */
mmf_var mmf_t_add(mmf_tape *tp, mmf_var a, mmf_var b);
mmf_var mmf_t_sub(mmf_tape *tp, mmf_var a, mmf_var b);
mmf_var mmf_t_mul(mmf_tape *tp, mmf_var a, mmf_var b);
/* y = alpha * x + beta */
mmf_var mmf_t_scale(mmf_tape *tp, mmf_var x, float alpha, float beta);
/* Concatenate along `axis` (all other dims equal); n <= MMF_NODE_MAXIN. */
mmf_var mmf_t_concat(mmf_tape *tp, const mmf_var *xs, int n, int axis);
/* x[..., start:stop, ...] along axis (a copy). */
mmf_var mmf_t_slice(mmf_tape *tp, mmf_var x, int axis, int64_t start, int64_t stop);
/* Same data, new shape (shares values and gradient: no node). */
mmf_var mmf_t_reshape(mmf_tape *tp, mmf_var x, int ndim, const int64_t *shape);
/* Sum over one axis (removed from the shape; a 1-D input gives [1]). */
mmf_var mmf_t_sum(mmf_tape *tp, mmf_var x, int axis);
/* Sum of everything -> [1]; mean -> [1]. */
mmf_var mmf_t_sum_all(mmf_tape *tp, mmf_var x);
mmf_var mmf_t_mean_all(mmf_tape *tp, mmf_var x);

/* Activations (elementwise). */
mmf_var mmf_t_tanh(mmf_tape *tp, mmf_var x);
mmf_var mmf_t_sigmoid(mmf_tape *tp, mmf_var x);
mmf_var mmf_t_relu(mmf_tape *tp, mmf_var x);
mmf_var mmf_t_gelu(mmf_tape *tp, mmf_var x);        /* erf form, as torch.nn.GELU() */
mmf_var mmf_t_exp(mmf_tape *tp, mmf_var x);
/* sign(x) * (sqrt(|x| + eps) - sqrt(eps)): signed square root, smooth at 0 */
mmf_var mmf_t_signed_sqrt(mmf_tape *tp, mmf_var x, float eps);
/* Gated sum of M blocks (1 <= M <= 7): y [B, H] = sum_m keep[b, m] *
 * sigmoid(g[:, m*H:(m+1)*H]) * tanh(a[m]); g [B, M*H], a[m] [B, H], keep U8
 * [B, M] (0 = the block is left out of row b) or NULL. One node for what the
 * separate ops spell as sigmoid, slice, tanh, mul, mask and add. */
mmf_var mmf_t_gated_sum(mmf_tape *tp, mmf_var g, const mmf_var *a, int M, const uint8_t *keep);

/* Softmax over the last dim. keep: U8 of the same shape (0 = excluded), or NULL;
 * a row with nothing kept gives zeros. keep is copied. */
mmf_var mmf_t_softmax(mmf_tape *tp, mmf_var x, const uint8_t *keep);
/* Layer norm over the last dim; w, b [C] or -1. */
mmf_var mmf_t_layernorm(mmf_tape *tp, mmf_var x, mmf_var w, mmf_var b, float eps);
/* y = x / sqrt(sum_last(x^2) + eps) */
mmf_var mmf_t_l2norm(mmf_tape *tp, mmf_var x, float eps);
/* Inverted dropout with probability p (identity when not training or p == 0). */
mmf_var mmf_t_dropout(mmf_tape *tp, mmf_var x, float p);

/* Multi-head scaled dot-product attention. q [B,Tq,H*D], k, v [B,Tk,H*D] with the
 * heads side by side in the last dim (Hugging Face layout) -> [B,Tq,H*D].
 * key_keep U8 [B,Tk] or NULL (0 = never attended to; copied); causal: query t
 * sees keys <= t + Tk - Tq. A query with no visible key outputs zeros. */
mmf_var mmf_t_attention(mmf_tape *tp, mmf_var q, mmf_var k, mmf_var v, int H,
                        const uint8_t *key_keep, int causal);

/* Recurrent cells (composites of the ops above, PyTorch gate order and formulas).
 * GRU: x [B,I], h [B,Hd], Wih [3Hd,I], Whh [3Hd,Hd], bih/bhh [3Hd] (r, z, n). */
mmf_var mmf_t_gru_cell(mmf_tape *tp, mmf_var x, mmf_var h, mmf_var Wih, mmf_var Whh, mmf_var bih, mmf_var bhh);
/* LSTM: Wih [4Hd,I], Whh [4Hd,Hd], biases [4Hd] (i, f, g, o); writes h', c'. */
void mmf_t_lstm_cell(mmf_tape *tp, mmf_var x, mmf_var h, mmf_var c, mmf_var Wih, mmf_var Whh,
                     mmf_var bih, mmf_var bhh, mmf_var *h_out, mmf_var *c_out);

/* Outer product per row: a [B,M], b [B,N] -> [B, M*N] (row-major M x N). */
mmf_var mmf_t_outer(mmf_tape *tp, mmf_var a, mmf_var b);
/* Count sketch: y [B,d] with y[h[i]] += s[i] * x[i]; x [B,D], h [D] in [0,d), s [D] = +-1. */
mmf_var mmf_t_count_sketch(mmf_tape *tp, mmf_var x, const int32_t *h, const float *s, int d);
/* Circular convolution per row through the FFT: a, b [B,d], d a power of two. */
mmf_var mmf_t_circ_conv(mmf_tape *tp, mmf_var a, mmf_var b);
/* Rows of table [V,D] picked by ids [n] -> [n,D]. Ids are checked. */
mmf_var mmf_t_embedding(mmf_tape *tp, mmf_var table, const int32_t *ids, int64_t n);

/* ---- losses: scalar [1] outputs, means over the batch ---- */
/* Softmax cross-entropy; logits [B,C], labels [B] in [0,C); label smoothing eps
 * as PyTorch (target = (1-eps) onehot + eps/C). weight [B] or NULL (rows with
 * weight 0 are skipped; the mean divides by the weight sum). */
mmf_var mmf_t_cross_entropy(mmf_tape *tp, mmf_var logits, const int64_t *labels, float smoothing,
                            const float *weight);
/* Binary cross-entropy with logits; targets [B,C] in [0,1]; mean over all elements. */
mmf_var mmf_t_bce_logits(mmf_tape *tp, mmf_var logits, const float *targets);
/* Mean squared error against a constant target of the same shape. */
mmf_var mmf_t_mse(mmf_tape *tp, mmf_var pred, const float *target);
/* Symmetric InfoNCE (CLIP): a, b [B,D] (rows of the same index are pairs),
 * logit_scale [1] a learned log-temperature: S = exp(t) * l2n(a) l2n(b)^T,
 * loss = (CE(S, I) + CE(S^T, I)) / 2. */
mmf_var mmf_t_infonce(mmf_tape *tp, mmf_var a, mmf_var b, mmf_var logit_scale);
/* Data parallel (mmf_tape_set_comm, training mode): this rank's rows x [B_r, E]
 * -> every rank's rows [B, E] in rank order (an all-gather), *lo = the offset
 * of this rank's rows. Its backward sums the gradient over the ranks (see
 * ops_gather.c for the weighting) and keeps this rank's rows. Without a comm,
 * or in eval mode: x itself, *lo = 0. mmf_t_infonce uses it: with a comm each
 * rank's loss is over its own rows against the whole batch's. */
mmf_var mmf_t_gather_rows(mmf_tape *tp, mmf_var x, int64_t *lo);
#endif
