/* A graph's weights bound to the checkpoint: every weight found under an accepted name, with a float
 * dtype and the shape config.json implies (checked without a device), then uploaded once, converted to
 * the device's storage type, with NaN/inf refused naming the tensor. */
#include "engine/graph/weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Replaces a trailing ".weight"/".bias" by ".gamma"/".beta" (LayerNorm naming of transformers 5). */
static bool norm_alias(const char *name, char *out, size_t cap) {
    size_t n = strlen(name);
    if (n > 7 && strcmp(name + n - 7, ".weight") == 0) {
        snprintf(out, cap, "%.*s.gamma", (int)(n - 7), name);
        return true;
    }
    if (n > 5 && strcmp(name + n - 5, ".bias") == 0) {
        snprintf(out, cap, "%.*s.beta", (int)(n - 5), name);
        return true;
    }
    return false;
}

/* Finds a checkpoint tensor for a graph source name under every accepted prefix and alias. */
static const ribo_st_tensor *resolve_source(const ribo_graph *g, const ribo_safetensors *st, const char *source,
                                            bool is_norm) {
    char alias[160], full[200];
    bool has_alias = is_norm && norm_alias(source, alias, sizeof alias);
    int n_prefixes = g->n_prefixes ? g->n_prefixes : 1;
    for (int p = 0; p < n_prefixes; ++p) {
        const char *prefix = g->n_prefixes ? g->prefixes[p] : "";
        snprintf(full, sizeof full, "%s%s", prefix, source);
        const ribo_st_tensor *t = ribo_safetensors_find(st, full);
        if (t) return t;
        if (has_alias) {
            snprintf(full, sizeof full, "%s%s", prefix, alias);
            t = ribo_safetensors_find(st, full);
            if (t) return t;
        }
    }
    return NULL;
}

/* Formats a shape as "[a, b]". */
static void shape_str(const int64_t *shape, int ndim, char *out, size_t cap) {
    size_t k = (size_t)snprintf(out, cap, "[");
    for (int d = 0; d < ndim && k < cap; ++d) k += (size_t)snprintf(out + k, cap - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (k < cap) snprintf(out + k, cap - k, "]");
}

/* Checks one source tensor exists with a float dtype and the expected shape. */
static ribo_status check_source(const ribo_graph *g, const ribo_safetensors *st, const ribo_gtensor *w, int s,
                                const char *origin, const ribo_st_tensor **found, ribo_error *err) {
    const char *source = w->sources[s];
    const ribo_st_tensor *t = resolve_source(g, st, source, w->is_norm);
    if (!t) {
        char tried[256] = "";
        if (g->n_prefixes > 1) snprintf(tried, sizeof tried, " (also looked for it with prefix '%s'%s)", g->prefixes[1],
                                        w->is_norm ? " and as gamma/beta" : "");
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s%smodel weights: tensor '%s' not found%s", origin ? origin : "",
                              origin ? ": " : "", source, tried);
    }
    if (!ribo_st_is_float(t->dtype))
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s' has dtype %s; expected F32, F16 or BF16", t->file,
                              t->name, t->dtype_name);
    int64_t rows = w->shape[0] / w->n_sources;
    int64_t want[2] = {rows, w->shape[1]};
    int want_ndim = w->ndim;
    bool ok = t->ndim == want_ndim && t->shape[0] == want[0] && (want_ndim == 1 || t->shape[1] == want[1]);
    if (!ok) {
        char got_s[96], want_s[96];
        shape_str(t->shape, t->ndim, got_s, sizeof got_s);
        shape_str(want, want_ndim, want_s, sizeof want_s);
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s' has shape %s but config.json implies %s", t->file,
                              t->name, got_s, want_s);
    }
    *found = t;
    return RIBO_OK;
}

ribo_status ribo_weights_check(ribo_graph *g, const ribo_safetensors *st, const char *origin,
                               ribo_error *err) {
    g->resolved_from = NULL;
    for (int i = 0; i < g->n_tensors; ++i) {
        ribo_gtensor *w = &g->tensors[i];
        if (w->role != RIBO_TENSOR_WEIGHT) continue;
        for (int s = 0; s < w->n_sources; ++s) RIBO_TRY(check_source(g, st, w, s, origin, &w->resolved[s], err));
    }
    g->resolved_from = st;
    return RIBO_OK;
}

/* True when a checkpoint dtype is bit-for-bit the device storage type (upload without converting). */
static bool same_storage(ribo_st_dtype d, ribo_storage s) {
    return (d == RIBO_ST_F32 && s == RIBO_STORAGE_F32) || (d == RIBO_ST_F16 && s == RIBO_STORAGE_F16) ||
           (d == RIBO_ST_BF16 && s == RIBO_STORAGE_BF16);
}

