/* A model kept loaded on its devices (see session.h). */
#include "engine/run/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/graph/executor.h"
#include "engine/run/inputs.h"

#define DEFAULT_RING_DEPTH 3
#define DEFAULT_QUEUE_DEPTH 4

const char *ribo_session_dtype_name(ribo_dtype d) {
    return d == RIBO_DTYPE_FP16 ? "fp16" : d == RIBO_DTYPE_BF16 ? "bf16" : "fp32";
}

ribo_storage ribo_session_storage(ribo_dtype d) {
    return d == RIBO_DTYPE_FP16 ? RIBO_STORAGE_F16 : d == RIBO_DTYPE_BF16 ? RIBO_STORAGE_BF16 : RIBO_STORAGE_F32;
}

ribo_status ribo_session_load(const ribo_embed_options *o, ribo_session **out, ribo_error *err) {
    *out = NULL;
    if (!o->model_dir || !o->model_dir[0]) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "no --model directory given");
    if (strlen(o->model_dir) >= PATH_MAX)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "model directory '%s': path too long (limit %d bytes)",
                              o->model_dir, PATH_MAX - 1);
    const char *backend = o->backend ? o->backend : "auto";
    if (strlen(backend) >= 64) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--backend '%s': no such backend", backend);
    if (o->devices && strlen(o->devices) >= 1024)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--devices: list too long");
    ribo_session *s = calloc(1, sizeof *s);
    if (!s) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    snprintf(s->model_dir, sizeof s->model_dir, "%s", o->model_dir);
    snprintf(s->backend_opt, sizeof s->backend_opt, "%s", backend);
    if (o->devices) snprintf(s->devices_opt, sizeof s->devices_opt, "%s", o->devices);
    s->open = *o;
    s->open.model_dir = s->model_dir;
    s->open.backend = s->backend_opt;
    s->open.devices = o->devices ? s->devices_opt : NULL;
    s->open.inputs = NULL;
    s->open.n_inputs = 0;
    s->open.output = s->open.report_path = s->open.trace_path = NULL;
    s->open.progress = NULL;
    s->open.log = NULL;
    s->ring_depth = o->sync ? 1 : o->ring_depth ? o->ring_depth : DEFAULT_RING_DEPTH;
    s->queue_depth = o->queue_depth ? o->queue_depth : DEFAULT_QUEUE_DEPTH;
    ribo_status st = ribo_model_open(s->model_dir, &s->model, err);
    s->model_loaded = st == RIBO_OK;
    s->pool = o->pool == RIBO_POOL_DEFAULT && st == RIBO_OK ? s->model.conv.default_pool : o->pool;
    /* Fail fast: the graph is built and every weight checked before any device is opened. */
    if (st == RIBO_OK) st = ribo_model_build_graph(&s->model, s->pool, &s->graph, err);
    s->graph_built = st == RIBO_OK;
    if (st != RIBO_OK) {
        ribo_session_free(s);
        return st;
    }
    *out = s;
    return RIBO_OK;
}

/* ---------------------------------------------------------------- devices */

