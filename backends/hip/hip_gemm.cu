/* HIP backend: GEMMs through rocBLAS, loaded at run time (hip_blas.c). y = x @ w^T (+ residual via C
 * with beta = 1) as one rocblas_gemm_ex with fp32 accumulation (fp32 storage in true fp32), then, where
 * asked for, the bias and the exact erf GELU as one fused element-wise pass over y (rocBLAS's gemm_ex
 * has no epilogue). The same functions and semantics as cuda_gemm.cu, which the HIP build leaves out.
 * Rounding: with 16-bit storage the GEMM result is rounded to storage before the bias is added
 * (cuBLASLt's BIAS epilogue adds it before rounding), a difference of at most half an ulp. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/hip/hip_blas.h"
#include "backends/cuda/cuda_launch.cuh"

/* rocBLAS state of one device handle: its own loaded library, handle and call lock. */
struct ribo_cuda_blas {
    ribo_hip_blas_lib lib;
    rocblas_handle handle;
    /* guards the handle: rocblas_set_stream and the GEMM it applies to are one step */
    pthread_mutex_t lock;
};

ribo_status ribo_cuda_gemm_init(ribo_cuda_device *cd, ribo_error *err) {
    const char *gelu = getenv("RIBO_GELU_EPILOGUE");
    if (gelu && *gelu && strcmp(gelu, "0")) {
        if (!strcmp(gelu, "tanh"))
            return ribo_error_set(err, RIBO_ERR_UNSUPPORTED,
                                  "hip: RIBO_GELU_EPILOGUE=tanh needs cuBLASLt's GELU epilogue, which rocBLAS does not "
                                  "have (the HIP backend always runs the exact erf GELU; unset it or set it to 0)");
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "hip: RIBO_GELU_EPILOGUE='%s' is not 0 or tanh", gelu);
    }
    ribo_cuda_blas *b = (ribo_cuda_blas *)calloc(1, sizeof *b);
    if (!b) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "hip: out of host memory");
    pthread_mutex_init(&b->lock, NULL);
    cd->blas = b;
    RIBO_TRY(ribo_hip_blas_load(&b->lib, err));
    /* the device is current (cuda_device_open): the handle belongs to it */
    return ribo_hip_blas_create_handle(&b->lib, &b->handle, err);
}

void ribo_cuda_gemm_release(ribo_cuda_device *cd) {
    ribo_cuda_blas *b = cd->blas;
    if (!b) return;
    if (b->handle) b->lib.destroy_handle(b->handle);
    ribo_hip_blas_unload(&b->lib);
    pthread_mutex_destroy(&b->lock);
    free(b);
    cd->blas = NULL;
}

ribo_status ribo_cuda_linear_check(const ribo_linear_args *a, ribo_error *err) {
    if (a->act != RIBO_ACT_NONE && a->residual.buf)
        return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, RIBO_GPU_NAME ": linear with both an activation and a residual");
    return RIBO_OK;
}

/* y[r, c] = act(y[r, c] + bias[c]) over the row-major [rows, n] output of the GEMM, in place; act is
 * the exact erf GELU when gelu, else none. One element per thread and grid step (no lane or wave
 * assumption: correct at wave32 and wave64); fp32 arithmetic, one rounding to T. */
template <typename T>
__global__ void bias_act_kernel(T *y, const T *bias, size_t count, int n, bool gelu) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x) {
        float v = to_f(y[i]) + to_f(bias[i % (size_t)n]);
        if (gelu) v = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
        y[i] = from_f<T>(v);
    }
}

template <typename T>
static void run_bias_act(cudaStream_t stream, void *y, const void *bias, size_t count, int n, bool gelu) {
    const unsigned g = grid_for(count, 256);
    bias_act_kernel<T><<<g < 65535u ? g : 65535u, 256, 0, stream>>>((T *)y, (const T *)bias, count, n, gelu);
}

ribo_status ribo_cuda_linear(ribo_stream *s, const ribo_linear_args *a, ribo_error *err) {
    ribo_cuda_device *dev = ribo_cuda_dev(s->dev);
    ribo_cuda_blas *bl = dev->blas;
    RIBO_TRY(ribo_cuda_linear_check(a, err));
    RIBO_TRY(ribo_cuda_use(s->dev, err));
    void *out = ribo_cuda_ptr(a->out);
    ribo_hip_blas_linear_args g;
    g.x = ribo_cuda_ptr(a->x);
    g.w = ribo_cuda_ptr(a->w);
    g.c = a->residual.buf ? ribo_cuda_ptr(a->residual) : NULL; /* beta = 1 with C = residual, else beta = 0 */
    g.y = out;
    g.m = a->m;
    g.n = a->n;
    g.k = a->k;
    g.storage = dev->storage;
    const cudaStream_t st = ribo_cuda_stream(s);
    pthread_mutex_lock(&bl->lock);
    ribo_status rc = ribo_hip_blas_linear(&bl->lib, bl->handle, (ribo_rocblas_stream)st, &g, err);
    pthread_mutex_unlock(&bl->lock);
    if (rc != RIBO_OK) return rc;
    const size_t count = (size_t)a->m * a->n;
    const bool gelu = a->act == RIBO_ACT_GELU_ERF;
    if (a->bias.buf && count) {
        DISPATCH(dev->storage, run_bias_act, st, out, ribo_cuda_ptr(a->bias), count, a->n, gelu);
        return launched(s, gelu ? "bias + gelu" : "bias", err);
    }
    if (gelu) {
        ribo_cuda_gelu_inplace(st, out, count, dev->storage);
        return ribo_cuda_check(cudaGetLastError(), "launching gelu", err);
    }
    return RIBO_OK;
}
