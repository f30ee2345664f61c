/* What `ribo info` and `ribo devices` print: a model directory described without running it
 * (architecture, sizes, conventions, parameter count, memory per token), the memory estimate, and every
 * device of every compiled-in backend. */
#include <stdio.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/graph/executor.h"
#include "engine/graph/model.h"
#include "engine/run/inputs.h"

/* ---------------------------------------------------------------- info */

/* Dtype of the checkpoint's floating-point tensors ("mixed" if several). */
static void weights_dtype(const ribo_safetensors *st, char *out, size_t cap) {
    const char *seen = NULL;
    for (size_t i = 0; i < ribo_safetensors_count(st); ++i) {
        const ribo_st_tensor *t = ribo_safetensors_at(st, i);
        if (!ribo_st_is_float(t->dtype)) continue;
        if (!seen) seen = t->dtype_name;
        else if (strcmp(seen, t->dtype_name) != 0) {
            snprintf(out, cap, "mixed");
            return;
        }
    }
    snprintf(out, cap, "%s", seen ? seen : "none");
}

ribo_status ribo_model_describe(const char *model_dir, ribo_model_info *info, ribo_error *err) {
    memset(info, 0, sizeof *info);
    ribo_model m;
    RIBO_TRY(ribo_model_open(model_dir, &m, err));
    ribo_graph g;
    ribo_status s = ribo_model_build_graph(&m, RIBO_POOL_DEFAULT, &g, err);
    if (s == RIBO_OK) {
        snprintf(info->architecture, sizeof info->architecture, "%s", m.family->name);
        weights_dtype(m.weights, info->weights_dtype, sizeof info->weights_dtype);
        info->n_layers = m.dims.n_layers;
        info->hidden_size = m.dims.hidden;
        info->n_heads = m.dims.n_heads;
        info->head_dim = m.dims.head_dim;
        info->intermediate_size = m.dims.intermediate;
        info->vocab_size = m.dims.vocab;
        info->max_positions = m.dims.max_positions;
        info->default_max_residues = m.conv.default_max_residues;
        snprintf(info->default_pool, sizeof info->default_pool, "%s", ribo_pool_name(m.conv.default_pool));
        info->pool_includes_specials = m.conv.pool_skip_begin == 0 && m.conv.pool_skip_end == 0;
        info->dna_model = m.conv.dna_input;
        info->n_parameters = ribo_graph_parameter_count(&g);
        info->weight_bytes_fp32 = info->n_parameters * 4;
        info->weight_bytes_fp16 = info->n_parameters * 2;
        const int probe_tokens = 4096;
        ribo_executor_config cfg = {.max_tokens = probe_tokens, .max_seqs = probe_tokens, .storage = RIBO_STORAGE_F32};
        ribo_memory_plan plan;
        s = ribo_executor_plan(&g, &cfg, &plan, err);
        if (s == RIBO_OK) info->activation_bytes_per_token_fp32 = (plan.arena_bytes + plan.io_bytes + probe_tokens - 1) / probe_tokens;
        ribo_graph_free(&g);
    }
    ribo_model_close(&m);
    return s;
}

uint64_t ribo_memory_estimate(const ribo_model_info *info, ribo_dtype dtype, int max_tokens) {
    bool half = dtype == RIBO_DTYPE_FP16 || dtype == RIBO_DTYPE_BF16;
    uint64_t weights = half ? info->weight_bytes_fp16 : info->weight_bytes_fp32;
    uint64_t per_token = half ? info->activation_bytes_per_token_fp32 / 2 + 4ull * (uint64_t)info->hidden_size
                              : info->activation_bytes_per_token_fp32;
    return weights + per_token * (uint64_t)max_tokens;
}

/* ---------------------------------------------------------------- devices */

ribo_status ribo_list_devices(ribo_device_callback cb, void *user, ribo_error *err) {
    for (size_t i = 0; i < ribo_backend_count(); ++i) {
        const ribo_backend_reg *reg = ribo_backend_at(i);
        ribo_device_description d;
        memset(&d, 0, sizeof d);
        d.backend = reg->name;
        int n = reg->device_count(d.note, sizeof d.note);
        if (n <= 0) {
            d.index = -1;
            cb(&d, user);
            continue;
        }
        for (int k = 0; k < n; ++k) {
            ribo_device_props p;
            memset(&d, 0, sizeof d);
            d.backend = reg->name;
            d.index = k;
            ribo_error e;
            if (reg->device_describe(k, &p, &e) != RIBO_OK) {
                snprintf(d.note, sizeof d.note, "%s", e.message);
            } else {
                snprintf(d.name, sizeof d.name, "%s", p.name);
                d.memory_bytes = p.memory_bytes;
                d.fp16 = p.storage_f16;
                d.bf16 = p.storage_bf16;
                d.warp_size = p.warp_size;
                snprintf(d.matrix_units, sizeof d.matrix_units, "%s", p.matrix_units);
            }
            cb(&d, user);
        }
    }
    if (ribo_backend_count() == 0) return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, "no backend compiled in");
    return RIBO_OK;
}
