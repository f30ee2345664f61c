/* The embedding run behind `ribo embed`: FASTA -> tokens -> packed batches -> device -> output file.
 * This first version runs batches one after another on one stream of one device. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "executor.h"
#include "model.h"
#include "output.h"
#include "packer.h"
#include "seqset.h"

void ribo_embed_options_init(ribo_embed_options *o) {
    memset(o, 0, sizeof *o);
    o->backend = "auto";
    o->truncate = -1;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static ribo_storage storage_of(ribo_dtype dtype) {
    return dtype == RIBO_DTYPE_FP16 ? RIBO_STORAGE_F16 : dtype == RIBO_DTYPE_BF16 ? RIBO_STORAGE_BF16 : RIBO_STORAGE_F32;
}

static ribo_status check_options(const ribo_embed_options *o, ribo_error *err) {
    if (!o->model_dir || !o->model_dir[0]) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "no --model directory given");
    if (o->n_inputs < 1 || !o->inputs) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "no --input file given");
    if (!o->output || !o->output[0]) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "no --output file given");
    if (o->max_tokens < 0) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--max-tokens must be positive");
    if (o->max_batch_seqs < 0) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--max-batch-seqs must be positive");
    if (o->truncate < -1) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--truncate must be >= 0");
    if (o->device < 0) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--device must be >= 0");
    return RIBO_OK;
}

/* Everything one run holds; released by run_free in reverse order. */
typedef struct embed_run {
    ribo_model model;
    ribo_seqset set;
    ribo_pack_plan plan;
    ribo_graph graph;
    ribo_device *dev;
    ribo_stream *stream;
    ribo_executor *exec;
    ribo_output *out;
    ribo_packed_batch batch;
    float *seq_scale, *host_out;
    int64_t *row_tokens;
    int batch_tokens, batch_seqs; /* the budget the device buffers are sized for */
} embed_run;

static void run_free(embed_run *r) {
    ribo_output_close(r->out);
    ribo_executor_free(r->exec);
    if (r->stream) r->stream->iface->destroy(r->stream);
    if (r->dev) r->dev->iface->destroy(r->dev);
    ribo_graph_free(&r->graph);
    ribo_pack_plan_free(&r->plan);
    ribo_seqset_free(&r->set);
    ribo_model_close(&r->model);
    free(r->batch.tokens);
    free(r->batch.positions);
    free(r->batch.seq_of_token);
    free(r->batch.cu_seqlens);
    free(r->batch.rows);
    free(r->seq_scale);
    free(r->host_out);
    free(r->row_tokens);
}

/* Reads and tokenizes every input, then plans the batches. */
static ribo_status load_inputs(embed_run *r, const ribo_embed_options *o, ribo_error *err) {
    ribo_seqset_options so = {0};
    so.max_residues = (size_t)(o->truncate > 0 ? o->truncate : r->model.conv.default_max_residues);
    so.error_if_longer = o->truncate == 0;
    so.skip_invalid = o->skip_invalid;
    RIBO_TRY(ribo_seqset_load(o->inputs, o->n_inputs, r->model.tokenizer, &so, &r->set, err));
    if (r->set.n == 0)
        return ribo_error_set(err, RIBO_ERR_INPUT, "%s%s: no sequences to embed", o->inputs[0],
                              o->n_inputs > 1 ? " (and the other inputs)" : "");
    int max_tokens = o->max_tokens ? o->max_tokens : RIBO_DEFAULT_MAX_TOKENS;
    if (!o->max_tokens && (size_t)max_tokens < r->set.max_len) max_tokens = (int)r->set.max_len;
    int max_seqs = o->max_batch_seqs ? o->max_batch_seqs : max_tokens;
    RIBO_TRY(ribo_pack_plan_make(&r->set, max_tokens, max_seqs, &r->plan, err));
    /* Size device buffers for the largest batch actually planned, not the nominal budget. */
    r->batch_tokens = r->batch_seqs = 1;
    for (size_t b = 0; b < r->plan.n_batches; ++b) {
        int seqs = (int)(r->plan.batch_start[b + 1] - r->plan.batch_start[b]), tokens = 0;
        for (size_t i = r->plan.batch_start[b]; i < r->plan.batch_start[b + 1]; ++i)
            tokens += ribo_seqset_len(&r->set, r->plan.order[i]);
        if (tokens > r->batch_tokens) r->batch_tokens = tokens;
        if (seqs > r->batch_seqs) r->batch_seqs = seqs;
    }
    return RIBO_OK;
}

