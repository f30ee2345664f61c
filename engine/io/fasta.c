/* Streaming FASTA reader on top of zlib's gz* API (plain files are read transparently). */
#include "engine/io/fasta.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define FASTA_CHUNK (256u * 1024u)

/* Classes of bytes in sequence lines. */
enum { BYTE_KEEP = 0, BYTE_SKIP = 1, BYTE_BAD = 2 };

/* A growable byte buffer, always kept NUL-terminated once allocated. */
typedef struct fasta_buf {
    char *data;
    size_t len, cap;
} fasta_buf;

struct ribo_fasta_reader {
    gzFile gz;
    char *path;
    unsigned char *chunk;      /* decompressed bytes */
    size_t pos, len;           /* unread part of chunk: [pos, len) */
    bool eof;                  /* no more bytes from the stream */
    ribo_status failed;        /* sticky error: once failed, every call fails */
    fasta_buf line;            /* a line that spans chunk boundaries */
    fasta_buf header, pending; /* current record's header; next record's header (already read) */
    fasta_buf id, seq;
    bool have_pending;         /* pending holds the header line of the next record */
    bool started;              /* the first header line has been looked for */
    size_t pending_line;       /* line number of the pending header */
    size_t line_number;        /* lines consumed so far */
    size_t record_count;       /* records returned so far */
    unsigned char byte_class[256]; /* BYTE_KEEP / BYTE_SKIP / BYTE_BAD per byte value */
};

/* Makes room for at least need bytes plus a NUL terminator. */
static ribo_status buf_reserve(fasta_buf *b, size_t need, const char *path, ribo_error *err) {
    if (need < b->cap) return RIBO_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap <= need) {
        if (cap > SIZE_MAX / 2) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: line too long", path);
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p)
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory growing a buffer to %zu bytes",
                              path, cap);
    b->data = p;
    b->cap = cap;
    return RIBO_OK;
}

/* Replaces the buffer's contents with n bytes of src (NUL-terminated). */
static ribo_status buf_set(fasta_buf *b, const char *src, size_t n, const char *path, ribo_error *err) {
    RIBO_TRY(buf_reserve(b, n, path, err));
    if (n) memcpy(b->data, src, n);
    b->data[n] = '\0';
    b->len = n;
    return RIBO_OK;
}

/* Appends n bytes of src. */
static ribo_status buf_append(fasta_buf *b, const char *src, size_t n, const char *path, ribo_error *err) {
    if (n > SIZE_MAX - b->len - 1) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: line too long", path);
    RIBO_TRY(buf_reserve(b, b->len + n, path, err));
    memcpy(b->data + b->len, src, n);
    b->len += n;
    b->data[b->len] = '\0';
    return RIBO_OK;
}

