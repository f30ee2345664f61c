/* DNABERT-2 / DNABERT-S (MosaicBERT, zhihan1996/DNABERT-2-117M) graph builder.
 * The hub's config.json says model_type "bert" and position_embedding_type "absolute", but the model
 * is MosaicBERT: no position embeddings, ALiBi attention bias, fused Wqkv, GeGLU MLP, post-LN.
 *   embeddings: LN(word_embeddings[ids] + token_type_embeddings[0])
 *   per layer:  h = LN(h + Wo . attn(Wqkv . h))          scores q.k / sqrt(d) - slope_h * |i - j|
 *               h = LN(h + wo . (gelu(g) * u)),  [g | u] = gated_layers . h   (no bias)
 *   no final LayerNorm; pooled by default as the mean over all tokens incl. [CLS] and [SEP]. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/graph/model.h"
#include "models/alibi.h"
#include "models/layers.h"

#define DNABERT2_MAX_LAYERS 4096
#define DNABERT2_MAX_WIDTH (1 << 20)
#define DNABERT2_MAX_VOCAB (1 << 24)
#define DNABERT2_PREFIX "bert." /* BertForMaskedLM; a bare BertModel has no prefix */

/* True when the config's auto_map points at MosaicBERT's bert_layers.py. */
static bool auto_map_is_mosaic(const cJSON *config) {
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(config, "auto_map"), *entry;
    cJSON_ArrayForEach(entry, map) if (cJSON_IsString(entry) && strstr(entry->valuestring, "bert_layers")) return true;
    return false;
}

/* MosaicBERT's fused attention and GeGLU tensors (a plain BERT has query/key/value and intermediate). */
static bool has_mosaic_tensors(const ribo_safetensors *st) {
    return ribo_safetensors_any_name_contains(st, "attention.self.Wqkv.") &&
           ribo_safetensors_any_name_contains(st, "mlp.gated_layers.");
}

/* MosaicBERT only, recognised by any of: alibi_starting_size, an auto_map into bert_layers, or the
 * Wqkv + gated_layers tensor names. The hub's DNABERT-2 config.json once said model_type "bert" and
 * now has no model_type at all, so model_type decides nothing beyond excluding other architectures.
 * A plain BERT (model_type "bert" without any of these) is left to ribo_model_open, which refuses it. */
static bool dnabert2_detect(const cJSON *config, const ribo_safetensors *st) {
    const char *type = ribo_config_string(config, "model_type");
    if (type && strcmp(type, "bert") != 0) return false;
    return cJSON_GetObjectItemCaseSensitive(config, "alibi_starting_size") || auto_map_is_mosaic(config) ||
           has_mosaic_tensors(st);
}

/* type_vocab_size: rows of the token-type table (only row 0 is used). Read by read_config, which
 * names config.json on error, and again by build. */
static ribo_status dnabert2_type_vocab(const cJSON *c, const char *path, int *type_vocab, ribo_error *err) {
    return ribo_config_int_or(c, path, "type_vocab_size", 2, 1, 1 << 16, type_vocab, err);
}

