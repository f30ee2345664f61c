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

#define DEFAULT_RING_DEPTH 3
#define DEFAULT_QUEUE_DEPTH 4

void ribo_embed_options_init(ribo_embed_options *o) {
    memset(o, 0, sizeof *o);
    o->backend = "auto";
    o->truncate = -1;
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


/* ---------------------------------------------------------------- devices */

/* Parses "all" or "0,2,0" into indices (n_max of them at most); "all" takes the count. */
static ribo_status parse_devices(const char *list, int count, int *idx, int *n, ribo_error *err) {
    *n = 0;
    if (strcmp(list, "all") == 0) {
        if (count < 1) return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, "--devices all: the backend has no device");
        for (int i = 0; i < count && i < RIBO_MAX_DEVICES; ++i) idx[(*n)++] = i;
        return RIBO_OK;
    }
    const char *p = list;
    while (*p) {
        char *end = NULL;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 1000000 || (*end && *end != ','))
            return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT,
                                  "--devices expects 'all' or a comma-separated list of device indices like 0,2; got '%s'",
                                  list);
        if (*n == RIBO_MAX_DEVICES)
            return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--devices: at most %d pipelines", RIBO_MAX_DEVICES);
        idx[(*n)++] = (int)v;
        p = *end ? end + 1 : end;
    }
    if (*n == 0) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--devices: no device given");
    return RIBO_OK;
}

/* Opens every device of --devices (or --device) before reading inputs, so a bad --backend, device
 * index or --dtype fails fast. An index may repeat: each entry is its own pipeline with its own
 * device handle (on a GPU that shares the GPU; on PoCL it lets CI exercise several pipelines). */
static ribo_status open_devices(embed_run *r, ribo_error *err) {
    const ribo_embed_options *o = r->o;
    const ribo_backend_reg *reg = NULL;
    r->dtype = o->dtype;
    ribo_storage storage = storage_of(o->dtype);
    int idx[RIBO_MAX_DEVICES], n = 1;
    idx[0] = o->device;
    bool all = o->devices && strcmp(o->devices, "all") == 0;
    if (o->devices && !all) RIBO_TRY(parse_devices(o->devices, 0, idx, &n, err));
    if (all) idx[0] = 0;
    RIBO_TRY(ribo_backend_resolve(o->backend, &reg, err));
    if (o->dtype == RIBO_DTYPE_AUTO) { /* the default: bf16 where the device stores it (docs/benchmarks.md) */
        ribo_device_props props;
        RIBO_TRY(reg->device_describe(idx[0], &props, err));
        r->dtype = props.storage_bf16 ? RIBO_DTYPE_BF16 : RIBO_DTYPE_FP32;
        storage = storage_of(r->dtype);
    }
    RIBO_TRY(ribo_device_open(reg, idx[0], storage, &r->devs[0], err));
    r->n_pipes = 1;
    r->backend = reg->name;
    if (all) RIBO_TRY(parse_devices("all", reg->device_count(NULL, 0), idx, &n, err));
    for (int i = 1; i < n; ++i) {
        int same = -1;
        for (int j = 0; j < i && same < 0; ++j)
            if (idx[j] == idx[i]) same = j;
        if (same >= 0) RIBO_TRY(ribo_device_clone(r->devs[same], &r->devs[i], err));
        else RIBO_TRY(ribo_device_open(reg, idx[i], storage, &r->devs[i], err));
        r->n_pipes = i + 1;
    }
    if (o->sync && n > 1)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--sync runs one device; --devices lists %d", n);
    for (int i = 0; i < n; ++i) {
        ribo_device_props props;
        ribo_device_get_props(r->devs[i], &props);
        snprintf(r->labels[i], sizeof r->labels[i], "%s device %d (%s)", reg->name, idx[i], props.name);
        r->label_ptrs[i] = r->labels[i];
    }
    return RIBO_OK;
}

/* ---------------------------------------------------------------- setup */

static const char *dtype_name(ribo_dtype d) {
    return d == RIBO_DTYPE_FP16 ? "fp16" : d == RIBO_DTYPE_BF16 ? "bf16" : "fp32";
}

/* Every device asked about every op at the nominal budget before anything is written, read or
 * allocated: an op or shape a device cannot run is refused now, not after the inputs are read. */
static ribo_status check_devices(embed_run *r, ribo_error *err) {
    int T, B;
    ribo_run_nominal_budget(r->o, &r->model, &r->so, &T, &B);
    for (int i = 0; i < r->n_pipes; ++i)
        if (ribo_executor_check(r->devs[i], &r->graph, T, B, err) != RIBO_OK)
            return ribo_error_prefix(err, "%s", r->labels[i]);
    return RIBO_OK;
}

/* Fingerprint of this run: model files, inputs, and every option that changes the output bytes or
 * the part boundaries (new such options must be added here). */
