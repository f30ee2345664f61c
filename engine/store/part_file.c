/* Part file format: header encoding, verification, metadata reads (see part_file.h). */
#include "engine/store/part_file.h"
#include "engine/base/fileutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static const char MAGIC[8] = {'R', 'I', 'B', 'O', 'P', 'R', 'T', '1'};

/* Header field offsets. */
enum {
    H_MAGIC = 0, H_VERSION = 8, H_FLAGS = 12, H_INDEX = 16, H_ROW_BEGIN = 24, H_N_ROWS = 32, H_N_OUT_ROWS = 40,
    H_DIM = 48, H_IDS_BYTES = 56, H_DATA_OFFSET = 64, H_FINGERPRINT = 72, H_WINDOW_HASH = 80, H_BODY_CRC = 88,
    H_OUT_ROW_BEGIN = 96, H_EXT_OFFSET = 104, H_DATA_CRC = 112,
    H_HEADER_CRC = RIBO_PART_HEADER_BYTES - 4
};

uint64_t ribo_part_data_offset(bool per_residue, uint64_t n_rows, uint64_t ids_bytes) {
    uint64_t end = RIBO_PART_HEADER_BYTES + (per_residue ? 8 * n_rows : 0) + ids_bytes;
    return (end + 63) / 64 * 64;
}

uint64_t ribo_part_file_size(const ribo_part_header *h) {
    return h->data_offset + (h->external ? 0 : h->n_out_rows * h->dim * 4);
}

static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t get64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

void ribo_part_header_encode(const ribo_part_header *h, unsigned char out[RIBO_PART_HEADER_BYTES]) {
    memset(out, 0, RIBO_PART_HEADER_BYTES);
    memcpy(out + H_MAGIC, MAGIC, 8);
    put32(out + H_VERSION, h->version);
    put32(out + H_FLAGS, (h->per_residue ? 1u : 0u) | (h->external ? 2u : 0u));
    put64(out + H_INDEX, h->index);
    put64(out + H_ROW_BEGIN, h->row_begin);
    put64(out + H_N_ROWS, h->n_rows);
    put64(out + H_N_OUT_ROWS, h->n_out_rows);
    put64(out + H_DIM, h->dim);
    put64(out + H_IDS_BYTES, h->ids_bytes);
    put64(out + H_DATA_OFFSET, h->data_offset);
    put64(out + H_FINGERPRINT, h->fingerprint);
    put64(out + H_WINDOW_HASH, h->window_hash);
    put32(out + H_BODY_CRC, h->body_crc);
    put64(out + H_OUT_ROW_BEGIN, h->out_row_begin);
    put64(out + H_EXT_OFFSET, h->ext_offset);
    put32(out + H_DATA_CRC, h->data_crc);
    put32(out + H_HEADER_CRC, (uint32_t)crc32(0L, out, H_HEADER_CRC));
}

ribo_status ribo_part_header_decode(const unsigned char in[RIBO_PART_HEADER_BYTES], ribo_part_header *h,
                                    const char *path, ribo_error *err) {
    if (memcmp(in + H_MAGIC, MAGIC, 8) != 0)
        return ribo_error_set(err, RIBO_ERR_IO, "%s: not a ribo part file", path);
    if (get32(in + H_HEADER_CRC) != (uint32_t)crc32(0L, in, H_HEADER_CRC))
        return ribo_error_set(err, RIBO_ERR_IO, "%s: damaged header (checksum mismatch)", path);
    h->version = get32(in + H_VERSION);
    if (h->version != RIBO_PART_VERSION)
        return ribo_error_set(err, RIBO_ERR_IO, "%s: part format version %u, this ribo writes %d", path, h->version,
                              RIBO_PART_VERSION);
    h->per_residue = (get32(in + H_FLAGS) & 1u) != 0;
    h->external = (get32(in + H_FLAGS) & 2u) != 0;
    h->out_row_begin = get64(in + H_OUT_ROW_BEGIN);
    h->ext_offset = get64(in + H_EXT_OFFSET);
    h->data_crc = get32(in + H_DATA_CRC);
    h->index = get64(in + H_INDEX);
    h->row_begin = get64(in + H_ROW_BEGIN);
    h->n_rows = get64(in + H_N_ROWS);
    h->n_out_rows = get64(in + H_N_OUT_ROWS);
    h->dim = get64(in + H_DIM);
    h->ids_bytes = get64(in + H_IDS_BYTES);
    h->data_offset = get64(in + H_DATA_OFFSET);
    h->fingerprint = get64(in + H_FINGERPRINT);
    h->window_hash = get64(in + H_WINDOW_HASH);
    h->body_crc = get32(in + H_BODY_CRC);
    if (h->dim == 0 || h->dim > (1u << 24) || h->n_rows > (UINT64_C(1) << 40) || h->ids_bytes > (UINT64_C(1) << 40) ||
        h->n_out_rows > (UINT64_C(1) << 48) || h->data_offset != ribo_part_data_offset(h->per_residue, h->n_rows, h->ids_bytes))
        return ribo_error_set(err, RIBO_ERR_IO, "%s: inconsistent header", path);
    return RIBO_OK;
}

