/* HDF5 output (see output_h5.h): the file is created with everything but the embedding values and
 * closed through the HDF5 library; output.c then pwrite's the rows straight into the main dataset's
 * contiguous, pre-allocated storage. Built when ribo has HDF5; output_h5_none.c stands in otherwise. */
#include "engine/io/output_h5.h"
#include "engine/base/fileutil.h"

#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* Room for HDF5 metadata beyond the ids/offsets estimate (overridable to exercise full-disk paths). */
#ifndef RIBO_OUTPUT_SLACK_BYTES
#define RIBO_OUTPUT_SLACK_BYTES 16384u
#endif

bool ribo_output_h5_available(void) { return true; }

/* Byte size of the main dataset. */
static off_t data_bytes(const ribo_output_h5_spec *o) {
    return (off_t)(o->total_rows * o->dim * sizeof(float));
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
    /* no modification times in object headers: the same rows give the same file bytes (--resume) */
    if (dcpl >= 0 && H5Pset_obj_track_times(dcpl, false) >= 0 &&
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

/* Writes ids[0, k) into rows [start, start+k) of the 1-D string dataset d. */
static ribo_status h5_write_ids_chunk(hid_t d, hid_t st, hsize_t start, hsize_t k, const char **ids, const char *path,
                                      ribo_error *err) {
    hid_t fs = H5Dget_space(d);
    hid_t ms = fs >= 0 ? H5Screate_simple(1, &k, NULL) : H5I_INVALID_HID;
    bool ok = ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &k, NULL) >= 0 &&
              H5Dwrite(d, st, ms, fs, H5P_DEFAULT, ids) >= 0;
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    return ok ? RIBO_OK : h5_error(err, path, "cannot write dataset 'ids'");
}

/* Writes the "ids" dataset a chunk at a time from the spec's id source (never all ids in memory). */
static ribo_status h5_write_ids(const ribo_output_h5_spec *o, hid_t file, hid_t st, const char *path, ribo_error *err) {
    hsize_t n = (hsize_t)o->n_rows;
    hid_t d = h5_dataset(file, "ids", st, 1, &n, false, path, err);
    if (d < 0) return err ? err->status : RIBO_ERR_IO;
    enum { CHUNK = 4096 };
    const char **ptrs = malloc(CHUNK * sizeof *ptrs);
    size_t cap = 1 << 16, used = 0;
    char *buf = malloc(cap);
    size_t *at = malloc(CHUNK * sizeof *at);
    ribo_status s = ptrs && buf && at ? RIBO_OK : ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    hsize_t start = 0, k = 0;
    for (size_t i = 0; s == RIBO_OK && i <= o->n_rows; ++i) {
        if (k == CHUNK || (i == o->n_rows && k > 0)) {
            for (hsize_t j = 0; j < k; ++j) ptrs[j] = buf + at[j];
            s = h5_write_ids_chunk(d, st, start, k, ptrs, path, err);
            start += k;
            k = 0;
            used = 0;
        }
        if (s != RIBO_OK || i == o->n_rows) break;
        const char *id = o->id_at(o->id_user, i, err);
        if (!id) {
            s = err ? err->status : RIBO_ERR_INTERNAL;
            break;
        }
        size_t len = strlen(id) + 1;
        if (used + len > cap) {
            while (used + len > cap) cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                s = ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
                break;
            }
            buf = nb;
        }
        memcpy(buf + used, id, len);
        at[k++] = used;
        used += len;
    }
    free(ptrs);
    free(buf);
    free(at);
    if (H5Dclose(d) < 0 && s == RIBO_OK) s = h5_error(err, path, "cannot write dataset 'ids'");
    return s;
}

/* Fills an open HDF5 file: attributes, the main dataset (storage allocated, offset returned in
 * *raw_offset, HADDR_UNDEF when empty), ids and per-residue offsets. */
static ribo_status h5_fill(const ribo_output_h5_spec *o, hid_t file, haddr_t *raw_offset, ribo_error *err) {
    const char *path = o->partial_path;
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
    s = h5_write_ids(o, file, st, path, err);
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
    return ribo_output_reserve(*(int *)handle, off, len, path, err);
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
static ribo_status check_free_space(const ribo_output_h5_spec *o, uint64_t need, ribo_error *err) {
    struct statvfs vfs;
    if (statvfs(o->dir, &vfs) != 0) return RIBO_OK; /* cannot tell: the writes will report it */
    uint64_t avail = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
    if (avail < need)
        return ribo_error_set(err, RIBO_ERR_IO, "%s: not enough disk space: needs about %llu bytes, %llu available: %s",
                              o->final_path, (unsigned long long)need, (unsigned long long)avail,
                              strerror(ENOSPC));
    return RIBO_OK;
}

/* Creates the .h5 partial with everything but the embedding values and closes it in HDF5 (see
 * output_h5.h). No HDF5 state stays open while rows arrive, so write errors cannot leave the library
 * holding a half-closed file. */
ribo_status ribo_output_h5_create(const ribo_output_h5_spec *o, bool *created, off_t *data_offset,
                                  ribo_error *err) {
    const char *path = o->partial_path;
    /* Data + ids (heap objects + descriptors) + offsets: HDF5 must not run out of space mid-way. */
    uint64_t estimate = (uint64_t)data_bytes(o) + 8 * ((uint64_t)o->n_rows + 1) + RIBO_OUTPUT_SLACK_BYTES;
    estimate += o->ids_bytes + 47 * (uint64_t)o->n_rows;
    RIBO_TRY(check_free_space(o, estimate, err));
    h5_quiet q;
    h5_quiet_begin(&q);
    ribo_status s = RIBO_OK;
    haddr_t raw = HADDR_UNDEF;
    *created = true; /* a failed create may still leave the file behind */
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (fcpl >= 0 && H5Pset_obj_track_times(fcpl, false) < 0) { /* the root group: no timestamps either */
        H5Pclose(fcpl);
        fcpl = H5I_INVALID_HID;
    }
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl >= 0 ? fcpl : H5P_DEFAULT, H5P_DEFAULT);
    if (fcpl >= 0) H5Pclose(fcpl);
    if (file < 0) {
        s = h5_error(err, path, "cannot create HDF5 file");
    } else {
        s = h5_fill(o, file, &raw, err);
        if (s == RIBO_OK && raw != HADDR_UNDEF) s = h5_reserve(file, (off_t)raw, data_bytes(o), path, err);
        if (s == RIBO_OK && H5Fflush(file, H5F_SCOPE_LOCAL) < 0) s = h5_error(err, path, "cannot write HDF5 file");
        /* The file is discarded: free its blocks so that closing it (which flushes) succeeds even on
         * a nearly full disk. HDF5 1.10 crashes at exit when a file has failed to close. */
        if (s != RIBO_OK) h5_release_space(file);
        if (H5Fclose(file) < 0 && s == RIBO_OK) s = h5_error(err, path, "cannot close the HDF5 file");
    }
    h5_quiet_end(&q);
    if (s != RIBO_OK) return s;
    *data_offset = raw == HADDR_UNDEF ? 0 : (off_t)raw;
    return RIBO_OK;
}

