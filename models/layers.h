/* Graph-building blocks shared by the model families: embedding, LayerNorm, Linear, GLU and pooling
 * nodes, and the "no layers beyond config.json" checkpoint check. Each node builder fills the op's
 * slots (their meaning: graph.h, ribo_op_kind), creates its output activation and returns its
 * tensor index (-1 with err set on failure; a required input index < 0, from a builder that
 * already failed, also gives -1). */
#ifndef RIBO_MODELS_LAYERS_H
#define RIBO_MODELS_LAYERS_H

#include "engine/graph/model.h"

/* Adds op to g; returns op->out (or -1). */
int ribo_emit(ribo_graph *g, const ribo_gop *op, ribo_error *err);

/* Embedding node: out[t] = table[tokens[t]] * seq_scale[seq_of_token[t]] + add_row, zero rows where
 * tokens[t] == mask_id (-1: none). tokens, seq_of_token and seq_scale are the batch inputs; table a
 * [vocab, width] weight; add_row (-1: none) a weight whose first row is added to every token (BERT's
 * token-type-0 embedding). The output activation [T, width] is named label. */
int ribo_embed_node(ribo_graph *g, const char *label, int tokens, int seq_of_token, int seq_scale, int table, int add_row,
                    int mask_id, ribo_error *err);

/* LayerNorm node with parameters <prefix>.weight / <prefix>.bias (gamma/beta aliases accepted). */
int ribo_layer_norm_node(ribo_graph *g, int x, const char *prefix, int width, float eps, ribo_error *err);

/* Linear node y = act(x W^T + b) (+ residual, -1 for none) with parameters <prefix>.weight [out, in]
 * and, when has_bias, <prefix>.bias [out]. */
int ribo_linear_node(ribo_graph *g, int x, const char *prefix, int in_w, int out_w, bool has_bias, ribo_activation act,
                     int residual, ribo_error *err);
/* The same with weights the family made itself (e.g. Q, K, V stacked into one): y = act(x W^T + b)
 * (+ residual) into a new activation `label` of width out_w; b and residual -1 for none. */
int ribo_linear_op(ribo_graph *g, const char *label, int x, int w, int b, int residual, ribo_activation act, int out_w,
                   ribo_error *err);

/* Rotary position embeddings applied inside an attention node (ESM-2). */
typedef struct ribo_rotary_params {
    int positions;   /* the RIBO_INPUT_POSITIONS tensor */
    float theta;     /* rope_theta */
    float q_scale;   /* q is multiplied by this before the rotation */
} ribo_rotary_params;

/* Packed attention node over qkv [T, 3*n_heads*head_dim] into a new activation `name` [T, n_heads*head_dim]
 * (cu_seqlens cu, seq_of_token sot); softmax scale `scale`; alibi_slopes a constant [n_heads] or -1;
 * rotary NULL or the rotation of Q and K to apply first (the backend decides whether it fuses). */
int ribo_attention_node(ribo_graph *g, const char *name, int qkv, int cu, int sot, int n_heads, int head_dim, float scale,
                        int alibi_slopes, const ribo_rotary_params *rotary, ribo_error *err);

/* Gated linear unit: out[t, c] = act(x[t, c]) * x[t, width + c] for x [T, 2 * width] (GeGLU with
 * RIBO_ACT_GELU_ERF); the output activation [T, width] is named label. */
int ribo_glu_node(ribo_graph *g, int x, const char *label, int width, ribo_activation act, ribo_error *err);

/* Final pooling node into the fp32 output (pool already resolved from the family default):
 * mean over tokens [skip_begin, len - skip_end), the first token, or per-token copy-out. */
int ribo_pool_node(ribo_graph *g, int h, int cu, int sot, int width, ribo_pool pool, int skip_begin, int skip_end,
                   ribo_error *err);

/* Refuses a checkpoint holding layers past num_hidden_layers (a silently truncated model otherwise):
 * scans tensor names "<optional prefix><layer_prefix><k>." for the highest k. Errors name dir. */
ribo_status ribo_check_layer_count(const char *dir, const ribo_safetensors *st, const char *prefix,
                                   const char *layer_prefix, int n_layers, ribo_error *err);

#endif
