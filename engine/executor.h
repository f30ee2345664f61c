/* Runs a graph on one device: uploads the weights once, plans one activation arena for the
 * token budget, then executes batches whose inputs the caller has copied into the input tensors. */
#ifndef RIBO_ENGINE_EXECUTOR_H
#define RIBO_ENGINE_EXECUTOR_H

#include "backend.h"
#include "graph.h"
#include "safetensors.h"

typedef struct ribo_executor ribo_executor;

typedef struct ribo_executor_config {
    int max_tokens;          /* tokens per batch */
    int max_seqs;            /* sequences per batch (<= max_tokens) */
    ribo_storage storage;    /* activation/weight storage type on the device */
} ribo_executor_config;

/* Device bytes the executor will allocate (weights + arena + inputs + output). */
typedef struct ribo_memory_plan {
    uint64_t weight_bytes, arena_bytes, io_bytes;
} ribo_memory_plan;

/* Plans the arena without a device (liveness-based first-fit; shared by `ribo info`). */
ribo_status ribo_executor_plan(ribo_graph *g, const ribo_executor_config *cfg, ribo_memory_plan *plan,
                               ribo_error *err);

/* Checks every weight of g against the checkpoint (presence under any accepted name, dtype,
 * shape vs config) without touching a device, and records the checkpoint tensor of every source
 * (ribo_gtensor.resolved, valid while st is open; g->resolved_from = st). Errors name the file and
 * tensor; a missing tensor's message starts with origin (the model directory; may be NULL). */
ribo_status ribo_executor_check_weights(ribo_graph *g, const ribo_safetensors *st, const char *origin,
                                        ribo_error *err);

/* Takes ownership of nothing: g must outlive the executor. Weights are converted on upload from the
 * tensors ribo_executor_check_weights resolved (it is run here first unless g was checked against st). */
ribo_status ribo_executor_create(ribo_device *dev, ribo_stream *stream, ribo_graph *g, const ribo_safetensors *st,
                                 const ribo_executor_config *cfg, ribo_executor **out, ribo_error *err);

/* Device address of a per-batch input / of the fp32 output. */
ribo_dptr ribo_executor_input(const ribo_executor *ex, ribo_input_kind kind);
ribo_dptr ribo_executor_output(const ribo_executor *ex);

/* Enqueues every op of the graph on stream for a batch of n_tokens tokens in n_seqs sequences. */
ribo_status ribo_executor_run(ribo_executor *ex, ribo_stream *stream, int n_tokens, int n_seqs, int max_seqlen,
                              ribo_error *err);

void ribo_executor_free(ribo_executor *ex);

#endif
