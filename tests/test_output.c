/* Output writer: .npy and .h5, pooled and per-residue, rows written out of order, read back
 * (npy with ribo_npy_read, h5 with the HDF5 C API); commit/close leave exactly the right files.
 * Built without HDF5 (no RIBO_WITH_HDF5), the .h5 cases are left out and .h5 must be refused. */
#include <dirent.h>
#ifdef RIBO_WITH_HDF5
#include <hdf5.h>
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/io/npy.h"
#include "engine/io/output.h"
#include "test_util.h"

/* Output formats the loops below cover: .npy, and .h5 when built with HDF5. */
#ifdef RIBO_WITH_HDF5
#define N_FORMATS 2
#else
#define N_FORMATS 1
#endif

/* Makes a fresh subdirectory of the tmpdir for one case; returns its path (rotating buffer). */
static const char *case_dir(const char *name) {
    const char *d = ribo_test_tmp(name);
    CHECK(mkdir(d, 0755) == 0, "mkdir %s", d);
    return d;
}

/* dir/name in a rotating static buffer. */
static const char *in_dir(const char *dir, const char *name) {
    static char bufs[8][1024];
    static int slot;
    char *b = bufs[slot++ % 8];
    snprintf(b, 1024, "%s/%s", dir, name);
    return b;
}

/* True when path exists. */
static bool exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Number of entries in dir (excluding . and ..); *partials counts names containing ".partial-". */
static int count_entries(const char *dir, int *partials) {
    DIR *d = opendir(dir);
    int n = 0;
    if (partials) *partials = 0;
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        ++n;
        if (partials && strstr(e->d_name, ".partial-")) ++*partials;
    }
    closedir(d);
    return n;
}

/* Deterministic test value of element (row, col). */
static float value(size_t row, size_t col) {
    return (float)row * 10.0f + (float)col * 0.25f - 3.0f;
}

