/* The HIP backend's rocBLAS path without a GPU: backends/hip/hip_blas.c (loader + the row-major ->
 * column-major mapping of ribo's linear layer onto rocblas_gemm_ex) against the mock librocblas.so of
 * tests/mock_rocblas.c, which computes gemm_ex on the CPU. Compared with a row-major double
 * reference computed here for several shapes (1 and odd sizes), fp32/fp16/bf16, with and without the
 * residual (beta 1, C separate or C = y); then the loader's failure messages (a missing library, a
 * library without rocblas_gemm_ex) and the error mapping of a failing call. */
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backends/hip/hip_blas.h"
#include "mock_rocblas.h"
#include "test_util.h"

/* Exactly representable test values, -2 .. 2 in steps of 1/8 (exact in fp16 and bf16; their products
 * and sums stay exact in fp32, so a result differs from the reference by its output rounding only). */
static uint32_t rng = 12345u;
static float next_value(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)((int)((rng >> 16) % 33u) - 16) / 8.0f;
}

/* Encoders of exactly representable normal values and decoders (written apart from the mock's). */
static uint16_t enc16(float v, bool bf) {
    if (v == 0.0f) return 0;
    int e;
    const double fr = frexp(fabs((double)v), &e); /* |v| = fr * 2^e, fr in [0.5, 1) */
    const int mant_bits = bf ? 7 : 10, bias = bf ? 127 : 15;
    const double mant = (fr * 2.0 - 1.0) * (double)(1 << mant_bits);
    return (uint16_t)((v < 0 ? 0x8000u : 0u) | ((unsigned)(e - 1 + bias) << mant_bits) | (unsigned)mant);
}

static double dec16(uint16_t h, bool bf) {
    const int mant_bits = bf ? 7 : 10, exp_bits = bf ? 8 : 5, bias = bf ? 127 : 15;
    const unsigned e = (h >> mant_bits) & ((1u << exp_bits) - 1u), m = h & ((1u << mant_bits) - 1u);
    const double s = (h & 0x8000u) ? -1.0 : 1.0;
    if (e == (1u << exp_bits) - 1u) return m ? NAN : s * INFINITY;
    if (!e) return s * ldexp((double)m, 1 - bias - mant_bits);
    return s * ldexp((double)(m + (1u << mant_bits)), (int)e - bias - mant_bits);
}

static size_t elem_size(ribo_storage st) { return st == RIBO_STORAGE_F32 ? 4 : 2; }

static void put(void *p, ribo_storage st, size_t i, float v) {
    if (st == RIBO_STORAGE_F32) ((float *)p)[i] = v;
    else ((uint16_t *)p)[i] = enc16(v, st == RIBO_STORAGE_BF16);
}

static double get(const void *p, ribo_storage st, size_t i) {
    if (st == RIBO_STORAGE_F32) return ((const float *)p)[i];
    return dec16(((const uint16_t *)p)[i], st == RIBO_STORAGE_BF16);
}

/* a NaN of the storage type: what beta 0 must never read */
static void put_nan(void *p, ribo_storage st, size_t i) {
    if (st == RIBO_STORAGE_F32) ((float *)p)[i] = NAN;
    else ((uint16_t *)p)[i] = st == RIBO_STORAGE_BF16 ? 0x7fc0u : 0x7e00u;
}

static const char *storage_name(ribo_storage st) {
    return st == RIBO_STORAGE_F32 ? "f32" : st == RIBO_STORAGE_F16 ? "f16" : "bf16";
}

typedef enum residual_mode { RES_NONE = 0, RES_SEPARATE, RES_IN_Y } residual_mode;

