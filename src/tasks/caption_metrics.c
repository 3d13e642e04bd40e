/* Caption metrics on word-id sequences: corpus BLEU-1..4 (Papineni et al. 2002)
 * and CIDEr / CIDEr-D (Vedantam et al. 2015, as coco-caption computes CIDEr-D).
 * Definitions, with the small choices spelled out, are in docs/caption.md;
 * tests/test_caption_metrics.c checks them against hand-computed examples. */
#include "tasks/caption.h"
#include "core/error.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NG 4

/* ---------------------------------------------------------------- BLEU */

/* occurrences of the n-gram at a (length n) in s */
static int count_in(const int32_t *a, int n, cap_seq s) {
    int c = 0;
    for (int i = 0; i + n <= s.n; i++) c += memcmp(a, s.w + i, (size_t)n * sizeof *a) == 0;
    return c;
}

mmf_status cap_bleu(const cap_seq *hyps, const cap_seq *refs, const size_t *ref_off, size_t n, double bleu[4],
                    double *bp_out) {
    double match[NG] = {0}, total[NG] = {0}, c_len = 0, r_len = 0;
    for (size_t i = 0; i < n; i++) {
        cap_seq h = hyps[i];
        size_t r0 = ref_off[i], r1 = ref_off[i + 1];
        if (r1 <= r0) return mmf_fail(MMF_ERR_ARG, "BLEU: caption %zu has no reference", i);
        /* closest reference length; ties go to the shorter (as NLTK and sacreBLEU) */
        int best = refs[r0].n;
        for (size_t r = r0 + 1; r < r1; r++) {
            int d = abs(refs[r].n - h.n), db = abs(best - h.n);
            if (d < db || (d == db && refs[r].n < best)) best = refs[r].n;
        }
        c_len += h.n;
        r_len += best;
        for (int k = 1; k <= NG; k++) {
            for (int j = 0; j + k <= h.n; j++) {
                total[k - 1] += 1;
                /* count each distinct n-gram once, at its first occurrence */
                int seen = 0;
                for (int q = 0; q < j && !seen; q++) seen = memcmp(h.w + q, h.w + j, (size_t)k * sizeof(int32_t)) == 0;
                if (seen) continue;
                int ch = count_in(h.w + j, k, h), mr = 0;
                for (size_t r = r0; r < r1; r++) {
                    int c = count_in(h.w + j, k, refs[r]);
                    if (c > mr) mr = c;
                }
                match[k - 1] += ch < mr ? ch : mr;   /* clipped count */
            }
        }
    }
    double bp = c_len >= r_len ? 1.0 : (c_len > 0 ? exp(1.0 - r_len / c_len) : 0.0);
    double logsum = 0.0;
    int zero = 0;
    for (int k = 0; k < NG; k++) {
        /* no smoothing: an order with no match (or no n-gram at all) gives 0 from there on */
        if (total[k] == 0 || match[k] == 0) zero = 1;
        else logsum += log(match[k] / total[k]);
        bleu[k] = zero ? 0.0 : bp * exp(logsum / (k + 1));
    }
    if (bp_out) *bp_out = bp;
    return MMF_OK;
}

/* --------------------------------------------------------------- CIDEr */

/* n-gram interning: (order, words) -> dense id */
typedef struct ngkey { int32_t w[NG]; int32_t n; } ngkey;
typedef struct ngmap {
    ngkey *keys;
    int32_t *slots;  /* -1 empty */
    size_t n_slots, count, cap;
} ngmap;

static uint64_t ng_hash(const int32_t *w, int n) {
    uint64_t h = 1469598103934665603ull ^ (uint64_t)n;
    for (int i = 0; i < n; i++) { h ^= (uint32_t)w[i]; h *= 1099511628211ull; h ^= h >> 29; }
    return h;
}

static mmf_status ng_grow(ngmap *m) {
    size_t ns = m->n_slots ? m->n_slots * 2 : 1024;
    int32_t *sl = malloc(ns * sizeof *sl);
    if (!sl) return mmf_fail(MMF_ERR_NOMEM, "CIDEr: out of memory");
    memset(sl, 0xff, ns * sizeof *sl);
    for (size_t i = 0; i < m->count; i++) {
        size_t j = ng_hash(m->keys[i].w, m->keys[i].n) & (ns - 1);
        while (sl[j] >= 0) j = (j + 1) & (ns - 1);
        sl[j] = (int32_t)i;
    }
    free(m->slots);
    m->slots = sl;
    m->n_slots = ns;
    return MMF_OK;
}