/* Checks a .npy file holds float32 [rows, dim] with value(r, c). */
static void check_npy_rows(const char *path, size_t rows, size_t dim) {
    ribo_npy_array a;
    ribo_error err;
    ribo_error_clear(&err);
    ribo_status s = ribo_npy_read(path, &a, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    if (s != RIBO_OK) return;
    CHECK(strcmp(a.descr, "<f4") == 0, "descr %s", a.descr);
    CHECK(a.ndim == 2 && a.shape[0] == (int64_t)rows && a.shape[1] == (int64_t)dim, "shape %d [%lld, %lld]", a.ndim,
          (long long)a.shape[0], (long long)a.shape[1]);
    if (a.n_elements == rows * dim)
        for (size_t r = 0; r < rows; ++r)
            for (size_t c = 0; c < dim; ++c)
                CHECK(ribo_npy_get(&a, r * dim + c) == value(r, c), "[%zu,%zu] = %g", r, c, ribo_npy_get(&a, r * dim + c));
    ribo_npy_free(&a);
    /* header padded to a multiple of 64, ending in '\n' */
    size_t n = 0;
    char *raw = ribo_test_read_file(path, &n);
    if (raw && n >= 10) {
        size_t hl = (size_t)(unsigned char)raw[8] | (size_t)(unsigned char)raw[9] << 8;
        CHECK((10 + hl) % 64 == 0, "header length %zu", hl);
        CHECK(10 + hl <= n && raw[10 + hl - 1] == '\n', "header does not end in newline");
        CHECK(raw[6] == 1 && raw[7] == 0, "version %d.%d", raw[6], raw[7]);
    }
    free(raw);
}

static const char *const ids5[5] = {"s1", "seq_2", "sp|P12345|X", "s\xc3\xa9q", "last"};

/* Pooled .npy: rows out of order, final file absent until commit, ids file content. */
static void test_npy_pooled(void) {
    const char *dir = case_dir("npy_pooled");
    const char *path = in_dir(dir, "emb.npy");
    /* an older output of the same name is replaced */
    CHECK(ribo_test_write_file(path, "old", 3), "write old");
    ribo_output_spec spec = {.path = path, .n_rows = 5, .dim = 3, .ids = ids5, .row_tokens = NULL};
    ribo_output *o = NULL;
    ribo_error err;
    ribo_error_clear(&err);
    ribo_status s = ribo_output_open(&spec, &o, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    if (s != RIBO_OK) return;
    char partial[1100];
    snprintf(partial, sizeof partial, "%s.partial-%ld", path, (long)getpid());
    CHECK(exists(partial), "no partial file %s", partial);
    const size_t order[5] = {3, 0, 4, 1, 2};
    for (int k = 0; k < 5; ++k) {
        float row[3];
        for (size_t c = 0; c < 3; ++c) row[c] = value(order[k], c);
        CHECK_STATUS(ribo_output_write_row(o, order[k], row, &err), RIBO_OK, &err);
    }
    float row[3] = {0};
    CHECK_STATUS(ribo_output_write_row(o, 5, row, &err), RIBO_ERR_INTERNAL, &err);
    size_t n = 0;
    char *old = ribo_test_read_file(path, &n);
    CHECK(old && n == 3, "final file changed before commit");
    free(old);
    CHECK(!exists(in_dir(dir, "emb.ids.txt")), "ids file before commit");
    CHECK_STATUS(ribo_output_commit(o, &err), RIBO_OK, &err);
    ribo_output_close(o);
    check_npy_rows(path, 5, 3);
    char *ids = ribo_test_read_file(in_dir(dir, "emb.ids.txt"), &n);
    CHECK(ids && strcmp(ids, "s1\nseq_2\nsp|P12345|X\ns\xc3\xa9q\nlast\n") == 0, "ids file '%s'", ids ? ids : "");
    free(ids);
    int partials = 0;
    CHECK(count_entries(dir, &partials) == 2 && partials == 0, "unexpected files in %s", dir);
}

/* Per-residue .npy with X.offsets.npy, including a row with no tokens. */
static void test_npy_per_residue(void) {
    const char *dir = case_dir("npy_residue");
    const char *path = in_dir(dir, "tok.npy");
    const char *const ids[3] = {"a", "b", "c"};
    const int64_t tokens[3] = {2, 0, 3};
    ribo_output_spec spec = {.path = path, .n_rows = 3, .dim = 2, .ids = ids, .row_tokens = tokens};
    ribo_output *o = NULL;
    ribo_error err;
    ribo_error_clear(&err);
    ribo_status s = ribo_output_open(&spec, &o, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    if (s != RIBO_OK) return;
    const int64_t start[3] = {0, 2, 2};
    const size_t order[3] = {2, 1, 0};
    for (int k = 0; k < 3; ++k) {
        size_t r = order[k];
        float buf[6];
        for (int64_t t = 0; t < tokens[r]; ++t)
            for (size_t c = 0; c < 2; ++c) buf[t * 2 + (int64_t)c] = value((size_t)(start[r] + t), c);
        CHECK_STATUS(ribo_output_write_row(o, r, buf, &err), RIBO_OK, &err);
    }
    CHECK(!exists(path), "final before commit");
    CHECK_STATUS(ribo_output_commit(o, &err), RIBO_OK, &err);
    ribo_output_close(o);
    check_npy_rows(path, 5, 2);
    ribo_npy_array off;
    s = ribo_npy_read(in_dir(dir, "tok.offsets.npy"), &off, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    if (s == RIBO_OK) {
        CHECK(strcmp(off.descr, "<i8") == 0 && off.ndim == 1 && off.shape[0] == 4, "offsets %s %d", off.descr, off.ndim);
        const double want[4] = {0, 2, 2, 5};
        for (size_t i = 0; i < 4 && i < off.n_elements; ++i)
            CHECK(ribo_npy_get(&off, i) == want[i], "offsets[%zu] = %g", i, ribo_npy_get(&off, i));
        ribo_npy_free(&off);
    }
    size_t n = 0;
    char *txt = ribo_test_read_file(in_dir(dir, "tok.ids.txt"), &n);
    CHECK(txt && strcmp(txt, "a\nb\nc\n") == 0, "ids '%s'", txt ? txt : "");
    free(txt);
    int partials = 0;
    CHECK(count_entries(dir, &partials) == 3 && partials == 0, "unexpected files in %s", dir);
}

#ifdef RIBO_WITH_HDF5
/* Reads dataset name of an open HDF5 file as float/int64 into buf; checks its dims. */
static bool h5_read(hid_t f, const char *name, hid_t mtype, int rank, const hsize_t *want_dims, void *buf) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    CHECK(d >= 0, "no dataset %s", name);
    if (d < 0) return false;
    hid_t sp = H5Dget_space(d);
    hsize_t dims[2] = {0, 0};
    int r = H5Sget_simple_extent_dims(sp, dims, NULL);
    bool ok = r == rank && dims[0] == want_dims[0] && (rank < 2 || dims[1] == want_dims[1]);
    CHECK(ok, "%s: rank %d dims [%llu, %llu]", name, r, (unsigned long long)dims[0], (unsigned long long)dims[1]);
    if (ok && dims[0] > 0) ok = H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0;
    CHECK(ok, "%s: read failed", name);
    H5Sclose(sp);
    H5Dclose(d);
    return ok;
}

/* Checks the "ids" dataset holds the given variable-length UTF-8 strings. */
static void h5_check_ids(hid_t f, const char *const *ids, size_t n) {
    hid_t d = H5Dopen2(f, "ids", H5P_DEFAULT);
    CHECK(d >= 0, "no ids dataset");
    if (d < 0) return;
    hid_t ft = H5Dget_type(d);
    CHECK(H5Tis_variable_str(ft) > 0, "ids are not variable-length strings");
    CHECK(H5Tget_cset(ft) == H5T_CSET_UTF8, "ids are not UTF-8");
    hid_t sp = H5Dget_space(d);
    hsize_t dims[1] = {0};
    CHECK(H5Sget_simple_extent_dims(sp, dims, NULL) == 1 && dims[0] == n, "ids dims %llu", (unsigned long long)dims[0]);
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5T_CSET_UTF8);
    char **got = calloc(n ? n : 1, sizeof *got);
    if (got && dims[0] == n && n > 0 && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, got) >= 0) {
        for (size_t i = 0; i < n; ++i)
            CHECK(got[i] && strcmp(got[i], ids[i]) == 0, "ids[%zu] = %s", i, got[i] ? got[i] : "NULL");
#if H5_VERSION_GE(1, 12, 0)
        H5Treclaim(mt, sp, H5P_DEFAULT, got);
#else
        H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, got);
#endif
    } else if (n > 0) {
        CHECK(false, "cannot read ids");
    }
    free(got);
    H5Tclose(mt);
    H5Tclose(ft);
    H5Sclose(sp);
    H5Dclose(d);
}

