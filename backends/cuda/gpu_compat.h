/* Portability layer between CUDA and HIP for the GPU kernels: the kernel sources include this
 * header and use the ribo_gpu* names, so a HIP build can map them to hip* without touching kernels
 * (the ggml approach). Only CUDA is wired up today. */
#ifndef RIBO_GPU_COMPAT_H
#define RIBO_GPU_COMPAT_H

/* RIBO_GPU_HAS_PTX: 1 where kernels may use NVIDIA inline PTX (mma.sync, ldmatrix, cp.async), still
 * only under __CUDA_ARCH__ checks; 0 on HIP, where those kernels compile to their fallbacks. */
#if defined(__HIP_PLATFORM_AMD__)
#define RIBO_GPU_HAS_PTX 0
#else
#define RIBO_GPU_HAS_PTX 1
#endif

#if defined(__HIP_PLATFORM_AMD__)
#error "HIP build not wired up yet (the HIP backend issue maps these names to hip*)"
#else
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
typedef cudaStream_t ribo_gpuStream_t;
typedef cudaError_t ribo_gpuError_t;
#define ribo_gpuSuccess cudaSuccess
#define ribo_gpuGetErrorString cudaGetErrorString
#define ribo_gpuGetLastError cudaGetLastError
#define RIBO_WARP_SIZE 32
#endif

#endif
