/* safetensors reader: each file is mmap'd read-only, its JSON header parsed with cJSON and every
 * entry validated before any tensor is handed out (into the shared tensor set of checkpoint.h).
 * Model directories and shard indexes: checkpoint_dir.c. */
#include "engine/io/safetensors.h"

#include "engine/io/checkpoint.h"

#include "engine/base/fileutil.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_MAX_HEADER ((uint64_t)100 * 1024 * 1024) /* sane cap on the JSON header */
#define ST_MAX_JSON_INT 9007199254740992.0          /* 2^53: larger JSON numbers are not exact */

/* Reads a little-endian u64. */
static uint64_t load_le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

/* True when a JSON number is an exact non-negative integer we can hold; stores it in *out. */
static bool json_uint(const cJSON *item, uint64_t *out) {
    if (!cJSON_IsNumber(item)) return false;
    double d = item->valuedouble;
    if (!(d >= 0.0) || d > ST_MAX_JSON_INT || d != (double)(uint64_t)d) return false;
    *out = (uint64_t)d;
    return true;
}

/* Validates one header entry (name -> {dtype, shape, data_offsets}) and appends it. */
static ribo_status parse_entry(ribo_safetensors *st, size_t fi, const cJSON *item, const unsigned char *data,
                               uint64_t data_size, ribo_error *err) {
    const char *path = ribo_ckpt_file_path(st, fi);
    const char *name = item->string;
    if (!cJSON_IsObject(item))
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s': header entry is not a JSON object", path, name);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(jd))
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s': missing or non-string \"dtype\"", path, name);
    ribo_st_dtype dtype;
    if (!ribo_st_dtype_parse(jd->valuestring, &dtype))
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s': unsupported dtype '%s'", path, name,
                              jd->valuestring);
    if (!cJSON_IsArray(js))
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s': missing or non-array \"shape\"", path, name);
    int ndim = cJSON_GetArraySize(js);
    if (ndim > RIBO_ST_MAX_DIMS)
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s': shape has %d dimensions (at most %d supported)",
                              path, name, ndim, RIBO_ST_MAX_DIMS);
    int64_t shape[RIBO_ST_MAX_DIMS] = {0};
    int k = 0;
    bool has_zero = false;
    const cJSON *dim;
    cJSON_ArrayForEach(dim, js) {
        uint64_t v;
        if (!json_uint(dim, &v))
            return ribo_error_set(err, RIBO_ERR_MODEL,
                                  "%s: tensor '%s': shape[%d] is not a non-negative integer", path, name, k);
        shape[k++] = (int64_t)v;
        if (v == 0) has_zero = true;
    }
    uint64_t n_el = 1;
    for (int i = 0; i < ndim && !has_zero; ++i) {
        uint64_t v = (uint64_t)shape[i];
        if (n_el > (uint64_t)INT64_MAX / v)
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s': element count overflows", path, name);
        n_el *= v;
    }
    if (has_zero) n_el = 0;
    uint64_t begin, end;
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 || !json_uint(cJSON_GetArrayItem(jo, 0), &begin) ||
        !json_uint(cJSON_GetArrayItem(jo, 1), &end))
        return ribo_error_set(err, RIBO_ERR_MODEL,
                              "%s: tensor '%s': \"data_offsets\" must be [begin, end] of non-negative integers", path,
                              name);
    if (begin > end)
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s': data_offsets [%llu, %llu] has begin > end", path,
                              name, (unsigned long long)begin, (unsigned long long)end);
    if (end > data_size)
        return ribo_error_set(err, RIBO_ERR_MODEL,
                              "%s: tensor '%s': data_offsets [%llu, %llu] end past the data section (%llu bytes)",
                              path, name, (unsigned long long)begin, (unsigned long long)end,
                              (unsigned long long)data_size);
    size_t elsize = ribo_st_dtype_size(dtype);
    if (n_el > UINT64_MAX / elsize || n_el * elsize != end - begin) {
        char dims[RIBO_ST_MAX_DIMS * 22 + 3] = "[";
        for (int i = 0; i < ndim; ++i)
            snprintf(dims + strlen(dims), sizeof dims - strlen(dims), i ? ", %lld" : "%lld", (long long)shape[i]);
        strcat(dims, "]");
        return ribo_error_set(err, RIBO_ERR_MODEL,
                              "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but shape %s of %s needs "
                              "%llu",
                              path, name, (unsigned long long)begin, (unsigned long long)end,
                              (unsigned long long)(end - begin), dims, ribo_st_dtype_name(dtype),
                              (unsigned long long)(n_el * elsize));
    }
    ribo_ckpt_entry *e = ribo_ckpt_push(st, fi, name, err);
    if (!e) return RIBO_ERR_OUT_OF_MEMORY;
    e->t.dtype = dtype;
    e->t.dtype_name = ribo_st_dtype_name(dtype);
    e->t.ndim = ndim;
    memcpy(e->t.shape, shape, sizeof shape);
    e->t.n_elements = (int64_t)n_el;
    e->t.data = data + begin;
    e->t.nbytes = (size_t)(end - begin);
    e->begin = begin;
    e->end = end;
    return RIBO_OK;
}

