#include "model.h"

#include "executor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads a whole small text file (config.json). */
static ribo_status read_text(const char *path, char **out, ribo_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 8192;
            if (cap > (64u << 20)) {
                free(buf);
                fclose(f);
                return ribo_error_set(err, RIBO_ERR_MODEL, "%s: larger than 64 MB; not a config file", path);
            }
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, 4096, f);
        n += got;
        if (got < 4096) break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return ribo_error_set(err, RIBO_ERR_IO, "%s: read error", path);
    }
    buf[n] = '\0';
    *out = buf;
    return RIBO_OK;
}

ribo_status ribo_config_int(const cJSON *cfg, const char *path, const char *key, int min, int *out, ribo_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v) return ribo_error_set(err, RIBO_ERR_MODEL, "%s: missing key \"%s\"", path, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int)v->valuedouble || v->valuedouble < min)
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: \"%s\" must be an integer >= %d", path, key, min);
    *out = (int)v->valuedouble;
    return RIBO_OK;
}

ribo_status ribo_config_int_or(const cJSON *cfg, const char *path, const char *key, int dflt, int min, int *out,
                               ribo_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v || cJSON_IsNull(v)) {
        *out = dflt;
        return RIBO_OK;
    }
    return ribo_config_int(cfg, path, key, min, out, err);
}

ribo_status ribo_config_float_or(const cJSON *cfg, const char *path, const char *key, double dflt, double *out,
                                 ribo_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v || cJSON_IsNull(v)) {
        *out = dflt;
        return RIBO_OK;
    }
    if (!cJSON_IsNumber(v)) return ribo_error_set(err, RIBO_ERR_MODEL, "%s: \"%s\" must be a number", path, key);
    *out = v->valuedouble;
    return RIBO_OK;
}

ribo_status ribo_config_bool_or(const cJSON *cfg, const char *path, const char *key, bool dflt, bool *out,
                                ribo_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v || cJSON_IsNull(v)) {
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

ribo_status ribo_model_open(const char *dir, ribo_model *m, ribo_error *err) {
    memset(m, 0, sizeof *m);
    snprintf(m->dir, sizeof m->dir, "%s", dir);
    char path[1200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *text = NULL;
    ribo_status s = read_text(path, &text, err);
    if (s != RIBO_OK) {
        if (s == RIBO_ERR_IO) ribo_error_prefix(err, "model directory '%s' has no readable config.json", dir);
        return s;
    }
    m->config = cJSON_Parse(text);
    free(text);
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
        const char *type = ribo_config_string(m->config, "model_type");
        ribo_model_close(m);
        return ribo_error_set(err, RIBO_ERR_UNSUPPORTED,
                              "%s: model_type \"%s\" is not a supported architecture (supported: esm / ESM-2)", path,
                              type ? type : "(missing)");
    }
    s = m->family->read_config(m->config, path, &m->dims, &m->conv, err);
    if (s == RIBO_OK) s = m->family->load_tokenizer(dir, &m->tokenizer, err);
    if (s == RIBO_OK && ribo_tokenizer_vocab_size(m->tokenizer) > m->dims.vocab)
        s = ribo_error_set(err, RIBO_ERR_MODEL, "%s: tokenizer has %d tokens but config.json vocab_size is %d", dir,
                           ribo_tokenizer_vocab_size(m->tokenizer), m->dims.vocab);
    if (s != RIBO_OK) ribo_model_close(m);
    return s;
}

ribo_status ribo_model_build_graph(const ribo_model *m, ribo_pool pool, ribo_graph *g, ribo_error *err) {
    ribo_graph_init(g);
    if (pool == RIBO_POOL_DEFAULT) pool = m->conv.default_pool;
    ribo_status s = m->family->build(m->config, &m->dims, &m->conv, pool, g, err);
    if (s == RIBO_OK) s = ribo_executor_check_weights(g, m->weights, err);
    if (s != RIBO_OK) ribo_graph_free(g);
    return s;
}

void ribo_model_close(ribo_model *m) {
    if (m->config) cJSON_Delete(m->config);
    if (m->weights) ribo_safetensors_close(m->weights);
    if (m->tokenizer) ribo_tokenizer_free(m->tokenizer);
    memset(m, 0, sizeof *m);
}
