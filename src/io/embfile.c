/* Embedding files: the seam between encoders and fusion heads. The whole file is
 * validated and copied to float32 on open, so every later stage can trust it:
 * N agrees across tensors, the modality list names exactly the tensors present,
 * present rows are finite, labels are in range. Format: docs/embedding-file.md. */
#include "core/error.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mmf_embfile {
    char *path;
    int64_t n;
    int m;
    char *names[MMF_EMB_MAX_MODALITIES];
    int64_t dims[MMF_EMB_MAX_MODALITIES];
    float *data[MMF_EMB_MAX_MODALITIES];
    uint8_t *mask;
    mmf_label_kind kind;
    int64_t n_classes;
    int64_t *labels;
    float *multihot;
    int64_t *ids;
    char *encoders[MMF_EMB_MAX_MODALITIES];   /* __metadata__ "encoder.<name>", or NULL */
};

static const char *const reserved[] = {"mask", "labels", "ids", NULL};

static int name_ok(const char *s) {
    if (!s[0] || strlen(s) > 64) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return 0;
    for (int i = 0; reserved[i]; i++)
        if (!strcmp(s, reserved[i])) return 0;
    return 1;
}

void mmf_embfile_close(mmf_embfile *f) {
    if (!f) return;
    free(f->path);
    for (int i = 0; i < f->m; i++) { free(f->names[i]); free(f->data[i]); free(f->encoders[i]); }
    free(f->mask); free(f->labels); free(f->multihot); free(f->ids);
    free(f);
}

const char *mmf_embfile_path(const mmf_embfile *f) { return f->path; }
int64_t mmf_embfile_rows(const mmf_embfile *f) { return f->n; }
int mmf_embfile_n_modalities(const mmf_embfile *f) { return f->m; }
const char *mmf_embfile_modality(const mmf_embfile *f, int m) { return (m >= 0 && m < f->m) ? f->names[m] : NULL; }
const char *mmf_embfile_encoder(const mmf_embfile *f, int m) { return (m >= 0 && m < f->m) ? f->encoders[m] : NULL; }
int64_t mmf_embfile_dim(const mmf_embfile *f, int m) { return (m >= 0 && m < f->m) ? f->dims[m] : 0; }
const float *mmf_embfile_data(const mmf_embfile *f, int m) { return (m >= 0 && m < f->m) ? f->data[m] : NULL; }
const uint8_t *mmf_embfile_mask(const mmf_embfile *f) { return f->mask; }
mmf_label_kind mmf_embfile_label_kind(const mmf_embfile *f) { return f->kind; }
int64_t mmf_embfile_n_classes(const mmf_embfile *f) { return f->n_classes; }
const int64_t *mmf_embfile_labels(const mmf_embfile *f) { return f->labels; }
const float *mmf_embfile_multihot(const mmf_embfile *f) { return f->multihot; }
const int64_t *mmf_embfile_ids(const mmf_embfile *f) { return f->ids; }

int mmf_embfile_find(const mmf_embfile *f, const char *name) {
    for (int i = 0; i < f->m; i++)
        if (!strcmp(f->names[i], name)) return i;
    return -1;
}

static int is_float_dt(mmf_dtype d) { return d == MMF_DT_F32 || d == MMF_DT_F16 || d == MMF_DT_BF16 || d == MMF_DT_F64; }

/* Split __metadata__["modalities"] into names, validating each. */
static mmf_status parse_modalities(const char *file, const char *list, mmf_embfile *f) {
    const char *p = list;
    while (1) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && *p == ' ') { p++; len--; }
        while (len && p[len - 1] == ' ') len--;
        if (f->m == MMF_EMB_MAX_MODALITIES)
            return mmf_fail(MMF_ERR_FORMAT, "%s: __metadata__ \"modalities\": more than %d modalities", file, MMF_EMB_MAX_MODALITIES);
        char *nm = malloc(len + 1);
        if (!nm) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", file);
        memcpy(nm, p, len);
        nm[len] = 0;
        f->names[f->m++] = nm;
        if (!name_ok(nm))
            return mmf_fail(MMF_ERR_FORMAT, "%s: __metadata__ \"modalities\": invalid modality name \"%s\" "
                            "(expected [A-Za-z0-9_-]{1,64}, not mask/labels/ids)", file, nm);
        for (int i = 0; i + 1 < f->m; i++)
            if (!strcmp(f->names[i], nm))
                return mmf_fail(MMF_ERR_FORMAT, "%s: __metadata__ \"modalities\": \"%s\" listed twice", file, nm);
        if (!e) break;
        p = e + 1;
    }
    return MMF_OK;
}

