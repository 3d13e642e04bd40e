/* Attention maps drawn over the pictures (mmf_attention_strip,
 * mmf_xmodal_overlay): the picture, then one panel per word with that word's
 * patch attention as a heat map, plus captions in the built-in font.
 *
 * The patch -> pixel mapping is the one op_xmodal.c uses: the model sees the
 * picture resized (stretched) to S x S and cuts it into a grid x grid of S/grid
 * squares, row-major. Stretching the picture to size x size instead keeps
 * every patch the same fraction of the picture, so the display pixel (x, y)
 * belongs to patch (floor((y + 0.5) * grid / size), floor((x + 0.5) * grid / size)). */
#include "direct/bitmap_font.h"
#include "direct/records.h"
#include "direct/tower.h"
#include "core/error.h"
#include "io/json.h"
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mmf_overlay_params mmf_overlay_params_default(void) {
    return (mmf_overlay_params){.size = 128, .caption = 1, .rows = 8};
}

static const uint8_t k_bg[3] = {255, 255, 255}, k_ink[3] = {30, 30, 30};

/* One hue, opacity proportional to the attention: the change from the picture
 * then grows with the attention at every pixel (a colour ramp cannot promise
 * that: its bright end can come closer to a bright pixel than its middle). */
static const float k_heat[3] = {240, 20, 20};

static int patch_of(int x, int size, int grid) { return (int)(((int64_t)2 * x + 1) * grid / (2 * (int64_t)size)); }

/* text then suffix, centred under a panel: at scale s when it fits, else at
 * scale 1 with the text shortened (ending in '.') so the suffix stays whole */
static void draw_caption(mmf_image *img, int x0, int y0, int size, int s, const char *text, const char *suffix) {
    int n = mmf_font_glyphs(text), ns = mmf_font_glyphs(suffix);
    if (n + ns == 0) return;
    if (s > 1 && (n + ns) * MMF_FONT_ADVANCE * s > size + s) s = 1;
    int fit = (size + 1) / (MMF_FONT_ADVANCE * s), shown = n + ns <= fit ? n : fit - ns - 1;
    if (shown < 0) shown = 0;
    int total = shown + (shown < n) + ns;   /* glyphs drawn */
    int x = x0 + (size - (total * MMF_FONT_ADVANCE - 1) * s) / 2, adv = MMF_FONT_ADVANCE * s;
    if (shown) mmf_font_draw(img, x, y0, s, text, shown, k_ink);
    if (shown < n) mmf_font_draw(img, x + shown * adv, y0, s, ".", 1, k_ink);
    mmf_font_draw(img, x + (shown + (shown < n)) * adv, y0, s, suffix, ns, k_ink);
}

