/* Captioner internals shared by caption_model.c (forward, beam search),
 * caption_train.c (training, generation over files) and caption_io.c (save/load). */
#ifndef MMF_TASKS_CAPTION_MODEL_H
#define MMF_TASKS_CAPTION_MODEL_H
#include "tasks/caption.h"
#include "fusion/head.h"
#include "train/tape.h"

#define CAP_MAX_LEN 256     /* words per caption, hard cap */
#define CAP_MAX_BEAM 32
#define CAP_ENC_PATH 1024

typedef struct cap_cfg {
    int cell;               /* mmf_rnn_cell */
    int inject;             /* MMF_INJECT_* bits */
    int hidden, embed, max_len;
    float dropout;
    uint64_t seed;
    int M;
    char names[FZ_MAXM][65];
    int64_t dims[FZ_MAXM];
    char encoders[FZ_MAXM][CAP_ENC_PATH];   /* model folder per modality, "" = none recorded */
} cap_cfg;

struct mmf_captioner {
    cap_cfg cfg;
    mmf_head *fusion;       /* the fusion operator (M >= 2), else NULL: z = the one modality */
    int64_t E;              /* size of z */
    mmf_params ps;          /* decoder parameters ("dec.*") */
    mmf_caption_vocab *vocab;
    int p_emb, p_init_w, p_init_b, p_in_w, p_in_b, p_wih, p_whh, p_bih, p_bhh, p_out_w, p_out_b;
};

/* Build with fresh parameters (initialised from the seeds). Takes ownership of vocab. */
mmf_status cap_build(const cap_cfg *k, const fz_config *fz, mmf_caption_vocab *vocab, mmf_captioner **out);

/* One teacher-forced batch, time-major: step t of row b is at t*B + b. */
typedef struct cap_batch {
    int64_t B, T;
    float *x[FZ_MAXM];      /* [B, D_m], absent rows zero */
    uint8_t *mask;          /* [B, M] */
    int32_t *in;            /* [T*B] input words (<bos>, w1, ...) */
    int64_t *tgt;           /* [T*B] targets (w1, ..., <eos>) */
    float *w;               /* [T*B] 1 for real positions, 0 for padding */
} cap_batch;

/* Mean cross-entropy per target word ([1]). */
mmf_var cap_forward_loss(mmf_captioner *c, mmf_tape *tp, const cap_batch *bt);
/* z [B, E] without dropout. */
mmf_status cap_condition_values(mmf_captioner *c, mmf_tape *tp, int64_t B, float *const *xs, const uint8_t *mask,
                                float *out);
/* Beam search from one z (beam 1 = greedy); out has room for max_len words. */
mmf_status cap_beam_search(const mmf_captioner *c, const float *z, const int32_t *prefix, int n_prefix,
                           const mmf_caption_gen_params *gp, int32_t *out, int *n_out);
/* log p(ids, <eos> | z) by the plain (non-tape) forward. */
mmf_status cap_sequence_logprob(const mmf_captioner *c, const float *z, const int32_t *ids, int n, double *lp);
#endif
