/* safetensors reader: values of F32/F16/BF16 tensors, sharded directories, and one-line errors
 * (naming file and tensor) for every kind of corrupt file or index. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/io/safetensors.h"
#include "test_util.h"

/* Writes a safetensors file: 8-byte little-endian header length, header text, data bytes. */
static bool write_st(const char *path, const char *header, const void *data, size_t n) {
    size_t hl = strlen(header);
    size_t total = 8 + hl + n;
    unsigned char *buf = malloc(total ? total : 1);
    if (!buf) return false;
    for (int i = 0; i < 8; ++i) buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, header, hl);
    if (n) memcpy(buf + 8 + hl, data, n);
    bool ok = ribo_test_write_file(path, buf, total);
    free(buf);
    return ok;
}

/* Makes a subdirectory of the test tmpdir; returns its path (rotating static buffer). */
static const char *make_dir(const char *name) {
    const char *d = ribo_test_tmp(name);
    mkdir(d, 0755);
    return d;
}

/* Path dir/name in a rotating static buffer. */
static const char *in_dir(const char *dir, const char *name) {
    static char bufs[4][1024];
    static int slot;
    char *b = bufs[slot++ % 4];
    snprintf(b, 1024, "%s/%s", dir, name);
    return b;
}

/* Float bit pattern. */
static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Expects open_file(path) to fail with want and a message naming every given needle. */
static void expect_file_error(const char *path, ribo_status want, const char *needle1, const char *needle2) {
    ribo_safetensors *st = (ribo_safetensors *)1;
    ribo_error err;
    ribo_error_clear(&err);
    ribo_status s = ribo_safetensors_open_file(path, &st, &err);
    CHECK_STATUS(s, want, &err);
    CHECK(st == NULL, "handle not cleared on error for %s", path);
    CHECK_MESSAGE(&err, path); /* every error names the file */
    if (needle1) CHECK_MESSAGE(&err, needle1);
    if (needle2) CHECK_MESSAGE(&err, needle2);
    if (s == RIBO_OK) ribo_safetensors_close(st);
}

/* Same for open_dir. */
static void expect_dir_error(const char *dir, ribo_status want, const char *needle1, const char *needle2) {
    ribo_safetensors *st = NULL;
    ribo_error err;
    ribo_error_clear(&err);
    ribo_status s = ribo_safetensors_open_dir(dir, &st, &err);
    CHECK_STATUS(s, want, &err);
    CHECK_MESSAGE(&err, dir); /* every error names the directory or a file in it */
    if (needle1) CHECK_MESSAGE(&err, needle1);
    if (needle2) CHECK_MESSAGE(&err, needle2);
    if (s == RIBO_OK) ribo_safetensors_close(st);
}

