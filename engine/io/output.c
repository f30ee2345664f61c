/* Embedding output writer. Rows arrive in any order and are pwrite'd straight to their place in a
 * temporary file ("<final>.partial-<pid>"): after the .npy header, or into the contiguous,
 * pre-allocated storage of the HDF5 "embeddings"/"tokens" dataset (whose metadata, ids and offsets
 * are written and closed through the HDF5 library when the output is opened, in output_h5.c; a ribo
 * built without HDF5 refuses .h5 paths at open). The data region is
 * reserved with posix_fallocate up front, so a full disk is reported before any work is done. A
 * bitmap records which rows were written. Commit checks it, fsyncs, renames the side files (ids,
 * offsets) and then the main file, and fsyncs the directory: a complete-looking main file only
 * appears once everything is on disk. Rows may be written from several threads only if the caller
 * serialises ribo_output_write_row (the bitmap is not atomic). With spec->rows_path (.npy written in
 * place by `ribo embed`), the main file is that existing file: only its header is written here. */
#include "engine/io/output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/io/npy.h"
#include "engine/io/output_h5.h"
#include "engine/base/fileutil.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#error "ribo's .npy output assumes a little-endian host"
#endif

typedef enum out_kind { OUT_NPY, OUT_H5 } out_kind;

/* A file written under a temporary name and renamed at commit. */
typedef struct out_file {
    char *final_path;
    char *partial_path;
    bool created;        /* partial exists on disk (remove it unless renamed) */
} out_file;

struct ribo_output {
    out_kind kind;
    bool per_residue;
    bool committed;
    size_t n_rows;
    size_t dim;
    uint64_t total_rows;      /* N (pooled) or T (per-residue) rows of the main array */
    int64_t *row_start;       /* per-residue: n_rows + 1 token offsets; NULL when pooled */
    unsigned char *written;   /* bitmap over n_rows */
    char *dir;                /* directory holding the files (fsync'd after the renames) */
    out_file main;            /* X.npy or X.h5 */
    out_file ids;             /* npy: X.ids.txt */
    out_file offsets;         /* npy per-residue: X.offsets.npy */
    int fd;                   /* main partial file, rows are pwrite'd into it */
    off_t data_offset;        /* byte offset of row 0 in it (after the .npy header / in the HDF5 file) */
};

/* malloc'd concatenation of a (first alen bytes) and b; NULL when out of memory. */
static char *concat(const char *a, size_t alen, const char *b) {
    size_t bl = strlen(b);
    char *p = malloc(alen + bl + 1);
    if (!p) return NULL;
    memcpy(p, a, alen);
    memcpy(p + alen, b, bl + 1);
    return p;
}

/* Sets final and partial names: stem + suffix and stem + suffix + ".partial-<pid>". */
static bool file_names(out_file *f, const char *stem, size_t stem_len, const char *suffix) {
    char tail[64];
    snprintf(tail, sizeof tail, "%s.partial-%ld", suffix, (long)getpid());
    f->final_path = concat(stem, stem_len, suffix);
    f->partial_path = concat(stem, stem_len, tail);
    return f->final_path && f->partial_path;
}

/* True when s ends with suffix. */
static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* fsyncs and closes fd; RIBO_ERR_IO naming path on failure (fd is closed either way). */
static ribo_status sync_close(int fd, const char *path, ribo_error *err) {
    int rc = fsync(fd);
    int e = errno;
    if (close(fd) != 0 && rc == 0) {
        rc = -1;
        e = errno;
    }
    if (rc != 0) return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot flush to disk: %s", path, strerror(e));
    return RIBO_OK;
}

/* Creates (truncating) a partial file for writing; returns the fd or -1 with err set. */
static int create_partial(out_file *f, ribo_error *err) {
    int fd = open(f->partial_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        ribo_error_set(err, RIBO_ERR_IO, "%s: cannot create: %s", f->partial_path, strerror(errno));
        return -1;
    }
    f->created = true;
    return fd;
}

/* Id source: the spec's array, or its next_id callback (then each id is checked here). */
typedef struct id_source {
    const ribo_output_spec *spec;
    const char *path;
} id_source;

