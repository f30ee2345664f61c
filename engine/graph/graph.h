/* Graph IR: what a model builder emits and the executor runs on any backend.
 * Tensors are weights (fixed shape, named after checkpoint tensors), batch inputs (int32/f32
 * vectors the host fills per batch), activations ([tokens, width], placed in a planned arena)
 * and the fp32 output. Ops reference tensors by index and run in order. */
#ifndef RIBO_ENGINE_GRAPH_H
#define RIBO_ENGINE_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/backend.h"
#include "engine/base/error.h"

typedef enum ribo_tensor_role {
    RIBO_TENSOR_WEIGHT,
    RIBO_TENSOR_INPUT,
    RIBO_TENSOR_ACTIVATION,
    RIBO_TENSOR_OUTPUT,
    RIBO_TENSOR_CONSTANT     /* fp32 values computed by the model builder (e.g. ALiBi slopes); always fp32 */
} ribo_tensor_role;

/* Per-batch inputs the host provides. */
typedef enum ribo_input_kind {
    RIBO_INPUT_TOKENS = 0,   /* int32 [T] */
    RIBO_INPUT_POSITIONS,    /* int32 [T] */
    RIBO_INPUT_SEQ_OF_TOKEN, /* int32 [T] */
    RIBO_INPUT_CU_SEQLENS,   /* int32 [B+1] */
    RIBO_INPUT_SEQ_SCALE,    /* f32 [B] embedding scale (token dropout) */
    RIBO_INPUT_COUNT
} ribo_input_kind;

#define RIBO_MAX_WEIGHT_SOURCES 3

struct ribo_st_tensor;     /* safetensors.h */
struct ribo_safetensors;

typedef struct ribo_gtensor {
    char name[128];
    ribo_tensor_role role;
    /* weights: shape (1 or 2 dims); concatenation of sources along dim 0 */
    int ndim;
    int64_t shape[2];
    int n_sources;
    char sources[RIBO_MAX_WEIGHT_SOURCES][128];
    bool is_norm;           /* LayerNorm parameter: ".weight"/".bias" may be ".gamma"/".beta" */
    /* checkpoint tensor of each source, filled (checked) by ribo_weights_check */
    const struct ribo_st_tensor *resolved[RIBO_MAX_WEIGHT_SOURCES];
    /* constants: shape[0] fp32 values owned by the graph */
    float *const_data;
    /* activations / output: per-token width */
    int width;
    ribo_input_kind input;
    /* filled by the executor */
    int first_use, last_use;
    size_t bytes;
    ribo_dptr dev;
} ribo_gtensor;

/* What each op reads from its slots (ribo_gop.in[k], -1 = unused) and writes to out; T tokens, B
 * sequences of the batch. models/layers.h has one builder per op kind that fills them.
 *   EMBED       in[0] tokens, in[1] seq_of_token (batch inputs, int32 [T]), in[2] seq_scale (f32 [B]),
 *               in[3] table (weight [vocab, width]), in[4] optional add_row (weight, its first row);
 *               mask_id: out[t] = table[tokens[t]] * seq_scale[seq_of_token[t]] + add_row, zero rows
 *               where tokens[t] == mask_id (-1: none). out [T, width].
 *   LAYER_NORM  in[0] x [T, width], in[1] gamma, in[2] beta (weights [width]); eps. out [T, width].
 *   LINEAR      in[0] x [T, k], in[1] w (weight [n, k]), in[2] optional bias [n], in[3] optional
 *               residual [T, n] (added after act; out may alias it, never x); act. out [T, n].
 *   POOL        in[0] x [T, width], in[1] cu_seqlens, in[2] seq_of_token (batch inputs); pool_mode,
 *               skip_begin, skip_end. out: the graph's fp32 output (rows per sequence or per token).
 *   GLU         in[0] x [T, 2 * width]; act: out[t, c] = act(x[t, c]) * x[t, width + c]. out [T, width].
 *   ATTENTION   in[0] qkv [T, 3 * n_heads * head_dim], in[1] cu_seqlens, in[2] seq_of_token (batch
 *               inputs), in[3] optional ALiBi slopes (constant [n_heads]), in[4] positions (batch
 *               input; read when rotary); n_heads, head_dim, scale, rotary, theta, q_scale. Packed
 *               attention within each sequence (ribo_attention_args); with rotary, Q and K are rotated
 *               first, and the backend alone decides whether inside its kernel. out [T, n_heads * head_dim].
 * The executor turns an op into its kernel call in one place (make_call, engine/graph/executor.c). */
