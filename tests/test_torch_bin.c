/* PyTorch checkpoint reader (engine/io/torch_bin.h): every fixture of tests/fixtures/torch_bin (real
 * torch.save output, zip and legacy) read back with the exact bytes make_torch_bin.py dumped; the
 * ZIP64 records on a synthetic archive (in memory, and a sparse file over 4 GiB); one-line refusals
 * naming the file (and tensor) for truncated, corrupt, compressed, malicious and inconsistent files;
 * model directories (preference, shards, the error when no weights exist); and ribo_embed on the
 * .bin copy of esm2_a (torch.save) and on an unaligned .bin copy of dnabert2_b (written here) giving
 * the same bytes as on their safetensors. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "embed_check.h"
#include "engine/graph/model.h"
#include "engine/io/torch_bin.h"
#include "engine/io/torch_zip.h"
#include "engine/store/fingerprint.h"
#include "test_util.h"

/* ---------------------------------------------------------------- helpers */

static const char *fixture(const char *name) {
    static char bufs[4][1024];
    static int slot;
    char *b = bufs[slot++ % 4];
    snprintf(b, 1024, "%s", ribo_test_fixture("torch_bin"));
    snprintf(b + strlen(b), 1024 - strlen(b), "/%s", name);
    return b;
}

static unsigned char *read_all(const char *path, size_t *n) {
    return (unsigned char *)ribo_test_read_file(path, n);
}

/* Expects opening the buffer (named what) to fail with RIBO_ERR_MODEL and a message naming what and
 * each needle. */
static void expect_buffer_error(const char *what, const unsigned char *buf, size_t len, const char *needle1,
                                const char *needle2) {
    ribo_safetensors *st = (ribo_safetensors *)1;
    ribo_error err;
    ribo_error_clear(&err);
    ribo_status s = ribo_torch_bin_open_buffer(what, buf, len, &st, &err);
    CHECK_STATUS(s, RIBO_ERR_MODEL, &err);
    CHECK(st == NULL, "handle not cleared on error for %s", what);
    CHECK_MESSAGE(&err, what);
    if (needle1) CHECK_MESSAGE(&err, needle1);
    if (needle2) CHECK_MESSAGE(&err, needle2);
    CHECK(!strchr(err.message, '\n'), "message is not one line: %s", err.message);
    if (s == RIBO_OK) ribo_safetensors_close(st);
}

/* Same for a fixture file, through ribo_torch_bin_open_file. */
static void expect_file_error(const char *name, const char *needle1, const char *needle2) {
    const char *path = fixture(name);
    ribo_safetensors *st = (ribo_safetensors *)1;
    ribo_error err;
    ribo_error_clear(&err);
    ribo_status s = ribo_torch_bin_open_file(path, &st, &err);
    CHECK_STATUS(s, RIBO_ERR_MODEL, &err);
    CHECK(st == NULL, "handle not cleared on error for %s", name);
    CHECK_MESSAGE(&err, path);
    if (needle1) CHECK_MESSAGE(&err, needle1);
    if (needle2) CHECK_MESSAGE(&err, needle2);
    CHECK(!strchr(err.message, '\n'), "message is not one line: %s", err.message);
    if (s == RIBO_OK) ribo_safetensors_close(st);
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* ---------------------------------------------------------------- fixtures read back exactly */

/* Checks one expected.txt line (file, name, dtype, shape, hex bytes) against the set. */
static void check_line(const ribo_safetensors *st, const char *file, char *name, const char *dtype, const char *shape,
                       const char *hex) {
    const ribo_st_tensor *t = ribo_safetensors_find(st, name);
    CHECK(t != NULL, "%s: tensor '%s' missing", file, name);
    if (!t) return;
    CHECK(strcmp(t->dtype_name, dtype) == 0, "%s: '%s' dtype %s, want %s", file, name, t->dtype_name, dtype);
    char got[256] = "";
    for (int i = 0; i < t->ndim; ++i)
        snprintf(got + strlen(got), sizeof got - strlen(got), i ? ",%lld" : "%lld", (long long)t->shape[i]);
    CHECK(strcmp(got, shape) == 0, "%s: '%s' shape [%s], want [%s]", file, name, got, shape);
    size_t n = strlen(hex) / 2;
    CHECK(t->nbytes == n, "%s: '%s' holds %zu bytes, want %zu", file, name, t->nbytes, n);
    if (t->nbytes != n) return;
    const unsigned char *d = t->data;
    size_t bad = n;
    for (size_t i = 0; i < n && bad == n; ++i)
        if (d[i] != (unsigned char)(hexval(hex[2 * i]) * 16 + hexval(hex[2 * i + 1]))) bad = i;
    CHECK(bad == n, "%s: '%s' differs at byte %zu", file, name, bad);
}

/* Every line of expected.txt; per file, the set holds exactly the tensors listed. */
static void test_expected_values(void) {
    size_t len = 0;
    char *text = ribo_test_read_file(fixture("expected.txt"), &len);
    CHECK(text != NULL, "cannot read expected.txt");
    if (!text) return;
    char current[256] = "";
    ribo_safetensors *st = NULL;
    size_t listed = 0, files = 0, lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *f[5];
        int k = 0;
        for (char *p = line; k < 5;) { /* fields may be empty (a 0-dim shape, an empty tensor's bytes) */
            f[k++] = p;
            char *tab = strchr(p, '\t');
            if (!tab) break;
            *tab = '\0';
            p = tab + 1;
        }
        CHECK(k == 5, "malformed expected.txt line");
        if (k != 5) continue;
        if (strcmp(f[0], current) != 0) {
            if (st) {
                CHECK(ribo_safetensors_count(st) == listed, "%s: %zu tensors, want %zu", current,
                      ribo_safetensors_count(st), listed);
                ribo_safetensors_close(st);
                st = NULL;
            }
            snprintf(current, sizeof current, "%s", f[0]);
            listed = 0;
            ++files;
            ribo_error err;
            ribo_error_clear(&err);
            ribo_status s = ribo_torch_bin_open_file(fixture(current), &st, &err);
            CHECK_STATUS(s, RIBO_OK, &err);
        }
        ++listed;
        ++lines;
        if (st) check_line(st, current, f[1], f[2], f[3], f[4]);
    }
    if (st) {
        CHECK(ribo_safetensors_count(st) == listed, "%s: %zu tensors, want %zu", current, ribo_safetensors_count(st),
              listed);
        ribo_safetensors_close(st);
    }
    CHECK(files >= 9 && lines >= 330, "expected.txt covers %zu files, %zu tensors", files, lines);
    free(text);
}