/* Pooled .h5: embeddings [N, D] and ids. */
static void test_h5_pooled(void) {
    const char *dir = case_dir("h5_pooled");
    const char *path = in_dir(dir, "emb.h5");
    ribo_output_spec spec = {.path = path, .n_rows = 5, .dim = 4, .ids = ids5, .row_tokens = NULL};
    ribo_output *o = NULL;
    ribo_error err;
    ribo_error_clear(&err);
    ribo_status s = ribo_output_open(&spec, &o, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    if (s != RIBO_OK) return;
    const size_t order[5] = {4, 2, 0, 3, 1};
    for (int k = 0; k < 5; ++k) {
        float row[4];
        for (size_t c = 0; c < 4; ++c) row[c] = value(order[k], c);
        CHECK_STATUS(ribo_output_write_row(o, order[k], row, &err), RIBO_OK, &err);
    }
    CHECK(!exists(path), "final before commit");
    CHECK_STATUS(ribo_output_commit(o, &err), RIBO_OK, &err);
    ribo_output_close(o);
    int partials = 0;
    CHECK(count_entries(dir, &partials) == 1 && partials == 0, "unexpected files in %s", dir);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0, "cannot open %s", path);
    if (f < 0) return;
    float buf[20];
    hsize_t dims[2] = {5, 4};
    if (h5_read(f, "embeddings", H5T_NATIVE_FLOAT, 2, dims, buf))
        for (size_t r = 0; r < 5; ++r)
            for (size_t c = 0; c < 4; ++c) CHECK(buf[r * 4 + c] == value(r, c), "[%zu,%zu] = %g", r, c, buf[r * 4 + c]);
    h5_check_ids(f, ids5, 5);
    CHECK(H5Lexists(f, "tokens", H5P_DEFAULT) == 0, "pooled file has tokens");
    H5Fclose(f);
}

