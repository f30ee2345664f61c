/* Host side shared by the two tensor-core attention files, cuda_attention_mma.cu (mma.sync, NVIDIA)
 * and backends/hip/hip_attention_mfma.cu (MFMA, AMD CDNA): the head sizes both compile, the grid of
 * 64-row query slots, which kernel variant a launch takes, and the set-up that records per head size
 * whether every variant can run on the device (cd->attn_mma_dims). The kernel file supplies K:
 *   template <typename T, int D, bool ALIBI, int ROPE> static const void *kernel();
 *   template <typename T, int D> static ribo_status check(const void *kernel, int limit, bool *ok,
 *                                                         const char *what, ribo_error *err);
 *       (*ok = false where that kernel cannot run on the current device)
 *   template <typename T, int D, bool ALIBI, int ROPE>
 *   static void launch(const ribo_tc_launch &p, unsigned blocks, cudaStream_t st);
 * Include after cuda_internal.h, in one file per build. */
#ifndef RIBO_CUDA_ATTENTION_TC_CUH
#define RIBO_CUDA_ATTENTION_TC_CUH

#include <string.h>

/* The arguments every variant's kernel takes (q_scale: 1 without rotary). */
struct ribo_tc_launch {
    const void *qkv;
    const int *cu_seqlens;
    int n_seqs;
    const float *alibi;
    void *out;
    int n_heads;
    float scale_log2;
    ribo_cuda_rope_freqs freqs;
    float q_scale;
};

/* The bit of head size d in cd->attn_mma_dims (0: not compiled). */
static inline int ribo_tc_dim_bit(int d) {
    switch (d) {
    case 16: return 1;
    case 24: return 2;
    case 32: return 4;
    case 64: return 8;
    case 128: return 16;
    default: return 0;
    }
}

/* CTAs of one launch: sequence s owns the slots cu[s]/64 + s .. cu[s+1]/64 + s of every head */
static inline unsigned long long ribo_tc_blocks(const ribo_attention_args *a) {
    return ((unsigned long long)a->n_tokens / 64 + (unsigned long long)a->n_seqs) * (unsigned long long)a->n_heads;
}

/* Head size D joins cd->attn_mma_dims when all four variants (plain, ALiBi, rotary on q, rotary) can run. */
template <class K, typename T, int D>
static ribo_status ribo_tc_prepare_dim(ribo_cuda_device *cd, int limit, const char *name, ribo_error *err) {
    static const char *const variant[4] = {"", " (ALiBi)", " (rotary on q)", " (rotary)"};
    const void *kernels[4] = {K::template kernel<T, D, false, 0>(), K::template kernel<T, D, true, 0>(),
                              K::template kernel<T, D, false, 1>(), K::template kernel<T, D, false, 2>()};
    bool ok = true;
    for (int v = 0; v < 4; ++v) {
        char what[64];
        snprintf(what, sizeof what, "%s%s", name, variant[v]);
        RIBO_TRY((K::template check<T, D>(kernels[v], limit, &ok, what, err)));
    }
    if (ok) cd->attn_mma_dims |= (unsigned)ribo_tc_dim_bit(D);
    return RIBO_OK;
}

template <class K, typename T>
static ribo_status ribo_tc_prepare_type(ribo_cuda_device *cd, int limit, const char *name, ribo_error *err) {
    RIBO_TRY((ribo_tc_prepare_dim<K, T, 16>(cd, limit, name, err)));
    RIBO_TRY((ribo_tc_prepare_dim<K, T, 24>(cd, limit, name, err)));
    RIBO_TRY((ribo_tc_prepare_dim<K, T, 32>(cd, limit, name, err)));
    RIBO_TRY((ribo_tc_prepare_dim<K, T, 64>(cd, limit, name, err)));
    return ribo_tc_prepare_dim<K, T, 128>(cd, limit, name, err);
}

