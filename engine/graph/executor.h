/* Runs a graph on one device: uploads the weights once, plans one activation arena for the
 * token budget, then executes batches whose inputs the caller has copied into the input tensors. */
#ifndef RIBO_ENGINE_EXECUTOR_H
#define RIBO_ENGINE_EXECUTOR_H

#include "engine/backend.h"
#include "engine/graph/graph.h"
#include "engine/io/safetensors.h"

typedef struct ribo_executor ribo_executor;

typedef struct ribo_executor_config {
    int max_tokens;          /* tokens per batch */
    int max_seqs;            /* sequences per batch (<= max_tokens) */
    ribo_storage storage;    /* activation/weight storage type on the device */
    int io_slots;            /* sets of batch input/output tensors (0 = 1): a pipeline uploads batch n+1
                                into one slot while batch n computes from another */
    size_t alignment;        /* tensor alignment in bytes, a power of two (at least 256 is used); the
                                executor raises it to the device's ribo_device_props.alignment */
} ribo_executor_config;

/* Device bytes the executor will allocate (weights + arena + inputs + output). */
typedef struct ribo_memory_plan {
    uint64_t weight_bytes, arena_bytes, io_bytes;
} ribo_memory_plan;

/* Plans the arena without a device (liveness-based first-fit; shared by `ribo info`). */
ribo_status ribo_executor_plan(ribo_graph *g, const ribo_executor_config *cfg, ribo_memory_plan *plan,
                               ribo_error *err);

/* Takes ownership of nothing: g must outlive the executor (g is only read: the executor plans on a
 * copy of its tensor table, so one graph can serve several executors created concurrently, provided
 * its weights were already checked). Weights are converted on upload from the
 * tensors ribo_weights_check resolved (it is run here first unless g was checked against st). Every op
 * is first put to the device's support query (ribo_kernel_check) at the largest batch of cfg: an op or
 * shape the device cannot run fails here, "op N (label): backend: ...", before any upload or batch. */
ribo_status ribo_executor_create(ribo_device *dev, ribo_stream *stream, ribo_graph *g, const ribo_safetensors *st,
                                 const ribo_executor_config *cfg, ribo_executor **out, ribo_error *err);

/* The support query alone, before anything is allocated: every op of g put to dev's ribo_kernel_check
 * at a batch of max_tokens tokens in max_seqs sequences, with non-NULL placeholder buffers (never
 * dereferenced) for the tensors each op has. ribo_embed calls it right after opening the devices, so
 * an op or shape a device cannot run is refused before any work directory, input or allocation. */
ribo_status ribo_executor_check(ribo_device *dev, const ribo_graph *g, int max_tokens, int max_seqs, ribo_error *err);

/* Device address of a per-batch input / of the fp32 output (of I/O slot 0, or of `slot`). */
ribo_dptr ribo_executor_input(const ribo_executor *ex, ribo_input_kind kind);
ribo_dptr ribo_executor_output(const ribo_executor *ex);
ribo_dptr ribo_executor_input_at(const ribo_executor *ex, int slot, ribo_input_kind kind);
ribo_dptr ribo_executor_output_at(const ribo_executor *ex, int slot);

/* Device bytes this executor holds (per I/O slot for io_bytes). */
const ribo_memory_plan *ribo_executor_memory(const ribo_executor *ex);

/* Enqueues every op of the graph on stream for a batch of n_tokens tokens in n_seqs sequences whose
 * inputs are in I/O slot 0 (or `slot`); the output goes to the same slot. The activation arena is
 * shared by all slots: batches must run one after another on one stream. */
ribo_status ribo_executor_run(ribo_executor *ex, ribo_stream *stream, int n_tokens, int n_seqs, int max_seqlen,
                              ribo_error *err);
ribo_status ribo_executor_run_at(ribo_executor *ex, ribo_stream *stream, int slot, int n_tokens, int n_seqs,
                                 int max_seqlen, ribo_error *err);

/* Takes g's pooling (its POOL op, output_per_token, pool skips) into the executor's copy of the graph:
 * g must be the graph the executor was made from, its pooling switched with ribo_graph_set_pool.
 * Between batches only. */
void ribo_executor_set_pool(ribo_executor *ex, const ribo_graph *g);

void ribo_executor_free(ribo_executor *ex);

#endif
