/* Batches -> parts (see writer.h). */
#include "engine/run/writer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "engine/base/batch_queue.h"
#include "engine/store/part_file.h"
#include "engine/run/pipeline.h"
#include "engine/base/fileutil.h"

/* A window whose part is being written. */
typedef struct open_part {
    ribo_window_msg *win;       /* owned */
    int fd;
    char tmp_path[PATH_MAX + 64], path[PATH_MAX + 64]; /* work_dir (< PATH_MAX) + a part's name */
    ribo_part_header h;
    int64_t *out_start;         /* n_rows + 1 output-row offsets (prefix sums) */
    uint32_t *row_crc;          /* CRC-32 of each sequence's rows */
    uint32_t meta_crc;          /* CRC-32 of the bytes between header and data */
    size_t remaining;           /* sequences not yet written */
} open_part;

struct ribo_part_writer {
    ribo_part_writer_config cfg;
    char work_dir[PATH_MAX];
    open_part **open;           /* windows in flight (few) */
    size_t n_open, cap_open;
    ribo_part_entry *entries;   /* one per announced window, by index */
    size_t n_entries, cap_entries;
    ribo_batch_record *batches;
    size_t n_batches, cap_batches;
    ribo_window_record *windows;
    size_t n_windows, cap_windows;
    double seconds;
    _Atomic uint64_t seq_done, tok_done, parts_done;
};

ribo_status ribo_part_writer_create(const ribo_part_writer_config *cfg, ribo_part_writer **out, ribo_error *err) {
    *out = NULL;
    /* refused, not truncated: parts under a cut directory name would be written somewhere else */
    if (strlen(cfg->work_dir) >= PATH_MAX)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "work directory '%s': path too long (%zu bytes, limit %d)",
                              cfg->work_dir, strlen(cfg->work_dir), PATH_MAX - 1);
    ribo_part_writer *w = calloc(1, sizeof *w);
    if (!w) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    w->cfg = *cfg;
    snprintf(w->work_dir, sizeof w->work_dir, "%s", cfg->work_dir);
    w->cfg.work_dir = w->work_dir;
    atomic_init(&w->seq_done, 0);
    atomic_init(&w->tok_done, 0);
    atomic_init(&w->parts_done, 0);
    *out = w;
    return RIBO_OK;
}

static void free_open(open_part *op, bool remove_tmp) {
    if (!op) return;
    if (op->fd >= 0) close(op->fd);
    if (remove_tmp && op->tmp_path[0]) unlink(op->tmp_path);
    ribo_producer_free_window(op->win);
    free(op->out_start);
    free(op->row_crc);
    free(op);
}

/* Appends the entry of window m (entries are indexed by window number). */
static ribo_status add_entry(ribo_part_writer *w, const ribo_window_msg *m, ribo_error *err) {
    if (m->index != w->n_entries)
        return ribo_error_set(err, RIBO_ERR_INTERNAL, "writer: window %zu announced after %zu", m->index, w->n_entries);
    if (w->n_entries == w->cap_entries) {
        size_t cap = w->cap_entries ? w->cap_entries * 2 : 64;
        ribo_part_entry *e = realloc(w->entries, cap * sizeof *e);
        if (!e) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
        w->entries = e;
        w->cap_entries = cap;
    }
    w->entries[w->n_entries++] = (ribo_part_entry){m->index, m->row_begin, m->n_rows, m->n_out_rows, m->n_rows > 0};
    return RIBO_OK;
}

