/* The contrastive dual encoder trained from scratch (mmf_clip_train):
 * data (clip_data.c), the model and its training pieces (clip_train.c), the
 * folder it writes (clip_save.c). Training runs on the shared fit loop
 * (train/fit.h: patience, best-weights restore, NaN stop) through gather /
 * loss / evaluate. */
#ifndef MMF_DIRECT_CLIP_H
#define MMF_DIRECT_CLIP_H
#include "direct/augment.h"
#include "direct/cnn.h"
#include "direct/textnet.h"
#include "train/optim.h"

/* ------------------------------------------------------------ data */

typedef struct clip_concept {
    int32_t *name;            /* the text's tokens, no specials */
    int name_len;
    int32_t **tags;           /* each keyword's tokens */
    int *tag_len;
    int n_tags;
} clip_concept;

typedef struct clip_set {
    int64_t n_concepts, n_images;
    clip_concept *c;
    int64_t *img_concept;     /* [n_images] */
    uint8_t *px;              /* [n_images, S, S, 3]: the image processor's geometry output */
    int S;
} clip_set;

/* Records of path grouped into concepts by pair_field (absent: the text);
 * records lacking an image or a text are left out. Texts are encoded with tok,
 * pictures by proc (which must give S x S). */
mmf_status clip_set_load(const char *path, const char *pair_field, const mmf_tokenizer *tok,
                         const mmf_image_processor *proc, int S, clip_set *out);
void clip_set_free(clip_set *d);
/* Every text the vocabulary should be learned from: names and tags of path. */
mmf_status clip_texts_load(const char *path, char ***texts, size_t *n);

/* ------------------------------------------------------------ model */

typedef struct clip_model {
    textnet txt;              /* n_classes 0: pooled mean of the last layer */
    cnn_model img;            /* n_classes 0: global average pool */
    mmf_params head;          /* text_projection.weight [D, Ct], visual_projection.weight [D, Cv], logit_scale [1] */
    int p_tproj, p_vproj, p_scale;
    int64_t run_n;            /* floats of the CNN's running statistics */
} clip_model;

mmf_status clip_model_init(clip_model *m, int vocab, const mmf_clip_params *p);
void clip_model_free(clip_model *m);

/* ------------------------------------------------------------ training */

typedef struct clip_trainer {
    clip_model *m;
    const mmf_clip_params *p;
    mmf_tape *tp;
    mmf_optim opt_txt, opt_img, opt_head;
    mmf_rng rng;
    mmf_image_aug aug;
    int32_t cls, sep;
    /* batch buffers */
    float *pix;               /* [batch, 3, S, S] */
    int32_t *ids;             /* [batch, T] */
    uint8_t *keep;
    int B, T;                 /* the gathered batch: rows, tokens per row */
} clip_trainer;

typedef struct clip_scores {
    double t2i_r1, t2i_r5, t2i_r10, i2t_r1, i2t_r5, i2t_r10;
} clip_scores;

mmf_status clip_trainer_init(clip_trainer *t, clip_model *m, const mmf_clip_params *p, const mmf_tokenizer *tok,
                             int64_t total_steps);
void clip_trainer_free(clip_trainer *t);
/* The batch: views of pictures img[0..B) of d, each with a view of its concept's text. */
mmf_status clip_gather(clip_trainer *t, const clip_set *d, const int64_t *img, int B);
/* The same for a data-parallel slice: every view of the batch is drawn (as one
 * process draws them), those of pictures lo..hi-1 kept as the batch. */
mmf_status clip_gather_slice(clip_trainer *t, const clip_set *d, const int64_t *img, int B, int lo, int hi);
/* The gathered batch's symmetric InfoNCE on tp (training mode set by the caller). */
mmf_var clip_loss(clip_trainer *t, mmf_tape *tp);
/* One step outside the fit loop (mmf_clip_train runs it through mmf_fit_run):
 * gather, loss, backward, the three optimiser steps, the temperature capped. */
mmf_status clip_step(clip_trainer *t, const clip_set *d, const int64_t *img, int B, double *loss);
/* Unit-length embeddings in eval mode: every concept's name (text, [n_concepts, D])
 * and every picture (image, [n_images, D]); either may be NULL. */
mmf_status clip_embed_set(clip_trainer *t, const clip_set *d, float *text, float *image);
/* R@1/5/10 both ways on d: queries are the concepts' names, the gallery its pictures. */
mmf_status clip_evaluate(clip_trainer *t, const clip_set *d, clip_scores *out);

/* ------------------------------------------------------------ folder */

/* dir/config.json, dir/model.safetensors (projections, logit_scale), the
 * towers in dir/text and dir/vision, the tokenizer and preprocessor files at
 * the top as a CLIP folder has them. config.json is written last. */
mmf_status clip_save(const clip_model *m, const mmf_clip_params *p, const char *dir);
#endif
