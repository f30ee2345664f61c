/* Free space for the output, checked before a run computes anything: the expected size of the main
 * array (rows x width x 4 bytes; for --pool none the rows are the residues, known exactly when the
 * input is one window, else estimated from the first window's rows per input byte read so far; the
 * reader's read-ahead (up to ~512 KiB) makes that estimate low rather than high, so no run is refused
 * for space it would not need, and the per-window reservation still catches the rest) against what
 * statvfs says the output's filesystem has available (plus what the rows file of an interrupted run
 * already holds). Test hook: RIBO_TEST_AVAILABLE_BYTES=n stands in for the available bytes. */
#ifndef RIBO_ENGINE_RUN_SPACE_H
#define RIBO_ENGINE_RUN_SPACE_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/base/error.h"
#include "engine/run/producer.h"

typedef struct ribo_space_need {
    uint64_t bytes;            /* of the main array */
    uint64_t rows;             /* its rows (residues per-residue, sequences pooled) */
    bool exact;                /* false: estimated from the input size */
} ribo_space_need;

/* The expected size, from the producer's first window (whole: it is the whole input). False when it
 * cannot be told (a pipe or stdin input of more than one window). */
bool ribo_space_expected(ribo_producer *p, bool whole, uint64_t dim, ribo_space_need *need);

/* RIBO_ERR_IO "output 'X': needs about N bytes (R rows x D floats), the filesystem at M (TYPE) holding
 * it has A bytes available" when A + already < N. A filesystem statvfs cannot read passes. */
ribo_status ribo_space_check(const char *output, const ribo_space_need *need, uint64_t dim, uint64_t already,
                             ribo_error *err);

#endif
