/* ESM-2 embeddings with fp16 / bf16 storage (fp32 arithmetic) against the float64 references:
 * per sequence cosine >= 0.9999 (fp16) / 0.999 (bf16). Skips on devices that cannot store those
 * types (the OpenCL backend is fp32-only). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/npy.h"
#include "test_util.h"

static bool supports(ribo_dtype dtype) {
    ribo_device *dev = NULL;
    ribo_error err = {0};
    const char *backend = getenv("RIBO_TEST_BACKEND");
    ribo_storage st = dtype == RIBO_DTYPE_FP16 ? RIBO_STORAGE_F16 : RIBO_STORAGE_BF16;
    if (ribo_backend_open(backend ? backend : "auto", 0, st, &dev, NULL, &err) != RIBO_OK) {
        fprintf(stderr, "note: %s\n", err.message);
        return false;
    }
    dev->iface->destroy(dev);
    return true;
}

/* Embeds `fasta` with dtype and compares each row (or residue block) to the reference. */
static void check(const char *model, const char *fasta, ribo_pool pool, const char *ref_name, const char *offsets_name,
                  ribo_dtype dtype, double min_cos) {
    const char *inputs[] = {ribo_test_fixture(fasta)};
    char out[1024];
    snprintf(out, sizeof out, "%s", ribo_test_tmp("reduced.npy"));
    ribo_embed_options o;
    ribo_embed_options_init(&o);
    o.model_dir = ribo_test_fixture(model);
    o.inputs = inputs;
    o.n_inputs = 1;
    o.output = out;
    o.pool = pool;
    o.dtype = dtype;
    o.quiet = true;
    const char *backend = getenv("RIBO_TEST_BACKEND");
    if (backend) o.backend = backend;
    ribo_error err = {0};
    ribo_embed_summary sum;
    ribo_status s = ribo_embed(&o, &sum, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    if (s != RIBO_OK) return;
    ribo_npy_array got = {0}, ref = {0}, off = {0};
    CHECK(ribo_npy_read(out, &got, &err) == RIBO_OK, "%s", err.message);
    CHECK(ribo_npy_read(ribo_test_fixture(ref_name), &ref, &err) == RIBO_OK, "%s", err.message);
    if (offsets_name) CHECK(ribo_npy_read(ribo_test_fixture(offsets_name), &off, &err) == RIBO_OK, "%s", err.message);
    if (got.data && ref.data && got.n_elements == ref.n_elements) {
        size_t D = (size_t)ref.shape[1], n = offsets_name ? off.n_elements - 1 : (size_t)ref.shape[0];
        double worst_cos = 1, worst_rel = 0;
        for (size_t g = 0; g < n; ++g) {
            size_t r0 = offsets_name ? (size_t)ribo_npy_get(&off, g) : g, r1 = offsets_name ? (size_t)ribo_npy_get(&off, g + 1) : g + 1;
            double dot = 0, na = 0, nr = 0, diff = 0;
            for (size_t i = r0 * D; i < r1 * D; ++i) {
                double a = ribo_npy_get(&got, i), r = ribo_npy_get(&ref, i);
                dot += a * r;
                na += a * a;
                nr += r * r;
                diff += (a - r) * (a - r);
            }
            double c = dot / sqrt(na * nr), rel = sqrt(diff / nr);
            if (!(c >= worst_cos)) worst_cos = c;
            if (!(rel <= worst_rel)) worst_rel = rel;
            CHECK(c >= min_cos, "%s %s dtype %d: sequence %zu cosine %.6f < %.4f", model, ref_name, (int)dtype, g, c, min_cos);
        }
        fprintf(stderr, "%s %-22s %s: worst cosine %.7f, worst rel err %.3g (%zu sequences)\n", model, ref_name,
                dtype == RIBO_DTYPE_FP16 ? "fp16" : "bf16", worst_cos, worst_rel, n);
    } else
        CHECK(false, "%s: output has %zu values, reference %zu", ref_name, got.n_elements, ref.n_elements);
    ribo_npy_free(&got);
    ribo_npy_free(&ref);
    ribo_npy_free(&off);
}

int main(void) {
    const ribo_dtype dtypes[] = {RIBO_DTYPE_FP16, RIBO_DTYPE_BF16};
    const double min_cos[] = {0.9999, 0.999};
    int ran = 0;
    for (int d = 0; d < 2; ++d) {
        if (!supports(dtypes[d])) continue;
        ++ran;
        const char *models[] = {"esm2_a", "esm2_b"};
        for (int m = 0; m < 2; ++m) {
            char mean[64], cls[64], tok[64], off[64];
            snprintf(mean, sizeof mean, "%s.ref_mean.npy", models[m]);
            snprintf(cls, sizeof cls, "%s.ref_cls.npy", models[m]);
            snprintf(tok, sizeof tok, "%s.ref_tokens.npy", models[m]);
            snprintf(off, sizeof off, "%s.ref_offsets.npy", models[m]);
            check(models[m], "proteins.fasta", RIBO_POOL_MEAN, mean, NULL, dtypes[d], min_cos[d]);
            check(models[m], "proteins.fasta", RIBO_POOL_CLS, cls, NULL, dtypes[d], min_cos[d]);
            check(models[m], "short.fasta", RIBO_POOL_NONE, tok, off, dtypes[d], min_cos[d]);
        }
    }
    if (!ran) {
        fprintf(stderr, "SKIPPED: no device with fp16/bf16 storage (the OpenCL backend runs fp32 only)\n");
        return RIBO_TEST_SKIP;
    }
    return ribo_test_finish("test_esm2_reduced");
}
