/* One device's stream pipeline. Three streams: H2D (batch inputs up), compute (the graph; high
 * priority where the backend has priorities) and D2H (output rows down), ordered by events so that
 * H2D of batch n+1 overlaps compute of batch n and D2H of batch n-1:
 *
 *   H2D:      [in n+1] ──ev h2d_done──┐
 *   compute:           [graph n]  <───┘ ──ev compute_done──┐
 *   D2H:                          [out n-1]  ...  [out n] <┘ ──ev d2h_done──► host
 *
 * A ring of staging slots (pinned host memory for inputs and outputs, and an I/O slot of the
 * executor on the device) is reused without reallocation. A slot is refilled only after its
 * d2h_done event has completed (which proves the device has finished both reading its inputs and
 * writing its outputs) and after the writer has released its output rows. Everything goes through
 * the backend tables (engine/backend.h). */
#ifndef RIBO_ENGINE_PIPELINE_H
#define RIBO_ENGINE_PIPELINE_H

#include "engine/backend.h"
#include "engine/base/batch_queue.h"
#include "engine/graph/graph.h"
#include "engine/run/stop.h"
#include "engine/input/batch.h"
#include "engine/io/safetensors.h"

typedef struct ribo_pipeline ribo_pipeline;

typedef struct ribo_pipeline_config {
    int index;                  /* pipeline number (messages, report, trace) */
    ribo_device *dev;           /* opened by the caller, not owned */
    const char *label;          /* names the device in messages, e.g. "opencl device 0 (cpu)" */
    ribo_graph *graph;          /* checked graph, shared read-only by all pipelines */
    const ribo_safetensors *weights;
    ribo_storage storage;
    int max_tokens, max_seqs;   /* executor budget: the largest batch it can take */
    int ring_depth;             /* staging slots, >= 1 */
    bool any_pool;              /* output staging sized for per-residue rows whatever the graph's pooling
                                   (a session may switch it between runs: ribo_pipeline_graph_changed) */
    double t0;                  /* run start (ribo_now_seconds), origin of the timestamps */
} ribo_pipeline_config;

typedef struct ribo_pipeline_stats {
    size_t batches;
    uint64_t tokens, sequences;
    double h2d_s, compute_s, d2h_s; /* busy time of each stream (device events) */
    double compute_idle_s;          /* compute stream idle between its batches (waiting for input) */
    double first_start, last_end;   /* first H2D start, last D2H end (seconds since run start) */
    double wait_input_s;            /* host: waited for the producer */
    double wait_writer_s;           /* host: waited for the writer to release a slot */
    double enqueue_s;               /* host: time spent enqueueing batches (copies, kernels, GEMM set-up);
                                       near compute_s, the device waits on the host (launch-bound) */
    int max_tokens;                 /* executor budget actually used */
    ribo_device_memory mem;         /* at the end of the run (peak_allocated: ribo's buffers) */
    uint64_t device_used_bytes;     /* total - free after setup, as the device reports it (context,
                                       libraries and other processes included where it can tell) */
    double executor_s;              /* setup: device buffers and the weights' upload */
    double warmup_s;                /* setup: the made-up warm-up batch (0 when skipped) */
    uint64_t host_anon_bytes, host_file_bytes; /* the process's resident memory right after setup:
                                                  anonymous vs mapped-file pages (the checkpoint) */
} ribo_pipeline_stats;

/* Creates the streams, events, staging ring and the executor (weights uploaded). Must be called on
 * the thread that will run the pipeline. When the device is out of memory for cfg->max_tokens and
 * allow_lower is set, the budget is lowered once to what the device's memory suggests (at least
 * min_tokens); *note then says what was chosen. */
ribo_status ribo_pipeline_create(const ribo_pipeline_config *cfg, bool allow_lower, int min_tokens,
                                 ribo_pipeline **out, char *note, size_t note_cap, ribo_error *err);

/* Thread body: takes batches from `in` until it is closed and drained (or the run fails), runs them
 * and pushes each finished batch (b->out, b->slot, b->timing set) to `out`. */
ribo_status ribo_pipeline_run(ribo_pipeline *p, ribo_queue *in, ribo_queue *out, ribo_error *err);

/* --sync: one batch start to finish, each stage waited for before the next. */
ribo_status ribo_pipeline_run_one(ribo_pipeline *p, ribo_batch *b, ribo_error *err);

/* The writer is done with b's output rows (thread-safe). */
void ribo_pipeline_release(ribo_pipeline *p, ribo_batch *b);

/* Wakes a pipeline waiting for a slot (a run_ctl waker; the pipeline then sees the failure). */
void ribo_pipeline_wake(void *pipeline);

/* Between runs, after the graph's pooling was switched (ribo_graph_set_pool): the executor takes the
 * graph's new pool op. */
void ribo_pipeline_graph_changed(ribo_pipeline *p);

/* Before a run (nothing else uses the pipeline): streams drained, every slot free (a failed run may
 * have left some taken), the stop flag cleared, statistics zeroed, timestamps counted from t0. */
void ribo_pipeline_begin_run(ribo_pipeline *p, double t0);

ribo_pipeline_stats ribo_pipeline_get_stats(ribo_pipeline *p);
const char *ribo_pipeline_label(const ribo_pipeline *p);
/* Compute-stream busy seconds so far (any thread; for progress). */
double ribo_pipeline_compute_seconds(ribo_pipeline *p);

/* Waits for the streams to drain (errors ignored) and frees everything; the device stays open. */
void ribo_pipeline_free(ribo_pipeline *p);

#endif
