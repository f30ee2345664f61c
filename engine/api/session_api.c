/* The session API (ribo.h): a model loaded once, then in-memory batches embedded on it. The run is
 * the one `ribo embed` makes (engine/run/threads.c: producer, one pipeline per device, a sink), with
 * the input read from the caller's arrays and the rows delivered to the caller's memory
 * (engine/run/memory_sink.c) instead of files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/run/inputs.h"
#include "engine/run/memory_sink.h"
#include "engine/run/run.h"
#include "engine/run/session.h"

ribo_status ribo_session_open(const ribo_embed_options *opts, ribo_session **out, ribo_error *err) {
    if (!out) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "ribo_session_open: no place for the session");
    *out = NULL;
    ribo_embed_options o;
    ribo_embed_options_init(&o);
    if (opts) o = *opts;
    if (o.device < 0) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--device must be >= 0");
    if (o.max_tokens < 0) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--max-tokens must be positive");
    if (o.max_batch_seqs < 0) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--max-batch-seqs must be positive");
    if (o.ring_depth < 0 || o.ring_depth > 64)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--ring-depth must be in [1, 64]");
    if (o.queue_depth < 0 || o.queue_depth > 1024)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--queue-depth must be in [1, 1024]");
    ribo_session *s = NULL;
    RIBO_TRY(ribo_session_load(&o, &s, err));
    s->any_pool = true; /* the pooling may change per call: staging sized for per-residue rows */
    ribo_status st = ribo_session_open_devices(s, err);
    /* the devices asked about every op, then the pipelines made (weights uploaded) at the nominal
     * budget of the default input options */
    ribo_seqset_options so;
    ribo_embed_options dflt = s->open;
    dflt.truncate = -1;
    dflt.translate_frames = 0;
    if (st == RIBO_OK) st = ribo_run_seqset_options(&dflt, &s->model, &so, err);
    if (st == RIBO_OK) st = ribo_session_check_devices(s, &so, err);
    int T = 0, B = 0;
    if (st == RIBO_OK) {
        ribo_run_nominal_budget(&s->open, &s->model, &so, &T, &B);
        int most = ribo_run_longest_possible(&s->model, &so);
        st = ribo_session_ensure_pipelines(s, T, B, most < T ? most : T, &T, &B, o.log, o.log_user, ribo_now_seconds(),
                                           err);
    }
    if (st != RIBO_OK) {
        ribo_session_free(s);
        return st;
    }
    *out = s;
    return RIBO_OK;
}

void ribo_session_close(ribo_session *s) { ribo_session_free(s); }

ribo_status ribo_session_describe(const ribo_session *s, ribo_session_info *info, ribo_error *err) {
    if (!s || !info) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "ribo_session_describe: no session");
    memset(info, 0, sizeof *info);
    RIBO_TRY(ribo_model_describe(s->model_dir, &info->model, err));
    snprintf(info->backend, sizeof info->backend, "%s", s->backend ? s->backend : "");
    snprintf(info->dtype, sizeof info->dtype, "%s", ribo_session_dtype_name(s->dtype));
    info->n_devices = s->n_pipes;
    for (int i = 0; i < s->n_pipes; ++i) snprintf(info->devices[i], sizeof info->devices[i], "%s", s->labels[i]);
    info->embedding_dim = s->graph.output_width;
    info->max_tokens = s->max_tokens;
    snprintf(info->default_pool, sizeof info->default_pool, "%s", ribo_pool_name(s->model.conv.default_pool));
    return RIBO_OK;
}

/* The options of a call, with the device-side ones the session's. */
static ribo_embed_options call_options(const ribo_session *s, const ribo_embed_options *call) {
    ribo_embed_options m;
    ribo_embed_options_init(&m);
    if (call) m = *call;
    m.model_dir = s->open.model_dir;
    m.backend = s->open.backend;
    m.device = s->open.device;
    m.devices = s->open.devices;
    m.dtype = s->open.dtype;
    m.max_tokens = s->open.max_tokens;
    m.max_batch_seqs = s->open.max_batch_seqs;
    m.ring_depth = s->open.ring_depth;
    m.queue_depth = s->open.queue_depth;
    m.sync = s->open.sync;
    m.inputs = NULL;
    m.n_inputs = 0;
    m.output = NULL;
    m.resume = false;
    return m;
}

static ribo_status check_call(const ribo_embed_options *o, ribo_error *err) {
    if (o->truncate < -1) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--truncate must be >= 0");
    if (o->translate_frames != 0 && o->translate_frames != 6)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--translate must be 6 (six frames) or 0, not %d",
                              o->translate_frames);
    if (o->window_tokens < 0 || o->window_seqs < 0)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--window-tokens / --window-seqs must be positive");
    return RIBO_OK;
}

static void fill_summary(const embed_run *r, ribo_memory_sink *sink, ribo_embed_summary *sum) {
    ribo_producer_stats ps = ribo_producer_get_stats(r->prod);
    sum->n_sequences = (size_t)ps.sequences;
    sum->n_skipped = ps.skipped;
    sum->n_truncated = ps.truncated;
    sum->n_unknown_chars = ps.unknown;
    sum->n_stop_frames = ps.stop_frames;
    sum->n_short_frames = ps.short_frames;
    sum->n_lenient_chars = ps.lenient;
    sum->truncate_limit = r->so.max_residues;
    sum->dna_model = r->ses->model.conv.dna_input;
    sum->n_tokens = (size_t)ps.tokens;
    sum->n_tokens_computed = (size_t)ps.tokens_computed;
    sum->n_batches = ps.batches;
    sum->packing_density = ps.budget_slots > 0 ? (double)ps.tokens_computed / ps.budget_slots : 0;
    sum->batch_seconds = r->t_pipeline_end - r->t_pipeline;
    sum->embedding_dim = r->ses->graph.output_width;
    sum->n_devices = r->ses->n_pipes;
    sum->max_tokens = r->max_tokens;
    sum->n_parts = ps.windows;
    (void)sink;
}