/* A valid file with F32, F16, BF16, I64 and an empty tensor; checks values bit-exactly. */
static void test_values(void) {
    unsigned char data[66];
    const float a[6] = {1.0f, -2.5f, 3.25f, 0.0f, 1e-30f, -0.0f};
    memcpy(data, a, 24);
    const uint16_t h[9] = {0x3c00, 0x0001, 0x8000, 0x7c00, 0xfc00, 0x03ff, 0x7e00, 0xc000, 0x7bff};
    for (int i = 0; i < 9; ++i) {
        data[24 + 2 * i] = (unsigned char)(h[i] & 0xff);
        data[25 + 2 * i] = (unsigned char)(h[i] >> 8);
    }
    const uint16_t b[4] = {0x3f80, 0xc040, 0x0001, 0x7f80};
    for (int i = 0; i < 4; ++i) {
        data[42 + 2 * i] = (unsigned char)(b[i] & 0xff);
        data[43 + 2 * i] = (unsigned char)(b[i] >> 8);
    }
    const int64_t iv[2] = {7, -7};
    memcpy(data + 50, iv, 16);
    const char *hdr =
        "{\"__metadata__\":{\"format\":\"pt\"},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
        "\"h\":{\"dtype\":\"F16\",\"shape\":[9],\"data_offsets\":[24,42]},"
        "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[42,50]},"
        "\"i\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[50,66]},"
        "\"z\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[66,66]}}   ";
    const char *path = ribo_test_tmp("values.safetensors");
    CHECK(write_st(path, hdr, data, sizeof data), "cannot write %s", path);

    ribo_safetensors *st = NULL;
    ribo_error err;
    ribo_error_clear(&err);
    ribo_status s = ribo_safetensors_open_file(path, &st, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    if (s != RIBO_OK) return;
    CHECK(ribo_safetensors_count(st) == 5, "count %zu", ribo_safetensors_count(st));
    /* at() walks names in sorted order */
    const char *order[5] = {"a", "b", "h", "i", "z"};
    for (size_t i = 0; i < 5; ++i) {
        const ribo_st_tensor *t = ribo_safetensors_at(st, i);
        CHECK(t && strcmp(t->name, order[i]) == 0, "at(%zu) = %s", i, t ? t->name : "NULL");
    }
    CHECK(ribo_safetensors_at(st, 5) == NULL, "at(5) not NULL");
    CHECK(ribo_safetensors_find(st, "__metadata__") == NULL, "metadata listed as a tensor");
    CHECK(ribo_safetensors_find(st, "nope") == NULL, "found a missing tensor");

    float out[9];
    const ribo_st_tensor *t = ribo_safetensors_find(st, "a");
    CHECK(t && t->dtype == RIBO_ST_F32 && strcmp(t->dtype_name, "F32") == 0, "a dtype");
    CHECK(t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->n_elements == 6 && t->nbytes == 24,
          "a shape");
    CHECK(t && strcmp(t->file, path) == 0, "a file %s", t ? t->file : "");
    if (t) {
        CHECK_STATUS(ribo_st_to_f32(t, out, &err), RIBO_OK, &err);
        for (int i = 0; i < 6; ++i) CHECK(bits_of(out[i]) == bits_of(a[i]), "a[%d] = %g", i, out[i]);
    }

    t = ribo_safetensors_find(st, "h");
    CHECK(t && t->dtype == RIBO_ST_F16 && t->n_elements == 9, "h");
    if (t) {
        CHECK_STATUS(ribo_st_to_f32(t, out, &err), RIBO_OK, &err);
        CHECK(out[0] == 1.0f, "h[0] %g", out[0]);
        CHECK(out[1] == ldexpf(1.0f, -24), "h[1] (smallest subnormal) %g", out[1]);
        CHECK(bits_of(out[2]) == 0x80000000u, "h[2] is not -0: %08x", bits_of(out[2]));
        CHECK(isinf(out[3]) && out[3] > 0, "h[3] %g", out[3]);
        CHECK(isinf(out[4]) && out[4] < 0, "h[4] %g", out[4]);
        CHECK(out[5] == 1023.0f * ldexpf(1.0f, -24), "h[5] (largest subnormal) %g", out[5]);
        CHECK(isnan(out[6]), "h[6] %g", out[6]);
        CHECK(out[7] == -2.0f, "h[7] %g", out[7]);
        CHECK(out[8] == 65504.0f, "h[8] %g", out[8]);
    }

    t = ribo_safetensors_find(st, "b");
    CHECK(t && t->dtype == RIBO_ST_BF16 && strcmp(t->dtype_name, "BF16") == 0 && t->n_elements == 4, "b");
    if (t) {
        CHECK_STATUS(ribo_st_to_f32(t, out, &err), RIBO_OK, &err);
        CHECK(out[0] == 1.0f && out[1] == -3.0f, "b[0..1] %g %g", out[0], out[1]);
        CHECK(bits_of(out[2]) == 0x00010000u, "b[2] bits %08x", bits_of(out[2]));
        CHECK(isinf(out[3]), "b[3] %g", out[3]);
    }

    t = ribo_safetensors_find(st, "i");
    CHECK(t && t->dtype == RIBO_ST_I64 && ribo_st_dtype_size(t->dtype) == 8, "i");
    if (t) {
        CHECK(memcmp(t->data, iv, 16) == 0, "i data");
        ribo_status cs = ribo_st_to_f32(t, out, &err);
        CHECK_STATUS(cs, RIBO_ERR_MODEL, &err);
        CHECK_MESSAGE(&err, "'i'");
        CHECK_MESSAGE(&err, "values.safetensors");
    }

    t = ribo_safetensors_find(st, "z");
    CHECK(t && t->n_elements == 0 && t->nbytes == 0 && t->ndim == 2, "z");
    if (t) CHECK_STATUS(ribo_st_to_f32(t, out, &err), RIBO_OK, &err);
    ribo_safetensors_close(st);
}

/* Writes a one-tensor shard file. */
static void write_shard(const char *path, const char *tensors_json, size_t nbytes) {
    unsigned char data[64] = {0};
    CHECK(nbytes <= sizeof data && write_st(path, tensors_json, data, nbytes), "cannot write %s", path);
}

/* Sharded model directory with an index, and the index consistency errors. */
static void test_sharded(void) {
    const char *dir = make_dir("sharded");
    write_shard(in_dir(dir, "model-00001-of-00002.safetensors"),
                "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"y\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[8,12]}}",
                12);
    write_shard(in_dir(dir, "model-00002-of-00002.safetensors"),
                "{\"z\":{\"dtype\":\"BF16\",\"shape\":[1,3],\"data_offsets\":[0,6]}}", 6);
    const char *index = "{\"metadata\":{\"total_size\":18},\"weight_map\":{"
                        "\"x\":\"model-00001-of-00002.safetensors\",\"y\":\"model-00001-of-00002.safetensors\","
                        "\"z\":\"model-00002-of-00002.safetensors\"}}";
    CHECK(ribo_test_write_file(in_dir(dir, "model.safetensors.index.json"), index, strlen(index)), "index");
    ribo_safetensors *st = NULL;
    ribo_error err;
    ribo_error_clear(&err);
    ribo_status s = ribo_safetensors_open_dir(dir, &st, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    if (s == RIBO_OK) {
        CHECK(ribo_safetensors_count(st) == 3, "count %zu", ribo_safetensors_count(st));
        const ribo_st_tensor *z = ribo_safetensors_find(st, "z");
        const ribo_st_tensor *x = ribo_safetensors_find(st, "x");
        CHECK(z && strstr(z->file, "model-00002-of-00002.safetensors"), "z file %s", z ? z->file : "");
        CHECK(x && strstr(x->file, "model-00001-of-00002.safetensors"), "x file %s", x ? x->file : "");
        CHECK(z && z->ndim == 2 && z->shape[1] == 3, "z shape");
        ribo_safetensors_close(st);
    }

    /* model.safetensors wins over an index (here a broken one) */
    const char *both = make_dir("both");
    write_shard(in_dir(both, "model.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                4);
    const char *bad_index = "{\"weight_map\":{\"w\":\"missing.safetensors\"}}";
    CHECK(ribo_test_write_file(in_dir(both, "model.safetensors.index.json"), bad_index, strlen(bad_index)), "index");
    st = NULL;
    s = ribo_safetensors_open_dir(both, &st, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    if (s == RIBO_OK) {
        CHECK(ribo_safetensors_find(st, "w") != NULL, "w missing");
        ribo_safetensors_close(st);
    }

    /* index naming a missing shard file */
    const char *d1 = make_dir("missing_shard");
    write_shard(in_dir(d1, "a.safetensors"), "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    const char *i1 = "{\"weight_map\":{\"x\":\"a.safetensors\",\"q\":\"gone.safetensors\"}}";
    CHECK(ribo_test_write_file(in_dir(d1, "model.safetensors.index.json"), i1, strlen(i1)), "index");
    expect_dir_error(d1, RIBO_ERR_MODEL, "gone.safetensors", "'q'");

    /* index naming a tensor its shard does not hold */
    const char *d2 = make_dir("absent_tensor");
    write_shard(in_dir(d2, "a.safetensors"), "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    const char *i2 = "{\"weight_map\":{\"x\":\"a.safetensors\",\"ghost\":\"a.safetensors\"}}";
    CHECK(ribo_test_write_file(in_dir(d2, "model.safetensors.index.json"), i2, strlen(i2)), "index");
    expect_dir_error(d2, RIBO_ERR_MODEL, "'ghost'", "a.safetensors");

    /* index placing a tensor in the wrong shard */
    const char *d3 = make_dir("wrong_shard");
    write_shard(in_dir(d3, "a.safetensors"), "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    write_shard(in_dir(d3, "b.safetensors"), "{\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    const char *i3 = "{\"weight_map\":{\"x\":\"b.safetensors\",\"y\":\"a.safetensors\"}}";
    CHECK(ribo_test_write_file(in_dir(d3, "model.safetensors.index.json"), i3, strlen(i3)), "index");
    expect_dir_error(d3, RIBO_ERR_MODEL, "model.safetensors.index.json", "'x'");

    /* the same tensor in two shards */
    const char *d4 = make_dir("dup_shard");
    write_shard(in_dir(d4, "a.safetensors"), "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    write_shard(in_dir(d4, "b.safetensors"), "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    const char *i4 = "{\"weight_map\":{\"x\":\"a.safetensors\",\"y\":\"b.safetensors\"}}";
    CHECK(ribo_test_write_file(in_dir(d4, "model.safetensors.index.json"), i4, strlen(i4)), "index");
    expect_dir_error(d4, RIBO_ERR_MODEL, "'x'", "b.safetensors");

    /* shard names escaping the directory */
    const char *d5 = make_dir("escape");
    const char *i5 = "{\"weight_map\":{\"x\":\"../sharded/model-00001-of-00002.safetensors\"}}";
    CHECK(ribo_test_write_file(in_dir(d5, "model.safetensors.index.json"), i5, strlen(i5)), "index");
    expect_dir_error(d5, RIBO_ERR_MODEL, "../sharded", "'x'");
    const char *d6 = make_dir("dotdot");
    const char *i6 = "{\"weight_map\":{\"x\":\"..\"}}";
    CHECK(ribo_test_write_file(in_dir(d6, "model.safetensors.index.json"), i6, strlen(i6)), "index");
    expect_dir_error(d6, RIBO_ERR_MODEL, "model.safetensors.index.json", "'..'");

    /* index that is not JSON / has no weight_map */
    const char *d7 = make_dir("bad_index");
    CHECK(ribo_test_write_file(in_dir(d7, "model.safetensors.index.json"), "{\"weight_map\":", 14), "index");
    expect_dir_error(d7, RIBO_ERR_MODEL, "model.safetensors.index.json", NULL);
    const char *d8 = make_dir("no_weight_map");
    CHECK(ribo_test_write_file(in_dir(d8, "model.safetensors.index.json"), "{\"metadata\":{}}", 15), "index");
    expect_dir_error(d8, RIBO_ERR_MODEL, "weight_map", NULL);

    /* no weights at all, and no directory */
    const char *empty = make_dir("empty_model");
    expect_dir_error(empty, RIBO_ERR_MODEL, "model.safetensors", "model.safetensors.index.json");
    expect_dir_error(ribo_test_tmp("no_such_dir"), RIBO_ERR_IO, "no_such_dir", NULL);
}

/* Each corrupt single file fails with RIBO_ERR_MODEL naming the file (and tensor where there is one). */
static void test_corrupt_files(void) {
    unsigned char zeros[64] = {0};
    const char *p;

    /* truncated: cut in the data section */
    p = ribo_test_tmp("truncated.safetensors");
    write_st(p,
             "{\"esm.embeddings.word_embeddings.weight\":{\"dtype\":\"F32\",\"shape\":[4,4],"
             "\"data_offsets\":[0,64]}}",
             zeros, 40);
    expect_file_error(p, RIBO_ERR_MODEL, "truncated.safetensors", "'esm.embeddings.word_embeddings.weight'");

    /* shorter than the 8-byte length */
    p = ribo_test_tmp("tiny.safetensors");
    ribo_test_write_file(p, "abc", 3);
    expect_file_error(p, RIBO_ERR_MODEL, "tiny.safetensors", NULL);
    p = ribo_test_tmp("zero.safetensors");
    ribo_test_write_file(p, "", 0);
    expect_file_error(p, RIBO_ERR_MODEL, "zero.safetensors", NULL);

    /* header length past EOF */
    p = ribo_test_tmp("hlen.safetensors");
    {
        unsigned char buf[20] = {0xe8, 0x03, 0, 0, 0, 0, 0, 0, '{', '}'};
        ribo_test_write_file(p, buf, sizeof buf);
    }
    expect_file_error(p, RIBO_ERR_MODEL, "hlen.safetensors", "1000");
    p = ribo_test_tmp("hlen_huge.safetensors");
    {
        unsigned char buf[12] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'};
        ribo_test_write_file(p, buf, sizeof buf);
    }
    expect_file_error(p, RIBO_ERR_MODEL, "hlen_huge.safetensors", NULL);

    /* header not JSON / not an object / trailing garbage */
    p = ribo_test_tmp("notjson.safetensors");
    write_st(p, "{\"a\": {\"dtype\": \"F32\", ", zeros, 0);
    expect_file_error(p, RIBO_ERR_MODEL, "notjson.safetensors", "JSON");
    p = ribo_test_tmp("array.safetensors");
    write_st(p, "[1, 2]", zeros, 0);
    expect_file_error(p, RIBO_ERR_MODEL, "array.safetensors", "object");
    p = ribo_test_tmp("trailing.safetensors");
    write_st(p, "{} xyz", zeros, 0);
    expect_file_error(p, RIBO_ERR_MODEL, "trailing.safetensors", NULL);

    /* offsets out of range, begin > end, malformed offsets */
    p = ribo_test_tmp("range.safetensors");
    write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", zeros, 16);
    expect_file_error(p, RIBO_ERR_MODEL, "range.safetensors", "'w'");
    p = ribo_test_tmp("backwards.safetensors");
    write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", zeros, 16);
    expect_file_error(p, RIBO_ERR_MODEL, "backwards.safetensors", "'w'");
    p = ribo_test_tmp("offsets3.safetensors");
    write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", zeros, 16);
    expect_file_error(p, RIBO_ERR_MODEL, "offsets3.safetensors", "'w'");

    /* overlapping tensors */
    p = ribo_test_tmp("overlap.safetensors");
    write_st(p,
             "{\"first\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"second\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
             zeros, 12);
    expect_file_error(p, RIBO_ERR_MODEL, "overlap.safetensors", "'second'");

    /* size mismatch vs shape x dtype */
    p = ribo_test_tmp("size.safetensors");
    write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", zeros, 8);
    expect_file_error(p, RIBO_ERR_MODEL, "size.safetensors", "'w'");
    p = ribo_test_tmp("overflow.safetensors");
    write_st(p,
             "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,8]}}", zeros, 8);
    expect_file_error(p, RIBO_ERR_MODEL, "overflow.safetensors", "'w'");

    /* unknown dtype */
    p = ribo_test_tmp("dtype.safetensors");
    write_st(p, "{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", zeros, 1);
    expect_file_error(p, RIBO_ERR_MODEL, "'w'", "F8_E4M3");

    /* negative / fractional shape, missing fields */
    p = ribo_test_tmp("negshape.safetensors");
    write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", zeros, 4);
    expect_file_error(p, RIBO_ERR_MODEL, "negshape.safetensors", "'w'");
    p = ribo_test_tmp("fracshape.safetensors");
    write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", zeros, 4);
    expect_file_error(p, RIBO_ERR_MODEL, "fracshape.safetensors", "'w'");
    p = ribo_test_tmp("noshape.safetensors");
    write_st(p, "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", zeros, 4);
    expect_file_error(p, RIBO_ERR_MODEL, "noshape.safetensors", "'w'");
    p = ribo_test_tmp("entry.safetensors");
    write_st(p, "{\"w\":5}", zeros, 0);
    expect_file_error(p, RIBO_ERR_MODEL, "entry.safetensors", "'w'");

    /* duplicate key in one header */
    p = ribo_test_tmp("dupkey.safetensors");
    write_st(p,
             "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
             "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
             zeros, 8);
    expect_file_error(p, RIBO_ERR_MODEL, "dupkey.safetensors", "'w'");

    /* missing file: an I/O error */
    expect_file_error(ribo_test_tmp("absent.safetensors"), RIBO_ERR_IO, "absent.safetensors", NULL);
}

/* Checkpoints written by HuggingFace transformers, when the fixtures exist. */
static void test_fixtures(void) {
    const char *a = ribo_test_fixture("esm2_a/model.safetensors");
    if (access(a, R_OK) != 0) {
        fprintf(stderr, "note: %s absent, skipping the esm2_a fixture check\n", a);
    } else {
        ribo_safetensors *st = NULL;
        ribo_error err;
        ribo_error_clear(&err);
        ribo_status s = ribo_safetensors_open_dir(ribo_test_fixture("esm2_a"), &st, &err);
        CHECK_STATUS(s, RIBO_OK, &err);
        if (s == RIBO_OK) {
            const ribo_st_tensor *t = ribo_safetensors_find(st, "esm.embeddings.word_embeddings.weight");
            CHECK(t != NULL, "word embeddings missing");
            if (t) {
                CHECK(t->dtype == RIBO_ST_F32, "dtype %s", t->dtype_name);
                CHECK(t->ndim == 2 && t->shape[0] == 33 && t->shape[1] == 64, "shape [%lld, %lld]",
                      (long long)t->shape[0], (long long)t->shape[1]);
                float *buf = malloc((size_t)t->n_elements * sizeof *buf);
                CHECK(buf != NULL, "malloc");
                if (buf) {
                    CHECK_STATUS(ribo_st_to_f32(t, buf, &err), RIBO_OK, &err);
                    bool finite = true;
                    for (int64_t i = 0; i < t->n_elements; ++i) finite = finite && isfinite(buf[i]);
                    CHECK(finite, "non-finite word embedding");
                    free(buf);
                }
            }
            CHECK(ribo_safetensors_count(st) > 10, "only %zu tensors", ribo_safetensors_count(st));
            ribo_safetensors_close(st);
        }
    }
    const char *c = ribo_test_fixture("esm2_c_sharded");
    struct stat sb;
    if (stat(c, &sb) != 0) {
        fprintf(stderr, "note: %s absent, skipping the sharded fixture check\n", c);
        return;
    }
    ribo_safetensors *st = NULL;
    ribo_error err;
    ribo_error_clear(&err);
    ribo_status s = ribo_safetensors_open_dir(c, &st, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    if (s != RIBO_OK) return;
    size_t n = ribo_safetensors_count(st);
    CHECK(n > 10, "only %zu tensors", n);
    const char *first_file = n ? ribo_safetensors_at(st, 0)->file : NULL;
    bool several = false;
    for (size_t i = 1; i < n; ++i) several = several || strcmp(ribo_safetensors_at(st, i)->file, first_file) != 0;
    CHECK(several, "sharded fixture read from one file only");
    CHECK(first_file && strstr(first_file, "model.safetensors.index.json") == NULL, "file %s", first_file);
    /* saved from EsmModel (no "esm." prefix) or EsmForMaskedLM */
    const ribo_st_tensor *t = ribo_safetensors_find(st, "esm.embeddings.word_embeddings.weight");
    if (!t) t = ribo_safetensors_find(st, "embeddings.word_embeddings.weight");
    CHECK(t != NULL && t->ndim == 2 && t->shape[0] == 33, "word embeddings missing or misshapen");
    ribo_safetensors_close(st);
}

int main(void) {
    test_values();
    test_sharded();
    test_corrupt_files();
    test_fixtures();
    return ribo_test_finish("test_safetensors");
}