/* Copy an integer tensor to int64 (I64/I32/I16/I8/U8). */
static int read_ints(const mmf_tensor_info *t, int64_t *dst) {
    const unsigned char *b = t->data;
    for (int64_t i = 0; i < t->numel; i++) {
        switch (t->dtype) {
        case MMF_DT_I64: { int64_t v; memcpy(&v, b + 8 * i, 8); dst[i] = v; break; }
        case MMF_DT_I32: { int32_t v; memcpy(&v, b + 4 * i, 4); dst[i] = v; break; }
        case MMF_DT_I16: { int16_t v; memcpy(&v, b + 2 * i, 2); dst[i] = v; break; }
        case MMF_DT_I8: dst[i] = (int8_t)b[i]; break;
        case MMF_DT_U8: case MMF_DT_BOOL: dst[i] = b[i]; break;
        default: return 0;
        }
    }
    return 1;
}

static mmf_status load_modality(const char *file, mmf_safetensors *st, mmf_embfile *f, int m) {
    const char *nm = f->names[m];
    const mmf_tensor_info *t = mmf_st_find(st, nm);
    if (!t) return mmf_fail(MMF_ERR_FORMAT, "%s: modality \"%s\" is listed in __metadata__ \"modalities\" but has no tensor", file, nm);
    if (!is_float_dt(t->dtype))
        return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"%s\": dtype %s, expected F32, F16, BF16 or F64", file, nm, mmf_dtype_name(t->dtype));
    if (t->ndim != 2 && t->ndim != 3)
        return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"%s\": %d dims, expected [N, D] or [N, T, D]", file, nm, t->ndim);
    if (t->shape[0] != f->n)
        return mmf_fail(MMF_ERR_SHAPE, "%s: tensor \"%s\" has %lld rows but \"mask\" has %lld", file, nm,
                        (long long)t->shape[0], (long long)f->n);
    int64_t D = t->shape[t->ndim - 1];
    if (D < 1 || D > (1 << 20)) return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"%s\": dimension %lld out of range", file, nm, (long long)D);
    f->dims[m] = D;
    size_t bytes;
    if (!mmf_mul_size((size_t)f->n, (size_t)D * sizeof(float), &bytes))
        return mmf_fail(MMF_ERR_NOMEM, "%s: tensor \"%s\" too large", file, nm);
    f->data[m] = malloc(bytes ? bytes : 1);
    if (!f->data[m]) return mmf_fail(MMF_ERR_NOMEM, "%s: tensor \"%s\": out of memory", file, nm);
    float *all = malloc((size_t)t->numel * sizeof(float) + 1);
    if (!all) return mmf_fail(MMF_ERR_NOMEM, "%s: tensor \"%s\": out of memory", file, nm);
    mmf_status s = mmf_st_read_f32(st, nm, all, (size_t)t->numel);
    if (s) { free(all); return s; }
    if (t->ndim == 2) {
        memcpy(f->data[m], all, bytes);
    } else {
        /* token level: mean over kept tokens */
        int64_t T = t->shape[1];
        char mk[80];
        snprintf(mk, sizeof mk, "%s.mask", nm);
        const mmf_tensor_info *tm = mmf_st_find(st, mk);
        if (tm && (tm->dtype != MMF_DT_U8 && tm->dtype != MMF_DT_BOOL)) { free(all); return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"%s\": dtype %s, expected U8", file, mk, mmf_dtype_name(tm->dtype)); }
        if (tm && (tm->ndim != 2 || tm->shape[0] != f->n || tm->shape[1] != T)) {
            free(all);
            return mmf_fail(MMF_ERR_SHAPE, "%s: tensor \"%s\": expected shape [%lld, %lld]", file, mk, (long long)f->n, (long long)T);
        }
        const uint8_t *km = tm ? tm->data : NULL;
        for (int64_t i = 0; i < f->n; i++) {
            float *dst = f->data[m] + i * D;
            memset(dst, 0, (size_t)D * sizeof(float));
            int64_t cnt = 0;
            for (int64_t k = 0; k < T; k++) {
                if (km && !km[i * T + k]) continue;
                const float *src = all + (i * T + k) * D;
                for (int64_t d = 0; d < D; d++) dst[d] += src[d];
                cnt++;
            }
            if (cnt)
                for (int64_t d = 0; d < D; d++) dst[d] /= (float)cnt;
            else if (f->mask[i * f->m + m]) {
                /* no tokens: the modality is absent for this row, whatever the mask says */
                f->mask[i * f->m + m] = 0;
            }
        }
    }
    free(all);
    /* absent rows may hold anything: zero them; present rows must be finite */
    for (int64_t i = 0; i < f->n; i++) {
        float *row = f->data[m] + i * D;
        if (!f->mask[i * f->m + m]) { memset(row, 0, (size_t)D * sizeof(float)); continue; }
        for (int64_t d = 0; d < D; d++)
            if (!isfinite(row[d]))
                return mmf_fail(MMF_ERR_NUMERIC, "%s: tensor \"%s\": row %lld (present in \"mask\") holds %s at column %lld",
                                file, nm, (long long)i, isnan(row[d]) ? "NaN" : "Inf", (long long)d);
    }
    return MMF_OK;
}

