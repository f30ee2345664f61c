/* Whole-model ESM-2 embeddings through the public API against the float64 HuggingFace references
 * (tests/fixtures, made by make_esm2_fixtures.py): pooled mean and cls, per-residue, the sharded
 * old-style checkpoint, packed vs one sequence per batch, no cross-contamination, input order. */
#ifdef RIBO_WITH_HDF5
#include <hdf5.h>
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "embed_check.h"

#define MAX_REL 1e-4      /* the fp32 bound, per sequence */
#define MIN_COS 0.99999
/* Per-residue rows are held tighter: a wrong layer_norm_eps (1e-12 vs 1e-5) moves them ~5e-5 while
 * fp32 rounding stays near 1e-6, so 2e-5 catches config mistakes the pooled bound lets through. */
#define MAX_REL_PER_RESIDUE 2e-5

static const ribo_row_bounds pooled_bounds = {MAX_REL, MIN_COS}, residue_bounds = {MAX_REL_PER_RESIDUE, MIN_COS};

/* fp32 embedding (the default on OpenCL; CUDA defaults to bf16). */
static ribo_status embed(const char *model, const char *const *inputs, int n_inputs, const char *out, ribo_pool pool,
                         int max_batch_seqs, ribo_error *err) {
    return ribo_test_embed(model, inputs, n_inputs, out, pool, RIBO_DTYPE_FP32, max_batch_seqs, err);
}

static void check_against(const char *what, const char *out_npy, const char *ref_name, const char *offsets_name) {
    ribo_test_check_against(what, out_npy, ref_name, offsets_name, offsets_name ? residue_bounds : pooled_bounds);
}

/* The .ids.txt written next to out.npy must equal the fixture id list (input order). */
static void check_ids(const char *out_ids, const char *fixture_ids) {
    char *got = ribo_test_read_file(out_ids, NULL), *want = ribo_test_read_file(ribo_test_fixture(fixture_ids), NULL);
    CHECK(got && want && strcmp(got, want) == 0, "%s differs from %s", out_ids, fixture_ids);
    free(got);
    free(want);
}