static const char *source_id(void *user, size_t i, ribo_error *err) {
    id_source *src = user;
    const ribo_output_spec *spec = src->spec;
    if (spec->ids) return spec->ids[i];
    const char *id = spec->next_id(spec->next_id_user, err);
    if (!id) return NULL;
    if (strpbrk(id, "\n\r")) {
        ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "output '%s': id of row %zu contains a line break", src->path, i);
        return NULL;
    }
    return id;
}

/* Writes X.ids.txt.partial: one id per line, fsync'd. */
static ribo_status write_ids_txt(ribo_output *o, id_source *src, ribo_error *err) {
    int fd = create_partial(&o->ids, err);
    if (fd < 0) return err ? err->status : RIBO_ERR_IO;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int e = errno;
        close(fd);
        return ribo_error_set(err, RIBO_ERR_IO, "%s: %s", o->ids.partial_path, strerror(e));
    }
    bool ok = true;
    for (size_t i = 0; i < o->n_rows && ok; ++i) {
        const char *id = source_id(src, i, err);
        if (!id) {
            fclose(f);
            return err ? err->status : RIBO_ERR_INTERNAL;
        }
        ok = fputs(id, f) >= 0 && fputc('\n', f) != EOF;
    }
    int e = errno;
    if (ok && fflush(f) != 0) {
        ok = false;
        e = errno;
    }
    if (ok && fsync(fileno(f)) != 0) {
        ok = false;
        e = errno;
    }
    if (fclose(f) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (!ok) return ribo_error_set(err, RIBO_ERR_IO, "%s: write failed: %s", o->ids.partial_path, strerror(e));
    return RIBO_OK;
}

/* Writes X.offsets.npy.partial: int64 [N+1], fsync'd. */
static ribo_status write_offsets_npy(ribo_output *o, ribo_error *err) {
    char hdr[256];
    int64_t shape[1] = {(int64_t)o->n_rows + 1};
    size_t hl = ribo_npy_header(hdr, sizeof hdr, "<i8", shape, 1);
    if (!hl) return ribo_error_set(err, RIBO_ERR_INTERNAL, "%s: cannot build .npy header", o->offsets.final_path);
    int fd = create_partial(&o->offsets, err);
    if (fd < 0) return err ? err->status : RIBO_ERR_IO;
    ribo_status s = ribo_pwrite_all(fd, hdr, hl, 0, o->offsets.partial_path, err);
    if (s == RIBO_OK)
        s = ribo_pwrite_all(fd, o->row_start, (o->n_rows + 1) * sizeof(int64_t), (off_t)hl, o->offsets.partial_path, err);
    if (s != RIBO_OK) {
        close(fd);
        return s;
    }
    return sync_close(fd, o->offsets.partial_path, err);
}

/* Byte size of the main array. */
static off_t data_bytes(const ribo_output *o) {
    return (off_t)(o->total_rows * o->dim * sizeof(float));
}

/* In place: moves the rows from byte `from` of the rows file to byte `to` of a new file (one
 * in-kernel copy), which then replaces the rows file. Only for a final header of another length
 * than the space reserved for it (see ribo_output_open). */
