/* (text, image) pairs for the contrastive trainer (clip.h): records grouped
 * into concepts, texts encoded once, pictures decoded once to the processor's
 * S x S geometry. */
#include "direct/clip.h"
#include "direct/records.h"
#include "core/error.h"
#include "text/text_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void concept_free(clip_concept *c) {
    free(c->name);
    for (int k = 0; k < c->n_tags; k++) free(c->tags[k]);
    free(c->tags);
    free(c->tag_len);
}

void clip_set_free(clip_set *d) {
    for (int64_t i = 0; i < d->n_concepts; i++) concept_free(&d->c[i]);
    free(d->c);
    free(d->img_concept);
    free(d->px);
    memset(d, 0, sizeof *d);
}

static mmf_status encode(const mmf_tokenizer *tok, const char *text, int32_t **ids, int *n) {
    mmf_encoding e;
    mmf_status s = mmf_tokenizer_encode(tok, text, NULL, 0, -1, &e);
    if (s) return s;
    *ids = malloc(((size_t)e.n + 1) * sizeof **ids);
    if (!*ids) { mmf_encoding_free(&e); return mmf_fail(MMF_ERR_NOMEM, "out of memory"); }
    memcpy(*ids, e.ids, (size_t)e.n * sizeof **ids);
    *n = e.n;
    mmf_encoding_free(&e);
    return MMF_OK;
}

static mmf_status concept_init(clip_concept *c, const mmf_record *r, const mmf_tokenizer *tok) {
    memset(c, 0, sizeof *c);
    mmf_status s = encode(tok, r->text, &c->name, &c->name_len);
    if (!s && r->n_tags) {
        c->tags = calloc((size_t)r->n_tags, sizeof *c->tags);
        c->tag_len = calloc((size_t)r->n_tags, sizeof *c->tag_len);
        if (!c->tags || !c->tag_len) s = mmf_fail(MMF_ERR_NOMEM, "out of memory");
    }
    for (int k = 0; !s && k < r->n_tags; k++) {
        s = encode(tok, r->tags[k], &c->tags[c->n_tags], &c->tag_len[c->n_tags]);
        if (!s && c->tag_len[c->n_tags] > 0) c->n_tags++;
        else if (!s) free(c->tags[c->n_tags]);
    }
    return s;
}

static mmf_status load_picture(const char *path, const mmf_image_processor *proc, int S, uint8_t *dst) {
    mmf_image im, g;
    mmf_status s = mmf_image_load(path, NULL, &im);
    if (s) return s;
    s = mmf_image_processor_geometry(proc, &im, &g);
    mmf_image_free(&im);
    if (s) return s;
    if (g.width != S || g.height != S)
        s = mmf_fail(MMF_ERR_SHAPE, "%s: preprocessing gave %dx%d, expected %dx%d", path, g.width, g.height, S, S);
    else memcpy(dst, g.rgb, (size_t)S * S * 3);
    mmf_image_free(&g);
    return s;
}

mmf_status clip_set_load(const char *path, const char *pair_field, const mmf_tokenizer *tok,
                         const mmf_image_processor *proc, int S, clip_set *out) {
    memset(out, 0, sizeof *out);
    out->S = S;
    mmf_records rs;
    mmf_status s = mmf_records_load(path, pair_field ? pair_field : "hexcode", &rs);
    if (s) return s;
    mmf_vocab keys;
    int64_t n = 0;
    for (size_t i = 0; i < rs.n; i++) n += rs.r[i].image && rs.r[i].text;
    if (!n) { mmf_records_free(&rs); return mmf_fail(MMF_ERR_FORMAT, "%s: no record has both a \"text\" and an \"image\"", path); }
    s = mmf_vocab_init(&keys, (size_t)n);
    out->c = calloc((size_t)n, sizeof *out->c);
    out->img_concept = malloc((size_t)n * sizeof *out->img_concept);
    out->px = malloc((size_t)n * S * S * 3);
    if (!s && (!out->c || !out->img_concept || !out->px)) s = mmf_fail(MMF_ERR_NOMEM, "%s: out of memory for %lld pictures", path, (long long)n);
    for (size_t i = 0; !s && i < rs.n; i++) {
        const mmf_record *r = &rs.r[i];
        if (!r->image || !r->text) continue;
        const char *key = r->label ? r->label : r->text;
        int32_t c = mmf_vocab_get(&keys, key, strlen(key));
        if (c < 0) {
            c = (int32_t)out->n_concepts;
            s = mmf_vocab_set(&keys, key, strlen(key), c, 0);
            if (!s) s = concept_init(&out->c[c], r, tok);
            if (s) { concept_free(&out->c[c]); break; }
            out->n_concepts++;
        }
        s = load_picture(r->image, proc, S, out->px + (size_t)out->n_images * S * S * 3);
        if (s) break;
        out->img_concept[out->n_images++] = c;
    }
    mmf_vocab_free(&keys);
    mmf_records_free(&rs);
    if (!s && out->n_concepts < 2) s = mmf_fail(MMF_ERR_FORMAT, "%s: %lld concept(s); contrastive training needs at least 2", path, (long long)out->n_concepts);
    if (s) clip_set_free(out);
    return s;
}

mmf_status clip_texts_load(const char *path, char ***texts, size_t *n) {
    *texts = NULL;
    *n = 0;
    mmf_records rs;
    mmf_status s = mmf_records_load(path, NULL, &rs);
    if (s) return s;
    size_t cap = 0;
    for (size_t i = 0; i < rs.n; i++) cap += 1 + (size_t)rs.r[i].n_tags;
    char **t = calloc(cap + 1, sizeof *t);
    if (!t) { mmf_records_free(&rs); return mmf_fail(MMF_ERR_NOMEM, "out of memory"); }
    size_t k = 0;
    for (size_t i = 0; i < rs.n; i++) {
        /* steal the strings: rs is freed right after */
        if (rs.r[i].text) { t[k++] = rs.r[i].text; rs.r[i].text = NULL; }
        for (int j = 0; j < rs.r[i].n_tags; j++) { t[k++] = rs.r[i].tags[j]; rs.r[i].tags[j] = NULL; }
        rs.r[i].n_tags = 0;
    }
    mmf_records_free(&rs);
    *texts = t;
    *n = k;
    return MMF_OK;
}
