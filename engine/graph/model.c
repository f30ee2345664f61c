#include "engine/graph/model.h"

#include "engine/graph/weights.h"
#include "engine/base/fileutil.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RIBO_MAX_CONFIG_BYTES ((size_t)64 << 20) /* config.json larger than this is not a config file */

/* The value of an optional key: NULL when absent or JSON null (the _or helpers then use the default). */
static const cJSON *optional_key(const cJSON *cfg, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

/* Checks a present key is an integer in [min, max] (compared as a double first: converting an
 * out-of-range double to int is undefined behaviour) and stores it. */
static ribo_status int_value(const cJSON *v, const char *path, const char *key, int min, int max, int *out,
                             ribo_error *err) {
    double d = cJSON_IsNumber(v) ? v->valuedouble : 0.0;
    if (!cJSON_IsNumber(v) || !(d >= (double)min && d <= (double)max) || d != floor(d)) {
        char got[64] = "";
        if (cJSON_IsNumber(v)) snprintf(got, sizeof got, " (got %g)", d);
        if (max == INT_MAX)
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: \"%s\" must be an integer >= %d%s", path, key, min, got);
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: \"%s\" must be an integer in [%d, %d]%s", path, key, min, max,
                              got);
    }
    *out = (int)d;
    return RIBO_OK;
}

ribo_status ribo_config_int(const cJSON *cfg, const char *path, const char *key, int min, int max, int *out,
                            ribo_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v) return ribo_error_set(err, RIBO_ERR_MODEL, "%s: missing key \"%s\"", path, key);
    return int_value(v, path, key, min, max, out, err);
}

ribo_status ribo_config_int_or(const cJSON *cfg, const char *path, const char *key, int dflt, int min, int max,
                               int *out, ribo_error *err) {
    const cJSON *v = optional_key(cfg, key);
    if (!v) {
        *out = dflt;
        return RIBO_OK;
    }
    return int_value(v, path, key, min, max, out, err);
}

ribo_status ribo_config_float_or(const cJSON *cfg, const char *path, const char *key, double dflt, double *out,
                                 ribo_error *err) {
    const cJSON *v = optional_key(cfg, key);
    if (!v) {
        *out = dflt;
        return RIBO_OK;
    }
    if (!cJSON_IsNumber(v)) return ribo_error_set(err, RIBO_ERR_MODEL, "%s: \"%s\" must be a number", path, key);
    *out = v->valuedouble;
    return RIBO_OK;
}

ribo_status ribo_config_positive_float_or(const cJSON *cfg, const char *path, const char *key, float dflt, float *out,
                                          ribo_error *err) {
    double d = dflt;
    RIBO_TRY(ribo_config_float_or(cfg, path, key, dflt, &d, err));
    float f = (float)d; /* the graph uses it as float: 1e-50 would become 0, 1e39 infinity */
    if (!isfinite(d) || !(d > 0.0) || !isfinite(f) || !(f > 0.0f))
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: \"%s\" must be a finite number > 0 (got %g)", path, key, d);
    *out = f;
    return RIBO_OK;
}

ribo_status ribo_config_bool_or(const cJSON *cfg, const char *path, const char *key, bool dflt, bool *out,
                                ribo_error *err) {
    const cJSON *v = optional_key(cfg, key);
    if (!v) {
        *out = dflt;
        return RIBO_OK;
    }
    if (!cJSON_IsBool(v)) return ribo_error_set(err, RIBO_ERR_MODEL, "%s: \"%s\" must be true or false", path, key);
    *out = cJSON_IsTrue(v);
    return RIBO_OK;
}

const char *ribo_config_string(const cJSON *cfg, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The error for a config.json no family claims. model_type "bert" is named as an unsupported BERT
 * variant (plain BERT: separate query/key/value, learned positions) rather than an unknown
 * architecture; anything else lists the families compiled in. */
static ribo_status refuse_unclaimed(const ribo_model *m, const char *path, ribo_error *err) {
    const char *type = ribo_config_string(m->config, "model_type");
    if (type && strcmp(type, "bert") == 0) {
        bool plain = ribo_safetensors_any_name_contains(m->weights, "attention.self.query.");
        return ribo_error_set(err, RIBO_ERR_UNSUPPORTED,
                              "%s: %s; ribo runs model_type \"bert\" only as DNABERT-2/MosaicBERT (ALiBi attention, fused "
                              "attention.self.Wqkv, GeGLU mlp.gated_layers)",
                              m->dir, plain ? "a plain BERT checkpoint (attention.self.query/key/value) is not supported"
                                            : "no attention.self.Wqkv / mlp.gated_layers tensors found");
    }
    char supported[512] = "";
    size_t at = 0;
    for (int i = 0; ribo_model_families[i] && at < sizeof supported; ++i)
        at += (size_t)snprintf(supported + at, sizeof supported - at, "%s%s", i ? "; " : "",
                               ribo_model_families[i]->display_name);
    return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, "%s: model_type \"%s\" is not a supported architecture (supported: %s)",
                          path, type ? type : "(missing)", supported);
}