typedef enum ribo_op_kind {
    RIBO_OP_EMBED,
    RIBO_OP_LAYER_NORM,
    RIBO_OP_LINEAR,
    RIBO_OP_ATTENTION,
    RIBO_OP_POOL,
    RIBO_OP_GLU,
    RIBO_OP_KIND_COUNT
} ribo_op_kind;

#define RIBO_OP_MAX_INPUTS 5

typedef struct ribo_gop {
    ribo_op_kind kind;
    char label[96];
    int in[RIBO_OP_MAX_INPUTS];  /* tensor indices, -1 = unused; meaning per kind (see ribo_op_kind) */
    int out;
    /* parameters */
    float eps;                   /* layer norm */
    ribo_activation act;         /* linear, glu */
    int n_heads, head_dim;       /* attention */
    float scale;                 /* attention: softmax scale */
    bool rotary;                 /* attention: rotary position embeddings on Q and K first (positions in[4]) */
    float theta, q_scale;        /* attention with rotary: rope_theta; q is multiplied by q_scale first */
    int mask_id;                 /* embed */
    ribo_pool_mode pool_mode;    /* pool */
    int skip_begin, skip_end;    /* pool */
} ribo_gop;

typedef struct ribo_graph {
    ribo_gtensor *tensors;
    int n_tensors, cap_tensors;
    ribo_gop *ops;
    int n_ops, cap_ops;
    int inputs[RIBO_INPUT_COUNT];
    int output;                  /* fp32 output tensor */
    int output_width;
    bool output_per_token;       /* pool mode COPY: rows = residues, else rows = sequences */
    int pool_skip_begin, pool_skip_end;
    /* weight-name resolution: each source is tried with every prefix */
    char prefixes[4][32];
    int n_prefixes;
    /* the checkpoint every weight's `resolved` sources point into (NULL until checked) */
    const struct ribo_safetensors *resolved_from;
} ribo_graph;

void ribo_graph_init(ribo_graph *g);
void ribo_graph_free(ribo_graph *g);

/* Builders return the new tensor index, or -1 on allocation failure (err set). */
int ribo_graph_weight(ribo_graph *g, const char *name, int64_t rows, int64_t cols, ribo_error *err);
/* A weight made of 2-3 checkpoint tensors stacked along dim 0 (e.g. Q, K, V into one QKV). */
int ribo_graph_weight_concat(ribo_graph *g, const char *name, const char *const *sources, int n_sources,
                             int64_t rows_each, int64_t cols, ribo_error *err);
int ribo_graph_norm_param(ribo_graph *g, const char *name, int64_t width, ribo_error *err);
int ribo_graph_input(ribo_graph *g, ribo_input_kind kind, ribo_error *err);
/* A vector of n fp32 values computed by the builder (copied), uploaded as fp32 whatever the storage. */
int ribo_graph_constant(ribo_graph *g, const char *name, const float *values, int n, ribo_error *err);
int ribo_graph_activation(ribo_graph *g, const char *name, int width, ribo_error *err);
int ribo_graph_set_output(ribo_graph *g, int width, ribo_error *err);

/* Appends an op (copied); returns its index or -1. */
int ribo_graph_add_op(ribo_graph *g, const ribo_gop *op, ribo_error *err);
ribo_gop ribo_gop_make(ribo_op_kind kind, const char *label);

/* Switches the pooling of a built graph (its POOL op's mode and output_per_token; the skips are the
 * family's and stay): the tensors are the same whatever the pooling, the output tensor being sized
 * for a row per token. RIBO_POOL_DEFAULT is refused (resolve it first). */
ribo_status ribo_graph_set_pool(ribo_graph *g, ribo_pool pool, ribo_error *err);

/* Number of weight elements the graph uses. */
uint64_t ribo_graph_parameter_count(const ribo_graph *g);

#endif
