/* ESM-2 (facebook/esm2_*) graph builder, from a HuggingFace EsmForMaskedLM / EsmModel directory.
 *   embeddings: word_embeddings * token-dropout scale (0.88 / (1 - mask ratio), esm2_seq_scale), masks zeroed
 *   per layer (pre-LayerNorm):
 *     h += Wo . attn(rotary(Q * d^-0.5), rotary(K), V)(LN(h))      (Q, K, V fused into one GEMM)
 *     h += W2 . gelu_erf(W1 . LN(h))
 *   emb_layer_norm_after, then pooling. Shapes come from config.json, never assumed. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/graph/model.h"
#include "models/layers.h"

#define ESM2_MAX_LAYERS 4096
#define ESM2_MAX_WIDTH (1 << 20) /* hidden_size, intermediate_size */
#define ESM2_MAX_VOCAB (1 << 24)
#define ESM2_PREFIX "esm."       /* accepted checkpoint-name prefix (EsmForMaskedLM) */

/* ESM-2 has model_type "esm" and no folding trunk. */
static bool esm2_detect(const cJSON *config, const ribo_safetensors *st) {
    const char *type = ribo_config_string(config, "model_type");
    return type && strcmp(type, "esm") == 0;
}

static ribo_status esm2_read_config(const cJSON *c, const char *path, ribo_model_dims *d, ribo_model_conventions *conv,
                                    ribo_error *err) {
    memset(d, 0, sizeof *d);
    memset(conv, 0, sizeof *conv);
    const char *pos_type = ribo_config_string(c, "position_embedding_type");
    if (pos_type && strcmp(pos_type, "rotary") != 0)
        return ribo_error_set(err, RIBO_ERR_UNSUPPORTED,
                              "%s: position_embedding_type \"%s\" is not supported (ESM-2 uses \"rotary\"; ESM-1 models "
                              "are not supported)", path, pos_type);
    bool folding = false, before = false;
    RIBO_TRY(ribo_config_bool_or(c, path, "is_folding_model", false, &folding, err));
    if (folding) return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, "%s: ESMFold checkpoints are not supported", path);
    RIBO_TRY(ribo_config_bool_or(c, path, "emb_layer_norm_before", false, &before, err));
    if (before)
        return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, "%s: emb_layer_norm_before=true (ESM-1b style) is not supported",
                              path);
    const char *act = ribo_config_string(c, "hidden_act");
    if (act && strcmp(act, "gelu") != 0)
        return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, "%s: hidden_act \"%s\" is not supported (ESM-2 uses \"gelu\")",
                              path, act);
    /* Upper bounds far above any ESM-2 (t48_15B: 48 layers, hidden 5120, 40 heads, vocab 33) keep
     * every later size computation in range and refuse nonsense before anything is allocated. */
    RIBO_TRY(ribo_config_int(c, path, "num_hidden_layers", 1, ESM2_MAX_LAYERS, &d->n_layers, err));
    RIBO_TRY(ribo_config_int(c, path, "hidden_size", 1, ESM2_MAX_WIDTH, &d->hidden, err));
    RIBO_TRY(ribo_config_int(c, path, "num_attention_heads", 1, d->hidden, &d->n_heads, err));
    RIBO_TRY(ribo_config_int(c, path, "intermediate_size", 1, ESM2_MAX_WIDTH, &d->intermediate, err));
    RIBO_TRY(ribo_config_int(c, path, "vocab_size", 1, ESM2_MAX_VOCAB, &d->vocab, err));
    RIBO_TRY(ribo_config_int_or(c, path, "max_position_embeddings", 1026, 1, INT_MAX, &d->max_positions, err));
    RIBO_TRY(ribo_config_positive_float_or(c, path, "layer_norm_eps", 1e-12f, &d->num.norm_eps, err));
    RIBO_TRY(ribo_config_positive_float_or(c, path, "rope_theta", 10000.0f, &d->num.rope_theta, err));
    if (d->hidden % d->n_heads)
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: hidden_size %d is not divisible by num_attention_heads %d", path,
                              d->hidden, d->n_heads);
    d->head_dim = d->hidden / d->n_heads;
    if (d->head_dim % 2)
        return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, "%s: head size %d is odd; rotary embeddings need an even size",
                              path, d->head_dim);
    RIBO_TRY(ribo_config_bool_or(c, path, "token_dropout", false, &conv->token_dropout, err));
    RIBO_TRY(ribo_config_int_or(c, path, "mask_token_id", -1, -1, INT_MAX, &conv->mask_token_id, err));
    if (conv->mask_token_id >= d->vocab)
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: mask_token_id %d is outside vocab_size %d", path,
                              conv->mask_token_id, d->vocab);
    if (conv->token_dropout && conv->mask_token_id < 0)
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: token_dropout is true but mask_token_id is missing", path);
    conv->default_pool = RIBO_POOL_MEAN;
    conv->pool_skip_begin = 1; /* <cls> */
    conv->pool_skip_end = 1;   /* <eos> */
    conv->default_max_residues = 1022; /* fair-esm: 1024 positions minus <cls>, <eos> */
    return RIBO_OK;
}

