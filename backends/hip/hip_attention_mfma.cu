/* Packed varlen attention on AMD matrix cores (MFMA 16x16x16, fp16/bf16 storage, fp32 accumulation,
 * CDNA wave64: gfx908/90a/94x/950), FlashAttention-2 style with S, P and O in registers. The HIP
 * build's replacement for cuda_attention_mma.cu (cmake/hip_backend.cmake), with the same four entry
 * points (cuda_internal.h), so cuda_attention.cu's choice of kernel, its fused-rotary decision and its
 * fallbacks work unchanged. The body, its tiling and the lane layouts it relies on are in
 * hip_attention_mfma.cuh (shared with the CPU emulator test, tests/test_attention_mfma_emu.cu); this
 * file has the builtins, the per-device set-up and the launcher.
 *
 * Targets without MFMA (RDNA, gfx1030) compile the kernels to a trap: ribo_cuda_attention_mma_init
 * enables nothing on them (the ISA in the device props decides), so they run the SIMT kernels. */
#include <stdio.h>
#include <string.h>

#include <type_traits>

#include "backends/cuda/cuda_internal.h"
#include "backends/cuda/cuda_attention_tc.cuh"

#define RIBO_MMA_FN __device__ __forceinline__
#define RIBO_MFMA_FN __device__ __forceinline__
#include "hip_attention_mfma.cuh"

#if RIBO_AMD_MFMA && RIBO_WAVE_SIZE != 64
#error "the MFMA attention body is written for wave64"
#endif

/* The wave-level primitives of the body (see the Ops contract in hip_attention_mfma.cuh). */
struct ribo_mfma_device_ops {
    static constexpr bool BF16_1K = RIBO_AMD_MFMA_BF16_1K;
#if RIBO_AMD_MFMA
    typedef _Float16 half4_t __attribute__((ext_vector_type(4)));
    typedef short short4_t __attribute__((ext_vector_type(4)));
    typedef short short2_t __attribute__((ext_vector_type(2)));
    typedef float float4_t __attribute__((ext_vector_type(4)));
#endif
    template <typename T>
    static __device__ __forceinline__ void mfma(float d[4], const uint32_t a[2], const uint32_t b[2]) {
#if RIBO_AMD_MFMA
        float4_t c = {d[0], d[1], d[2], d[3]};
        if constexpr (std::is_same_v<T, __half>) {
            half4_t av, bv;
            memcpy(&av, a, 8);
            memcpy(&bv, b, 8);
            c = __builtin_amdgcn_mfma_f32_16x16x16f16(av, bv, c, 0, 0, 0);
        } else {
#if RIBO_AMD_MFMA_BF16_1K
            short4_t av, bv;
            memcpy(&av, a, 8);
            memcpy(&bv, b, 8);
            c = __builtin_amdgcn_mfma_f32_16x16x16bf16_1k(av, bv, c, 0, 0, 0);
#else
            __trap(); /* not reached: ribo_mfma_step uses mfma_bf16_k8 where BF16_1K is false */
#endif
        }
        d[0] = c[0];
        d[1] = c[1];
        d[2] = c[2];
        d[3] = c[3];
#else
        __trap();
#endif
    }
    static __device__ __forceinline__ void mfma_bf16_k8(float d[4], uint32_t a, uint32_t b) {
#if RIBO_AMD_MFMA
        float4_t c = {d[0], d[1], d[2], d[3]};
        short2_t av, bv;
        memcpy(&av, &a, 4);
        memcpy(&bv, &b, 4);
        c = __builtin_amdgcn_mfma_f32_16x16x8bf16(av, bv, c, 0, 0, 0);
        d[0] = c[0];
        d[1] = c[1];
        d[2] = c[2];
        d[3] = c[3];
#else
        __trap();
#endif
    }
    template <typename T>
    static __device__ __forceinline__ uint4 load16(const T *src) { return *reinterpret_cast<const uint4 *>(src); }
    static __device__ __forceinline__ void sync_cta() { __syncthreads(); }
    static __device__ __forceinline__ float shfl_xor(float v, int mask) { return __shfl_xor(v, mask); }
    static __device__ __forceinline__ float exp2(float x) { return exp2f(x); }
    static __device__ __forceinline__ void sincos(float r, float *s, float *c) { __sincosf(r, s, c); }
};