/* Per-residue .h5: tokens [T, D], offsets [N+1], ids. */
static void test_h5_per_residue(void) {
    const char *dir = case_dir("h5_residue");
    const char *path = in_dir(dir, "tok.h5");
    const char *const ids[4] = {"p1", "p2", "p3", "p4"};
    const int64_t tokens[4] = {3, 1, 0, 2};
    const int64_t start[5] = {0, 3, 4, 4, 6};
    ribo_output_spec spec = {.path = path, .n_rows = 4, .dim = 3, .ids = ids, .row_tokens = tokens};
    ribo_output *o = NULL;
    ribo_error err;
    ribo_error_clear(&err);
    ribo_status s = ribo_output_open(&spec, &o, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    if (s != RIBO_OK) return;
    const size_t order[4] = {3, 1, 2, 0};
    for (int k = 0; k < 4; ++k) {
        size_t r = order[k];
        float buf[9];
        for (int64_t t = 0; t < tokens[r]; ++t)
            for (size_t c = 0; c < 3; ++c) buf[t * 3 + (int64_t)c] = value((size_t)(start[r] + t), c);
        CHECK_STATUS(ribo_output_write_row(o, r, buf, &err), RIBO_OK, &err);
    }
    CHECK_STATUS(ribo_output_commit(o, &err), RIBO_OK, &err);
    ribo_output_close(o);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0, "cannot open %s", path);
    if (f < 0) return;
    float buf[18];
    hsize_t dims[2] = {6, 3};
    if (h5_read(f, "tokens", H5T_NATIVE_FLOAT, 2, dims, buf))
        for (size_t r = 0; r < 6; ++r)
            for (size_t c = 0; c < 3; ++c) CHECK(buf[r * 3 + c] == value(r, c), "[%zu,%zu] = %g", r, c, buf[r * 3 + c]);
    int64_t off[5];
    hsize_t odims[1] = {5};
    if (h5_read(f, "offsets", H5T_NATIVE_INT64, 1, odims, off))
        for (int i = 0; i < 5; ++i) CHECK(off[i] == start[i], "offsets[%d] = %lld", i, (long long)off[i]);
    h5_check_ids(f, ids, 4);
    CHECK(H5Lexists(f, "embeddings", H5P_DEFAULT) == 0, "per-residue file has embeddings");
    H5Fclose(f);
}
#else
/* Without HDF5 an .h5 path is refused at open, with one line naming it, before anything is created. */
static void test_h5_unsupported(void) {
    const char *dir = case_dir("h5_unsupported");
    const char *path = in_dir(dir, "emb.h5");
    ribo_output_spec spec = {.path = path, .n_rows = 5, .dim = 4, .ids = ids5, .row_tokens = NULL};
    ribo_output *o = (ribo_output *)1;
    ribo_error err;
    ribo_error_clear(&err);
    CHECK_STATUS(ribo_output_open(&spec, &o, &err), RIBO_ERR_UNSUPPORTED, &err);
    CHECK(o == NULL, "handle not cleared");
    CHECK_MESSAGE(&err, "emb.h5");
    CHECK_MESSAGE(&err, "this ribo was built without HDF5 support; use .npy or rebuild with libhdf5-dev");
    CHECK(strchr(err.message, '\n') == NULL, "message is not one line: %s", err.message);
    CHECK(count_entries(dir, NULL) == 0, "files left in %s", dir);
    /* also before the directory is looked at, and through the path check alone */
    spec.path = ribo_test_tmp("no_such_dir/out.h5");
    CHECK_STATUS(ribo_output_open(&spec, &o, &err), RIBO_ERR_UNSUPPORTED, &err);
    CHECK_MESSAGE(&err, "without HDF5 support");
    CHECK_STATUS(ribo_output_check_path("x.h5", &err), RIBO_ERR_UNSUPPORTED, &err);
    CHECK_MESSAGE(&err, "without HDF5 support");
    CHECK_STATUS(ribo_output_check_path("x.npy", &err), RIBO_OK, &err);
}
#endif

