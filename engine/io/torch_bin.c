/* PyTorch checkpoints (torch_bin.h): a file that starts with the legacy magic-number pickle is the
 * legacy format, anything else is read as a zip (found from its end records). The pickle gives the
 * tensors, the zip entries data/<key> or the legacy storage records give their bytes, and
 * torch_view.c checks and adds each tensor. */
#include "engine/io/torch_bin.h"

#include "engine/io/checkpoint.h"
#include "engine/io/torch_legacy.h"
#include "engine/io/torch_pickle.h"
#include "engine/io/torch_view.h"
#include "engine/io/torch_zip.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where one storage's bytes are (NULL base: not located yet). */
typedef struct storage_bytes {
    const unsigned char *base;
    uint64_t avail;
} storage_bytes;

/* Adds every tensor of the pickle whose storage was located; refuses one whose storage was not. */
static ribo_status add_tensors(ribo_safetensors *set, size_t index, const ribo_torch_pickle *pk,
                               const storage_bytes *where, ribo_error *err) {
    for (size_t i = 0; i < pk->n_tensors; ++i) {
        const ribo_torch_tensor *t = &pk->tensors[i];
        const ribo_torch_storage *s = &pk->storages[t->storage];
        if (!where[t->storage].base)
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s': the data of storage '%s' is missing",
                                  ribo_ckpt_file_path(set, index), t->name, s->key);
        RIBO_TRY(ribo_torch_add_view(set, index, t, s, where[t->storage].base, where[t->storage].avail, err));
    }
    return RIBO_OK;
}

/* ---------------------------------------------------------------- the zip format */

/* The one top-level "<folder>/data.pkl" entry; NULL (err set) when there is none or several. */
static const ribo_zip_entry *find_data_pkl(const ribo_zip *z, const char *path, ribo_error *err) {
    const ribo_zip_entry *found = NULL;
    static const char suffix[] = "/data.pkl";
    const size_t sl = sizeof suffix - 1;
    for (size_t i = 0; i < z->n; ++i) {
        const ribo_zip_entry *e = &z->entries[i];
        if (e->name_len <= sl || memcmp(e->name + e->name_len - sl, suffix, sl) != 0) continue;
        if (memchr(e->name, '/', e->name_len - sl) || memchr(e->name, '\0', e->name_len)) continue;
        if (found) {
            ribo_error_set(err, RIBO_ERR_MODEL, "%s: the zip archive holds more than one */data.pkl", path);
            return NULL;
        }
        found = e;
    }
    if (!found)
        ribo_error_set(err, RIBO_ERR_MODEL, "%s: zip archive without a <name>/data.pkl entry: not a PyTorch checkpoint",
                       path);
    return found;
}

/* The entry prefix + rest (prefix: "<folder>/"); NULL when absent or the name is too long. */
static const ribo_zip_entry *find_in(const ribo_zip *z, const char *prefix, size_t plen, const char *rest) {
    char name[512];
    size_t rl = strlen(rest);
    if (plen + rl >= sizeof name) return NULL;
    memcpy(name, prefix, plen);
    memcpy(name + plen, rest, rl + 1);
    return ribo_zip_find(z, name);
}

/* Refuses an entry the reader cannot map (compressed). */
static ribo_status check_stored(const ribo_zip_entry *e, const char *path, const char *tensor, ribo_error *err) {
    if (e->method == 0) return RIBO_OK;
    int nl = e->name_len > 200 ? 200 : (int)e->name_len;
    if (tensor)
        return ribo_error_set(err, RIBO_ERR_MODEL,
                              "%s: tensor '%s': zip entry '%.*s' is compressed (method %u); only stored entries can "
                              "be mapped: re-save it with torch.save",
                              path, tensor, nl, e->name, e->method);
    return ribo_error_set(err, RIBO_ERR_MODEL,
                          "%s: zip entry '%.*s' is compressed (method %u); only stored entries can be mapped: re-save "
                          "it with torch.save",
                          path, nl, e->name, e->method);
}

