/* Hugging Face image processors from preprocessor_config.json, following the
 * transformers code paths (all on uint8 Pillow images until rescale):
 *  CLIPImageProcessor: resize shortest edge to size (int(size*long/short) for
 *    the other side) or to height x width; center crop; rescale; normalise.
 *  ViTImageProcessor: resize to height x width; rescale; normalise.
 *  ConvNextImageProcessor (microsoft/resnet-*): shortest_edge < 384: resize the
 *    shortest edge to int(shortest_edge / crop_pct), center crop to
 *    shortest_edge; otherwise warp to shortest_edge x shortest_edge.
 * Center crop as transformers.image_transforms.center_crop: top =
 * (H - crop_h) // 2 (floor), zero padding when the image is smaller.
 * rescale in double then float32 (x * factor), normalise in float32. */
#include "core/error.h"
#include "io/json.h"
#include "mmfuse.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { KIND_CLIP, KIND_VIT, KIND_CONVNEXT };

struct mmf_image_processor {
    int kind;
    int do_resize, do_center_crop, do_rescale, do_normalize;
    int shortest_edge;            /* > 0: resize by shortest edge */
    int size_h, size_w;           /* otherwise: resize to this */
    int crop_h, crop_w;
    double crop_pct;
    mmf_resample resample;
    double rescale_factor;
    float mean[3], std[3];
};


/* size / crop_size: an int, {"shortest_edge": n}, or {"height": h, "width": w}.
 * An int means shortest edge when `int_is_edge`, a square otherwise (HF's
 * get_size_dict with default_to_square). */
static mmf_status parse_size(const cJSON *root, const char *key, const char *file, int int_is_edge,
                             int *edge, int *h, int *w) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return MMF_OK;
    if (cJSON_IsNumber(v)) {
        int64_t n;
        MMF_TRY(mmf_json_int(root, key, 0, 1, 65536, file, &n));
        if (int_is_edge) { *edge = (int)n; *h = *w = 0; }
        else { *edge = 0; *h = *w = (int)n; }
        return MMF_OK;
    }
    if (!cJSON_IsObject(v))
        return mmf_fail(MMF_ERR_FORMAT, "%s: field \"%s\" should be an integer or an object", file, key);
    int64_t se = 0, hh = 0, ww = 0;
    MMF_TRY(mmf_json_int(v, "shortest_edge", 0, 0, 65536, file, &se));
    MMF_TRY(mmf_json_int(v, "height", 0, 0, 65536, file, &hh));
    MMF_TRY(mmf_json_int(v, "width", 0, 0, 65536, file, &ww));
    if (cJSON_GetObjectItemCaseSensitive(v, "longest_edge"))
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: field \"%s.longest_edge\" is not supported", file, key);
    if (se > 0) { *edge = (int)se; *h = *w = 0; return MMF_OK; }
    if (hh > 0 && ww > 0) { *edge = 0; *h = (int)hh; *w = (int)ww; return MMF_OK; }
    return mmf_fail(MMF_ERR_FORMAT, "%s: field \"%s\" needs \"shortest_edge\" or both \"height\" and \"width\" (positive)", file, key);
}

static mmf_status parse_triple(const cJSON *root, const char *key, const char *file, float *dst) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return MMF_OK;
    if (cJSON_IsNumber(v)) { dst[0] = dst[1] = dst[2] = (float)v->valuedouble; return MMF_OK; }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 3)
        return mmf_fail(MMF_ERR_FORMAT, "%s: field \"%s\" should be a list of 3 numbers (one per RGB channel)", file, key);
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble))
            return mmf_fail(MMF_ERR_FORMAT, "%s: %s[%d] should be a number", file, key, i);
        dst[i] = (float)e->valuedouble;
    }
    return MMF_OK;
}