/* Zero rows: valid empty arrays. */
static void test_empty(void) {
    const char *dir = case_dir("empty");
    const char *paths[2] = {in_dir(dir, "none.npy"), in_dir(dir, "none.h5")};
    for (int i = 0; i < N_FORMATS; ++i) {
        ribo_output_spec spec = {.path = paths[i], .n_rows = 0, .dim = 8, .ids = NULL, .row_tokens = NULL};
        ribo_output *o = NULL;
        ribo_error err;
        ribo_error_clear(&err);
        ribo_status s = ribo_output_open(&spec, &o, &err);
        CHECK_STATUS(s, RIBO_OK, &err);
        if (s != RIBO_OK) continue;
        CHECK_STATUS(ribo_output_commit(o, &err), RIBO_OK, &err);
        ribo_output_close(o);
    }
    check_npy_rows(paths[0], 0, 8);
#ifdef RIBO_WITH_HDF5
    hid_t f = H5Fopen(paths[1], H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0, "cannot open %s", paths[1]);
    if (f >= 0) {
        hsize_t dims[2] = {0, 8};
        h5_read(f, "embeddings", H5T_NATIVE_FLOAT, 2, dims, NULL);
        h5_check_ids(f, NULL, 0);
        H5Fclose(f);
    }
#endif
}

/* A missing row makes commit fail (naming the row) and no final file appears; close cleans up. */
static void test_missing_row(void) {
    const char *exts[2] = {"npy", "h5"};
    for (int i = 0; i < N_FORMATS; ++i) {
        char name[32];
        snprintf(name, sizeof name, "missing_%s", exts[i]);
        const char *dir = case_dir(name);
        snprintf(name, sizeof name, "out.%s", exts[i]);
        const char *path = in_dir(dir, name);
        const char *const ids[3] = {"a", "b", "c"};
        ribo_output_spec spec = {.path = path, .n_rows = 3, .dim = 2, .ids = ids, .row_tokens = NULL};
        ribo_output *o = NULL;
        ribo_error err;
        ribo_error_clear(&err);
        ribo_status s = ribo_output_open(&spec, &o, &err);
        CHECK_STATUS(s, RIBO_OK, &err);
        if (s != RIBO_OK) continue;
        float row[2] = {1, 2};
        CHECK_STATUS(ribo_output_write_row(o, 0, row, &err), RIBO_OK, &err);
        CHECK_STATUS(ribo_output_write_row(o, 2, row, &err), RIBO_OK, &err);
        s = ribo_output_commit(o, &err);
        CHECK_STATUS(s, RIBO_ERR_INTERNAL, &err);
        CHECK_MESSAGE(&err, "row 1");
        CHECK_MESSAGE(&err, name);
        CHECK(!exists(path), "final file after failed commit");
        ribo_output_close(o);
        CHECK(count_entries(dir, NULL) == 0, "files left in %s", dir);
    }
}

/* Closing without commit removes every temporary file and creates nothing. */
static void test_close_without_commit(void) {
    const char *dir = case_dir("abandon");
    const char *paths[2] = {in_dir(dir, "x.npy"), in_dir(dir, "y.h5")};
    const char *const ids[2] = {"a", "b"};
    const int64_t tokens[2] = {1, 2};
    for (int i = 0; i < N_FORMATS; ++i) {
        ribo_output_spec spec = {.path = paths[i], .n_rows = 2, .dim = 2, .ids = ids, .row_tokens = tokens};
        ribo_output *o = NULL;
        ribo_error err;
        ribo_error_clear(&err);
        ribo_status s = ribo_output_open(&spec, &o, &err);
        CHECK_STATUS(s, RIBO_OK, &err);
        if (s != RIBO_OK) continue;
        float data[4] = {1, 2, 3, 4};
        CHECK_STATUS(ribo_output_write_row(o, 0, data, &err), RIBO_OK, &err);
        CHECK_STATUS(ribo_output_write_row(o, 1, data, &err), RIBO_OK, &err);
        CHECK(count_entries(dir, NULL) > 0, "no temporary files while open");
        ribo_output_close(o);
        CHECK(count_entries(dir, NULL) == 0, "files left in %s after close", dir);
    }
    ribo_output_close(NULL);
}

