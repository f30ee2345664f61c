/* safetensors reader: each file is mmap'd read-only, its JSON header parsed with cJSON and every
 * entry validated before any tensor is handed out. Sharded checkpoints are read through
 * model.safetensors.index.json. Tensors are kept sorted by name for bsearch lookup. */
#include "engine/io/safetensors.h"

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
#define ST_MAX_INDEX ((size_t)64 * 1024 * 1024)     /* cap on model.safetensors.index.json */
#define ST_MAX_JSON_INT 9007199254740992.0          /* 2^53: larger JSON numbers are not exact */

/* One mapped file. */
typedef struct st_file {
    char *path;
    void *map;
    size_t map_size;
} st_file;

/* A tensor plus the private bookkeeping the checks need. */
typedef struct st_entry {
    ribo_st_tensor t;     /* first member: &entry->t is what callers see */
    uint64_t begin, end;  /* data_offsets, relative to the data section */
    size_t file_index;
} st_entry;

struct ribo_safetensors {
    st_file *files;
    size_t n_files;
    st_entry *entries;    /* sorted by name once open succeeded */
    size_t n_entries, cap_entries;
};

typedef struct st_dtype_info {
    const char *name;
    ribo_st_dtype dtype;
    size_t size;
} st_dtype_info;

static const st_dtype_info st_dtypes[] = {
    {"F64", RIBO_ST_F64, 8}, {"F32", RIBO_ST_F32, 4}, {"F16", RIBO_ST_F16, 2},
    {"BF16", RIBO_ST_BF16, 2}, {"I64", RIBO_ST_I64, 8}, {"I32", RIBO_ST_I32, 4},
    {"I16", RIBO_ST_I16, 2}, {"I8", RIBO_ST_I8, 1}, {"U8", RIBO_ST_U8, 1},
    {"BOOL", RIBO_ST_BOOL, 1},
};

bool ribo_st_is_float(ribo_st_dtype dtype) {
    return dtype == RIBO_ST_F32 || dtype == RIBO_ST_F16 || dtype == RIBO_ST_BF16;
}

size_t ribo_st_dtype_size(ribo_st_dtype dtype) {
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; ++i)
        if (st_dtypes[i].dtype == dtype) return st_dtypes[i].size;
    return 0;
}

/* Looks a header dtype string up; NULL if unknown. */
static const st_dtype_info *dtype_lookup(const char *name) {
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; ++i)
        if (strcmp(st_dtypes[i].name, name) == 0) return &st_dtypes[i];
    return NULL;
}

/* malloc'd "dir/name" (no doubled slash); NULL when out of memory. */
static char *path_join(const char *dir, const char *name) {
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') --dl;
    size_t nl = strlen(name);
    char *p = malloc(dl + 1 + nl + 1);
    if (!p) return NULL;
    memcpy(p, dir, dl);
    p[dl] = '/';
    memcpy(p + dl + 1, name, nl + 1);
    return p;
}

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

/* Appends one zeroed entry slot; NULL when out of memory. */
static st_entry *push_entry(ribo_safetensors *st) {
    if (st->n_entries == st->cap_entries) {
        size_t cap = st->cap_entries ? st->cap_entries * 2 : 64;
        st_entry *e = realloc(st->entries, cap * sizeof *e);
        if (!e) return NULL;
        st->entries = e;
        st->cap_entries = cap;
    }
    st_entry *e = &st->entries[st->n_entries++];
    memset(e, 0, sizeof *e);
    return e;
}