/* Packed varlen attention for storage T and head size D (16, 24, 32, 64, 128), ALiBi when ALIBI:
 * out[t, h*D:(h+1)*D] = softmax_j(q_t . k_j * scale - slope_h |i - j|) V over t's own sequence; ROPE
 * 2: q (scaled by q_scale) and k rotated first, 1: q only (k rotated before), as the mma kernel.
 * 1-D grid of (T/64 + n_seqs) * n_heads CTAs of 256 threads (4 waves); static LDS. What each CTA
 * does: ribo_mfma_attention_cta in hip_attention_mfma.cuh. */
template <typename T, int D, bool ALIBI, int ROPE>
__global__ void __launch_bounds__(256) attention_mfma_kernel(const T *qkv, const int *cu_seqlens, int n_seqs,
                                                             const float *alibi, T *out, int n_heads, float scale_log2,
                                                             ribo_cuda_rope_freqs freqs, float q_scale) {
#if RIBO_AMD_MFMA
    __shared__ __attribute__((aligned(16))) T smem[2 * ribo_mfma_attn_cfg<T, D>::TILE];
    __shared__ float inv_freq[ROPE ? D / 2 : 1]; /* read after the body's first barrier */
    if constexpr (ROPE)
        for (int i = (int)threadIdx.x; i < D / 2; i += (int)blockDim.x) inv_freq[i] = freqs.inv[i];
    ribo_mfma_attention_cta<ribo_mfma_device_ops, T, D, ALIBI, ROPE>(qkv, cu_seqlens, n_seqs, alibi, out, n_heads,
                                                                     scale_log2, blockIdx.x, smem, (int)threadIdx.x,
                                                                     inv_freq, q_scale);
#elif RIBO_GPU_DEVICE_PASS
    __trap(); /* never launched: ribo_cuda_attention_mma_init enables MFMA ISAs only */
#endif
}

/* ---------------------------------------------------------------- set-up and launch */

/* The kernel as cuda_attention_tc.cuh sees it. */
struct ribo_mfma_kernels {
    template <typename T, int D, bool ALIBI, int ROPE> static const void *kernel() {
        return (const void *)attention_mfma_kernel<T, D, ALIBI, ROPE>;
    }
    /* Whether the device has a code object for kernel f whose (static) LDS fits; *ok = false if not. */
    template <typename T, int D>
    static ribo_status check(const void *f, int max_lds, bool *ok, const char *what, ribo_error *err) {
        hipFuncAttributes fa;
        hipError_t rc = hipFuncGetAttributes(&fa, f);
        if (rc == hipErrorInvalidDeviceFunction || rc == hipErrorNoBinaryForGpu) {
            hipGetLastError();
            *ok = false;
            return RIBO_OK;
        }
        char w[128];
        snprintf(w, sizeof w, "reading the attributes of the %s attention kernel", what);
        RIBO_TRY(ribo_cuda_check(rc, w, err));
        if (fa.sharedSizeBytes > (size_t)max_lds) *ok = false;
        return RIBO_OK;
    }
    template <typename T, int D, bool ALIBI, int ROPE>
    static void launch(const ribo_tc_launch &p, unsigned blocks, hipStream_t st) {
        attention_mfma_kernel<T, D, ALIBI, ROPE><<<blocks, 256, 0, st>>>(
            (const T *)p.qkv, p.cu_seqlens, p.n_seqs, p.alibi, (T *)p.out, p.n_heads, p.scale_log2, p.freqs, p.q_scale);
    }
};

/* MFMA devices only: cuda_device.cu's read_props writes "MFMA <isa>" into matrix_units exactly
 * where ribo_hip_isa_has_mfma(isa) holds (the host-side twin of RIBO_AMD_MFMA). */
ribo_status ribo_cuda_attention_mma_init(ribo_cuda_device *cd, int max_optin_smem, ribo_error *err) {
    cd->attn_mma_dims = 0;
    const char *mu = cd->props.matrix_units;
    if (strncmp(mu, "MFMA ", 5) != 0 || !ribo_hip_isa_has_mfma(mu + 5)) return RIBO_OK;
    return ribo_tc_prepare<ribo_mfma_kernels>(cd, max_optin_smem, "MFMA", err);
}

bool ribo_cuda_attention_mma_supports(const ribo_cuda_device *cd, int head_dim) { return ribo_tc_supports(cd, head_dim); }

bool ribo_cuda_attention_mma_fits(const ribo_cuda_device *cd, const ribo_attention_args *a) { return ribo_tc_fits(cd, a); }

bool ribo_cuda_attention_mma_launch(const ribo_cuda_device *cd, const ribo_attention_args *a, int rope, hipStream_t st) {
    return ribo_tc_launch_any<ribo_mfma_kernels>(cd, a, rope, st);
}
