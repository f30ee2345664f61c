/* Packed varlen attention on tensor cores with nvcuda::wmma (16x16x16 fragments, fp16/bf16 storage,
 * fp32 accumulation, sm_80+; head sizes 16, 32, 64, 128): the kernel, its shared-memory layout, the
 * one-time per-device set-up and the launcher. Chosen by cuda_attention.cu (RIBO_ATTENTION=wmma, or
 * the mma path's fallback; see the table there). */
#include <math.h>
#include <stdint.h>

#include <type_traits>

#include "cuda_launch.cuh"

/* Packed varlen attention on tensor cores (fp16/bf16 storage; WMMA 16x16x16, fp32 accumulation),
 * FlashAttention-2 style. Block = (64-query tile, sequence, head), 4 warps of 16 query rows each.
 * Per 64-key tile of the block's own sequence: S = Q K^T on tensor cores -> shared memory; each pair
 * of lanes owns one query row for the online softmax (scale, ALiBi -slope*|i-j|, keys past the
 * sequence end masked), P is rounded to T and O (fp32, in shared memory) is rescaled and updated with
 * O += P V on tensor cores. Result: out[t, h*D:(h+1)*D] = softmax(q_t K^T * scale + bias) V over the
 * sequence's keys only. */
template <typename T, int D>
struct wmma_attention_layout {
    static constexpr int BQ = 64, BK = 64, WARPS = 4;
    static constexpr int LDT = D + 8, LDS = BK + 4, LDP = BK + 8, LDO = D + 4; /* padded leading dims */
    static constexpr size_t q_off = 0;
    static constexpr size_t k_off = q_off + sizeof(T) * BQ * LDT;
    static constexpr size_t v_off = k_off + sizeof(T) * BK * LDT;
    static constexpr size_t s_off = v_off + sizeof(T) * BK * LDT;
    static constexpr size_t p_off = s_off + sizeof(float) * WARPS * 16 * LDS;
    static constexpr size_t o_off = p_off + sizeof(T) * WARPS * 16 * LDP;
    static constexpr size_t bytes = o_off + sizeof(float) * WARPS * 16 * LDO;
};

template <typename T, int D>
__global__ void __launch_bounds__(128) attention_wmma_kernel(const T *qkv, const int *cu_seqlens, const float *alibi,
                                                             T *out, int n_heads, float scale) {
#if RIBO_GPU_NV_WMMA
    using L = wmma_attention_layout<T, D>;
    using namespace nvcuda;
    extern __shared__ __align__(128) unsigned char smem[];
    T *qs = (T *)(smem + L::q_off), *ks = (T *)(smem + L::k_off), *vs = (T *)(smem + L::v_off);
    float *ss = (float *)(smem + L::s_off), *os = (float *)(smem + L::o_off);
    T *ps = (T *)(smem + L::p_off);
    const int s = blockIdx.y, h = blockIdx.z;
    const int begin = cu_seqlens[s], len = cu_seqlens[s + 1] - begin;
    const int q0 = blockIdx.x * L::BQ;
    if (q0 >= len) return;
    const int hd = n_heads * D, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const size_t row = (size_t)3 * hd;
    /* 16-byte loads: 8 elements of T; rows and head offsets are multiples of 16 elements */
    constexpr int VEC = 8, VPR = D / VEC;
    const uint4 zero4 = make_uint4(0u, 0u, 0u, 0u);
    for (int e = threadIdx.x; e < L::BQ * VPR; e += blockDim.x) {
        int r = e / VPR, d = (e % VPR) * VEC;
        *(uint4 *)(qs + r * L::LDT + d) =
            q0 + r < len ? *(const uint4 *)(qkv + (size_t)(begin + q0 + r) * row + h * D + d) : zero4;
    }
    float *ow = os + warp * 16 * L::LDO, *sw = ss + warp * 16 * L::LDS;
    T *pw = ps + warp * 16 * L::LDP;
    for (int e = lane; e < 16 * L::LDO; e += 32) ow[e] = 0.0f;
    const int r_local = lane / 2, half = lane % 2;
    const int qpos = q0 + warp * 16 + r_local;
    const float slope = alibi ? alibi[h] : 0.0f;
    float m = -INFINITY, l = 0.0f;
    for (int k0 = 0; k0 < len; k0 += L::BK) {
        __syncthreads(); /* previous tile fully consumed (and Q/O initialised on the first) */
        for (int e = threadIdx.x; e < L::BK * VPR; e += blockDim.x) {
            int r = e / VPR, d = (e % VPR) * VEC;
            bool in = k0 + r < len;
            const T *base = qkv + (size_t)(begin + k0 + (in ? r : 0)) * row + h * D + d;
            *(uint4 *)(ks + r * L::LDT + d) = in ? *(const uint4 *)(base + hd) : zero4;
            *(uint4 *)(vs + r * L::LDT + d) = in ? *(const uint4 *)(base + 2 * hd) : zero4;
        }
        __syncthreads();
        /* S = Q_w K^T: 16 x 64 per warp */
#pragma unroll
        for (int j = 0; j < L::BK / 16; ++j) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::fill_fragment(acc, 0.0f);
#pragma unroll
            for (int kk = 0; kk < D / 16; ++kk) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> b;
                wmma::load_matrix_sync(a, qs + (warp * 16) * L::LDT + kk * 16, L::LDT);
                wmma::load_matrix_sync(b, ks + (j * 16) * L::LDT + kk * 16, L::LDT);
                wmma::mma_sync(acc, a, b, acc);
            }
            wmma::store_matrix_sync(sw + j * 16, acc, L::LDS, wmma::mem_row_major);
        }
        __syncwarp();
        /* online softmax on this lane's half row (32 keys) */
        float *srow = sw + r_local * L::LDS + half * 32;
        float tile_max = -INFINITY;
