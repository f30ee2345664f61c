/* A loaded model on its devices, kept between runs: the model directory read and checked, its graph,
 * the devices opened and one pipeline per device (weights uploaded once). `ribo embed` makes one for
 * its single run (engine/api/embed.c); ribo_session_open (engine/api/session_api.c) keeps one for any
 * number of in-memory batches. Everything here runs on the caller's thread, between runs. */
#ifndef RIBO_ENGINE_RUN_SESSION_H
#define RIBO_ENGINE_RUN_SESSION_H

#include <pthread.h>

#include "engine/graph/model.h"
#include "engine/run/pipeline.h"
#include "ribo/ribo.h"

struct ribo_session {
    char model_dir[PATH_MAX];
    ribo_embed_options open;        /* the device-side options the session was opened with (strings not kept) */
    char backend_opt[64];
    char devices_opt[1024];
    ribo_dtype dtype;               /* resolved --dtype (auto: bf16 where the device stores it, else fp32) */
    ribo_model model;
    ribo_graph graph;               /* built for `pool`; ribo_session_set_pool switches its pool op */
    ribo_pool pool;                 /* resolved (never RIBO_POOL_DEFAULT) */
    bool model_loaded, graph_built;
    const char *backend;            /* name of the backend the devices belong to */
    int n_pipes;
    ribo_device *devs[RIBO_MAX_DEVICES];
    char labels[RIBO_MAX_DEVICES][192];
    const char *label_ptrs[RIBO_MAX_DEVICES];
    ribo_pipeline *pipes[RIBO_MAX_DEVICES];
    bool pipes_created;
    int exec_tokens, exec_seqs;     /* what the pipelines can take (executor budget) */
    int max_tokens, max_seqs;       /* packing budget: the nominal one, lowered by a device short of memory */
    int ring_depth, queue_depth;
    bool any_pool;                  /* staging sized for per-residue output so the pool can change per call */
    bool busy;                      /* a run is using the session (one at a time) */
};

/* Reads and checks the model directory and builds its graph for o->pool (o->model_dir, o->pool,
 * o->ring_depth, o->queue_depth, o->sync read; the device options are kept for open_devices). */
ribo_status ribo_session_load(const ribo_embed_options *o, ribo_session **out, ribo_error *err);

/* Opens every device of o->devices (or o->device) of o->backend with o->dtype; an index may repeat. */
ribo_status ribo_session_open_devices(ribo_session *s, ribo_error *err);

/* Every device asked about every op at the nominal budget for so (the run's input options). */
ribo_status ribo_session_check_devices(ribo_session *s, const ribo_seqset_options *so, ribo_error *err);

/* Pipelines able to take batches of exec_tokens / exec_seqs (created on first use, on one thread per
 * device; re-created when larger ones are needed). A device short of memory lowers its budget once,
 * down to min_tokens: *T and *B (the packing budget, in and out) are lowered to what every device
 * can take. Warnings (a lowered budget) go to log. */
ribo_status ribo_session_ensure_pipelines(ribo_session *s, int exec_tokens, int exec_seqs, int min_tokens, int *T,
                                          int *B, ribo_log_fn log, void *log_user, double t0, ribo_error *err);

/* Switches the graph (and every pipeline's executor) to pooling p (RIBO_POOL_DEFAULT: the model's),
 * after asking every device whether it can run it. Needs any_pool for a per-residue switch. */
ribo_status ribo_session_set_pool(ribo_session *s, ribo_pool p, ribo_error *err);

/* At the start of every run (t0: its start, ribo_now_seconds): every pipeline's streams drained, its
 * slots free (a failed run may have left some taken), its statistics zeroed and its timestamps
 * counted from t0. */
void ribo_session_begin_run(ribo_session *s, double t0);

/* "fp32", "fp16" or "bf16". */
const char *ribo_session_dtype_name(ribo_dtype d);
ribo_storage ribo_session_storage(ribo_dtype d);

void ribo_session_free(ribo_session *s);

#endif