/* Shared storages stay shared (no copies), contiguous views point into the mapping at their offset,
 * strided views are copies; the legacy file gives the same tensors. */
static void test_sharing(void) {
    ribo_safetensors *st = NULL, *lg = NULL;
    ribo_error err;
    ribo_error_clear(&err);
    CHECK_STATUS(ribo_torch_bin_open_file(fixture("tied_views.bin"), &st, &err), RIBO_OK, &err);
    CHECK_STATUS(ribo_torch_bin_open_file(fixture("legacy.bin"), &lg, &err), RIBO_OK, &err);
    if (!st || !lg) return;
    const ribo_st_tensor *a = ribo_safetensors_find(st, "a"), *tied = ribo_safetensors_find(st, "a_tied");
    const ribo_st_tensor *row = ribo_safetensors_find(st, "row1"), *tail = ribo_safetensors_find(st, "tail");
    const ribo_st_tensor *t = ribo_safetensors_find(st, "t"), *col = ribo_safetensors_find(st, "col1");
    CHECK(a && tied && row && tail && t && col, "tied_views.bin tensors missing");
    if (a && tied && row && tail && t && col) {
        CHECK(a->data == tied->data, "tied tensors do not share their bytes");
        CHECK((const char *)row->data == (const char *)a->data + 16, "row1 is not at storage offset 4");
        CHECK((const char *)tail->data == (const char *)a->data + 24, "tail is not at storage offset 6");
        const char *lo = a->data, *hi = lo + a->nbytes;
        CHECK((const char *)t->data < lo || (const char *)t->data >= hi, "the transposed view was not copied");
        CHECK((const char *)col->data < lo || (const char *)col->data >= hi, "the column view was not copied");
    }
    CHECK(ribo_safetensors_count(st) == ribo_safetensors_count(lg), "legacy.bin: %zu tensors, zip %zu",
          ribo_safetensors_count(lg), ribo_safetensors_count(st));
    for (size_t i = 0; i < ribo_safetensors_count(st); ++i) {
        const ribo_st_tensor *x = ribo_safetensors_at(st, i), *y = ribo_safetensors_find(lg, x->name);
        CHECK(y && y->nbytes == x->nbytes && y->dtype == x->dtype && (!x->nbytes || !memcmp(x->data, y->data, x->nbytes)),
              "legacy.bin: '%s' differs from the zip file", x->name);
    }
    /* float conversion of bf16/f16 tensors read from the mapping */
    const ribo_st_tensor *h = ribo_safetensors_find(st, "h");
    float buf[6];
    CHECK(h && ribo_st_to_f32(h, buf, &err) == RIBO_OK, "f16 to f32: %s", err.message);
    ribo_safetensors_close(st);
    ribo_safetensors_close(lg);
}

/* ---------------------------------------------------------------- refusals */

static void test_refused_files(void) {
    expect_file_error("deflate.bin", "compressed", "torch.save");
    expect_file_error("evil_os_system.bin", "'os.system'", "nothing in the file is run");
    expect_file_error("evil_builtins_eval.bin", "'builtins.eval'", NULL);
    expect_file_error("storage_small.bin", "tensor 'big'", "does not fit");
    expect_file_error("view_outside.bin", "tensor 'past'", "reaches element 5");
    expect_file_error("negative_shape.bin", "tensor 'neg'", "negative");
    expect_file_error("overflow_shape.bin", "tensor 'huge'", "overflows");
    expect_file_error("unknown_opcode.bin", "opcode 0xff", NULL);
    expect_file_error("missing_storage.bin", "tensor 'lost'", "archive/data/7");
    expect_file_error("big_endian.bin", "little-endian", NULL);
    /* a safetensors file is not a PyTorch checkpoint */
    ribo_safetensors *st = NULL;
    ribo_error err;
    ribo_error_clear(&err);
    const char *sf = ribo_test_fixture("esm2_a/model.safetensors");
    CHECK(ribo_torch_bin_open_file(sf, &st, &err) == RIBO_ERR_MODEL, "safetensors accepted as .bin");
    CHECK_MESSAGE(&err, "not a PyTorch checkpoint");
}

