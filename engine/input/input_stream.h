/* The input reader of `ribo embed` and `ribo tokenize`: the FASTA files are read in windows, each a
 * contiguous range of input records in input order holding up to window_tokens tokens or
 * window_seqs sequences (the record that reaches a limit stays in its window), so host memory does
 * not grow with the input. Each record goes through the per-record step ribo_seqset_add_record.
 * Duplicate ids are caught over the whole input: every id's 64-bit hash is kept (8 bytes per
 * sequence in open-addressing tables, 11-21 bytes with their free slots: the one part of host
 * memory that grows with the input); a hash seen before triggers an exact check that re-reads the
 * regular-file inputs up to the current record and looks up the ids of the inputs that cannot be
 * re-read (pipes, FIFOs, sockets, /dev/stdin), which are kept in memory for this (their length + about
 * 3 bytes each), so a hash collision is never reported as a duplicate and a real duplicate is reported with both places ("<file>: record N ('<id>'): duplicate id '<id>' (first
 * seen in <file>, record M)"). */
#ifndef RIBO_ENGINE_INPUT_STREAM_H
#define RIBO_ENGINE_INPUT_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/base/error.h"
#include "engine/input/seqset.h"

typedef struct ribo_input ribo_input;

typedef struct ribo_input_config {
    const char *const *paths;
    int n_paths;
    const ribo_tokenizer *tok;
    const ribo_seqset_options *opts;
    size_t window_tokens;  /* a window closes once it holds this many tokens... */
    size_t window_seqs;    /* ...or this many sequences */
    /* In-memory records instead of files (a session's batch): n_mem (id, sequence) pairs read in
     * order exactly like FASTA records (whitespace in a sequence dropped, as a FASTA reader does;
     * control characters and empty ids refused), named in messages as "<mem_name>: record N ('id')".
     * paths / n_paths are then unused. The arrays must outlive the reader. */
    const char *const *mem_ids, *const *mem_seqs;
    size_t n_mem;
    const char *mem_name;
} ribo_input_config;

/* One window; set is reused from window to window (free with ribo_input_window_free). */
typedef struct ribo_input_window {
    size_t index;          /* 0-based window number */
    uint64_t row_begin;    /* input row (sequence number over all inputs) of set's first sequence */
    ribo_seqset set;       /* its sequences in input order, with its skipped/truncated/unknown counts */
    uint64_t n_tokens;
    uint64_t hash;         /* of its ids and token ids */
    double read_s, tokenize_s; /* time spent reading FASTA / in the per-record step */
} ribo_input_window;

/* Checks that every path can be opened (errors name it) and prepares the first file. Each input is
 * opened for reading once, in order (stat only before that), so a FIFO or pipe is read exactly once. */
ribo_status ribo_input_open(const ribo_input_config *cfg, ribo_input **out, ribo_error *err);

/* Fills win with the next window. *has = false when the input is exhausted. A window may hold no
 * sequence (only skipped records) at the end of the input. */
ribo_status ribo_input_next(ribo_input *in, ribo_input_window *win, bool *has, ribo_error *err);

/* True once every record has been read (the last window returned may be the final one). */
bool ribo_input_exhausted(const ribo_input *in);

/* Input bytes consumed so far and in total (compressed bytes for gzip); safe from any thread. */
void ribo_input_progress(const ribo_input *in, uint64_t *done, uint64_t *total);

void ribo_input_close(ribo_input *in);
void ribo_input_window_free(ribo_input_window *win);

#endif
