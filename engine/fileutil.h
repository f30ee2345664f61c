/* Small whole-file reads (config.json, model.safetensors.index.json). */
#ifndef RIBO_ENGINE_FILEUTIL_H
#define RIBO_ENGINE_FILEUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Opens path read-only and checks it is a regular file; *fd and *size on success. Errors name the
 * path: cannot open / stat (RIBO_ERR_IO), not a regular file (RIBO_ERR_IO). */
ribo_status ribo_open_regular_file(const char *path, int *fd, uint64_t *size, ribo_error *err);

/* Reads a regular file of at most max_bytes whole into a malloc'd, NUL-terminated buffer (*len
 * excludes the NUL). Errors name the path: cannot open / stat / read (RIBO_ERR_IO), not a regular
 * file (RIBO_ERR_IO), larger than max_bytes (RIBO_ERR_MODEL), out of memory. */
ribo_status ribo_read_small_file(const char *path, size_t max_bytes, char **buf, size_t *len, ribo_error *err);

#endif