/* Every prefix of a zip and of a legacy file is refused (never read past the end: run under ASan). */
static void test_truncations(void) {
    const char *names[] = {"tied_views.bin", "legacy.bin", "nested.bin"};
    for (size_t f = 0; f < 3; ++f) {
        size_t n = 0;
        unsigned char *full = read_all(fixture(names[f]), &n);
        CHECK(full != NULL, "cannot read %s", names[f]);
        if (!full) continue;
        size_t accepted = 0;
        for (size_t len = 0; len < n; ++len) {
            unsigned char *cut = malloc(len ? len : 1);
            memcpy(cut, full, len);
            ribo_safetensors *st = NULL;
            ribo_error err;
            ribo_error_clear(&err);
            if (ribo_torch_bin_open_buffer("cut.bin", cut, len, &st, &err) == RIBO_OK) {
                ++accepted;
                ribo_safetensors_close(st);
            } else {
                CHECK(ribo_test_message_has(&err, "cut.bin"), "message lacks the file: %s", err.message);
            }
            free(cut);
        }
        CHECK(accepted == 0, "%s: %zu truncated copies accepted", names[f], accepted);
        /* the last storage of the legacy file ends at EOF: one byte less names it */
        free(full);
    }
    size_t n = 0;
    unsigned char *full = read_all(fixture("tied_views.bin"), &n);
    if (full) {
        expect_buffer_error("tied_cut.bin", full, n - 1, "tied_cut.bin", "zip");
        free(full);
    }
}

/* Offset of the EOCD record (last "PK\5\6"). */
static size_t eocd_of(const unsigned char *b, size_t n) {
    for (size_t p = n - 22 + 1; p-- > 0;)
        if (!memcmp(b + p, "PK\x05\x06", 4)) return p;
    return 0;
}