static mmf_status load_labels(const char *file, mmf_safetensors *st, mmf_embfile *f) {
    const mmf_tensor_info *t = mmf_st_find(st, "labels");
    if (!t) { f->kind = MMF_LABELS_NONE; return MMF_OK; }
    if (t->shape[0] != f->n || t->ndim < 1)
        return mmf_fail(MMF_ERR_SHAPE, "%s: tensor \"labels\" has %lld rows but \"mask\" has %lld", file,
                        (long long)(t->ndim ? t->shape[0] : 0), (long long)f->n);
    if (t->ndim == 1) {
        f->kind = MMF_LABELS_CLASS;
        f->labels = malloc((size_t)f->n * sizeof(int64_t) + 1);
        if (!f->labels) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", file);
        if (!read_ints(t, f->labels))
            return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"labels\": dtype %s, expected I64 [N] (class ids) or F32 [N, C] (multi-hot)",
                            file, mmf_dtype_name(t->dtype));
        int64_t mx = -1;
        for (int64_t i = 0; i < f->n; i++) {
            if (f->labels[i] < 0 || f->labels[i] > 1000000)
                return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"labels\": row %lld holds %lld, expected a class id in [0, 1000000]",
                                file, (long long)i, (long long)f->labels[i]);
            if (f->labels[i] > mx) mx = f->labels[i];
        }
        f->n_classes = mx + 1;
        const char *nc = mmf_st_metadata(st, "n_classes");
        if (nc) {
            char *end;
            long long v = strtoll(nc, &end, 10);
            if (*end || v < 1 || v > 1000001)
                return mmf_fail(MMF_ERR_FORMAT, "%s: __metadata__ \"n_classes\" = \"%s\", expected a positive integer", file, nc);
            if (v < f->n_classes)
                return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"labels\" holds class %lld but __metadata__ \"n_classes\" is %lld",
                                file, (long long)mx, v);
            f->n_classes = v;
        }
    } else if (t->ndim == 2) {
        if (!is_float_dt(t->dtype))
            return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"labels\" [N, C]: dtype %s, expected F32 multi-hot", file, mmf_dtype_name(t->dtype));
        f->kind = MMF_LABELS_MULTIHOT;
        f->n_classes = t->shape[1];
        if (f->n_classes < 1) return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"labels\": no classes", file);
        f->multihot = malloc((size_t)t->numel * sizeof(float) + 1);
        if (!f->multihot) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", file);
        mmf_status s = mmf_st_read_f32(st, "labels", f->multihot, (size_t)t->numel);
        if (s) return s;
        for (int64_t i = 0; i < t->numel; i++)
            if (f->multihot[i] != 0.0f && f->multihot[i] != 1.0f)
                return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"labels\": row %lld column %lld holds %g, expected 0 or 1",
                                file, (long long)(i / f->n_classes), (long long)(i % f->n_classes), f->multihot[i]);
    } else {
        return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"labels\": %d dims, expected [N] or [N, C]", file, t->ndim);
    }
    return MMF_OK;
}

