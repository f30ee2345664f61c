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

/* ---------------------------------------------------------------- one-time set-up per device */

static int mfma_dim_bit(int d) {
    switch (d) {
    case 16: return 1;
    case 24: return 2;
    case 32: return 4;
    case 64: return 8;
    case 128: return 16;
    default: return 0;
    }
}

/* Whether the device has a code object for kernel f whose LDS fits (*ok stays true then). */
static ribo_status check_kernel(const void *f, int max_lds, bool *ok, ribo_error *err) {
    hipFuncAttributes fa;
    hipError_t rc = hipFuncGetAttributes(&fa, f);
    if (rc == hipErrorInvalidDeviceFunction || rc == hipErrorNoBinaryForGpu) {
        hipGetLastError();
        *ok = false;
        return RIBO_OK;
    }
    RIBO_TRY(ribo_cuda_check(rc, "reading the attributes of the MFMA attention kernel", err));
    if (fa.sharedSizeBytes > (size_t)max_lds) *ok = false;
    return RIBO_OK;
}

template <typename T, int D>
static ribo_status prepare_mfma(ribo_cuda_device *cd, int max_lds, ribo_error *err) {
    bool ok = true;
    RIBO_TRY(check_kernel((const void *)attention_mfma_kernel<T, D, false, 0>, max_lds, &ok, err));
    RIBO_TRY(check_kernel((const void *)attention_mfma_kernel<T, D, true, 0>, max_lds, &ok, err));
    RIBO_TRY(check_kernel((const void *)attention_mfma_kernel<T, D, false, 1>, max_lds, &ok, err));
    RIBO_TRY(check_kernel((const void *)attention_mfma_kernel<T, D, false, 2>, max_lds, &ok, err));
    if (ok) cd->attn_mma_dims |= (unsigned)mfma_dim_bit(D);
    return RIBO_OK;
}

template <typename T>
static ribo_status prepare_mfma_all(ribo_cuda_device *cd, int max_lds, ribo_error *err) {
    RIBO_TRY((prepare_mfma<T, 16>(cd, max_lds, err)));
    RIBO_TRY((prepare_mfma<T, 24>(cd, max_lds, err)));
    RIBO_TRY((prepare_mfma<T, 32>(cd, max_lds, err)));
    RIBO_TRY((prepare_mfma<T, 64>(cd, max_lds, err)));
    return prepare_mfma<T, 128>(cd, max_lds, err);
}

/* MFMA devices only: cuda_device.cu's read_props writes "MFMA <isa>" into matrix_units exactly
 * where ribo_hip_isa_has_mfma(isa) holds (the host-side twin of RIBO_AMD_MFMA). */
ribo_status ribo_cuda_attention_mma_init(ribo_cuda_device *cd, int max_optin_smem, ribo_error *err) {
    cd->attn_mma_dims = 0;
    const char *mu = cd->props.matrix_units;
    if (strncmp(mu, "MFMA ", 5) != 0 || !ribo_hip_isa_has_mfma(mu + 5)) return RIBO_OK;
    if (cd->storage == RIBO_STORAGE_F16) return prepare_mfma_all<__half>(cd, max_optin_smem, err);
    if (cd->storage == RIBO_STORAGE_BF16) return prepare_mfma_all<__nv_bfloat16>(cd, max_optin_smem, err);
    return RIBO_OK;
}

bool ribo_cuda_attention_mma_supports(const ribo_cuda_device *cd, int head_dim) {
    const int bit = mfma_dim_bit(head_dim);
    return bit && (cd->attn_mma_dims & (unsigned)bit);
}

/* ---------------------------------------------------------------- launch */

template <typename T, int D>
static void launch_mfma(const ribo_attention_args *a, int rope, unsigned blocks, hipStream_t st) {
    const float scale_log2 = a->scale * 1.4426950408889634f;
    const T *qkv = (const T *)ribo_cuda_ptr(a->qkv);
    const int *cu = (const int *)ribo_cuda_ptr(a->cu_seqlens);
    const float *alibi = (const float *)ribo_cuda_ptr(a->alibi_slopes);
    T *out = (T *)ribo_cuda_ptr(a->out);
    ribo_cuda_rope_freqs freqs;
    memset(&freqs, 0, sizeof freqs);
    if (rope) ribo_cuda_rope_freqs_fill(&freqs, a->rope_theta, D);
    if (rope == 2)
        attention_mfma_kernel<T, D, false, 2>
            <<<blocks, 256, 0, st>>>(qkv, cu, a->n_seqs, alibi, out, a->n_heads, scale_log2, freqs, a->q_scale);
    else if (rope == 1)
        attention_mfma_kernel<T, D, false, 1>
            <<<blocks, 256, 0, st>>>(qkv, cu, a->n_seqs, alibi, out, a->n_heads, scale_log2, freqs, a->q_scale);
    else if (alibi)
        attention_mfma_kernel<T, D, true, 0>
            <<<blocks, 256, 0, st>>>(qkv, cu, a->n_seqs, alibi, out, a->n_heads, scale_log2, freqs, 1.0f);
    else
        attention_mfma_kernel<T, D, false, 0>
            <<<blocks, 256, 0, st>>>(qkv, cu, a->n_seqs, alibi, out, a->n_heads, scale_log2, freqs, 1.0f);
}

template <typename T>
static void launch_mfma_dim(const ribo_attention_args *a, int rope, unsigned blocks, hipStream_t st) {
    switch (a->head_dim) {
    case 16: launch_mfma<T, 16>(a, rope, blocks, st); break;
    case 24: launch_mfma<T, 24>(a, rope, blocks, st); break;
    case 32: launch_mfma<T, 32>(a, rope, blocks, st); break;
    case 64: launch_mfma<T, 64>(a, rope, blocks, st); break;
    default: launch_mfma<T, 128>(a, rope, blocks, st); break;
    }
}

/* CTAs of one launch: sequence s owns the slots cu[s]/64 + s .. cu[s+1]/64 + s (as the mma kernel) */
static unsigned long long mfma_blocks(const ribo_attention_args *a) {
    return ((unsigned long long)a->n_tokens / 64 + (unsigned long long)a->n_seqs) * (unsigned long long)a->n_heads;
}

bool ribo_cuda_attention_mma_fits(const ribo_cuda_device *cd, const ribo_attention_args *a) {
    return ribo_cuda_attention_mma_supports(cd, a->head_dim) && a->n_seqs >= 1 && a->n_heads >= 1 && a->n_tokens >= 0 &&
           mfma_blocks(a) <= 0x7fffffffull;
}

bool ribo_cuda_attention_mma_launch(const ribo_cuda_device *cd, const ribo_attention_args *a, int rope, hipStream_t st) {
    if (!ribo_cuda_attention_mma_fits(cd, a)) return false;
    if (rope < 0 || rope > 2 || (rope && a->alibi_slopes.buf)) return false; /* no rotary + ALiBi variant */
    const unsigned long long blocks = mfma_blocks(a);
    if (cd->storage == RIBO_STORAGE_F16) launch_mfma_dim<__half>(a, rope, (unsigned)blocks, st);
    else launch_mfma_dim<__nv_bfloat16>(a, rope, (unsigned)blocks, st);
    return true;
}