/* Locates data/<key> of every storage a tensor uses. */
static ribo_status locate_zip_storages(const ribo_zip *z, const unsigned char *buf, const char *path,
                                       const char *prefix, size_t plen, const ribo_torch_pickle *pk,
                                       storage_bytes *where, ribo_error *err) {
    for (size_t i = 0; i < pk->n_tensors; ++i) {
        size_t si = pk->tensors[i].storage;
        if (where[si].base) continue;
        char rest[128];
        snprintf(rest, sizeof rest, "data/%s", pk->storages[si].key);
        const ribo_zip_entry *e = find_in(z, prefix, plen, rest);
        if (!e)
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s': zip entry '%.*s%s' (its storage) is missing",
                                  path, pk->tensors[i].name, (int)plen, prefix, rest);
        RIBO_TRY(check_stored(e, path, pk->tensors[i].name, err));
        where[si].base = buf + e->data_offset;
        where[si].avail = e->size;
    }
    return RIBO_OK;
}

/* Reads a zip-format checkpoint. */
static ribo_status parse_zip(ribo_safetensors *set, size_t index, const unsigned char *buf, size_t len,
                             ribo_error *err) {
    const char *path = ribo_ckpt_file_path(set, index);
    ribo_zip z;
    RIBO_TRY(ribo_zip_read(buf, len, path, &z, err));
    ribo_torch_pickle pk = {0};
    storage_bytes *where = NULL;
    ribo_status s = RIBO_OK;
    const ribo_zip_entry *pkl = find_data_pkl(&z, path, err);
    if (!pkl) s = RIBO_ERR_MODEL;
    size_t plen = pkl ? pkl->name_len - (sizeof "data.pkl" - 1) : 0;
    const ribo_zip_entry *order = pkl ? find_in(&z, pkl->name, plen, "byteorder") : NULL;
    if (s == RIBO_OK) s = check_stored(pkl, path, NULL, err);
    if (s == RIBO_OK && order) s = check_stored(order, path, NULL, err);
    if (s == RIBO_OK && order && !(order->size == 6 && memcmp(buf + order->data_offset, "little", 6) == 0))
        s = ribo_error_set(err, RIBO_ERR_MODEL, "%s: only little-endian PyTorch checkpoints are supported", path);
    size_t used = 0;
    if (s == RIBO_OK) s = ribo_torch_pickle_read(buf + pkl->data_offset, (size_t)pkl->size, path, &pk, &used, err);
    if (s == RIBO_OK && pk.n_storages) {
        where = calloc(pk.n_storages, sizeof *where);
        if (!where) s = ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    if (s == RIBO_OK) s = locate_zip_storages(&z, buf, path, pkl->name, plen, &pk, where, err);
    if (s == RIBO_OK) s = add_tensors(set, index, &pk, where, err);
    free(where);
    ribo_torch_pickle_free(&pk);
    ribo_zip_free(&z);
    return s;
}

/* ---------------------------------------------------------------- the legacy format */

/* After the key list: per key, an int64 little-endian element count and the raw elements. */
static ribo_status locate_legacy_storages(const unsigned char *buf, size_t len, size_t at, const char *path,
                                          char **keys, size_t n_keys, const ribo_torch_pickle *pk,
                                          storage_bytes *where, ribo_error *err) {
    for (size_t k = 0; k < n_keys; ++k) {
        size_t si = 0;
        while (si < pk->n_storages && strcmp(pk->storages[si].key, keys[k]) != 0) ++si;
        if (si == pk->n_storages)
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: legacy storage '%s' is not named by any persistent id",
                                  path, keys[k]);
        const ribo_torch_storage *s = &pk->storages[si];
        if (len - at < 8)
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: storage '%s' is missing: truncated", path, s->key);
        uint64_t count = 0;
        for (int i = 7; i >= 0; --i) count = (count << 8) | buf[at + (size_t)i];
        at += 8;
        if (s->elsize == 0)
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: storage '%s': unsupported storage type '%s'", path, s->key,
                                  s->type_name);
        if (count != (uint64_t)s->numel || count > (len - at) / s->elsize)
            return ribo_error_set(err, RIBO_ERR_MODEL,
                                  "%s: storage '%s': %llu elements recorded (%lld declared) but %zu bytes left: "
                                  "truncated or corrupt",
                                  path, s->key, (unsigned long long)count, (long long)s->numel, len - at);
        if (where[si].base)
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: legacy storage '%s' is recorded twice", path, s->key);
        where[si].base = buf + at;
        where[si].avail = count * s->elsize;
        at += (size_t)where[si].avail;
    }
    return RIBO_OK;
}

