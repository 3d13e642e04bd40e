#include "io/json.h"
#include "core/error.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

mmf_status mmf_read_file(const char *path, size_t max, char **out, size_t *len) {
    *out = NULL;
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return mmf_fail(errno == ENOENT ? MMF_ERR_NOT_FOUND : MMF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return mmf_fail(MMF_ERR_IO, "%s: not a regular file", path);
    }
    if ((unsigned long long)sb.st_size > max) {
        fclose(f);
        return mmf_fail(MMF_ERR_FORMAT, "%s: %lld bytes, more than the %zu allowed", path, (long long)sb.st_size, max);
    }
    size_t n = (size_t)sb.st_size;
    char *buf = malloc(n + 1);
    if (!buf) { fclose(f); return mmf_fail(MMF_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n); }
    size_t got = fread(buf, 1, n, f);
    int err = ferror(f);
    fclose(f);
    if (got != n || err) { free(buf); return mmf_fail(MMF_ERR_IO, "%s: short read (%zu of %zu bytes)", path, got, n); }
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return MMF_OK;
}

mmf_status mmf_json_parse(const char *buf, size_t len, const char *name, cJSON **out) {
    *out = NULL;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (!j) {
        size_t off = end && end >= buf ? (size_t)(end - buf) : 0;
        return mmf_fail(MMF_ERR_FORMAT, "%s: invalid JSON near byte %zu", name, off);
    }
    /* only whitespace (or NULs, as padding) may follow the value */
    for (const char *p = end; p && p < buf + len; p++) {
        if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t' && *p != 0) {
            cJSON_Delete(j);
            return mmf_fail(MMF_ERR_FORMAT, "%s: trailing data after the JSON value at byte %zu", name, (size_t)(p - buf));
        }
    }
    *out = j;
    return MMF_OK;
}

mmf_status mmf_json_load_in(const char *dir_or_file, const char *name, char *path, size_t cap, cJSON **out) {
    struct stat sb;
    if (stat(dir_or_file, &sb) == 0 && S_ISDIR(sb.st_mode)) snprintf(path, cap, "%s/%s", dir_or_file, name);
    else snprintf(path, cap, "%s", dir_or_file);
    return mmf_json_load(path, out);
}

mmf_status mmf_json_load(const char *path, cJSON **out) {
    char *buf;
    size_t len;
    *out = NULL;
    mmf_status s = mmf_read_file(path, MMF_JSON_MAX_BYTES, &buf, &len);
    if (s) return s;
    s = mmf_json_parse(buf, len, path, out);
    free(buf);
    return s;
}

static const cJSON *field(const cJSON *obj, const char *key) {
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

mmf_status mmf_json_int(const cJSON *obj, const char *key, int64_t def, int64_t lo, int64_t hi,
                        const char *file, int64_t *out) {
    const cJSON *v = field(obj, key);
    if (!v || cJSON_IsNull(v)) { *out = def; return MMF_OK; }
    if (!cJSON_IsNumber(v))
        return mmf_fail(MMF_ERR_FORMAT, "%s: field \"%s\" should be an integer", file, key);
    double d = v->valuedouble;
    /* (double)INT64_MAX rounds up to 2^63, which does not fit: refuse it
     * before the cast, which would be undefined */
    if (!isfinite(d) || d != floor(d) || d < (double)lo || d > (double)hi || d >= 9223372036854775808.0)
        return mmf_fail(MMF_ERR_FORMAT, "%s: field \"%s\" is %g, expected an integer in [%lld, %lld]",
                        file, key, d, (long long)lo, (long long)hi);
    *out = (int64_t)d;
    return MMF_OK;
}

mmf_status mmf_json_int_req(const cJSON *obj, const char *key, int64_t lo, int64_t hi,
                            const char *file, int64_t *out) {
    if (!field(obj, key)) return mmf_fail(MMF_ERR_FORMAT, "%s: missing required field \"%s\"", file, key);
    return mmf_json_int(obj, key, 0, lo, hi, file, out);
}

mmf_status mmf_json_num(const cJSON *obj, const char *key, double def, const char *file, double *out) {
    const cJSON *v = field(obj, key);
    if (!v || cJSON_IsNull(v)) { *out = def; return MMF_OK; }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return mmf_fail(MMF_ERR_FORMAT, "%s: field \"%s\" should be a finite number", file, key);
    *out = v->valuedouble;
    return MMF_OK;
}

mmf_status mmf_json_bool(const cJSON *obj, const char *key, int def, const char *file, int *out) {
    const cJSON *v = field(obj, key);
    if (!v || cJSON_IsNull(v)) { *out = def; return MMF_OK; }
    if (!cJSON_IsBool(v)) return mmf_fail(MMF_ERR_FORMAT, "%s: field \"%s\" should be true or false", file, key);
    *out = cJSON_IsTrue(v);
    return MMF_OK;
}

mmf_status mmf_json_str(const cJSON *obj, const char *key, const char *def, const char *file, const char **out) {
    const cJSON *v = field(obj, key);
    if (!v || cJSON_IsNull(v)) { *out = def; return MMF_OK; }
    if (!cJSON_IsString(v)) return mmf_fail(MMF_ERR_FORMAT, "%s: field \"%s\" should be a string", file, key);
    *out = v->valuestring;
    return MMF_OK;
}

int mmf_utf8_valid(const char *str, size_t len) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t n;
        unsigned cp;
        if (c >= 0xc2 && c <= 0xdf) { n = 1; cp = c & 0x1f; }
        else if (c >= 0xe0 && c <= 0xef) { n = 2; cp = c & 0x0f; }
        else if (c >= 0xf0 && c <= 0xf4) { n = 3; cp = c & 0x07; }
        else return 0;
        if (len - i - 1 < n) return 0;   /* sequence runs past the end */
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}