static ribo_status make_fingerprint(embed_run *r, ribo_error *err) {
    const ribo_embed_options *o = r->o;
    int T, B;
    ribo_run_nominal_budget(o, &r->model, &r->so, &T, &B);
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
        {"--pool", ribo_pool_name(r->pool)},
        {"--dtype", dtype_name(r->dtype)},
        {"--truncate", trunc},
        {"--skip-invalid", o->skip_invalid ? "yes" : "no"},
        {"--translate", o->translate_frames ? "6" : "off"},
        {"--drop-stop-frames", o->drop_stop_frames ? "yes" : "no"},
        {"--lenient", o->lenient ? "yes" : "no"},
        {"--max-tokens", tokens},
        {"--max-batch-seqs", seqs},
        {"--window-tokens", wt},
        {"--window-seqs", ws},
        {"--backend", r->backend},
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
    const ribo_graph *g = &r->graph;
    ribo_producer_config pc = {
        .input = {.paths = o->inputs, .n_paths = o->n_inputs, .tok = r->model.tokenizer, .opts = &r->so},
        .family = r->model.family,
        .conv = &r->model.conv,
        .per_residue = g->output_per_token,
        .pool_skip = g->pool_skip_begin + g->pool_skip_end,
        .part_check = ribo_run_dir_part_check,
        .part_check_user = r->dir,
        .pool_size = o->sync ? 1 : (size_t)r->n_pipes * (size_t)(r->ring_depth + r->queue_depth) + 1,
        .t0 = r->t0,
    };
    ribo_run_window_limits(o, T, &pc.input.window_tokens, &pc.input.window_seqs);
    return ribo_producer_create(&pc, &r->prod, err);
}

/* A pipeline being created on its own thread (weights upload to several devices at once). */
typedef struct create_job {
    embed_run *r;
    int i, tokens, seqs, min_tokens;
    pthread_t thread;
    bool started;
    ribo_status status;
    ribo_error err;
    char note[1400];
} create_job;

static void *create_main(void *arg) {
    create_job *j = arg;
    embed_run *r = j->r;
    ribo_pipeline_config pc = {.index = j->i, .dev = r->devs[j->i], .label = r->labels[j->i], .graph = &r->graph,
                               .weights = r->model.weights, .storage = storage_of(r->dtype), .max_tokens = j->tokens,
                               .max_seqs = j->seqs, .ring_depth = r->ring_depth, .t0 = r->t0};
    j->status = ribo_pipeline_create(&pc, true, j->min_tokens, &r->pipes[j->i], j->note, sizeof j->note, &j->err);
    if (j->status != RIBO_OK) ribo_error_prefix(&j->err, "%s", r->labels[j->i]);
    return NULL;
}

/* Creates every pipeline sized for (T, B); a device short of memory lowers its budget once. The
 * packing budget is then the smallest one (*T, *B updated). */
static ribo_status create_pipelines(embed_run *r, int exec_tokens, int exec_seqs, int min_tokens, int *T, int *B,
                                    ribo_error *err) {
    create_job jobs[RIBO_MAX_DEVICES];
    for (int i = 0; i < r->n_pipes; ++i) {
        jobs[i] = (create_job){.r = r, .i = i, .tokens = exec_tokens, .seqs = exec_seqs, .min_tokens = min_tokens};
        jobs[i].started = pthread_create(&jobs[i].thread, NULL, create_main, &jobs[i]) == 0;
        if (!jobs[i].started) {
            jobs[i].status = ribo_error_set(&jobs[i].err, RIBO_ERR_INTERNAL, "cannot start a thread");
        }
    }
    ribo_status s = RIBO_OK;
    for (int i = 0; i < r->n_pipes; ++i) {
        if (jobs[i].started) pthread_join(jobs[i].thread, NULL);
        if (jobs[i].status != RIBO_OK && s == RIBO_OK) {
            s = jobs[i].status;
            *err = jobs[i].err;
        }
    }
    if (s != RIBO_OK) return s;
    for (int i = 0; i < r->n_pipes; ++i) {
        ribo_pipeline_stats st = ribo_pipeline_get_stats(r->pipes[i]);
        if (jobs[i].note[0]) {
            embed_log(r, "warning: %s", jobs[i].note);
            if (st.max_tokens < *T) *T = st.max_tokens;
        }
    }
    if (*B > *T) *B = *T;
    return RIBO_OK;
}

