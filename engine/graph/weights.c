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