/* Validates one header entry (name -> {dtype, shape, data_offsets}) and appends it. */
static ribo_status parse_entry(ribo_safetensors *st, size_t fi, const cJSON *item, const unsigned char *data,
                               uint64_t data_size, ribo_error *err) {
    const char *path = st->files[fi].path;
    const char *name = item->string;
    if (!cJSON_IsObject(item))
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s': header entry is not a JSON object", path, name);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(jd))
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s': missing or non-string \"dtype\"", path, name);
    const st_dtype_info *di = dtype_lookup(jd->valuestring);
    if (!di)
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
    if (n_el > UINT64_MAX / di->size || n_el * di->size != end - begin) {
        char dims[RIBO_ST_MAX_DIMS * 22 + 3] = "[";
        for (int i = 0; i < ndim; ++i)
            snprintf(dims + strlen(dims), sizeof dims - strlen(dims), i ? ", %lld" : "%lld", (long long)shape[i]);
        strcat(dims, "]");
        return ribo_error_set(err, RIBO_ERR_MODEL,
                              "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but shape %s of %s needs "
                              "%llu",
                              path, name, (unsigned long long)begin, (unsigned long long)end,
                              (unsigned long long)(end - begin), dims, di->name,
                              (unsigned long long)(n_el * di->size));
    }
    st_entry *e = push_entry(st);
    if (!e) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory reading the header", path);
    char *nm = strdup(name);
    if (!nm) {
        --st->n_entries;
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory reading the header", path);
    }
    e->t.name = nm;
    e->t.dtype = di->dtype;
    e->t.dtype_name = di->name;
    e->t.ndim = ndim;
    memcpy(e->t.shape, shape, sizeof shape);
    e->t.n_elements = (int64_t)n_el;
    e->t.data = data + begin;
    e->t.nbytes = (size_t)(end - begin);
    e->t.file = path;
    e->begin = begin;
    e->end = end;
    e->file_index = fi;
    return RIBO_OK;
}

/* qsort order of entry pointers by data_offsets begin, then end. */
static int cmp_by_begin(const void *a, const void *b) {
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Checks that no two non-empty tensors of entries[first..] share bytes. */
static ribo_status check_overlaps(ribo_safetensors *st, size_t first, const char *path, ribo_error *err) {
    size_t n = st->n_entries - first;
    if (n < 2) return RIBO_OK;
    const st_entry **v = malloc(n * sizeof *v);
    if (!v) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory checking offsets", path);
    size_t m = 0;
    for (size_t i = first; i < st->n_entries; ++i)
        if (st->entries[i].end > st->entries[i].begin) v[m++] = &st->entries[i];
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

/* Maps one file (appended to st->files; takes ownership of path) and validates its header. For a
 * shard, index_path/tensor name the index entry that points at it (used when the file is missing). */
static ribo_status load_file(ribo_safetensors *st, char *path, const char *index_path, const char *tensor,
                             ribo_error *err) {
    st_file *files = realloc(st->files, (st->n_files + 1) * sizeof *files);
    if (!files) {
        free(path);
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of memory opening weights");
    }
    st->files = files;
    size_t fi = st->n_files++;
    st_file *f = &st->files[fi];
    f->path = path;
    f->map = NULL;
    f->map_size = 0;

    if (index_path && access(path, F_OK) != 0 && errno == ENOENT)
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s': shard file %s does not exist", index_path, tensor,
                              path);
    int fd;
    uint64_t file_size;
    RIBO_TRY(ribo_open_regular_file(path, &fd, &file_size, err));
    if (file_size < 8) {
        close(fd);
        return ribo_error_set(err, RIBO_ERR_MODEL,
                              "%s: file is %lld bytes, too short for a safetensors header (at least 8)", path,
                              (long long)file_size);
    }
    if (file_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return ribo_error_set(err, RIBO_ERR_IO, "%s: file too large to map", path);
    }
    void *map = mmap(NULL, (size_t)file_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED)
        return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot mmap %lld bytes: %s", path, (long long)file_size,
                              strerror(map_errno));
    f->map = map;
    f->map_size = (size_t)file_size;

    const unsigned char *base = map;
    uint64_t hlen = load_le64(base);
    uint64_t avail = (uint64_t)f->map_size - 8;
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
    size_t first = st->n_entries;
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

/* qsort/bsearch order of entries by name. */
static int cmp_by_name(const void *a, const void *b) {
    return strcmp(((const st_entry *)a)->t.name, ((const st_entry *)b)->t.name);
}

/* Sorts entries by name and rejects duplicate names (also across shards). */
static ribo_status sort_names(ribo_safetensors *st, ribo_error *err) {
    if (st->n_entries > 1) qsort(st->entries, st->n_entries, sizeof *st->entries, cmp_by_name);
    for (size_t i = 1; i < st->n_entries; ++i) {
        const st_entry *a = &st->entries[i - 1], *b = &st->entries[i];
        if (strcmp(a->t.name, b->t.name) == 0) {
            if (a->file_index == b->file_index)
                return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s' appears twice in the header", a->t.file,
                                      a->t.name);
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s' is also in %s", b->t.file, b->t.name,
                                  a->t.file);
        }
    }
    return RIBO_OK;
}