/* The run of one in-memory batch on the session's pipelines. */
static ribo_status run_memory(embed_run *r, const char *const *ids, const char *const *seqs, size_t n, float *out,
                              size_t out_rows, ribo_rows_callback cb, void *cb_user, ribo_embed_summary *sum,
                              ribo_error *err) {
    ribo_session *s = r->ses;
    const ribo_embed_options *o = r->o;
    int T = s->max_tokens, B = s->max_seqs;
    ribo_producer_config pc = {
        .input = {.tok = s->model.tokenizer, .opts = &r->so, .mem_ids = ids, .mem_seqs = seqs, .n_mem = n,
                  .mem_name = "sequences"},
        .family = s->model.family,
        .conv = &s->model.conv,
        .per_residue = s->graph.output_per_token,
        .pool_skip = s->graph.pool_skip_begin + s->graph.pool_skip_end,
        .pool_size = o->sync ? 1 : (size_t)s->n_pipes * (size_t)(s->ring_depth + s->queue_depth) + 1,
        .t0 = r->t0,
    };
    int nominal_T, nominal_B;
    ribo_run_nominal_budget(o, &s->model, &r->so, &nominal_T, &nominal_B);
    ribo_run_window_limits(o, nominal_T, &pc.input.window_tokens, &pc.input.window_seqs);
    RIBO_TRY(ribo_producer_create(&pc, &r->prod, err));
    if (ribo_run_longest_possible(&s->model, &r->so) > s->exec_tokens)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT,
                              "--truncate %d: a sequence of %d tokens does not fit the session's batch budget of %d "
                              "tokens (open the session with a larger max_tokens)",
                              o->truncate, ribo_run_longest_possible(&s->model, &r->so), s->exec_tokens);
    RIBO_TRY(ribo_producer_start(r->prod, T, B, err));
    r->max_tokens = T;
    r->max_seqs = B;
    ribo_memory_sink *sink = NULL;
    ribo_memory_sink_config mc = {.dim = (size_t)s->graph.output_width, .per_residue = s->graph.output_per_token,
                                  .producer = r->prod, .out = out, .out_rows = out_rows, .cb = cb, .cb_user = cb_user};
    RIBO_TRY(ribo_memory_sink_create(&mc, &sink, err));
    r->sink = (ribo_run_sink){.handle = ribo_memory_sink_handle, .progress = ribo_memory_sink_progress, .user = sink};
    ribo_status st = embed_run_batches(r, err);
    if (st == RIBO_OK) st = ribo_memory_sink_finish(sink, err);
    if (st == RIBO_OK) {
        embed_progress(r, true);
        fill_summary(r, sink, sum);
    }
    ribo_memory_sink_free(sink);
    r->sink = (ribo_run_sink){0};
    return st;
}

ribo_status ribo_session_embed(ribo_session *s, const char *const *ids, const char *const *seqs, size_t n,
                               const ribo_embed_options *opts, float *out, size_t out_rows, ribo_rows_callback cb,
                               void *cb_user, ribo_embed_summary *sum, ribo_error *err) {
    ribo_embed_summary local;
    if (!sum) sum = &local;
    memset(sum, 0, sizeof *sum);
    double t0 = ribo_now_seconds();
    if (!s) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "ribo_session_embed: no session");
    if (n && (!ids || !seqs)) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "ribo_session_embed: no ids or sequences");
    if (s->busy) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "session: already running (one call at a time)");
    ribo_embed_options o = call_options(s, opts);
    RIBO_TRY(check_call(&o, err));
    sum->embedding_dim = s->graph.output_width;
    sum->n_devices = s->n_pipes;
    if (n == 0) return RIBO_OK;
    s->busy = true;
    embed_run *r = calloc(1, sizeof *r);
    ribo_status st = r ? RIBO_OK : ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    if (st == RIBO_OK) {
        r->ses = s;
        r->o = &o;
        r->t0 = t0;
        pthread_mutex_init(&r->log_lock, NULL);
        ribo_session_begin_run(s, t0);
        st = ribo_run_seqset_options(&o, &s->model, &r->so, err);
        if (st == RIBO_OK) st = ribo_session_set_pool(s, o.pool, err);
        if (st == RIBO_OK) st = run_memory(r, ids, seqs, n, out, out_rows, cb, cb_user, sum, err);
        ribo_producer_free(r->prod);
        pthread_mutex_destroy(&r->log_lock);
        free(r);
    }
    s->busy = false;
    sum->seconds = ribo_now_seconds() - t0;
    return st;
}

size_t ribo_abi_struct_size(const char *name) {
    static const struct {
        const char *name;
        size_t size;
    } sizes[] = {
        {"ribo_embed_options", sizeof(ribo_embed_options)},   {"ribo_embed_summary", sizeof(ribo_embed_summary)},
        {"ribo_error", sizeof(ribo_error)},                   {"ribo_progress", sizeof(ribo_progress)},
        {"ribo_model_info", sizeof(ribo_model_info)},         {"ribo_device_description", sizeof(ribo_device_description)},
        {"ribo_session_info", sizeof(ribo_session_info)},
    };
    for (size_t i = 0; name && i < sizeof sizes / sizeof sizes[0]; ++i)
        if (strcmp(sizes[i].name, name) == 0) return sizes[i].size;
    return 0;
}