/* Reads a legacy-format checkpoint: header pickles, the state_dict, the key list, the storages. */
static ribo_status parse_legacy(ribo_safetensors *set, size_t index, const unsigned char *buf, size_t len,
                                ribo_error *err) {
    const char *path = ribo_ckpt_file_path(set, index);
    size_t at = 0, n = 0, n_keys = 0;
    RIBO_TRY(ribo_torch_legacy_header(buf, len, path, &at, err));
    ribo_torch_pickle pk = {0};
    char **keys = NULL;
    storage_bytes *where = NULL;
    ribo_status s = ribo_torch_pickle_read(buf + at, len - at, path, &pk, &n, err);
    at += n;
    if (s == RIBO_OK) s = ribo_torch_legacy_keys(buf + at, len - at, path, &keys, &n_keys, &n, err);
    at += n;
    if (s == RIBO_OK && pk.n_storages) {
        where = calloc(pk.n_storages, sizeof *where);
        if (!where) s = ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    if (s == RIBO_OK) s = locate_legacy_storages(buf, len, at, path, keys, n_keys, &pk, where, err);
    if (s == RIBO_OK) s = add_tensors(set, index, &pk, where, err);
    for (size_t i = 0; i < n_keys; ++i) free(keys[i]);
    free(keys);
    free(where);
    ribo_torch_pickle_free(&pk);
    return s;
}

/* ---------------------------------------------------------------- entry points */

ribo_status ribo_torch_bin_parse(ribo_safetensors *set, size_t index, const unsigned char *buf, size_t len,
                                 ribo_error *err) {
    if (len >= 4 && memcmp(buf, "\x80\x02\x8a\x0a", 4) == 0) return parse_legacy(set, index, buf, len, err);
    return parse_zip(set, index, buf, len, err); /* a zip is found from its end records */
}

ribo_status ribo_torch_bin_load_file(ribo_safetensors *set, char *path, ribo_error *err) {
    size_t index;
    RIBO_TRY(ribo_ckpt_add_file(set, path, &index, err));
    const unsigned char *base;
    uint64_t size;
    RIBO_TRY(ribo_ckpt_map(set, index, &base, &size, err));
    return ribo_torch_bin_parse(set, index, base, (size_t)size, err);
}

/* Finishes a set or closes it on error. */
static ribo_status finish(ribo_safetensors *set, ribo_status s, ribo_safetensors **out, ribo_error *err) {
    if (s == RIBO_OK) s = ribo_ckpt_finish(set, err);
    if (s != RIBO_OK) {
        ribo_safetensors_close(set);
        return s;
    }
    *out = set;
    return RIBO_OK;
}

ribo_status ribo_torch_bin_open_file(const char *path, ribo_safetensors **out, ribo_error *err) {
    if (!path || !out) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "torch_bin: NULL argument");
    *out = NULL;
    ribo_safetensors *set = ribo_ckpt_new();
    char *p = strdup(path);
    if (!set || !p) {
        free(set);
        free(p);
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    return finish(set, ribo_torch_bin_load_file(set, p, err), out, err);
}

ribo_status ribo_torch_bin_open_buffer(const char *what, const unsigned char *buf, size_t len, ribo_safetensors **out,
                                       ribo_error *err) {
    if (!what || (!buf && len) || !out) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "torch_bin: NULL argument");
    *out = NULL;
    ribo_safetensors *set = ribo_ckpt_new();
    char *p = strdup(what);
    if (!set || !p) {
        free(set);
        free(p);
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
    }
    size_t index;
    ribo_status s = ribo_ckpt_add_file(set, p, &index, err);
    if (s == RIBO_OK) s = ribo_torch_bin_parse(set, index, buf, len, err);
    return finish(set, s, out, err);
}
