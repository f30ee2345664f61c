/* The mock librocblas.so of tests/test_hip_blas.c (tests/mock_rocblas.c): the rocBLAS functions ribo
 * loads, declared with the function types of backends/hip/rocblas_api.h (so the mock's definitions
 * must match the signatures the loader calls through), and the mock's own inspection hook. */
#ifndef RIBO_TEST_MOCK_ROCBLAS_H
#define RIBO_TEST_MOCK_ROCBLAS_H

#include "backends/hip/rocblas_api.h"

ribo_rocblas_create_handle_fn rocblas_create_handle;
ribo_rocblas_destroy_handle_fn rocblas_destroy_handle;
ribo_rocblas_set_stream_fn rocblas_set_stream;
ribo_rocblas_status_to_string_fn rocblas_status_to_string;
ribo_rocblas_set_atomics_mode_fn rocblas_set_atomics_mode;
#ifndef RIBO_MOCK_NO_GEMM
ribo_rocblas_gemm_ex_fn rocblas_gemm_ex;
#endif

/* The stream the last rocblas_gemm_ex ran on (the handle's stream at that call), and how many
 * rocblas_gemm_ex calls succeeded: the test checks that ribo sets the stream before each call. */
typedef struct rocblas_mock_stats {
    ribo_rocblas_stream last_gemm_stream;
    int gemm_calls;
    rocblas_atomics_mode last_gemm_atomics; /* the handle's mode at the last call (allowed until set) */
} rocblas_mock_stats;
typedef void rocblas_mock_get_stats_fn(rocblas_mock_stats *out);
rocblas_mock_get_stats_fn rocblas_mock_get_stats;

#ifdef RIBO_MOCK_OTHER_HIP
/* rocblas_mock_otherhip: a library that brings its own HIP runtime (the loader must refuse it) */
int hipGetDeviceCount(int *count);
#endif

#endif
