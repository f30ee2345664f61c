/* The in-memory end of a session's run: finished batches' rows go into the caller's buffer (pooled
 * output, row r at out + r * dim) and/or to the caller's callback, once per sequence in input order
 * (rows that finish early wait in a reorder buffer until every earlier sequence is delivered). Each
 * batch is checked to be finite before any of its rows is delivered, as the part writer does. It
 * hands the batch's staging slot back to its pipeline and the batch object back to the producer.
 * Runs on one thread (the run's writer thread, or inline with --sync). */
#ifndef RIBO_ENGINE_RUN_MEMORY_SINK_H
#define RIBO_ENGINE_RUN_MEMORY_SINK_H

#include "engine/input/batch.h"
#include "engine/run/producer.h"
#include "ribo/ribo.h"

typedef struct ribo_memory_sink ribo_memory_sink;

typedef struct ribo_memory_sink_config {
    size_t dim;
    bool per_residue;
    ribo_producer *producer;   /* batch objects go back to its pool */
    float *out;                /* pooled rows; NULL = none */
    size_t out_rows;           /* room of out, in rows */
    ribo_rows_callback cb;     /* NULL = none */
    void *cb_user;
} ribo_memory_sink_config;

ribo_status ribo_memory_sink_create(const ribo_memory_sink_config *cfg, ribo_memory_sink **out, ribo_error *err);

/* Handles one message from the producer (window) or a pipeline (batch; released also on error). */
ribo_status ribo_memory_sink_handle(void *sink, ribo_msg_kind *msg, ribo_error *err);

/* After the last message: every announced sequence was delivered. */
ribo_status ribo_memory_sink_finish(ribo_memory_sink *s, ribo_error *err);

/* Sequences and tokens delivered (any thread). */
void ribo_memory_sink_progress(void *sink, uint64_t *sequences, uint64_t *tokens);
double ribo_memory_sink_seconds(const ribo_memory_sink *s);

void ribo_memory_sink_free(ribo_memory_sink *s);

#endif