/* Everything from the work directory to the running pipelines. */
static ribo_status prepare(embed_run *r, ribo_error *err) {
    const ribo_embed_options *o = r->o;
    RIBO_TRY(make_fingerprint(r, err));
    RIBO_TRY(ribo_run_dir_open(o->output, &r->fp, o->resume, run_log_adapter, r, &r->dir, err));
    int T, B;
    ribo_run_nominal_budget(o, &r->model, &r->so, &T, &B);
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
    int most = ribo_run_longest_possible(&r->model, &r->so);
    int min_tokens = whole ? longest : (most < T ? most : T);
    RIBO_TRY(create_pipelines(r, exec_tokens, exec_seqs, min_tokens, &T, &B, err));
    r->max_tokens = T;
    r->max_seqs = B;
    RIBO_TRY(ribo_run_dir_write_manifest(r->dir, T, B, r->label_ptrs, r->n_pipes, err));
    RIBO_TRY(ribo_producer_start(r->prod, T, B, err));
    return embed_create_writer(r, whole, err);
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
                               .dim = (size_t)r->graph.output_width, .per_residue = r->graph.output_per_token,
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
    rs->backend = r->backend;
    rs->sync = r->o->sync;
    ribo_device_props props;
    ribo_device_get_props(r->devs[0], &props);
    /* nothing to suggest when the run already stores 16-bit, or the device cannot (OpenCL is fp32-only) */
    rs->reduced_precision = r->dtype == RIBO_DTYPE_FP16 || r->dtype == RIBO_DTYPE_BF16 ||
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
    rs->n_pipes = r->n_pipes;
    for (int i = 0; i < r->n_pipes; ++i) {
        snprintf(rs->pipes[i].label, sizeof rs->pipes[i].label, "%s", r->labels[i]);
        rs->pipes[i].st = ribo_pipeline_get_stats(r->pipes[i]);
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
    sum->dna_model = r->model.conv.dna_input;
    sum->n_tokens = (size_t)ps.tokens;
    sum->n_tokens_computed = (size_t)ps.tokens_computed;
    sum->n_batches = ps.batches;
    sum->packing_density = rs->packing_density;
    sum->batch_seconds = rs->run_s;
    sum->embedding_dim = r->graph.output_width;
    sum->n_devices = r->n_pipes;
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
        RIBO_TRY(ribo_trace_write(r->o->trace_path, r->label_ptrs, r->n_pipes, b, nb, w, nw, err));
    }
    return RIBO_OK;
}

/* Frees everything in reverse order (parts stay in the work directory unless it was removed). */
static void run_free(embed_run *r) {
    ribo_part_writer_free(r->writer);
    for (int i = 0; i < r->n_pipes; ++i) ribo_pipeline_free(r->pipes[i]);
    ribo_producer_free(r->prod);
    ribo_run_dir_close(r->dir);
    ribo_fingerprint_free(&r->fp);
    for (int i = 0; i < r->n_pipes; ++i)
        ribo_device_destroy(r->devs[i]);
    ribo_graph_free(&r->graph);
    ribo_model_close(&r->model);
    pthread_mutex_destroy(&r->log_lock);
}

ribo_status ribo_embed(const ribo_embed_options *o, ribo_embed_summary *sum, ribo_error *err) {
    ribo_embed_summary local;
    if (!sum) sum = &local;
    memset(sum, 0, sizeof *sum);
    RIBO_TRY(check_options(o, err));
    embed_run *r = calloc(1, sizeof *r);
    if (!r) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    r->o = o;
    r->t0 = ribo_now_seconds();
    r->ring_depth = o->ring_depth ? o->ring_depth : DEFAULT_RING_DEPTH;
    if (o->sync) r->ring_depth = 1;
    r->queue_depth = o->queue_depth ? o->queue_depth : DEFAULT_QUEUE_DEPTH;
    pthread_mutex_init(&r->log_lock, NULL);
    ribo_status s = ribo_model_open(o->model_dir, &r->model, err);
    r->pool = o->pool == RIBO_POOL_DEFAULT && s == RIBO_OK ? r->model.conv.default_pool : o->pool;
    /* Fail fast: the graph is built and every weight checked before the device is opened, and every op
     * put to the devices' support query right after, before any input is read or memory allocated. */
    if (s == RIBO_OK) s = ribo_model_build_graph(&r->model, r->pool, &r->graph, err);
    if (s == RIBO_OK) s = ribo_output_check_path(o->output, err);
    if (s == RIBO_OK) s = ribo_output_guard_inputs(o->output, o->inputs, o->n_inputs, o->model_dir, err);
    struct stat sb;
    if (s == RIBO_OK && stat(o->output, &sb) == 0 && S_ISDIR(sb.st_mode)) /* found now, not after the run */
        s = ribo_error_set(err, RIBO_ERR_IO, "output '%s': is an existing directory", o->output);
    if (s == RIBO_OK) s = open_devices(r, err);
    if (s == RIBO_OK) {
        s = ribo_run_seqset_options(o, &r->model, &r->so, err);
        if (s == RIBO_OK) s = check_devices(r, err);
        if (s == RIBO_OK) s = prepare(r, err);
    }
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
    double t0 = r->t0;
    run_free(r);
    free(r);
    sum->seconds = ribo_now_seconds() - t0;
    return s;
}
