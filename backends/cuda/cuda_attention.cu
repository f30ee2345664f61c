/* CUDA backend attention: the CUDA-core kernels, the choice of kernel per launch, the set-up at
 * device open (RIBO_ATTENTION, RIBO_FUSE_ROTARY) and the ribo_kernel_i.attention entry, which also
 * decides where the rotary embedding of a->rotary happens.
 *
 *   out[t, h*D:(h+1)*D] = sum_j softmax_j(q_t . k_j * scale - slope_h |i - j|) v_j
 * over the keys j of t's own sequence (packed varlen batch, cu_seqlens; the ALiBi term only with
 * slopes). Four kernels compute it; choose_attention picks one per launch, falling down the table
 * where the asked-for one does not apply:
 *
 * path     kernel (file)                 runs when                                RIBO_ATTENTION
 * -------  ----------------------------  ---------------------------------------  ---------------
 * mma      attention_mma_kernel          fp16/bf16 storage, D in {16,24,32,64,     mma (default,
 *          (cuda_attention_mma.cu, body  128}, a device with an sm_80+ binary     also unset)
 *          cuda_attention_mma.cuh)       whose shared memory fits, 16-byte
 *                                        aligned qkv/out, grid <= 2^31-1 CTAs
 *                                        (else the next path down). The only
 *                                        path that fuses rotary (no ALiBi).
 * wmma     attention_wmma_kernel         fp16/bf16, D in {16,32,64,128}, sm_80+,  wmma (and the
 *          (cuda_attention_wmma.cu)      shared memory fits (D 128: ~112 KiB),    fallback of mma)
 *                                        16-byte aligned qkv/out
 * simt     attention_kernel<T, D, BK>    D in {16,24,32,64,128}: any storage      simt (and the
 *          (here; fp32 FMAs, tiled)      (the only tiled one for fp32), any       fallback of both)
 *                                        device, any alignment
 * generic  attention_generic_kernel      any other even D <= 128, whatever        (none: chosen
 *          (here; thread per token,head) RIBO_ATTENTION says                      by head size)
 *
 * How each is checked, against ref_attention (tests/ref_ops.c; with ref_rotary first for rotary):
 *   mma      tests/test_ops.c test_attention_reduced (RIBO_ATTENTION=mma, fp16 and bf16) and
 *            test_attention_rotary16 (fused q and k, and the separate pass), on a GPU; on any
 *            machine the kernel body runs under the CPU emulator of tests/test_attention_mma_emu.cu
 *            (ALiBi, the ROPE 1 and 2 variants, every head size)
 *   wmma     tests/test_ops.c test_attention_reduced and test_attention_rotary16 with
 *            RIBO_ATTENTION=wmma (GPU only)
 *   simt     tests/test_ops.c test_attention and test_attention_rotary (fp32 storage), and
 *            test_attention_reduced / test_attention_rotary16 with RIBO_ATTENTION=simt (GPU only);
 *            on any machine the body (cuda_attention_simt.cuh) runs under the CPU emulator of
 *            tests/test_simt_emu.cu with 32- and 64-lane waves (every tiled head size, lengths
 *            1..1000, ALiBi, fp32/fp16/bf16)
 *   generic  no GPU op test (test_ops.c uses the ESM-2 head sizes only); tests/test_simt_emu.cu runs
 *            its body for every head size 1..128 against ref_attention
 * test_ops.c's check_attn_path asks ribo_cuda_attention_path (cuda_debug.h) which path ran.
 *
 * Rotary (a->rotary, RIBO_FUSE_ROTARY read at open): where the mma path applies and there is no
 * ALiBi, "q" (the default) rotates k with the separate k-only pass (cuda_rope.cu) and q inside the
 * kernel, "1" both inside, "0" neither; every other launch runs the separate rotary pass over qkv
 * first and then the plain kernel. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_debug.h"
#include "cuda_launch.cuh"

#define RIBO_EW_FN __device__ __forceinline__
#include "cuda_attention_simt.cuh"

/* ---------------------------------------------------------------- attention */

