/* Whole-model test helpers shared by the model tests: run ribo_embed on fixtures and compare the
 * rows (or per-residue blocks) against float64 reference .npy files, per sequence. */
#ifndef RIBO_TESTS_EMBED_CHECK_H
#define RIBO_TESTS_EMBED_CHECK_H

#include <stdbool.h>

#include "engine/io/npy.h"
#include "test_util.h"

/* Runs ribo_embed (quiet) with the given options; the backend comes from RIBO_TEST_BACKEND when set. */
ribo_status ribo_test_embed(const char *model_dir, const char *const *inputs, int n_inputs, const char *out,
                            ribo_pool pool, ribo_dtype dtype, int max_batch_seqs, ribo_error *err);

/* True when the test device can store dtype (fp16/bf16 need a CUDA/HIP device today). */
bool ribo_test_supports_dtype(ribo_dtype dtype);

typedef struct ribo_row_bounds {
    double max_rel;   /* per sequence: ||got - ref|| / ||ref|| at most this */
    double min_cos;   /* per sequence: cosine at least this */
} ribo_row_bounds;

/* Compares got (float32) with ref (float64) per sequence: rows r0..r1 of group g are
 * offsets[g]..offsets[g+1] (offsets NULL: one row per sequence). CHECK-fails every sequence out of
 * bounds and prints the worst figures under `what`. */
void ribo_test_compare_rows(const char *what, const ribo_npy_array *got, const ribo_npy_array *ref,
                            const ribo_npy_array *offsets, ribo_row_bounds bounds);

/* Reads out_npy, the fixture reference ref_name (and the fixture offsets_name when not NULL) and
 * compares them with ribo_test_compare_rows. */
void ribo_test_check_against(const char *what, const char *out_npy, const char *ref_name, const char *offsets_name,
                             ribo_row_bounds bounds);

/* Max per-row relative difference between two npy files of the same shape (INFINITY if unreadable). */
double ribo_test_npy_max_rel_diff(const char *p1, const char *p2);

#endif