static mmf_status parse_processor(const cJSON *root, const char *file, mmf_image_processor *p) {
    if (!cJSON_IsObject(root)) return mmf_fail(MMF_ERR_FORMAT, "%s: should be a JSON object", file);
    const char *type = NULL;
    MMF_TRY(mmf_json_str(root, "image_processor_type", NULL, file, &type));
    if (!type) MMF_TRY(mmf_json_str(root, "feature_extractor_type", NULL, file, &type));
    if (!type)
        return mmf_fail(MMF_ERR_FORMAT, "%s: missing \"image_processor_type\" (or \"feature_extractor_type\")", file);
    static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f}, clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    static const float in_mean[3] = {0.485f, 0.456f, 0.406f}, in_std[3] = {0.229f, 0.224f, 0.225f};
    memset(p, 0, sizeof *p);
    p->do_resize = p->do_rescale = p->do_normalize = 1;
    p->rescale_factor = 1.0 / 255.0;
    /* BitImageProcessor (DINOv2) runs CLIP's resize and crop, with the same defaults */
    if (!strncmp(type, "CLIPImageProcessor", 18) || !strcmp(type, "CLIPFeatureExtractor") ||
        !strncmp(type, "BitImageProcessor", 17)) {
        p->kind = KIND_CLIP;
        p->shortest_edge = 224;
        p->crop_h = p->crop_w = 224;
        p->do_center_crop = 1;
        p->resample = MMF_RESAMPLE_BICUBIC;
        memcpy(p->mean, clip_mean, sizeof p->mean);
        memcpy(p->std, clip_std, sizeof p->std);
    } else if (!strncmp(type, "ViTImageProcessor", 17) || !strcmp(type, "ViTFeatureExtractor") ||
               !strncmp(type, "SiglipImageProcessor", 20)) {
        /* SiglipImageProcessor: ViT's resize to height x width, bicubic by default */
        p->kind = KIND_VIT;
        p->size_h = p->size_w = 224;
        p->resample = type[0] == 'S' ? MMF_RESAMPLE_BICUBIC : MMF_RESAMPLE_BILINEAR;
        for (int c = 0; c < 3; c++) p->mean[c] = p->std[c] = 0.5f;
    } else if (!strncmp(type, "ConvNextImageProcessor", 22) || !strcmp(type, "ConvNextFeatureExtractor")) {
        p->kind = KIND_CONVNEXT;
        p->shortest_edge = 384;
        p->crop_pct = 224.0 / 256.0;
        p->resample = MMF_RESAMPLE_BILINEAR;
        memcpy(p->mean, in_mean, sizeof p->mean);
        memcpy(p->std, in_std, sizeof p->std);
    } else {
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: image processor \"%s\" is not supported (CLIPImageProcessor, BitImageProcessor, ViTImageProcessor, SiglipImageProcessor, ConvNextImageProcessor)", file, type);
    }
    MMF_TRY(mmf_json_bool(root, "do_resize", p->do_resize, file, &p->do_resize));
    MMF_TRY(mmf_json_bool(root, "do_rescale", p->do_rescale, file, &p->do_rescale));
    MMF_TRY(mmf_json_bool(root, "do_normalize", p->do_normalize, file, &p->do_normalize));
    MMF_TRY(mmf_json_num(root, "rescale_factor", p->rescale_factor, file, &p->rescale_factor));
    int64_t rs;
    MMF_TRY(mmf_json_int(root, "resample", p->resample, 0, 5, file, &rs));
    p->resample = (mmf_resample)rs;
    if (p->do_resize && p->resample == MMF_RESAMPLE_NEAREST)
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: field \"resample\" is 0 (nearest), which mmfuse does not implement", file);
    MMF_TRY(parse_triple(root, "image_mean", file, p->mean));
    MMF_TRY(parse_triple(root, "image_std", file, p->std));
    for (int c = 0; c < 3; c++)
        if (p->std[c] == 0.0f) return mmf_fail(MMF_ERR_FORMAT, "%s: image_std[%d] is 0", file, c);
    if (p->kind == KIND_CLIP) {
        MMF_TRY(parse_size(root, "size", file, 1, &p->shortest_edge, &p->size_h, &p->size_w));
        MMF_TRY(mmf_json_bool(root, "do_center_crop", 1, file, &p->do_center_crop));
        int dummy = 0;
        MMF_TRY(parse_size(root, "crop_size", file, 0, &dummy, &p->crop_h, &p->crop_w));
        if (dummy) return mmf_fail(MMF_ERR_FORMAT, "%s: field \"crop_size\" should give height and width", file);
    } else if (p->kind == KIND_VIT) {
        MMF_TRY(parse_size(root, "size", file, 0, &p->shortest_edge, &p->size_h, &p->size_w));
        if (p->shortest_edge)
            return mmf_fail(MMF_ERR_FORMAT, "%s: ViTImageProcessor field \"size\" should give height and width", file);
    } else {
        MMF_TRY(parse_size(root, "size", file, 1, &p->shortest_edge, &p->size_h, &p->size_w));
        if (!p->shortest_edge)
            return mmf_fail(MMF_ERR_FORMAT, "%s: ConvNextImageProcessor field \"size\" should have \"shortest_edge\"", file);
        MMF_TRY(mmf_json_num(root, "crop_pct", p->crop_pct, file, &p->crop_pct));
        if (!(p->crop_pct > 0.0 && p->crop_pct <= 4.0))
            return mmf_fail(MMF_ERR_FORMAT, "%s: field \"crop_pct\" is %g, expected in (0, 4]", file, p->crop_pct);
    }
    return MMF_OK;
}

