/* The embedding run behind `ribo embed`, orchestrated here:
 *
 *   model + graph (checked) -> devices opened -> fingerprint + work directory (resume?) -> inputs
 *   opened, first window read -> one pipeline per device (weights uploaded in parallel; an
 *   out-of-memory budget is lowered once) -> manifest -> free-space check -> batches (run/threads.c)
 *   -> rows in place (.npy) or parts (.h5) -> final output -> report, trace.
 *
 * The pieces: input_stream.c (windows), producer.c (packing), pipeline.c (three streams per
 * device), writer.c (parts), store/workdir.c + store/fingerprint.c (work directory, resume),
 * assemble.c (final file), report.c, trace.c. `ribo info` and `ribo devices` are describe.c. */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "engine/io/path_guard.h"
#include "engine/run/assemble.h"
#include "engine/backend.h"
#include "engine/run/run.h"
#include "engine/graph/executor.h"
#include "engine/graph/model.h"
#include "engine/io/output.h"
#include "engine/input/packer.h"
#include "engine/run/inputs.h"
#include "engine/input/seqset.h"
#include "engine/run/report.h"
#include "engine/run/trace.h"


void ribo_embed_options_init(ribo_embed_options *o) {
    memset(o, 0, sizeof *o);
    o->backend = "auto";
    o->truncate = -1;
}

static ribo_status check_options(const ribo_embed_options *o, ribo_error *err) {
    if (!o->model_dir || !o->model_dir[0]) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "no --model directory given");
    if (o->n_inputs < 1 || !o->inputs) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "no --input file given");
    if (!o->output || !o->output[0]) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "no --output file given");
    if (o->max_tokens < 0) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--max-tokens must be positive");
    if (o->max_batch_seqs < 0) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--max-batch-seqs must be positive");
    if (o->truncate < -1) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--truncate must be >= 0");
    if (o->device < 0) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--device must be >= 0");
    if (o->translate_frames != 0 && o->translate_frames != 6)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--translate must be 6 (six frames) or 0, not %d",
                              o->translate_frames);
    if (o->ring_depth < 0 || o->ring_depth > 64)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--ring-depth must be in [1, 64]");
    if (o->queue_depth < 0 || o->queue_depth > 1024)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--queue-depth must be in [1, 1024]");
    if (o->writers < 0 || o->writers > 64) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--writers must be in [1, 64]");
    if (o->window_tokens < 0 || o->window_seqs < 0)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--window-tokens / --window-seqs must be positive");
    return RIBO_OK;
}


/* ---------------------------------------------------------------- setup */

/* Fingerprint of this run: model files, inputs, and every option that changes the output bytes or
 * the part boundaries (new such options must be added here). */
static ribo_status make_fingerprint(embed_run *r, ribo_error *err) {
    const ribo_embed_options *o = r->o;
    int T, B;
    ribo_run_nominal_budget(o, &r->ses->model, &r->so, &T, &B);
    size_t win_tokens, win_seqs;
    ribo_run_window_limits(o, T, &win_tokens, &win_seqs);
    char trunc[64], tokens[32], seqs[32], wt[32], ws[32];
    snprintf(trunc, sizeof trunc, "%zu%s", r->so.max_residues, r->so.error_if_longer ? " (error if longer)" : "");
    snprintf(tokens, sizeof tokens, "%d", T);
    snprintf(seqs, sizeof seqs, "%d", B);
    snprintf(wt, sizeof wt, "%zu", win_tokens);
    snprintf(ws, sizeof ws, "%zu", win_seqs);
    const char *ext = strrchr(o->output, '.');
    ribo_fingerprint_option opts[] = {
        {"--pool", ribo_pool_name(r->ses->pool)},
        {"--dtype", ribo_session_dtype_name(r->ses->dtype)},
        {"--truncate", trunc},
        {"--skip-invalid", o->skip_invalid ? "yes" : "no"},
        {"--translate", o->translate_frames ? "6" : "off"},
        {"--drop-stop-frames", o->drop_stop_frames ? "yes" : "no"},
        {"--lenient", o->lenient ? "yes" : "no"},
        {"--max-tokens", tokens},
        {"--max-batch-seqs", seqs},
        {"--window-tokens", wt},
        {"--window-seqs", ws},
        {"--backend", r->ses->backend},
        {"output format", ext ? ext : "?"},
    };
    return ribo_fingerprint_make(o->model_dir, o->inputs, o->n_inputs, opts, (int)(sizeof opts / sizeof opts[0]), &r->fp,
                                 err);
}

static void run_log_adapter(void *user, const char *fmt, ...) RIBO_PRINTF(2, 3);
static void run_log_adapter(void *user, const char *fmt, ...) {
    char line[PATH_MAX + 1024]; /* a path and its context */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    embed_log(user, "%s", line);
}