/* Allocates the host-side batch arrays for the planned budget. */
static ribo_status alloc_host(embed_run *r, ribo_error *err) {
    size_t T = (size_t)r->batch_tokens, B = (size_t)r->batch_seqs, D = (size_t)r->model.dims.hidden;
    r->batch.tokens = malloc(T * sizeof(int32_t));
    r->batch.positions = malloc(T * sizeof(int32_t));
    r->batch.seq_of_token = malloc(T * sizeof(int32_t));
    r->batch.cu_seqlens = malloc((B + 1) * sizeof(int32_t));
    r->batch.rows = malloc(B * sizeof(size_t));
    r->seq_scale = malloc(B * sizeof(float));
    r->host_out = malloc(T * D * sizeof(float));
    if (!r->batch.tokens || !r->batch.positions || !r->batch.seq_of_token || !r->batch.cu_seqlens || !r->batch.rows ||
        !r->seq_scale || !r->host_out)
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory for a batch of %zu tokens", T);
    return RIBO_OK;
}

/* ESM token dropout: embeddings scaled by (1 - 0.15*0.8) / (1 - masked fraction) per sequence. */
static void fill_seq_scale(const embed_run *r) {
    const ribo_packed_batch *b = &r->batch;
    for (int s = 0; s < b->n_seqs; ++s) {
        float scale = 1.0f;
        if (r->model.conv.token_dropout) {
            int n = b->cu_seqlens[s + 1] - b->cu_seqlens[s], masked = 0;
            for (int t = b->cu_seqlens[s]; t < b->cu_seqlens[s + 1]; ++t) masked += b->tokens[t] == r->model.conv.mask_token_id;
            scale = (float)((1.0 - 0.15 * 0.8) / (1.0 - (double)masked / (double)n));
        }
        r->seq_scale[s] = scale;
    }
}

/* Runs one batch: inputs up, graph, pooled rows down, rows written to the output. */
static ribo_status run_batch(embed_run *r, size_t b, ribo_error *err) {
    ribo_pack_fill(&r->set, &r->plan, b, &r->batch);
    fill_seq_scale(r);
    const ribo_packed_batch *pb = &r->batch;
    ribo_stream *s = r->stream;
    const ribo_stream_i *si = s->iface;
    size_t T = (size_t)pb->n_tokens, B = (size_t)pb->n_seqs, D = (size_t)r->model.dims.hidden;
    RIBO_TRY(si->copy_h2d(s, ribo_executor_input(r->exec, RIBO_INPUT_TOKENS), pb->tokens, T * 4, err));
    RIBO_TRY(si->copy_h2d(s, ribo_executor_input(r->exec, RIBO_INPUT_POSITIONS), pb->positions, T * 4, err));
    RIBO_TRY(si->copy_h2d(s, ribo_executor_input(r->exec, RIBO_INPUT_SEQ_OF_TOKEN), pb->seq_of_token, T * 4, err));
    RIBO_TRY(si->copy_h2d(s, ribo_executor_input(r->exec, RIBO_INPUT_CU_SEQLENS), pb->cu_seqlens, (B + 1) * 4, err));
    RIBO_TRY(si->copy_h2d(s, ribo_executor_input(r->exec, RIBO_INPUT_SEQ_SCALE), r->seq_scale, B * 4, err));
    RIBO_TRY(ribo_executor_run(r->exec, s, pb->n_tokens, pb->n_seqs, pb->max_seqlen, err));
    size_t skip = (size_t)(r->graph.pool_skip_begin + r->graph.pool_skip_end);
    size_t rows_out = r->graph.output_per_token ? T - B * skip : B;
    RIBO_TRY(si->copy_d2h(s, r->host_out, ribo_executor_output(r->exec), rows_out * D * 4, err));
    RIBO_TRY(si->synchronize(s, err));
    /* A NaN/inf (overflow in the model, or a device fault) must not reach the file: check the whole
     * batch before writing any of its rows (the failed run then leaves no output). */
    size_t at = 0;
    for (size_t i = 0; i < B; ++i) {
        size_t n = r->graph.output_per_token ? (size_t)(pb->cu_seqlens[i + 1] - pb->cu_seqlens[i]) - skip : 1;
        const float *v = r->host_out + at * D;
        for (size_t k = 0; k < n * D; ++k)
            if (!isfinite(v[k]))
                return ribo_error_set(err, RIBO_ERR_DEVICE, "sequence '%s': non-finite embedding (NaN/inf)",
                                      r->set.ids[pb->rows[i]]);
        at += n;
    }
    at = 0;
    for (size_t i = 0; i < B; ++i) {
        const float *row = r->host_out + at * D;
        RIBO_TRY(ribo_output_write_row(r->out, pb->rows[i], row, err));
        at += r->graph.output_per_token ? (size_t)(pb->cu_seqlens[i + 1] - pb->cu_seqlens[i]) - skip : 1;
    }
    return RIBO_OK;
}

