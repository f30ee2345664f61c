/* The writer: turns finished batches into output rows on disk, window by window. A window
 * announcement (from the producer, in input order) opens the window; each batch's rows are checked to
 * be finite and written at their input-order place; when the last row of a window is in, the window
 * is made durable and counted as done. Two targets:
 *
 *   in place (.npy): every row goes straight to its final offset in the run's output file
 *     (cfg.rows_path, in the work directory; rows_base + output row x dim x 4, the output row being
 *     the window's out_row_begin plus the row within it). A window's range is reserved with
 *     fallocate when it opens (a full disk fails there, naming the file and the bytes). When it is
 *     complete the file is fdatasync'ed, and only then its record (part_file.h, flag external: ids,
 *     row counts, offset and CRC-32 of its bytes) is written, fsynced and renamed into place.
 *   parts (.h5): each window's rows go to its own part file, checksummed, fsynced and renamed into
 *     place when complete; assemble.c copies them into the final file at the end.
 *
 * Per-residue rows are written a sequence at a time (runs of consecutive sequences of a batch in one
 * pwritev); pooled rows (one small row per sequence) are gathered in a window buffer and written with
 * one pwrite when the window completes: no per-row syscalls. With cfg.writers > 1 a pool of that many
 * threads writes the batches in parallel (windows are still announced on the calling thread, so a
 * batch's window is always open before the batch is handed on); the thread that writes a window's
 * last batch completes it. With 1 (or --sync), batches are written on the calling thread. A batch's
 * staging slot goes back to its pipeline and the batch object to the producer's pool once written. */
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
    uint64_t fingerprint;      /* stored in every part / record */
    ribo_producer *producer;   /* batch objects go back to its pool */
    int kill_after_parts;      /* test hook (RIBO_TEST_KILL_AFTER_PARTS): SIGKILL itself after n parts; 0 = never */
    int kill_before_record;    /* test hook (RIBO_TEST_KILL_BEFORE_RECORD): SIGKILL once the n-th completed
                                  window's rows are on disk, before its record is written; 0 = never */
    int write_delay_ms;        /* test hook (RIBO_TEST_WRITE_DELAY_MS): sleep before writing each batch */
    bool record;               /* keep a record of every batch and window (for --trace) */
    double t0;                 /* run start */
    const char *rows_path;     /* in place: the output file the rows go to; NULL = one part file per window */
    uint64_t rows_base;        /* in place: byte offset of row 0 in it (the reserved .npy header) */
    bool rows_keep;            /* in place, resuming: open rows_path without truncating (kept windows are in it) */
    int writers;               /* threads writing batches; <= 1 = the calling thread */
    /* a writer thread failed (called once, on that thread; the run should stop) */
    void (*on_error)(void *user, const ribo_error *err);
    void *on_error_user;
} ribo_part_writer_config;

/* One window's part as the assembly needs it. */
typedef struct ribo_part_entry {
    size_t index;
    uint64_t row_begin, n_rows, n_out_rows;
    bool has_file;             /* false for a window without sequences */
} ribo_part_entry;

ribo_status ribo_part_writer_create(const ribo_part_writer_config *cfg, ribo_part_writer **out, ribo_error *err);

/* Handles one message from the producer (window) or a pipeline (batch; its slot is released and
 * the batch returned to the pool, also on error). Called from one thread. With writer threads a
 * batch is handed to them and its write errors reach cfg.on_error (and ribo_part_writer_finish). */
ribo_status ribo_part_writer_handle(ribo_part_writer *w, ribo_msg_kind *msg, ribo_error *err);

/* Waits until the writer threads have written every batch handed to them (then none is left). */
void ribo_part_writer_join(ribo_part_writer *w);

/* After the last message: waits for the writer threads, then checks that every announced window
 * is complete (the first write error otherwise). */
ribo_status ribo_part_writer_finish(ribo_part_writer *w, ribo_error *err);

size_t ribo_part_writer_count(const ribo_part_writer *w);
const ribo_part_entry *ribo_part_writer_entry(const ribo_part_writer *w, size_t i);

/* Progress (any thread): sequences and tokens whose rows are written (or were kept from a
 * previous run), parts written by this run. */
void ribo_part_writer_progress(const ribo_part_writer *w, uint64_t *sequences, uint64_t *tokens, uint64_t *parts);
/* Busy seconds of the writer: the mean over its threads (after finish). */
double ribo_part_writer_seconds(const ribo_part_writer *w);

/* Output statistics for the report (after finish). */
typedef struct ribo_writer_stats {
    int writers;               /* threads that wrote batches (1: the writer thread itself) */
    double busy_s[64];         /* each one's busy seconds (the first 64) */
    uint64_t bytes;            /* row bytes written by this run */
    double first_write, last_done; /* first batch write started, last window completed (s since run start) */
    bool in_place;             /* rows written to their final place (no assembly copy) */
} ribo_writer_stats;
void ribo_part_writer_stats(const ribo_part_writer *w, ribo_writer_stats *st);

/* Records kept with cfg.record (trace). */
const ribo_batch_record *ribo_part_writer_batches(const ribo_part_writer *w, size_t *n);
const ribo_window_record *ribo_part_writer_windows(const ribo_part_writer *w, size_t *n);

/* Frees (joining the writer threads); unfinished parts' temporary files are removed (finished parts,
 * records and the in-place rows file stay for --resume). */
void ribo_part_writer_free(ribo_part_writer *w);

#endif
