/* The writer: turns finished batches into parts (part_file.h). A window announcement opens the
 * part's temporary file and writes its ids; each batch's rows are checked to be finite and written
 * at their input-order place; when the last row of a window is in, the part is checksummed, fsynced
 * and renamed into place. It then hands the batch's staging slot back to its pipeline and the batch
 * object back to the producer's pool. Runs on one thread (or inline with --sync). */
#ifndef RIBO_ENGINE_PART_WRITER_H
#define RIBO_ENGINE_PART_WRITER_H

#include <stdatomic.h>

#include "engine/run/producer.h"
#include "engine/input/batch.h"

typedef struct ribo_part_writer ribo_part_writer;

typedef struct ribo_part_writer_config {
    const char *work_dir;
    size_t dim;
    bool per_residue;
    uint64_t fingerprint;      /* stored in every part */
    ribo_producer *producer;   /* batch objects go back to its pool */
    int kill_after_parts;      /* test hook (RIBO_TEST_KILL_AFTER_PARTS): SIGKILL itself after n parts; 0 = never */
    bool record;               /* keep a record of every batch and window (for --trace) */
    double t0;                 /* run start */
} ribo_part_writer_config;

/* One window's part as the assembly needs it. */
typedef struct ribo_part_entry {
    size_t index;
    uint64_t row_begin, n_rows, n_out_rows;
    bool has_file;             /* false for a window without sequences */
} ribo_part_entry;

ribo_status ribo_part_writer_create(const ribo_part_writer_config *cfg, ribo_part_writer **out, ribo_error *err);

/* Handles one message from the producer (window) or a pipeline (batch; its slot is released and
 * the batch returned to the pool, also on error). */
ribo_status ribo_part_writer_handle(ribo_part_writer *w, ribo_msg_kind *msg, ribo_error *err);

/* After the last message: checks that every announced window has its part. */
ribo_status ribo_part_writer_finish(ribo_part_writer *w, ribo_error *err);

size_t ribo_part_writer_count(const ribo_part_writer *w);
const ribo_part_entry *ribo_part_writer_entry(const ribo_part_writer *w, size_t i);

/* Progress (any thread): sequences and tokens whose rows are written (or were kept from a
 * previous run), parts written by this run. */
void ribo_part_writer_progress(const ribo_part_writer *w, uint64_t *sequences, uint64_t *tokens, uint64_t *parts);
double ribo_part_writer_seconds(const ribo_part_writer *w);
/* Records kept with cfg.record (trace). */
const ribo_batch_record *ribo_part_writer_batches(const ribo_part_writer *w, size_t *n);
const ribo_window_record *ribo_part_writer_windows(const ribo_part_writer *w, size_t *n);

/* Frees; unfinished parts' temporary files are removed (finished parts stay for --resume). */
void ribo_part_writer_free(ribo_part_writer *w);

#endif
