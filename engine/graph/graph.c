#include "engine/graph/graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ribo_graph_init(ribo_graph *g) {
    memset(g, 0, sizeof *g);
    g->output = -1;
    for (int i = 0; i < RIBO_INPUT_COUNT; ++i) g->inputs[i] = -1;
}

void ribo_graph_free(ribo_graph *g) {
    for (int i = 0; i < g->n_tensors; ++i) free(g->tensors[i].const_data);
    free(g->tensors);
    free(g->ops);
    ribo_graph_init(g);
}

/* Appends a zeroed tensor with a name; returns its index or -1. */
static int add_tensor(ribo_graph *g, const char *name, ribo_tensor_role role, ribo_error *err) {
    if (g->n_tensors == g->cap_tensors) {
        int cap = g->cap_tensors ? 2 * g->cap_tensors : 64;
        ribo_gtensor *t = realloc(g->tensors, (size_t)cap * sizeof *t);
        if (!t) {
            ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "graph: out of host memory adding tensor '%s'", name);
            return -1;
        }
        g->tensors = t;
        g->cap_tensors = cap;
    }
    ribo_gtensor *t = &g->tensors[g->n_tensors];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->role = role;
    t->first_use = t->last_use = -1;
    return g->n_tensors++;
}

int ribo_graph_weight(ribo_graph *g, const char *name, int64_t rows, int64_t cols, ribo_error *err) {
    int i = add_tensor(g, name, RIBO_TENSOR_WEIGHT, err);
    if (i < 0) return -1;
    ribo_gtensor *t = &g->tensors[i];
    t->ndim = cols > 0 ? 2 : 1;
    t->shape[0] = rows;
    t->shape[1] = cols > 0 ? cols : 1;
    t->n_sources = 1;
    snprintf(t->sources[0], sizeof t->sources[0], "%s", name);
    return i;
}

int ribo_graph_weight_concat(ribo_graph *g, const char *name, const char *const *sources, int n_sources,
                             int64_t rows_each, int64_t cols, ribo_error *err) {
    if (n_sources < 1 || n_sources > RIBO_MAX_WEIGHT_SOURCES) {
        ribo_error_set(err, RIBO_ERR_INTERNAL, "graph: weight '%s' has %d sources", name, n_sources);
        return -1;
    }
    int i = add_tensor(g, name, RIBO_TENSOR_WEIGHT, err);
    if (i < 0) return -1;
    ribo_gtensor *t = &g->tensors[i];
    t->ndim = cols > 0 ? 2 : 1;
    t->shape[0] = rows_each * n_sources;
    t->shape[1] = cols > 0 ? cols : 1;
    t->n_sources = n_sources;
    for (int s = 0; s < n_sources; ++s) snprintf(t->sources[s], sizeof t->sources[s], "%s", sources[s]);
    return i;
}

int ribo_graph_norm_param(ribo_graph *g, const char *name, int64_t width, ribo_error *err) {
    int i = ribo_graph_weight(g, name, width, 0, err);
    if (i >= 0) g->tensors[i].is_norm = true;
    return i;
}

int ribo_graph_input(ribo_graph *g, ribo_input_kind kind, ribo_error *err) {
    static const char *const names[RIBO_INPUT_COUNT] = {"tokens", "positions", "seq_of_token", "cu_seqlens",
                                                        "seq_scale"};
    if (g->inputs[kind] >= 0) return g->inputs[kind];
    int i = add_tensor(g, names[kind], RIBO_TENSOR_INPUT, err);
    if (i < 0) return -1;
    g->tensors[i].input = kind;
    g->tensors[i].width = 1;
    g->inputs[kind] = i;
    return i;
}

int ribo_graph_constant(ribo_graph *g, const char *name, const float *values, int n, ribo_error *err) {
    float *copy = malloc((size_t)(n > 0 ? n : 1) * sizeof *copy);
    if (!copy) {
        ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "graph: out of host memory for constant '%s'", name);
        return -1;
    }
    memcpy(copy, values, (size_t)n * sizeof *copy);
    int i = add_tensor(g, name, RIBO_TENSOR_CONSTANT, err);
    if (i < 0) {
        free(copy);
        return -1;
    }
    ribo_gtensor *t = &g->tensors[i];
    t->ndim = 1;
    t->shape[0] = n;
    t->shape[1] = 1;
    t->const_data = copy;
    return i;
}

int ribo_graph_activation(ribo_graph *g, const char *name, int width, ribo_error *err) {
    int i = add_tensor(g, name, RIBO_TENSOR_ACTIVATION, err);
    if (i >= 0) g->tensors[i].width = width;
    return i;
}

int ribo_graph_set_output(ribo_graph *g, int width, ribo_error *err) {
    int i = add_tensor(g, "output", RIBO_TENSOR_OUTPUT, err);
    if (i < 0) return -1;
    g->tensors[i].width = width;
    g->output = i;
    g->output_width = width;
    return i;
}

ribo_gop ribo_gop_make(ribo_op_kind kind, const char *label) {
    ribo_gop op;
    memset(&op, 0, sizeof op);
    op.kind = kind;
    snprintf(op.label, sizeof op.label, "%s", label);
    for (int i = 0; i < RIBO_OP_MAX_INPUTS; ++i) op.in[i] = -1;
    op.out = -1;
    op.mask_id = -1;
    return op;
}

int ribo_graph_add_op(ribo_graph *g, const ribo_gop *op, ribo_error *err) {
    if (g->n_ops == g->cap_ops) {
        int cap = g->cap_ops ? 2 * g->cap_ops : 64;
        ribo_gop *o = realloc(g->ops, (size_t)cap * sizeof *o);
        if (!o) {
            ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "graph: out of host memory adding op '%s'", op->label);
            return -1;
        }
        g->ops = o;
        g->cap_ops = cap;
    }
    g->ops[g->n_ops] = *op;
    return g->n_ops++;
}

uint64_t ribo_graph_parameter_count(const ribo_graph *g) {
    uint64_t n = 0;
    for (int i = 0; i < g->n_tensors; ++i)
        if (g->tensors[i].role == RIBO_TENSOR_WEIGHT)
            n += (uint64_t)g->tensors[i].shape[0] * (uint64_t)g->tensors[i].shape[1];
    return n;
}

ribo_status ribo_graph_set_pool(ribo_graph *g, ribo_pool pool, ribo_error *err) {
    if (pool == RIBO_POOL_DEFAULT) return ribo_error_set(err, RIBO_ERR_INTERNAL, "graph: pooling not resolved");
    for (int o = 0; o < g->n_ops; ++o) {
        if (g->ops[o].kind != RIBO_OP_POOL) continue;
        g->ops[o].pool_mode = pool == RIBO_POOL_CLS    ? RIBO_POOL_MODE_FIRST
                            : pool == RIBO_POOL_NONE ? RIBO_POOL_MODE_COPY
                                                     : RIBO_POOL_MODE_MEAN;
        g->output_per_token = pool == RIBO_POOL_NONE;
        return RIBO_OK;
    }
    return ribo_error_set(err, RIBO_ERR_INTERNAL, "graph: no pool op");
}