static void buf_free(fasta_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* True for bytes that never occur in a text FASTA file: NUL, control bytes other than \t \r \n, DEL. */
static inline bool is_binary_byte(unsigned char c) {
    return (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f;
}

/* Index of the first binary byte of a line, or -1. */
static long find_binary(const char *s, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (is_binary_byte((unsigned char)s[i])) return (long)i;
    return -1;
}

/* Fills the per-byte class table used when copying sequence lines. */
static void init_byte_class(unsigned char *cls) {
    for (int c = 0; c < 256; ++c) {
        bool skip = c == ' ' || c == '\t' || c == '\r';
        cls[c] = is_binary_byte((unsigned char)c) ? BYTE_BAD : skip ? BYTE_SKIP : BYTE_KEEP;
    }
}

/* Records the first error so that later calls do not continue from a broken state. */
static ribo_status fail(ribo_fasta_reader *r, ribo_status s) {
    r->failed = s;
    return s;
}

/* Turns a zlib stream error into a ribo error naming the file. */
static ribo_status stream_error(ribo_fasta_reader *r, ribo_error *err) {
    int zerr = Z_OK;
    const char *msg = gzerror(r->gz, &zerr);
    size_t line = r->line_number + 1;
    if (zerr == Z_ERRNO)
        return ribo_error_set(err, RIBO_ERR_IO, "%s: read failed near line %zu: %s", r->path, line,
                              strerror(errno));
    if (zerr == Z_MEM_ERROR)
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory while decompressing", r->path);
    if (zerr == Z_BUF_ERROR)
        return ribo_error_set(err, RIBO_ERR_INPUT,
                              "%s: truncated gzip stream (unexpected end of file near line %zu)", r->path, line);
    return ribo_error_set(err, RIBO_ERR_INPUT, "%s: corrupt gzip stream near line %zu: %s", r->path, line,
                          msg ? msg : "unknown zlib error");
}

/* Refills the chunk from the stream; sets eof at the end. A truncated gzip stream is an error
 * (gzread itself reports it only through gzerror, as Z_BUF_ERROR). */
static ribo_status fill(ribo_fasta_reader *r, ribo_error *err) {
    int n = gzread(r->gz, r->chunk, FASTA_CHUNK);
    if (n < 0) return stream_error(r, err);
    int zerr = Z_OK;
    gzerror(r->gz, &zerr);
    if (zerr != Z_OK) return stream_error(r, err);
    r->pos = 0;
    r->len = (size_t)n;
    if (n == 0) r->eof = true;
    return RIBO_OK;
}

/* Reads the next line without its '\n'. *line points into the chunk (no copy) when the line lies in
 * one chunk, else into r->line; valid until the next call. *got is false at end of file. */
static ribo_status read_line(ribo_fasta_reader *r, const char **line, size_t *len, bool *got, ribo_error *err) {
    r->line.len = 0;
    bool partial = false;
    for (;;) {
        if (r->pos == r->len) {
            if (!r->eof) {
                RIBO_TRY(fill(r, err));
                continue;
            }
            *got = partial;
            if (partial) {
                ++r->line_number;
                *line = r->line.data;
                *len = r->line.len;
            }
            return RIBO_OK;
        }
        const char *start = (const char *)r->chunk + r->pos;
        size_t avail = r->len - r->pos;
        const char *nl = memchr(start, '\n', avail);
        size_t n = nl ? (size_t)(nl - start) : avail;
        r->pos += nl ? n + 1 : n;
        if (nl && !partial) {
            ++r->line_number;
            *line = start;
            *len = n;
            *got = true;
            return RIBO_OK;
        }
        RIBO_TRY(buf_append(&r->line, start, n, r->path, err));
        partial = true;
        if (nl) {
            ++r->line_number;
            *line = r->line.data;
            *len = r->line.len;
            *got = true;
            return RIBO_OK;
        }
    }
}

/* True when a line holds only spaces, tabs and CRs. */
static bool is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return false;
    return true;
}

/* Copies a printable excerpt of a line (for messages): at most 24 bytes, others shown as '?'. */
static void excerpt(const char *s, size_t n, char out[32]) {
    size_t k = n < 24 ? n : 24;
    for (size_t i = 0; i < k; ++i) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    strcpy(out + k, n > 24 ? "..." : "");
}

/* Stores a '>' line as the pending header (without '>' and trailing CRs), rejecting binary bytes. */
static ribo_status store_header(ribo_fasta_reader *r, const char *line, size_t n, ribo_error *err) {
    long bad = find_binary(line, n);
    if (bad >= 0)
        return ribo_error_set(err, RIBO_ERR_INPUT, "%s: record %zu, line %zu: binary data (byte 0x%02x) in header",
                              r->path, r->record_count + 1, r->line_number, (unsigned char)line[bad]);
    while (n > 1 && line[n - 1] == '\r') --n;
    RIBO_TRY(buf_set(&r->pending, line + 1, n - 1, r->path, err));
    r->pending_line = r->line_number;
    r->have_pending = true;
    return RIBO_OK;
}

/* Skips blank lines up to the first header; anything else first means the file is not FASTA. */
static ribo_status find_first_header(ribo_fasta_reader *r, ribo_error *err) {
    r->started = true;
    for (;;) {
        const char *line = NULL;
        size_t n = 0;
        bool got = false;
        RIBO_TRY(read_line(r, &line, &n, &got, err));
        if (!got) return RIBO_OK;
        if (is_blank(line, n)) continue;
        if (line[0] == '>') return store_header(r, line, n, err);
        long bad = find_binary(line, n);
        if (bad >= 0)
            return ribo_error_set(err, RIBO_ERR_INPUT, "%s: line %zu: binary data (byte 0x%02x): not a FASTA file",
                                  r->path, r->line_number, (unsigned char)line[bad]);
        char ex[32];
        excerpt(line, n, ex);
        return ribo_error_set(err, RIBO_ERR_INPUT,
                              "%s: line %zu: not FASTA (expected a '>' header line, found '%s')", r->path,
                              r->line_number, ex);
    }
}

/* Refuses an id holding a carriage return (a bare CR inside the header: trailing ones are already
 * stripped): ids are written one per line, so the run would otherwise fail only at assembly. The id
 * is shown with the CR as '?' so the message stays one line. */
static ribo_status check_id(const ribo_fasta_reader *r, size_t header_line, ribo_error *err) {
    const char *cr = memchr(r->id.data, '\r', r->id.len);
    if (!cr) return RIBO_OK;
    char ex[32];
    excerpt(r->id.data, r->id.len, ex);
    return ribo_error_set(err, RIBO_ERR_INPUT,
                          "%s: record %zu ('%s'), line %zu: id contains a carriage return (byte 0x0d at column %zu "
                          "of the header)",
                          r->path, r->record_count, ex, header_line, (size_t)(cr - r->id.data) + 2);
}

/* Makes the pending header the current record's header and extracts its id. */
static ribo_status start_record(ribo_fasta_reader *r, size_t *header_line, ribo_error *err) {
    fasta_buf tmp = r->header;
    r->header = r->pending;
    r->pending = tmp;
    r->have_pending = false;
    *header_line = r->pending_line;
    ++r->record_count;
    size_t k = strcspn(r->header.data, " \t");
    if (k == 0)
        return ribo_error_set(err, RIBO_ERR_INPUT, "%s: record %zu, line %zu: header has an empty id (nothing "
                              "directly after '>')", r->path, r->record_count, *header_line);
    RIBO_TRY(buf_set(&r->id, r->header.data, k, r->path, err));
    return check_id(r, *header_line, err);
}

/* Appends one sequence line, dropping spaces, tabs and CRs; other control bytes are an error.
 * Branch-free copy: every byte is stored, and the write pointer only advances past kept ones. */
static ribo_status append_seq(ribo_fasta_reader *r, const char *line, size_t n, ribo_error *err) {
    if (n > SIZE_MAX - r->seq.len - 1)
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: sequence too long", r->path);
    RIBO_TRY(buf_reserve(&r->seq, r->seq.len + n, r->path, err));
    char *out = r->seq.data + r->seq.len;
    unsigned bad = 0;
    for (size_t i = 0; i < n; ++i) {
        unsigned char k = r->byte_class[(unsigned char)line[i]];
        *out = line[i];
        out += k == BYTE_KEEP;
        bad |= k & BYTE_BAD;
    }
    if (bad) {
        long at = find_binary(line, n);
        return ribo_error_set(err, RIBO_ERR_INPUT, "%s: record %zu ('%s'), line %zu: binary data (byte 0x%02x)",
                              r->path, r->record_count, r->id.data, r->line_number, (unsigned char)line[at]);
    }
    r->seq.len = (size_t)(out - r->seq.data);
    r->seq.data[r->seq.len] = '\0';
    return RIBO_OK;
}

/* Reads sequence lines until the next header (kept as pending) or end of file. */
static ribo_status read_sequence(ribo_fasta_reader *r, ribo_error *err) {
    r->seq.len = 0;
    RIBO_TRY(buf_reserve(&r->seq, 0, r->path, err));
    r->seq.data[0] = '\0';
    for (;;) {
        const char *line = NULL;
        size_t n = 0;
        bool got = false;
        RIBO_TRY(read_line(r, &line, &n, &got, err));
        if (!got) return RIBO_OK;
        if (n > 0 && line[0] == '>') return store_header(r, line, n, err);
        RIBO_TRY(append_seq(r, line, n, err));
    }
}

ribo_status ribo_fasta_open(const char *path, ribo_fasta_reader **out, ribo_error *err) {
    if (!path || !out) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "ribo_fasta_open: NULL argument");
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0)
        return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot read: is a directory", path);
    ribo_fasta_reader *r = calloc(1, sizeof *r);
    if (r) r->path = strdup(path);
    if (r && r->path) r->chunk = malloc(FASTA_CHUNK);
    if (!r || !r->path || !r->chunk) {
        ribo_fasta_close(r);
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory opening the file", path);
    }
    errno = 0;
    r->gz = gzopen(path, "rb");
    if (!r->gz) {
        int e = errno;
        ribo_fasta_close(r);
        return ribo_error_set(err, e ? RIBO_ERR_IO : RIBO_ERR_OUT_OF_MEMORY, "%s: cannot open: %s", path,
                              e ? strerror(e) : "out of memory");
    }
    gzbuffer(r->gz, FASTA_CHUNK);
    init_byte_class(r->byte_class);
    *out = r;
    return RIBO_OK;
}