static mmf_status load(const char *file, mmf_safetensors *st, mmf_embfile *f) {
    const char *mods = mmf_st_metadata(st, "modalities");
    if (!mods) return mmf_fail(MMF_ERR_FORMAT, "%s: __metadata__ has no \"modalities\" (a comma-separated list of modality names)", file);
    mmf_status s = parse_modalities(file, mods, f);
    if (s) return s;
    const mmf_tensor_info *mt = mmf_st_find(st, "mask");
    if (!mt) return mmf_fail(MMF_ERR_FORMAT, "%s: no tensor \"mask\" (U8 [N, M])", file);
    if ((mt->dtype != MMF_DT_U8 && mt->dtype != MMF_DT_BOOL) || mt->ndim != 2 || mt->shape[1] != f->m)
        return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"mask\": expected U8 [N, %d] (one column per modality), got %s with %d dims",
                        file, f->m, mmf_dtype_name(mt->dtype), mt->ndim);
    f->n = mt->shape[0];
    f->mask = malloc((size_t)mt->numel + 1);
    if (!f->mask) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", file);
    memcpy(f->mask, mt->data, (size_t)mt->numel);
    for (int64_t i = 0; i < mt->numel; i++)
        if (f->mask[i] > 1)
            return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"mask\": row %lld holds %u, expected 0 or 1", file, (long long)(i / f->m), f->mask[i]);
    for (int m = 0; m < f->m; m++)
        if ((s = load_modality(file, st, f, m))) return s;
    /* every other tensor must be known: catches typos such as "imgae" */
    for (size_t i = 0; i < mmf_st_count(st); i++) {
        const char *nm = mmf_st_at(st, i)->name;
        if (!strcmp(nm, "mask") || !strcmp(nm, "labels") || !strcmp(nm, "ids")) continue;
        int known = 0;
        for (int m = 0; m < f->m && !known; m++) {
            size_t l = strlen(f->names[m]);
            if (!strcmp(nm, f->names[m]) || (!strncmp(nm, f->names[m], l) && !strcmp(nm + l, ".mask"))) known = 1;
        }
        if (!known)
            return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"%s\" is not a modality listed in __metadata__ \"modalities\" (\"%s\")",
                            file, nm, mods);
    }
    if ((s = load_labels(file, st, f))) return s;
    const mmf_tensor_info *it = mmf_st_find(st, "ids");
    if (it) {
        if (it->ndim != 1 || it->shape[0] != f->n)
            return mmf_fail(MMF_ERR_SHAPE, "%s: tensor \"ids\": expected [%lld]", file, (long long)f->n);
        f->ids = malloc((size_t)f->n * sizeof(int64_t) + 1);
        if (!f->ids) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", file);
        if (!read_ints(it, f->ids)) return mmf_fail(MMF_ERR_FORMAT, "%s: tensor \"ids\": dtype %s, expected I64", file, mmf_dtype_name(it->dtype));
    }
    return MMF_OK;
}

/* A validated embedding file from an opened safetensors image (st is the caller's). */
static mmf_status from_st(const char *path, mmf_safetensors *st, mmf_embfile **out) {
    mmf_status s;
    mmf_embfile *f = calloc(1, sizeof *f);
    if (!f) return mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", path);
    f->path = strdup(path);
    s = load(path, st, f);
    for (int m = 0; m < f->m && !s; m++) {
        char key[80];
        snprintf(key, sizeof key, "encoder.%s", f->names[m]);
        const char *dir = mmf_st_metadata(st, key);
        if (dir && dir[0] && !(f->encoders[m] = strdup(dir))) s = mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", path);
    }
    if (s) { mmf_embfile_close(f); return s; }
    *out = f;
    return MMF_OK;
}

mmf_status mmf_embfile_open(const char *path, mmf_embfile **out) {
    *out = NULL;
    mmf_safetensors *st;
    mmf_status s = mmf_st_open(path, &st);
    if (s) return s;
    s = from_st(path, st, out);
    mmf_st_close(st);
    return s;
}

