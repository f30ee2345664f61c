/* CUDA side of the GPU vendor layer (included through backends/cuda/vendor.h only; see there for
 * what each macro means). */
#ifndef RIBO_GPU_VENDOR_CUDA_H
#define RIBO_GPU_VENDOR_CUDA_H

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>
#include <vector_types.h>

#define RIBO_GPU_NAME "cuda"

#if defined(__CUDA_ARCH__)
#define RIBO_GPU_DEVICE_PASS 1
#else
#define RIBO_GPU_DEVICE_PASS 0
#endif

#define RIBO_GPU_HIP 0
#define RIBO_WARP_SIZE 32
#define RIBO_WAVE_SIZE 32

/* AMD matrix cores: never on NVIDIA */
#define RIBO_AMD_MFMA 0
#define RIBO_AMD_MFMA_BF16_1K 0
#define RIBO_AMD_WMMA 0

/* mma.sync, ldmatrix, cp.async and ex2.approx as inline PTX: sm_80+ device code */
#if RIBO_GPU_DEVICE_PASS && __CUDA_ARCH__ >= 800
#define RIBO_GPU_NV_MMA 1
#else
#define RIBO_GPU_NV_MMA 0
#endif

/* nvcuda::wmma with fp16 and bf16 fragments: sm_80+ device code; the host pass parses the body too */
#if !RIBO_GPU_DEVICE_PASS || __CUDA_ARCH__ >= 800
#define RIBO_GPU_NV_WMMA 1
#else
#define RIBO_GPU_NV_WMMA 0
#endif

#endif
