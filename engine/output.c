/* Embedding output writer. Rows arrive in any order and are pwrite'd straight to their place in a
 * temporary file ("<final>.partial-<pid>"): after the .npy header, or into the contiguous,
 * pre-allocated storage of the HDF5 "embeddings"/"tokens" dataset (whose metadata, ids and offsets
 * are written and closed through the HDF5 library when the output is opened). The data region is
 * reserved with posix_fallocate up front, so a full disk is reported before any work is done. A
 * bitmap records which rows were written. Commit checks it, fsyncs, renames the side files (ids,
 * offsets) and then the main file, and fsyncs the directory: a complete-looking main file only
 * appears once everything is on disk. Rows may be written from several threads only if the caller
 * serialises ribo_output_write_row (the bitmap is not atomic). */
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "npy.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#error "ribo's .npy output assumes a little-endian host"
#endif

/* Room for HDF5 metadata beyond the ids/offsets estimate (overridable to exercise full-disk paths). */
#ifndef RIBO_OUTPUT_SLACK_BYTES
#define RIBO_OUTPUT_SLACK_BYTES 16384u
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

/* Writes all of buf at offset (retrying short writes); RIBO_ERR_IO naming path on failure. */
static ribo_status pwrite_all(int fd, const void *buf, size_t n, off_t off, const char *path, ribo_error *err) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            return ribo_error_set(err, RIBO_ERR_IO, "%s: write failed: %s", path,
                                  w < 0 ? strerror(errno) : "no progress");
        p += w;
        n -= (size_t)w;
        off += w;
    }
    return RIBO_OK;
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

/* Writes X.ids.txt.partial: one id per line, fsync'd. */
static ribo_status write_ids_txt(ribo_output *o, const char *const *ids, ribo_error *err) {
    int fd = create_partial(&o->ids, err);
    if (fd < 0) return err ? err->status : RIBO_ERR_IO;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int e = errno;
        close(fd);
        return ribo_error_set(err, RIBO_ERR_IO, "%s: %s", o->ids.partial_path, strerror(e));
    }
    bool ok = true;
    for (size_t i = 0; i < o->n_rows && ok; ++i) ok = fputs(ids[i], f) >= 0 && fputc('\n', f) != EOF;
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
    ribo_status s = pwrite_all(fd, hdr, hl, 0, o->offsets.partial_path, err);
    if (s == RIBO_OK)
        s = pwrite_all(fd, o->row_start, (o->n_rows + 1) * sizeof(int64_t), (off_t)hl, o->offsets.partial_path, err);
    if (s != RIBO_OK) {
        close(fd);
        return s;
    }
    return sync_close(fd, o->offsets.partial_path, err);
}

/* Reserves disk blocks for [off, off+len) so that a full disk is reported before any work is done
 * (and row writes cannot fail for lack of space later). Filesystems that cannot reserve are fine. */
static ribo_status reserve(int fd, off_t off, off_t len, const char *path, ribo_error *err) {
    if (len <= 0) return RIBO_OK;
    int rc = posix_fallocate(fd, off, len);
    if (rc == ENOSPC || rc == EFBIG || rc == EDQUOT)
        return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot reserve %lld bytes for the embeddings: %s", path,
                              (long long)len, strerror(rc));
    return RIBO_OK;
}

/* Byte size of the main array. */
static off_t data_bytes(const ribo_output *o) {
    return (off_t)(o->total_rows * o->dim * sizeof(float));
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
    RIBO_TRY(pwrite_all(o->fd, hdr, hl, 0, o->main.partial_path, err));
    off_t size = o->data_offset + data_bytes(o);
    if (ftruncate(o->fd, size) != 0)
        return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot size to %lld bytes: %s", o->main.partial_path,
                              (long long)size, strerror(errno));
    return reserve(o->fd, o->data_offset, data_bytes(o), o->main.partial_path, err);
}

