/* HIP side of the GPU vendor layer (included through backends/cuda/vendor.h only; see there for what
 * each macro means): the CUDA sources of backends/cuda compiled by clang/hipcc for AMD GPUs. Every
 * CUDA runtime, event, stream, error and intrinsic name the backend uses is mapped to its HIP name
 * here (ggml's ggml-cuda/vendors/hip.h approach), so the kernels keep one spelling. Written against
 * ROCm 5.2 (Debian 12) and later; the bf16 type is the project's own on raw bits because ROCm 5.2
 * has no hip_bf16.h (its hip_bfloat16 is a host-side struct without the CUDA-style API), and ROCm >= 6
 * users get the same code.
 *
 * Warps and waves: the kernels are written for 32-thread logical warps (RIBO_WARP_SIZE): lane =
 * threadIdx.x % 32, shuffles with xor masks below 32, block sizes that are multiples of 64. On a
 * wave64 device (CDNA, GCN) a logical warp is half a wave: __shfl_xor over the wave with a mask
 * below 32 stays inside the half, and a wave executes its halves together, so __syncwarp is a wave
 * barrier. The physical width (RIBO_WAVE_SIZE) matters only to the MFMA kernels, which are written
 * for 64 lanes. tests/gpu_emu.h runs the bodies with 64-lane semantics. */
#ifndef RIBO_GPU_VENDOR_HIP_H
#define RIBO_GPU_VENDOR_HIP_H

#include <stdint.h>
#include <string.h>

#include <hip/hip_fp16.h>
#include <hip/hip_runtime.h>

#if !defined(__HIP_PLATFORM_AMD__) && !defined(__HIP_PLATFORM_HCC__)
#error "the HIP backend supports AMD targets only (HIP_PLATFORM=nvidia: build the CUDA backend instead)"
#endif

#define RIBO_GPU_NAME "hip"
#define RIBO_GPU_HIP 1
/* the registry entry of cuda_device.cu, under the HIP backend's name (engine/backend_registry.c) */
#define ribo_cuda_backend ribo_hip_backend

#if defined(__HIP_DEVICE_COMPILE__)
#define RIBO_GPU_DEVICE_PASS 1
#else
#define RIBO_GPU_DEVICE_PASS 0
#endif

/* logical warp of the SIMT kernels (see above) */
#define RIBO_WARP_SIZE 32

/* physical wave of the device pass (0 in the host pass, which serves every target of a fat binary:
 * host code reads hipDeviceProp_t::warpSize instead) */
#if RIBO_GPU_DEVICE_PASS
#if !defined(__AMDGCN_WAVEFRONT_SIZE)
#error "the device compiler does not define __AMDGCN_WAVEFRONT_SIZE"
#endif
#define RIBO_WAVE_SIZE __AMDGCN_WAVEFRONT_SIZE
#else
#define RIBO_WAVE_SIZE 0
#endif

/* The NVIDIA-only paths (inline PTX, nvcuda::wmma) never compile for AMD. */
#define RIBO_GPU_NV_MMA 0
#define RIBO_GPU_NV_WMMA 0

/* Matrix cores, device pass only (ggml's CDNA / RDNA3 switches): MFMA on CDNA1 (gfx908), CDNA2
 * (gfx90a), CDNA3 (gfx940/941/942) and gfx950; the _1k bf16 forms from gfx90a on. */
#if RIBO_GPU_DEVICE_PASS && (defined(__gfx908__) || defined(__gfx90a__) || defined(__gfx940__) || \
                             defined(__gfx941__) || defined(__gfx942__) || defined(__gfx950__))
#define RIBO_AMD_MFMA 1
#if defined(__gfx908__)
#define RIBO_AMD_MFMA_BF16_1K 0
#else
#define RIBO_AMD_MFMA_BF16_1K 1
#endif
#else
#define RIBO_AMD_MFMA 0
#define RIBO_AMD_MFMA_BF16_1K 0
#endif
#if RIBO_GPU_DEVICE_PASS && (defined(__GFX11__) || defined(__GFX12__))
#define RIBO_AMD_WMMA 1
#else
#define RIBO_AMD_WMMA 0
#endif

/* Whether the ISA ("gfx90a", from hipDeviceProp_t::gcnArchName) has MFMA matrix cores (host side:
 * the run-time twin of RIBO_AMD_MFMA). */
static inline bool ribo_hip_isa_has_mfma(const char *isa) {
    return strcmp(isa, "gfx908") == 0 || strcmp(isa, "gfx90a") == 0 || strcmp(isa, "gfx940") == 0 ||
           strcmp(isa, "gfx941") == 0 || strcmp(isa, "gfx942") == 0 || strcmp(isa, "gfx950") == 0;
}

/* ---------------------------------------------------------------- runtime names */
#define cudaError_t hipError_t
#define cudaSuccess hipSuccess
#define cudaErrorMemoryAllocation hipErrorOutOfMemory
#define cudaErrorNotReady hipErrorNotReady
#define cudaErrorInvalidDeviceFunction hipErrorInvalidDeviceFunction
#define cudaErrorNoKernelImageForDevice hipErrorNoBinaryForGpu
#define cudaErrorUnsupportedPtxVersion hipErrorInvalidKernelFile /* no PTX on AMD: the code object's twin */
#define cudaGetLastError hipGetLastError
#define cudaGetErrorString hipGetErrorString
#define cudaGetErrorName hipGetErrorName

