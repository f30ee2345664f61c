/* The HDF5 half of the output writer, private to engine/io/output.c. Two implementations, chosen by
 * CMake (option RIBO_HDF5): output_h5.c through the HDF5 library, or output_h5_none.c, where
 * ribo_output_h5_available() is false (ribo_output_open then refuses .h5 paths) and
 * ribo_output_h5_create refuses with RIBO_ERR_UNSUPPORTED. */
#ifndef RIBO_ENGINE_OUTPUT_H5_H
#define RIBO_ENGINE_OUTPUT_H5_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/base/error.h"

/* What goes into the .h5 file (everything but the embedding values). */
typedef struct ribo_output_h5_spec {
    const char *partial_path;     /* the file to create (truncated when it exists) */
    const char *final_path;       /* named in the not-enough-space error */
    const char *dir;              /* its directory: free space is checked there */
    bool per_residue;             /* "tokens" + "offsets" instead of "embeddings" */
    size_t n_rows;                /* sequences (length of "ids") */
    size_t dim;                   /* embedding width D */
    uint64_t total_rows;          /* N (pooled) or T (per-residue) rows of the main dataset */
    /* the n_rows ids: called for i = 0, 1, ... in order; the id stays valid until the next call;
     * NULL with err set on failure */
    const char *(*id_at)(void *user, size_t i, ribo_error *err);
    void *id_user;
    uint64_t ids_bytes;           /* sum of (strlen + 1) over the ids */
    const int64_t *row_start;     /* per-residue: n_rows + 1 offsets; else unused */
} ribo_output_h5_spec;

/* True when this build writes .h5 files. */
bool ribo_output_h5_available(void);

/* Checks free space, then creates spec->partial_path as an HDF5 file holding the root attributes,
 * "ids", "offsets" (per-residue) and the main float32 dataset with contiguous storage allocated
 * (and its disk blocks reserved) but never written, and closes it in HDF5. *created is set once the
 * file may exist on disk (also on failure). *data_offset = byte offset of the main dataset's
 * storage in the file (0 when it is empty): its rows are then pwrite'd straight there. */
ribo_status ribo_output_h5_create(const ribo_output_h5_spec *spec, bool *created, off_t *data_offset,
                                  ribo_error *err);

#endif
