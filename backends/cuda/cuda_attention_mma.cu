/* Packed varlen attention on tensor cores with mma.sync.aligned.m16n8k16 (fp16/bf16 storage, fp32
 * accumulation, sm_80+), FlashAttention-2 style with S, P and O in registers. The kernel body, its
 * tiling and the register layouts it relies on are in cuda_attention_mma.cuh (shared with the CPU
 * emulator test); this file has the inline-PTX primitives, the one-time per-device set-up and the
 * launcher. Selected by RIBO_ATTENTION (see the table in cuda_attention.cu); the WMMA kernel is the
 * fallback. A third variant per head size applies ESM-2's rotary embedding to the Q and K tiles as they
 * arrive in shared memory (attention with `rotary` set; RIBO_FUSE_ROTARY=0 runs the separate rotary
 * pass instead). */
#include <stdio.h>
#include <string.h>

#include <type_traits>

#include "cuda_internal.h"
#include "cuda_attention_tc.cuh"

#define RIBO_MMA_FN __device__ __forceinline__
#include "cuda_attention_mma.cuh"

/* Inline PTX only where it exists (RIBO_GPU_NV_MMA, vendor.h): NVIDIA device code for sm_80 and newer. */

/* The warp-level primitives of the kernel body as inline PTX (see the Ops contract in the .cuh). */
struct ribo_mma_device_ops {
    static __device__ __forceinline__ unsigned smem_u32(const void *p) {
        return (unsigned)__cvta_generic_to_shared(p);
    }
    /* 16-byte global -> shared copy, bypassing L1; src-size 0 (valid == false) zero-fills */
    static __device__ __forceinline__ void cp_async16(void *dst, const void *src, bool valid) {
#if RIBO_GPU_NV_MMA
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_u32(dst)),
                     "l"(__cvta_generic_to_global(src)), "r"(valid ? 16 : 0)
                     : "memory");
#else
        __trap();
#endif
    }
    static __device__ __forceinline__ void cp_async_commit() {
#if RIBO_GPU_NV_MMA
        asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
    }
    static __device__ __forceinline__ void cp_async_wait_all() {
#if RIBO_GPU_NV_MMA
        asm volatile("cp.async.wait_group 0;\n" ::: "memory");
#endif
    }
    static __device__ __forceinline__ void sync_cta() { __syncthreads(); }
    static __device__ __forceinline__ void sync_warp() { __syncwarp(); }
    static __device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const void *p) {
#if RIBO_GPU_NV_MMA
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                     : "r"(smem_u32(p)));
#else
        __trap();
#endif
    }
    static __device__ __forceinline__ void ldmatrix_x4_trans(uint32_t r[4], const void *p) {
#if RIBO_GPU_NV_MMA
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                     : "r"(smem_u32(p)));
#else
        __trap();
#endif
    }
    /* d = A B + d, A 16x16 row-major, B 16x8 column-major, fp32 accumulators */
    template <typename T>
    static __device__ __forceinline__ void mma(float d[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
#if RIBO_GPU_NV_MMA
        if constexpr (std::is_same_v<T, __half>)
            asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                "{%0, %1, %2, %3};\n"
                : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
        else
            asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                "{%0, %1, %2, %3};\n"
                : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
        __trap();
#endif
    }
    static __device__ __forceinline__ float shfl_xor(float v, int mask) { return __shfl_xor_sync(0xffffffffu, v, mask); }
    /* 2^x, approximate (rel. err ~2^-22), subnormal results flushed to 0; 2^-inf = 0 */
    static __device__ __forceinline__ float exp2(float x) {
#if RIBO_GPU_NV_MMA
        float y;
        asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
        return y;
#else
        return exp2f(x);
#endif
    }
    /* sin and cos on [-pi, pi] (the fused rotary reduces its angles first): MUFU.SIN/COS, absolute
     * error ~2^-21.4 there */
    static __device__ __forceinline__ void sincos(float r, float *s, float *c) { __sincosf(r, s, c); }
};

/* Packed varlen attention for storage T and head size D (16, 24, 32, 64, 128), ALiBi when ALIBI:
 * out[t, h*D:(h+1)*D] = softmax_j(q_t . k_j * scale - slope_h |i - j|) V over t's own sequence;
 * when ROPE (2: q and k, 1: q only, k rotated before) they are first rotated as the rotary op does (q scaled by q_scale; inv_freq from
 * freqs, positions = index within the sequence). 1-D grid of (T/64 + n_seqs) * n_heads CTAs of 128
 * threads; cfg::SMEM_BYTES dynamic shared memory. What each CTA does: ribo_mma_attention_cta in
 * cuda_attention_mma.cuh. */
