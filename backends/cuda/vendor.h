/* The one GPU vendor header of the backend: every GPU source (kernels, launchers, the .cuh bodies
 * the CPU emulator tests also compile) includes this instead of the vendor's runtime, half, bfloat16,
 * WMMA and BLAS headers.
 *
 * Kernels keep the CUDA spelling (cudaStream_t, __half, __shfl_xor_sync, ...). The HIP backend issue
 * adds vendor/hip.h, selected here under __HIP_PLATFORM_AMD__ / RIBO_WITH_HIP, which includes the HIP
 * headers and maps the cuda* names used here to hip* (ggml's ggml-cuda/vendors/hip.h approach), with
 * RIBO_GPU_NAME "hip" and the capability macros below false for the NVIDIA-only paths.
 *
 * What a vendor header defines:
 *   RIBO_GPU_NAME          the backend's name ("cuda"): ribo_cuda_backend.name, the error prefix of
 *                          ribo_cuda_check
 *   RIBO_GPU_DEVICE_PASS   1 in the device compilation pass, 0 in the host pass (and in host-only
 *                          compilers, e.g. the emulator tests' host code)
 *   RIBO_WARP_SIZE         threads per warp the kernels are written for (32)
 *   RIBO_GPU_NV_MMA        1 where NVIDIA inline PTX mma.sync / ldmatrix / cp.async can be emitted:
 *                          NVIDIA, device pass, sm_80+ (cuda_attention_mma.cu)
 *   RIBO_GPU_NV_WMMA       1 where the nvcuda::wmma body of attention_wmma_kernel compiles: NVIDIA,
 *                          host pass or sm_80+ (bf16 fragments) (cuda_attention.cu)
 * (capability macros in the style of ggml-cuda/common.cuh). */
#ifndef RIBO_GPU_VENDOR_H
#define RIBO_GPU_VENDOR_H

#if defined(__HIP_PLATFORM_AMD__) || defined(RIBO_WITH_HIP)
#error "HIP build not wired up yet (the HIP backend issue adds vendor/hip.h here)"
#else
#include "vendor/cuda.h"
#endif

#if !defined(RIBO_GPU_NAME) || !defined(RIBO_GPU_DEVICE_PASS) || !defined(RIBO_WARP_SIZE) || \
    !defined(RIBO_GPU_NV_MMA) || !defined(RIBO_GPU_NV_WMMA)
#error "a vendor header defines RIBO_GPU_NAME, RIBO_GPU_DEVICE_PASS, RIBO_WARP_SIZE and the RIBO_GPU_NV_* macros"
#endif

#endif
