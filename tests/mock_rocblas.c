/* A mock librocblas.so for tests/test_hip_blas.c: rocblas_gemm_ex computed on the CPU, honestly
 * column-major (transposes, lda/ldb/ldc/ldd, alpha/beta, f16/bf16/f32 from their raw bits, fp32
 * accumulation as compute type f32), with rocBLAS's argument checks (an inconsistent leading
 * dimension is rocblas_status_invalid_size). "Device" pointers are host pointers here. Built twice
 * (tests/CMakeLists.txt): rocblas_mock, and rocblas_mock_nogemm with RIBO_MOCK_NO_GEMM (no
 * rocblas_gemm_ex, for the loader's missing-symbol path), and rocblas_mock_otherhip with
 * RIBO_MOCK_OTHER_HIP (a hipGetDeviceCount of its own: a rocBLAS of another HIP runtime). */
#include "mock_rocblas.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MOCK_HANDLE_MAGIC 0x524f4342u /* "ROCB" */

struct _rocblas_handle {
    uint32_t magic;
    ribo_rocblas_stream stream;
    rocblas_atomics_mode atomics;
};

/* what the test inspects (rocblas_mock_get_stats); the mock is single-threaded test code */
static rocblas_mock_stats stats;

void rocblas_mock_get_stats(rocblas_mock_stats *out) { *out = stats; }

rocblas_status rocblas_create_handle(rocblas_handle *handle) {
    if (!handle) return rocblas_status_invalid_pointer;
    rocblas_handle h = calloc(1, sizeof *h);
    if (!h) return rocblas_status_memory_error;
    h->magic = MOCK_HANDLE_MAGIC;
    h->atomics = rocblas_atomics_allowed; /* rocBLAS < 4's default */
    *handle = h;
    return rocblas_status_success;
}

rocblas_status rocblas_destroy_handle(rocblas_handle handle) {
    if (!handle || handle->magic != MOCK_HANDLE_MAGIC) return rocblas_status_invalid_handle;
    handle->magic = 0;
    free(handle);
    return rocblas_status_success;
}

rocblas_status rocblas_set_stream(rocblas_handle handle, ribo_rocblas_stream stream) {
    if (!handle || handle->magic != MOCK_HANDLE_MAGIC) return rocblas_status_invalid_handle;
    handle->stream = stream;
    return rocblas_status_success;
}

rocblas_status rocblas_set_atomics_mode(rocblas_handle handle, rocblas_atomics_mode mode) {
    if (!handle || handle->magic != MOCK_HANDLE_MAGIC) return rocblas_status_invalid_handle;
    if (mode != rocblas_atomics_allowed && mode != rocblas_atomics_not_allowed) return rocblas_status_invalid_value;
    handle->atomics = mode;
    return rocblas_status_success;
}

#ifdef RIBO_MOCK_OTHER_HIP
int hipGetDeviceCount(int *count) {
    *count = 0;
    return 100; /* hipErrorNoDevice */
}
#endif

const char *rocblas_status_to_string(rocblas_status status) {
    switch (status) {
    case rocblas_status_success: return "rocblas_status_success";
    case rocblas_status_invalid_handle: return "rocblas_status_invalid_handle";
    case rocblas_status_not_implemented: return "rocblas_status_not_implemented";
    case rocblas_status_invalid_pointer: return "rocblas_status_invalid_pointer";
    case rocblas_status_invalid_size: return "rocblas_status_invalid_size";
    case rocblas_status_memory_error: return "rocblas_status_memory_error";
    case rocblas_status_internal_error: return "rocblas_status_internal_error";
    case rocblas_status_invalid_value: return "rocblas_status_invalid_value";
    default: return "<undefined rocblas_status>";
    }
}

#ifndef RIBO_MOCK_NO_GEMM

