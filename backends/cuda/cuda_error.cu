/* CUDA backend: what every other file of it calls first or last: the device selection each entry starts
 * with, and the error mapping, a CUDA runtime status -> a ribo status naming the operation that failed
 * and the runtime's error (the cuBLASLt statuses are mapped where they arise, cuda_gemm.cu). */
#include "cuda_internal.h"

ribo_status ribo_cuda_check(cudaError_t rc, const char *what, ribo_error *err) {
    if (rc == cudaSuccess) return RIBO_OK;
    cudaGetLastError(); /* clear a non-sticky error so later calls are not blamed */
    ribo_status st = rc == cudaErrorMemoryAllocation ? RIBO_ERR_OUT_OF_MEMORY : RIBO_ERR_DEVICE;
    return ribo_error_set(err, st, RIBO_GPU_NAME ": %s: %s (%s)", what, cudaGetErrorString(rc), cudaGetErrorName(rc));
}

ribo_status ribo_cuda_use(ribo_device *dev, ribo_error *err) {
    return ribo_cuda_check(cudaSetDevice(ribo_cuda_dev(dev)->ordinal), "selecting the device", err);
}
