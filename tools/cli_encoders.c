#include "cli_encoders.h"
#include <stdlib.h>
#include <string.h>

int cli_encoders_add(const char *cmd, cli_encoders *e, const char *spec) {
    if (e->n == CLI_MAX_ENCODERS) return cli_usage(cmd, "at most 16 --encoder options");
    e->spec[e->n++] = spec;
    return 0;
}

const char *cli_encoders_dir(const cli_encoders *e, const char *name, const char *recorded) {
    const char *dir = recorded;
    size_t l = strlen(name);
    for (int k = 0; k < e->n; k++)
        if (!strncmp(e->spec[k], name, l) && e->spec[k][l] == '=') dir = e->spec[k] + l + 1;
    return dir;
}

int cli_encoders_record(const char *cmd, const cli_encoders *e, cli_set_encoder_fn set, void *model) {
    for (int k = 0; k < e->n; k++) {
        const char *spec = e->spec[k], *eq = strchr(spec, '=');
        if (!eq) return cli_usage(cmd, "--encoder expects NAME=DIR, got \"%s\"", spec);
        char name[80];
        snprintf(name, sizeof name, "%.*s", (int)(eq - spec) < 79 ? (int)(eq - spec) : 79, spec);
        mmf_status s = set(model, name, eq + 1);
        if (s) return cli_fail(cmd, s, "--encoder");
    }
    return 0;
}

int cli_encoders_record_from(const char *cmd, const cli_encoders *e, const mmf_embfile *train, cli_set_encoder_fn set,
                             void *model) {
    for (int m = 0; m < mmf_embfile_n_modalities(train); m++) {
        const char *name = mmf_embfile_modality(train, m), *dir = mmf_embfile_encoder(train, m);
        if (!dir || cli_encoders_dir(e, name, NULL)) continue;
        mmf_status s = set(model, name, dir);
        if (s) return cli_fail(cmd, s, "recording the training file's encoder");
    }
    return 0;
}

int cli_sample_embed(const char *cmd, const cli_sample *in, const char *name, int name_says_text, int64_t dim,
                     const char *dir, float **out, int *is_text) {
    *out = NULL;
    mmf_encoder_params ep = mmf_encoder_params_default();
    ep.n_threads = in->n_threads;
    ep.precision = in->precision;
    mmf_encoder *en;
    mmf_status s = mmf_encoder_load(dir, &ep, &en);
    if (s) return cli_fail(cmd, s, "cannot load an encoder");
    int bits = mmf_encoder_modalities(en);
    *is_text = bits == MMF_MODALITY_TEXT || ((bits & MMF_MODALITY_TEXT) && name_says_text);
    const char *input = *is_text ? in->text : in->image;
    int rc = 0;
    if (!input) goto done;
    rc = MMF_EXIT_FAIL;
    if (mmf_encoder_dim(en) != dim) {
        fprintf(stderr, "mmfuse %s: error: encoder %s gives %d-dim embeddings; the %s's modality \"%s\" has %lld\n", cmd, dir,
                mmf_encoder_dim(en), in->model_noun, name, (long long)dim);
        goto done;
    }
    float *x = malloc((size_t)dim * sizeof(float));
    if (!x) goto done;
    if (*is_text) s = mmf_encoder_embed_text(en, &input, 1, MMF_POOL_DEFAULT, MMF_NORMALIZE_DEFAULT, x);
    else s = mmf_encoder_embed_image_files(en, &input, 1, MMF_POOL_DEFAULT, MMF_NORMALIZE_DEFAULT, 0, NULL, x, NULL, NULL);
    if (s) {
        char what[64];
        snprintf(what, sizeof what, "cannot embed the %s", *is_text ? in->text_noun : "image");
        cli_fail(cmd, s, what);
        free(x);
        goto done;
    }
    *out = x;
    rc = 0;
done:
    mmf_encoder_free(en);
    return rc;
}