/* Parses "all" or "0,2,0" into indices (RIBO_MAX_DEVICES of them at most); "all" takes the count. */
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
ribo_status ribo_session_open_devices(ribo_session *s, ribo_error *err) {
    const ribo_embed_options *o = &s->open;
    const ribo_backend_reg *reg = NULL;
    s->dtype = o->dtype;
    ribo_storage storage = ribo_session_storage(o->dtype);
    int idx[RIBO_MAX_DEVICES], n = 1;
    idx[0] = o->device;
    bool all = o->devices && strcmp(o->devices, "all") == 0;
    if (o->devices && !all) RIBO_TRY(parse_devices(o->devices, 0, idx, &n, err));
    if (all) idx[0] = 0;
    RIBO_TRY(ribo_backend_resolve(o->backend, &reg, err));
    if (o->dtype == RIBO_DTYPE_AUTO) { /* the default: bf16 where the device stores it (docs/benchmarks.md) */
        ribo_device_props props;
        RIBO_TRY(reg->device_describe(idx[0], &props, err));
        s->dtype = props.storage_bf16 ? RIBO_DTYPE_BF16 : RIBO_DTYPE_FP32;
        storage = ribo_session_storage(s->dtype);
    }
    RIBO_TRY(ribo_device_open(reg, idx[0], storage, &s->devs[0], err));
    s->n_pipes = 1;
    s->backend = reg->name;
    if (all) RIBO_TRY(parse_devices("all", reg->device_count(NULL, 0), idx, &n, err));
    for (int i = 1; i < n; ++i) {
        int same = -1;
        for (int j = 0; j < i && same < 0; ++j)
            if (idx[j] == idx[i]) same = j;
        if (same >= 0) RIBO_TRY(ribo_device_clone(s->devs[same], &s->devs[i], err));
        else RIBO_TRY(ribo_device_open(reg, idx[i], storage, &s->devs[i], err));
        s->n_pipes = i + 1;
    }
    if (o->sync && n > 1)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--sync runs one device; --devices lists %d", n);
    for (int i = 0; i < n; ++i) {
        ribo_device_props props;
        ribo_device_get_props(s->devs[i], &props);
        snprintf(s->labels[i], sizeof s->labels[i], "%s device %d (%s)", reg->name, idx[i], props.name);
        s->label_ptrs[i] = s->labels[i];
    }
    return RIBO_OK;
}

ribo_status ribo_session_check_devices(ribo_session *s, const ribo_seqset_options *so, ribo_error *err) {
    int T, B;
    ribo_run_nominal_budget(&s->open, &s->model, so, &T, &B);
    for (int i = 0; i < s->n_pipes; ++i)
        if (ribo_executor_check(s->devs[i], &s->graph, T, B, err) != RIBO_OK)
            return ribo_error_prefix(err, "%s", s->labels[i]);
    return RIBO_OK;
}

/* ---------------------------------------------------------------- pipelines */

/* A pipeline being created on its own thread (weights upload to several devices at once). */
typedef struct create_job {
    ribo_session *s;
    int i, tokens, seqs, min_tokens;
    double t0;
    pthread_t thread;
    bool started;
    ribo_status status;
    ribo_error err;
    char note[1400];
} create_job;

static void *create_main(void *arg) {
    create_job *j = arg;
    ribo_session *s = j->s;
    ribo_pipeline_config pc = {.index = j->i, .dev = s->devs[j->i], .label = s->labels[j->i], .graph = &s->graph,
                               .weights = s->model.weights, .storage = ribo_session_storage(s->dtype),
                               .max_tokens = j->tokens, .max_seqs = j->seqs, .ring_depth = s->ring_depth,
                               .any_pool = s->any_pool, .t0 = j->t0};
    j->status = ribo_pipeline_create(&pc, true, j->min_tokens, &s->pipes[j->i], j->note, sizeof j->note, &j->err);
    if (j->status != RIBO_OK) ribo_error_prefix(&j->err, "%s", s->labels[j->i]);
    return NULL;
}

static void free_pipelines(ribo_session *s) {
    for (int i = 0; i < s->n_pipes; ++i) {
        ribo_pipeline_free(s->pipes[i]);
        s->pipes[i] = NULL;
    }
    s->pipes_created = false;
}