/* One linear call through the mock, compared with y_ref[i, j] = sum_l x[i, l] w[j, l] (+ r[i, j]). */
static void check_linear(const ribo_hip_blas_lib *lib, rocblas_handle h, rocblas_mock_get_stats_fn *get_stats, int m,
                         int n, int k, ribo_storage st, residual_mode res) {
    const size_t es = elem_size(st);
    void *x = malloc((size_t)m * k * es), *w = malloc((size_t)n * k * es), *r = malloc((size_t)m * n * es),
         *y = malloc((size_t)m * n * es);
    double *ref = malloc((size_t)m * n * sizeof *ref);
    float *xf = malloc((size_t)m * k * sizeof *xf), *wf = malloc((size_t)n * k * sizeof *wf);
    for (size_t i = 0; i < (size_t)m * k; ++i) put(x, st, i, xf[i] = next_value());
    for (size_t i = 0; i < (size_t)n * k; ++i) put(w, st, i, wf[i] = next_value());
    for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
            double acc = 0.0;
            for (int l = 0; l < k; ++l) acc += (double)xf[(size_t)i * k + l] * wf[(size_t)j * k + l];
            const size_t o = (size_t)i * n + j;
            const float rv = next_value();
            put(r, st, o, rv);
            if (res == RES_IN_Y) put(y, st, o, rv);
            else put_nan(y, st, o);
            ref[o] = acc + (res != RES_NONE ? rv : 0.0);
        }
    ribo_hip_blas_linear_args a = {.x = x, .w = w, .c = res == RES_SEPARATE ? r : res == RES_IN_Y ? y : NULL,
                                   .y = y, .m = m, .n = n, .k = k, .storage = st};
    static uintptr_t stream_id = 0x1000;
    const ribo_rocblas_stream stream = (ribo_rocblas_stream)(stream_id += 0x10);
    rocblas_mock_stats before, after;
    get_stats(&before);
    ribo_error err = {0};
    ribo_status s = ribo_hip_blas_linear(lib, h, stream, &a, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    get_stats(&after);
    CHECK(after.last_gemm_atomics == rocblas_atomics_not_allowed, "the GEMM ran with rocBLAS atomics allowed");
    CHECK(after.gemm_calls == before.gemm_calls + 1 && after.last_gemm_stream == stream,
          "gemm ran on stream %p (want %p), calls %d -> %d", (void *)after.last_gemm_stream, (void *)stream,
          before.gemm_calls, after.gemm_calls);
    const double rel = st == RIBO_STORAGE_BF16 ? 1.0 / 256 : st == RIBO_STORAGE_F16 ? 1.0 / 2048 : 1e-6;
    int bad = 0;
    for (size_t o = 0; o < (size_t)m * n && s == RIBO_OK; ++o) {
        const double got = get(y, st, o);
        if (!(fabs(got - ref[o]) <= rel * fabs(ref[o]) + 1e-6)) {
            if (bad++ < 3)
                CHECK(false, "M=%d N=%d K=%d %s residual %d: y[%zu, %zu] = %g, want %g", m, n, k, storage_name(st),
                      (int)res, o / (size_t)n, o % (size_t)n, got, ref[o]);
        }
    }
    if (bad > 3) CHECK(false, "M=%d N=%d K=%d %s residual %d: %d elements wrong", m, n, k, storage_name(st), (int)res, bad);
    free(x);
    free(w);
    free(r);
    free(y);
    free(ref);
    free(xf);
    free(wf);
}