/* Walk callback: keeps the innermost HDF5 error description (prefers the OS error text). */
static herr_t h5_walk_cb(unsigned n, const H5E_error2_t *e, void *data) {
    char *buf = data;
    if (n == 0 && e && e->desc) {
        const char *m = strstr(e->desc, "error message = '");
        if (m) {
            m += strlen("error message = '");
            const char *q = strchr(m, '\'');
            size_t len = q ? (size_t)(q - m) : strlen(m);
            if (len > 255) len = 255;
            memcpy(buf, m, len);
            buf[len] = '\0';
        } else {
            snprintf(buf, 256, "%s", e->desc);
        }
    }
    return 0;
}

/* Sets err to RIBO_ERR_IO "path: what: <HDF5 detail>" from the current HDF5 error stack. */
static ribo_status h5_error(ribo_error *err, const char *path, const char *what) {
    char detail[256] = "HDF5 call failed";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, h5_walk_cb, detail);
    H5Eclear2(H5E_DEFAULT);
    return ribo_error_set(err, RIBO_ERR_IO, "%s: %s: %s", path, what, detail);
}

/* HDF5's automatic error printing, saved and silenced for the duration of our calls. */
typedef struct h5_quiet {
    H5E_auto2_t func;
    void *data;
} h5_quiet;

/* Saves the current HDF5 error handler and disables it. */
static void h5_quiet_begin(h5_quiet *q) {
    q->func = NULL;
    q->data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* Restores the handler saved by h5_quiet_begin. */
static void h5_quiet_end(const h5_quiet *q) {
    H5Eset_auto2(H5E_DEFAULT, q->func, q->data);
}

/* Creates a 1-D or 2-D dataset; `raw` makes it contiguous, allocated at creation and never filled
 * (its bytes are then written directly). Returns its id, or H5I_INVALID_HID with err set. */
static hid_t h5_dataset(hid_t file, const char *name, hid_t type, int rank, const hsize_t *dims, bool raw,
                        const char *path, ribo_error *err) {
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = space >= 0 ? H5Pcreate(H5P_DATASET_CREATE) : H5I_INVALID_HID;
    hid_t d = H5I_INVALID_HID;
    if (dcpl >= 0 &&
        (!raw || (H5Pset_layout(dcpl, H5D_CONTIGUOUS) >= 0 && H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) >= 0 &&
                  H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) >= 0)))
        d = H5Dcreate2(file, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d < 0) {
        char what[96];
        snprintf(what, sizeof what, "cannot create dataset '%s'", name);
        h5_error(err, path, what);
    }
    if (dcpl >= 0) H5Pclose(dcpl);
    if (space >= 0) H5Sclose(space);
    return d;
}

/* Writes a whole small dataset (ids, offsets) and closes it; err set on failure. */
static ribo_status h5_write_whole(hid_t file, const char *name, hid_t ftype, hid_t mtype, hsize_t n, const void *buf,
                                  const char *path, ribo_error *err) {
    hid_t d = h5_dataset(file, name, ftype, 1, &n, false, path, err);
    if (d < 0) return err ? err->status : RIBO_ERR_IO;
    ribo_status s = RIBO_OK;
    char what[96];
    snprintf(what, sizeof what, "cannot write dataset '%s'", name);
    if (n > 0 && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) s = h5_error(err, path, what);
    if (H5Dclose(d) < 0 && s == RIBO_OK) s = h5_error(err, path, what);
    return s;
}

/* Adds a fixed-length string attribute to the root group; err set on failure. */
static ribo_status h5_string_attr(hid_t file, const char *name, const char *value, const char *path,
                                  ribo_error *err) {
    hid_t t = H5Tcopy(H5T_C_S1);
    bool ok = t >= 0 && H5Tset_size(t, strlen(value) + 1) >= 0 && H5Tset_cset(t, H5T_CSET_UTF8) >= 0;
    hid_t sp = ok ? H5Screate(H5S_SCALAR) : H5I_INVALID_HID;
    hid_t a = sp >= 0 ? H5Acreate2(file, name, t, sp, H5P_DEFAULT, H5P_DEFAULT) : H5I_INVALID_HID;
    ok = a >= 0 && H5Awrite(a, t, value) >= 0;
    ribo_status s = ok ? RIBO_OK : h5_error(err, path, "cannot write an attribute");
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    return s;
}

