/* ESM-2 embeddings with fp16 / bf16 storage (fp32 arithmetic) against the float64 references:
 * per sequence cosine >= 0.9999 (fp16) / 0.999 (bf16). Skips on devices that cannot store those
 * types (the OpenCL backend is fp32-only). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "embed_check.h"

/* Embeds `fasta` with dtype and compares each row (or residue block) to the reference by cosine. */
static void check(const char *model, const char *fasta, ribo_pool pool, const char *ref_name, const char *offsets_name,
                  ribo_dtype dtype, double min_cos) {
    const char *inputs[] = {ribo_test_fixture(fasta)};
    char out[1024], what[160];
    snprintf(out, sizeof out, "%s", ribo_test_tmp("reduced.npy"));
    ribo_error err = {0};
    ribo_status s = ribo_test_embed(ribo_test_fixture(model), inputs, 1, out, pool, dtype, 0, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    if (s != RIBO_OK) return;
    snprintf(what, sizeof what, "%s %s %s", model, ref_name, dtype == RIBO_DTYPE_FP16 ? "fp16" : "bf16");
    ribo_row_bounds bounds = {INFINITY, min_cos}; /* judged by cosine; the relative error is printed */
    ribo_test_check_against(what, out, ref_name, offsets_name, bounds);
}

int main(void) {
    const ribo_dtype dtypes[] = {RIBO_DTYPE_FP16, RIBO_DTYPE_BF16};
    const double min_cos[] = {0.9999, 0.999};
    int ran = 0;
    for (int d = 0; d < 2; ++d) {
        if (!ribo_test_supports_dtype(dtypes[d])) continue;
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
