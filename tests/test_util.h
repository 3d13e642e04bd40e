/* Minimal test harness: each tests/test_*.c is one executable and one ctest.
 * Exit 0 = pass, 1 = fail, 77 = skipped (ctest's SKIP_RETURN_CODE). */
#ifndef MMF_TEST_UTIL_H
#define MMF_TEST_UTIL_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mmfuse.h"

static int t_failures = 0, t_checks = 0;

#define CHECK(cond) do { t_checks++; if (!(cond)) { t_failures++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_MSG(cond, ...) do { t_checks++; if (!(cond)) { t_failures++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
#define CHECK_OK(expr) do { mmf_status s_ = (expr); t_checks++; if (s_ != MMF_OK) { t_failures++; \
    fprintf(stderr, "%s:%d: %s returned %s: %s\n", __FILE__, __LINE__, #expr, mmf_status_str(s_), mmf_last_error()); } } while (0)
#define CHECK_NEAR(a, b, tol) do { double a_ = (a), b_ = (b); t_checks++; if (!(fabs(a_ - b_) <= (tol))) { \
    t_failures++; fprintf(stderr, "%s:%d: %s = %.9g, expected %.9g (tol %g)\n", __FILE__, __LINE__, #a, a_, b_, (double)(tol)); } } while (0)

/* Largest |a-b| / (atol/rtol mix): passes when |a-b| <= atol + rtol*|b| everywhere. */
static inline int t_allclose(const float *a, const float *b, size_t n, double atol, double rtol,
                             const char *what) {
    double worst = 0.0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double lim = atol + rtol * fabs((double)b[i]);
        if (!(d <= lim) && (d / lim > worst || isnan(d))) { worst = isnan(d) ? INFINITY : d / lim; at = i; }
    }
    t_checks++;
    if (worst > 0.0) {
        t_failures++;
        fprintf(stderr, "%s: mismatch at %zu: got %.9g expected %.9g (%.3gx tolerance)\n", what, at, a[at], b[at], worst);
        return 0;
    }
    return 1;
}

static inline double t_max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) { double d = fabs((double)a[i] - (double)b[i]); if (d > m || isnan(d)) m = d; }
    return m;
}

/* Path under the source tree ($MMFUSE_SRC, else "."). */
static inline const char *t_src_path(const char *rel, char *buf, size_t cap) {
    const char *root = getenv("MMFUSE_SRC");
    snprintf(buf, cap, "%s/%s", root ? root : ".", rel);
    return buf;
}

/* A fresh temp dir for this test. */
static inline const char *t_tmpdir(char *buf, size_t cap) {
    const char *base = getenv("TMPDIR");
    snprintf(buf, cap, "%s/mmf_test_XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(buf)) { perror("mkdtemp"); exit(1); }
    return buf;
}

static inline int t_done(const char *name) {
    if (t_failures) { fprintf(stderr, "%s: %d of %d checks failed\n", name, t_failures, t_checks); return 1; }
    printf("%s: %d checks passed\n", name, t_checks);
    return 0;
}

static inline int t_skip(const char *why) {
    printf("SKIPPED: %s\n", why);
    return 77;
}

/* Skip for real tokenizer files missing from the shared folder: says where they
 * were looked for and how to provide them (README: "Tests, and what ../shared
 * unlocks"). */
static inline int t_skip_shared(const char *dir, const char *hf_model, const char *files) {
    printf("SKIPPED: %s is missing: put Hugging Face's %s tokenizer files (%s) there, or point "
           "cmake -DMMFUSE_SHARED_DIR=DIR at a folder holding tokenizers/ (README: Tests)\n", dir, hf_model, files);
    return 77;
}
#endif