/* Opens the inputs (first window read) for the producer. */
static ribo_status open_inputs(embed_run *r, int T, ribo_error *err) {
    const ribo_embed_options *o = r->o;
    const ribo_graph *g = &r->ses->graph;
    ribo_producer_config pc = {
        .input = {.paths = o->inputs, .n_paths = o->n_inputs, .tok = r->ses->model.tokenizer, .opts = &r->so},
        .family = r->ses->model.family,
        .conv = &r->ses->model.conv,
        .per_residue = g->output_per_token,
        .pool_skip = g->pool_skip_begin + g->pool_skip_end,
        .part_check = ribo_run_dir_part_check,
        .part_check_user = r->dir,
        .pool_size = o->sync ? 1 : (size_t)r->ses->n_pipes * (size_t)(r->ses->ring_depth + r->ses->queue_depth) + 1,
        .t0 = r->t0,
    };
    ribo_run_window_limits(o, T, &pc.input.window_tokens, &pc.input.window_seqs);
    return ribo_producer_create(&pc, &r->prod, err);
}

static ribo_status part_writer_handle(void *writer, ribo_msg_kind *msg, ribo_error *err) {
    return ribo_part_writer_handle(writer, msg, err);
}

static void part_writer_progress(void *writer, uint64_t *sequences, uint64_t *tokens) {
    ribo_part_writer_progress(writer, sequences, tokens, NULL);
}

/* Everything from the work directory to the running pipelines. */
static ribo_status prepare(embed_run *r, ribo_error *err) {
    const ribo_embed_options *o = r->o;
    RIBO_TRY(make_fingerprint(r, err));
    RIBO_TRY(ribo_run_dir_open(o->output, &r->fp, o->resume, run_log_adapter, r, &r->dir, err));
    int T, B;
    ribo_run_nominal_budget(o, &r->ses->model, &r->so, &T, &B);
    RIBO_TRY(open_inputs(r, T, err));
    if (ribo_producer_first_window_size(r->prod) == 0) /* windows close on sequences: nothing at all */
        return ribo_error_set(err, RIBO_ERR_INPUT, "%s%s: no sequences to embed", o->inputs[0],
                              o->n_inputs > 1 ? " (and the other inputs)" : "");
    int rt = 0, rb = 0;
    ribo_run_dir_budget(r->dir, &rt, &rb);
    if (rt > 0 && rt <= T) { /* the interrupted run's budget (it may have been lowered): same batches */
        T = rt;
        B = rb > 0 && rb <= T ? rb : (B < T ? B : T);
    }
    int bt = 0, bs = 0, longest = 0;
    bool whole = false;
    RIBO_TRY(ribo_producer_probe(r->prod, T, B, &bt, &bs, &longest, &whole, err));
    /* A small input (one window) sizes the devices for its largest batch, not the nominal budget.
     * Out of memory, a device may lower its budget down to the longest sequence that can come. */
    int exec_tokens = whole ? bt : T, exec_seqs = whole ? bs : B;
    int most = ribo_run_longest_possible(&r->ses->model, &r->so);
    int min_tokens = whole ? longest : (most < T ? most : T);
    RIBO_TRY(ribo_session_ensure_pipelines(r->ses, exec_tokens, exec_seqs, min_tokens, &T, &B, o->log, o->log_user, r->t0,
                                           err));
    r->max_tokens = T;
    r->max_seqs = B;
    RIBO_TRY(ribo_run_dir_write_manifest(r->dir, T, B, r->ses->label_ptrs, r->ses->n_pipes, err));
    RIBO_TRY(ribo_producer_start(r->prod, T, B, err));
    RIBO_TRY(embed_create_writer(r, whole, err));
    r->sink = (ribo_run_sink){.handle = part_writer_handle, .progress = part_writer_progress, .user = r->writer};
    return RIBO_OK;
}

/* ---------------------------------------------------------------- finish */

static uint64_t peak_rss_bytes(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (uint64_t)ru.ru_maxrss * 1024u; /* Linux: kilobytes */
}

/* Builds the final output from the parts, then removes the work directory. */
static ribo_status finish_output(embed_run *r, double *seconds, ribo_error *err) {
    double t0 = ribo_now_seconds();
    RIBO_TRY(ribo_part_writer_finish(r->writer, err));
    const char *kill = getenv("RIBO_TEST_KILL_IN_ASSEMBLY");
    size_t n = ribo_part_writer_count(r->writer);
    ribo_assemble_config ac = {.work_dir = ribo_run_dir_path(r->dir), .output = r->o->output,
                               .dim = (size_t)r->ses->graph.output_width, .per_residue = r->ses->graph.output_per_token,
                               .parts = n ? ribo_part_writer_entry(r->writer, 0) : NULL, .n_parts = n,
                               .kill_after_parts = kill ? atoi(kill) : 0,
                               .rows_path = r->rows_base ? ribo_run_dir_rows_path(r->dir) : NULL,
                               .rows_base = r->rows_base, .kill_after_commit = getenv("RIBO_TEST_KILL_AFTER_COMMIT") != NULL};
    RIBO_TRY(ribo_assemble(&ac, err));
    *seconds = ribo_now_seconds() - t0;
    return ribo_run_dir_remove(r->dir, err);
}