/* Sets cd->attn_mma_dims for the device's storage (fp16/bf16; nothing for fp32). */
template <class K>
static ribo_status ribo_tc_prepare(ribo_cuda_device *cd, int limit, const char *name, ribo_error *err) {
    cd->attn_mma_dims = 0;
    if (cd->storage == RIBO_STORAGE_F16) return ribo_tc_prepare_type<K, __half>(cd, limit, name, err);
    if (cd->storage == RIBO_STORAGE_BF16) return ribo_tc_prepare_type<K, __nv_bfloat16>(cd, limit, name, err);
    return RIBO_OK;
}

static inline bool ribo_tc_supports(const ribo_cuda_device *cd, int head_dim) {
    const int bit = ribo_tc_dim_bit(head_dim);
    return bit && (cd->attn_mma_dims & (unsigned)bit);
}

/* The most CTAs of one 1-D launch: CUDA's gridDim.x limit; on AMD the dispatch packet holds the grid
 * in work-items (32 bits), so CTAs x the MFMA kernel's 256 threads must fit in 2^32 - 1. */
#if RIBO_GPU_HIP
#define RIBO_TC_MAX_BLOCKS (0xffffffffull / 256)
#else
#define RIBO_TC_MAX_BLOCKS 0x7fffffffull
#endif

static inline bool ribo_tc_fits(const ribo_cuda_device *cd, const ribo_attention_args *a) {
    return ribo_tc_supports(cd, a->head_dim) && a->n_seqs >= 1 && a->n_heads >= 1 && a->n_tokens >= 0 &&
           ribo_tc_blocks(a) <= RIBO_TC_MAX_BLOCKS;
}

/* rope 2: q and k rotated inside, 1: q only (k rotated before), 0: neither; ALiBi only without rotary */
template <class K, typename T, int D>
static void ribo_tc_launch_variant(const ribo_attention_args *a, int rope, unsigned blocks, cudaStream_t st) {
    ribo_tc_launch p;
    memset(&p, 0, sizeof p);
    p.qkv = ribo_cuda_ptr(a->qkv);
    p.cu_seqlens = (const int *)ribo_cuda_ptr(a->cu_seqlens);
    p.n_seqs = a->n_seqs;
    p.alibi = (const float *)ribo_cuda_ptr(a->alibi_slopes);
    p.out = ribo_cuda_ptr(a->out);
    p.n_heads = a->n_heads;
    p.scale_log2 = a->scale * 1.4426950408889634f;
    p.q_scale = rope ? a->q_scale : 1.0f;
    if (rope) ribo_cuda_rope_freqs_fill(&p.freqs, a->rope_theta, D);
    if (rope == 2) K::template launch<T, D, false, 2>(p, blocks, st);
    else if (rope == 1) K::template launch<T, D, false, 1>(p, blocks, st);
    else if (p.alibi) K::template launch<T, D, true, 0>(p, blocks, st);
    else K::template launch<T, D, false, 0>(p, blocks, st);
}

template <class K, typename T>
static void ribo_tc_launch_dim(const ribo_attention_args *a, int rope, unsigned blocks, cudaStream_t st) {
    switch (a->head_dim) {
    case 16: ribo_tc_launch_variant<K, T, 16>(a, rope, blocks, st); break;
    case 24: ribo_tc_launch_variant<K, T, 24>(a, rope, blocks, st); break;
    case 32: ribo_tc_launch_variant<K, T, 32>(a, rope, blocks, st); break;
    case 64: ribo_tc_launch_variant<K, T, 64>(a, rope, blocks, st); break;
    default: ribo_tc_launch_variant<K, T, 128>(a, rope, blocks, st); break;
    }
}

/* Launches the variant for a and rope; false (nothing launched) where the kernel does not take it. */
template <class K>
static bool ribo_tc_launch_any(const ribo_cuda_device *cd, const ribo_attention_args *a, int rope, cudaStream_t st) {
    if (!ribo_tc_fits(cd, a)) return false;
    if (rope < 0 || rope > 2 || (rope && a->alibi_slopes.buf)) return false; /* no rotary + ALiBi variant */
    const unsigned blocks = (unsigned)ribo_tc_blocks(a);
    if (cd->storage == RIBO_STORAGE_F16) ribo_tc_launch_dim<K, __half>(a, rope, blocks, st);
    else ribo_tc_launch_dim<K, __nv_bfloat16>(a, rope, blocks, st);
    return true;
}

#endif