ribo_status ribo_part_verify(const char *path, ribo_part_header *h, ribo_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char hdr[RIBO_PART_HEADER_BYTES];
    struct stat sb;
    ribo_status s = ribo_pread_all(fd, hdr, sizeof hdr, 0, path, err);
    if (s == RIBO_OK) s = ribo_part_header_decode(hdr, h, path, err);
    if (s == RIBO_OK && (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size != ribo_part_file_size(h)))
        s = ribo_error_set(err, RIBO_ERR_IO, "%s: size %lld, header says %llu", path, (long long)sb.st_size,
                           (unsigned long long)ribo_part_file_size(h));
    size_t chunk = (size_t)1 << 22;
    unsigned char *buf = s == RIBO_OK ? malloc(chunk) : NULL;
    if (s == RIBO_OK && !buf) s = ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    uLong crc = crc32(0L, Z_NULL, 0);
    for (uint64_t off = RIBO_PART_HEADER_BYTES, end = s == RIBO_OK ? ribo_part_file_size(h) : 0; s == RIBO_OK && off < end;) {
        size_t n = end - off < chunk ? (size_t)(end - off) : chunk;
        s = ribo_pread_all(fd, buf, n, off, path, err);
        if (s == RIBO_OK) crc = crc32(crc, buf, (uInt)n);
        off += n;
    }
    if (s == RIBO_OK && (uint32_t)crc != h->body_crc)
        s = ribo_error_set(err, RIBO_ERR_IO, "%s: damaged contents (checksum mismatch)", path);
    free(buf);
    close(fd);
    return s;
}

ribo_status ribo_part_verify_rows(int data_fd, const char *data_path, const ribo_part_header *h, ribo_error *err) {
    uint64_t len = h->n_out_rows * h->dim * 4, end = h->ext_offset + len;
    struct stat sb;
    if (fstat(data_fd, &sb) != 0 || (uint64_t)sb.st_size < end)
        return ribo_error_set(err, RIBO_ERR_IO, "%s: rows of window %llu (bytes %llu..%llu): missing (the file is shorter)",
                              data_path, (unsigned long long)h->index + 1, (unsigned long long)h->ext_offset,
                              (unsigned long long)end);
    size_t chunk = (size_t)1 << 22;
    unsigned char *buf = malloc(chunk);
    if (!buf) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    uLong crc = crc32(0L, Z_NULL, 0);
    ribo_status s = RIBO_OK;
    for (uint64_t off = h->ext_offset; s == RIBO_OK && off < end;) {
        size_t n = end - off < chunk ? (size_t)(end - off) : chunk;
        s = ribo_pread_all(data_fd, buf, n, off, data_path, err);
        if (s == RIBO_OK) crc = crc32(crc, buf, (uInt)n);
        off += n;
    }
    free(buf);
    if (s == RIBO_OK && (uint32_t)crc != h->data_crc)
        s = ribo_error_set(err, RIBO_ERR_IO, "%s: rows of window %llu (bytes %llu..%llu): damaged contents (checksum mismatch)",
                           data_path, (unsigned long long)h->index + 1, (unsigned long long)h->ext_offset,
                           (unsigned long long)end);
    return s;
}

ribo_status ribo_part_read_meta(int fd, const ribo_part_header *h, const char *path, char *ids, int64_t *out_rows,
                                ribo_error *err) {
    uint64_t at = RIBO_PART_HEADER_BYTES;
    if (h->per_residue) {
        if (out_rows) RIBO_TRY(ribo_pread_all(fd, out_rows, (size_t)h->n_rows * 8, at, path, err));
        at += 8 * h->n_rows;
    }
    if (!ids) return RIBO_OK;
    RIBO_TRY(ribo_pread_all(fd, ids, (size_t)h->ids_bytes, at, path, err));
    if (h->ids_bytes && ids[h->ids_bytes - 1] != '\0') return ribo_error_set(err, RIBO_ERR_IO, "%s: damaged ids", path);
    return RIBO_OK;
}

void ribo_part_path(const char *work_dir, size_t index, bool tmp, char *out, size_t cap) {
    snprintf(out, cap, "%s/part-%06zu.rpart%s", work_dir, index, tmp ? ".tmp" : "");
}
