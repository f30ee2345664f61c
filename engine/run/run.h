/* Private to the embed driver (embed.c sets a run up and tears it down, threads.c runs its
 * batches): everything one `ribo embed` run holds. */
#ifndef RIBO_ENGINE_EMBED_RUN_H
#define RIBO_ENGINE_EMBED_RUN_H

#include <pthread.h>

#include "engine/store/fingerprint.h"
#include "engine/graph/model.h"
#include "engine/run/writer.h"
#include "engine/run/pipeline.h"
#include "engine/run/producer.h"
#include "engine/run/stop.h"
#include "engine/run/session.h"
#include "engine/store/workdir.h"

/* Where a run's finished batches and window announcements go: the part writer (files) or the
 * memory sink (a session's in-memory batch). */
typedef struct ribo_run_sink {
    ribo_status (*handle)(void *user, ribo_msg_kind *msg, ribo_error *err);
    void (*progress)(void *user, uint64_t *sequences, uint64_t *tokens); /* any thread */
    void *user;
} ribo_run_sink;

typedef struct embed_run {
    ribo_session *ses;              /* model, graph, devices, pipelines (not owned) */
    const ribo_embed_options *o;    /* the run's options, device-side ones being the session's */
    double t0;                      /* run start (ribo_now_seconds) */
    double t_pipeline;              /* when the batches started (seconds since t0) */
    double t_pipeline_end;
    ribo_seqset_options so;
    ribo_fingerprint fp;
    ribo_run_dir *dir;
    ribo_producer *prod;
    ribo_part_writer *writer;       /* file runs */
    ribo_run_sink sink;
    int max_tokens, max_seqs;       /* packing budget */
    uint64_t rows_base;             /* .npy rows written in place: byte of row 0 in the rows file; 0 = parts */
    pthread_mutex_t log_lock;
    /* progress */
    double last_progress_t;
    uint64_t last_progress_tokens;
    double last_compute_s[RIBO_MAX_DEVICES];
    /* threaded run */
    ribo_run_ctl ctl;
    ribo_queue *batch_q, *write_q;
    double producer_wait_s, writer_wait_s;
} embed_run;

/* Formats one line and hands it to the options' log callback (thread-safe). */
void embed_log(void *run, const char *fmt, ...) RIBO_PRINTF(2, 3);

/* Creates r->writer (run/writer_setup.c): .npy rows in place in the work directory's rows file (its
 * part check told to expect records), .h5 in parts; refuses first when the output's filesystem lacks
 * the space (whole: the first window is the whole input). */
ribo_status embed_create_writer(embed_run *r, bool whole, ribo_error *err);

/* Runs every batch: --sync inline on this thread, else producer, pipeline and writer threads.
 * Returns once every row is in a part (or the first error). */
ribo_status embed_run_batches(embed_run *r, ribo_error *err);

/* Calls the progress callback (final: after the run). */
void embed_progress(embed_run *r, bool final);

#endif