static ribo_status move_rows(ribo_output *o, uint64_t from, uint64_t to, ribo_error *err) {
    char *tmp = concat(o->main.partial_path, strlen(o->main.partial_path), ".moved");
    if (!tmp) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ribo_status s = fd >= 0 ? RIBO_OK : ribo_error_set(err, RIBO_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    if (s == RIBO_OK) s = ribo_copy_range(o->fd, from, fd, to, (uint64_t)data_bytes(o), o->main.partial_path, tmp, err);
    if (s == RIBO_OK && fsync(fd) != 0) s = ribo_error_set(err, RIBO_ERR_IO, "%s: cannot flush to disk: %s", tmp, strerror(errno));
    if (s == RIBO_OK && rename(tmp, o->main.partial_path) != 0)
        s = ribo_error_set(err, RIBO_ERR_IO, "%s: cannot rename to %s: %s", tmp, o->main.partial_path, strerror(errno));
    if (s == RIBO_OK) {
        close(o->fd);
        o->fd = fd;
    } else {
        if (fd >= 0) close(fd);
        unlink(tmp);
    }
    free(tmp);
    return s;
}

/* In place: the rows are in the rows file already; writes the header in front of them and cuts the
 * file to header + rows (a longer file may hold rows of an earlier, longer run). */
static ribo_status open_npy_in_place(ribo_output *o, const ribo_output_spec *spec, ribo_error *err) {
    char hdr[256];
    int64_t shape[2] = {(int64_t)o->total_rows, (int64_t)o->dim};
    size_t hl = ribo_npy_header(hdr, sizeof hdr, "<f4", shape, 2);
    if (!hl) return ribo_error_set(err, RIBO_ERR_INTERNAL, "%s: cannot build .npy header", o->main.final_path);
    const char *path = o->main.partial_path;
    o->fd = open(path, O_RDWR | O_CLOEXEC);
    if (o->fd < 0) return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    uint64_t need = spec->rows_base + (uint64_t)data_bytes(o);
    if (fstat(o->fd, &sb) != 0) return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    if ((uint64_t)sb.st_size < need)
        return ribo_error_set(err, RIBO_ERR_INTERNAL, "%s: holds %lld bytes, the rows need %llu", path,
                              (long long)sb.st_size, (unsigned long long)need);
    if (hl != spec->rows_base) RIBO_TRY(move_rows(o, spec->rows_base, hl, err));
    o->data_offset = (off_t)hl;
    RIBO_TRY(ribo_pwrite_all(o->fd, hdr, hl, 0, path, err));
    off_t size = o->data_offset + data_bytes(o);
    if (ftruncate(o->fd, size) != 0)
        return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot size to %lld bytes: %s", path, (long long)size, strerror(errno));
    memset(o->written, 0xff, (o->n_rows + 7) / 8 ? (o->n_rows + 7) / 8 : 1);
    return RIBO_OK;
}

/* Opens the .npy main partial: header, then the pre-sized and reserved data section. */
static ribo_status open_npy(ribo_output *o, ribo_error *err) {
    char hdr[256];
    int64_t shape[2] = {(int64_t)o->total_rows, (int64_t)o->dim};
    size_t hl = ribo_npy_header(hdr, sizeof hdr, "<f4", shape, 2);
    if (!hl) return ribo_error_set(err, RIBO_ERR_INTERNAL, "%s: cannot build .npy header", o->main.final_path);
    o->data_offset = (off_t)hl;
    o->fd = create_partial(&o->main, err);
    if (o->fd < 0) return err ? err->status : RIBO_ERR_IO;
    RIBO_TRY(ribo_pwrite_all(o->fd, hdr, hl, 0, o->main.partial_path, err));
    off_t size = o->data_offset + data_bytes(o);
    if (ftruncate(o->fd, size) != 0)
        return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot size to %lld bytes: %s", o->main.partial_path,
                              (long long)size, strerror(errno));
    return ribo_output_reserve(o->fd, o->data_offset, data_bytes(o), o->main.partial_path, err);
}

/* Creates the .h5 partial with everything but the embedding values (output_h5.c, through the HDF5
 * library, which then holds nothing open), reopens it and pre-sizes/reserves the dataset storage the
 * rows are pwrite'd into (float32 little-endian, exactly the file layout). */
static ribo_status open_h5(ribo_output *o, id_source *src, ribo_error *err) {
    const char *path = o->main.partial_path;
    uint64_t ids_bytes = src->spec->ids_bytes;
    if (src->spec->ids)
        for (size_t i = 0; i < o->n_rows; ++i) ids_bytes += strlen(src->spec->ids[i]) + 1;
    ribo_output_h5_spec h5 = {.partial_path = path, .final_path = o->main.final_path, .dir = o->dir,
                              .per_residue = o->per_residue, .n_rows = o->n_rows, .dim = o->dim,
                              .total_rows = o->total_rows, .id_at = source_id, .id_user = src,
                              .ids_bytes = ids_bytes, .row_start = o->row_start};
    RIBO_TRY(ribo_output_h5_create(&h5, &o->main.created, &o->data_offset, err));
    o->fd = open(path, O_WRONLY | O_CLOEXEC);
    if (o->fd < 0) return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot reopen: %s", path, strerror(errno));
    struct stat sb;
    off_t need = o->data_offset + data_bytes(o);
    if (fstat(o->fd, &sb) != 0) return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    if (sb.st_size < need && ftruncate(o->fd, need) != 0)
        return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot size to %lld bytes: %s", path, (long long)need,
                              strerror(errno));
    return ribo_output_reserve(o->fd, o->data_offset, data_bytes(o), path, err);
}

