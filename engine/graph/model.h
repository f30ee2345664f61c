/* A model directory as the user has it (config.json + safetensors + tokenizer files), and the
 * model families that turn it into a graph. Adding a family = one file in models/ + one line in
 * models/families.c. */
#ifndef RIBO_ENGINE_MODEL_H
#define RIBO_ENGINE_MODEL_H

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/graph/graph.h"
#include "engine/io/safetensors.h"
#include "engine/tokenize/tokenizer.h"

/* Numeric constants of the graph, read and range-checked with the shapes (finite, > 0, as float). */
typedef struct ribo_model_numerics {
    float norm_eps;   /* LayerNorm epsilon (layer_norm_eps) */
    float rope_theta; /* rotary base (rope_theta); 0 when the family has no rotary embeddings */
} ribo_model_numerics;

/* Shape numbers (and numeric constants) every family fills from config.json. Numbers only one
 * family uses stay in that family's file (its build reads them from config.json). */
typedef struct ribo_model_dims {
    int n_layers, hidden, n_heads, head_dim, intermediate, vocab, max_positions;
    ribo_model_numerics num;
} ribo_model_dims;

/* How the embed driver prepares inputs for this family. */
typedef struct ribo_model_conventions {
    ribo_pool default_pool;
    int pool_skip_begin, pool_skip_end;   /* special tokens excluded from mean / per-residue output */
    bool token_dropout;                   /* ESM: <mask> rows zeroed, the rest rescaled (the family's seq_scale) */
    int mask_token_id;                    /* -1 if none */
    int default_max_residues;             /* default --truncate */
    bool dna_input;                       /* the model reads DNA: inputs must be ACGTN (--lenient relaxes it) */
} ribo_model_conventions;

typedef struct ribo_model_family {
    const char *name;         /* short name: `ribo info`'s architecture, messages ("esm2") */
    /* How the "not a supported architecture" message lists the family ("esm / ESM-2"). */
    const char *display_name;
    /* true when config.json (and the tensor names) belong to this family */
    bool (*detect)(const cJSON *config, const ribo_safetensors *st);
    /* Reads config.json into dims + conventions; errors name config.json and the key. */
    ribo_status (*read_config)(const cJSON *config, const char *config_path, ribo_model_dims *dims,
                               ribo_model_conventions *conv, ribo_error *err);
    /* Emits the graph for the given pooling (already resolved from the default). */
    ribo_status (*build)(const cJSON *config, const ribo_model_dims *dims, const ribo_model_conventions *conv,
                         ribo_pool pool, ribo_graph *g, ribo_error *err);
    /* Optional: checks the checkpoint as a whole against config.json right after read_config (e.g.
     * the right architecture, no layers beyond num_hidden_layers); errors name model_dir. */
    ribo_status (*check_checkpoint)(const char *model_dir, const ribo_model_dims *dims, const ribo_safetensors *st,
                                    ribo_error *err);
    /* Loads the tokenizer from the model directory. */
    ribo_status (*load_tokenizer)(const char *model_dir, ribo_tokenizer **out, ribo_error *err);
    /* Optional: the per-sequence embedding scale of one packed batch (the RIBO_INPUT_SEQ_SCALE input
     * the EMBED op multiplies rows by): out[s] for each of the n_seqs sequences, sequence s being
     * tokens[cu_seqlens[s] .. cu_seqlens[s + 1]). Runs on the host for every batch and cannot fail.
     * NULL: every sequence scales by 1.0. ESM-2 implements its token-dropout rescaling here. */
    void (*seq_scale)(const ribo_model_conventions *conv, const int32_t *tokens, const int32_t *cu_seqlens,
                      int n_seqs, float *out);
} ribo_model_family;

typedef struct ribo_model {
    char dir[PATH_MAX];
    const ribo_model_family *family;
    cJSON *config;
    ribo_model_dims dims;
    ribo_model_conventions conv;
    ribo_safetensors *weights;
    ribo_tokenizer *tokenizer;
} ribo_model;

/* Opens config.json, detects the family, opens (and validates) the weights and the tokenizer;
 * checks the tokenizer against config.json (vocabulary size, <mask> id when token_dropout is on). */
ribo_status ribo_model_open(const char *dir, ribo_model *m, ribo_error *err);
/* Builds the graph and checks every weight it names against the checkpoint (resolving each one,
 * see ribo_weights_check). */
ribo_status ribo_model_build_graph(const ribo_model *m, ribo_pool pool, ribo_graph *g, ribo_error *err);
void ribo_model_close(ribo_model *m);

/* Helpers for read_config: integer / number / bool keys with clear errors naming path and key.
 * Integers must lie in [min, max] (checked before any conversion to int); the _or forms take dflt
 * when the key is absent or null. */
ribo_status ribo_config_int(const cJSON *cfg, const char *path, const char *key, int min, int max, int *out,
                            ribo_error *err);
ribo_status ribo_config_int_or(const cJSON *cfg, const char *path, const char *key, int dflt, int min, int max,
                               int *out, ribo_error *err);
ribo_status ribo_config_float_or(const cJSON *cfg, const char *path, const char *key, double dflt, double *out,
                                 ribo_error *err);
/* A number that must be finite and > 0, also once rounded to float. */
ribo_status ribo_config_positive_float_or(const cJSON *cfg, const char *path, const char *key, float dflt, float *out,
                                          ribo_error *err);
ribo_status ribo_config_bool_or(const cJSON *cfg, const char *path, const char *key, bool dflt, bool *out,
                                ribo_error *err);
const char *ribo_config_string(const cJSON *cfg, const char *key); /* NULL if absent or not a string */

/* Families compiled in (models/families.c). */
extern const ribo_model_family *const ribo_model_families[];

#endif