/* Packed varlen attention, FlashAttention-2 style on CUDA cores (fp32 FMAs; the tensor-core versions
 * are cuda_attention_wmma.cu and cuda_attention_mma.cu). Block = (32-query tile, sequence, head), 128
 * threads, 4 per query; K/V tiles of BK keys staged in shared memory as fp32 (the CTA body
 * ribo_attn_simt_cta in cuda_attention_simt.cuh, shared with the CPU emulator test):
 *   out[t, h*D + :] = sum_j softmax_j(q_t . k_j * scale - slope_h |i - j|) v_j over j in sequence s. */
template <typename T, int D, int BK>
__global__ void __launch_bounds__(RIBO_ATTN_SIMT_THREADS)
    attention_kernel(const T *qkv, const int *cu_seqlens, const float *alibi, T *out, int n_heads, float scale) {
    __shared__ float ks[BK][D], vs[BK][D];
    ribo_attn_simt_cta<ribo_ew_device_ops, T, D, BK>(qkv, cu_seqlens, alibi, out, n_heads, scale, (int)blockIdx.x,
                                                     (int)blockIdx.y, (int)blockIdx.z, threadIdx.x, blockDim.x, ks, vs);
}

/* Fallback for head sizes without a specialised kernel (any D <= 128): one thread per (token, head)
 * walks its sequence's keys with an online softmax (ribo_attn_generic_thread in
 * cuda_attention_simt.cuh). Same result, slower. */
template <typename T>
__global__ void attention_generic_kernel(const T *qkv, const int *cu_seqlens, const int *seq_of_token,
                                         const float *alibi, T *out, int n_tokens, int n_heads, int head_dim,
                                         float scale) {
    ribo_attn_generic_thread<T>(qkv, cu_seqlens, seq_of_token, alibi, out, n_tokens, n_heads, head_dim, scale,
                                (int)(blockIdx.x * blockDim.x + threadIdx.x));
}

template <typename T, int D, int BK>
static void launch_attention(const ribo_attention_args *a, cudaStream_t st) {
    dim3 grid((unsigned)((a->max_seqlen + RIBO_ATTN_SIMT_QT - 1) / RIBO_ATTN_SIMT_QT), (unsigned)a->n_seqs,
              (unsigned)a->n_heads);
    attention_kernel<T, D, BK><<<grid, RIBO_ATTN_SIMT_THREADS, 0, st>>>((const T *)ribo_cuda_ptr(a->qkv), (const int *)ribo_cuda_ptr(a->cu_seqlens),
                                                    (const float *)ribo_cuda_ptr(a->alibi_slopes), (T *)ribo_cuda_ptr(a->out),
                                                    a->n_heads, a->scale);
}

/* CUDA-core paths: the tiled kernel for the ESM-2 head sizes, else the per-(token, head) fallback. */
template <typename T>
static void launch_attention_simt(const ribo_attention_args *a, cudaStream_t st) {
    switch (a->head_dim) {
    case 16: launch_attention<T, 16, 64>(a, st); return;
    case 24: launch_attention<T, 24, 64>(a, st); return;
    case 32: launch_attention<T, 32, 64>(a, st); return;
    case 64: launch_attention<T, 64, 64>(a, st); return;
    case 128: launch_attention<T, 128, 32>(a, st); return;
    default: {
        int n = a->n_tokens * a->n_heads;
        attention_generic_kernel<T><<<grid_for((size_t)n, 128), 128, 0, st>>>(
            (const T *)ribo_cuda_ptr(a->qkv), (const int *)ribo_cuda_ptr(a->cu_seqlens),
            (const int *)ribo_cuda_ptr(a->seq_of_token), (const float *)ribo_cuda_ptr(a->alibi_slopes),
            (T *)ribo_cuda_ptr(a->out), a->n_tokens, a->n_heads, a->head_dim, a->scale);
    }
    }
}

/* ---------------------------------------------------------------- attention kernel choice */

typedef enum attn_path { ATTN_PATH_MMA, ATTN_PATH_WMMA, ATTN_PATH_SIMT, ATTN_PATH_GENERIC } attn_path;

/* The kernel that runs attention of head size head_dim on this device: RIBO_ATTENTION's choice where
 * it applies (16-bit storage, a head size it has, a device it runs on, 16-byte aligned rows), else the
 * next one down: mma -> wmma -> simt (tiled, ESM-2 head sizes) -> generic. */
