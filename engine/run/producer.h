/* The host side of the run that feeds the devices: reads the input window by window
 * (input_stream.c), sorts and packs each window into batches (packer.c) and hands out, in order, a
 * window announcement followed by that window's packed batches. It never calls a backend. Batch
 * objects come from a fixed pool: when all are in flight, ribo_producer_next waits until one is
 * released (backpressure; host memory stays bounded). */
#ifndef RIBO_ENGINE_PRODUCER_H
#define RIBO_ENGINE_PRODUCER_H

#include "engine/graph/model.h"
#include "engine/input/input_stream.h"
#include "engine/input/batch.h"

typedef struct ribo_producer ribo_producer;

/* Resume hook: called for every non-empty window before it is packed. Sets *done when its part is
 * already complete on disk (then no batches are made); an error stops the run (e.g. the part
 * belongs to different input). */
typedef ribo_status (*ribo_part_check_fn)(void *user, const ribo_window_msg *w, bool *done, ribo_error *err);

typedef struct ribo_producer_config {
    ribo_input_config input;
    const ribo_model_family *family;     /* its seq_scale hook fills each batch's seq_scale (none: 1.0) */
    const ribo_model_conventions *conv;  /* passed to the hook; both outlive the producer */
    bool per_residue;          /* output rows per sequence: its tokens minus pool_skip, else 1 */
    int pool_skip;
    size_t pool_size;          /* batch objects (>= 1) */
    ribo_part_check_fn part_check; /* NULL: every window is computed */
    void *part_check_user;
    double t0;                 /* run start (ribo_now_seconds), origin of the timestamps */
} ribo_producer_config;

/* Totals so far (read them after the producer thread has finished). */
typedef struct ribo_producer_stats {
    size_t windows, windows_resumed, batches;
    uint64_t sequences, tokens, tokens_computed, sequences_computed;
    size_t skipped, truncated, unknown;
    size_t stop_frames, short_frames, lenient; /* --translate / DNA input counts (seqprep.h) */
    double read_s, tokenize_s, pack_s;
    double budget_slots;       /* sum over computed batches of the token budget (packing density) */
} ribo_producer_stats;

/* Opens the inputs and reads the first window (so the caller can size the devices for a small input). */
ribo_status ribo_producer_create(const ribo_producer_config *cfg, ribo_producer **out, ribo_error *err);

/* Packs the first window with the given budget without handing anything out: its largest batch
 * (tokens, sequences), its longest sequence (tokens), and whether it is the whole input. */
ribo_status ribo_producer_probe(ribo_producer *p, int max_tokens, int max_seqs, int *batch_tokens, int *batch_seqs,
                                int *longest, bool *whole_input, ribo_error *err);

/* Fixes the packing budget (max_seqs 0 = no limit) and allocates the batch pool. */
ribo_status ribo_producer_start(ribo_producer *p, int max_tokens, int max_seqs, ribo_error *err);

/* The next message: a ribo_window_msg (free it with ribo_producer_free_window), a ribo_batch from
 * the pool (give it back with ribo_producer_release), or NULL at the end of the input. Waits while
 * the pool is empty; returns RIBO_ERR_INTERNAL "stopped" if the pool was aborted. */
ribo_status ribo_producer_next(ribo_producer *p, ribo_msg_kind **msg, ribo_error *err);

/* Thread-safe: a batch's host arrays are free again. */
void ribo_producer_release(ribo_producer *p, ribo_batch *b);
void ribo_producer_free_window(ribo_window_msg *w);

/* The pool's queue (so a failing run can abort a producer waiting on it). */
struct ribo_queue *ribo_producer_pool(ribo_producer *p);
ribo_input *ribo_producer_input(ribo_producer *p);
/* Sequences in the window read by ribo_producer_create (0: the input holds none). */
size_t ribo_producer_first_window_size(const ribo_producer *p);
/* Tokens and output rows of that first window (before it is handed out). */
void ribo_producer_first_window_rows(const ribo_producer *p, uint64_t *tokens, uint64_t *out_rows);
ribo_producer_stats ribo_producer_get_stats(const ribo_producer *p);
/* Progress counters, safe from any thread: tokens of the windows announced, batches packed and
 * their tokens, the packing budget. */
void ribo_producer_progress(ribo_producer *p, uint64_t *tokens_read, uint64_t *batches, uint64_t *tokens_packed,
                            int *max_tokens);

void ribo_producer_free(ribo_producer *p);

#endif
