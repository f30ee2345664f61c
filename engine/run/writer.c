/* Batches -> rows on disk, window by window (see writer.h). */
#include "engine/run/writer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "engine/base/batch_queue.h"
#include "engine/base/fileutil.h"
#include "engine/run/pipeline.h"
#include "engine/run/worker_pool.h"
#include "engine/store/part_file.h"

/* A window whose rows are being written. Created on the announcing thread; its arrays are written by
 * the writer threads at disjoint places; `remaining` (guarded by the writer's lock) says when the
 * last one is done, and that thread completes the window. */
typedef struct open_part {
    ribo_window_msg *win;       /* owned (its ids stay until the record is written, in place) */
    int fd;                     /* parts: the part's temporary file; in place: -1 */
    int data_fd;                /* where the rows go: fd, or the writer's rows file */
    uint64_t data_base;         /* byte offset of the window's first row in data_fd */
    const char *data_path;
    char tmp_path[PATH_MAX + 64], path[PATH_MAX + 64]; /* work_dir (< PATH_MAX) + a part's name */
    ribo_part_header h;
    int64_t *out_start;         /* n_rows + 1 output-row offsets (prefix sums) */
    uint32_t *row_crc;          /* CRC-32 of each sequence's rows */
    float *pooled;              /* pooled rows, gathered for one write at completion */
    uint32_t meta_crc;          /* parts: CRC-32 of the bytes between header and data */
    size_t remaining;           /* sequences not yet written (writer lock) */
} open_part;

struct ribo_part_writer {
    ribo_part_writer_config cfg;
    char work_dir[PATH_MAX];
    char rows_path[PATH_MAX + 64];
    int rows_fd;                /* in place: the output's rows file; else -1 */
    pthread_mutex_t lock;       /* open, entries, records, stats below */
    open_part **open;           /* windows in flight (few) */
    size_t n_open, cap_open;
    ribo_part_entry *entries;   /* one per announced window, by index */
    size_t n_entries, cap_entries;
    ribo_batch_record *batches;
    size_t n_batches, cap_batches;
    ribo_window_record *windows;
    size_t n_windows, cap_windows;
    double seconds;             /* the calling thread's busy time (no writer threads) */
    double first_write, last_done;
    ribo_worker_pool *pool;     /* writer threads (cfg.writers > 1) */
    atomic_bool failed;
    ribo_error first_err;       /* the first writer thread's error (lock) */
    _Atomic uint64_t seq_done, tok_done, parts_done, windows_synced, bytes;
};

static void write_job(void *user, void *item, int worker);

ribo_status ribo_part_writer_create(const ribo_part_writer_config *cfg, ribo_part_writer **out, ribo_error *err) {
    *out = NULL;
    /* refused, not truncated: parts under a cut directory name would be written somewhere else */
    if (strlen(cfg->work_dir) >= PATH_MAX)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "work directory '%s': path too long (%zu bytes, limit %d)",
                              cfg->work_dir, strlen(cfg->work_dir), PATH_MAX - 1);
    if (cfg->rows_path && strlen(cfg->rows_path) >= sizeof ((ribo_part_writer *)0)->rows_path)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "'%s': path too long", cfg->rows_path);
    ribo_part_writer *w = calloc(1, sizeof *w);
    if (!w) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    w->cfg = *cfg;
    snprintf(w->work_dir, sizeof w->work_dir, "%s", cfg->work_dir);
    w->cfg.work_dir = w->work_dir;
    w->rows_fd = -1;
    w->first_write = -1;
    pthread_mutex_init(&w->lock, NULL);
    atomic_init(&w->failed, false);
    atomic_init(&w->seq_done, 0);
    atomic_init(&w->tok_done, 0);
    atomic_init(&w->parts_done, 0);
    atomic_init(&w->windows_synced, 0);
    atomic_init(&w->bytes, 0);
    ribo_status s = RIBO_OK;
    if (cfg->rows_path) {
        snprintf(w->rows_path, sizeof w->rows_path, "%s", cfg->rows_path);
        w->cfg.rows_path = w->rows_path;
        w->rows_fd = open(w->rows_path, O_RDWR | O_CREAT | O_CLOEXEC | (cfg->rows_keep ? 0 : O_TRUNC), 0644);
        if (w->rows_fd < 0) s = ribo_error_set(err, RIBO_ERR_IO, "%s: cannot create: %s", w->rows_path, strerror(errno));
    }
    if (s == RIBO_OK && cfg->writers > 1) s = ribo_worker_pool_create(cfg->writers, write_job, w, &w->pool, err);
    if (s != RIBO_OK) {
        ribo_part_writer_free(w);
        return s;
    }
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
    free(op->pooled);
    free(op);
}