/* One transformer layer; returns the new hidden state tensor. */
static int esm2_layer(ribo_graph *g, const ribo_model_dims *d, int l, int h, int positions, int cu, int sot, float eps,
                      float theta, ribo_error *err) {
    char p[96], name[128];
    snprintf(p, sizeof p, "encoder.layer.%d", l);
    snprintf(name, sizeof name, "%s.attention.LayerNorm", p);
    int a = ribo_layer_norm_node(g, h, name, d->hidden, eps, err);
    if (a < 0) return -1;

    char qn[128], kn[128], vn[128];
    const char *const wsrc[3] = {qn, kn, vn};
    snprintf(qn, sizeof qn, "%s.attention.self.query.weight", p);
    snprintf(kn, sizeof kn, "%s.attention.self.key.weight", p);
    snprintf(vn, sizeof vn, "%s.attention.self.value.weight", p);
    snprintf(name, sizeof name, "%s.attention.self.qkv.weight", p);
    int wqkv = ribo_graph_weight_concat(g, name, wsrc, 3, d->hidden, d->hidden, err);
    snprintf(qn, sizeof qn, "%s.attention.self.query.bias", p);
    snprintf(kn, sizeof kn, "%s.attention.self.key.bias", p);
    snprintf(vn, sizeof vn, "%s.attention.self.value.bias", p);
    snprintf(name, sizeof name, "%s.attention.self.qkv.bias", p);
    int bqkv = ribo_graph_weight_concat(g, name, wsrc, 3, d->hidden, 0, err);
    if (wqkv < 0 || bqkv < 0) return -1;
    snprintf(name, sizeof name, "%s.attention.self.qkv", p);
    int qkv = ribo_linear_op(g, name, a, wqkv, bqkv, -1, RIBO_ACT_NONE, 3 * d->hidden, err);
    if (qkv < 0) return -1;

    /* attention with rotary Q and K; q is scaled before the rotation, as in transformers */
    snprintf(name, sizeof name, "%s.attention.self.context", p);
    const ribo_rotary_params rope = {.positions = positions, .theta = theta, .q_scale = 1.0f / sqrtf((float)d->head_dim)};
    int ctx = ribo_attention_node(g, name, qkv, cu, sot, d->n_heads, d->head_dim, 1.0f, -1, &rope, err);
    if (ctx < 0) return -1;

    snprintf(name, sizeof name, "%s.attention.output.dense", p);
    int h2 = ribo_linear_node(g, ctx, name, d->hidden, d->hidden, true, RIBO_ACT_NONE, h, err);
    if (h2 < 0) return -1;
    snprintf(name, sizeof name, "%s.LayerNorm", p);
    int a2 = ribo_layer_norm_node(g, h2, name, d->hidden, eps, err);
    if (a2 < 0) return -1;
    snprintf(name, sizeof name, "%s.intermediate.dense", p);
    int f = ribo_linear_node(g, a2, name, d->hidden, d->intermediate, true, RIBO_ACT_GELU_ERF, -1, err);
    if (f < 0) return -1;
    snprintf(name, sizeof name, "%s.output.dense", p);
    return ribo_linear_node(g, f, name, d->intermediate, d->hidden, true, RIBO_ACT_NONE, h2, err);
}