mmf_status mmf_image_processor_load(const char *dir_or_file, mmf_image_processor **out) {
    *out = NULL;
    char path[4096];
    cJSON *root;
    MMF_TRY(mmf_json_load_in(dir_or_file, "preprocessor_config.json", path, sizeof path, &root));
    mmf_image_processor *p = calloc(1, sizeof *p);
    if (!p) { cJSON_Delete(root); return mmf_fail(MMF_ERR_NOMEM, "out of memory"); }
    mmf_status s = parse_processor(root, path, p);
    cJSON_Delete(root);
    if (s) { free(p); return s; }
    *out = p;
    return MMF_OK;
}

void mmf_image_processor_free(mmf_image_processor *p) { free(p); }

void mmf_image_processor_size(const mmf_image_processor *p, int *channels, int *height, int *width) {
    int h = 0, w = 0;
    if (p->kind == KIND_CONVNEXT) { h = w = p->shortest_edge; }
    else if (p->kind == KIND_CLIP && p->do_center_crop) { h = p->crop_h; w = p->crop_w; }
    else if (p->shortest_edge == 0) { h = p->size_h; w = p->size_w; }
    if (channels) *channels = 3;
    if (height) *height = h;
    if (width) *width = w;
}

/* transformers' get_resize_output_image_size(size=edge, default_to_square=False) */
static void edge_size(int W, int H, int edge, int *ow, int *oh) {
    int sh = W <= H ? W : H, lg = W <= H ? H : W;
    int nl = (int)((double)((int64_t)edge * lg) / sh);
    if (W <= H) { *ow = edge; *oh = nl; }
    else { *ow = nl; *oh = edge; }
}

static mmf_status center_crop(const mmf_image *in, int ch, int cw, mmf_image *out) {
    int H = in->height, W = in->width;
    /* Python floor division, zero padding when the crop is larger */
    int top = (int)floor((H - ch) / 2.0), left = (int)floor((W - cw) / 2.0);
    uint8_t *d = calloc((size_t)ch * cw * 3, 1);
    if (!d) return mmf_fail(MMF_ERR_NOMEM, "center crop: out of memory");
    int pad_t = 0, pad_l = 0;
    if (!(top >= 0 && top + ch <= H && left >= 0 && left + cw <= W)) {
        int nh = ch > H ? ch : H, nw = cw > W ? cw : W;
        pad_t = (nh - H + 1) / 2;   /* ceil((nh - H) / 2) */
        pad_l = (nw - W + 1) / 2;
        top += pad_t;
        left += pad_l;
        /* new_image[max(0, top):min(nh, top + ch), ...] of the padded canvas */
        if (top < 0) top = 0;
        if (left < 0) left = 0;
    }
    for (int y = 0; y < ch; y++) {
        int sy = top + y - pad_t;   /* row in the original image */
        if (sy < 0 || sy >= H) continue;
        for (int x = 0; x < cw; x++) {
            int sx = left + x - pad_l;
            if (sx < 0 || sx >= W) continue;
            memcpy(d + ((size_t)y * cw + x) * 3, in->rgb + ((size_t)sy * W + sx) * 3, 3);
        }
    }
    out->width = cw;
    out->height = ch;
    out->rgb = d;
    return MMF_OK;
}

static mmf_status copy_image(const mmf_image *in, mmf_image *out) {
    size_t n = (size_t)in->width * in->height * 3;
    out->rgb = malloc(n);
    if (!out->rgb) return mmf_fail(MMF_ERR_NOMEM, "out of memory");
    memcpy(out->rgb, in->rgb, n);
    out->width = in->width;
    out->height = in->height;
    return MMF_OK;
}