/* Bad paths and specs. */
static void test_bad_specs(void) {
    const char *const ids[1] = {"a"};
    ribo_output *o = (ribo_output *)1;
    ribo_error err;
    ribo_error_clear(&err);
    ribo_output_spec spec = {.path = ribo_test_tmp("no_such_dir/out.npy"), .n_rows = 1, .dim = 2, .ids = ids};
    CHECK_STATUS(ribo_output_open(&spec, &o, &err), RIBO_ERR_IO, &err);
    CHECK_MESSAGE(&err, "no_such_dir");
    CHECK(o == NULL, "handle not cleared");
#ifdef RIBO_WITH_HDF5
    spec.path = ribo_test_tmp("no_such_dir/out.h5");
    CHECK_STATUS(ribo_output_open(&spec, &o, &err), RIBO_ERR_IO, &err);
    CHECK_MESSAGE(&err, "no_such_dir");
#endif
    spec.path = ribo_test_tmp("out.csv");
    CHECK_STATUS(ribo_output_open(&spec, &o, &err), RIBO_ERR_INVALID_ARGUMENT, &err);
    CHECK_MESSAGE(&err, "out.csv");
    CHECK_MESSAGE(&err, ".npy");
    spec.path = ribo_test_tmp("out.npy");
    spec.dim = 0;
    CHECK_STATUS(ribo_output_open(&spec, &o, &err), RIBO_ERR_INVALID_ARGUMENT, &err);
    spec.dim = 2;
    const char *const bad_ids[1] = {"a\nb"};
    spec.ids = bad_ids;
    CHECK_STATUS(ribo_output_open(&spec, &o, &err), RIBO_ERR_INVALID_ARGUMENT, &err);
    const int64_t neg[1] = {-1};
    spec.ids = ids;
    spec.row_tokens = neg;
    CHECK_STATUS(ribo_output_open(&spec, &o, &err), RIBO_ERR_INVALID_ARGUMENT, &err);
    /* the final path is an existing directory */
    const char *d = case_dir("isdir.npy");
    spec.path = d;
    spec.row_tokens = NULL;
    CHECK_STATUS(ribo_output_open(&spec, &o, &err), RIBO_ERR_IO, &err);
    CHECK_MESSAGE(&err, "isdir.npy");
    int partials = 0;
    count_entries(ribo_test_tmpdir(), &partials);
    CHECK(partials == 0, "partial files left after failed opens");
}

/* A crafted .npy header whose shape asks for 4 TiB of data in a file holding 16 bytes: refused from
 * the file size, before any allocation (it used to malloc the 4 TiB first). */
static void test_npy_huge_shape(void) {
    char file[128];
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }";
    size_t hl = 118; /* 10 + 118 = 128: the dict padded with spaces, ending in '\n' */
    memcpy(file, "\x93NUMPY\x01\x00", 8);
    file[8] = (char)hl;
    file[9] = 0;
    memset(file + 10, ' ', hl);
    memcpy(file + 10, dict, strlen(dict));
    file[10 + hl - 1] = '\n';
    char data[16] = {0};
    const char *path = ribo_test_tmp("huge_shape.npy");
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(file, 1, sizeof file, f) == sizeof file && fwrite(data, 1, sizeof data, f) == sizeof data,
          "write %s", path);
    if (f) fclose(f);
    ribo_npy_array a;
    ribo_error err;
    ribo_error_clear(&err);
    CHECK_STATUS(ribo_npy_read(path, &a, &err), RIBO_ERR_INPUT, &err);
    CHECK_MESSAGE(&err, "huge_shape.npy: truncated .npy data: the header's shape needs 4398046511104 bytes, the file "
                        "holds 16 after the header");
    CHECK(a.data == NULL, "data left allocated after the refusal");
}

int main(void) {
    test_npy_pooled();
    test_npy_per_residue();
#ifdef RIBO_WITH_HDF5
    test_h5_pooled();
    test_h5_per_residue();
#else
    test_h5_unsupported();
#endif
    test_empty();
    test_missing_row();
    test_close_without_commit();
    test_bad_specs();
    test_npy_huge_shape();
    return ribo_test_finish("test_output");
}