ribo_status ribo_output_check_path(const char *path, ribo_error *err) {
    if (!path || !path[0]) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "no output path");
    if (ends_with(path, ".npy")) return RIBO_OK;
    if (ends_with(path, ".h5")) {
        if (ribo_output_h5_available()) return RIBO_OK;
        return ribo_error_set(err, RIBO_ERR_UNSUPPORTED,
                              "output '%s': this ribo was built without HDF5 support; use .npy or rebuild with "
                              "libhdf5-dev",
                              path);
    }
    if (ribo_output_h5_available())
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "output '%s': unsupported extension (use .npy or .h5)",
                              path);
    return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT,
                          "output '%s': unsupported extension (use .npy; .h5 needs a ribo built with HDF5)", path);
}

/* Checks the spec: extension, ids, row counts, sizes; fills kind and per-residue offsets. */
static ribo_status check_spec(const ribo_output_spec *spec, ribo_output *o, ribo_error *err) {
    const char *path = spec->path;
    RIBO_TRY(ribo_output_check_path(path, err));
    o->kind = ends_with(path, ".npy") ? OUT_NPY : OUT_H5;
    if (spec->dim <= 0)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "output '%s': embedding width %d must be positive", path,
                              spec->dim);
    if (spec->n_rows > 0 && !spec->ids && !spec->next_id)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "output '%s': no ids given", path);
    for (size_t i = 0; spec->ids && i < spec->n_rows; ++i) {
        if (!spec->ids[i])
            return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "output '%s': id of row %zu is NULL", path, i);
        if (strpbrk(spec->ids[i], "\n\r"))
            return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "output '%s': id of row %zu contains a line break",
                                  path, i);
    }
    o->n_rows = spec->n_rows;
    o->dim = (size_t)spec->dim;
    o->per_residue = spec->row_tokens != NULL;
    uint64_t total = spec->n_rows;
    if (o->per_residue) {
        if (spec->n_rows > SIZE_MAX / sizeof(int64_t) - 1)
            return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "output '%s': too many rows", path);
        o->row_start = malloc((spec->n_rows + 1) * sizeof(int64_t));
        if (!o->row_start) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "output '%s': out of memory", path);
        total = 0;
        o->row_start[0] = 0;
        for (size_t i = 0; i < spec->n_rows; ++i) {
            int64_t t = spec->row_tokens[i];
            if (t < 0 || (uint64_t)t > (uint64_t)INT64_MAX - total)
                return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "output '%s': row %zu has %lld tokens", path, i,
                                      (long long)t);
            total += (uint64_t)t;
            o->row_start[i + 1] = (int64_t)total;
        }
    }
    /* Byte size of the main array must fit in off_t (with room for a header). */
    if (total > (uint64_t)(INT64_MAX / 2) / o->dim / sizeof(float) || total > SIZE_MAX / o->dim)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "output '%s': %llu x %zu floats is too large", path,
                              (unsigned long long)total, o->dim);
    o->total_rows = total;
    return RIBO_OK;
}

/* Checks that the output's directory exists and the final path is not a directory. */
static ribo_status check_dir(ribo_output *o, const char *path, ribo_error *err) {
    const char *slash = strrchr(path, '/');
    o->dir = slash ? concat(path, slash == path ? 1 : (size_t)(slash - path), "") : concat(".", 1, "");
    if (!o->dir) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "output '%s': out of memory", path);
    struct stat sb;
    if (stat(o->dir, &sb) != 0)
        return ribo_error_set(err, RIBO_ERR_IO, "output '%s': directory '%s' does not exist or is not accessible: %s",
                              path, o->dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return ribo_error_set(err, RIBO_ERR_IO, "output '%s': '%s' is not a directory", path, o->dir);
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return ribo_error_set(err, RIBO_ERR_IO, "output '%s': is an existing directory", path);
    return RIBO_OK;
}

