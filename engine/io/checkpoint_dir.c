/* A model directory's weights (ribo_safetensors_open_dir): model.safetensors, the shards of
 * model.safetensors.index.json, pytorch_model.bin or the shards of pytorch_model.bin.index.json, in
 * that order of preference; each file read by its format's reader into one tensor set. */
#include "engine/io/checkpoint.h"
#include "engine/io/torch_bin.h"

#include "engine/base/fileutil.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CKPT_MAX_INDEX ((size_t)64 * 1024 * 1024) /* cap on a *.index.json */

/* Reads one file of a format into the set (takes ownership of the path). */
typedef ribo_status (*ckpt_loader)(ribo_safetensors *set, char *path, ribo_error *err);

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

/* Base name of a path. */
static const char *base_name(const char *path) {
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* ---------------------------------------------------------------- sharded checkpoints */

/* Opens every shard the index names (each once, in order of first mention) with load. */
static ribo_status open_shards(ribo_safetensors *st, const char *dir, const char *index_path, const cJSON *wm,
                               ckpt_loader load, ribo_error *err) {
    const cJSON *item;
    cJSON_ArrayForEach(item, wm) {
        if (!cJSON_IsString(item))
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s': shard file name is not a string", index_path,
                                  item->string);
        const char *shard = item->valuestring;
        if (!shard[0] || strchr(shard, '/') || strchr(shard, '\\') || strstr(shard, ".."))
            return ribo_error_set(err, RIBO_ERR_MODEL,
                                  "%s: tensor '%s': shard name '%s' is not a plain file name in the model directory",
                                  index_path, item->string, shard);
        bool seen = false;
        for (size_t i = 0; i < ribo_ckpt_file_count(st) && !seen; ++i)
            seen = strcmp(base_name(ribo_ckpt_file_path(st, i)), shard) == 0;
        if (seen) continue;
        char *p = path_join(dir, shard);
        if (!p) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of memory");
        if (access(p, F_OK) != 0 && errno == ENOENT) {
            ribo_status s = ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s': shard file %s does not exist",
                                           index_path, item->string, p);
            free(p);
            return s;
        }
        RIBO_TRY(load(st, p, err));
    }
    return RIBO_OK;
}

/* Every tensor the index names must be in the shard it names. */
static ribo_status check_index(const ribo_safetensors *st, const char *index_path, const cJSON *wm, ribo_error *err) {
    const cJSON *item;
    cJSON_ArrayForEach(item, wm) {
        const ribo_st_tensor *t = ribo_safetensors_find(st, item->string);
        if (!t)
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s' is not in shard '%s'", index_path,
                                  item->string, item->valuestring);
        if (strcmp(base_name(t->file), item->valuestring) != 0)
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s' is listed in shard '%s' but found in '%s'",
                                  index_path, item->string, item->valuestring, base_name(t->file));
    }
    return RIBO_OK;
}

/* Reads an index ({"weight_map": name -> shard file}), opens its shards and checks them against it. */
static ribo_status open_sharded(ribo_safetensors *st, const char *dir, const char *index_path, ckpt_loader load,
                                ribo_error *err) {
    char *text = NULL;
    size_t len = 0;
    RIBO_TRY(ribo_read_small_file(index_path, CKPT_MAX_INDEX, &text, &len, err));
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root) return ribo_error_set(err, RIBO_ERR_MODEL, "%s: not valid JSON", index_path);
    ribo_status s = RIBO_OK;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(root) || !cJSON_IsObject(wm))
        s = ribo_error_set(err, RIBO_ERR_MODEL, "%s: no \"weight_map\" object", index_path);
    else if (!wm->child)
        s = ribo_error_set(err, RIBO_ERR_MODEL, "%s: \"weight_map\" is empty", index_path);
    if (s == RIBO_OK) s = open_shards(st, dir, index_path, wm, load, err);
    if (s == RIBO_OK) s = ribo_ckpt_finish(st, err);
    if (s == RIBO_OK) s = check_index(st, index_path, wm, err);
    cJSON_Delete(root);
    return s;
}

/* ---------------------------------------------------------------- the model directory */

/* One way a directory can hold its weights. */
typedef struct ckpt_layout {
    const char *name;
    bool sharded;
    ckpt_loader load;
} ckpt_layout;

static const ckpt_layout layouts[] = {
    {"model.safetensors", false, ribo_st_load_file},
    {"model.safetensors.index.json", true, ribo_st_load_file},
    {"pytorch_model.bin", false, ribo_torch_bin_load_file},
    {"pytorch_model.bin.index.json", true, ribo_torch_bin_load_file},
};

/* Reads the first layout present in dir into st; RIBO_ERR_MODEL when none is. */
static ribo_status open_layout(ribo_safetensors *st, const char *dir, ribo_error *err) {
    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; ++i) {
        char *p = path_join(dir, layouts[i].name);
        if (!p) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
        struct stat sb;
        if (stat(p, &sb) != 0) {
            free(p);
            continue;
        }
        if (!layouts[i].sharded) {
            RIBO_TRY(layouts[i].load(st, p, err)); /* p owned by st now */
            return ribo_ckpt_finish(st, err);
        }
        ribo_status s = open_sharded(st, dir, p, layouts[i].load, err);
        free(p);
        return s;
    }
    return ribo_error_set(err, RIBO_ERR_MODEL,
                          "%s: no weights found (looked for model.safetensors, model.safetensors.index.json, "
                          "pytorch_model.bin and pytorch_model.bin.index.json)",
                          dir);
}

ribo_status ribo_safetensors_open_dir(const char *model_dir, ribo_safetensors **out, ribo_error *err) {
    if (!model_dir || !out) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "safetensors: NULL argument");
    *out = NULL;
    struct stat sb;
    if (stat(model_dir, &sb) != 0)
        return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot open model directory: %s", model_dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return ribo_error_set(err, RIBO_ERR_IO, "%s: model path is not a directory", model_dir);
    ribo_safetensors *st = ribo_ckpt_new();
    if (!st) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory", model_dir);
    ribo_status s = open_layout(st, model_dir, err);
    if (s != RIBO_OK) {
        ribo_safetensors_close(st);
        return s;
    }
    *out = st;
    return RIBO_OK;
}