static attn_path choose_attention(const ribo_cuda_device *cd, int head_dim, bool aligned16) {
    const bool tiled = head_dim == 16 || head_dim == 24 || head_dim == 32 || head_dim == 64 || head_dim == 128;
    const attn_path simt = tiled ? ATTN_PATH_SIMT : ATTN_PATH_GENERIC;
    if (cd->storage == RIBO_STORAGE_F32 || !aligned16) return simt;
    if (cd->attn_choice == RIBO_CUDA_ATTN_MMA && ribo_cuda_attention_mma_supports(cd, head_dim)) return ATTN_PATH_MMA;
    if (cd->attn_choice != RIBO_CUDA_ATTN_SIMT && ribo_cuda_attention_wmma_supports(cd, head_dim))
        return ATTN_PATH_WMMA;
    return simt;
}

/* ---------------------------------------------------------------- set-up at device open */

ribo_status ribo_cuda_attention_init(ribo_cuda_device *cd, ribo_error *err) {
    const char *fuse = getenv("RIBO_FUSE_ROTARY");
    /* default q: measured on an H200 (ESM-2 650M shape, bf16), attention + rotary 536 us per layer and
     * batch against 723 us with k re-rotated by every query tile (1) and 536 us fully separate (0) */
    if (!fuse || !*fuse || !strcmp(fuse, "q")) cd->rotary_fusion = RIBO_CUDA_ROTARY_FUSED_Q;
    else if (!strcmp(fuse, "1")) cd->rotary_fusion = RIBO_CUDA_ROTARY_FUSED_QK;
    else if (!strcmp(fuse, "0")) cd->rotary_fusion = RIBO_CUDA_ROTARY_SEPARATE;
    else return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, RIBO_GPU_NAME ": RIBO_FUSE_ROTARY='%s' is not 0, 1 or q", fuse);
    const char *env = getenv("RIBO_ATTENTION");
    if (!env || !*env || !strcmp(env, "mma")) cd->attn_choice = RIBO_CUDA_ATTN_MMA;
    else if (!strcmp(env, "wmma")) cd->attn_choice = RIBO_CUDA_ATTN_WMMA;
    else if (!strcmp(env, "simt")) cd->attn_choice = RIBO_CUDA_ATTN_SIMT;
    else
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT,
                              RIBO_GPU_NAME ": RIBO_ATTENTION='%s' is not one of mma, wmma, simt", env);
    cd->attn_wmma_dims = cd->attn_mma_dims = 0;
    /* CUDA-core kernels only: fp32, and NVIDIA GPUs before sm_80 (on AMD, the MFMA set-up decides by ISA) */
    if (cd->storage == RIBO_STORAGE_F32 || (!RIBO_GPU_HIP && cd->cc_major < 8)) return RIBO_OK;
    int max_optin = 0;
    RIBO_TRY(ribo_cuda_check(cudaDeviceGetAttribute(&max_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, cd->ordinal),
                             "reading the shared-memory limit", err));
    RIBO_TRY(ribo_cuda_attention_wmma_init(cd, max_optin, err));
    return ribo_cuda_attention_mma_init(cd, max_optin, err);
}

/* ---------------------------------------------------------------- dispatch and entry */

extern "C" const char *ribo_cuda_attention_path(ribo_device *dev, int head_dim) {
    static const char *const names[] = {"mma", "wmma", "simt", "generic"};
    return names[choose_attention(ribo_cuda_dev(dev), head_dim, true)];
}

static bool attention_aligned16(const ribo_attention_args *a) {
    return aligned_to(ribo_cuda_ptr(a->qkv), 16) && aligned_to(ribo_cuda_ptr(a->out), 16);
}

/* Whether this launch can rotate inside the mma kernel: RIBO_FUSE_ROTARY on, no ALiBi, the mma path. */
static bool rotary_fuses(const ribo_cuda_device *cd, const ribo_attention_args *a) {
    return cd->rotary_fusion != RIBO_CUDA_ROTARY_SEPARATE && !a->alibi_slopes.buf &&
           choose_attention(cd, a->head_dim, attention_aligned16(a)) == ATTN_PATH_MMA;
}

/* cuda_debug.h: whether attention with rotary rotates inside the mma kernel for this head size (no
 * ALiBi; tensors from the executor are aligned to ribo_device_props.alignment, 256 bytes). */