ribo_status ribo_model_open(const char *dir, ribo_model *m, ribo_error *err) {
    memset(m, 0, sizeof *m);
    char path[PATH_MAX];
    /* refused, not truncated: a cut directory name would read another model's files */
    if (strlen(dir) >= sizeof m->dir || (size_t)snprintf(path, sizeof path, "%s/config.json", dir) >= sizeof path)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT,
                              "model directory '%s': path too long (%zu bytes; its files' paths must stay under %d)", dir,
                              strlen(dir), PATH_MAX);
    snprintf(m->dir, sizeof m->dir, "%s", dir);
    char *text = NULL;
    size_t len = 0;
    ribo_status s = ribo_read_small_file(path, RIBO_MAX_CONFIG_BYTES, &text, &len, err);
    if (s != RIBO_OK) {
        if (s == RIBO_ERR_IO) ribo_error_prefix(err, "model directory '%s' has no readable config.json", dir);
        return s;
    }
    /* parse_end is where parsing stopped: the error position when it fails (as cJSON_GetErrorPtr,
     * without its process-wide state). */
    const char *parse_end = NULL;
    m->config = cJSON_ParseWithLengthOpts(text, len, &parse_end, 0);
    long long at = parse_end ? (long long)(parse_end - text) : 0;
    free(text);
    if (!m->config) {
        ribo_model_close(m);
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: not valid JSON near byte %lld", path, at);
    }
    if (!cJSON_IsObject(m->config)) {
        ribo_model_close(m);
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: not a JSON object", path);
    }
    s = ribo_safetensors_open_dir(dir, &m->weights, err);
    if (s != RIBO_OK) {
        ribo_model_close(m);
        return s;
    }
    for (int i = 0; ribo_model_families[i]; ++i)
        if (ribo_model_families[i]->detect(m->config, m->weights)) {
            m->family = ribo_model_families[i];
            break;
        }
    if (!m->family) {
        s = refuse_unclaimed(m, path, err);
        ribo_model_close(m);
        return s;
    }
    s = m->family->read_config(m->config, path, &m->dims, &m->conv, err);
    /* Before the tokenizer: a checkpoint of the wrong kind is named as such, not as a missing file. */
    if (s == RIBO_OK && m->family->check_checkpoint) s = m->family->check_checkpoint(m->dir, &m->dims, m->weights, err);
    if (s == RIBO_OK) s = m->family->load_tokenizer(dir, &m->tokenizer, err);
    if (s == RIBO_OK && ribo_tokenizer_vocab_size(m->tokenizer) > m->dims.vocab)
        s = ribo_error_set(err, RIBO_ERR_MODEL, "%s: tokenizer has %d tokens but config.json vocab_size is %d", dir,
                           ribo_tokenizer_vocab_size(m->tokenizer), m->dims.vocab);
    /* Token dropout rescales by the fraction of <mask> tokens the tokenizer emits: the ids must agree. */
    if (s == RIBO_OK && m->conv.token_dropout) {
        int32_t tok_mask = ribo_tokenizer_specials(m->tokenizer).mask;
        if (tok_mask != m->conv.mask_token_id) {
            char tok[64];
            if (tok_mask < 0) snprintf(tok, sizeof tok, "the tokenizer has no <mask> token");
            else snprintf(tok, sizeof tok, "the tokenizer's <mask> is id %d", (int)tok_mask);
            s = ribo_error_set(err, RIBO_ERR_MODEL, "%s: token_dropout is true and mask_token_id is %d, but %s", path,
                               m->conv.mask_token_id, tok);
        }
    }
    if (s != RIBO_OK) ribo_model_close(m);
    return s;
}

ribo_status ribo_model_build_graph(const ribo_model *m, ribo_pool pool, ribo_graph *g, ribo_error *err) {
    ribo_graph_init(g);
    if (pool == RIBO_POOL_DEFAULT) pool = m->conv.default_pool;
    ribo_status s = m->family->build(m->config, &m->dims, &m->conv, pool, g, err);
    if (s == RIBO_OK) s = ribo_weights_check(g, m->weights, m->dir, err);
    if (s != RIBO_OK) ribo_graph_free(g);
    return s;
}

void ribo_model_close(ribo_model *m) {
    if (m->config) cJSON_Delete(m->config);
    if (m->weights) ribo_safetensors_close(m->weights);
    if (m->tokenizer) ribo_tokenizer_free(m->tokenizer);
    memset(m, 0, sizeof *m);
}
