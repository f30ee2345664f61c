/* The part of rocBLAS's public C API that ribo calls, declared by ribo (no rocBLAS headers are
 * needed to build: the library is loaded at run time by hip_blas.c). Names, enum values and the
 * function signatures follow rocBLAS's public headers and documentation (github.com/ROCm/rocBLAS,
 * library/include/internal/rocblas-types.h, rocblas-functions.h and rocblas-auxiliary.h; the
 * rocblas_gemm_ex reference at rocm.docs.amd.com), stable since ROCm 3 (librocblas.so.0 ... .4).
 * Plain C; the functions are declared as function types (ribo_rocblas_*_fn), so the loader holds
 * pointers to them and a mock library (tests/mock_rocblas.c) declares its definitions with the same
 * types. */
#ifndef RIBO_HIP_ROCBLAS_API_H
#define RIBO_HIP_ROCBLAS_API_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* rocblas_handle: the library context (created per device by rocblas_create_handle) */
typedef struct _rocblas_handle *rocblas_handle;
/* LP64 rocBLAS (the default build; ILP64 would be int64_t) */
typedef int32_t rocblas_int;
/* HIP's stream type (hipStream_t is `struct ihipStream_t *`), spelled without the HIP headers */
typedef struct ihipStream_t *ribo_rocblas_stream;

typedef enum rocblas_status_ {
    rocblas_status_success = 0,
    rocblas_status_invalid_handle = 1,
    rocblas_status_not_implemented = 2,
    rocblas_status_invalid_pointer = 3,
    rocblas_status_invalid_size = 4,
    rocblas_status_memory_error = 5,
    rocblas_status_internal_error = 6,
    rocblas_status_perf_degraded = 7,
    rocblas_status_size_query_mismatch = 8,
    rocblas_status_size_increased = 9,
    rocblas_status_size_unchanged = 10,
    rocblas_status_invalid_value = 11,
    rocblas_status_continue = 12,
    rocblas_status_check_numerics_fail = 13
} rocblas_status;

typedef enum rocblas_operation_ {
    rocblas_operation_none = 111,
    rocblas_operation_transpose = 112,
    rocblas_operation_conjugate_transpose = 113
} rocblas_operation;

/* the real types of rocblas_datatype (the complex and integer ones are not used by ribo) */
typedef enum rocblas_datatype_ {
    rocblas_datatype_f16_r = 150,
    rocblas_datatype_f32_r = 151,
    rocblas_datatype_f64_r = 152,
    rocblas_datatype_bf16_r = 168,
    rocblas_datatype_invalid = 255
} rocblas_datatype;

typedef enum rocblas_gemm_algo_ { rocblas_gemm_algo_standard = 0x0, rocblas_gemm_algo_solution_index = 0x1 } rocblas_gemm_algo;

/* Whether rocBLAS may use atomics (some GEMM kernels then sum in a run-dependent order); ribo asks
 * for none, so equal inputs give equal bytes (resume, the output-hash tests). */
typedef enum rocblas_atomics_mode_ { rocblas_atomics_not_allowed = 0, rocblas_atomics_allowed = 1 } rocblas_atomics_mode;

/* rocblas_gemm_flags_none: the only flags value ribo passes */
#define RIBO_ROCBLAS_GEMM_FLAGS_NONE 0u

typedef rocblas_status ribo_rocblas_create_handle_fn(rocblas_handle *handle);
typedef rocblas_status ribo_rocblas_destroy_handle_fn(rocblas_handle handle);
typedef rocblas_status ribo_rocblas_set_stream_fn(rocblas_handle handle, ribo_rocblas_stream stream);
typedef const char *ribo_rocblas_status_to_string_fn(rocblas_status status);
typedef rocblas_status ribo_rocblas_set_atomics_mode_fn(rocblas_handle handle, rocblas_atomics_mode mode);
/* D = alpha * op(A) * op(B) + beta * C, column-major; op(A) m x k, op(B) k x n, C and D m x n; alpha
 * and beta point to host values of compute_type (the default host pointer mode); C may be D when
 * ldc == ldd and c_type == d_type; C is not read when beta is 0. */
typedef rocblas_status ribo_rocblas_gemm_ex_fn(rocblas_handle handle, rocblas_operation trans_a, rocblas_operation trans_b,
                                               rocblas_int m, rocblas_int n, rocblas_int k, const void *alpha,
                                               const void *a, rocblas_datatype a_type, rocblas_int lda, const void *b,
                                               rocblas_datatype b_type, rocblas_int ldb, const void *beta, const void *c,
                                               rocblas_datatype c_type, rocblas_int ldc, void *d, rocblas_datatype d_type,
                                               rocblas_int ldd, rocblas_datatype compute_type, rocblas_gemm_algo algo,
                                               int32_t solution_index, uint32_t flags);

#ifdef __cplusplus
}
#endif

#endif