mmf_status mmf_attention_strip(const mmf_image *img, int grid, const float *maps, const char *const *words, int n_words,
                               const char *title, const mmf_overlay_params *pp, mmf_image *out) {
    mmf_overlay_params p = pp ? *pp : mmf_overlay_params_default();
    memset(out, 0, sizeof *out);
    if (!img || !img->rgb || img->width < 1 || img->height < 1)
        return mmf_fail(MMF_ERR_ARG, "attention strip: no picture");
    if (p.size < 16 || p.size > 1024) return mmf_fail(MMF_ERR_ARG, "attention strip: panel size %d should be in [16, 1024]", p.size);
    if (grid < 1 || grid > p.size) return mmf_fail(MMF_ERR_ARG, "attention strip: grid %d should be in [1, %d]", grid, p.size);
    if (n_words < 0 || n_words > 1024 || (n_words && !maps))
        return mmf_fail(MMF_ERR_ARG, "attention strip: %d words (at most 1024, each with a map)", n_words);
    int size = p.size, gap = size / 32 > 2 ? size / 32 : 2, s = size >= 128 ? 2 : 1;
    int cap = p.caption ? 12 * s : 0, W = (n_words + 1) * size + n_words * gap, H = size + cap;
    mmf_image base = {0};
    mmf_status st = (img->width == size && img->height == size) ? MMF_OK
                                                                 : mmf_image_resize(img, size, size, MMF_RESAMPLE_BICUBIC, &base);
    if (st) return st;
    const uint8_t *b = base.rgb ? base.rgb : img->rgb;
    out->rgb = malloc((size_t)W * (size_t)H * 3);
    if (!out->rgb) { mmf_image_free(&base); return mmf_fail(MMF_ERR_NOMEM, "attention strip: out of memory for %dx%d", W, H); }
    out->width = W;
    out->height = H;
    for (size_t i = 0; i < (size_t)W * (size_t)H; i++) memcpy(out->rgb + i * 3, k_bg, 3);
    for (int y = 0; y < size; y++) memcpy(out->rgb + (size_t)y * W * 3, b + (size_t)y * size * 3, (size_t)size * 3);
    int lw = size / 128 > 1 ? size / 128 : 1;   /* grid line width */
    for (int w = 0; w < n_words; w++) {
        const float *m = maps + (size_t)w * grid * grid;
        /* colour scale: the panel's smallest attention -> no red, its largest ->
         * weight 0.75; a flat map (spread < 0.1% of its peak) draws no red */
        float mx = 0.0f, mn = INFINITY;
        for (int q = 0; q < grid * grid; q++) {
            float a = isfinite(m[q]) && m[q] > 0.0f ? m[q] : 0.0f;
            if (a > mx) mx = a;
            if (a < mn) mn = a;
        }
        float span = mx - mn > 1e-3f * mx && mx > 0.0f ? mx - mn : 0.0f;
        int x0 = (w + 1) * (size + gap);
        for (int y = 0; y < size; y++) {
            int gy = patch_of(y, size, grid);
            int yline = y > 0 && y < size && gy != patch_of(y - lw < 0 ? 0 : y - lw, size, grid);
            for (int x = 0; x < size; x++) {
                int gx = patch_of(x, size, grid);
                float a = m[gy * grid + gx], t = span > 0.0f ? ((isfinite(a) && a > 0.0f ? a : 0.0f) - mn) / span : 0.0f, al = 0.75f * t;
                const uint8_t *src = b + ((size_t)y * size + x) * 3;
                uint8_t *dst = out->rgb + ((size_t)y * W + x0 + x) * 3;
                int xline = x > 0 && gx != patch_of(x - lw < 0 ? 0 : x - lw, size, grid);
                for (int i = 0; i < 3; i++) {
                    float v = src[i] + al * (k_heat[i] - src[i]);
                    if (xline || yline) v = 0.5f * v + 0.5f * 235.0f;   /* patch boundary: a light line */
                    dst[i] = (uint8_t)lrintf(v < 0 ? 0 : v > 255 ? 255 : v);
                }
            }
        }
    }
    if (cap) {
        int y0 = size + 2 * s;
        draw_caption(out, 0, y0, size, s, title ? title : "", "");
        for (int w = 0; w < n_words; w++) {
            /* the word and its peak attention share, e.g. "beta 31%" (uniform over 16 patches: 6%) */
            const float *m = maps + (size_t)w * grid * grid;
            float mx = 0.0f;
            for (int q = 0; q < grid * grid; q++) if (isfinite(m[q]) && m[q] > mx) mx = m[q];
            char pct[16];
            snprintf(pct, sizeof pct, " %d%%", (int)lrintf(100.0f * (mx > 1.0f ? 1.0f : mx)));
            draw_caption(out, (w + 1) * (size + gap), y0, size, s, words && words[w] ? words[w] : "?", pct);
        }
    }
    mmf_image_free(&base);
    return MMF_OK;
}

/* ---------------------------------------------------------- over a maps file */

typedef struct lines { char *text; char **line; int64_t n; } lines;