extern "C" bool ribo_cuda_attention_fuses_rotary(ribo_device *dev, int head_dim) {
    const ribo_cuda_device *cd = ribo_cuda_dev(dev);
    return cd->rotary_fusion != RIBO_CUDA_ROTARY_SEPARATE && choose_attention(cd, head_dim, true) == ATTN_PATH_MMA;
}

template <typename T>
static void dispatch_attention(const ribo_attention_args *a, const ribo_cuda_device *cd, cudaStream_t st) {
    switch (choose_attention(cd, a->head_dim, attention_aligned16(a))) {
    case ATTN_PATH_MMA: {
        if (ribo_cuda_attention_mma_launch(cd, a, 0, st)) return;
        /* not launched (a grid beyond 2^31 - 1 CTAs): the next kernel down */
        if (ribo_cuda_attention_wmma_supports(cd, a->head_dim)) ribo_cuda_attention_wmma_launch(a, cd->storage, st);
        else launch_attention_simt<T>(a, st);
        return;
    }
    case ATTN_PATH_WMMA: ribo_cuda_attention_wmma_launch(a, cd->storage, st); return;
    default: launch_attention_simt<T>(a, st); return;
    }
}

ribo_status ribo_cuda_attention_check(const ribo_attention_args *a, ribo_error *err) {
    if (a->head_dim > 128 || a->head_dim < 1)
        return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, RIBO_GPU_NAME ": attention head size %d is not in 1..128",
                              a->head_dim);
    if (a->rotary && a->head_dim % 2)
        return ribo_error_set(err, RIBO_ERR_UNSUPPORTED,
                              RIBO_GPU_NAME ": rotary attention needs an even head size (got %d)", a->head_dim);
    if (a->rotary && !a->positions.buf)
        return ribo_error_set(err, RIBO_ERR_INTERNAL, RIBO_GPU_NAME ": attention with rotary but no positions");
    return RIBO_OK;
}

/* Attention, with the rotary of a->rotary inside the mma kernel where it fuses, else as the separate
 * in-place pass over qkv first: this entry alone decides. */
ribo_status ribo_cuda_attention(ribo_stream *s, const ribo_attention_args *a, ribo_error *err) {
    RIBO_TRY(ribo_cuda_attention_check(a, err));
    RIBO_TRY(ribo_cuda_use(s->dev, err));
    if (a->n_tokens == 0 || a->n_seqs == 0) return RIBO_OK; /* nothing to attend */
    const ribo_cuda_device *cd = ribo_cuda_dev(s->dev);
    ribo_attention_args plain = *a;
    if (a->rotary && rotary_fuses(cd, a) && ribo_cuda_attention_mma_fits(cd, a)) {
        const ribo_cuda_rotary_args r = {.qkv = a->qkv, .positions = a->positions, .n_tokens = a->n_tokens,
                                         .n_heads = a->n_heads, .head_dim = a->head_dim, .theta = a->rope_theta,
                                         .q_scale = a->q_scale};
        bool k_done = false;
        if (cd->rotary_fusion == RIBO_CUDA_ROTARY_FUSED_Q) {
            k_done = ribo_cuda_rotary_k_only(&r, cd->storage, ribo_cuda_stream(s));
            if (k_done) RIBO_TRY(launched(s, "rotary (k)", err));
        }
        if (ribo_cuda_attention_mma_launch(cd, a, k_done ? 1 : 2, ribo_cuda_stream(s)))
            return launched(s, "attention (rotary fused)", err);
        return ribo_error_set(err, RIBO_ERR_INTERNAL, RIBO_GPU_NAME ": the fused attention did not launch");
    }
    if (a->rotary) {
        const ribo_cuda_rotary_args r = {.qkv = a->qkv, .positions = a->positions, .n_tokens = a->n_tokens,
                                         .n_heads = a->n_heads, .head_dim = a->head_dim, .theta = a->rope_theta,
                                         .q_scale = a->q_scale};
        RIBO_TRY(ribo_cuda_rotary(s, &r, err));
        plain.rotary = 0;
    }
    DISPATCH(cd->storage, dispatch_attention, &plain, cd, ribo_cuda_stream(s));
    return launched(s, "attention", err);
}
