/* The folder the contrastive trainer writes (clip.h): laid out as a Hugging
 * Face CLIP folder where it can be (config.json with text_config and
 * vision_config, projection_dim; model.safetensors with text_projection,
 * visual_projection and logit_scale; the tokenizer and preprocessor files at
 * the top), with the two towers in subfolders text/ and vision/, each a
 * complete mmfuse_text / mmfuse_cnn folder the registry also opens alone. */
#include "direct/clip.h"
#include "direct/hf_folder.h"
#include "core/error.h"
#include "io/json.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mmf_status copy_file(const char *from_dir, const char *to_dir, const char *name) {
    char a[8300], b[8300];
    snprintf(a, sizeof a, "%s/%s", from_dir, name);
    snprintf(b, sizeof b, "%s/%s", to_dir, name);
    char *buf;
    size_t n;
    mmf_status s = mmf_read_file(a, (size_t)1 << 28, &buf, &n);
    if (s) return s;
    s = mmf_write_file_atomic(b, buf, n);
    free(buf);
    return s;
}

static mmf_status sub_config(const char *dir, cJSON **out) {
    char path[8300];
    snprintf(path, sizeof path, "%s/config.json", dir);
    return mmf_json_load(path, out);
}

mmf_status clip_save(const clip_model *m, const mmf_clip_params *p, const char *dir) {
    char tdir[4096], vdir[4096];
    snprintf(tdir, sizeof tdir, "%s/text", dir);
    snprintf(vdir, sizeof vdir, "%s/vision", dir);
    mmf_status s = textnet_save(&m->txt, tdir, NULL);
    if (!s) s = cnn_save(&m->img, vdir, NULL);
    if (!s) s = copy_file(tdir, dir, "vocab.txt");
    if (!s) s = copy_file(tdir, dir, "tokenizer_config.json");
    if (!s) s = copy_file(vdir, dir, "preprocessor_config.json");
    mmf_st_writer *w = NULL;
    if (!s) {
        s = mmf_hf_model_begin(&m->head, &w);
        if (w) s = mmf_hf_model_finish(w, s, dir);
    }
    if (s) return s;
    cJSON *tc = NULL, *vc = NULL;
    s = sub_config(tdir, &tc);
    if (!s) s = sub_config(vdir, &vc);
    if (s) { cJSON_Delete(tc); return s; }
    cJSON *o = mmf_hf_config_new("mmfuse_clip", "MmfuseClipModel");
    cJSON_AddNumberToObject(o, "projection_dim", p->dim);
    cJSON_AddNumberToObject(o, "logit_scale_init_value", log(1.0 / p->temperature));
    cJSON_AddStringToObject(o, "text_folder", "text");
    cJSON_AddStringToObject(o, "vision_folder", "vision");
    cJSON_AddItemToObject(o, "text_config", tc);
    cJSON_AddItemToObject(o, "vision_config", vc);
    s = mmf_hf_write_json(dir, "config.json", o);
    cJSON_Delete(o);
    return s;
}
