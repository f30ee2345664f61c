/* Private state of the CUDA backend, shared by its source files. */
#ifndef RIBO_CUDA_INTERNAL_H
#define RIBO_CUDA_INTERNAL_H

#include <cublasLt.h>
#include <pthread.h>

#include "engine/backend.h"
#include "gpu_compat.h"

/* cuBLASLt algorithm chosen for one GEMM shape (cached per device). */
typedef struct ribo_cuda_gemm_plan {
    int m, n, k, epilogue, beta_one;
    cublasLtMatmulAlgo_t algo;
    bool valid;
} ribo_cuda_gemm_plan;

#define RIBO_CUDA_GEMM_CACHE 512

typedef struct ribo_cuda_device {
    int ordinal;
    ribo_storage storage;
    ribo_device_props props;
    cublasLtHandle_t lt;
    void *workspace;              /* cuBLASLt workspace, one per device */
    size_t workspace_bytes;
    pthread_mutex_t gemm_lock;    /* guards the plan cache */
    pthread_mutex_t mem_lock;     /* guards the allocation counters below */
    uint64_t allocated, peak_allocated;
    ribo_cuda_gemm_plan plans[RIBO_CUDA_GEMM_CACHE];
    int n_plans, next_evict;
} ribo_cuda_device;

struct ribo_dbuf {
    void *ptr;
    size_t size;
};

static inline ribo_cuda_device *ribo_cuda_dev(ribo_device *d) { return (ribo_cuda_device *)d->ctx; }
static inline cudaStream_t ribo_cuda_stream(ribo_stream *s) { return (cudaStream_t)s->ctx; }
/* Raw device address of a dptr (NULL for an unused one). */
static inline void *ribo_cuda_ptr(ribo_dptr p) { return p.buf ? (char *)p.buf->ptr + p.offset : nullptr; }

/* CUDA status -> ribo status "cuda: <what>: <error string> (<name>)" ; OOM maps to RIBO_ERR_OUT_OF_MEMORY. */
ribo_status ribo_cuda_check(cudaError_t rc, const char *what, ribo_error *err);
/* Makes the device current for this thread. */
ribo_status ribo_cuda_use(ribo_device *dev, ribo_error *err);

ribo_status ribo_cuda_linear(ribo_stream *s, const ribo_linear_args *a, ribo_error *err);
ribo_status ribo_cuda_gemm_init(ribo_cuda_device *cd, ribo_error *err);
void ribo_cuda_gemm_release(ribo_cuda_device *cd);

extern const ribo_kernel_i ribo_cuda_kernel_table;
extern "C" const ribo_backend_reg ribo_cuda_backend;

#endif
