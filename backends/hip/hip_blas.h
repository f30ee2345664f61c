/* rocBLAS for the HIP backend, loaded at run time (no rocBLAS at build time; plain C, no HIP
 * headers): the loader, and ribo's linear layer as one rocblas_gemm_ex. hip_gemm.cu owns one loaded
 * library per device handle; tests/test_hip_blas.c runs the same code against a mock librocblas.so. */
#ifndef RIBO_HIP_BLAS_H
#define RIBO_HIP_BLAS_H

#include <stdbool.h>

#include "backends/hip/rocblas_api.h"
#include "engine/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A loaded rocBLAS: its dlopen handle, the path that loaded and every function ribo calls. */
typedef struct ribo_hip_blas_lib {
    void *dl;
    char path[512];
    ribo_rocblas_create_handle_fn *create_handle;
    ribo_rocblas_destroy_handle_fn *destroy_handle;
    ribo_rocblas_set_stream_fn *set_stream;
    ribo_rocblas_status_to_string_fn *status_to_string;
    ribo_rocblas_gemm_ex_fn *gemm_ex;
    ribo_rocblas_set_atomics_mode_fn *set_atomics_mode; /* NULL in a rocBLAS that predates it */
} ribo_hip_blas_lib;

/* Loads rocBLAS into *lib: $RIBO_ROCBLAS_LIBRARY when set (that file only), else the first of
 * librocblas.so.5, .so.4, .so.3, .so.0, .so (the loader's search path), then the same names under
 * $ROCM_PATH/lib and /opt/rocm/lib, that loads, and resolves every function. The library must use
 * the HIP runtime this process runs (its hipGetDeviceCount is ours, or it has none): a rocBLAS of
 * another ROCm would get streams of a runtime it does not own. Loaded with RTLD_NODELETE (ROCm
 * libraries hold runtime state that must not be unmapped while the process runs). RIBO_ERR_UNSUPPORTED
 * with a message naming the library (and the missing function, or both runtimes) and what to
 * install; *lib is left unloaded then. */
ribo_status ribo_hip_blas_load(ribo_hip_blas_lib *lib, ribo_error *err);
/* Closes a loaded library (NULL-safe, idempotent). */
void ribo_hip_blas_unload(ribo_hip_blas_lib *lib);

/* Creates a handle for the current device, with atomics not allowed where the library can say so
 * (deterministic GEMMs). */
ribo_status ribo_hip_blas_create_handle(const ribo_hip_blas_lib *lib, rocblas_handle *handle, ribo_error *err);

/* One linear layer on device pointers, row-major: y[m, n] = x[m, k] @ w[n, k]^T (+ c[m, n] when c is
 * not NULL; c may be y), every matrix of the storage type, fp32 accumulation. The call runs on
 * stream (rocblas_set_stream first; the caller serializes calls on one handle). */
typedef struct ribo_hip_blas_linear_args {
    const void *x, *w, *c;
    void *y;
    int m, n, k;
    ribo_storage storage;
} ribo_hip_blas_linear_args;

/* RIBO_ERR_DEVICE (RIBO_ERR_OUT_OF_MEMORY for rocblas_status_memory_error) naming the call, its shape
 * and rocBLAS's status string. */
ribo_status ribo_hip_blas_linear(const ribo_hip_blas_lib *lib, rocblas_handle handle, ribo_rocblas_stream stream,
                                 const ribo_hip_blas_linear_args *a, ribo_error *err);

/* "rocblas_<what>: <status string>" as a ribo status (RIBO_OK for rocblas_status_success). */
ribo_status ribo_hip_blas_check(const ribo_hip_blas_lib *lib, rocblas_status s, const char *what, ribo_error *err);

#ifdef __cplusplus
}
#endif

#endif