ribo_status ribo_output_open(const ribo_output_spec *spec, ribo_output **out, ribo_error *err) {
    if (!out) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "ribo_output_open: NULL argument");
    *out = NULL;
    if (!spec || !spec->path || !spec->path[0])
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "ribo_output_open: no output path");
    ribo_output *o = calloc(1, sizeof *o);
    if (!o) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "output '%s': out of memory", spec->path);
    o->fd = -1;
    ribo_status s = check_spec(spec, o, err);
    if (s == RIBO_OK) s = check_dir(o, spec->path, err);
    if (s == RIBO_OK) {
        size_t rows = o->n_rows ? o->n_rows : 1;
        o->written = calloc((rows + 7) / 8, 1);
        if (!o->written) s = ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "output '%s': out of memory", spec->path);
    }
    const char *path = spec->path;
    size_t len = strlen(path);
    if (s == RIBO_OK && o->kind == OUT_NPY) {
        size_t stem = len - strlen(".npy");
        if (!file_names(&o->main, path, len, "") || !file_names(&o->ids, path, stem, ".ids.txt") ||
            (o->per_residue && !file_names(&o->offsets, path, stem, ".offsets.npy")))
            s = ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "output '%s': out of memory", path);
        if (s == RIBO_OK && spec->rows_path) { /* the rows file is the main partial, never removed here */
            free(o->main.partial_path);
            o->main.partial_path = concat(spec->rows_path, strlen(spec->rows_path), "");
            s = o->main.partial_path ? open_npy_in_place(o, spec, err)
                                     : ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "output '%s': out of memory", path);
        } else if (s == RIBO_OK) {
            s = open_npy(o, err);
        }
        id_source src = {spec, path};
        if (s == RIBO_OK) s = write_ids_txt(o, &src, err);
        if (s == RIBO_OK && o->per_residue) s = write_offsets_npy(o, err);
    } else if (s == RIBO_OK && spec->rows_path) {
        s = ribo_error_set(err, RIBO_ERR_INTERNAL, "output '%s': rows are written in place only for .npy", path);
    } else if (s == RIBO_OK) {
        if (!file_names(&o->main, path, len, ""))
            s = ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "output '%s': out of memory", path);
        id_source src = {spec, path};
        if (s == RIBO_OK) s = open_h5(o, &src, err); /* without HDF5, check_spec has refused .h5 already */
    }
    if (s != RIBO_OK) {
        ribo_output_close(o);
        return s;
    }
    *out = o;
    return RIBO_OK;
}

ribo_status ribo_output_write_row(ribo_output *o, size_t row, const float *data, ribo_error *err) {
    if (!o) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "ribo_output_write_row: NULL output");
    if (o->committed)
        return ribo_error_set(err, RIBO_ERR_INTERNAL, "%s: row %zu written after commit", o->main.final_path, row);
    if (row >= o->n_rows)
        return ribo_error_set(err, RIBO_ERR_INTERNAL, "%s: row %zu out of range (%zu rows)", o->main.final_path, row,
                              o->n_rows);
    uint64_t first = o->per_residue ? (uint64_t)o->row_start[row] : row;
    uint64_t count = o->per_residue ? (uint64_t)(o->row_start[row + 1] - o->row_start[row]) : 1;
    if (count > 0 && !data)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "%s: row %zu: NULL data", o->main.final_path, row);
    if (count > 0) {
        off_t off = o->data_offset + (off_t)(first * o->dim * sizeof(float));
        RIBO_TRY(ribo_pwrite_all(o->fd, data, (size_t)(count * o->dim * sizeof(float)), off, o->main.partial_path, err));
    }
    o->written[row / 8] |= (unsigned char)(1u << (row % 8));
    return RIBO_OK;
}

