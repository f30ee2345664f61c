/* Streaming FASTA reader: plain or gzip-compressed (zlib), multi-line records, CRLF, blank lines. */
#ifndef RIBO_ENGINE_FASTA_H
#define RIBO_ENGINE_FASTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/base/error.h"

typedef struct ribo_fasta_reader ribo_fasta_reader;

/* One record. All pointers are owned by the reader and valid until the next ribo_fasta_next call. */
typedef struct ribo_fasta_record {
    const char *id;        /* first whitespace-delimited word of the header, without '>' */
    const char *header;    /* whole header line without '>' and line ending */
    const char *seq;       /* sequence with line breaks and spaces/tabs removed (NUL-terminated) */
    size_t seq_len;
    size_t record_number;  /* 1-based position of the record in its file */
    size_t line_number;    /* 1-based line of the header */
} ribo_fasta_record;

/* Opens a FASTA file (gzip detected by magic bytes, not by name). */
ribo_status ribo_fasta_open(const char *path, ribo_fasta_reader **out, ribo_error *err);

/* Reads the next record. At end of file returns RIBO_OK with *has_record = false.
 * Errors (message names the file, and the record/line where known): not FASTA (first non-blank
 * line does not start with '>'), binary data (NUL or other control bytes), a header with an empty
 * id, a truncated/corrupt gzip stream, read failures. Empty sequences are returned (seq_len 0):
 * the caller decides whether they are an error. */
ribo_status ribo_fasta_next(ribo_fasta_reader *reader, ribo_fasta_record *rec, bool *has_record, ribo_error *err);

const char *ribo_fasta_path(const ribo_fasta_reader *reader);

/* Bytes of the file (compressed bytes for gzip) consumed so far, for progress estimates. */
uint64_t ribo_fasta_bytes_read(ribo_fasta_reader *reader);

void ribo_fasta_close(ribo_fasta_reader *reader);

#endif