/* Fills an open HDF5 file: attributes, the main dataset (storage allocated, offset returned in
 * *raw_offset, HADDR_UNDEF when empty), ids and per-residue offsets. */
static ribo_status h5_fill(ribo_output *o, hid_t file, const char *const *ids, haddr_t *raw_offset,
                           ribo_error *err) {
    const char *path = o->main.partial_path;
    RIBO_TRY(h5_string_attr(file, "ribo_version", RIBO_VERSION_STRING, path, err));
    RIBO_TRY(h5_string_attr(file, "layout", o->per_residue ? "per-residue" : "pooled", path, err));
    hsize_t dims[2] = {(hsize_t)o->total_rows, (hsize_t)o->dim};
    hid_t d = h5_dataset(file, o->per_residue ? "tokens" : "embeddings", H5T_IEEE_F32LE, 2, dims, true, path, err);
    if (d < 0) return err ? err->status : RIBO_ERR_IO;
    *raw_offset = H5Dget_offset(d);
    ribo_status s = RIBO_OK;
    if (*raw_offset == HADDR_UNDEF && o->total_rows > 0)
        s = h5_error(err, path, "no storage allocated for the embeddings dataset");
    if (H5Dclose(d) < 0 && s == RIBO_OK) s = h5_error(err, path, "cannot close the embeddings dataset");
    if (s != RIBO_OK) return s;
    hid_t st = H5Tcopy(H5T_C_S1);
    if (st < 0 || H5Tset_size(st, H5T_VARIABLE) < 0 || H5Tset_cset(st, H5T_CSET_UTF8) < 0) {
        s = h5_error(err, path, "cannot create the string type");
        if (st >= 0) H5Tclose(st);
        return s;
    }
    s = h5_write_whole(file, "ids", st, st, (hsize_t)o->n_rows, ids, path, err);
    H5Tclose(st);
    if (s == RIBO_OK && o->per_residue)
        s = h5_write_whole(file, "offsets", H5T_STD_I64LE, H5T_NATIVE_INT64, (hsize_t)o->n_rows + 1, o->row_start,
                           path, err);
    return s;
}

/* Reserves the blocks of the embeddings' storage through the library's own descriptor before HDF5
 * writes its metadata, so a full disk shows up here (or in the flush, which is then undone by
 * h5_release_space) and never while rows are written. */
static ribo_status h5_reserve(hid_t file, off_t off, off_t len, const char *path, ribo_error *err) {
    void *handle = NULL;
    if (H5Fget_vfd_handle(file, H5P_DEFAULT, &handle) < 0 || !handle) {
        H5Eclear2(H5E_DEFAULT);
        return RIBO_OK;
    }
    return reserve(*(int *)handle, off, len, path, err);
}

/* Truncates a (to be discarded) HDF5 file to zero bytes through the library's own descriptor. */
static void h5_release_space(hid_t file) {
    void *handle = NULL;
    if (H5Fget_vfd_handle(file, H5P_DEFAULT, &handle) >= 0 && handle) {
        if (ftruncate(*(int *)handle, 0) != 0) {
            /* nothing more to do: closing reports its own error */
        }
    }
}

/* Fails early when the directory's filesystem lacks room for `need` bytes. */
static ribo_status check_free_space(const ribo_output *o, uint64_t need, ribo_error *err) {
    struct statvfs vfs;
    if (statvfs(o->dir, &vfs) != 0) return RIBO_OK; /* cannot tell: the writes will report it */
    uint64_t avail = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
    if (avail < need)
        return ribo_error_set(err, RIBO_ERR_IO, "%s: not enough disk space: needs about %llu bytes, %llu available: %s",
                              o->main.final_path, (unsigned long long)need, (unsigned long long)avail,
                              strerror(ENOSPC));
    return RIBO_OK;
}