/* Opens the device and its stream (before reading inputs, so a bad --backend/--dtype fails fast). */
static ribo_status open_device(embed_run *r, const ribo_embed_options *o, ribo_error *err) {
    RIBO_TRY(ribo_backend_open(o->backend, o->device, storage_of(o->dtype), &r->dev, NULL, err));
    return r->dev->iface->stream_create(r->dev, 1, &r->stream, err);
}

/* Uploads the weights of the (already built and checked) graph for the planned batch budget. */
static ribo_status setup_executor(embed_run *r, const ribo_embed_options *o, ribo_error *err) {
    ribo_executor_config cfg = {.max_tokens = r->batch_tokens, .max_seqs = r->batch_seqs, .storage = storage_of(o->dtype)};
    return ribo_executor_create(r->dev, r->stream, &r->graph, r->model.weights, &cfg, &r->exec, err);
}

/* Opens the output with one row (pooled) or one block of residues (per-residue) per sequence. */
static ribo_status open_output(embed_run *r, const ribo_embed_options *o, ribo_error *err) {
    ribo_output_spec spec = {o->output, r->set.n, r->model.dims.hidden, (const char *const *)r->set.ids, NULL};
    if (r->graph.output_per_token) {
        r->row_tokens = malloc(r->set.n * sizeof *r->row_tokens);
        if (!r->row_tokens) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
        int64_t skip = r->graph.pool_skip_begin + r->graph.pool_skip_end;
        for (size_t i = 0; i < r->set.n; ++i) r->row_tokens[i] = ribo_seqset_len(&r->set, i) - skip;
        spec.row_tokens = r->row_tokens;
    }
    return ribo_output_open(&spec, &r->out, err);
}

ribo_status ribo_embed(const ribo_embed_options *o, ribo_embed_summary *sum, ribo_error *err) {
    double t0 = now_seconds();
    ribo_embed_summary local;
    if (!sum) sum = &local;
    memset(sum, 0, sizeof *sum);
    RIBO_TRY(check_options(o, err));
    embed_run r;
    memset(&r, 0, sizeof r);
    ribo_status s = ribo_model_open(o->model_dir, &r.model, err);
    ribo_pool pool = o->pool == RIBO_POOL_DEFAULT ? r.model.conv.default_pool : o->pool;
    /* Fail fast: the graph is built and every weight checked before the device is opened and
     * before any input is read, so a wrong checkpoint is reported at once. */
    if (s == RIBO_OK) s = ribo_model_build_graph(&r.model, pool, &r.graph, err);
    if (s == RIBO_OK) s = open_device(&r, o, err);
    if (s == RIBO_OK) s = load_inputs(&r, o, err);
    if (s == RIBO_OK) s = alloc_host(&r, err);
    if (s == RIBO_OK) s = setup_executor(&r, o, err); /* needs the batch budget from the inputs */
    if (s == RIBO_OK) s = open_output(&r, o, err);
    double t_batches = now_seconds();
    for (size_t b = 0; s == RIBO_OK && b < r.plan.n_batches; ++b) {
        s = run_batch(&r, b, err);
        if (s != RIBO_OK) ribo_error_prefix(err, "batch %zu of %zu", b + 1, r.plan.n_batches);
    }
    sum->batch_seconds = now_seconds() - t_batches;
    if (s == RIBO_OK) s = ribo_output_commit(r.out, err);
    if (r.set.n || r.plan.n_batches) {
        sum->n_sequences = r.set.n;
        sum->n_skipped = r.set.n_skipped;
        sum->n_truncated = r.set.n_truncated;
        sum->n_unknown_chars = r.set.n_unknown;
        sum->n_tokens = r.plan.total_tokens;
        sum->n_batches = r.plan.n_batches;
        sum->packing_density = ribo_pack_plan_density(&r.plan);
        sum->embedding_dim = r.model.dims.hidden;
    }
    run_free(&r);
    sum->seconds = now_seconds() - t0;
    return s;
}

/* ---------------------------------------------------------------- info */

static const char *pool_name(ribo_pool p) {
    return p == RIBO_POOL_CLS ? "cls" : p == RIBO_POOL_NONE ? "none" : "mean";
}

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
        snprintf(info->default_pool, sizeof info->default_pool, "%s", pool_name(m.conv.default_pool));
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
            }
            cb(&d, user);
        }
    }
    if (ribo_backend_count() == 0) return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, "no backend compiled in");
    return RIBO_OK;
}