ribo_status ribo_fasta_next(ribo_fasta_reader *r, ribo_fasta_record *rec, bool *has_record, ribo_error *err) {
    if (!r || !rec || !has_record)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "ribo_fasta_next: NULL argument");
    *has_record = false;
    if (r->failed)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "%s: reading after an earlier error", r->path);
    if (!r->started) {
        ribo_status s = find_first_header(r, err);
        if (s != RIBO_OK) return fail(r, s);
    }
    if (!r->have_pending) return RIBO_OK;
    size_t header_line = 0;
    ribo_status s = start_record(r, &header_line, err);
    if (s == RIBO_OK) s = read_sequence(r, err);
    if (s != RIBO_OK) return fail(r, s);
    rec->id = r->id.data;
    rec->header = r->header.data;
    rec->seq = r->seq.data;
    rec->seq_len = r->seq.len;
    rec->record_number = r->record_count;
    rec->line_number = header_line;
    *has_record = true;
    return RIBO_OK;
}

const char *ribo_fasta_path(const ribo_fasta_reader *reader) { return reader ? reader->path : NULL; }

uint64_t ribo_fasta_bytes_read(ribo_fasta_reader *reader) {
    if (!reader || !reader->gz) return 0;
    z_off_t off = gzoffset(reader->gz);
    return off > 0 ? (uint64_t)off : 0;
}

void ribo_fasta_close(ribo_fasta_reader *r) {
    if (!r) return;
    if (r->gz) gzclose(r->gz);
    buf_free(&r->line);
    buf_free(&r->header);
    buf_free(&r->pending);
    buf_free(&r->id);
    buf_free(&r->seq);
    free(r->chunk);
    free(r->path);
    free(r);
}