/* Creates the .h5 partial with everything but the embedding values and closes it in HDF5; the
 * rows are then written with pwrite straight into the dataset's contiguous, pre-allocated storage
 * (float32 little-endian, exactly the file layout). No HDF5 state stays open while rows arrive, so
 * write errors cannot leave the library holding a half-closed file. */
static ribo_status open_h5(ribo_output *o, const char *const *ids, ribo_error *err) {
    const char *path = o->main.partial_path;
    /* Data + ids (heap objects + descriptors) + offsets: HDF5 must not run out of space mid-way. */
    uint64_t estimate = (uint64_t)data_bytes(o) + 8 * ((uint64_t)o->n_rows + 1) + RIBO_OUTPUT_SLACK_BYTES;
    for (size_t i = 0; i < o->n_rows; ++i) estimate += strlen(ids[i]) + 48;
    RIBO_TRY(check_free_space(o, estimate, err));
    h5_quiet q;
    h5_quiet_begin(&q);
    ribo_status s = RIBO_OK;
    haddr_t raw = HADDR_UNDEF;
    o->main.created = true; /* a failed create may still leave the file behind */
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) {
        s = h5_error(err, path, "cannot create HDF5 file");
    } else {
        s = h5_fill(o, file, ids, &raw, err);
        if (s == RIBO_OK && raw != HADDR_UNDEF) s = h5_reserve(file, (off_t)raw, data_bytes(o), path, err);
        if (s == RIBO_OK && H5Fflush(file, H5F_SCOPE_LOCAL) < 0) s = h5_error(err, path, "cannot write HDF5 file");
        /* The file is discarded: free its blocks so that closing it (which flushes) succeeds even on
         * a nearly full disk. HDF5 1.10 crashes at exit when a file has failed to close. */
        if (s != RIBO_OK) h5_release_space(file);
        if (H5Fclose(file) < 0 && s == RIBO_OK) s = h5_error(err, path, "cannot close the HDF5 file");
    }
    h5_quiet_end(&q);
    if (s != RIBO_OK) return s;
    o->data_offset = raw == HADDR_UNDEF ? 0 : (off_t)raw;
    o->fd = open(path, O_WRONLY | O_CLOEXEC);
    if (o->fd < 0) return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot reopen: %s", path, strerror(errno));
    struct stat sb;
    off_t need = o->data_offset + data_bytes(o);
    if (fstat(o->fd, &sb) != 0) return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    if (sb.st_size < need && ftruncate(o->fd, need) != 0)
        return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot size to %lld bytes: %s", path, (long long)need,
                              strerror(errno));
    return reserve(o->fd, o->data_offset, data_bytes(o), path, err);
}

/* Checks the spec: extension, ids, row counts, sizes; fills kind and per-residue offsets. */
static ribo_status check_spec(const ribo_output_spec *spec, ribo_output *o, ribo_error *err) {
    const char *path = spec->path;
    if (ends_with(path, ".npy")) {
        o->kind = OUT_NPY;
    } else if (ends_with(path, ".h5")) {
        o->kind = OUT_H5;
    } else {
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT,
                              "output '%s': unsupported extension (use .npy or .h5)", path);
    }
    if (spec->dim <= 0)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "output '%s': embedding width %d must be positive", path,
                              spec->dim);
    if (spec->n_rows > 0 && !spec->ids)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "output '%s': no ids given", path);
    for (size_t i = 0; i < spec->n_rows; ++i) {
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
        if (s == RIBO_OK) s = open_npy(o, err);
        if (s == RIBO_OK) s = write_ids_txt(o, spec->ids, err);
        if (s == RIBO_OK && o->per_residue) s = write_offsets_npy(o, err);
    } else if (s == RIBO_OK) {
        if (!file_names(&o->main, path, len, ""))
            s = ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "output '%s': out of memory", path);
        if (s == RIBO_OK) s = open_h5(o, spec->ids, err);
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
        RIBO_TRY(pwrite_all(o->fd, data, (size_t)(count * o->dim * sizeof(float)), off, o->main.partial_path, err));
    }
    o->written[row / 8] |= (unsigned char)(1u << (row % 8));
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
