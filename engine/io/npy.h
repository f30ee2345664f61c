/* NumPy .npy files (format 1.0): header building for the writer, a small reader for tests/tools. */
#ifndef RIBO_ENGINE_NPY_H
#define RIBO_ENGINE_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "engine/base/error.h"

/* Builds a complete v1.0 header (magic .. padding .. '\n', length multiple of 64) for a C-order
 * array of descr ("<f4", "<f8", "<i8") and shape; returns its length or 0 if buf is too small. */
size_t ribo_npy_header(char *buf, size_t cap, const char *descr, const int64_t *shape, int ndim);

/* The length of the header of any 2-D C-order array of descr with `cols` columns and at most
 * INT64_MAX rows: the space to reserve in front of rows whose count is known only at the end
 * (ribo_npy_header of the final shape is never longer; 0 if cap-independent building fails). */
size_t ribo_npy_header_bound(const char *descr, int64_t cols);

typedef struct ribo_npy_array {
    char descr[8];          /* "<f4", "<f8", "<i8", "<i4" */
    int ndim;
    int64_t shape[4];
    size_t n_elements;
    void *data;             /* malloc'd, native little-endian */
} ribo_npy_array;

/* Reads a little-endian C-order .npy of <f4/<f8/<i4/<i8. */
ribo_status ribo_npy_read(const char *path, ribo_npy_array *out, ribo_error *err);
/* Element i as double, whatever the dtype. */
double ribo_npy_get(const ribo_npy_array *a, size_t i);
void ribo_npy_free(ribo_npy_array *a);

#endif
