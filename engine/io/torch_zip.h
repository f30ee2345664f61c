/* Read-only zip reader for PyTorch checkpoints (torch.save since 1.6): the central directory,
 * ZIP64 included, parsed from a byte buffer (a mapped file); each entry's data located through its
 * local header. Every offset and size is checked against the buffer. Nothing is decompressed. */
#ifndef RIBO_ENGINE_TORCH_ZIP_H
#define RIBO_ENGINE_TORCH_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "engine/base/error.h"

typedef struct ribo_zip_entry {
    const char *name;     /* into the buffer, not NUL-terminated */
    size_t name_len;
    uint16_t method;      /* 0 = stored; anything else cannot be mapped */
    uint64_t data_offset; /* local header offset + 30 + local name and extra lengths */
    uint64_t size;        /* compressed size (= the size for stored entries) */
} ribo_zip_entry;

typedef struct ribo_zip {
    ribo_zip_entry *entries;
    size_t n;
} ribo_zip;

/* Parses the archive in buf[0, len): the end-of-central-directory record (searched in the last
 * 64 KiB + 22 bytes), the ZIP64 locator and record where a field is saturated, then every central
 * entry (its zip64 extra where a field is 0xFFFFFFFF) and its local header. Errors name `what`
 * (the file) and the entry. */
ribo_status ribo_zip_read(const unsigned char *buf, size_t len, const char *what, ribo_zip *out, ribo_error *err);

/* The entry named exactly name; NULL when absent. */
const ribo_zip_entry *ribo_zip_find(const ribo_zip *z, const char *name);

void ribo_zip_free(ribo_zip *z);

#endif