ribo_status ribo_session_ensure_pipelines(ribo_session *s, int exec_tokens, int exec_seqs, int min_tokens, int *T,
                                          int *B, ribo_log_fn log, void *log_user, double t0, ribo_error *err) {
    if (s->pipes_created && exec_tokens <= s->exec_tokens && exec_seqs <= s->exec_seqs) {
        if (*T > s->max_tokens) *T = s->max_tokens;
        if (*B > *T) *B = *T;
        return RIBO_OK;
    }
    free_pipelines(s);
    create_job jobs[RIBO_MAX_DEVICES];
    for (int i = 0; i < s->n_pipes; ++i) {
        jobs[i] = (create_job){.s = s, .i = i, .tokens = exec_tokens, .seqs = exec_seqs, .min_tokens = min_tokens, .t0 = t0};
        jobs[i].started = pthread_create(&jobs[i].thread, NULL, create_main, &jobs[i]) == 0;
        if (!jobs[i].started) jobs[i].status = ribo_error_set(&jobs[i].err, RIBO_ERR_INTERNAL, "cannot start a thread");
    }
    ribo_status st = RIBO_OK;
    for (int i = 0; i < s->n_pipes; ++i) {
        if (jobs[i].started) pthread_join(jobs[i].thread, NULL);
        if (jobs[i].status != RIBO_OK && st == RIBO_OK) {
            st = jobs[i].status;
            *err = jobs[i].err;
        }
    }
    if (st != RIBO_OK) {
        free_pipelines(s);
        return st;
    }
    s->pipes_created = true;
    s->exec_tokens = exec_tokens;
    s->exec_seqs = exec_seqs;
    for (int i = 0; i < s->n_pipes; ++i) {
        ribo_pipeline_stats ps = ribo_pipeline_get_stats(s->pipes[i]);
        if (jobs[i].note[0]) {
            if (log) {
                char line[1500];
                snprintf(line, sizeof line, "warning: %s", jobs[i].note);
                log(log_user, line);
            }
            if (ps.max_tokens < *T) *T = ps.max_tokens;
            if (ps.max_tokens < s->exec_tokens) s->exec_tokens = ps.max_tokens;
        }
    }
    if (*B > *T) *B = *T;
    if (s->exec_seqs > s->exec_tokens) s->exec_seqs = s->exec_tokens;
    s->max_tokens = *T;
    s->max_seqs = *B;
    return RIBO_OK;
}

ribo_status ribo_session_set_pool(ribo_session *s, ribo_pool p, ribo_error *err) {
    if (p == RIBO_POOL_DEFAULT) p = s->model.conv.default_pool;
    if (p == s->pool) return RIBO_OK;
    if (p == RIBO_POOL_NONE && !s->any_pool && s->pipes_created)
        return ribo_error_set(err, RIBO_ERR_INTERNAL, "session: per-residue output needs staging sized for it");
    ribo_pool was = s->pool;
    RIBO_TRY(ribo_graph_set_pool(&s->graph, p, err));
    ribo_status st = RIBO_OK;
    for (int i = 0; st == RIBO_OK && i < s->n_pipes; ++i) {
        int T = s->pipes_created ? s->exec_tokens : 1, B = s->pipes_created ? s->exec_seqs : 1;
        st = ribo_executor_check(s->devs[i], &s->graph, T, B, err);
        if (st != RIBO_OK) ribo_error_prefix(err, "%s", s->labels[i]);
    }
    if (st != RIBO_OK) {
        ribo_error ignored;
        ribo_graph_set_pool(&s->graph, was, &ignored);
        return st;
    }
    for (int i = 0; s->pipes_created && i < s->n_pipes; ++i) ribo_pipeline_graph_changed(s->pipes[i]);
    s->pool = p;
    return RIBO_OK;
}

void ribo_session_begin_run(ribo_session *s, double t0) {
    for (int i = 0; s->pipes_created && i < s->n_pipes; ++i) ribo_pipeline_begin_run(s->pipes[i], t0);
}

void ribo_session_free(ribo_session *s) {
    if (!s) return;
    free_pipelines(s);
    for (int i = 0; i < s->n_pipes; ++i) ribo_device_destroy(s->devs[i]);
    if (s->graph_built) ribo_graph_free(&s->graph);
    if (s->model_loaded) ribo_model_close(&s->model);
    free(s);
}