template <typename T, int D, bool ALIBI, int ROPE>
__global__ void __launch_bounds__(128) attention_mma_kernel(const T *qkv, const int *cu_seqlens, int n_seqs,
                                                            const float *alibi, T *out, int n_heads, float scale_log2,
                                                            ribo_cuda_rope_freqs freqs, float q_scale) {
#if RIBO_GPU_NV_MMA
    extern __shared__ __align__(128) unsigned char ribo_mma_smem[];
    __shared__ float inv_freq[ROPE ? D / 2 : 1]; /* read after the body's first barrier */
    if constexpr (ROPE)
        for (int i = (int)threadIdx.x; i < D / 2; i += (int)blockDim.x) inv_freq[i] = freqs.inv[i];
    ribo_mma_attention_cta<ribo_mma_device_ops, T, D, ALIBI, ROPE>(qkv, cu_seqlens, n_seqs, alibi, out, n_heads,
                                                                  scale_log2, blockIdx.x, (T *)ribo_mma_smem,
                                                                  (int)threadIdx.x, inv_freq, q_scale);
#elif RIBO_GPU_DEVICE_PASS
    __trap(); /* never launched: ribo_cuda_attention_mma_init only enables devices with an sm_80+ binary */
#endif
}

/* ---------------------------------------------------------------- set-up and launch */

/* The kernel as cuda_attention_tc.cuh sees it. */
struct ribo_mma_kernels {
    template <typename T, int D, bool ALIBI, int ROPE> static const void *kernel() {
        return (const void *)attention_mma_kernel<T, D, ALIBI, ROPE>;
    }
    /* Checks that the device runs an sm_80+ binary of kernel f and that its shared memory fits; sets
     * the dynamic shared-memory limit once (not per launch). *ok = false when it cannot run here. */
    template <typename T, int D>
    static ribo_status check(const void *f, int max_optin, bool *ok, const char *what, ribo_error *err) {
        constexpr size_t smem = ribo_mma_attn_cfg<T, D>::SMEM_BYTES;
        cudaFuncAttributes fa;
        cudaError_t rc = cudaFuncGetAttributes(&fa, f);
        if (rc == cudaErrorInvalidDeviceFunction || rc == cudaErrorNoKernelImageForDevice ||
            rc == cudaErrorUnsupportedPtxVersion) {
            cudaGetLastError();
            *ok = false;
            return RIBO_OK;
        }
        char w[128];
        snprintf(w, sizeof w, "reading the attributes of the %s attention kernel", what);
        RIBO_TRY(ribo_cuda_check(rc, w, err));
        if (fa.binaryVersion < 80 || smem > (size_t)max_optin) {
            *ok = false;
            return RIBO_OK;
        }
        snprintf(w, sizeof w, "setting the shared-memory size of the %s attention kernel", what);
        RIBO_TRY(ribo_cuda_check(cudaFuncSetAttribute(f, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem), w, err));
        return RIBO_OK;
    }
    template <typename T, int D, bool ALIBI, int ROPE>
    static void launch(const ribo_tc_launch &p, unsigned blocks, cudaStream_t st) {
        attention_mma_kernel<T, D, ALIBI, ROPE><<<blocks, 128, ribo_mma_attn_cfg<T, D>::SMEM_BYTES, st>>>(
            (const T *)p.qkv, p.cu_seqlens, p.n_seqs, p.alibi, (T *)p.out, p.n_heads, p.scale_log2, p.freqs, p.q_scale);
    }
};

ribo_status ribo_cuda_attention_mma_init(ribo_cuda_device *cd, int max_optin, ribo_error *err) {
    cd->attn_mma_dims = 0;
    if (cd->cc_major < 8) return RIBO_OK;
    return ribo_tc_prepare<ribo_mma_kernels>(cd, max_optin, "mma", err);
}

bool ribo_cuda_attention_mma_supports(const ribo_cuda_device *cd, int head_dim) { return ribo_tc_supports(cd, head_dim); }

bool ribo_cuda_attention_mma_fits(const ribo_cuda_device *cd, const ribo_attention_args *a) { return ribo_tc_fits(cd, a); }

bool ribo_cuda_attention_mma_launch(const ribo_cuda_device *cd, const ribo_attention_args *a, int rope, cudaStream_t st) {
    return ribo_tc_launch_any<ribo_mma_kernels>(cd, a, rope, st);
}