static void test_model(const char *model, const char *refs) {
    char model_dir[64], what[128], ref[128], ref2[128];
    snprintf(model_dir, sizeof model_dir, "%s", model);
    const char *dir = ribo_test_fixture(model_dir);
    const char *proteins[] = {ribo_test_fixture("proteins.fasta")};
    const char *shorts[] = {ribo_test_fixture("short.fasta")};
    ribo_error err = {0};

    ribo_status s = embed(dir, proteins, 1, ribo_test_tmp("mean.npy"), RIBO_POOL_DEFAULT, 0, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    snprintf(what, sizeof what, "%s mean", model);
    snprintf(ref, sizeof ref, "%s.ref_mean.npy", refs);
    check_against(what, ribo_test_tmp("mean.npy"), ref, NULL);
    check_ids(ribo_test_tmp("mean.ids.txt"), "proteins.ids.txt");

    s = embed(dir, proteins, 1, ribo_test_tmp("cls.npy"), RIBO_POOL_CLS, 0, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    snprintf(what, sizeof what, "%s cls", model);
    snprintf(ref, sizeof ref, "%s.ref_cls.npy", refs);
    check_against(what, ribo_test_tmp("cls.npy"), ref, NULL);

    s = embed(dir, shorts, 1, ribo_test_tmp("tokens.npy"), RIBO_POOL_NONE, 0, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    snprintf(what, sizeof what, "%s per-residue", model);
    snprintf(ref, sizeof ref, "%s.ref_tokens.npy", refs);
    snprintf(ref2, sizeof ref2, "%s.ref_offsets.npy", refs);
    check_against(what, ribo_test_tmp("tokens.npy"), ref, ref2);
    check_ids(ribo_test_tmp("tokens.ids.txt"), "short.ids.txt");
    /* the offsets file written by ribo equals the reference offsets */
    ribo_npy_array a = {0}, b = {0};
    CHECK(ribo_npy_read(ribo_test_tmp("tokens.offsets.npy"), &a, &err) == RIBO_OK, "%s", err.message);
    CHECK(ribo_npy_read(ribo_test_fixture(ref2), &b, &err) == RIBO_OK, "%s", err.message);
    CHECK(a.n_elements == b.n_elements, "offsets length %zu vs %zu", a.n_elements, b.n_elements);
    for (size_t i = 0; i < a.n_elements && i < b.n_elements; ++i)
        CHECK(ribo_npy_get(&a, i) == ribo_npy_get(&b, i), "offset %zu differs", i);
    ribo_npy_free(&a);
    ribo_npy_free(&b);
}

/* Packed batches give the same embeddings as one sequence per batch. */
static void test_packed_vs_single(void) {
    const char *proteins[] = {ribo_test_fixture("proteins.fasta")};
    ribo_error err = {0};
    CHECK_STATUS(embed(ribo_test_fixture("esm2_b"), proteins, 1, ribo_test_tmp("packed.npy"), RIBO_POOL_MEAN, 0, &err), RIBO_OK, &err);
    CHECK_STATUS(embed(ribo_test_fixture("esm2_b"), proteins, 1, ribo_test_tmp("single.npy"), RIBO_POOL_MEAN, 1, &err), RIBO_OK, &err);
    double d = ribo_test_npy_max_rel_diff(ribo_test_tmp("packed.npy"), ribo_test_tmp("single.npy"));
    CHECK(d <= 1e-6, "packed vs one-at-a-time: max rel diff %g", d);
    fprintf(stderr, "packed vs one-at-a-time: max rel diff %.3g\n", d);
}

/* Changing the residues of one sequence (same length, so the packing is unchanged) changes its
 * embedding and leaves every other row bit-identical. */
static void test_no_cross_contamination(void) {
    size_t n = 0;
    char *text = ribo_test_read_file(ribo_test_fixture("short.fasta"), &n);
    CHECK(text != NULL, "cannot read short.fasta");
    if (!text) return;
    /* mutate residues of the 4th record's first sequence line */
    char *rec = text;
    for (int k = 0; k < 4 && rec; ++k) rec = strchr(rec + 1, '>');
    CHECK(rec != NULL, "short.fasta has fewer than 5 records");
    if (!rec) return free(text);
    char *line = strchr(rec, '\n') + 1;
    int changed = 0;
    for (char *c = line; *c && *c != '\n' && *c != '\r' && changed < 5; ++c)
        if (*c >= 'A' && *c <= 'Z') {
            *c = *c == 'W' ? 'C' : 'W';
            ++changed;
        }
    ribo_test_write_file(ribo_test_tmp("mutated.fasta"), text, n);
    free(text);
    const char *orig[] = {ribo_test_fixture("short.fasta")}, *mut[] = {ribo_test_tmp("mutated.fasta")};
    ribo_error err = {0};
    CHECK_STATUS(embed(ribo_test_fixture("esm2_a"), orig, 1, ribo_test_tmp("orig.npy"), RIBO_POOL_MEAN, 0, &err), RIBO_OK, &err);
    CHECK_STATUS(embed(ribo_test_fixture("esm2_a"), mut, 1, ribo_test_tmp("mut.npy"), RIBO_POOL_MEAN, 0, &err), RIBO_OK, &err);
    ribo_npy_array a = {0}, b = {0};
    if (ribo_npy_read(ribo_test_tmp("orig.npy"), &a, &err) == RIBO_OK && ribo_npy_read(ribo_test_tmp("mut.npy"), &b, &err) == RIBO_OK) {
        size_t D = (size_t)a.shape[1];
        for (size_t r = 0; r < (size_t)a.shape[0]; ++r) {
            bool same = memcmp((float *)a.data + r * D, (float *)b.data + r * D, D * 4) == 0;
            if (r == 4) CHECK(!same, "the mutated sequence's embedding did not change");
            else CHECK(same, "row %zu changed although only row 4's sequence was edited", r);
        }
    }
    ribo_npy_free(&a);
    ribo_npy_free(&b);
}

/* Two input files: rows follow file order, then record order; HDF5 output holds the same rows
 * (built without HDF5: the .h5 output is refused, with one line naming it, and nothing is written). */
static void test_order_and_h5(void) {
    const char *two[] = {ribo_test_fixture("short.fasta"), ribo_test_fixture("proteins.fasta")};
    ribo_error err = {0};
    CHECK_STATUS(embed(ribo_test_fixture("esm2_a"), two, 2, ribo_test_tmp("two.npy"), RIBO_POOL_MEAN, 0, &err), RIBO_OK, &err);
#ifdef RIBO_WITH_HDF5
    CHECK_STATUS(embed(ribo_test_fixture("esm2_a"), two, 2, ribo_test_tmp("two.h5"), RIBO_POOL_MEAN, 0, &err), RIBO_OK, &err);
#else
    CHECK_STATUS(embed(ribo_test_fixture("esm2_a"), two, 2, ribo_test_tmp("two.h5"), RIBO_POOL_MEAN, 0, &err),
                 RIBO_ERR_UNSUPPORTED, &err);
    CHECK_MESSAGE(&err, "two.h5");
    CHECK_MESSAGE(&err, "this ribo was built without HDF5 support; use .npy or rebuild with libhdf5-dev");
    char *h5 = ribo_test_read_file(ribo_test_tmp("two.h5"), NULL);
    CHECK(h5 == NULL, "two.h5 written without HDF5");
    free(h5);
#endif
    ribo_npy_array all = {0}, ref = {0};
    CHECK(ribo_npy_read(ribo_test_tmp("two.npy"), &all, &err) == RIBO_OK, "%s", err.message);
    CHECK(ribo_npy_read(ribo_test_fixture("esm2_a.ref_mean.npy"), &ref, &err) == RIBO_OK, "%s", err.message);
    if (!all.data || !ref.data) return;
    size_t D = (size_t)ref.shape[1], n_short = (size_t)all.shape[0] - (size_t)ref.shape[0];
    CHECK(n_short == 12, "expected 12 short records first, got %zu", n_short);
    ribo_npy_array tail = ref;
    tail.data = (float *)all.data + n_short * D;
    strcpy(tail.descr, "<f4");
    tail.n_elements = ref.n_elements;
    ribo_test_compare_rows("two inputs: rows of the second file", &tail, &ref, NULL, pooled_bounds);
#ifdef RIBO_WITH_HDF5
    /* HDF5: embeddings dataset equals the npy rows */
    hid_t f = H5Fopen(ribo_test_tmp("two.h5"), H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0, "cannot open two.h5");
    if (f >= 0) {
        hid_t d = H5Dopen2(f, "embeddings", H5P_DEFAULT);
        float *buf = malloc(all.n_elements * 4);
        CHECK(d >= 0 && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0, "reading embeddings");
        CHECK(memcmp(buf, all.data, all.n_elements * 4) == 0, "h5 embeddings differ from npy rows");
        free(buf);
        if (d >= 0) H5Dclose(d);
        H5Fclose(f);
    }
#endif
    ribo_npy_free(&all);
    ribo_npy_free(&ref);
}

int main(void) {
    ribo_device *dev;
    ribo_stream *st;
    ribo_test_open_device(&dev, &st); /* skips cleanly without a device */
    ribo_test_close_device(dev, st);
    test_model("esm2_a", "esm2_a");
    test_model("esm2_b", "esm2_b");
    test_model("esm2_c_sharded", "esm2_a");
    test_packed_vs_single();
    test_no_cross_contamination();
    test_order_and_h5();
    return ribo_test_finish("test_esm2_model");
}