/* Allocates an empty reader. */
static ribo_safetensors *st_new(void) {
    return calloc(1, sizeof(ribo_safetensors));
}

ribo_status ribo_safetensors_open_file(const char *path, ribo_safetensors **out, ribo_error *err) {
    if (!path || !out) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "safetensors: NULL argument");
    *out = NULL;
    ribo_safetensors *st = st_new();
    char *p = strdup(path);
    if (!st || !p) {
        free(st);
        free(p);
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    ribo_status s = load_file(st, p, NULL, NULL, err);
    if (s == RIBO_OK) s = sort_names(st, err);
    if (s != RIBO_OK) {
        ribo_safetensors_close(st);
        return s;
    }
    *out = st;
    return RIBO_OK;
}

/* Opens every shard the index names (each once) and checks the index against the shards. */
static ribo_status open_sharded(ribo_safetensors *st, const char *dir, const char *index_path, ribo_error *err) {
    char *text = NULL;
    size_t len = 0;
    RIBO_TRY(ribo_read_small_file(index_path, ST_MAX_INDEX, &text, &len, err));
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root) return ribo_error_set(err, RIBO_ERR_MODEL, "%s: not valid JSON", index_path);
    ribo_status s = RIBO_OK;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    const cJSON *item;
    if (!cJSON_IsObject(root) || !cJSON_IsObject(wm)) {
        s = ribo_error_set(err, RIBO_ERR_MODEL, "%s: no \"weight_map\" object", index_path);
        goto done;
    }
    if (!wm->child) {
        s = ribo_error_set(err, RIBO_ERR_MODEL, "%s: \"weight_map\" is empty", index_path);
        goto done;
    }
    /* Validate names, open each distinct shard once (in order of first mention). */
    cJSON_ArrayForEach(item, wm) {
        if (!cJSON_IsString(item)) {
            s = ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s': shard file name is not a string", index_path,
                               item->string);
            goto done;
        }
        const char *shard = item->valuestring;
        if (!shard[0] || strchr(shard, '/') || strchr(shard, '\\') || strstr(shard, "..")) {
            s = ribo_error_set(err, RIBO_ERR_MODEL,
                               "%s: tensor '%s': shard name '%s' is not a plain file name in the model directory",
                               index_path, item->string, shard);
            goto done;
        }
        bool seen = false;
        for (size_t i = 0; i < st->n_files && !seen; ++i) {
            const char *base = strrchr(st->files[i].path, '/');
            seen = strcmp(base ? base + 1 : st->files[i].path, shard) == 0;
        }
        if (seen) continue;
        char *p = path_join(dir, shard);
        if (!p) {
            s = ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of memory");
            goto done;
        }
        s = load_file(st, p, index_path, item->string, err);
        if (s != RIBO_OK) goto done;
    }
    s = sort_names(st, err);
    if (s != RIBO_OK) goto done;
    /* Every tensor the index names must be in the shard it names. */
    cJSON_ArrayForEach(item, wm) {
        const ribo_st_tensor *t = ribo_safetensors_find(st, item->string);
        const char *base = t ? strrchr(t->file, '/') : NULL;
        base = base ? base + 1 : (t ? t->file : NULL);
        if (!t) {
            s = ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s' is not in shard '%s'", index_path, item->string,
                               item->valuestring);
            goto done;
        }
        if (strcmp(base, item->valuestring) != 0) {
            s = ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s' is listed in shard '%s' but found in '%s'",
                               index_path, item->string, item->valuestring, base);
            goto done;
        }
    }
done:
    cJSON_Delete(root);
    return s;
}

