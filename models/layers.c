/* Graph-building blocks shared by the model families (see layers.h). */
#include "models/layers.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

int ribo_emit(ribo_graph *g, const ribo_gop *op, ribo_error *err) {
    return ribo_graph_add_op(g, op, err) < 0 ? -1 : op->out;
}

int ribo_embed_node(ribo_graph *g, const char *label, int tokens, int seq_of_token, int seq_scale, int table, int add_row,
                    int mask_id, ribo_error *err) {
    if (tokens < 0 || seq_of_token < 0 || seq_scale < 0 || table < 0) return -1;
    int out = ribo_graph_activation(g, label, (int)g->tensors[table].shape[1], err);
    if (out < 0) return -1;
    ribo_gop op = ribo_gop_make(RIBO_OP_EMBED, label);
    op.in[0] = tokens;
    op.in[1] = seq_of_token;
    op.in[2] = seq_scale;
    op.in[3] = table;
    op.in[4] = add_row;
    op.out = out;
    op.mask_id = mask_id;
    return ribo_emit(g, &op, err);
}

int ribo_layer_norm_node(ribo_graph *g, int x, const char *prefix, int width, float eps, ribo_error *err) {
    char name[128];
    snprintf(name, sizeof name, "%s.weight", prefix);
    int gamma = ribo_graph_norm_param(g, name, width, err);
    snprintf(name, sizeof name, "%s.bias", prefix);
    int beta = ribo_graph_norm_param(g, name, width, err);
    int out = x < 0 ? -1 : ribo_graph_activation(g, prefix, width, err);
    if (x < 0 || gamma < 0 || beta < 0 || out < 0) return -1;
    ribo_gop op = ribo_gop_make(RIBO_OP_LAYER_NORM, prefix);
    op.in[0] = x;
    op.in[1] = gamma;
    op.in[2] = beta;
    op.out = out;
    op.eps = eps;
    return ribo_emit(g, &op, err);
}

int ribo_attention_node(ribo_graph *g, const char *name, int qkv, int cu, int sot, int n_heads, int head_dim, float scale,
                        int alibi_slopes, const ribo_rotary_params *rotary, ribo_error *err) {
    if (qkv < 0 || cu < 0 || sot < 0 || (rotary && rotary->positions < 0)) return -1;
    int ctx = ribo_graph_activation(g, name, n_heads * head_dim, err);
    if (ctx < 0) return -1;
    ribo_gop op = ribo_gop_make(RIBO_OP_ATTENTION, name);
    op.in[0] = qkv;
    op.in[1] = cu;
    op.in[2] = sot;
    op.in[3] = alibi_slopes;
    op.out = ctx;
    op.n_heads = n_heads;
    op.head_dim = head_dim;
    op.scale = scale;
    if (rotary) {
        op.rotary = true;
        op.in[4] = rotary->positions;
        op.theta = rotary->theta;
        op.q_scale = rotary->q_scale;
    }
    return ribo_emit(g, &op, err);
}

int ribo_linear_op(ribo_graph *g, const char *label, int x, int w, int b, int residual, ribo_activation act, int out_w,
                   ribo_error *err) {
    int out = ribo_graph_activation(g, label, out_w, err);
    if (x < 0 || w < 0 || out < 0) return -1;
    ribo_gop op = ribo_gop_make(RIBO_OP_LINEAR, label);
    op.in[0] = x;
    op.in[1] = w;
    op.in[2] = b;
    op.in[3] = residual;
    op.out = out;
    op.act = act;
    return ribo_emit(g, &op, err);
}

int ribo_linear_node(ribo_graph *g, int x, const char *prefix, int in_w, int out_w, bool has_bias, ribo_activation act,
                     int residual, ribo_error *err) {
    char name[128];
    snprintf(name, sizeof name, "%s.weight", prefix);
    int w = ribo_graph_weight(g, name, out_w, in_w, err);
    int b = -1;
    if (has_bias) {
        snprintf(name, sizeof name, "%s.bias", prefix);
        b = ribo_graph_weight(g, name, out_w, 0, err);
    }
    if (w < 0 || (has_bias && b < 0)) return -1;
    return ribo_linear_op(g, prefix, x, w, b, residual, act, out_w, err);
}

int ribo_glu_node(ribo_graph *g, int x, const char *label, int width, ribo_activation act, ribo_error *err) {
    if (x < 0) return -1;
    int out = ribo_graph_activation(g, label, width, err);
    if (out < 0) return -1;
    ribo_gop op = ribo_gop_make(RIBO_OP_GLU, label);
    op.in[0] = x;
    op.out = out;
    op.act = act;
    return ribo_emit(g, &op, err);
}

int ribo_pool_node(ribo_graph *g, int h, int cu, int sot, int width, ribo_pool pool, int skip_begin, int skip_end,
                   ribo_error *err) {
    if (h < 0 || cu < 0) return -1;
    int out = ribo_graph_set_output(g, width, err);
    if (out < 0) return -1;
    ribo_gop op = ribo_gop_make(RIBO_OP_POOL, "pool");
    op.in[0] = h;
    op.in[1] = cu;
    op.in[2] = sot;
    op.out = out;
    op.skip_begin = skip_begin;
    op.skip_end = skip_end;
    op.pool_mode = pool == RIBO_POOL_CLS ? RIBO_POOL_MODE_FIRST : pool == RIBO_POOL_NONE ? RIBO_POOL_MODE_COPY
                                                                                          : RIBO_POOL_MODE_MEAN;
    g->output_per_token = pool == RIBO_POOL_NONE;
    g->pool_skip_begin = skip_begin;
    g->pool_skip_end = skip_end;
    return ribo_emit(g, &op, err);
}

ribo_status ribo_check_layer_count(const char *dir, const ribo_safetensors *st, const char *prefix,
                                   const char *layer_prefix, int n_layers, ribo_error *err) {
    size_t np = strlen(prefix), nl = strlen(layer_prefix);
    long seen = 0; /* highest layer index seen + 1 */
    for (size_t i = 0; i < ribo_safetensors_count(st); ++i) {
        const char *name = ribo_safetensors_at(st, i)->name;
        if (np && strncmp(name, prefix, np) == 0) name += np;
        if (strncmp(name, layer_prefix, nl) != 0) continue;
        const char *p = name + nl, *digits = p;
        long k = 0;
        for (; isdigit((unsigned char)*p); ++p) k = k < 100000000 ? 10 * k + (*p - '0') : 1000000000; /* saturates */
        if (p == digits || *p != '.') continue;
        if (k + 1 > seen) seen = k + 1;
    }
    if (seen > n_layers)
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: checkpoint has %ld layers but config.json num_hidden_layers is %d",
                              dir, seen, n_layers);
    return RIBO_OK;
}