static mmf_status read_lines(const char *path, lines *L) {
    size_t len;
    memset(L, 0, sizeof *L);
    mmf_status s = mmf_read_file(path, (size_t)64 << 20, &L->text, &len);
    if (s) return s;
    int64_t cap = 1;
    for (size_t i = 0; i < len; i++) cap += L->text[i] == '\n';
    L->line = malloc((size_t)cap * sizeof *L->line);
    if (!L->line) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", path);
    /* the vocabulary's line k is word k (features.c writes one word a line, no blanks) */
    for (char *p = L->text; p < L->text + len;) {
        char *e = memchr(p, '\n', (size_t)(L->text + len - p));
        if (e) *e = 0;
        L->line[L->n++] = p;
        if (!e) break;
        p = e + 1;
    }
    return MMF_OK;
}

static void lines_free(lines *L) { free(L->text); free(L->line); }

typedef struct maps_file {
    int64_t N, W, P;
    float *att;      /* [N, W, P] */
    int32_t *words;  /* [N, W] */
    int64_t *ids;    /* [N] or NULL */
} maps_file;

static mmf_status load_maps(const char *path, maps_file *mf) {
    memset(mf, 0, sizeof *mf);
    mmf_safetensors *st;
    mmf_status s = mmf_st_open(path, &st);
    if (s) return s;
    const mmf_tensor_info *a = mmf_st_find(st, "attention"), *w = mmf_st_find(st, "words"), *id = mmf_st_find(st, "ids");
    if (!a || a->dtype != MMF_DT_F32 || a->ndim != 3 || a->shape[2] < 1 || a->shape[1] < 1)
        s = mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"attention\": expected F32 [N, words, patches] (from `mmfuse attention`)", path);
    if (!s) {
        mf->N = a->shape[0]; mf->W = a->shape[1]; mf->P = a->shape[2];
        int g = (int)llround(sqrt((double)mf->P));
        if ((int64_t)g * g != mf->P) s = mmf_fail(MMF_ERR_SHAPE, "%s: \"attention\" has %lld patches, not a square grid", path, (long long)mf->P);
    }
    if (!s && (!w || w->dtype != MMF_DT_I32 || w->ndim != 2 || w->shape[0] != mf->N || w->shape[1] != mf->W))
        s = mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"words\": expected I32 [%lld, %lld]", path, (long long)mf->N, (long long)mf->W);
    if (!s && id && (id->dtype != MMF_DT_I64 || id->ndim != 1 || id->shape[0] != mf->N))
        s = mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"ids\": expected I64 [%lld]", path, (long long)mf->N);
    if (!s) {
        mf->att = malloc(a->nbytes + 1);
        mf->words = malloc(w->nbytes + 1);
        mf->ids = id ? malloc(id->nbytes + 1) : NULL;
        if (!mf->att || !mf->words || (id && !mf->ids)) s = mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", path);
    }
    if (!s) {   /* copies: a file from elsewhere may not be aligned */
        memcpy(mf->att, a->data, a->nbytes);
        memcpy(mf->words, w->data, w->nbytes);
        if (id) memcpy(mf->ids, id->data, id->nbytes);
    }
    mmf_st_close(st);
    if (s) { free(mf->att); free(mf->words); free(mf->ids); memset(mf, 0, sizeof *mf); }
    return s;
}

