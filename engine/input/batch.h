/* What travels between the threads of an embedding run: window announcements (producer -> writer)
 * and packed batches (producer -> device pipeline -> writer). */
#ifndef RIBO_ENGINE_RUN_TYPES_H
#define RIBO_ENGINE_RUN_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/input/packer.h"

typedef enum ribo_msg_kind { RIBO_MSG_WINDOW = 1, RIBO_MSG_BATCH } ribo_msg_kind;

/* A window: a contiguous range of input sequences, packed on its own and written as one part. The
 * writer receives it before any of its batches. */
typedef struct ribo_window_msg {
    ribo_msg_kind kind;       /* RIBO_MSG_WINDOW */
    size_t index;             /* window number = part number */
    uint64_t row_begin;       /* input row (sequence number over all inputs) of its first sequence */
    size_t n_rows;            /* sequences */
    bool resumed;             /* its part is already complete on disk (--resume): no batches follow */
    size_t n_batches;
    uint64_t n_tokens;
    uint64_t hash;            /* of its ids and token ids (checks a kept part against the input) */
    char *ids;                /* n_rows NUL-terminated ids back to back (NULL when resumed) */
    size_t ids_bytes;
    int64_t *out_rows;        /* per-residue: output rows of each sequence; NULL when pooled */
    uint64_t n_out_rows;      /* rows of the part's data (n_rows pooled, residues per-residue) */
    uint64_t out_row_begin;   /* row of the output's main array where its rows start: the sum of the
                                 n_out_rows of every window before it (windows are announced in input
                                 order, so it is known before any earlier window is computed) */
    double read_s, tokenize_s, pack_s; /* producer time spent on it */
    double t_begin, t_end;    /* producer span (seconds since run start), for the trace */
} ribo_window_msg;

/* Per-batch device timing, seconds since the run started (host clock; device events mapped onto it).
 * All zero when timing is off. */
typedef struct ribo_batch_timing {
    double h2d[2], compute[2], d2h[2];
} ribo_batch_timing;

struct ribo_pipeline;

/* One packed batch; the objects come from the producer's pool and go back to it after the writer. */
typedef struct ribo_batch {
    ribo_msg_kind kind;       /* RIBO_MSG_BATCH */
    size_t seq_no;            /* 0-based batch number in packing order (over the whole run) */
    size_t window;            /* window it belongs to */
    ribo_packed_batch pb;     /* rows[] are global input rows */
    float *seq_scale;         /* [n_seqs] per-sequence embedding scale (ESM token dropout) */
    int cap_tokens, cap_seqs; /* room of the arrays */
    double pack_t0, pack_t1;  /* when the producer packed it (seconds since run start) */
    /* set by the pipeline that ran it */
    struct ribo_pipeline *owner;
    int pipeline;             /* its index */
    void *slot;               /* staging slot holding `out`, returned by ribo_pipeline_release */
    const float *out;         /* output rows in batch order: 1 per sequence (pooled) or its residues */
    ribo_batch_timing timing;
} ribo_batch;

/* What the trace keeps of each batch and window (the writer collects them when asked to). */
typedef struct ribo_batch_record {
    size_t seq_no, window;
    int pipeline, n_tokens, n_seqs;
    double pack[2];           /* producer */
    ribo_batch_timing timing; /* device streams */
    double write[2];          /* writer */
} ribo_batch_record;

typedef struct ribo_window_record {
    size_t index, n_rows;
    bool resumed;
    double t_begin, t_end;    /* producer: read + tokenize + plan */
} ribo_window_record;

#endif