#pragma unroll 8
        for (int c = 0; c < 32; ++c) {
            int key = k0 + half * 32 + c;
            float v = srow[c] * scale;
            if (alibi) v -= slope * fabsf((float)(qpos - key));
            v = key < len ? v : -INFINITY;
            srow[c] = v;
            tile_max = fmaxf(tile_max, v);
        }
        tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
        const float m_new = fmaxf(m, tile_max), corr = expf(m - m_new);
        float psum = 0.0f;
        T *prow = pw + r_local * L::LDP + half * 32;
#pragma unroll 8
        for (int c = 0; c < 32; ++c) {
            T p = from_f<T>(expf(srow[c] - m_new));
            prow[c] = p;
            psum += to_f(p); /* the normaliser sums exactly the weights used in P V */
        }
        psum += __shfl_xor_sync(0xffffffffu, psum, 1);
        l = l * corr + psum;
        m = m_new;
        float *orow = ow + r_local * L::LDO + half * (D / 2);
#pragma unroll
        for (int c = 0; c < D / 2; ++c) orow[c] *= corr;
        __syncwarp();
        /* O += P V: 16 x D per warp */
#pragma unroll
        for (int j = 0; j < D / 16; ++j) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> o;
            wmma::load_matrix_sync(o, ow + j * 16, L::LDO, wmma::mem_row_major);
#pragma unroll
            for (int kk = 0; kk < L::BK / 16; ++kk) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> b;
                wmma::load_matrix_sync(a, pw + kk * 16, L::LDP);
                wmma::load_matrix_sync(b, vs + (kk * 16) * L::LDT + j * 16, L::LDT);
                wmma::mma_sync(o, a, b, o);
            }
            wmma::store_matrix_sync(ow + j * 16, o, L::LDO, wmma::mem_row_major);
        }
        __syncwarp();
    }
    if (qpos < len) {
        const float inv = 1.0f / l;
        const float *orow = ow + r_local * L::LDO + half * (D / 2);
        T *op = out + (size_t)(begin + qpos) * hd + h * D + half * (D / 2);
#pragma unroll
        for (int c = 0; c < D / 2; ++c) op[c] = from_f<T>(orow[c] * inv);
    }
#else
    __trap(); /* tensor-core path needs sm_80+; dispatch never selects it below */
#endif
}