ribo_status ribo_output_write_rows(ribo_output *o, size_t first, size_t n, const float *data, ribo_error *err) {
    if (!o) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "ribo_output_write_rows: NULL output");
    if (o->committed)
        return ribo_error_set(err, RIBO_ERR_INTERNAL, "%s: rows written after commit", o->main.final_path);
    if (first > o->n_rows || n > o->n_rows - first)
        return ribo_error_set(err, RIBO_ERR_INTERNAL, "%s: rows %zu..%zu out of range (%zu rows)", o->main.final_path,
                              first, first + n, o->n_rows);
    uint64_t begin = o->per_residue ? (uint64_t)o->row_start[first] : first;
    uint64_t end = o->per_residue ? (uint64_t)o->row_start[first + n] : first + n;
    if (end > begin) {
        if (!data) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "%s: NULL data", o->main.final_path);
        off_t off = o->data_offset + (off_t)(begin * o->dim * sizeof(float));
        RIBO_TRY(ribo_pwrite_all(o->fd, data, (size_t)((end - begin) * o->dim * sizeof(float)), off, o->main.partial_path, err));
    }
    for (size_t row = first; row < first + n; ++row) o->written[row / 8] |= (unsigned char)(1u << (row % 8));
    return RIBO_OK;
}

ribo_status ribo_output_copy_rows(ribo_output *o, size_t first, size_t n, int src_fd, uint64_t src_off,
                                  const char *src_path, ribo_error *err) {
    if (!o) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "ribo_output_copy_rows: NULL output");
    if (o->committed) return ribo_error_set(err, RIBO_ERR_INTERNAL, "%s: rows written after commit", o->main.final_path);
    if (first > o->n_rows || n > o->n_rows - first)
        return ribo_error_set(err, RIBO_ERR_INTERNAL, "%s: rows %zu..%zu out of range (%zu rows)", o->main.final_path,
                              first, first + n, o->n_rows);
    uint64_t begin = o->per_residue ? (uint64_t)o->row_start[first] : first;
    uint64_t end = o->per_residue ? (uint64_t)o->row_start[first + n] : first + n;
    uint64_t off = (uint64_t)o->data_offset + begin * o->dim * sizeof(float);
    RIBO_TRY(ribo_copy_range(src_fd, src_off, o->fd, off, (end - begin) * o->dim * sizeof(float), src_path,
                             o->main.partial_path, err));
    for (size_t row = first; row < first + n; ++row) o->written[row / 8] |= (unsigned char)(1u << (row % 8));
    return RIBO_OK;
}

/* Renames a partial file to its final name. */
static ribo_status rename_into_place(out_file *f, ribo_error *err) {
    if (!f->final_path) return RIBO_OK;
    if (rename(f->partial_path, f->final_path) != 0)
        return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot rename to %s: %s", f->partial_path, f->final_path,
                              strerror(errno));
    f->created = false;
    return RIBO_OK;
}

ribo_status ribo_output_commit(ribo_output *o, ribo_error *err) {
    if (!o) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "ribo_output_commit: NULL output");
    if (o->committed) return RIBO_OK;
    for (size_t i = 0; i < o->n_rows; ++i)
        if (!(o->written[i / 8] & (1u << (i % 8))))
            return ribo_error_set(err, RIBO_ERR_INTERNAL, "%s: row %zu of %zu was never written", o->main.final_path,
                                  i, o->n_rows);
    int fd = o->fd;
    o->fd = -1;
    RIBO_TRY(sync_close(fd, o->main.partial_path, err));
    /* Side files first, the main file last. */
    RIBO_TRY(rename_into_place(&o->ids, err));
    RIBO_TRY(rename_into_place(&o->offsets, err));
    RIBO_TRY(rename_into_place(&o->main, err));
    o->committed = true;
    int dfd = open(o->dir, O_RDONLY | O_CLOEXEC);
    if (dfd < 0) return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot open directory: %s", o->dir, strerror(errno));
    int rc = fsync(dfd);
    int e = errno;
    close(dfd);
    if (rc != 0 && e != EINVAL && e != ENOTSUP)
        return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot flush directory: %s", o->dir, strerror(e));
    return RIBO_OK;
}

/* Removes a partial file that was not renamed and frees the names. */
static void drop_file(out_file *f) {
    if (f->created && f->partial_path) unlink(f->partial_path);
    free(f->final_path);
    free(f->partial_path);
}

void ribo_output_close(ribo_output *o) {
    if (!o) return;
    if (o->fd >= 0) close(o->fd);
    drop_file(&o->main);
    drop_file(&o->ids);
    drop_file(&o->offsets);
    free(o->row_start);
    free(o->written);
    free(o->dir);
    free(o);
}