static void test_linear_shapes(void) {
    setenv("RIBO_ROCBLAS_LIBRARY", RIBO_MOCK_ROCBLAS_PATH, 1);
    ribo_hip_blas_lib lib;
    ribo_error err = {0};
    ribo_status s = ribo_hip_blas_load(&lib, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    if (s != RIBO_OK) return;
    CHECK(!strcmp(lib.path, RIBO_MOCK_ROCBLAS_PATH), "loaded '%s'", lib.path);
    /* the same mapping (dlopen counts references): the mock's statistics */
    void *self = dlopen(RIBO_MOCK_ROCBLAS_PATH, RTLD_NOW | RTLD_LOCAL);
    rocblas_mock_get_stats_fn *get_stats = NULL;
    void *sym = self ? dlsym(self, "rocblas_mock_get_stats") : NULL;
    memcpy(&get_stats, &sym, sizeof sym);
    CHECK(get_stats != NULL, "mock without rocblas_mock_get_stats: %s", dlerror());
    rocblas_handle h = NULL;
    CHECK(lib.set_atomics_mode != NULL, "rocblas_set_atomics_mode not resolved");
    CHECK_STATUS(ribo_hip_blas_create_handle(&lib, &h, &err), RIBO_OK, &err);
    static const int shapes[][3] = {{1, 1, 1}, {1, 7, 3}, {5, 1, 9}, {3, 5, 1}, {3, 5, 7},
                                    {17, 13, 33}, {2, 64, 31}, {40, 24, 48}, {9, 33, 16}};
    static const ribo_storage storages[] = {RIBO_STORAGE_F32, RIBO_STORAGE_F16, RIBO_STORAGE_BF16};
    for (size_t i = 0; get_stats && h && i < sizeof shapes / sizeof shapes[0]; ++i)
        for (size_t t = 0; t < 3; ++t)
            for (int res = RES_NONE; res <= RES_IN_Y; ++res)
                check_linear(&lib, h, get_stats, shapes[i][0], shapes[i][1], shapes[i][2], storages[t], (residual_mode)res);

    /* a refused call: the error names the call, its shape and rocBLAS's status string */
    float one = 1.0f, out = 0.0f;
    ribo_hip_blas_linear_args bad = {.x = &one, .w = &one, .y = &out, .m = -1, .n = 2, .k = 3, .storage = RIBO_STORAGE_F32};
    ribo_error e2 = {0};
    s = ribo_hip_blas_linear(&lib, h, NULL, &bad, &e2);
    CHECK_STATUS(s, RIBO_ERR_DEVICE, &e2);
    CHECK_MESSAGE(&e2, "rocblas_gemm_ex (M=-1, N=2, K=3)");
    CHECK_MESSAGE(&e2, "rocblas_status_invalid_size");
    /* no handle: rocblas_set_stream refuses first */
    ribo_error e3 = {0};
    s = ribo_hip_blas_linear(&lib, NULL, NULL, &bad, &e3);
    CHECK_STATUS(s, RIBO_ERR_DEVICE, &e3);
    CHECK_MESSAGE(&e3, "rocblas_set_stream");
    CHECK_MESSAGE(&e3, "rocblas_status_invalid_handle");

    if (h) CHECK(lib.destroy_handle(h) == rocblas_status_success, "destroy_handle failed");
    if (self) dlclose(self);
    ribo_hip_blas_unload(&lib);
    CHECK(lib.dl == NULL && lib.gemm_ex == NULL, "unload left the library");
    ribo_hip_blas_unload(&lib); /* idempotent */
}

static void test_load_failures(void) {
    ribo_hip_blas_lib lib;
    ribo_error err = {0};
    /* a library that is not there */
    setenv("RIBO_ROCBLAS_LIBRARY", "/nonexistent/ribo-test/librocblas.so", 1);
    ribo_status s = ribo_hip_blas_load(&lib, &err);
    CHECK_STATUS(s, RIBO_ERR_UNSUPPORTED, &err);
    CHECK_MESSAGE(&err, "/nonexistent/ribo-test/librocblas.so");
    CHECK_MESSAGE(&err, "install rocBLAS (ROCm's rocblas package) or set RIBO_ROCBLAS_LIBRARY");
    CHECK(lib.dl == NULL, "a failed load left a handle");

    /* a library without rocblas_gemm_ex */
    ribo_error e2 = {0};
    setenv("RIBO_ROCBLAS_LIBRARY", RIBO_MOCK_ROCBLAS_NOGEMM_PATH, 1);
    s = ribo_hip_blas_load(&lib, &e2);
    CHECK_STATUS(s, RIBO_ERR_UNSUPPORTED, &e2);
    CHECK_MESSAGE(&e2, "rocblas_gemm_ex");
    CHECK_MESSAGE(&e2, RIBO_MOCK_ROCBLAS_NOGEMM_PATH);
    CHECK_MESSAGE(&e2, "install rocBLAS");
    CHECK(lib.dl == NULL && lib.create_handle == NULL, "a failed load left a handle");

    /* a library of another HIP runtime (its own hipGetDeviceCount) */
    ribo_error e4 = {0};
    setenv("RIBO_ROCBLAS_LIBRARY", RIBO_MOCK_ROCBLAS_OTHERHIP_PATH, 1);
    s = ribo_hip_blas_load(&lib, &e4);
    CHECK_STATUS(s, RIBO_ERR_UNSUPPORTED, &e4);
    CHECK_MESSAGE(&e4, RIBO_MOCK_ROCBLAS_OTHERHIP_PATH);
    CHECK_MESSAGE(&e4, "uses the HIP runtime");
    CHECK(lib.dl == NULL && lib.create_handle == NULL, "a refused load left a handle");

    /* the default search: every candidate named (unless this machine has a real rocBLAS) */
    unsetenv("RIBO_ROCBLAS_LIBRARY");
    setenv("ROCM_PATH", "/nonexistent/ribo-rocm", 1);
    ribo_error e3 = {0};
    s = ribo_hip_blas_load(&lib, &e3);
    if (s == RIBO_OK) {
        fprintf(stderr, "test_hip_blas: a real rocBLAS is installed (%s); default-search failure not checked\n", lib.path);
        ribo_hip_blas_unload(&lib);
    } else {
        CHECK_STATUS(s, RIBO_ERR_UNSUPPORTED, &e3);
        CHECK_MESSAGE(&e3, "librocblas.so.5");
        CHECK_MESSAGE(&e3, "librocblas.so.4");
        CHECK_MESSAGE(&e3, "/nonexistent/ribo-rocm/lib/librocblas.so.5");
        CHECK_MESSAGE(&e3, "/nonexistent/ribo-rocm/lib/librocblas.so");
        CHECK_MESSAGE(&e3, "/opt/rocm/lib/librocblas.so");
        CHECK_MESSAGE(&e3, "install rocBLAS");
    }
    unsetenv("ROCM_PATH");
}

int main(void) {
    test_linear_shapes();
    test_load_failures();
    return ribo_test_finish("test_hip_blas");
}