/* Index of the first NaN/inf among n raw F32/F16/BF16 values (all-ones exponent), or -1. */
static int64_t first_non_finite(const void *data, ribo_st_dtype d, size_t n) {
    /* data points into the mapped checkpoint at 8 + header length + offset, which the format does
     * not align: each element is read with memcpy (a plain load on x86/ARM, no undefined behaviour) */
    const unsigned char *p = data;
    if (d == RIBO_ST_F32) {
        for (size_t i = 0; i < n; ++i) {
            uint32_t v;
            memcpy(&v, p + 4 * i, sizeof v);
            if ((v & 0x7f800000u) == 0x7f800000u) return (int64_t)i;
        }
        return -1;
    }
    uint16_t exp_mask = d == RIBO_ST_F16 ? 0x7c00u : 0x7f80u;
    for (size_t i = 0; i < n; ++i) {
        uint16_t v;
        memcpy(&v, p + 2 * i, sizeof v);
        if ((v & exp_mask) == exp_mask) return (int64_t)i;
    }
    return -1;
}

/* Uploads one graph weight whose sources are all stored in the device's type: raw bytes straight from
 * the mapped checkpoint (no conversion, no staging), after a finiteness check. The mapping stays
 * valid until the final synchronize in upload_weights. */
static ribo_status upload_weight_raw(ribo_storage storage, ribo_stream *stream, const ribo_gtensor *w, ribo_error *err) {
    size_t per_source = (size_t)(w->shape[0] / w->n_sources) * (size_t)w->shape[1];
    size_t el = storage == RIBO_STORAGE_F32 ? 4 : 2;
    for (int s = 0; s < w->n_sources; ++s) {
        const ribo_st_tensor *t = w->resolved[s];
        int64_t bad = first_non_finite(t->data, t->dtype, per_source);
        if (bad >= 0)
            return ribo_error_set(err, RIBO_ERR_MODEL, "model weights: tensor '%s' holds a non-finite value (element %lld)",
                                  w->sources[s], (long long)bad);
        RIBO_TRY(ribo_stream_copy_h2d(stream, ribo_dptr_at(w->dev, (size_t)s * per_source * el), t->data,
                                         per_source * el, err));
    }
    return RIBO_OK;
}

/* Converts one graph weight (its checked sources) to fp32 on the host and uploads it (converting to
 * the storage type); synchronizes because the host buffer is reused. */
static ribo_status upload_weight(ribo_device *dev, ribo_storage storage, ribo_stream *stream, const ribo_gtensor *w,
                                 float *host, ribo_dbuf *staging, ribo_error *err) {
    bool raw = true;
    for (int s = 0; s < w->n_sources; ++s) raw = raw && same_storage(w->resolved[s]->dtype, storage);
    if (raw) return upload_weight_raw(storage, stream, w, err);
    size_t per_source = (size_t)(w->shape[0] / w->n_sources) * (size_t)w->shape[1];
    for (int s = 0; s < w->n_sources; ++s) RIBO_TRY(ribo_st_to_f32(w->resolved[s], host + (size_t)s * per_source, err));
    size_t count = per_source * (size_t)w->n_sources;
    for (size_t i = 0; i < count; ++i)
        if (host[i] != host[i] || host[i] - host[i] != 0.0f)
            return ribo_error_set(err, RIBO_ERR_MODEL, "model weights: tensor '%s' holds a non-finite value (element %zu)",
                                  w->sources[i / per_source], i % per_source);
    if (storage == RIBO_STORAGE_F32)
        RIBO_TRY(ribo_stream_copy_h2d(stream, w->dev, host, count * 4, err));
    else {
        ribo_dptr tmp = {staging, 0};
        RIBO_TRY(ribo_stream_copy_h2d(stream, tmp, host, count * 4, err));
        RIBO_TRY(ribo_kernel_convert_from_f32(stream, w->dev, tmp, count, err));
    }
    return ribo_stream_synchronize(stream, err);
}

ribo_status ribo_weights_upload(ribo_device *dev, ribo_stream *stream, const ribo_graph *g, ribo_storage storage,
                                ribo_error *err) {
    size_t largest = 0;
    for (int i = 0; i < g->n_tensors; ++i) {
        const ribo_gtensor *w = &g->tensors[i];
        if (w->role == RIBO_TENSOR_WEIGHT && (size_t)(w->shape[0] * w->shape[1]) > largest)
            largest = (size_t)(w->shape[0] * w->shape[1]);
    }
    float *host = malloc(largest * sizeof *host);
    if (!host) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "executor: cannot allocate %zu bytes to convert weights", largest * 4);
    ribo_dbuf *staging = NULL;
    ribo_status s = RIBO_OK;
    if (storage != RIBO_STORAGE_F32)
        s = ribo_buffer_alloc(dev, largest * 4, "weight staging", &staging, err);
    for (int i = 0; s == RIBO_OK && i < g->n_tensors; ++i) {
        const ribo_gtensor *t = &g->tensors[i];
        if (t->role == RIBO_TENSOR_WEIGHT) s = upload_weight(dev, storage, stream, t, host, staging, err);
        else if (t->role == RIBO_TENSOR_CONSTANT) {
            s = ribo_stream_copy_h2d(stream, t->dev, t->const_data, (size_t)t->shape[0] * 4, err);
            if (s == RIBO_OK) s = ribo_stream_synchronize(stream, err);
        }
    }
    if (s == RIBO_OK) s = ribo_stream_synchronize(stream, err); /* raw uploads read the mapping until here */
    if (staging) ribo_buffer_free(dev, staging);
    free(host);
    return s;
}