/* Gathers the numbers of the run for the summary and the report. */
static void collect_stats(embed_run *r, ribo_run_stats *rs, double assemble_s) {
    memset(rs, 0, sizeof *rs);
    ribo_producer_stats ps = ribo_producer_get_stats(r->prod);
    rs->model_dir = r->o->model_dir;
    rs->output = r->o->output;
    rs->backend = r->ses->backend;
    rs->sync = r->o->sync;
    ribo_device_props props;
    ribo_device_get_props(r->ses->devs[0], &props);
    /* nothing to suggest when the run already stores 16-bit, or the device cannot (OpenCL is fp32-only) */
    rs->reduced_precision = r->ses->dtype == RIBO_DTYPE_FP16 || r->ses->dtype == RIBO_DTYPE_BF16 ||
                            !(props.storage_f16 || props.storage_bf16);
    rs->all_devices = r->o->devices && strcmp(r->o->devices, "all") == 0;
    rs->seconds = ribo_now_seconds() - r->t0;
    rs->setup_s = r->t_pipeline;
    rs->run_s = r->t_pipeline_end - r->t_pipeline;
    rs->assemble_s = assemble_s;
    rs->sequences = ps.sequences;
    rs->tokens = ps.tokens;
    rs->sequences_computed = ps.sequences_computed;
    rs->tokens_computed = ps.tokens_computed;
    rs->batches = ps.batches;
    rs->windows = ps.windows;
    rs->windows_resumed = ps.windows_resumed;
    rs->max_tokens = r->max_tokens;
    rs->packing_density = ps.budget_slots > 0 ? (double)ps.tokens_computed / ps.budget_slots : 0;
    rs->read_s = ps.read_s;
    rs->tokenize_s = ps.tokenize_s;
    rs->pack_s = ps.pack_s;
    rs->producer_wait_s = r->producer_wait_s;
    rs->write_s = ribo_part_writer_seconds(r->writer);
    ribo_part_writer_stats(r->writer, &rs->out);
    rs->writer_wait_s = r->writer_wait_s;
    rs->n_pipes = r->ses->n_pipes;
    for (int i = 0; i < r->ses->n_pipes; ++i) {
        snprintf(rs->pipes[i].label, sizeof rs->pipes[i].label, "%s", r->ses->labels[i]);
        rs->pipes[i].st = ribo_pipeline_get_stats(r->ses->pipes[i]);
    }
    rs->host_peak_rss_bytes = peak_rss_bytes();
}

static void fill_summary(embed_run *r, const ribo_run_stats *rs, ribo_embed_summary *sum) {
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
    sum->packing_density = rs->packing_density;
    sum->batch_seconds = rs->run_s;
    sum->embedding_dim = r->ses->graph.output_width;
    sum->n_devices = r->ses->n_pipes;
    sum->max_tokens = r->max_tokens;
    sum->n_parts = ps.windows;
    sum->n_parts_resumed = ps.windows_resumed;
    sum->assemble_seconds = rs->assemble_s;
    ribo_run_verdict(rs, sum->bottleneck, sizeof sum->bottleneck);
}

static ribo_status write_extras(embed_run *r, const ribo_run_stats *rs, ribo_error *err) {
    if (r->o->report_path) RIBO_TRY(ribo_run_report_write(r->o->report_path, rs, err));
    if (r->o->trace_path) {
        size_t nb = 0, nw = 0;
        const ribo_batch_record *b = ribo_part_writer_batches(r->writer, &nb);
        const ribo_window_record *w = ribo_part_writer_windows(r->writer, &nw);
        RIBO_TRY(ribo_trace_write(r->o->trace_path, r->ses->label_ptrs, r->ses->n_pipes, b, nb, w, nw, err));
    }
    return RIBO_OK;
}

/* Frees the run (parts stay in the work directory unless it was removed); the session stays. */
static void run_free(embed_run *r) {
    ribo_part_writer_free(r->writer);
    ribo_producer_free(r->prod);
    ribo_run_dir_close(r->dir);
    ribo_fingerprint_free(&r->fp);
    pthread_mutex_destroy(&r->log_lock);
}

/* The options of a run on session ses: the call's, with the device-side ones (model, backend,
 * devices, dtype, budget, staging, --sync) the session's. */