mmf_status mmf_image_processor_geometry(const mmf_image_processor *p, const mmf_image *in, mmf_image *out) {
    out->width = out->height = 0;
    out->rgb = NULL;
    if (!in || !in->rgb || in->width < 1 || in->height < 1) return mmf_fail(MMF_ERR_ARG, "preprocess: empty image");
    mmf_image r = {0};
    mmf_status s;
    int crop_h = 0, crop_w = 0;
    if (!p->do_resize) {
        s = copy_image(in, &r);
    } else if (p->kind == KIND_CONVNEXT) {
        if (p->shortest_edge < 384) {
            int e = (int)((double)p->shortest_edge / p->crop_pct), ow, oh;
            edge_size(in->width, in->height, e, &ow, &oh);
            s = mmf_image_resize(in, ow, oh, p->resample, &r);
            crop_h = crop_w = p->shortest_edge;
        } else {
            s = mmf_image_resize(in, p->shortest_edge, p->shortest_edge, p->resample, &r);
        }
    } else if (p->shortest_edge) {
        int ow, oh;
        edge_size(in->width, in->height, p->shortest_edge, &ow, &oh);
        if (ow < 1 || oh < 1) return mmf_fail(MMF_ERR_SHAPE, "preprocess: %dx%d image is too thin to resize", in->width, in->height);
        s = mmf_image_resize(in, ow, oh, p->resample, &r);
    } else {
        s = mmf_image_resize(in, p->size_w, p->size_h, p->resample, &r);
    }
    if (s) return s;
    if (p->kind == KIND_CLIP && p->do_center_crop) { crop_h = p->crop_h; crop_w = p->crop_w; }
    if (crop_h) {
        s = center_crop(&r, crop_h, crop_w, out);
        mmf_image_free(&r);
        return s;
    }
    *out = r;
    return MMF_OK;
}

mmf_status mmf_image_processor_run(const mmf_image_processor *p, const mmf_image *in, float *out) {
    mmf_image g;
    MMF_TRY(mmf_image_processor_geometry(p, in, &g));
    int C, H, W;
    mmf_image_processor_size(p, &C, &H, &W);
    if (g.width != W || g.height != H) {
        mmf_image_free(&g);
        return mmf_fail(MMF_ERR_SHAPE, "preprocess: result is %dx%d but the processor's fixed size is %dx%d "
                        "(do_resize/do_center_crop off gives variable sizes, which batching cannot take)", g.width, g.height, W, H);
    }
    size_t hw = (size_t)H * W;
    for (int c = 0; c < 3; c++) {
        float m = p->do_normalize ? p->mean[c] : 0.0f, sd = p->do_normalize ? p->std[c] : 1.0f;
        float lut[256];
        for (int v = 0; v < 256; v++) {
            float x = p->do_rescale ? (float)((double)v * p->rescale_factor) : (float)v;
            lut[v] = p->do_normalize ? (x - m) / sd : x;
        }
        float *o = out + (size_t)c * hw;
        for (size_t i = 0; i < hw; i++) o[i] = lut[g.rgb[3 * i + c]];
    }
    mmf_image_free(&g);
    return MMF_OK;
}

/* ------------------------------------------------------- many files */
#define MSG_CAP 512

mmf_status mmf_image_processor_files(const mmf_image_processor *p, const char *const *paths, size_t n, int skip_bad,
                                     int n_threads, uint8_t *failed, float *out, mmf_image_error_fn on_error, void *user) {
    if (n == 0) return MMF_OK;
    int C, H, W;
    mmf_image_processor_size(p, &C, &H, &W);
    size_t per = (size_t)C * H * W;
    char *msgs = calloc(n, MSG_CAP);
    mmf_status *st = calloc(n, sizeof *st);
    if (!msgs || !st) { free(msgs); free(st); return mmf_fail(MMF_ERR_NOMEM, "preprocess: out of memory for %zu images", n); }
    int nt = n_threads < 1 ? 1 : n_threads;
    /* decode + preprocess in parallel: each thread keeps its own error message */
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (parallel: nt > 1 && n > 1)
    for (size_t i = 0; i < n; i++) {
        mmf_image img;
        mmf_status s = paths[i] ? mmf_image_load(paths[i], NULL, &img) : mmf_fail(MMF_ERR_ARG, "image %zu: NULL path", i);
        if (!s) {
            s = mmf_image_processor_run(p, &img, out + i * per);
            if (s) mmf_fail_wrap(s, "%s", paths[i]);
            mmf_image_free(&img);
        }
        st[i] = s;
        if (s) {
            snprintf(msgs + i * MSG_CAP, MSG_CAP, "%s", mmf_last_error());
            memset(out + i * per, 0, per * sizeof(float));
        }
    }
    mmf_status ret = MMF_OK;
    for (size_t i = 0; i < n; i++) {
        if (failed) failed[i] = st[i] != MMF_OK;
        if (!st[i]) continue;
        if (!skip_bad) {
            ret = mmf_fail(st[i], "%s", msgs + i * MSG_CAP);
            break;
        }
        if (on_error) on_error(i, paths[i] ? paths[i] : "(null)", msgs + i * MSG_CAP, user);
    }
    free(msgs);
    free(st);
    return ret;
}
