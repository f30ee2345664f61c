/* The .h5 writer of a ribo built without HDF5 (CMake picks this file instead of output_h5.c):
 * ribo_output_check_path refuses .h5 paths with a message saying how to get them, so
 * ribo_output_h5_create is reached only by a caller that skipped that check. */
#include "engine/io/output_h5.h"

bool ribo_output_h5_available(void) { return false; }

ribo_status ribo_output_h5_create(const ribo_output_h5_spec *spec, bool *created, off_t *data_offset,
                                  ribo_error *err) {
    *created = false;
    *data_offset = 0;
    return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, "output '%s': this ribo was built without HDF5 support",
                          spec->final_path);
}