static ribo_status dnabert2_read_config(const cJSON *c, const char *path, ribo_model_dims *d,
                                        ribo_model_conventions *conv, ribo_error *err) {
    memset(d, 0, sizeof *d);
    memset(conv, 0, sizeof *conv);
    const char *act = ribo_config_string(c, "hidden_act");
    if (act && strcmp(act, "gelu") != 0)
        return ribo_error_set(err, RIBO_ERR_UNSUPPORTED,
                              "%s: hidden_act \"%s\" is not supported (DNABERT-2 uses \"gelu\")", path, act);
    RIBO_TRY(ribo_config_int(c, path, "num_hidden_layers", 1, DNABERT2_MAX_LAYERS, &d->n_layers, err));
    RIBO_TRY(ribo_config_int(c, path, "hidden_size", 1, DNABERT2_MAX_WIDTH, &d->hidden, err));
    RIBO_TRY(ribo_config_int(c, path, "num_attention_heads", 1, d->hidden, &d->n_heads, err));
    RIBO_TRY(ribo_config_int(c, path, "intermediate_size", 1, DNABERT2_MAX_WIDTH, &d->intermediate, err));
    RIBO_TRY(ribo_config_int(c, path, "vocab_size", 1, DNABERT2_MAX_VOCAB, &d->vocab, err));
    RIBO_TRY(ribo_config_int_or(c, path, "max_position_embeddings", 512, 3, INT_MAX, &d->max_positions, err));
    RIBO_TRY(ribo_config_positive_float_or(c, path, "layer_norm_eps", 1e-12f, &d->num.norm_eps, err));
    int type_vocab = 0;
    RIBO_TRY(dnabert2_type_vocab(c, path, &type_vocab, err));
    if (d->hidden % d->n_heads)
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: hidden_size %d is not divisible by num_attention_heads %d", path,
                              d->hidden, d->n_heads);
    d->head_dim = d->hidden / d->n_heads;
    conv->default_pool = RIBO_POOL_MEAN; /* DNABERT-S convention: mean over all tokens incl. [CLS], [SEP] */
    conv->pool_skip_begin = 0;
    conv->pool_skip_end = 0;
    conv->mask_token_id = -1;
    conv->default_max_residues = d->max_positions - 2; /* BPE tokens, [CLS] and [SEP] excluded */
    conv->dna_input = true;
    return RIBO_OK;
}

/* One MosaicBERT layer; returns the new hidden state tensor. */
static int dnabert2_layer(ribo_graph *g, const ribo_model_dims *d, int l, int h, int cu, int sot, int slopes,
                          ribo_error *err) {
    char p[96], name[128];
    float eps = d->num.norm_eps;
    snprintf(p, sizeof p, "encoder.layer.%d", l);
    snprintf(name, sizeof name, "%s.attention.self.Wqkv", p);
    int qkv = ribo_linear_node(g, h, name, d->hidden, 3 * d->hidden, true, RIBO_ACT_NONE, -1, err);
    snprintf(name, sizeof name, "%s.attention.self.context", p);
    int ctx = qkv < 0 ? -1
                      : ribo_attention_node(g, name, qkv, cu, sot, d->n_heads, d->head_dim,
                                            1.0f / sqrtf((float)d->head_dim), slopes, NULL, err);
    if (ctx < 0) return -1;

    snprintf(name, sizeof name, "%s.attention.output.dense", p);
    int a = ribo_linear_node(g, ctx, name, d->hidden, d->hidden, true, RIBO_ACT_NONE, h, err);
    if (a < 0) return -1;
    snprintf(name, sizeof name, "%s.attention.output.LayerNorm", p);
    int h1 = ribo_layer_norm_node(g, a, name, d->hidden, eps, err);
    if (h1 < 0) return -1;

    snprintf(name, sizeof name, "%s.mlp.gated_layers", p);
    int gu = ribo_linear_node(g, h1, name, d->hidden, 2 * d->intermediate, false, RIBO_ACT_NONE, -1, err);
    snprintf(name, sizeof name, "%s.mlp.geglu", p);
    int act = ribo_glu_node(g, gu, name, d->intermediate, RIBO_ACT_GELU_ERF, err);
    if (act < 0) return -1;
    snprintf(name, sizeof name, "%s.mlp.wo", p);
    int m = ribo_linear_node(g, act, name, d->intermediate, d->hidden, true, RIBO_ACT_NONE, h1, err);
    if (m < 0) return -1;
    snprintf(name, sizeof name, "%s.mlp.layernorm", p);
    return ribo_layer_norm_node(g, m, name, d->hidden, eps, err);
}

