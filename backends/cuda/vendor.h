/* The one GPU vendor header of the backend: every GPU source (kernels, launchers, the .cuh bodies
 * the CPU emulator tests also compile) includes this instead of the vendor's runtime, half, bfloat16,
 * WMMA and BLAS headers.
 *
 * Kernels keep the CUDA spelling (cudaStream_t, __half, __shfl_xor_sync, ...). vendor/hip.h, selected
 * for HIP compilers (clang -x hip defines __HIP__, hipcc __HIPCC__; __HIP_PLATFORM_AMD__ only after
 * the HIP headers) and the HIP target (RIBO_WITH_HIP), includes the HIP headers and maps the cuda*
 * names used here to hip* (ggml's ggml-cuda/vendors/hip.h approach), with RIBO_GPU_NAME "hip" and the
 * NVIDIA capability macros false.
 *
 * What a vendor header defines:
 *   RIBO_GPU_NAME          the backend's name ("cuda"): ribo_cuda_backend.name, the error prefix of
 *                          ribo_cuda_check
 *   RIBO_GPU_DEVICE_PASS   1 in the device compilation pass, 0 in the host pass (and in host-only
 *                          compilers, e.g. the emulator tests' host code)
 *   RIBO_GPU_HIP           1 in the HIP build, 0 in the CUDA build (both passes)
 *   RIBO_WARP_SIZE         threads per logical warp the SIMT kernels are written for (32; a wave64
 *                          holds two, see vendor/hip.h)
 *   RIBO_WAVE_SIZE         the physical wave of the device pass (32 on NVIDIA and RDNA, 64 on CDNA;
 *                          0 in a HIP host pass, which serves every target of the fat binary)
 *   RIBO_AMD_MFMA          1 in AMD device passes with MFMA matrix cores (gfx908/90a/94x/950)
 *   RIBO_AMD_MFMA_BF16_1K  1 where the _1k bf16 MFMA forms exist (gfx90a on)
 *   RIBO_AMD_WMMA          1 in AMD device passes with RDNA3/4 WMMA
 *   RIBO_GPU_NV_MMA        1 where NVIDIA inline PTX mma.sync / ldmatrix / cp.async can be emitted:
 *                          NVIDIA, device pass, sm_80+ (cuda_attention_mma.cu)
 *   RIBO_GPU_NV_WMMA       1 where the nvcuda::wmma body of attention_wmma_kernel compiles: NVIDIA,
 *                          host pass or sm_80+ (bf16 fragments) (cuda_attention.cu)
 * (capability macros in the style of ggml-cuda/common.cuh). */
#ifndef RIBO_GPU_VENDOR_H
#define RIBO_GPU_VENDOR_H

#if defined(__HIP__) || defined(__HIPCC__) || defined(__HIP_PLATFORM_AMD__) || defined(RIBO_WITH_HIP)
#include "vendor/hip.h"
#else
#include "vendor/cuda.h"
#endif

#if !defined(RIBO_GPU_NAME) || !defined(RIBO_GPU_HIP) || !defined(RIBO_GPU_DEVICE_PASS) || !defined(RIBO_WARP_SIZE) || \
    !defined(RIBO_WAVE_SIZE) || !defined(RIBO_GPU_NV_MMA) || !defined(RIBO_GPU_NV_WMMA) || !defined(RIBO_AMD_MFMA) || \
    !defined(RIBO_AMD_MFMA_BF16_1K) || !defined(RIBO_AMD_WMMA)
#error "a vendor header defines RIBO_GPU_NAME, RIBO_GPU_HIP, RIBO_GPU_DEVICE_PASS, RIBO_WARP_SIZE, RIBO_WAVE_SIZE and the capability macros"
#endif
#if RIBO_WARP_SIZE != 32
#error "the SIMT kernels are written for 32-lane logical warps"
#endif

#endif