static ribo_status esm2_build(const cJSON *c, const ribo_model_dims *d, const ribo_model_conventions *conv,
                              ribo_pool pool, ribo_graph *g, ribo_error *err) {
    float eps = d->num.norm_eps, theta = d->num.rope_theta; /* range-checked by esm2_read_config */
    snprintf(g->prefixes[0], sizeof g->prefixes[0], "%s", ESM2_PREFIX);
    snprintf(g->prefixes[1], sizeof g->prefixes[1], "%s", "");
    g->n_prefixes = 2;

    int tokens = ribo_graph_input(g, RIBO_INPUT_TOKENS, err);
    int positions = ribo_graph_input(g, RIBO_INPUT_POSITIONS, err);
    int sot = ribo_graph_input(g, RIBO_INPUT_SEQ_OF_TOKEN, err);
    int cu = ribo_graph_input(g, RIBO_INPUT_CU_SEQLENS, err);
    int scale = ribo_graph_input(g, RIBO_INPUT_SEQ_SCALE, err);
    int table = ribo_graph_weight(g, "embeddings.word_embeddings.weight", d->vocab, d->hidden, err);
    if (positions < 0 || cu < 0) return err->status;
    /* token dropout: <mask> rows zeroed here, the rest rescaled by seq_scale (esm2_seq_scale) */
    int h = ribo_embed_node(g, "embeddings", tokens, sot, scale, table, -1, conv->token_dropout ? conv->mask_token_id : -1,
                            err);
    if (h < 0) return err->status;

    for (int l = 0; l < d->n_layers; ++l) {
        h = esm2_layer(g, d, l, h, positions, cu, sot, eps, theta, err);
        if (h < 0) return err->status;
    }
    h = ribo_layer_norm_node(g, h, "encoder.emb_layer_norm_after", d->hidden, eps, err);
    if (h < 0) return err->status;
    return ribo_pool_node(g, h, cu, sot, d->hidden, pool, conv->pool_skip_begin, conv->pool_skip_end, err) < 0
               ? err->status
               : RIBO_OK;
}

/* A checkpoint with more layers than config.json would otherwise run silently truncated: every
 * layer the graph uses is present, the extra ones are simply never read. Refuse it. */
static ribo_status esm2_check_checkpoint(const char *dir, const ribo_model_dims *d, const ribo_safetensors *st,
                                         ribo_error *err) {
    return ribo_check_layer_count(dir, st, ESM2_PREFIX, "encoder.layer.", d->n_layers, err);
}

/* Token dropout (ESM-2 was trained with 15% of the tokens masked, 80% of those as <mask>): every
 * sequence's embeddings are scaled by (1 - 0.15 * 0.8) / (1 - its fraction of <mask> tokens), as
 * transformers' EsmEmbeddings does; without token_dropout the scale is 1. */
static void esm2_seq_scale(const ribo_model_conventions *conv, const int32_t *tokens, const int32_t *cu_seqlens,
                           int n_seqs, float *out) {
    for (int s = 0; s < n_seqs; ++s) {
        float scale = 1.0f;
        if (conv->token_dropout) {
            int n = cu_seqlens[s + 1] - cu_seqlens[s], masked = 0;
            for (int t = cu_seqlens[s]; t < cu_seqlens[s + 1]; ++t) masked += tokens[t] == conv->mask_token_id;
            scale = (float)((1.0 - 0.15 * 0.8) / (1.0 - (double)masked / (double)n));
        }
        out[s] = scale;
    }
}

/* vocab.txt next to config.json. */
static ribo_status esm2_load_tokenizer(const char *dir, ribo_tokenizer **out, ribo_error *err) {
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/vocab.txt", dir) >= sizeof path) /* refused, never cut */
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "%s/vocab.txt: path too long (limit %d bytes)", dir, PATH_MAX - 1);
    return ribo_tokenizer_load_esm_vocab(path, out, err);
}

const ribo_model_family ribo_esm2_family = {
    .name = "esm2",
    .display_name = "esm / ESM-2",
    .detect = esm2_detect,
    .read_config = esm2_read_config,
    .build = esm2_build,
    .check_checkpoint = esm2_check_checkpoint,
    .load_tokenizer = esm2_load_tokenizer,
    .seq_scale = esm2_seq_scale,
};