/* IEEE binary16 bits -> float (subnormals, inf, NaN). */
static float f16_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    uint32_t u;
    if (exp == 0x1f) u = sign | 0x7f800000u | (man << 13);
    else if (exp) u = sign | ((exp + 112u) << 23) | (man << 13);
    else if (!man) u = sign;
    else {
        int e = -1;
        uint32_t m = man;
        do {
            m <<= 1;
            ++e;
        } while (!(m & 0x400u));
        u = sign | ((uint32_t)(112 - e) << 23) | ((m & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* float -> binary16 bits, round to nearest even (through the exact value: |f| < 65520 is finite). */
static uint16_t float_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);
    const float a = fabsf(f);
    if (a >= 65520.0f) return (uint16_t)(sign | 0x7c00u);
    if (a < 6.103515625e-05f) /* subnormal range: multiples of 2^-24 */
        return (uint16_t)(sign | (uint16_t)nearbyintf(a * 16777216.0f));
    int e;
    (void)frexpf(a, &e);                       /* a = m * 2^e, m in [0.5, 1) */
    const float q = ldexpf(1.0f, e - 11);      /* the spacing of binary16 at a */
    const float r = nearbyintf(a / q) * q;     /* default rounding mode: ties to even */
    (void)frexpf(r, &e);
    const float m = r / ldexpf(1.0f, e - 1);   /* [1, 2) */
    return (uint16_t)(sign | (uint16_t)((e - 1 + 15) << 10) | (uint16_t)nearbyintf((m - 1.0f) * 1024.0f));
}

static float bf16_to_float(uint16_t b) {
    const uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint16_t float_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static float load(const void *p, rocblas_datatype t, size_t i) {
    if (t == rocblas_datatype_f32_r) return ((const float *)p)[i];
    const uint16_t bits = ((const uint16_t *)p)[i];
    return t == rocblas_datatype_f16_r ? f16_to_float(bits) : bf16_to_float(bits);
}

static void store(void *p, rocblas_datatype t, size_t i, float v) {
    if (t == rocblas_datatype_f32_r) ((float *)p)[i] = v;
    else ((uint16_t *)p)[i] = t == rocblas_datatype_f16_r ? float_to_f16(v) : float_to_bf16(v);
}

static bool real_type(rocblas_datatype t) {
    return t == rocblas_datatype_f16_r || t == rocblas_datatype_bf16_r || t == rocblas_datatype_f32_r;
}

static bool operation(rocblas_operation op) {
    return op == rocblas_operation_none || op == rocblas_operation_transpose || op == rocblas_operation_conjugate_transpose;
}

/* D = alpha * op(A) * op(B) + beta * C, all column-major; element (i, j) of an ld-matrix at i + j*ld. */
rocblas_status rocblas_gemm_ex(rocblas_handle handle, rocblas_operation trans_a, rocblas_operation trans_b, rocblas_int m,
                               rocblas_int n, rocblas_int k, const void *alpha, const void *a, rocblas_datatype a_type,
                               rocblas_int lda, const void *b, rocblas_datatype b_type, rocblas_int ldb, const void *beta,
                               const void *c, rocblas_datatype c_type, rocblas_int ldc, void *d, rocblas_datatype d_type,
                               rocblas_int ldd, rocblas_datatype compute_type, rocblas_gemm_algo algo,
                               int32_t solution_index, uint32_t flags) {
    (void)solution_index;
    (void)flags;
    if (!handle || handle->magic != MOCK_HANDLE_MAGIC) return rocblas_status_invalid_handle;
    if (!operation(trans_a) || !operation(trans_b)) return rocblas_status_invalid_value;
    if (algo != rocblas_gemm_algo_standard && algo != rocblas_gemm_algo_solution_index) return rocblas_status_invalid_value;
    if (m < 0 || n < 0 || k < 0) return rocblas_status_invalid_size;
    const bool ta = trans_a != rocblas_operation_none, tb = trans_b != rocblas_operation_none;
    /* rocBLAS's rule: lda >= max(1, rows of A as stored), the same for B, C and D */
    const rocblas_int a_rows = ta ? k : m, b_rows = tb ? n : k;
    if (lda < (a_rows > 1 ? a_rows : 1) || ldb < (b_rows > 1 ? b_rows : 1) || ldc < (m > 1 ? m : 1) ||
        ldd < (m > 1 ? m : 1))
        return rocblas_status_invalid_size;
    if (c == d && (ldc != ldd || c_type != d_type)) return rocblas_status_invalid_size;
    /* the real combinations ribo can ask for: one storage type, fp32 compute */
    if (!real_type(a_type) || a_type != b_type || a_type != c_type || c_type != d_type ||
        compute_type != rocblas_datatype_f32_r)
        return rocblas_status_not_implemented;
    if (!m || !n) return rocblas_status_success;
    if (!alpha || !beta || !d || (k && (!a || !b))) return rocblas_status_invalid_pointer;
    const float al = *(const float *)alpha, be = *(const float *)beta;
    if (be != 0.0f && !c) return rocblas_status_invalid_pointer;
    for (rocblas_int j = 0; j < n; ++j)
        for (rocblas_int i = 0; i < m; ++i) {
            float acc = 0.0f;
            for (rocblas_int l = 0; l < k; ++l) {
                const size_t ai = ta ? (size_t)l + (size_t)i * lda : (size_t)i + (size_t)l * lda;
                const size_t bi = tb ? (size_t)j + (size_t)l * ldb : (size_t)l + (size_t)j * ldb;
                acc += load(a, a_type, ai) * load(b, b_type, bi);
            }
            float v = al * acc;
            if (be != 0.0f) v += be * load(c, c_type, (size_t)i + (size_t)j * ldc); /* C is not read for beta 0 */
            store(d, d_type, (size_t)i + (size_t)j * ldd, v);
        }
    stats.last_gemm_stream = handle->stream;
    stats.last_gemm_atomics = handle->atomics;
    ++stats.gemm_calls;
    return rocblas_status_success;
}

#endif
