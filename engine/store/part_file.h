/* A part: the output rows of one window (a contiguous range of input sequences) in one file of the
 * run's work directory, written under a temporary name, fsynced and renamed into place when all its
 * rows are there. Layout (little-endian):
 *
 *   [0, 256)          header (below), ending with the CRC-32 of its first 252 bytes
 *   out_rows          int64 [n_rows]: output rows of each sequence (per-residue parts only)
 *   ids               n_rows NUL-terminated ids, back to back (ids_bytes)
 *   zero padding      up to data_offset (a multiple of 64)
 *   data              float32 [n_out_rows, dim], sequences in input order
 *
 * body_crc is the CRC-32 of every byte after the header, so a part is verified by reading it once.
 *
 * A window record (flag `external`, .npy output written in place) has the same layout without the
 * data section: its rows live in the run's output file (workdir.h), at byte ext_offset, and
 * data_crc is the CRC-32 of those n_out_rows x dim x 4 bytes there. The record is written (and
 * fsynced, renamed, the directory fsynced) only after those bytes are on disk, so an existing record
 * names a window whose rows were complete; --resume re-reads them to check data_crc. */
#ifndef RIBO_ENGINE_PART_FILE_H
#define RIBO_ENGINE_PART_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/base/error.h"

#define RIBO_PART_HEADER_BYTES 256
#define RIBO_PART_VERSION 2

typedef struct ribo_part_header {
    uint32_t version;
    bool per_residue;
    uint64_t index;            /* part (= window) number */
    uint64_t row_begin;        /* input row of its first sequence */
    uint64_t n_rows;           /* sequences */
    uint64_t n_out_rows;       /* rows of `data` */
    uint64_t dim;
    uint64_t ids_bytes;
    uint64_t data_offset;
    uint64_t fingerprint;      /* of the run (model, inputs, options) that wrote it */
    uint64_t window_hash;      /* of the window's ids and token ids */
    uint32_t body_crc;
    bool external;             /* a window record: the rows are in the output file, not here */
    uint64_t out_row_begin;    /* row of the main array (sequence, or residue when per-residue) of its first row */
    uint64_t ext_offset;       /* external: byte offset of its rows in the output file */
    uint32_t data_crc;         /* external: CRC-32 of those bytes */
} ribo_part_header;

/* Byte offset of the data section. */
uint64_t ribo_part_data_offset(bool per_residue, uint64_t n_rows, uint64_t ids_bytes);
/* Total file size (data_offset for a record). */
uint64_t ribo_part_file_size(const ribo_part_header *h);

void ribo_part_header_encode(const ribo_part_header *h, unsigned char out[RIBO_PART_HEADER_BYTES]);
/* Checks the magic, version and header CRC; errors name path. */
ribo_status ribo_part_header_decode(const unsigned char in[RIBO_PART_HEADER_BYTES], ribo_part_header *h,
                                    const char *path, ribo_error *err);

/* Reads and checks a whole part: header, size, body CRC (RIBO_ERR_IO for a damaged file). */
ribo_status ribo_part_verify(const char *path, ribo_part_header *h, ribo_error *err);

/* Checks a record's rows in the output file (data_fd, named data_path): the CRC-32 of the
 * n_out_rows x dim x 4 bytes at ext_offset against data_crc. RIBO_ERR_IO "<data_path>: rows of window
 * N (bytes X..Y): damaged contents (checksum mismatch)" (or missing: the file is too short). */
ribo_status ribo_part_verify_rows(int data_fd, const char *data_path, const ribo_part_header *h, ribo_error *err);

/* Reads the ids (ids_bytes into ids) and, for per-residue parts, out_rows (n_rows int64); either
 * may be NULL (not read). */
ribo_status ribo_part_read_meta(int fd, const ribo_part_header *h, const char *path, char *ids, int64_t *out_rows,
                                ribo_error *err);

/* Path of part `index` in work_dir ("part-000042.rpart"); tmp = the name it is written under. */
void ribo_part_path(const char *work_dir, size_t index, bool tmp, char *out, size_t cap);

#endif
