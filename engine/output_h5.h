/* The HDF5 half of the output writer (engine/output_h5.c), private to engine/output.c. It is
 * compiled only when ribo is built with HDF5 (RIBO_WITH_HDF5, CMake option RIBO_HDF5); without it,
 * ribo_output_open refuses .h5 paths and nothing here is referenced. */
#ifndef RIBO_ENGINE_OUTPUT_H5_H
#define RIBO_ENGINE_OUTPUT_H5_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

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

/* Checks free space, then creates spec->partial_path as an HDF5 file holding the root attributes,
 * "ids", "offsets" (per-residue) and the main float32 dataset with contiguous storage allocated
 * (and its disk blocks reserved) but never written, and closes it in HDF5. *created is set once the
 * file may exist on disk (also on failure). *data_offset = byte offset of the main dataset's
 * storage in the file (0 when it is empty): its rows are then pwrite'd straight there. */
ribo_status ribo_output_h5_create(const ribo_output_h5_spec *spec, bool *created, off_t *data_offset,
                                  ribo_error *err);

/* Defined in output.c: reserves the disk blocks of [off, off+len) of fd (RIBO_ERR_IO naming path
 * when the disk is full; filesystems that cannot reserve are fine). */
ribo_status ribo_output_reserve(int fd, off_t off, off_t len, const char *path, ribo_error *err);

#endif