#define cudaDeviceProp hipDeviceProp_t
#define cudaGetDeviceCount hipGetDeviceCount
#define cudaGetDeviceProperties hipGetDeviceProperties
#define cudaGetDevice hipGetDevice
#define cudaSetDevice hipSetDevice
#define cudaDeviceGetAttribute hipDeviceGetAttribute
#define cudaDevAttrComputeCapabilityMajor hipDeviceAttributeComputeCapabilityMajor
#define cudaDevAttrComputeCapabilityMinor hipDeviceAttributeComputeCapabilityMinor
/* HIP's ...Optin attribute is CUDA-only; on AMD the per-block LDS limit is the one that applies */
#define cudaDevAttrMaxSharedMemoryPerBlockOptin hipDeviceAttributeMaxSharedMemoryPerBlock
#define cudaMemGetInfo hipMemGetInfo

#define cudaMalloc hipMalloc
#define cudaFree hipFree
#define cudaHostAlloc hipHostMalloc
#define cudaHostAllocPortable hipHostMallocPortable
#define cudaFreeHost hipHostFree
#define cudaMemcpyAsync hipMemcpyAsync
#define cudaMemcpyHostToDevice hipMemcpyHostToDevice
#define cudaMemcpyDeviceToHost hipMemcpyDeviceToHost

#define cudaStream_t hipStream_t
#define cudaStreamNonBlocking hipStreamNonBlocking
#define cudaStreamCreateWithPriority hipStreamCreateWithPriority
#define cudaDeviceGetStreamPriorityRange hipDeviceGetStreamPriorityRange
#define cudaStreamSynchronize hipStreamSynchronize
#define cudaStreamDestroy hipStreamDestroy
#define cudaStreamWaitEvent hipStreamWaitEvent

#define cudaEvent_t hipEvent_t
#define cudaEventDefault hipEventDefault
#define cudaEventDisableTiming hipEventDisableTiming
#define cudaEventCreateWithFlags hipEventCreateWithFlags
#define cudaEventRecord hipEventRecord
#define cudaEventQuery hipEventQuery
#define cudaEventSynchronize hipEventSynchronize
#define cudaEventElapsedTime hipEventElapsedTime
#define cudaEventDestroy hipEventDestroy

#define cudaFuncAttributes hipFuncAttributes
#define cudaFuncAttributeMaxDynamicSharedMemorySize hipFuncAttributeMaxDynamicSharedMemorySize

/* HIP declares these on const void *; CUDA's runtime takes the kernel itself */
template <typename F>
static inline hipError_t ribo_hip_func_get_attributes(hipFuncAttributes *attr, F *kernel) {
    return hipFuncGetAttributes(attr, reinterpret_cast<const void *>(kernel));
}
template <typename F>
static inline hipError_t ribo_hip_func_set_attribute(F *kernel, hipFuncAttribute attr, int value) {
    return hipFuncSetAttribute(reinterpret_cast<const void *>(kernel), attr, value);
}
#define cudaFuncGetAttributes ribo_hip_func_get_attributes
#define cudaFuncSetAttribute ribo_hip_func_set_attribute

/* ---------------------------------------------------------------- intrinsics */
/* the mask is implied: a logical warp is a whole wave32 or half a wave64, and both run together */
#define __shfl_xor_sync(mask, var, lane_mask) __shfl_xor((var), (lane_mask))
#if RIBO_GPU_DEVICE_PASS
/* lanes of a wave run together; the fence orders their LDS accesses */
#define __syncwarp()                                                                                  \
    do {                                                                                              \
        __builtin_amdgcn_fence(__ATOMIC_RELEASE, "wavefront");                                        \
        __builtin_amdgcn_wave_barrier();                                                              \
        __builtin_amdgcn_fence(__ATOMIC_ACQUIRE, "wavefront");                                        \
    } while (0)
#define __trap() abort()
#else
#define __syncwarp() ((void)0)
#define __trap() abort()
#endif

/* ---------------------------------------------------------------- bf16 on raw bits */
/* bfloat16 as its 16 bits; conversions round to nearest even and keep NaN a (quiet) NaN. */
struct ribo_bf16 {
    uint16_t x;
};
struct ribo_bf162 {
    ribo_bf16 x, y;
};

__host__ __device__ static inline float ribo_bf16_to_float(ribo_bf16 v) {
    const uint32_t u = (uint32_t)v.x << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

__host__ __device__ static inline ribo_bf16 ribo_float_to_bf16_rn(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    ribo_bf16 r;
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        r.x = (uint16_t)((u >> 16) | 0x0040u); /* NaN stays NaN (quiet bit set) */
    } else {
        u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest, ties to even; overflow rounds to inf */
        r.x = (uint16_t)(u >> 16);
    }
    return r;
}

#define __nv_bfloat16 ribo_bf16
#define __nv_bfloat162 ribo_bf162
#define __bfloat162float ribo_bf16_to_float
#define __float2bfloat16_rn ribo_float_to_bf16_rn

__host__ __device__ static inline float2 __bfloat1622float2(ribo_bf162 v) {
    return make_float2(ribo_bf16_to_float(v.x), ribo_bf16_to_float(v.y));
}
__host__ __device__ static inline ribo_bf162 __floats2bfloat162_rn(float lo, float hi) {
    ribo_bf162 r;
    r.x = ribo_float_to_bf16_rn(lo);
    r.y = ribo_float_to_bf16_rn(hi);
    return r;
}

#endif