/* Appends the entry of window m (entries are indexed by window number; caller holds the lock). */
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

/* The bytes between a part's header and its data: per-residue row counts, ids, zero padding
 * (data_offset - header bytes of them, calloc'ed; NULL when out of memory). */
static unsigned char *make_meta(const open_part *op, size_t *len) {
    const ribo_window_msg *m = op->win;
    *len = (size_t)(op->h.data_offset - RIBO_PART_HEADER_BYTES);
    unsigned char *meta = calloc(1, *len ? *len : 1);
    if (!meta) return NULL;
    size_t at = 0;
    if (op->h.per_residue) {
        memcpy(meta, m->out_rows, m->n_rows * 8);
        at = m->n_rows * 8;
    }
    memcpy(meta + at, m->ids, m->ids_bytes);
    return meta;
}

/* Parts: opens the temporary file of a new part and writes everything but the header and the rows. */
static ribo_status open_part_file(open_part *op, ribo_error *err) {
    ribo_window_msg *m = op->win;
    op->fd = open(op->tmp_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (op->fd < 0) return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot create: %s", op->tmp_path, strerror(errno));
    op->data_fd = op->fd;
    op->data_base = op->h.data_offset;
    op->data_path = op->tmp_path;
    size_t meta_len = 0;
    unsigned char *meta = make_meta(op, &meta_len);
    if (!meta) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    op->meta_crc = (uint32_t)crc32(0L, meta, (uInt)meta_len);
    ribo_status s = ribo_pwrite_all(op->fd, meta, meta_len, RIBO_PART_HEADER_BYTES, op->tmp_path, err);
    free(meta);
    free(m->ids); /* written: the window's ids need not stay in memory */
    m->ids = NULL;
    if (s == RIBO_OK && ftruncate(op->fd, (off_t)ribo_part_file_size(&op->h)) != 0)
        s = ribo_error_set(err, RIBO_ERR_IO, "%s: cannot size the part: %s", op->tmp_path, strerror(errno));
    return s;
}

/* In place: the window's rows go to the rows file at their final offset, reserved now. */
static ribo_status open_in_place(ribo_part_writer *w, open_part *op, ribo_error *err) {
    op->data_fd = w->rows_fd;
    op->data_base = w->cfg.rows_base + op->win->out_row_begin * op->h.dim * 4;
    op->data_path = w->rows_path;
    op->h.external = true;
    op->h.ext_offset = op->data_base;
    char what[64];
    snprintf(what, sizeof what, "the rows of window %zu", op->win->index + 1);
    return ribo_reserve_range(w->rows_fd, op->data_base, op->win->n_out_rows * op->h.dim * 4, w->rows_path, what, err);
}

/* Sets up an open window (not yet visible to the writer threads). */
static ribo_status open_window(ribo_part_writer *w, open_part *op, ribo_error *err) {
    ribo_window_msg *m = op->win;
    ribo_part_path(w->work_dir, m->index, true, op->tmp_path, sizeof op->tmp_path);
    ribo_part_path(w->work_dir, m->index, false, op->path, sizeof op->path);
    op->h = (ribo_part_header){.version = RIBO_PART_VERSION, .per_residue = w->cfg.per_residue, .index = m->index,
                               .row_begin = m->row_begin, .n_rows = m->n_rows, .n_out_rows = m->n_out_rows,
                               .dim = w->cfg.dim, .ids_bytes = m->ids_bytes, .fingerprint = w->cfg.fingerprint,
                               .window_hash = m->hash, .out_row_begin = m->out_row_begin};
    op->h.data_offset = ribo_part_data_offset(op->h.per_residue, op->h.n_rows, op->h.ids_bytes);
    op->out_start = malloc((m->n_rows + 1) * sizeof *op->out_start);
    op->row_crc = calloc(m->n_rows ? m->n_rows : 1, sizeof *op->row_crc);
    if (!w->cfg.per_residue) op->pooled = malloc((m->n_rows ? m->n_rows : 1) * w->cfg.dim * sizeof(float));
    if (!op->out_start || !op->row_crc || (!w->cfg.per_residue && !op->pooled))
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory for window %zu", m->index + 1);
    op->out_start[0] = 0;
    for (size_t i = 0; i < m->n_rows; ++i) op->out_start[i + 1] = op->out_start[i] + (m->out_rows ? m->out_rows[i] : 1);
    op->remaining = m->n_rows;
    return w->rows_fd >= 0 ? open_in_place(w, op, err) : open_part_file(op, err);
}

static ribo_status handle_window(ribo_part_writer *w, ribo_window_msg *m, ribo_error *err) {
    pthread_mutex_lock(&w->lock);
    ribo_status s = add_entry(w, m, err);
    pthread_mutex_unlock(&w->lock);
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
    s = open_window(w, op, err);
    pthread_mutex_lock(&w->lock);
    if (s == RIBO_OK && w->n_open == w->cap_open) {
        size_t cap = w->cap_open ? w->cap_open * 2 : 8;
        open_part **o = realloc(w->open, cap * sizeof *o);
        if (o) {
            w->open = o;
            w->cap_open = cap;
        } else {
            s = ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
        }
    }
    if (s == RIBO_OK) w->open[w->n_open++] = op;
    pthread_mutex_unlock(&w->lock);
    if (s != RIBO_OK) free_open(op, true);
    return s;
}

/* Writes a small file completely, fsyncs it and renames it into place (then fsyncs the directory). */
static ribo_status write_durable(ribo_part_writer *w, const char *tmp, const char *path, const void *a, size_t na,
                                 const void *b, size_t nb, ribo_error *err) {
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    ribo_status s = ribo_pwrite_all(fd, a, na, 0, tmp, err);
    if (s == RIBO_OK) s = ribo_pwrite_all(fd, b, nb, na, tmp, err);
    if (s == RIBO_OK && fsync(fd) != 0) s = ribo_error_set(err, RIBO_ERR_IO, "%s: cannot flush to disk: %s", tmp, strerror(errno));
    if (close(fd) != 0 && s == RIBO_OK) s = ribo_error_set(err, RIBO_ERR_IO, "%s: %s", tmp, strerror(errno));
    if (s == RIBO_OK && rename(tmp, path) != 0)
        s = ribo_error_set(err, RIBO_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    if (s != RIBO_OK) {
        unlink(tmp);
        return s;
    }
    return ribo_fsync_dir(w->work_dir, err);
}

/* In place: the window's rows are on disk (fdatasync), then its record is written. */
static ribo_status complete_in_place(ribo_part_writer *w, open_part *op, uint32_t data_crc, ribo_error *err) {
    if (fdatasync(w->rows_fd) != 0)
        return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot flush to disk: %s", w->rows_path, strerror(errno));
    uint64_t synced = atomic_fetch_add(&w->windows_synced, 1) + 1;
    if (w->cfg.kill_before_record > 0 && synced == (uint64_t)w->cfg.kill_before_record) raise(SIGKILL);
    op->h.data_crc = data_crc;
    size_t meta_len = 0;
    unsigned char *meta = make_meta(op, &meta_len);
    if (!meta) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    op->h.body_crc = (uint32_t)crc32(0L, meta, (uInt)meta_len);
    unsigned char hdr[RIBO_PART_HEADER_BYTES];
    ribo_part_header_encode(&op->h, hdr);
    ribo_status s = write_durable(w, op->tmp_path, op->path, hdr, sizeof hdr, meta, meta_len, err);
    free(meta);
    return s;
}

/* Parts: header, fsync, rename, directory fsync. */
static ribo_status complete_part(ribo_part_writer *w, open_part *op, uint32_t data_crc, ribo_error *err) {
    uint64_t bytes = op->h.n_out_rows * op->h.dim * 4;
    op->h.body_crc = (uint32_t)crc32_combine(op->meta_crc, data_crc, (z_off_t)bytes);
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
    return ribo_fsync_dir(w->work_dir, err);
}

/* The last row of a window is in: pooled rows written, the window made durable and counted. */
static ribo_status complete(ribo_part_writer *w, open_part *op, ribo_error *err) {
    uint64_t bytes = op->h.n_out_rows * op->h.dim * 4;
    if (op->pooled) RIBO_TRY(ribo_pwrite_all(op->data_fd, op->pooled, (size_t)bytes, op->data_base, op->data_path, err));
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t i = 0; i < op->h.n_rows; ++i) {
        uint64_t b = (uint64_t)(op->out_start[i + 1] - op->out_start[i]) * op->h.dim * 4;
        crc = crc32_combine(crc, op->row_crc[i], (z_off_t)b);
    }
    RIBO_TRY(w->rows_fd >= 0 ? complete_in_place(w, op, (uint32_t)crc, err) : complete_part(w, op, (uint32_t)crc, err));
    atomic_fetch_add(&w->bytes, bytes);
    pthread_mutex_lock(&w->lock);
    double now = ribo_now_seconds() - w->cfg.t0;
    if (now > w->last_done) w->last_done = now;
    pthread_mutex_unlock(&w->lock);
    uint64_t parts = atomic_fetch_add(&w->parts_done, 1) + 1;
    if (w->cfg.kill_after_parts > 0 && parts == (uint64_t)w->cfg.kill_after_parts) raise(SIGKILL);
    return RIBO_OK;
}

/* The id of sequence `local` of a window (error path only). */
static const char *id_of(const open_part *op, size_t local, char *buf, size_t cap) {
    snprintf(buf, cap, "row %llu", (unsigned long long)(op->h.row_begin + local + 1));
    const char *ids = op->win->ids;
    char *read = NULL;
    if (!ids && op->fd >= 0 && (read = malloc(op->h.ids_bytes ? op->h.ids_bytes : 1))) { /* parts: in the file */
        ribo_error e;
        uint64_t at = RIBO_PART_HEADER_BYTES + (op->h.per_residue ? 8 * op->h.n_rows : 0);
        if (ribo_pread_all(op->fd, read, op->h.ids_bytes, at, op->tmp_path, &e) == RIBO_OK) ids = read;
    }
    if (ids) {
        const char *p = ids;
        for (size_t i = 0; i < local && p < ids + op->h.ids_bytes; ++i) p += strlen(p) + 1;
        if (p < ids + op->h.ids_bytes) snprintf(buf, cap, "%s", p);
    }
    free(read);
    return buf;
}

static open_part *find_open(ribo_part_writer *w, size_t window) {
    open_part *op = NULL;
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->n_open && !op; ++i)
        if (w->open[i]->win->index == window) op = w->open[i];
    pthread_mutex_unlock(&w->lock);
    return op;
}