static ribo_embed_options run_options(const ribo_session *ses, const ribo_embed_options *call) {
    ribo_embed_options m = *call;
    m.model_dir = ses->open.model_dir;
    m.backend = ses->open.backend;
    m.device = ses->open.device;
    m.devices = ses->open.devices;
    m.dtype = ses->open.dtype;
    m.max_tokens = ses->open.max_tokens;
    m.max_batch_seqs = ses->open.max_batch_seqs;
    m.ring_depth = ses->open.ring_depth;
    m.queue_depth = ses->open.queue_depth;
    m.sync = ses->open.sync;
    return m;
}

/* The file run on a session whose devices are open and checked (o: the merged options). */
static ribo_status run_files(ribo_session *ses, const ribo_embed_options *o, double t0, ribo_embed_summary *sum,
                             ribo_error *err) {
    embed_run *r = calloc(1, sizeof *r);
    if (!r) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    r->ses = ses;
    r->o = o;
    r->t0 = t0;
    pthread_mutex_init(&r->log_lock, NULL);
    ribo_session_begin_run(ses, t0);
    ribo_status s = ribo_run_seqset_options(o, &ses->model, &r->so, err);
    if (s == RIBO_OK) s = prepare(r, err);
    if (s == RIBO_OK) s = embed_run_batches(r, err);
    double assemble_s = 0;
    if (s == RIBO_OK) s = finish_output(r, &assemble_s, err);
    if (s == RIBO_OK) {
        embed_progress(r, true);
        ribo_run_stats rs;
        collect_stats(r, &rs, assemble_s);
        fill_summary(r, &rs, sum);
        s = write_extras(r, &rs, err);
    }
    /* Malformed input can only be fixed by changing it, which --resume refuses: the parts are of no use. */
    if (s == RIBO_ERR_INPUT && r->dir) {
        ribo_error ignored;
        ribo_run_dir_remove(r->dir, &ignored);
    }
    run_free(r);
    free(r);
    return s;
}

/* Checks of the output path that need no device (found now, not after the run). */
static ribo_status check_output(const ribo_embed_options *o, ribo_error *err) {
    RIBO_TRY(ribo_output_check_path(o->output, err));
    RIBO_TRY(ribo_output_guard_inputs(o->output, o->inputs, o->n_inputs, o->model_dir, err));
    struct stat sb;
    if (stat(o->output, &sb) == 0 && S_ISDIR(sb.st_mode))
        return ribo_error_set(err, RIBO_ERR_IO, "output '%s': is an existing directory", o->output);
    return RIBO_OK;
}

ribo_status ribo_session_embed_files(ribo_session *ses, const ribo_embed_options *call, ribo_embed_summary *sum,
                                     ribo_error *err) {
    ribo_embed_summary local;
    if (!sum) sum = &local;
    memset(sum, 0, sizeof *sum);
    double t0 = ribo_now_seconds();
    if (!ses || !call) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "ribo_session_embed_files: no session or options");
    if (ses->busy) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "session: already running (one call at a time)");
    ribo_embed_options o = run_options(ses, call);
    RIBO_TRY(check_options(&o, err));
    RIBO_TRY(check_output(&o, err));
    ses->busy = true;
    ribo_seqset_options so;
    ribo_status s = ribo_run_seqset_options(&o, &ses->model, &so, err);
    if (s == RIBO_OK) s = ribo_session_set_pool(ses, o.pool, err);
    if (s == RIBO_OK) s = ribo_session_check_devices(ses, &so, err);
    if (s == RIBO_OK) s = run_files(ses, &o, t0, sum, err);
    ses->busy = false;
    sum->seconds = ribo_now_seconds() - t0;
    return s;
}

ribo_status ribo_embed(const ribo_embed_options *o, ribo_embed_summary *sum, ribo_error *err) {
    ribo_embed_summary local;
    if (!sum) sum = &local;
    memset(sum, 0, sizeof *sum);
    double t0 = ribo_now_seconds();
    RIBO_TRY(check_options(o, err));
    ribo_session *ses = NULL;
    /* Fail fast: the model read and its graph checked, then the output path, then the devices opened
     * and every op put to their support query, before any input is read or memory allocated. */
    ribo_status s = ribo_session_load(o, &ses, err);
    if (s == RIBO_OK) s = check_output(o, err);
    if (s == RIBO_OK) s = ribo_session_open_devices(ses, err);
    ribo_embed_options m = s == RIBO_OK ? run_options(ses, o) : *o;
    ribo_seqset_options so;
    if (s == RIBO_OK) s = ribo_run_seqset_options(&m, &ses->model, &so, err);
    if (s == RIBO_OK) s = ribo_session_check_devices(ses, &so, err);
    if (s == RIBO_OK) s = run_files(ses, &m, t0, sum, err);
    ribo_session_free(ses);
    sum->seconds = ribo_now_seconds() - t0;
    return s;
}