ribo_status ribo_safetensors_open_dir(const char *model_dir, ribo_safetensors **out, ribo_error *err) {
    if (!model_dir || !out) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "safetensors: NULL argument");
    *out = NULL;
    struct stat sb;
    if (stat(model_dir, &sb) != 0)
        return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot open model directory: %s", model_dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return ribo_error_set(err, RIBO_ERR_IO, "%s: model path is not a directory", model_dir);
    char *single = path_join(model_dir, "model.safetensors");
    char *index = path_join(model_dir, "model.safetensors.index.json");
    ribo_safetensors *st = st_new();
    ribo_status s = RIBO_OK;
    if (!single || !index || !st) {
        s = ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory", model_dir);
    } else if (stat(single, &sb) == 0) {
        s = load_file(st, single, NULL, NULL, err);
        single = NULL; /* owned by st now */
        if (s == RIBO_OK) s = sort_names(st, err);
    } else if (stat(index, &sb) == 0) {
        s = open_sharded(st, model_dir, index, err);
    } else {
        char *bin = path_join(model_dir, "pytorch_model.bin");
        bool has_bin = bin && stat(bin, &sb) == 0;
        free(bin);
        s = ribo_error_set(err, RIBO_ERR_MODEL,
                           "%s: no weights found (looked for model.safetensors and "
                           "model.safetensors.index.json)%s",
                           model_dir, has_bin ? "; pytorch_model.bin is not supported, convert it to safetensors" : "");
    }
    free(single);
    free(index);
    if (s != RIBO_OK) {
        ribo_safetensors_close(st);
        return s;
    }
    *out = st;
    return RIBO_OK;
}

size_t ribo_safetensors_count(const ribo_safetensors *st) {
    return st ? st->n_entries : 0;
}

const ribo_st_tensor *ribo_safetensors_at(const ribo_safetensors *st, size_t i) {
    return (st && i < st->n_entries) ? &st->entries[i].t : NULL;
}

const ribo_st_tensor *ribo_safetensors_find(const ribo_safetensors *st, const char *name) {
    if (!st || !name || !st->n_entries) return NULL;
    st_entry key;
    memset(&key, 0, sizeof key);
    key.t.name = name;
    const st_entry *e = bsearch(&key, st->entries, st->n_entries, sizeof *st->entries, cmp_by_name);
    return e ? &e->t : NULL;
}

bool ribo_safetensors_any_name_contains(const ribo_safetensors *st, const char *needle) {
    for (size_t i = 0; i < ribo_safetensors_count(st); ++i)
        if (strstr(st->entries[i].t.name, needle)) return true;
    return false;
}

/* Exact IEEE half -> single conversion (subnormals, signed zero, inf and NaN payloads kept). */
static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            uint32_t e = 113; /* 127 - 15 + 1 */
            while (!(mant & 0x400u)) {
                mant <<= 1;
                --e;
            }
            bits = sign | (e << 23) | ((mant & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

ribo_status ribo_st_to_f32(const ribo_st_tensor *t, float *dst, ribo_error *err) {
    if (!t || (!dst && t->n_elements > 0))
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "ribo_st_to_f32: NULL argument");
    const unsigned char *p = t->data;
    size_t n = (size_t)t->n_elements;
    switch (t->dtype) {
    case RIBO_ST_F32:
        for (size_t i = 0; i < n; ++i, p += 4) {
            uint32_t b = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
            memcpy(&dst[i], &b, sizeof b);
        }
        return RIBO_OK;
    case RIBO_ST_F16:
        for (size_t i = 0; i < n; ++i, p += 2) dst[i] = f16_to_f32((uint16_t)(p[0] | p[1] << 8));
        return RIBO_OK;
    case RIBO_ST_BF16:
        for (size_t i = 0; i < n; ++i, p += 2) {
            uint32_t b = ((uint32_t)p[0] | (uint32_t)p[1] << 8) << 16;
            memcpy(&dst[i], &b, sizeof b);
        }
        return RIBO_OK;
    default:
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s': dtype %s cannot be converted to float32",
                              t->file ? t->file : "?", t->name ? t->name : "?",
                              t->dtype_name ? t->dtype_name : "?");
    }
}

void ribo_safetensors_close(ribo_safetensors *st) {
    if (!st) return;
    for (size_t i = 0; i < st->n_entries; ++i) free((char *)st->entries[i].t.name);
    for (size_t i = 0; i < st->n_files; ++i) {
        if (st->files[i].map) munmap(st->files[i].map, st->files[i].map_size);
        free(st->files[i].path);
    }
    free(st->entries);
    free(st->files);
    free(st);
}