/* One sequence of a batch: where its rows are in the batch and where they go. */
typedef struct seq_piece {
    size_t local;
    const float *src;
    size_t bytes;
} seq_piece;

static int by_local(const void *a, const void *b) {
    size_t x = ((const seq_piece *)a)->local, y = ((const seq_piece *)b)->local;
    return x < y ? -1 : x > y;
}

/* Per-residue rows of a batch: one pwritev per run of consecutive sequences. */
static ribo_status write_residues(open_part *op, seq_piece *pc, int n, ribo_error *err) {
    qsort(pc, (size_t)n, sizeof *pc, by_local);
    struct iovec *iov = malloc((size_t)(n ? n : 1) * sizeof *iov);
    if (!iov) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    ribo_status s = RIBO_OK;
    size_t D = op->h.dim;
    for (int i = 0; s == RIBO_OK && i < n;) {
        int k = 0;
        do {
            iov[k] = (struct iovec){(void *)pc[i + k].src, pc[i + k].bytes};
            ++k;
        } while (i + k < n && pc[i + k].local == pc[i + k - 1].local + 1);
        uint64_t off = op->data_base + (uint64_t)op->out_start[pc[i].local] * D * 4;
        s = ribo_pwritev_all(op->data_fd, iov, k, off, op->data_path, err);
        i += k;
    }
    free(iov);
    return s;
}