/* id of the n-gram, inserting it; -1 on allocation failure (error set) */
static int32_t ng_id(ngmap *m, const int32_t *w, int n) {
    if ((m->count + 1) * 2 > m->n_slots && ng_grow(m)) return -1;
    size_t j = ng_hash(w, n) & (m->n_slots - 1);
    while (m->slots[j] >= 0) {
        const ngkey *k = &m->keys[m->slots[j]];
        if (k->n == n && !memcmp(k->w, w, (size_t)n * sizeof *w)) return m->slots[j];
        j = (j + 1) & (m->n_slots - 1);
    }
    if (m->count == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 1024;
        ngkey *nk = realloc(m->keys, nc * sizeof *nk);
        if (!nk) { mmf_fail(MMF_ERR_NOMEM, "CIDEr: out of memory"); return -1; }
        m->keys = nk; m->cap = nc;
    }
    ngkey k = {{0}, n};
    memcpy(k.w, w, (size_t)n * sizeof *w);
    m->keys[m->count] = k;
    m->slots[j] = (int32_t)m->count;
    return (int32_t)m->count++;
}

/* one sentence as sorted (n-gram id, count) pairs, with its order per entry */
typedef struct ngvec { int32_t *id; int32_t *cnt; int n; int bigrams; } ngvec;

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static mmf_status ng_vec(ngmap *m, cap_seq s, ngvec *v) {
    int total = 0;
    for (int k = 1; k <= NG; k++) total += s.n >= k ? s.n - k + 1 : 0;
    v->id = malloc(((size_t)total + 1) * sizeof *v->id);
    v->cnt = malloc(((size_t)total + 1) * sizeof *v->cnt);
    v->n = 0;
    v->bigrams = s.n >= 2 ? s.n - 1 : 0;   /* coco-caption's "length": the bigram count */
    if (!v->id || !v->cnt) return mmf_fail(MMF_ERR_NOMEM, "CIDEr: out of memory");
    int32_t *all = v->id;
    int t = 0;
    for (int k = 1; k <= NG; k++)
        for (int j = 0; j + k <= s.n; j++) {
            int32_t id = ng_id(m, s.w + j, k);
            if (id < 0) return MMF_ERR_NOMEM;
            all[t++] = id;
        }
    qsort(all, (size_t)t, sizeof *all, cmp_i32);
    for (int i = 0; i < t;) {
        int j = i;
        while (j < t && all[j] == all[i]) j++;
        v->id[v->n] = all[i];
        v->cnt[v->n] = j - i;
        v->n++;
        i = j;
    }
    return MMF_OK;
}

/* tf-idf weights and per-order norms of a sentence */
static void ng_weights(const ngmap *m, const ngvec *v, const double *logdf, double log_n, double *w, double norm[NG]) {
    for (int k = 0; k < NG; k++) norm[k] = 0.0;
    for (int i = 0; i < v->n; i++) {
        w[i] = v->cnt[i] * (log_n - logdf[v->id[i]]);
        norm[m->keys[v->id[i]].n - 1] += w[i] * w[i];
    }
    for (int k = 0; k < NG; k++) norm[k] = sqrt(norm[k]);
}