/* checks row r (id, record, words) and loads its picture into *img */
static mmf_status row_inputs(const maps_file *mf, int64_t r, const char *maps_path, const mmf_records *rs, const lines *voc,
                             const char *vocab, int64_t *id_out, mmf_image *img) {
    int64_t id = mf->ids ? mf->ids[r] : r;
    *id_out = id;
    if (id < 0 || id >= (int64_t)rs->n)
        return mmf_fail(MMF_ERR_NOT_FOUND, "%s: row %lld has id %lld, which is not a record of %s (%zu records; ids are their "
                        "0-based line numbers, as train-direct --records numbers them)", maps_path, (long long)r, (long long)id,
                        rs->path, rs->n);
    const mmf_record *rec = &rs->r[id];
    for (int64_t k = 0; k < mf->W; k++) {
        int32_t v = mf->words[r * mf->W + k];
        if (v < -1 || v >= voc->n)
            return mmf_fail(MMF_ERR_FORMAT, "%s: row %lld (id %lld) word slot %lld is %d, but %s has %lld lines (was the head "
                            "trained with this vocabulary?)", maps_path, (long long)r, (long long)id, (long long)k, v, vocab,
                            (long long)voc->n);
    }
    if (!rec->image)
        return mmf_fail(MMF_ERR_NOT_FOUND, "%s: record %lld (id \"%s\") has no \"image\" to draw the attention over", rs->path,
                        (long long)id, rec->id ? rec->id : "");
    mmf_status s = mmf_image_load(rec->image, NULL, img);
    if (s) return mmf_fail_wrap(s, "%s: record %lld (id \"%s\")", rs->path, (long long)id, rec->id ? rec->id : "");
    return MMF_OK;
}

mmf_status mmf_xmodal_overlay(const char *maps_path, const char *records, const char *vocab, const char *out_dir,
                              const mmf_overlay_params *pp, int *n_written) {
    mmf_overlay_params p = pp ? *pp : mmf_overlay_params_default();
    if (n_written) *n_written = 0;
    if (p.rows < 1) return mmf_fail(MMF_ERR_ARG, "overlay: rows %d should be >= 1", p.rows);
    maps_file mf;
    mmf_status s = load_maps(maps_path, &mf);
    if (s) return s;
    lines voc = {0};
    mmf_records rs = {0};
    s = read_lines(vocab, &voc);
    if (!s) s = mmf_records_load(records, NULL, &rs);
    int64_t R = mf.N < p.rows ? mf.N : p.rows, id;
    int grid = (int)llround(sqrt((double)mf.P));
    /* first pass: every row's inputs, so a bad row writes no PNG at all */
    for (int64_t r = 0; r < R && !s; r++) {
        mmf_image img;
        s = row_inputs(&mf, r, maps_path, &rs, &voc, vocab, &id, &img);
        if (!s) mmf_image_free(&img);
    }
    if (!s) s = mmf_mkdirs(out_dir);
    float *m = s ? NULL : malloc((size_t)(mf.W * mf.P) * sizeof(float) + 1);
    const char **words = s ? NULL : malloc((size_t)mf.W * sizeof *words + 1);
    if (!s && (!m || !words)) s = mmf_fail(MMF_ERR_NOMEM, "overlay: out of memory");
    for (int64_t r = 0; r < R && !s; r++) {
        mmf_image img, strip;
        s = row_inputs(&mf, r, maps_path, &rs, &voc, vocab, &id, &img);
        if (s) break;
        int n = 0;
        for (int64_t k = 0; k < mf.W; k++) {
            int32_t v = mf.words[r * mf.W + k];
            if (v < 0) continue;
            words[n] = voc.line[v];
            memcpy(m + (size_t)n * mf.P, mf.att + (r * mf.W + k) * mf.P, (size_t)mf.P * sizeof(float));
            n++;
        }
        const mmf_record *rec = &rs.r[id];
        char title[64];
        if (rec->id && mmf_font_glyphs(rec->id) <= 20) snprintf(title, sizeof title, "%s", rec->id);
        else snprintf(title, sizeof title, "row %" PRId64, id);
        s = mmf_attention_strip(&img, grid, m, words, n, title, &p, &strip);
        mmf_image_free(&img);
        if (s) break;
        char path[4200];
        snprintf(path, sizeof path, "%s/%" PRId64 ".png", out_dir, id);
        s = mmf_image_save_png(&strip, path);
        mmf_image_free(&strip);
        if (!s && n_written) (*n_written)++;
    }
    free(m);
    free(words);
    free(mf.att); free(mf.words); free(mf.ids);
    lines_free(&voc);
    mmf_records_free(&rs);
    return s;
}
