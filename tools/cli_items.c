/* Item names, payloads and model provenance for the index commands (cli_items.h). */
#include "cli_items.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "cli_lines.h"
#include "cli_records.h"

void cli_items_free(cli_items *it) {
    for (size_t i = 0; it->names && i < it->n; i++) free(it->names[i]);
    for (size_t i = 0; it->payloads && i < it->n; i++) free(it->payloads[i]);
    free(it->names); free(it->payloads);
    memset(it, 0, sizeof *it);
}

/* The payload of one record: an object of the chosen fields that it has. */
static char *payload_of(const cJSON *rec, const char *fields) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", fields);
    int any = 0;
    for (char *save = NULL, *f = strtok_r(buf, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, f);
        if (!v || cJSON_IsNull(v)) continue;
        cJSON *c = cJSON_Duplicate(v, 1);
        if (!c) { cJSON_Delete(o); return NULL; }
        cJSON_AddItemToObject(o, f, c);
        any = 1;
    }
    char *s = any ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

static int cmp_pair(const void *a, const void *b) {
    const int64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : (x[1] < y[1] ? -1 : x[1] > y[1]);
}

int cli_items_load(const char *cmd, const char *records, const char *id_field, const char *fields,
                   const int64_t *ids, size_t n, cli_items *out) {
    memset(out, 0, sizeof *out);
    char **lines, *buf;
    size_t nl;
    int rc = cli_read_lines(cmd, records, &lines, &nl, &buf);
    if (rc) return rc;
    int want_payload = fields && strcmp(fields, "none");
    out->n = n;
    out->names = calloc(n ? n : 1, sizeof *out->names);
    out->payloads = calloc(n ? n : 1, sizeof *out->payloads);
    /* (id, row) sorted, so each record finds its rows by binary search */
    int64_t *pairs = malloc((n ? n : 1) * 2 * sizeof *pairs);
    if (!out->names || !out->payloads || !pairs) {
        fprintf(stderr, "mmfuse %s: error: out of memory\n", cmd);
        rc = MMF_EXIT_FAIL;
        goto done;
    }
    for (size_t i = 0; i < n; i++) { pairs[2 * i] = ids[i]; pairs[2 * i + 1] = (int64_t)i; }
    qsort(pairs, n, 2 * sizeof *pairs, cmp_pair);
    for (size_t l = 0; l < nl && !rc; l++) {
        const char *line = lines[l];
        while (*line == ' ' || *line == '\t' || *line == '\r') line++;
        if (!*line) continue;
        cJSON *rec = cJSON_Parse(line);
        if (!rec || !cJSON_IsObject(rec)) {
            fprintf(stderr, "mmfuse %s: error: %s:%zu: not a JSON object\n", cmd, records, l + 1);
            cJSON_Delete(rec);
            rc = MMF_EXIT_FAIL;
            break;
        }
        const cJSON *idv = cJSON_GetObjectItemCaseSensitive(rec, id_field);
        char name[64];
        const char *nm = NULL;
        int64_t id = 0;
        if (cJSON_IsString(idv) && idv->valuestring[0]) { nm = idv->valuestring; id = cli_records_hash_id(nm); }
        else if (cJSON_IsNumber(idv) && idv->valuedouble == (double)(int64_t)idv->valuedouble) {
            id = (int64_t)idv->valuedouble;
            snprintf(name, sizeof name, "%lld", (long long)id);
            nm = name;
        } else {
            fprintf(stderr, "mmfuse %s: error: %s:%zu: field \"%s\": expected a string or an integer id\n", cmd, records, l + 1, id_field);
            cJSON_Delete(rec);
            rc = MMF_EXIT_FAIL;
            break;
        }
        /* the first row with this id */
        size_t lo = 0, hi = n;
        while (lo < hi) { size_t mid = (lo + hi) / 2; if (pairs[2 * mid] < id) lo = mid + 1; else hi = mid; }
        for (size_t j = lo; j < n && pairs[2 * j] == id; j++) {
            size_t row = (size_t)pairs[2 * j + 1];
            if (out->names[row]) continue;   /* an earlier record had this id */
            out->names[row] = strdup(nm);
            if (want_payload) out->payloads[row] = payload_of(rec, fields);
            if (!out->names[row]) { fprintf(stderr, "mmfuse %s: error: out of memory\n", cmd); rc = MMF_EXIT_FAIL; break; }
            out->matched++;
        }
        cJSON_Delete(rec);
    }
done:
    free(pairs);
    free(lines);
    free(buf);
    if (rc) cli_items_free(out);
    return rc;
}

int cli_source_model_id(const char *file, const char *tensor, const char *model_dir, char out[MMF_MODEL_ID_MAX],
                        char *why, size_t why_cap) {
    out[0] = 0;
    if (why && why_cap) why[0] = 0;
    char dir[4096] = "";
    if (model_dir) snprintf(dir, sizeof dir, "%s", model_dir);
    else if (file && tensor) {
        mmf_safetensors *st;
        if (mmf_st_open(file, &st) == MMF_OK) {
            char key[160];
            snprintf(key, sizeof key, "encoder.%s", tensor);
            const char *d = mmf_st_metadata(st, key);
            if (d) snprintf(dir, sizeof dir, "%s", d);
            mmf_st_close(st);
        }
        if (!dir[0]) {
            if (why) snprintf(why, why_cap, "%s does not record which encoder embedded \"%s\"", file, tensor);
            return 0;
        }
    }
    if (!dir[0]) return 0;
    if (mmf_model_id(dir, out, MMF_MODEL_ID_MAX) != MMF_OK) {
        if (why) snprintf(why, why_cap, "%s", mmf_last_error());
        out[0] = 0;
        return 0;
    }
    return 1;
}
