/* Embedding output files, written under a temporary name and renamed into place when complete.
 *   X.npy : float32 [N, D] (pooled) or [T, D] (per-residue, plus X.offsets.npy int64 [N+1]),
 *           and X.ids.txt with one id per line in row order.
 *   X.h5  : datasets "embeddings" float32 [N, D] and "ids" (variable-length strings), or for
 *           per-residue "tokens" float32 [T, D] + "offsets" int64 [N+1] + "ids". Only when ribo is
 *           built with HDF5 (RIBO_WITH_HDF5); otherwise .h5 is refused with RIBO_ERR_UNSUPPORTED. */
#ifndef RIBO_ENGINE_OUTPUT_H
#define RIBO_ENGINE_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/base/error.h"

typedef struct ribo_output ribo_output;

typedef struct ribo_output_spec {
    const char *path;             /* ends in .npy or .h5 (see ribo_output_check_path) */
    size_t n_rows;                /* sequences */
    int dim;                      /* embedding width D */
    const char *const *ids;       /* n_rows ids, in row order; or NULL and next_id: */
    const int64_t *row_tokens;    /* per-residue mode: n_rows token counts; NULL = pooled */
    /* Ids without holding them all: when ids is NULL, next_id is called n_rows times, in row order,
     * while the output is opened; it returns the next id (valid until the next call), or NULL with
     * err set. ids_bytes = sum of (strlen + 1) over all ids (the HDF5 free-space check). */
    const char *(*next_id)(void *user, ribo_error *err);
    void *next_id_user;
    uint64_t ids_bytes;
    /* .npy written in place: the main array's rows are already in this file (row 0 at byte
     * rows_base, the space reserved for the header: ribo_npy_header_bound). Open then writes the side
     * files and the real header (see ribo_output_open), commit renames this file to `path`, and a
     * failed or closed output never removes it (it holds the rows --resume keeps). NULL = a new file. */
    const char *rows_path;
    uint64_t rows_base;
} ribo_output_spec;

/* Checks that path names an output format this ribo can write, without touching the filesystem:
 * .npy, or .h5 when built with HDF5 (else RIBO_ERR_UNSUPPORTED "output 'X.h5': this ribo was built
 * without HDF5 support; ..."); any other extension is RIBO_ERR_INVALID_ARGUMENT. ribo_output_open
 * does this first; callers may do it before any expensive work. */
ribo_status ribo_output_check_path(const char *path, ribo_error *err);

/* Creates the temporary files (named after path with a ".partial-<pid>" suffix, in the same directory).
 * With spec->rows_path, the main file is that one: its header is written in front of the rows and
 * the file cut to header + rows. The header then always has today's length (numpy pads it to a
 * multiple of 64: 128 bytes for any 2-D float32 shape ribo writes), so it fills the reserved space
 * exactly; were it ever shorter, the rows are moved up to it by one in-kernel copy into a new file
 * (never hit with ribo's dims; RIBO_TEST_NPY_RESERVE_EXTRA exercises it). Every row counts as written. */
ribo_status ribo_output_open(const ribo_output_spec *spec, ribo_output **out, ribo_error *err);

/* Writes row `row` (rows may come in any order): D floats when pooled, row_tokens[row]*D when per-residue. */
ribo_status ribo_output_write_row(ribo_output *out, size_t row, const float *data, ribo_error *err);

/* Writes rows first..first+n-1, whose data lie back to back in input order. */
ribo_status ribo_output_write_rows(ribo_output *out, size_t first, size_t n, const float *data, ribo_error *err);

/* Copies the data of rows first..first+n-1 (back to back in input order) from src_fd at src_off into
 * the output, in the kernel where it can (ribo_copy_range): the assembly of parts. */
ribo_status ribo_output_copy_rows(ribo_output *out, size_t first, size_t n, int src_fd, uint64_t src_off,
                                  const char *src_path, ribo_error *err);

/* Checks every row was written, flushes + fsyncs, renames the files into place. */
ribo_status ribo_output_commit(ribo_output *out, ribo_error *err);

/* Removes the temporary files (the final names are never touched); frees out. Safe after commit (then only frees). */
void ribo_output_close(ribo_output *out);

#endif