/* Opens the temporary file of a new part and writes everything but the header and the rows. */
static ribo_status open_part_file(ribo_part_writer *w, open_part *op, ribo_error *err) {
    ribo_window_msg *m = op->win;
    ribo_part_path(w->work_dir, m->index, true, op->tmp_path, sizeof op->tmp_path);
    ribo_part_path(w->work_dir, m->index, false, op->path, sizeof op->path);
    op->h = (ribo_part_header){.version = RIBO_PART_VERSION, .per_residue = w->cfg.per_residue, .index = m->index,
                               .row_begin = m->row_begin, .n_rows = m->n_rows, .n_out_rows = m->n_out_rows,
                               .dim = w->cfg.dim, .ids_bytes = m->ids_bytes, .fingerprint = w->cfg.fingerprint,
                               .window_hash = m->hash};
    op->h.data_offset = ribo_part_data_offset(op->h.per_residue, op->h.n_rows, op->h.ids_bytes);
    op->out_start = malloc((m->n_rows + 1) * sizeof *op->out_start);
    op->row_crc = calloc(m->n_rows ? m->n_rows : 1, sizeof *op->row_crc);
    if (!op->out_start || !op->row_crc) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    op->out_start[0] = 0;
    for (size_t i = 0; i < m->n_rows; ++i) op->out_start[i + 1] = op->out_start[i] + (m->out_rows ? m->out_rows[i] : 1);
    op->fd = open(op->tmp_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (op->fd < 0) return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot create: %s", op->tmp_path, strerror(errno));
    size_t meta_len = (size_t)(op->h.data_offset - RIBO_PART_HEADER_BYTES);
    unsigned char *meta = calloc(1, meta_len ? meta_len : 1);
    if (!meta) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    size_t at = 0;
    if (op->h.per_residue) {
        memcpy(meta, m->out_rows, m->n_rows * 8);
        at = m->n_rows * 8;
    }
    memcpy(meta + at, m->ids, m->ids_bytes);
    op->meta_crc = (uint32_t)crc32(0L, meta, (uInt)meta_len);
    ribo_status s = ribo_pwrite_all(op->fd, meta, meta_len, RIBO_PART_HEADER_BYTES, op->tmp_path, err);
    free(meta);
    free(m->ids); /* written: the window's ids need not stay in memory */
    m->ids = NULL;
    if (s == RIBO_OK && ftruncate(op->fd, (off_t)ribo_part_file_size(&op->h)) != 0)
        s = ribo_error_set(err, RIBO_ERR_IO, "%s: cannot size the part: %s", op->tmp_path, strerror(errno));
    op->remaining = m->n_rows;
    return s;
}

static ribo_status handle_window(ribo_part_writer *w, ribo_window_msg *m, ribo_error *err) {
    ribo_status s = add_entry(w, m, err);
    if (s != RIBO_OK || m->resumed || m->n_rows == 0) {
        if (s == RIBO_OK && m->resumed) {
            atomic_fetch_add(&w->seq_done, m->n_rows);
            atomic_fetch_add(&w->tok_done, m->n_tokens);
        }
        ribo_producer_free_window(m);
        return s;
    }
    open_part *op = calloc(1, sizeof *op);
    if (!op) {
        ribo_producer_free_window(m);
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    op->fd = -1;
    op->win = m;
    if (w->n_open == w->cap_open) {
        size_t cap = w->cap_open ? w->cap_open * 2 : 8;
        open_part **o = realloc(w->open, cap * sizeof *o);
        if (!o) {
            free_open(op, true);
            return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
        }
        w->open = o;
        w->cap_open = cap;
    }
    w->open[w->n_open++] = op;
    return open_part_file(w, op, err);
}

/* Header, fsync, rename, directory fsync: the part is complete on disk. */
static ribo_status finalize(ribo_part_writer *w, open_part *op, ribo_error *err) {
    uLong crc = op->meta_crc;
    for (size_t i = 0; i < op->h.n_rows; ++i) {
        uint64_t bytes = (uint64_t)(op->out_start[i + 1] - op->out_start[i]) * op->h.dim * 4;
        crc = crc32_combine(crc, op->row_crc[i], (z_off_t)bytes);
    }
    op->h.body_crc = (uint32_t)crc;
    unsigned char hdr[RIBO_PART_HEADER_BYTES];
    ribo_part_header_encode(&op->h, hdr);
    RIBO_TRY(ribo_pwrite_all(op->fd, hdr, sizeof hdr, 0, op->tmp_path, err));
    if (fsync(op->fd) != 0) return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot flush to disk: %s", op->tmp_path, strerror(errno));
    int fd = op->fd;
    op->fd = -1;
    if (close(fd) != 0) return ribo_error_set(err, RIBO_ERR_IO, "%s: %s", op->tmp_path, strerror(errno));
    if (rename(op->tmp_path, op->path) != 0)
        return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot rename to %s: %s", op->tmp_path, op->path, strerror(errno));
    op->tmp_path[0] = '\0';
    RIBO_TRY(ribo_fsync_dir(w->work_dir, err));
    uint64_t parts = atomic_fetch_add(&w->parts_done, 1) + 1;
    if (w->cfg.kill_after_parts > 0 && parts == (uint64_t)w->cfg.kill_after_parts) raise(SIGKILL);
    return RIBO_OK;
}

/* The id of sequence `local` of a part (scans the window's ids; error path only). */
static const char *id_of(const open_part *op, size_t local, char *buf, size_t cap) {
    char *ids = malloc(op->h.ids_bytes ? op->h.ids_bytes : 1);
    snprintf(buf, cap, "row %llu", (unsigned long long)(op->h.row_begin + local + 1));
    if (!ids) return buf;
    ribo_error e;
    if (ribo_pread_all(op->fd, ids, op->h.ids_bytes, RIBO_PART_HEADER_BYTES + (op->h.per_residue ? 8 * op->h.n_rows : 0),
                       op->tmp_path, &e) == RIBO_OK) {
        const char *p = ids;
        for (size_t i = 0; i < local && p < ids + op->h.ids_bytes; ++i) p += strlen(p) + 1;
        if (p < ids + op->h.ids_bytes) snprintf(buf, cap, "%s", p);
    }
    free(ids);
    return buf;
}

static ribo_status write_batch(ribo_part_writer *w, ribo_batch *b, ribo_error *err) {
    open_part *op = NULL;
    size_t at_open = 0;
    for (size_t i = 0; i < w->n_open; ++i)
        if (w->open[i]->win->index == b->window) {
            op = w->open[i];
            at_open = i;
        }
    if (!op) return ribo_error_set(err, RIBO_ERR_INTERNAL, "writer: batch %zu of window %zu, which is not open",
                                   b->seq_no + 1, b->window + 1);
    const ribo_packed_batch *pb = &b->pb;
    size_t D = op->h.dim;
    /* A NaN/inf (overflow in the model, or a device fault) must not reach a part: check the whole
     * batch before writing any of its rows. */
    size_t at = 0;
    for (int i = 0; i < pb->n_seqs; ++i) {
        size_t local = pb->rows[i] - op->h.row_begin;
        size_t n = (size_t)(op->out_start[local + 1] - op->out_start[local]);
        const float *v = b->out + at * D;
        for (size_t k = 0; k < n * D; ++k)
            if (!isfinite(v[k])) {
                char id[256];
                return ribo_error_set(err, RIBO_ERR_DEVICE, "batch %zu (window %zu): sequence '%s': non-finite embedding (NaN/inf)",
                                      b->seq_no + 1, b->window + 1, id_of(op, local, id, sizeof id));
            }
        at += n;
    }
    at = 0;
    for (int i = 0; i < pb->n_seqs; ++i) {
        size_t local = pb->rows[i] - op->h.row_begin;
        size_t n = (size_t)(op->out_start[local + 1] - op->out_start[local]);
        const float *v = b->out + at * D;
        uint64_t off = op->h.data_offset + (uint64_t)op->out_start[local] * D * 4;
        RIBO_TRY(ribo_pwrite_all(op->fd, v, n * D * 4, off, op->tmp_path, err));
        op->row_crc[local] = (uint32_t)crc32(0L, (const Bytef *)v, (uInt)(n * D * 4));
        at += n;
    }
    op->remaining -= (size_t)pb->n_seqs;
    atomic_fetch_add(&w->seq_done, (uint64_t)pb->n_seqs);
    atomic_fetch_add(&w->tok_done, (uint64_t)pb->n_tokens);
    if (op->remaining == 0) {
        RIBO_TRY(finalize(w, op, err));
        free_open(op, false);
        w->open[at_open] = w->open[--w->n_open];
    }
    return RIBO_OK;
}

/* Grows a record array by one (returns false when out of memory: the record is dropped). */
static bool grow(void **arr, size_t *n, size_t *cap, size_t size) {
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        void *p = realloc(*arr, c * size);
        if (!p) return false;
        *arr = p;
        *cap = c;
    }
    return true;
}

static void record_batch(ribo_part_writer *w, const ribo_batch *b, double t0, double t1) {
    if (!w->cfg.record || !grow((void **)&w->batches, &w->n_batches, &w->cap_batches, sizeof *w->batches)) return;
    w->batches[w->n_batches++] = (ribo_batch_record){b->seq_no, b->window, b->pipeline, b->pb.n_tokens, b->pb.n_seqs,
                                                     {b->pack_t0, b->pack_t1}, b->timing,
                                                     {t0 - w->cfg.t0, t1 - w->cfg.t0}};
}

static void record_window(ribo_part_writer *w, const ribo_window_msg *m) {
    if (!w->cfg.record || !grow((void **)&w->windows, &w->n_windows, &w->cap_windows, sizeof *w->windows)) return;
    w->windows[w->n_windows++] = (ribo_window_record){m->index, m->n_rows, m->resumed, m->t_begin, m->t_end};
}

ribo_status ribo_part_writer_handle(ribo_part_writer *w, ribo_msg_kind *msg, ribo_error *err) {
    double t0 = ribo_now_seconds();
    ribo_status s;
    if (*msg == RIBO_MSG_WINDOW) {
        record_window(w, (ribo_window_msg *)msg);
        s = handle_window(w, (ribo_window_msg *)msg, err);
    } else {
        ribo_batch *b = (ribo_batch *)msg;
        s = write_batch(w, b, err);
        record_batch(w, b, t0, ribo_now_seconds());
        if (b->owner) ribo_pipeline_release(b->owner, b);
        ribo_producer_release(w->cfg.producer, b);
    }
    w->seconds += ribo_now_seconds() - t0;
    return s;
}

ribo_status ribo_part_writer_finish(ribo_part_writer *w, ribo_error *err) {
    if (w->n_open)
        return ribo_error_set(err, RIBO_ERR_INTERNAL, "writer: window %zu has %zu sequence(s) never computed",
                              w->open[0]->win->index + 1, w->open[0]->remaining);
    return RIBO_OK;
}

size_t ribo_part_writer_count(const ribo_part_writer *w) { return w->n_entries; }

const ribo_part_entry *ribo_part_writer_entry(const ribo_part_writer *w, size_t i) {
    return i < w->n_entries ? &w->entries[i] : NULL;
}

void ribo_part_writer_progress(const ribo_part_writer *w, uint64_t *sequences, uint64_t *tokens, uint64_t *parts) {
    ribo_part_writer *m = (ribo_part_writer *)w;
    if (sequences) *sequences = atomic_load(&m->seq_done);
    if (tokens) *tokens = atomic_load(&m->tok_done);
    if (parts) *parts = atomic_load(&m->parts_done);
}

double ribo_part_writer_seconds(const ribo_part_writer *w) { return w->seconds; }

const ribo_batch_record *ribo_part_writer_batches(const ribo_part_writer *w, size_t *n) {
    *n = w->n_batches;
    return w->batches;
}

const ribo_window_record *ribo_part_writer_windows(const ribo_part_writer *w, size_t *n) {
    *n = w->n_windows;
    return w->windows;
}

void ribo_part_writer_free(ribo_part_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_open; ++i) free_open(w->open[i], true);
    free(w->open);
    free(w->entries);
    free(w->batches);
    free(w->windows);
    free(w);
}
