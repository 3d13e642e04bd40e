/* Image embedding shared by every image family: decode + preprocess a batch
 * of files in parallel (io/image_preprocess.c), run the family's forward on
 * the images that loaded, scatter rows back, normalise. One pixel buffer of
 * max_batch images, allocated per call. */
#include "models/encoder.h"
#include "core/error.h"
#include <stdlib.h>
#include <string.h>

const mmf_image_processor *mmf_encoder_image_processor(const mmf_encoder *e) { return e->proc; }
float mmf_encoder_logit_scale(const mmf_encoder *e) { return e->logit_scale; }
float mmf_encoder_logit_bias(const mmf_encoder *e) { return e->logit_bias; }
int mmf_encoder_logits_sigmoid(const mmf_encoder *e) { return e->sigmoid_logits; }

static mmf_status check_image(mmf_encoder *e, mmf_pooling *pool, int *normalize) {
    if (!e->ops->image_forward || !e->proc)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: a %s encoder does not embed images", e->dir, e->cfg.model_type);
    if (*pool == MMF_POOL_DEFAULT) *pool = e->def_pool;
    if (*pool == MMF_POOL_NONE) return mmf_fail(MMF_ERR_ARG, "image embeddings need a pooling (not \"none\")");
    if (*normalize == MMF_NORMALIZE_DEFAULT) *normalize = e->def_norm;
    return MMF_OK;
}

mmf_status mmf_encoder_embed_pixels(mmf_encoder *e, const float *pixels, size_t n, mmf_pooling pool, int normalize,
                                    float *out) {
    mmf_status s = check_image(e, &pool, &normalize);
    if (s) return s;
    int C, H, W;
    mmf_image_processor_size(e->proc, &C, &H, &W);
    size_t per = (size_t)C * H * W, B = (size_t)e->params.max_batch;
    for (size_t i = 0; i < n; i += B) {
        int nb = (int)(n - i < B ? n - i : B);
        if ((s = e->ops->image_forward(e, pixels + i * per, nb, pool, out + i * (size_t)e->dim))) return s;
        if (e->params.progress) e->params.progress(i + (size_t)nb, n, e->params.progress_user);
    }
    if (normalize) mmf_l2_normalize_rows(out, n, e->dim);
    return MMF_OK;
}

/* on_error with indices shifted from the batch to the whole list */
typedef struct off_cb { mmf_image_error_fn fn; void *user; size_t off; } off_cb;
static void shifted(size_t i, const char *path, const char *msg, void *u) {
    off_cb *o = u;
    if (o->fn) o->fn(i + o->off, path, msg, o->user);
}

mmf_status mmf_encoder_embed_image_files(mmf_encoder *e, const char *const *paths, size_t n, mmf_pooling pool,
                                         int normalize, int skip_bad, uint8_t *failed, float *out,
                                         mmf_image_error_fn on_error, void *user) {
    mmf_status s = check_image(e, &pool, &normalize);
    if (s) return s;
    int C, H, W;
    mmf_image_processor_size(e->proc, &C, &H, &W);
    size_t per = (size_t)C * H * W, B = (size_t)e->params.max_batch, D = (size_t)e->dim;
    float *px = malloc(sizeof(float) * per * B), *emb = malloc(sizeof(float) * D * B);
    uint8_t *bad = malloc(B);
    if (!px || !emb || !bad) { free(px); free(emb); free(bad); return mmf_fail(MMF_ERR_NOMEM, "embed: out of memory for a batch of %zu images", B); }
    for (size_t i = 0; i < n && !s; i += B) {
        size_t nb = n - i < B ? n - i : B;
        off_cb cb = {on_error, user, i};
        s = mmf_image_processor_files(e->proc, paths + i, nb, skip_bad, e->params.n_threads, bad, px, shifted, &cb);
        if (s) break;
        size_t k = 0;
        for (size_t j = 0; j < nb; j++) {
            if (failed) failed[i + j] = bad[j];
            if (bad[j]) continue;
            if (k != j) memmove(px + k * per, px + j * per, per * sizeof(float));
            k++;
        }
        if (k) s = e->ops->image_forward(e, px, (int)k, pool, emb);
        if (s) break;
        k = 0;
        for (size_t j = 0; j < nb; j++) {
            float *o = out + (i + j) * D;
            if (bad[j]) memset(o, 0, D * sizeof(float));
            else {
                memcpy(o, emb + k * D, D * sizeof(float));
                if (normalize) mmf_l2_normalize_rows(o, 1, (int)D);
                k++;
            }
        }
        if (e->params.progress) e->params.progress(i + nb, n, e->params.progress_user);
    }
    free(px);
    free(emb);
    free(bad);
    return s;
}