/* qsort order of entry pointers by data_offsets begin, then end. */
static int cmp_by_begin(const void *a, const void *b) {
    const ribo_ckpt_entry *x = *(const ribo_ckpt_entry *const *)a, *y = *(const ribo_ckpt_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Checks that no two non-empty tensors of entries[first..] share bytes. */
static ribo_status check_overlaps(ribo_safetensors *st, size_t first, const char *path, ribo_error *err) {
    size_t total;
    ribo_ckpt_entry *entries = ribo_ckpt_entries(st, &total);
    size_t n = total - first;
    if (n < 2) return RIBO_OK;
    const ribo_ckpt_entry **v = malloc(n * sizeof *v);
    if (!v) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory checking offsets", path);
    size_t m = 0;
    for (size_t i = first; i < total; ++i)
        if (entries[i].end > entries[i].begin) v[m++] = &entries[i];
    qsort(v, m, sizeof *v, cmp_by_begin);
    ribo_status s = RIBO_OK;
    for (size_t i = 1; i < m; ++i) {
        if (v[i]->begin < v[i - 1]->end) {
            s = ribo_error_set(err, RIBO_ERR_MODEL,
                               "%s: tensor '%s': data_offsets [%llu, %llu] overlap tensor '%s' [%llu, %llu]", path,
                               v[i]->t.name, (unsigned long long)v[i]->begin, (unsigned long long)v[i]->end,
                               v[i - 1]->t.name, (unsigned long long)v[i - 1]->begin,
                               (unsigned long long)v[i - 1]->end);
            break;
        }
    }
    free(v);
    return s;
}

ribo_status ribo_st_load_file(ribo_safetensors *st, char *path, ribo_error *err) {
    size_t fi;
    RIBO_TRY(ribo_ckpt_add_file(st, path, &fi, err));
    const unsigned char *base;
    uint64_t file_size;
    RIBO_TRY(ribo_ckpt_map(st, fi, &base, &file_size, err));
    if (file_size < 8)
        return ribo_error_set(err, RIBO_ERR_MODEL,
                              "%s: file is %lld bytes, too short for a safetensors header (at least 8)", path,
                              (long long)file_size);
    uint64_t hlen = load_le64(base);
    uint64_t avail = file_size - 8;
    if (hlen > avail)
        return ribo_error_set(err, RIBO_ERR_MODEL,
                              "%s: header length %llu past end of file (%llu bytes after the 8-byte length): "
                              "truncated or not a safetensors file",
                              path, (unsigned long long)hlen, (unsigned long long)avail);
    if (hlen > ST_MAX_HEADER)
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: header length %llu exceeds the %llu-byte limit", path,
                              (unsigned long long)hlen, (unsigned long long)ST_MAX_HEADER);
    const char *hdr = (const char *)base + 8;
    const char *parse_end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, (size_t)hlen, &parse_end, 0);
    if (!root) {
        long long at = parse_end ? (long long)(parse_end - hdr) : 0;
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: header is not valid JSON (error near byte %lld of %llu)",
                              path, at, (unsigned long long)hlen);
    }
    ribo_status s = RIBO_OK;
    /* Only padding (spaces, NULs) may follow the JSON value. */
    for (const char *p = parse_end; p && p < hdr + hlen; ++p) {
        if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t' && *p != '\0') {
            s = ribo_error_set(err, RIBO_ERR_MODEL, "%s: unexpected bytes after the JSON header (at byte %lld)",
                               path, (long long)(p - hdr));
            break;
        }
    }
    if (s == RIBO_OK && !cJSON_IsObject(root))
        s = ribo_error_set(err, RIBO_ERR_MODEL, "%s: header is not a JSON object", path);
    size_t first;
    ribo_ckpt_entries(st, &first);
    const unsigned char *data = base + 8 + hlen;
    uint64_t data_size = avail - hlen;
    const cJSON *item;
    if (s == RIBO_OK) {
        cJSON_ArrayForEach(item, root) {
            if (item->string && strcmp(item->string, "__metadata__") == 0) continue;
            s = parse_entry(st, fi, item, data, data_size, err);
            if (s != RIBO_OK) break;
        }
    }
    cJSON_Delete(root);
    if (s == RIBO_OK) s = check_overlaps(st, first, path, err);
    return s;
}

ribo_status ribo_safetensors_open_file(const char *path, ribo_safetensors **out, ribo_error *err) {
    if (!path || !out) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "safetensors: NULL argument");
    *out = NULL;
    ribo_safetensors *st = ribo_ckpt_new();
    char *p = strdup(path);
    if (!st || !p) {
        free(st);
        free(p);
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    ribo_status s = ribo_st_load_file(st, p, err);
    if (s == RIBO_OK) s = ribo_ckpt_finish(st, err);
    if (s != RIBO_OK) {
        ribo_safetensors_close(st);
        return s;
    }
    *out = st;
    return RIBO_OK;
}