static ribo_status write_batch(ribo_part_writer *w, ribo_batch *b, ribo_error *err) {
    if (w->cfg.write_delay_ms > 0) {
        struct timespec ts = {w->cfg.write_delay_ms / 1000, (long)(w->cfg.write_delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    open_part *op = find_open(w, b->window);
    if (!op) return ribo_error_set(err, RIBO_ERR_INTERNAL, "writer: batch %zu of window %zu, which is not open",
                                   b->seq_no + 1, b->window + 1);
    const ribo_packed_batch *pb = &b->pb;
    size_t D = op->h.dim;
    seq_piece *pc = malloc((size_t)(pb->n_seqs ? pb->n_seqs : 1) * sizeof *pc);
    if (!pc) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    /* A NaN/inf (overflow in the model, or a device fault) must not reach the output: check the
     * whole batch before writing any of its rows. */
    size_t at = 0;
    for (int i = 0; i < pb->n_seqs; ++i) {
        size_t local = pb->rows[i] - op->h.row_begin;
        size_t n = (size_t)(op->out_start[local + 1] - op->out_start[local]);
        const float *v = b->out + at * D;
        for (size_t k = 0; k < n * D; ++k)
            if (!isfinite(v[k])) {
                char id[256];
                free(pc);
                return ribo_error_set(err, RIBO_ERR_DEVICE, "batch %zu (window %zu): sequence '%s': non-finite embedding (NaN/inf)",
                                      b->seq_no + 1, b->window + 1, id_of(op, local, id, sizeof id));
            }
        pc[i] = (seq_piece){local, v, n * D * 4};
        op->row_crc[local] = (uint32_t)crc32(0L, (const Bytef *)v, (uInt)(n * D * 4));
        if (op->pooled) memcpy(op->pooled + local * D, v, D * 4);
        at += n;
    }
    ribo_status s = op->pooled ? RIBO_OK : write_residues(op, pc, pb->n_seqs, err);
    free(pc);
    RIBO_TRY(s);
    pthread_mutex_lock(&w->lock);
    op->remaining -= (size_t)pb->n_seqs;
    bool done = op->remaining == 0;
    for (size_t i = 0; done && i < w->n_open; ++i)
        if (w->open[i] == op) w->open[i] = w->open[--w->n_open];
    pthread_mutex_unlock(&w->lock);
    atomic_fetch_add(&w->seq_done, (uint64_t)pb->n_seqs);
    atomic_fetch_add(&w->tok_done, (uint64_t)pb->n_tokens);
    if (!done) return RIBO_OK;
    s = complete(w, op, err);
    free_open(op, s != RIBO_OK);
    return s;
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
    pthread_mutex_lock(&w->lock);
    if (w->first_write < 0 || t0 - w->cfg.t0 < w->first_write) w->first_write = t0 - w->cfg.t0;
    if (w->cfg.record && grow((void **)&w->batches, &w->n_batches, &w->cap_batches, sizeof *w->batches))
        w->batches[w->n_batches++] = (ribo_batch_record){b->seq_no, b->window, b->pipeline, b->pb.n_tokens, b->pb.n_seqs,
                                                         {b->pack_t0, b->pack_t1}, b->timing,
                                                         {t0 - w->cfg.t0, t1 - w->cfg.t0}};
    pthread_mutex_unlock(&w->lock);
}

static void record_window(ribo_part_writer *w, const ribo_window_msg *m) {
    pthread_mutex_lock(&w->lock);
    if (w->cfg.record && grow((void **)&w->windows, &w->n_windows, &w->cap_windows, sizeof *w->windows))
        w->windows[w->n_windows++] = (ribo_window_record){m->index, m->n_rows, m->resumed, m->t_begin, m->t_end};
    pthread_mutex_unlock(&w->lock);
}

/* Writes one batch (unless the writer has failed), records it, hands its slot and object back. */
static ribo_status write_and_release(ribo_part_writer *w, ribo_batch *b, ribo_error *err) {
    double t0 = ribo_now_seconds();
    ribo_status s = atomic_load(&w->failed) ? RIBO_ERR_INTERNAL : write_batch(w, b, err);
    if (s == RIBO_ERR_INTERNAL && atomic_load(&w->failed)) {
        pthread_mutex_lock(&w->lock);
        *err = w->first_err;
        pthread_mutex_unlock(&w->lock);
        s = err->status;
    }
    record_batch(w, b, t0, ribo_now_seconds());
    if (b->owner) ribo_pipeline_release(b->owner, b);
    ribo_producer_release(w->cfg.producer, b);
    return s;
}

/* A writer thread's job: one batch. The first error is kept and reported through cfg.on_error. */
static void write_job(void *user, void *item, int worker) {
    ribo_part_writer *w = user;
    (void)worker;
    ribo_error err = {0};
    bool was_failed = atomic_load(&w->failed);
    if (write_and_release(w, item, &err) == RIBO_OK || was_failed) return;
    pthread_mutex_lock(&w->lock);
    bool first = !atomic_load(&w->failed);
    if (first) {
        w->first_err = err;
        atomic_store(&w->failed, true);
    }
    pthread_mutex_unlock(&w->lock);
    if (first && w->cfg.on_error) w->cfg.on_error(w->cfg.on_error_user, &err);
}

ribo_status ribo_part_writer_handle(ribo_part_writer *w, ribo_msg_kind *msg, ribo_error *err) {
    double t0 = ribo_now_seconds();
    ribo_status s;
    if (*msg == RIBO_MSG_WINDOW) {
        record_window(w, (ribo_window_msg *)msg);
        s = handle_window(w, (ribo_window_msg *)msg, err);
    } else if (w->pool && !atomic_load(&w->failed) && ribo_worker_pool_submit(w->pool, msg)) {
        s = RIBO_OK;
    } else {
        s = write_and_release(w, (ribo_batch *)msg, err);
    }
    w->seconds += ribo_now_seconds() - t0;
    return s;
}

void ribo_part_writer_join(ribo_part_writer *w) { ribo_worker_pool_join(w->pool); }

ribo_status ribo_part_writer_finish(ribo_part_writer *w, ribo_error *err) {
    ribo_worker_pool_join(w->pool);
    if (atomic_load(&w->failed)) {
        *err = w->first_err;
        return err->status;
    }
    if (w->n_open)
        return ribo_error_set(err, RIBO_ERR_INTERNAL, "writer: window %zu has %zu sequence(s) never computed",
                              w->open[0]->win->index + 1, w->open[0]->remaining);
    if (w->rows_fd >= 0 && close(w->rows_fd) != 0) {
        w->rows_fd = -1;
        return ribo_error_set(err, RIBO_ERR_IO, "%s: %s", w->rows_path, strerror(errno));
    }
    w->rows_fd = -1;
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

void ribo_part_writer_stats(const ribo_part_writer *w, ribo_writer_stats *st) {
    memset(st, 0, sizeof *st);
    int n = w->pool ? ribo_worker_pool_size(w->pool) : 1;
    st->writers = n;
    for (int i = 0; i < n && i < 64; ++i) st->busy_s[i] = w->pool ? ribo_worker_pool_busy(w->pool, i) : w->seconds;
    st->bytes = atomic_load(&((ribo_part_writer *)w)->bytes);
    st->first_write = w->first_write > 0 ? w->first_write : 0;
    st->last_done = w->last_done;
    st->in_place = w->cfg.rows_path != NULL;
}

double ribo_part_writer_seconds(const ribo_part_writer *w) {
    if (!w->pool) return w->seconds;
    double sum = 0;
    int n = ribo_worker_pool_size(w->pool);
    for (int i = 0; i < n; ++i) sum += ribo_worker_pool_busy(w->pool, i);
    return sum / n;
}

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
    ribo_worker_pool_free(w->pool); /* joins: no thread touches the windows below any more */
    for (size_t i = 0; i < w->n_open; ++i) free_open(w->open[i], true);
    if (w->rows_fd >= 0) close(w->rows_fd);
    pthread_mutex_destroy(&w->lock);
    free(w->open);
    free(w->entries);
    free(w->batches);
    free(w->windows);
    free(w);
}
