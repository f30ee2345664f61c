/* Whole-model test helpers (see embed_check.h). */
#include "embed_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

ribo_status ribo_test_embed(const char *model_dir, const char *const *inputs, int n_inputs, const char *out,
                            ribo_pool pool, ribo_dtype dtype, int max_batch_seqs, ribo_error *err) {
    ribo_embed_options o;
    ribo_embed_options_init(&o);
    o.model_dir = model_dir;
    o.inputs = inputs;
    o.n_inputs = n_inputs;
    o.output = out;
    o.pool = pool;
    o.dtype = dtype;
    o.max_batch_seqs = max_batch_seqs;
    o.quiet = true;
    const char *backend = getenv("RIBO_TEST_BACKEND");
    if (backend && *backend) o.backend = backend;
    ribo_embed_summary sum;
    return ribo_embed(&o, &sum, err);
}

bool ribo_test_supports_dtype(ribo_dtype dtype) {
    ribo_device *dev = NULL;
    ribo_error err = {0};
    ribo_storage st = dtype == RIBO_DTYPE_FP16 ? RIBO_STORAGE_F16 : dtype == RIBO_DTYPE_BF16 ? RIBO_STORAGE_BF16
                                                                                               : RIBO_STORAGE_F32;
    if (ribo_backend_open(ribo_test_backend(), 0, st, &dev, NULL, &err) != RIBO_OK) {
        /* a device that says it stores the type (or does not open at all) while RIBO_TEST_BACKEND
         * names its backend is a failure, not a dtype to skip */
        if (!ribo_test_storage_refusal_expected(st, &err)) exit(1);
        fprintf(stderr, "note: %s\n", err.message);
        return false;
    }
    dev->iface->destroy(dev);
    return true;
}

void ribo_test_compare_rows(const char *what, const ribo_npy_array *got, const ribo_npy_array *ref,
                            const ribo_npy_array *offsets, ribo_row_bounds bounds) {
    CHECK(got->ndim == 2 && ref->ndim == 2 && got->shape[0] == ref->shape[0] && got->shape[1] == ref->shape[1],
          "%s: shape [%lld, %lld] vs reference [%lld, %lld]", what, (long long)got->shape[0], (long long)got->shape[1],
          (long long)ref->shape[0], (long long)ref->shape[1]);
    if (got->ndim != 2 || got->shape[0] != ref->shape[0] || got->shape[1] != ref->shape[1]) return;
    size_t D = (size_t)ref->shape[1];
    size_t n_groups = offsets ? offsets->n_elements - 1 : (size_t)ref->shape[0];
    double worst_rel = 0, worst_cos = 1;
    for (size_t g = 0; g < n_groups; ++g) {
        size_t r0 = offsets ? (size_t)ribo_npy_get(offsets, g) : g;
        size_t r1 = offsets ? (size_t)ribo_npy_get(offsets, g + 1) : g + 1;
        double num = 0, den = 0, dot = 0, na = 0;
        for (size_t i = r0 * D; i < r1 * D; ++i) {
            double a = ribo_npy_get(got, i), r = ribo_npy_get(ref, i);
            num += (a - r) * (a - r);
            den += r * r;
            dot += a * r;
            na += a * a;
        }
        double rel = sqrt(num / den), cosv = dot / sqrt(na * den);
        if (!(rel <= worst_rel)) worst_rel = rel;
        if (!(cosv >= worst_cos)) worst_cos = cosv;
        CHECK(rel <= bounds.max_rel && cosv >= bounds.min_cos, "%s: sequence %zu rel err %.3g cosine %.8f", what, g, rel,
              cosv);
    }
    fprintf(stderr, "%s: %zu sequences, worst rel err %.3g, worst cosine %.9f\n", what, n_groups, worst_rel, worst_cos);
}

void ribo_test_check_against(const char *what, const char *out_npy, const char *ref_name, const char *offsets_name,
                             ribo_row_bounds bounds) {
    ribo_npy_array got = {0}, ref = {0}, off = {0};
    ribo_error err = {0};
    CHECK(ribo_npy_read(out_npy, &got, &err) == RIBO_OK, "%s: %s", what, err.message);
    CHECK(ribo_npy_read(ribo_test_fixture(ref_name), &ref, &err) == RIBO_OK, "%s: %s", what, err.message);
    if (offsets_name) CHECK(ribo_npy_read(ribo_test_fixture(offsets_name), &off, &err) == RIBO_OK, "%s", err.message);
    if (got.data && ref.data && (!offsets_name || off.data)) ribo_test_compare_rows(what, &got, &ref, offsets_name ? &off : NULL, bounds);
    ribo_npy_free(&got);
    ribo_npy_free(&ref);
    ribo_npy_free(&off);
}

double ribo_test_npy_max_rel_diff(const char *p1, const char *p2) {
    ribo_npy_array a = {0}, b = {0};
    ribo_error err = {0};
    double worst = INFINITY;
    if (ribo_npy_read(p1, &a, &err) == RIBO_OK && ribo_npy_read(p2, &b, &err) == RIBO_OK && a.n_elements == b.n_elements)
        worst = ribo_test_max_row_rel_err(a.data, b.data, (size_t)a.shape[0], (size_t)a.shape[1]);
    ribo_npy_free(&a);
    ribo_npy_free(&b);
    return worst;
}