mmf_status cap_cider(const cap_seq *hyps, const cap_seq *refs, const size_t *ref_off, size_t n, double *cider_d,
                     double *cider, double *per_image) {
    const double sigma = 6.0;
    ngmap m = {0};
    size_t n_refs = ref_off[n];
    ngvec *hv = calloc(n ? n : 1, sizeof *hv), *rv = calloc(n_refs ? n_refs : 1, sizeof *rv);
    double *logdf = NULL, *wh = NULL, *wr = NULL;
    int32_t *last = NULL;
    mmf_status s = (hv && rv) ? MMF_OK : mmf_fail(MMF_ERR_NOMEM, "CIDEr: out of memory");
    for (size_t i = 0; !s && i < n; i++)
        if (ref_off[i + 1] <= ref_off[i]) s = mmf_fail(MMF_ERR_ARG, "CIDEr: caption %zu has no reference", i);
    for (size_t r = 0; !s && r < n_refs; r++) s = ng_vec(&m, refs[r], &rv[r]);
    for (size_t i = 0; !s && i < n; i++) s = ng_vec(&m, hyps[i], &hv[i]);
    /* document frequency: the number of images whose references hold the n-gram */
    if (!s && (!(logdf = calloc(m.count + 1, sizeof *logdf)) || !(last = malloc((m.count + 1) * sizeof *last))))
        s = mmf_fail(MMF_ERR_NOMEM, "CIDEr: out of memory");
    if (!s) {
        for (size_t g = 0; g < m.count; g++) last[g] = -1;
        for (size_t i = 0; i < n; i++)
            for (size_t r = ref_off[i]; r < ref_off[i + 1]; r++)
                for (int e = 0; e < rv[r].n; e++)
                    if (last[rv[r].id[e]] != (int32_t)i) { last[rv[r].id[e]] = (int32_t)i; logdf[rv[r].id[e]] += 1; }
        for (size_t g = 0; g < m.count; g++) logdf[g] = log(logdf[g] > 1.0 ? logdf[g] : 1.0);
    }
    size_t maxv = 1;
    for (size_t r = 0; !s && r < n_refs; r++) if ((size_t)rv[r].n > maxv) maxv = (size_t)rv[r].n;
    for (size_t i = 0; !s && i < n; i++) if ((size_t)hv[i].n > maxv) maxv = (size_t)hv[i].n;
    if (!s && (!(wh = malloc(maxv * sizeof *wh)) || !(wr = malloc(maxv * sizeof *wr))))
        s = mmf_fail(MMF_ERR_NOMEM, "CIDEr: out of memory");
    double log_n = log((double)n), sum_d = 0.0, sum_c = 0.0;
    for (size_t i = 0; !s && i < n; i++) {
        double nh[NG], nr[NG], acc_d[NG] = {0}, acc_c[NG] = {0};
        ng_weights(&m, &hv[i], logdf, log_n, wh, nh);
        size_t n_r = ref_off[i + 1] - ref_off[i];
        for (size_t r = ref_off[i]; r < ref_off[i + 1]; r++) {
            ng_weights(&m, &rv[r], logdf, log_n, wr, nr);
            double vd[NG] = {0}, vc[NG] = {0};
            /* merge the two sorted id lists */
            for (int a = 0, b = 0; a < hv[i].n && b < rv[r].n;) {
                if (hv[i].id[a] < rv[r].id[b]) a++;
                else if (hv[i].id[a] > rv[r].id[b]) b++;
                else {
                    int k = m.keys[hv[i].id[a]].n - 1;
                    vd[k] += (wh[a] < wr[b] ? wh[a] : wr[b]) * wr[b];   /* CIDEr-D clips the candidate's counts */
                    vc[k] += wh[a] * wr[b];
                    a++, b++;
                }
            }
            double delta = (double)(hv[i].bigrams - rv[r].bigrams);
            double pen = exp(-(delta * delta) / (2.0 * sigma * sigma));
            for (int k = 0; k < NG; k++) {
                if (nh[k] != 0.0 && nr[k] != 0.0) { vd[k] /= nh[k] * nr[k]; vc[k] /= nh[k] * nr[k]; }
                acc_d[k] += vd[k] * pen;
                acc_c[k] += vc[k];
            }
        }
        double sd = 0.0, sc = 0.0;
        for (int k = 0; k < NG; k++) { sd += acc_d[k]; sc += acc_c[k]; }
        sd = sd / NG / (double)n_r * 10.0;
        sc = sc / NG / (double)n_r;
        if (per_image) per_image[i] = sd;
        sum_d += sd;
        sum_c += sc;
    }
    if (!s) {
        if (cider_d) *cider_d = n ? sum_d / (double)n : 0.0;
        if (cider) *cider = n ? sum_c / (double)n : 0.0;
    }
    for (size_t i = 0; hv && i < n; i++) { free(hv[i].id); free(hv[i].cnt); }
    for (size_t r = 0; rv && r < n_refs; r++) { free(rv[r].id); free(rv[r].cnt); }
    free(hv); free(rv); free(logdf); free(last); free(wh); free(wr);
    free(m.keys); free(m.slots);
    return s;
}

/* --------------------------------------------------------- public: strings */

mmf_status mmf_caption_score(const char *const *hyps, size_t n, const char *const *refs, const size_t *ref_off,
                             mmf_caption_scores *out) {
    memset(out, 0, sizeof *out);
    if (n == 0) return mmf_fail(MMF_ERR_ARG, "caption scores: no captions to score");
    /* words -> ids through a throwaway map: the metrics only compare words */
    mmf_vocab map;
    mmf_status s = mmf_vocab_init(&map, 1024);
    if (s) return s;
    size_t n_refs = ref_off[n], n_seq = n + n_refs;
    cap_seq *seq = calloc(n_seq, sizeof *seq);
    int32_t next = 0;
    if (!seq) s = mmf_fail(MMF_ERR_NOMEM, "caption scores: out of memory");
    for (size_t q = 0; !s && q < n_seq; q++) {
        const char *text = q < n ? hyps[q] : refs[q - n];
        const char *p = text ? text : "";
        char buf[CAP_MAX_WORD + 1];
        int cnt = 0;
        while (cap_next_word(&p, buf) > 0) cnt++;
        int32_t *w = malloc(((size_t)cnt + 1) * sizeof *w);
        if (!w) { s = mmf_fail(MMF_ERR_NOMEM, "caption scores: out of memory"); break; }
        p = text ? text : "";
        size_t len;
        int k = 0;
        while (!s && (len = cap_next_word(&p, buf)) > 0) {
            int32_t id = mmf_vocab_get(&map, buf, len);
            if (id < 0) { id = next++; s = mmf_vocab_set(&map, buf, len, id, 0); }
            w[k++] = id;
        }
        seq[q] = (cap_seq){w, k};
    }
    if (!s) s = cap_bleu(seq, seq + n, ref_off, n, out->bleu, &out->brevity_penalty);
    if (!s) s = cap_cider(seq, seq + n, ref_off, n, &out->cider_d, &out->cider, NULL);
    if (!s) out->n = (int64_t)n;
    for (size_t q = 0; seq && q < n_seq; q++) free((void *)seq[q].w);
    free(seq);
    mmf_vocab_free(&map);
    return s;
}