template <typename T, int D>
static void launch_attention_wmma(const ribo_attention_args *a, cudaStream_t st) {
    using L = wmma_attention_layout<T, D>; /* its shared-memory limit was set at device open */
    dim3 grid((unsigned)((a->max_seqlen + L::BQ - 1) / L::BQ), (unsigned)a->n_seqs, (unsigned)a->n_heads);
    attention_wmma_kernel<T, D><<<grid, 128, L::bytes, st>>>((const T *)ribo_cuda_ptr(a->qkv),
                                                             (const int *)ribo_cuda_ptr(a->cu_seqlens),
                                                             (const float *)ribo_cuda_ptr(a->alibi_slopes),
                                                             (T *)ribo_cuda_ptr(a->out), a->n_heads, a->scale);
}

/* Tensor-core WMMA path for 16-bit storage and head sizes that are multiples of 16 (all ESM-2 sizes but 24). */
template <typename T>
static void launch_attention_wmma_dim(const ribo_attention_args *a, cudaStream_t st) {
    if constexpr (!std::is_same_v<T, float>) {
        switch (a->head_dim) {
        case 16: launch_attention_wmma<T, 16>(a, st); return;
        case 32: launch_attention_wmma<T, 32>(a, st); return;
        case 64: launch_attention_wmma<T, 64>(a, st); return;
        default: launch_attention_wmma<T, 128>(a, st); return;
        }
    }
}

/* ---------------------------------------------------------------- one-time set-up per device */

static int wmma_dim_bit(int d) { return d == 16 ? 1 : d == 32 ? 2 : d == 64 ? 4 : d == 128 ? 8 : 0; }

template <typename T, int D>
static ribo_status prepare_wmma(ribo_cuda_device *cd, int max_optin, ribo_error *err) {
    cudaFuncAttributes fa;
    const void *f = (const void *)attention_wmma_kernel<T, D>;
    const size_t smem = wmma_attention_layout<T, D>::bytes;
    cudaError_t rc = cudaFuncGetAttributes(&fa, f);
    if (rc == cudaErrorInvalidDeviceFunction || rc == cudaErrorNoKernelImageForDevice || rc == cudaErrorUnsupportedPtxVersion) {
        cudaGetLastError();
        return RIBO_OK; /* no binary for this device: the SIMT kernels run instead */
    }
    RIBO_TRY(ribo_cuda_check(rc, "reading the attributes of the wmma attention kernel", err));
    if (fa.binaryVersion < 80 || smem > (size_t)max_optin) return RIBO_OK;
    RIBO_TRY(ribo_cuda_check(cudaFuncSetAttribute(f, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem),
                             "setting the shared-memory size of the wmma attention kernel", err));
    cd->attn_wmma_dims |= (unsigned)wmma_dim_bit(D);
    return RIBO_OK;
}

template <typename T>
static ribo_status prepare_wmma_all(ribo_cuda_device *cd, int max_optin, ribo_error *err) {
    RIBO_TRY((prepare_wmma<T, 16>(cd, max_optin, err)));
    RIBO_TRY((prepare_wmma<T, 32>(cd, max_optin, err)));
    RIBO_TRY((prepare_wmma<T, 64>(cd, max_optin, err)));
    return prepare_wmma<T, 128>(cd, max_optin, err);
}

ribo_status ribo_cuda_attention_wmma_init(ribo_cuda_device *cd, int max_optin, ribo_error *err) {
    if (RIBO_GPU_HIP) return RIBO_OK; /* nvcuda::wmma is NVIDIA's; AMD runs the MFMA kernel (backends/hip) */
    if (cd->storage == RIBO_STORAGE_F16) return prepare_wmma_all<__half>(cd, max_optin, err);
    return prepare_wmma_all<__nv_bfloat16>(cd, max_optin, err);
}

bool ribo_cuda_attention_wmma_supports(const ribo_cuda_device *cd, int head_dim) {
    const int wbit = wmma_dim_bit(head_dim);
    return wbit && (cd->attn_wmma_dims & (unsigned)wbit);
}

void ribo_cuda_attention_wmma_launch(const ribo_attention_args *a, ribo_storage storage, cudaStream_t st) {
    if (storage == RIBO_STORAGE_F16) launch_attention_wmma_dim<__half>(a, st);
    else if (storage == RIBO_STORAGE_BF16) launch_attention_wmma_dim<__nv_bfloat16>(a, st);
}