/* The safetensors writer holding the file for sp (path names it in messages). */
static mmf_status spec_writer(const char *path, const mmf_embfile_spec *sp, int layout, mmf_st_writer **out) {
    *out = NULL;
    if (!sp || sp->n_rows < 0 || sp->n_modalities < 1 || sp->n_modalities > MMF_EMB_MAX_MODALITIES || !sp->names || !sp->dims || (!sp->data && !layout))
        return mmf_fail(MMF_ERR_ARG, "%s: embedding file spec: need 1..%d modalities with names, dims and data", path, MMF_EMB_MAX_MODALITIES);
    int M = sp->n_modalities;
    int64_t N = sp->n_rows;
    char mods[MMF_EMB_MAX_MODALITIES * 66] = "";
    for (int m = 0; m < M; m++) {
        if (!sp->names[m] || !name_ok(sp->names[m]))
            return mmf_fail(MMF_ERR_ARG, "%s: modality %d: invalid name \"%s\"", path, m, sp->names[m] ? sp->names[m] : "(null)");
        for (int j = 0; j < m; j++)
            if (!strcmp(sp->names[j], sp->names[m])) return mmf_fail(MMF_ERR_ARG, "%s: modality \"%s\" given twice", path, sp->names[m]);
        if (sp->dims[m] < 1 || (!layout && !sp->data[m])) return mmf_fail(MMF_ERR_ARG, "%s: modality \"%s\": no data or dimension < 1", path, sp->names[m]);
        if (m) strcat(mods, ",");
        strcat(mods, sp->names[m]);
    }
    mmf_st_writer *w = mmf_st_writer_new();
    if (!w) return MMF_ERR_NOMEM;
    mmf_status s = mmf_st_writer_meta(w, "modalities", mods);
    for (int m = 0; m < M && !s && sp->encoders; m++) {
        if (!sp->encoders[m] || !sp->encoders[m][0]) continue;
        char key[80];
        snprintf(key, sizeof key, "encoder.%s", sp->names[m]);
        s = mmf_st_writer_meta(w, key, sp->encoders[m]);
    }
    uint8_t *mask = NULL;
    for (int m = 0; m < M && !s; m++) {
        int64_t shp[2] = {N, sp->dims[m]};
        s = layout ? mmf_st_writer_reserve(w, sp->names[m], MMF_DT_F32, 2, shp)
                   : mmf_st_writer_add(w, sp->names[m], MMF_DT_F32, 2, shp, sp->data[m]);
    }
    if (!s && layout) {
        int64_t shp[2] = {N, M};
        s = mmf_st_writer_reserve(w, "mask", MMF_DT_U8, 2, shp);
    } else if (!s) {
        mask = malloc((size_t)(N * M) + 1);
        if (!mask) s = mmf_fail(MMF_ERR_NOMEM, "%s: out of memory", path);
        else {
            for (int64_t i = 0; i < N * M; i++) mask[i] = sp->mask ? (sp->mask[i] ? 1 : 0) : 1;
            int64_t shp[2] = {N, M};
            s = mmf_st_writer_add(w, "mask", MMF_DT_U8, 2, shp, mask);
        }
    }
    if (!s && sp->labels) {
        int64_t shp[1] = {N};
        for (int64_t i = 0; i < N && !s; i++)
            if (sp->labels[i] < 0 || (sp->n_classes > 0 && sp->labels[i] >= sp->n_classes))
                s = mmf_fail(MMF_ERR_ARG, "%s: label of row %lld is %lld, out of range", path, (long long)i, (long long)sp->labels[i]);
        if (!s) s = mmf_st_writer_add(w, "labels", MMF_DT_I64, 1, shp, sp->labels);
        if (!s && sp->n_classes > 0) {
            char buf[32];
            snprintf(buf, sizeof buf, "%lld", (long long)sp->n_classes);
            s = mmf_st_writer_meta(w, "n_classes", buf);
        }
    } else if (!s && sp->multihot) {
        if (sp->n_classes < 1) s = mmf_fail(MMF_ERR_ARG, "%s: multi-hot labels need n_classes", path);
        else {
            int64_t shp[2] = {N, sp->n_classes};
            s = mmf_st_writer_add(w, "labels", MMF_DT_F32, 2, shp, sp->multihot);
        }
    }
    if (!s && sp->ids) {
        int64_t shp[1] = {N};
        s = mmf_st_writer_add(w, "ids", MMF_DT_I64, 1, shp, sp->ids);
    }
    if (!s && sp->label_names) s = mmf_st_writer_meta(w, "label_names", sp->label_names);
    free(mask);
    if (s) { mmf_st_writer_free(w); return s; }
    *out = w;
    return MMF_OK;
}

mmf_status mmf_embfile_write(const char *path, const mmf_embfile_spec *sp) {
    mmf_st_writer *w;
    mmf_status s = spec_writer(path, sp, 0, &w);
    if (s) return s;
    s = mmf_st_writer_finish(w, path);
    mmf_st_writer_free(w);
    return s;
}

mmf_status mmf_embfile_from_spec(const mmf_embfile_spec *sp, const char *name, mmf_embfile **out) {
    *out = NULL;
    if (!name) name = "<memory>";
    mmf_st_writer *w;
    mmf_status s = spec_writer(name, sp, 0, &w);
    if (s) return s;
    void *bytes;
    size_t len;
    s = mmf_st_writer_bytes(w, &bytes, &len);
    mmf_st_writer_free(w);
    if (s) return s;
    mmf_safetensors *st;
    s = mmf_st_open_memory(bytes, len, name, &st);
    if (!s) { s = from_st(name, st, out); mmf_st_close(st); }
    free(bytes);
    return s;
}

mmf_status mmf_embfile_layout(const mmf_embfile_spec *sp, const char *name, mmf_st_writer **out) {
    return spec_writer(name ? name : "<layout>", sp, 1, out);
}
