/* Helpers shared by the kernel files of the CUDA backend (cuda_kernels.cu, cuda_gelu.cu, cuda_norm.cu,
 * cuda_rope.cu, cuda_pool.cu, cuda_attention.cu): storage <-> fp32 in device code, the warp-level operations of the
 * element-wise bodies, launch-shape arithmetic, the per-storage dispatch and the launch status check.
 * Included from .cu files only (device code). */
#ifndef RIBO_CUDA_LAUNCH_CUH
#define RIBO_CUDA_LAUNCH_CUH

#include <stdint.h>
#include <stdio.h>

#include "cuda_internal.h"

/* ---------------------------------------------------------------- storage helpers */

__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_f<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

/* The warp-level operations of the element-wise bodies (cuda_elementwise.cuh). */
struct ribo_ew_device_ops {
    static __device__ __forceinline__ float shfl_xor(float v, int mask) { return __shfl_xor_sync(0xffffffffu, v, mask); }
    static __device__ __forceinline__ void sync_cta() { __syncthreads(); }
};

/* ---------------------------------------------------------------- launch helpers (host) */

static inline bool aligned_to(const void *p, size_t bytes) { return ((uintptr_t)p % bytes) == 0; }

static inline unsigned grid_for(size_t n, unsigned block) { return (unsigned)((n + block - 1) / block); }

/* Threads per block of the one-block-per-row kernels (embed, block LayerNorm, pool copy). */
static inline int threads_for(int width) { return width >= 1024 ? 256 : width >= 256 ? 128 : 64; }

/* Calls F<T> for the device's storage type. */
#define DISPATCH(storage, F, ...)                                                   \
    do {                                                                            \
        if ((storage) == RIBO_STORAGE_F16) F<__half>(__VA_ARGS__);                  \
        else if ((storage) == RIBO_STORAGE_BF16) F<__nv_bfloat16>(__VA_ARGS__);     \
        else F<float>(__VA_ARGS__);                                                 \
    } while (0)

/* The status of the launch just made ("launching <what>"). */
static inline ribo_status launched(ribo_stream *s, const char *what, ribo_error *err) {
    char w[96];
    snprintf(w, sizeof w, "launching %s", what);
    return ribo_cuda_check(cudaGetLastError(), w, err);
}

#endif