static void put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = (unsigned char)(v >> (8 * i));
}
static void put16(unsigned char *p, uint16_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

/* Corrupt central directories and local headers of a real file: each refused naming the file. */
static void test_corrupt_zip(void) {
    size_t n = 0;
    unsigned char *orig = read_all(fixture("tied_views.bin"), &n);
    CHECK(orig != NULL, "cannot read tied_views.bin");
    if (!orig) return;
    unsigned char *b = malloc(n);
    size_t e = eocd_of(orig, n);
    uint32_t cd = (uint32_t)orig[e + 16] | (uint32_t)orig[e + 17] << 8 | (uint32_t)orig[e + 18] << 16 |
                  (uint32_t)orig[e + 19] << 24;

    /* torch.save always writes the ZIP64 end records: the central directory is found through them */
    size_t z64 = 0;
    for (size_t p = e; p-- > 0;)
        if (!memcmp(orig + p, "PK\x06\x06", 4)) {
            z64 = p;
            break;
        }
    CHECK(z64 > 0 && !memcmp(orig + e - 20, "PK\x06\x07", 4), "tied_views.bin has no ZIP64 end records");
    memcpy(b, orig, n); /* central directory offset past the file */
    put32(b + z64 + 48, (uint32_t)n + 100);
    expect_buffer_error("cd_offset.bin", b, n, "central directory", NULL);
    memcpy(b, orig, n); /* a central directory size reaching into the end records */
    put32(b + z64 + 40, (uint32_t)(n - cd));
    expect_buffer_error("cd_size.bin", b, n, "central directory", NULL);
    memcpy(b, orig, n); /* first central entry's signature broken */
    b[cd + 1] = 'X';
    expect_buffer_error("cd_sig.bin", b, n, "central directory entry 0", NULL);
    memcpy(b, orig, n); /* more entries than the directory can hold */
    put32(b + z64 + 32, 60000);
    expect_buffer_error("cd_count.bin", b, n, "entries", NULL);
    memcpy(b, orig, n); /* ZIP64 record gone: the plain EOCD (which torch fills in too) is used */
    b[e - 20 + 2] = 'X';
    {
        ribo_safetensors *st = NULL;
        ribo_error err;
        ribo_error_clear(&err);
        CHECK_STATUS(ribo_torch_bin_open_buffer("no_z64.bin", b, n, &st, &err), RIBO_OK, &err);
        CHECK(ribo_safetensors_count(st) == 12, "no_z64.bin: %zu tensors", ribo_safetensors_count(st));
        ribo_safetensors_close(st);
    }
    memcpy(b, orig, n); /* a local header offset past the end */
    put32(b + cd + 42, (uint32_t)n - 10);
    expect_buffer_error("local_off.bin", b, n, "local header", NULL);
    memcpy(b, orig, n); /* an entry size running past the end */
    put32(b + cd + 20, 0x7fffffff);
    put32(b + cd + 24, 0x7fffffff);
    expect_buffer_error("size.bin", b, n, "past the end", NULL);
    memcpy(b, orig, n); /* a ZIP64 marker without a locator */
    b[e - 20 + 2] = 'X';
    put32(b + e + 16, 0xFFFFFFFFu);
    expect_buffer_error("z64.bin", b, n, "ZIP64", NULL);
    memcpy(b, orig, n); /* data.pkl's first central entry method set to deflate */
    put16(b + cd + 10, 8);
    expect_buffer_error("method.bin", b, n, "compressed", NULL);
    memcpy(b, orig, n); /* the pickle's first opcode replaced by an unknown one (data.pkl is the first entry) */
    {
        uint16_t ln = (uint16_t)(orig[26] | orig[27] << 8), lx = (uint16_t)(orig[28] | orig[29] << 8);
        b[30 + ln + lx + 2] = 0xfe;
        expect_buffer_error("opcode.bin", b, n, "opcode 0xfe", NULL);
    }
    free(b);
    free(orig);
}

/* ---------------------------------------------------------------- ZIP64 */

/* A pickle: {'w': tensor(FloatStorage '0', 4 elements, shape (4,), stride (1,))}. */
static const unsigned char z64_pickle[] =
    "\x80\x02}(X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storage"
    "ctorch\nFloatStorage\nX\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x04tQK\x00K\x04\x85K\x01\x85\x89}tRu.";

/* Builds a ZIP64 archive of archive/data.pkl and archive/data/0 whose local headers start at
 * `base` (the bytes before it are not written: the caller leaves a hole), every size and offset in
 * zip64 extras and the end records saturated. *len: the archive's bytes after base; returns them. */
static unsigned char *build_zip64(uint64_t base, size_t *len) {
    const char *names[2] = {"archive/data.pkl", "archive/data/0"};
    const float vals[4] = {1.0f, -2.0f, 0.5f, 3.25f};
    const unsigned char *data[2] = {z64_pickle, (const unsigned char *)vals};
    size_t sizes[2] = {sizeof z64_pickle - 1, sizeof vals};
    unsigned char *b = calloc(1, 4096);
    size_t p = 0;
    uint64_t local[2];
    for (int i = 0; i < 2; ++i) { /* local headers: sizes zero (data descriptor style), 3 bytes of padding extra */
        local[i] = base + p;
        size_t nl = strlen(names[i]);
        memcpy(b + p, "PK\x03\x04", 4);
        put16(b + p + 6, 0x808);
        put16(b + p + 26, (uint16_t)nl);
        put16(b + p + 28, 7);
        memcpy(b + p + 30, names[i], nl);
        put16(b + p + 30 + nl, 0x4246);
        put16(b + p + 32 + nl, 3);
        p += 30 + nl + 7;
        memcpy(b + p, data[i], sizes[i]);
        p += sizes[i];
    }
    uint64_t cd = base + p;
    for (int i = 0; i < 2; ++i) { /* central entries: 0xFFFFFFFF sizes and offset, all three in the extra */
        size_t nl = strlen(names[i]);
        memcpy(b + p, "PK\x01\x02", 4);
        put16(b + p + 8, 0x808);
        put32(b + p + 20, 0xFFFFFFFFu);
        put32(b + p + 24, 0xFFFFFFFFu);
        put16(b + p + 28, (uint16_t)nl);
        put16(b + p + 30, 4 + 24 + 8);
        put32(b + p + 42, 0xFFFFFFFFu);
        memcpy(b + p + 46, names[i], nl);
        unsigned char *x = b + p + 46 + nl;
        put16(x, 0x5455); /* an unrelated extra first: the reader must skip it */
        put16(x + 2, 4);
        x += 8;
        put16(x, 0x0001);
        put16(x + 2, 24);
        for (int k = 0; k < 8; ++k) {
            x[4 + k] = (unsigned char)((uint64_t)sizes[i] >> (8 * k));
            x[12 + k] = (unsigned char)((uint64_t)sizes[i] >> (8 * k));
            x[20 + k] = (unsigned char)(local[i] >> (8 * k));
        }
        p += 46 + nl + 36;
    }
    uint64_t cd_size = base + p - cd, z64 = base + p;
    unsigned char *r = b + p; /* zip64 end of central directory record */
    memcpy(r, "PK\x06\x06", 4);
    for (int k = 0; k < 8; ++k) {
        r[4 + k] = (unsigned char)((uint64_t)44 >> (8 * k));
        r[24 + k] = (unsigned char)((uint64_t)2 >> (8 * k));
        r[32 + k] = (unsigned char)((uint64_t)2 >> (8 * k));
        r[40 + k] = (unsigned char)(cd_size >> (8 * k));
        r[48 + k] = (unsigned char)(cd >> (8 * k));
    }
    p += 56;
    memcpy(b + p, "PK\x06\x07", 4); /* locator */
    for (int k = 0; k < 8; ++k) b[p + 8 + k] = (unsigned char)(z64 >> (8 * k));
    put32(b + p + 16, 1);
    p += 20;
    memcpy(b + p, "PK\x05\x06", 4); /* EOCD, every field saturated */
    put16(b + p + 8, 0xFFFF);
    put16(b + p + 10, 0xFFFF);
    put32(b + p + 12, 0xFFFFFFFFu);
    put32(b + p + 16, 0xFFFFFFFFu);
    p += 22;
    *len = p;
    return b;
}

/* Checks the set read from a ZIP64 archive holds w = [1, -2, 0.5, 3.25]. */
static void check_z64_set(const ribo_safetensors *st, const char *what) {
    const ribo_st_tensor *w = ribo_safetensors_find(st, "w");
    CHECK(w && w->n_elements == 4 && w->dtype == RIBO_ST_F32, "%s: tensor w missing or wrong", what);
    if (!w) return;
    float v[4];
    memcpy(v, w->data, sizeof v);
    CHECK(v[0] == 1.0f && v[1] == -2.0f && v[2] == 0.5f && v[3] == 3.25f, "%s: w values differ", what);
}

static void test_zip64(void) {
    size_t n = 0;
    unsigned char *b = build_zip64(0, &n);
    ribo_zip z;
    ribo_error err;
    ribo_error_clear(&err);
    CHECK_STATUS(ribo_zip_read(b, n, "z64", &z, &err), RIBO_OK, &err);
    const ribo_zip_entry *e = ribo_zip_find(&z, "archive/data/0");
    CHECK(e && e->size == 16 && e->method == 0 && e->data_offset == 30 + 16 + 7 + sizeof z64_pickle - 1 + 30 + 14 + 7,
          "zip64 entry offsets wrong");
    ribo_zip_free(&z);
    ribo_safetensors *st = NULL;
    CHECK_STATUS(ribo_torch_bin_open_buffer("z64", b, n, &st, &err), RIBO_OK, &err);
    if (st) check_z64_set(st, "zip64 in memory");
    ribo_safetensors_close(st);
    /* a zip64 extra too short for the saturated fields */
    unsigned char *c = malloc(n);
    memcpy(c, b, n);
    size_t cd = 0;
    for (size_t p = 0; p + 4 <= n; ++p)
        if (!memcmp(c + p, "PK\x01\x02", 4)) {
            cd = p;
            break;
        }
    put16(c + cd + 46 + 16 + 8 + 2, 16);
    expect_buffer_error("z64_extra.bin", c, n, "ZIP64 extra", NULL);
    memcpy(c, b, n); /* locator pointing nowhere */
    c[n - 22 - 20 + 8] ^= 0x40;
    expect_buffer_error("z64_locator.bin", c, n, "ZIP64 end-of-central-directory record", NULL);
    free(c);
    free(b);

    /* the same archive placed after a 4.5 GiB hole in a sparse file: offsets above 4 GiB */
    uint64_t base = (uint64_t)9 << 29;
    b = build_zip64(base, &n);
    const char *path = ribo_test_tmp("sparse_zip64.bin");
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    bool ok = fd >= 0 && pwrite(fd, b, n, (off_t)base) == (ssize_t)n;
    if (fd >= 0) close(fd);
    if (!ok) {
        fprintf(stderr, "note: no sparse file over 4 GiB here; the in-memory ZIP64 case ran\n");
    } else {
        /* the local headers sit above 4 GiB: only the zip64 offsets reach them */
        st = NULL;
        CHECK_STATUS(ribo_torch_bin_open_file(path, &st, &err), RIBO_OK, &err);
        if (st) check_z64_set(st, "zip64 sparse file");
        ribo_safetensors_close(st);
    }
    unlink(path);
    free(b);
}

/* ---------------------------------------------------------------- model directories */

static const char *make_dir(const char *name) {
    const char *d = ribo_test_tmp(name);
    mkdir(d, 0755);
    return d;
}

static void copy_file(const char *from, const char *to) {
    size_t n = 0;
    char *b = ribo_test_read_file(from, &n);
    CHECK(b && ribo_test_write_file(to, b, n), "cannot copy %s", from);
    free(b);
}

static const char *in_dir(const char *dir, const char *name) {
    static char bufs[4][1024];
    static int slot;
    char *b = bufs[slot++ % 4];
    snprintf(b, 1024, "%s/%s", dir, name);
    return b;
}

static void test_directories(void) {
    ribo_safetensors *st = NULL;
    ribo_error err;
    ribo_error_clear(&err);
    /* safetensors wins when both exist */
    const char *both = make_dir("both");
    copy_file(ribo_test_fixture("esm2_a/model.safetensors"), in_dir(both, "model.safetensors"));
    copy_file(fixture("tied_views.bin"), in_dir(both, "pytorch_model.bin"));
    CHECK_STATUS(ribo_safetensors_open_dir(both, &st, &err), RIBO_OK, &err);
    CHECK(st && ribo_safetensors_find(st, "esm.embeddings.word_embeddings.weight") && !ribo_safetensors_find(st, "a"),
          "model.safetensors was not preferred");
    ribo_safetensors_close(st);
    st = NULL;
    /* pytorch_model.bin alone */
    const char *bin = make_dir("bin_only");
    copy_file(fixture("tied_views.bin"), in_dir(bin, "pytorch_model.bin"));
    CHECK_STATUS(ribo_safetensors_open_dir(bin, &st, &err), RIBO_OK, &err);
    CHECK(st && ribo_safetensors_count(st) == 12, "pytorch_model.bin: %zu tensors", ribo_safetensors_count(st));
    ribo_safetensors_close(st);
    st = NULL;
    /* sharded: pytorch_model.bin.index.json over a zip and a legacy shard */
    const char *sh = make_dir("bin_sharded");
    copy_file(fixture("handwritten.bin"), in_dir(sh, "pytorch_model-00001-of-00002.bin"));
    copy_file(fixture("legacy_nested.bin"), in_dir(sh, "pytorch_model-00002-of-00002.bin"));
    const char *idx = "{\"metadata\":{},\"weight_map\":{\"w\":\"pytorch_model-00001-of-00002.bin\","
                      "\"wt\":\"pytorch_model-00001-of-00002.bin\",\"v\":\"pytorch_model-00001-of-00002.bin\","
                      "\"enc.weight\":\"pytorch_model-00002-of-00002.bin\",\"enc.bias\":\"pytorch_model-00002-of-00002.bin\"}}";
    CHECK(ribo_test_write_file(in_dir(sh, "pytorch_model.bin.index.json"), idx, strlen(idx)), "index");
    CHECK_STATUS(ribo_safetensors_open_dir(sh, &st, &err), RIBO_OK, &err);
    CHECK(st && ribo_safetensors_count(st) == 5, "sharded .bin: %zu tensors", ribo_safetensors_count(st));
    const ribo_st_tensor *eb = st ? ribo_safetensors_find(st, "enc.bias") : NULL;
    CHECK(eb && strstr(eb->file, "pytorch_model-00002-of-00002.bin") && eb->dtype == RIBO_ST_F16,
          "enc.bias not read from the legacy shard");
    ribo_safetensors_close(st);
    st = NULL;
    /* an index naming a tensor its shard lacks, and a missing shard */
    const char *bad = make_dir("bin_sharded_bad");
    copy_file(fixture("handwritten.bin"), in_dir(bad, "a.bin"));
    const char *idx2 = "{\"weight_map\":{\"w\":\"a.bin\",\"ghost\":\"a.bin\"}}";
    CHECK(ribo_test_write_file(in_dir(bad, "pytorch_model.bin.index.json"), idx2, strlen(idx2)), "index");
    CHECK(ribo_safetensors_open_dir(bad, &st, &err) == RIBO_ERR_MODEL, "ghost tensor accepted");
    CHECK_MESSAGE(&err, "pytorch_model.bin.index.json");
    CHECK_MESSAGE(&err, "'ghost'");
    const char *idx3 = "{\"weight_map\":{\"w\":\"b.bin\"}}";
    CHECK(ribo_test_write_file(in_dir(bad, "pytorch_model.bin.index.json"), idx3, strlen(idx3)), "index");
    CHECK(ribo_safetensors_open_dir(bad, &st, &err) == RIBO_ERR_MODEL, "missing shard accepted");
    CHECK_MESSAGE(&err, "does not exist");
    /* a corrupt pytorch_model.bin: the error names the file in the directory */
    const char *evil = make_dir("bin_evil");
    copy_file(fixture("evil_os_system.bin"), in_dir(evil, "pytorch_model.bin"));
    CHECK(ribo_safetensors_open_dir(evil, &st, &err) == RIBO_ERR_MODEL, "evil pytorch_model.bin accepted");
    CHECK_MESSAGE(&err, "bin_evil/pytorch_model.bin");
    CHECK_MESSAGE(&err, "'os.system'");
    /* no weights: the message lists every name looked for */
    const char *none = make_dir("no_weights");
    CHECK(ribo_safetensors_open_dir(none, &st, &err) == RIBO_ERR_MODEL, "empty directory accepted");
    CHECK_MESSAGE(&err, "model.safetensors.index.json");
    CHECK_MESSAGE(&err, "pytorch_model.bin and pytorch_model.bin.index.json");
}

/* ---------------------------------------------------------------- a whole model */

/* Whether the test backend opens. Under auto, no device skips only the embedding comparisons (the
 * reader checks still count); a backend named by RIBO_TEST_BACKEND that does not open fails. */
static bool device_available(void) {
    ribo_error err;
    ribo_error_clear(&err);
    ribo_device *dev = NULL;
    if (ribo_backend_open(ribo_test_backend(), 0, RIBO_STORAGE_F32, &dev, NULL, &err) != RIBO_OK) {
        if (ribo_test_backend_explicit()) ribo_test_open_failed(&err);
        fprintf(stderr, "note: no device (%s): the embedding comparisons did not run\n", err.message);
        return false;
    }
    ribo_device_destroy(dev);
    return true;
}

/* esm2_a_bin holds esm2_a's tensors byte for byte, and ribo describes and embeds it the same. */
static void test_model_dir(void) {
    ribo_safetensors *a = NULL, *b = NULL;
    ribo_error err;
    ribo_error_clear(&err);
    CHECK_STATUS(ribo_safetensors_open_dir(ribo_test_fixture("esm2_a"), &a, &err), RIBO_OK, &err);
    CHECK_STATUS(ribo_safetensors_open_dir(fixture("esm2_a_bin"), &b, &err), RIBO_OK, &err);
    if (a && b) {
        CHECK(ribo_safetensors_count(a) == ribo_safetensors_count(b), "tensor counts %zu / %zu",
              ribo_safetensors_count(a), ribo_safetensors_count(b));
        for (size_t i = 0; i < ribo_safetensors_count(a); ++i) {
            const ribo_st_tensor *x = ribo_safetensors_at(a, i), *y = ribo_safetensors_find(b, x->name);
            CHECK(y && y->dtype == x->dtype && y->nbytes == x->nbytes && y->ndim == x->ndim &&
                      !memcmp(x->shape, y->shape, sizeof x->shape) && (!x->nbytes || !memcmp(x->data, y->data, x->nbytes)),
                  "esm2_a_bin: tensor '%s' differs", x->name);
            CHECK(y && strstr(y->file, "pytorch_model.bin"), "esm2_a_bin: '%s' not from pytorch_model.bin", x->name);
        }
    }
    ribo_safetensors_close(a);
    ribo_safetensors_close(b);

    ribo_model_info ia, ib;
    CHECK_STATUS(ribo_model_describe(ribo_test_fixture("esm2_a"), &ia, &err), RIBO_OK, &err);
    CHECK_STATUS(ribo_model_describe(fixture("esm2_a_bin"), &ib, &err), RIBO_OK, &err);
    CHECK(ia.n_parameters == ib.n_parameters && !strcmp(ia.weights_dtype, ib.weights_dtype) &&
              !strcmp(ia.architecture, ib.architecture),
          "ribo info differs: %s %s %llu / %s %s %llu", ia.architecture, ia.weights_dtype,
          (unsigned long long)ia.n_parameters, ib.architecture, ib.weights_dtype, (unsigned long long)ib.n_parameters);

    if (!device_available()) return;
    const char *in[] = {ribo_test_fixture("short.fasta")};
    const char *pools[2][2] = {{"st_mean.npy", "bin_mean.npy"}, {"st_tok.npy", "bin_tok.npy"}};
    const ribo_pool pool[2] = {RIBO_POOL_MEAN, RIBO_POOL_NONE};
    for (int k = 0; k < 2; ++k) {
        CHECK_STATUS(ribo_test_embed(ribo_test_fixture("esm2_a"), in, 1, ribo_test_tmp(pools[k][0]), pool[k],
                                     RIBO_DTYPE_FP32, 0, &err),
                     RIBO_OK, &err);
        CHECK_STATUS(ribo_test_embed(fixture("esm2_a_bin"), in, 1, ribo_test_tmp(pools[k][1]), pool[k], RIBO_DTYPE_FP32,
                                     0, &err),
                     RIBO_OK, &err);
        size_t n1 = 0, n2 = 0;
        char *x = ribo_test_read_file(ribo_test_tmp(pools[k][0]), &n1);
        char *y = ribo_test_read_file(ribo_test_tmp(pools[k][1]), &n2);
        CHECK(x && y && n1 == n2 && n1 > 128 && !memcmp(x, y, n1), "embeddings of esm2_a_bin differ from esm2_a (%s)",
              pools[k][1]);
        free(x);
        free(y);
    }
}

/* --resume fingerprints cover pytorch_model.bin: a changed weight byte changes the model's hash. */
static void test_fingerprint(void) {
    const char *dir = make_dir("fp_bin");
    const char *files[] = {"config.json", "tokenizer_config.json", "vocab.txt", "pytorch_model.bin"};
    for (size_t i = 0; i < 4; ++i) {
        char from[1024];
        snprintf(from, sizeof from, "%s/%s", fixture("esm2_a_bin"), files[i]);
        copy_file(from, in_dir(dir, files[i]));
    }
    ribo_fingerprint a, b;
    ribo_error err;
    ribo_error_clear(&err);
    CHECK_STATUS(ribo_fingerprint_make(dir, NULL, 0, NULL, 0, &a, &err), RIBO_OK, &err);
    char *text = cJSON_PrintUnformatted(a.json);
    CHECK(text && strstr(text, "\"pytorch_model.bin\""), "fingerprint lacks pytorch_model.bin: %s", text ? text : "");
    free(text);
    /* one byte in the middle of the weights (a sampled block covers it: 16 blocks over 645 KB) */
    size_t n = 0;
    char *bin = ribo_test_read_file(in_dir(dir, "pytorch_model.bin"), &n);
    if (bin) {
        bin[n / 2] ^= 1;
        ribo_test_write_file(in_dir(dir, "pytorch_model.bin"), bin, n);
        free(bin);
    }
    CHECK_STATUS(ribo_fingerprint_make(dir, NULL, 0, NULL, 0, &b, &err), RIBO_OK, &err);
    CHECK(a.hash != b.hash, "a changed pytorch_model.bin keeps the fingerprint");
    ribo_fingerprint_free(&a);
    ribo_fingerprint_free(&b);
}

/* ---------------------------------------------------------------- a DNABERT-2 copy written here */

/* A growing byte buffer. */
typedef struct bytes {
    unsigned char *p;
    size_t n, cap;
} bytes;

static void add(bytes *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 1024;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void add_u16(bytes *b, uint16_t v) {
    unsigned char x[2];
    put16(x, v);
    add(b, x, 2);
}
static void add_u32(bytes *b, uint32_t v) {
    unsigned char x[4];
    put32(x, v);
    add(b, x, 4);
}
static void add_str(bytes *b, const char *s) { /* BINUNICODE */
    add(b, "X", 1);
    add_u32(b, (uint32_t)strlen(s));
    add(b, s, strlen(s));
}
static void add_int(bytes *b, int64_t v) { /* BININT */
    add(b, "J", 1);
    add_u32(b, (uint32_t)v);
}

/* One zip entry, stored, with no alignment padding (as Python's zipfile writes: unaligned data). */
static void zip_entry(bytes *z, bytes *cd, const char *name, const void *data, size_t n) {
    uint32_t off = (uint32_t)z->n, crc = 0;
    add(z, "PK\x03\x04", 4);
    add_u16(z, 20), add_u16(z, 0), add_u16(z, 0), add_u32(z, 0), add_u32(z, crc);
    add_u32(z, (uint32_t)n), add_u32(z, (uint32_t)n), add_u16(z, (uint16_t)strlen(name)), add_u16(z, 0);
    add(z, name, strlen(name));
    add(z, data, n);
    add(cd, "PK\x01\x02", 4);
    add_u16(cd, 20), add_u16(cd, 20), add_u16(cd, 0), add_u16(cd, 0), add_u32(cd, 0), add_u32(cd, crc);
    add_u32(cd, (uint32_t)n), add_u32(cd, (uint32_t)n), add_u16(cd, (uint16_t)strlen(name));
    add_u16(cd, 0), add_u16(cd, 0), add_u16(cd, 0), add_u16(cd, 0), add_u32(cd, 0), add_u32(cd, off);
    add(cd, name, strlen(name));
}

/* Writes the tensors of a safetensors set as a torch-style zip checkpoint (one storage per tensor,
 * contiguous strides; CRCs left 0, which the reader does not check). */
static bool write_torch_zip(const ribo_safetensors *st, const char *path) {
    bytes pk = {0}, z = {0}, cd = {0};
    add(&pk, "\x80\x02}(", 4);
    for (size_t i = 0; i < ribo_safetensors_count(st); ++i) {
        const ribo_st_tensor *t = ribo_safetensors_at(st, i);
        const char *cls = t->dtype == RIBO_ST_F32 ? "FloatStorage" : t->dtype == RIBO_ST_F16 ? "HalfStorage"
                                                                    : t->dtype == RIBO_ST_BF16 ? "BFloat16Storage"
                                                                    : t->dtype == RIBO_ST_I64 ? "LongStorage" : NULL;
        if (!cls) return false;
        char key[32], gl[64];
        snprintf(key, sizeof key, "%zu", i);
        add_str(&pk, t->name);
        add(&pk, "ctorch._utils\n_rebuild_tensor_v2\n((", 35);
        add_str(&pk, "storage");
        snprintf(gl, sizeof gl, "ctorch\n%s\n", cls);
        add(&pk, gl, strlen(gl));
        add_str(&pk, key);
        add_str(&pk, "cpu");
        add_int(&pk, t->n_elements);
        add(&pk, "tQ", 2);
        add_int(&pk, 0);
        add(&pk, "(", 1);
        for (int d = 0; d < t->ndim; ++d) add_int(&pk, t->shape[d]);
        add(&pk, "t(", 2);
        int64_t stride = 1, strides[RIBO_ST_MAX_DIMS];
        for (int d = t->ndim - 1; d >= 0; --d) strides[d] = stride, stride *= t->shape[d];
        for (int d = 0; d < t->ndim; ++d) add_int(&pk, strides[d]);
        add(&pk, "t\x89}tR", 5);
    }
    add(&pk, "u.", 2);
    zip_entry(&z, &cd, "dnabert2_bin/data.pkl", pk.p, pk.n);
    zip_entry(&z, &cd, "dnabert2_bin/byteorder", "little", 6);
    for (size_t i = 0; i < ribo_safetensors_count(st); ++i) {
        const ribo_st_tensor *t = ribo_safetensors_at(st, i);
        char name[64];
        snprintf(name, sizeof name, "dnabert2_bin/data/%zu", i);
        zip_entry(&z, &cd, name, t->data, t->nbytes);
    }
    uint32_t cd_off = (uint32_t)z.n, count = (uint32_t)ribo_safetensors_count(st) + 2;
    add(&z, cd.p, cd.n);
    add(&z, "PK\x05\x06", 4);
    add_u16(&z, 0), add_u16(&z, 0), add_u16(&z, (uint16_t)count), add_u16(&z, (uint16_t)count);
    add_u32(&z, (uint32_t)cd.n), add_u32(&z, cd_off), add_u16(&z, 0);
    bool ok = ribo_test_write_file(path, z.p, z.n);
    free(pk.p);
    free(z.p);
    free(cd.p);
    return ok;
}

/* dnabert2_b with its weights in an unaligned pytorch_model.bin embeds byte-identically. */
static void test_dnabert2_copy(void) {
    ribo_safetensors *st = NULL;
    ribo_error err;
    ribo_error_clear(&err);
    CHECK_STATUS(ribo_safetensors_open_dir(ribo_test_fixture("dnabert2_b"), &st, &err), RIBO_OK, &err);
    if (!st) return;
    const char *dir = make_dir("dnabert2_bin");
    CHECK(write_torch_zip(st, in_dir(dir, "pytorch_model.bin")), "cannot write the .bin copy");
    const char *files[] = {"config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; ++i) {
        char from[1024];
        snprintf(from, sizeof from, "%s/%s", ribo_test_fixture("dnabert2_b"), files[i]);
        copy_file(from, in_dir(dir, files[i]));
    }
    ribo_safetensors *bin = NULL;
    CHECK_STATUS(ribo_safetensors_open_dir(dir, &bin, &err), RIBO_OK, &err);
    size_t unaligned = 0;
    for (size_t i = 0; bin && i < ribo_safetensors_count(bin); ++i)
        unaligned += ((uintptr_t)ribo_safetensors_at(bin, i)->data % 4) != 0;
    CHECK(unaligned > 0, "the .bin copy has no unaligned tensor: the unaligned load path is not exercised");
    ribo_safetensors_close(bin);
    ribo_safetensors_close(st);
    if (!device_available()) return;
    const char *in[] = {ribo_test_fixture("dna_reads.fasta")};
    CHECK_STATUS(ribo_test_embed(ribo_test_fixture("dnabert2_b"), in, 1, ribo_test_tmp("dna_st.npy"), RIBO_POOL_DEFAULT,
                                 RIBO_DTYPE_FP32, 0, &err),
                 RIBO_OK, &err);
    CHECK_STATUS(ribo_test_embed(dir, in, 1, ribo_test_tmp("dna_bin.npy"), RIBO_POOL_DEFAULT, RIBO_DTYPE_FP32, 0, &err),
                 RIBO_OK, &err);
    size_t n1 = 0, n2 = 0;
    char *x = ribo_test_read_file(ribo_test_tmp("dna_st.npy"), &n1);
    char *y = ribo_test_read_file(ribo_test_tmp("dna_bin.npy"), &n2);
    CHECK(x && y && n1 == n2 && n1 > 128 && !memcmp(x, y, n1), "DNABERT-2 embeddings of the .bin copy differ");
    free(x);
    free(y);
}

int main(void) {
    test_expected_values();
    test_sharing();
    test_refused_files();
    test_truncations();
    test_corrupt_zip();
    test_zip64();
    test_directories();
    test_model_dir();
    test_fingerprint();
    test_dnabert2_copy();
    return ribo_test_finish("test_torch_bin");
}
