/* The small pickles around the state_dict in PyTorch's legacy format (_use_new_zipfile_serialization
 * =False, before 1.6): magic number, protocol version, sys_info, and the list of storage keys. */
#ifndef RIBO_ENGINE_TORCH_LEGACY_H
#define RIBO_ENGINE_TORCH_LEGACY_H

#include <stddef.h>

#include "engine/base/error.h"

/* The legacy format's first three pickles (magic number, protocol version 1001, sys_info with
 * little_endian true): *consumed is where the state_dict pickle starts. */
ribo_status ribo_torch_legacy_header(const unsigned char *buf, size_t len, const char *what, size_t *consumed,
                                     ribo_error *err);
/* The legacy format's list of storage keys (a pickled list of strings): *keys (malloc'd strings in
 * a malloc'd array, freed by the caller), *n, *consumed. */
ribo_status ribo_torch_legacy_keys(const unsigned char *buf, size_t len, const char *what, char ***keys, size_t *n,
                                   size_t *consumed, ribo_error *err);

#endif