static ribo_status dnabert2_build(const cJSON *c, const ribo_model_dims *d, const ribo_model_conventions *conv,
                                  ribo_pool pool, ribo_graph *g, ribo_error *err) {
    int type_vocab = 0;
    RIBO_TRY(dnabert2_type_vocab(c, "config.json", &type_vocab, err)); /* checked by dnabert2_read_config */
    snprintf(g->prefixes[0], sizeof g->prefixes[0], "%s", DNABERT2_PREFIX);
    snprintf(g->prefixes[1], sizeof g->prefixes[1], "%s", "");
    g->n_prefixes = 2;

    float *slope_values = malloc((size_t)d->n_heads * sizeof *slope_values);
    if (!slope_values) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory for ALiBi slopes");
    ribo_alibi_slopes(d->n_heads, slope_values);
    int slopes = ribo_graph_constant(g, "alibi_slopes", slope_values, d->n_heads, err);
    free(slope_values);

    int tokens = ribo_graph_input(g, RIBO_INPUT_TOKENS, err);
    int sot = ribo_graph_input(g, RIBO_INPUT_SEQ_OF_TOKEN, err);
    int cu = ribo_graph_input(g, RIBO_INPUT_CU_SEQLENS, err);
    int scale = ribo_graph_input(g, RIBO_INPUT_SEQ_SCALE, err);
    int table = ribo_graph_weight(g, "embeddings.word_embeddings.weight", d->vocab, d->hidden, err);
    int types = ribo_graph_weight(g, "embeddings.token_type_embeddings.weight", type_vocab, d->hidden, err);
    if (slopes < 0 || cu < 0 || types < 0) return err->status;
    /* row 0 of the token-type table added to every token: every token has token type 0 */
    int e = ribo_embed_node(g, "embeddings", tokens, sot, scale, table, types, -1, err);
    if (e < 0) return err->status;
    int h = ribo_layer_norm_node(g, e, "embeddings.LayerNorm", d->hidden, d->num.norm_eps, err);
    if (h < 0) return err->status;
    for (int l = 0; l < d->n_layers; ++l) {
        h = dnabert2_layer(g, d, l, h, cu, sot, slopes, err);
        if (h < 0) return err->status;
    }
    return ribo_pool_node(g, h, cu, sot, d->hidden, pool, conv->pool_skip_begin, conv->pool_skip_end, err) < 0
               ? err->status
               : RIBO_OK;
}

/* Refuses a checkpoint without MosaicBERT's tensors (config.json said MosaicBERT, the weights do not)
 * and checkpoints with layers past num_hidden_layers. Runs before the weights are matched against
 * the graph. */
static ribo_status dnabert2_check_checkpoint(const char *dir, const ribo_model_dims *d, const ribo_safetensors *st,
                                             ribo_error *err) {
    if (!has_mosaic_tensors(st))
        return ribo_error_set(err, RIBO_ERR_UNSUPPORTED,
                              "%s: config.json describes DNABERT-2/MosaicBERT (alibi_starting_size or an auto_map into "
                              "bert_layers) but the checkpoint has no attention.self.Wqkv / mlp.gated_layers tensors%s",
                              dir, ribo_safetensors_any_name_contains(st, "attention.self.query.")
                                       ? " (it holds a plain BERT's attention.self.query/key/value, which is not supported)"
                                       : "");
    return ribo_check_layer_count(dir, st, DNABERT2_PREFIX, "encoder.layer.", d->n_layers, err);
}

/* tokenizer.json (HuggingFace tokenizers BPE) next to config.json. */
static ribo_status dnabert2_load_tokenizer(const char *dir, ribo_tokenizer **out, ribo_error *err) {
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/tokenizer.json", dir) >= sizeof path) /* refused, never cut */
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "%s/tokenizer.json: path too long (limit %d bytes)", dir, PATH_MAX - 1);
    return ribo_tokenizer_load_hf_json(path, out, err);
}

const ribo_model_family ribo_dnabert2_family = {
    .name = "dnabert2",
    .display_name = "DNABERT-2 / MosaicBERT",
    .detect = dnabert2_detect,
    .read_config = dnabert2_read_config,
    .build = dnabert2_build,
    .check_checkpoint = dnabert2_check_checkpoint,
    .load_tokenizer = dnabert2_load_tokenizer,
};
