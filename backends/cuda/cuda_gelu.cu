/* CUDA backend: the exact (erf) GELU that runs in place after a GEMM with RIBO_ACT_GELU_ERF
 * (cuBLASLt's GELU epilogue is the tanh approximation; cuda_gemm.cu). Storage T is float, __half or
 * __nv_bfloat16; arithmetic fp32. The vectorized body is ribo_ew_gelu_thread (cuda_elementwise.cuh,
 * shared with tests/test_elementwise_emu.cu). */
#include <math.h>
#include <stdint.h>

#include "cuda_launch.cuh"

#define RIBO_EW_FN __device__ __forceinline__
#include "cuda_elementwise.cuh"

/* ---------------------------------------------------------------- gelu */

/* p[i] = 0.5 * p[i] * (1 + erf(p[i] / sqrt(2)))  (exact GELU), in place. */
template <typename T>
__global__ void gelu_kernel(T *p, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float v = to_f(p[i]);
        p[i] = from_f<T>(0.5f * v * (1.0f + erff(v * 0.70710678118654752f)));
    }
}

/* The same in place GELU, one 16-byte vector per thread and grid step, the n % (16 / sizeof(T)) tail
 * by the first threads (ribo_ew_gelu_thread); p 16-byte aligned. */
template <typename T>
__global__ void gelu_vec_kernel(T *p, size_t n) {
    ribo_ew_gelu_thread<T>(p, n, blockIdx.x * (size_t)blockDim.x + threadIdx.x, (size_t)gridDim.x * blockDim.x);
}

template <typename T>
static void run_gelu(cudaStream_t stream, T *p, size_t count) {
    constexpr size_t EPV = 16 / sizeof(T);
    if (aligned_to(p, 16)) {
        const size_t n_vec = count / EPV;
        const unsigned blocks = grid_for(n_vec ? n_vec : 1, 256) < 65535u ? grid_for(n_vec ? n_vec : 1, 256) : 65535u;
        gelu_vec_kernel<T><<<blocks, 256, 0, stream>>>(p, count);
    } else {
        const unsigned blocks = grid_for(count, 256) < 65535u ? grid_for(count, 256) : 65535u;
        gelu_kernel<T><<<blocks, 256, 0, stream>>>(p, count);
    }
}

void ribo_cuda_gelu_inplace(cudaStream_t stream, void *ptr, size_t count, ribo_storage storage) {
    if (!count) return;
    if (storage == RIBO_STORAGE_F16) run_gelu(stream, (__half *)ptr, count);
    else if (storage == RIBO_STORAGE_BF16) run_gelu(stream, (__nv_bfloat16 *)ptr, count);
    else run_gelu(stream, (float *)ptr, count);
}
