/* CUDA backend kernels. Activations and weights are stored as T (float, __half or __nv_bfloat16);
 * all arithmetic is fp32. Each kernel is preceded by what it computes. */
#include <math.h>
#include <mma.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <type_traits>

#include "cuda_debug.h"
#include "cuda_internal.h"

#define RIBO_EW_FN __device__ __forceinline__
#include "cuda_elementwise.cuh"

/* ---------------------------------------------------------------- storage helpers */

__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_f<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

/* Sum over a block (blockDim.x a multiple of 32, <= 1024); every thread gets the result. */
__device__ float block_sum(float v, float *scratch) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, n_warps = blockDim.x / 32;
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < n_warps ? scratch[lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

static bool aligned_to(const void *p, size_t bytes) { return ((uintptr_t)p % bytes) == 0; }

static unsigned grid_for(size_t n, unsigned block) { return (unsigned)((n + block - 1) / block); }

/* ---------------------------------------------------------------- embed */

/* out[t, c] = table[tokens[t], c] * seq_scale[seq_of_token[t]] (0 where tokens[t] == mask_id)
 *           + add_row[c] (when add_row != NULL). One block per token. */
template <typename T>
__global__ void embed_kernel(const int *tokens, const int *seq_of_token, const float *seq_scale, const T *table,
                             const T *add_row, T *out, int width, int mask_id) {
    int t = blockIdx.x;
    int tok = tokens[t];
    float scale = seq_scale[seq_of_token[t]];
    for (int c = threadIdx.x; c < width; c += blockDim.x) {
        float v = tok == mask_id ? 0.0f : to_f(table[(size_t)tok * width + c]) * scale;
        if (add_row) v += to_f(add_row[c]);
        out[(size_t)t * width + c] = from_f<T>(v);
    }
}

/* ---------------------------------------------------------------- layer norm */

/* out = (x - mean) / sqrt(var + eps) * gamma + beta per row; two passes (mean, then centred
 * variance) for accuracy. One block per row. */
template <typename T>
__global__ void layer_norm_kernel(const T *x, const T *gamma, const T *beta, T *out, int width, float eps) {
    __shared__ float scratch[32];
    const T *xr = x + (size_t)blockIdx.x * width;
    float s = 0.0f;
    for (int c = threadIdx.x; c < width; c += blockDim.x) s += to_f(xr[c]);
    float mean = block_sum(s, scratch) / width;
    float q = 0.0f;
    for (int c = threadIdx.x; c < width; c += blockDim.x) {
        float d = to_f(xr[c]) - mean;
        q += d * d;
    }
    float rstd = rsqrtf(block_sum(q, scratch) / width + eps);
    T *orow = out + (size_t)blockIdx.x * width;
    for (int c = threadIdx.x; c < width; c += blockDim.x)
        orow[c] = from_f<T>((to_f(xr[c]) - mean) * rstd * to_f(gamma[c]) + to_f(beta[c]));
}

/* The warp-level operations of the element-wise bodies (cuda_elementwise.cuh). */
struct ribo_ew_device_ops {
    static __device__ __forceinline__ float shfl_xor(float v, int mask) { return __shfl_xor_sync(0xffffffffu, v, mask); }
    static __device__ __forceinline__ void sync_cta() { __syncthreads(); }
};

/* The same LayerNorm with the row held in registers: WPR warps per row (1: four rows per 128-thread
 * block, 4: one), up to VPL 16-byte vectors per lane, mean then centred variance in fp32, 16-byte
 * loads and stores (ribo_ln_rows_cta in cuda_elementwise.cuh). Needs width % (16 / sizeof(T)) == 0
 * and 16-byte aligned tensors. */
template <typename T, int VPL, int WPR>
__global__ void __launch_bounds__(128) layer_norm_rows_kernel(const T *x, const T *gamma, const T *beta, T *out,
                                                              int rows, int width, float eps) {
    __shared__ float partial[2][4];
    ribo_ln_rows_cta<ribo_ew_device_ops, T, VPL, WPR>(x, gamma, beta, out, rows, width, eps, blockIdx.x, (int)threadIdx.x,
                                                      partial);
}

/* ---------------------------------------------------------------- gelu */

/* p[i] = 0.5 * p[i] * (1 + erf(p[i] / sqrt(2)))  (exact GELU), in place. */
template <typename T>
__global__ void gelu_kernel(T *p, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float v = to_f(p[i]);
        p[i] = from_f<T>(0.5f * v * (1.0f + erff(v * 0.70710678118654752f)));
    }
}

/* The same in place GELU, one 16-byte vector per thread and grid step, the n % (16 / sizeof(T)) tail
 * by the first threads (ribo_ew_gelu_thread); p 16-byte aligned. */
template <typename T>
__global__ void gelu_vec_kernel(T *p, size_t n) {
    ribo_ew_gelu_thread<T>(p, n, blockIdx.x * (size_t)blockDim.x + threadIdx.x, (size_t)gridDim.x * blockDim.x);
}

template <typename T>
static void run_gelu(cudaStream_t stream, T *p, size_t count) {
    constexpr size_t EPV = 16 / sizeof(T);
    if (aligned_to(p, 16)) {
        const size_t n_vec = count / EPV;
        const unsigned blocks = grid_for(n_vec ? n_vec : 1, 256) < 65535u ? grid_for(n_vec ? n_vec : 1, 256) : 65535u;
        gelu_vec_kernel<T><<<blocks, 256, 0, stream>>>(p, count);
    } else {
        const unsigned blocks = grid_for(count, 256) < 65535u ? grid_for(count, 256) : 65535u;
        gelu_kernel<T><<<blocks, 256, 0, stream>>>(p, count);
    }
}

void ribo_cuda_gelu_inplace(cudaStream_t stream, void *ptr, size_t count, ribo_storage storage) {
    if (!count) return;
    if (storage == RIBO_STORAGE_F16) run_gelu(stream, (__half *)ptr, count);
    else if (storage == RIBO_STORAGE_BF16) run_gelu(stream, (__nv_bfloat16 *)ptr, count);
    else run_gelu(stream, (float *)ptr, count);
}

/* ---------------------------------------------------------------- gated linear unit */

/* out[r, c] = act(x[r, c]) * x[r, width + c]  (x [rows, 2*width]; act: exact GELU when gelu != 0). */
template <typename T>
__global__ void glu_kernel(const T *x, T *out, int rows, int width, int gelu) {
    size_t n = (size_t)rows * width;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i / width, c = i % width;
        float g = to_f(x[r * 2 * width + c]);
        if (gelu) g = 0.5f * g * (1.0f + erff(g * 0.70710678118654752f));
        out[i] = from_f<T>(g * to_f(x[r * 2 * width + width + c]));
    }
}

/* ---------------------------------------------------------------- rotary */

/* inv_freq_i = 1 / theta^(2i/D) rounded to float as transformers computes it (float exponent, the
 * power rounded to float, then the reciprocal rounded to float). */
__host__ __device__ static float rotary_inv_freq(float theta, int i, int head_dim) {
    float p = (float)pow((double)theta, (double)((float)(2 * i) / (float)head_dim));
    return (float)(1.0 / (double)p);
}

void ribo_cuda_rope_freqs_fill(ribo_cuda_rope_freqs *f, float theta, int head_dim) {
    memset(f, 0, sizeof *f);
    for (int i = 0; i < head_dim / 2 && i < RIBO_CUDA_ROPE_MAX_HALF; ++i) f->inv[i] = rotary_inv_freq(theta, i, head_dim);
}

/* In place on qkv [T, 3*H*D]: q *= q_scale, then the split-half (NeoX) rotary rotation of q and k by
 * angle pos * inv_freq_i (the angle rounded to float as transformers does). inv_freq comes from the
 * launch's table (PRE) or, for head sizes above 128, is computed per element in double.
 * One thread per (token, head, i < D/2). */
template <typename T, bool PRE>
__global__ void rotary_kernel(T *qkv, const int *positions, int n_tokens, int n_heads, int head_dim, float theta,
                              float q_scale, ribo_cuda_rope_freqs freqs) {
    int half = head_dim / 2;
    size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (idx >= (size_t)n_tokens * n_heads * half) return;
    int i = (int)(idx % half), h = (int)((idx / half) % n_heads), t = (int)(idx / ((size_t)half * n_heads));
    float inv_freq;
    if constexpr (PRE) inv_freq = freqs.inv[i];
    else inv_freq = rotary_inv_freq(theta, i, head_dim);
    float angle = (float)positions[t] * inv_freq;
    float s, c;
    sincosf(angle, &s, &c);
    int hd = n_heads * head_dim;
    T *q = qkv + (size_t)t * 3 * hd + h * head_dim, *k = q + hd;
    float q1 = to_f(q[i]) * q_scale, q2 = to_f(q[i + half]) * q_scale;
    q[i] = from_f<T>(q1 * c - q2 * s);
    q[i + half] = from_f<T>(q2 * c + q1 * s);
    float k1 = to_f(k[i]), k2 = to_f(k[i + half]);
    k[i] = from_f<T>(k1 * c - k2 * s);
    k[i + half] = from_f<T>(k2 * c + k1 * s);
}

/* The same rotation (inv_freq from the table, head sizes up to 128) with C consecutive pairs per thread,
 * q and k halves moved as C-element vectors (ribo_ew_rotary_thread; C * sizeof(T) = 16 or 8 bytes,
 * (D/2) % C == 0, qkv aligned to C * sizeof(T)). One thread per (token, head, C pairs); inv_freq staged
 * in shared memory (a kernel parameter whose address is taken would be copied per thread). */
template <typename T, int C, bool ROT_Q>
__global__ void rotary_vec_kernel(T *qkv, const int *positions, int n_tokens, int n_heads, int head_dim, float q_scale,
                                  ribo_cuda_rope_freqs freqs) {
    __shared__ float inv_freq[RIBO_CUDA_ROPE_MAX_HALF];
    for (int i = (int)threadIdx.x; i < head_dim / 2; i += (int)blockDim.x) inv_freq[i] = freqs.inv[i];
    __syncthreads();
    ribo_ew_rotary_thread<T, C, ROT_Q>(qkv, positions, n_tokens, n_heads, head_dim, q_scale, inv_freq,
                                       blockIdx.x * (size_t)blockDim.x + threadIdx.x);
}

/* ---------------------------------------------------------------- attention */

/* Packed varlen attention, FlashAttention-2 style on CUDA cores (fp32 FMAs; the tensor-core version
 * is future work). Block = (32-query tile, sequence, head); 4 threads share a query, each holding
 * D/4 interleaved dimensions of q and of the accumulator. K/V tiles of BK keys of the block's own
 * sequence are staged in shared memory as fp32; scores of a tile are kept in registers, so the
 * online-softmax rescale happens once per tile:
 *   out[t, h*D + :] = sum_j softmax_j(q_t . k_j * scale - slope_h |i - j|) v_j over j in sequence s. */
template <typename T, int D, int BK>
__global__ void __launch_bounds__(128) attention_kernel(const T *qkv, const int *cu_seqlens, const float *alibi, T *out,
                                                        int n_heads, float scale) {
    constexpr int QT = 32, DL = D / 4;
    __shared__ float ks[BK][D], vs[BK][D];
    int s = blockIdx.y, h = blockIdx.z;
    int begin = cu_seqlens[s], len = cu_seqlens[s + 1] - begin;
    int q0 = blockIdx.x * QT;
    if (q0 >= len) return;
    int hd = n_heads * D;
    size_t row = (size_t)3 * hd;
    int qi = threadIdx.x / 4, lane = threadIdx.x % 4;
    int qpos = q0 + qi;
    bool active = qpos < len;
    float q[DL], acc[DL];
    const T *qp = qkv + (size_t)(begin + (active ? qpos : 0)) * row + h * D;
#pragma unroll
    for (int j = 0; j < DL; ++j) {
        q[j] = to_f(qp[lane + 4 * j]) * scale;
        acc[j] = 0.0f;
    }
    float slope = alibi ? alibi[h] : 0.0f;
    float m = -INFINITY, l = 0.0f;
    for (int k0 = 0; k0 < len; k0 += BK) {
        __syncthreads();
        for (int e = threadIdx.x; e < BK * D; e += blockDim.x) {
            int kk = e / D, d = e % D;
            float kv = 0.0f, vv = 0.0f;
            if (k0 + kk < len) {
                const T *base = qkv + (size_t)(begin + k0 + kk) * row + h * D + d;
                kv = to_f(base[hd]);
                vv = to_f(base[2 * hd]);
            }
            ks[kk][d] = kv;
            vs[kk][d] = vv;
        }
        __syncthreads();
        float sc[BK];
        float tile_max = -INFINITY;
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            float part = 0.0f;
#pragma unroll
            for (int j = 0; j < DL; ++j) part += q[j] * ks[kk][lane + 4 * j];
            part += __shfl_xor_sync(0xffffffffu, part, 1);
            part += __shfl_xor_sync(0xffffffffu, part, 2);
            if (alibi) part -= slope * fabsf((float)(qpos - (k0 + kk)));
            sc[kk] = k0 + kk < len ? part : -INFINITY;
            tile_max = fmaxf(tile_max, sc[kk]);
        }
        float m_new = fmaxf(m, tile_max);
        float corr = expf(m - m_new); /* exp(-inf) = 0 on the first tile */
        l *= corr;
#pragma unroll
        for (int j = 0; j < DL; ++j) acc[j] *= corr;
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            float p = expf(sc[kk] - m_new);
            l += p;
#pragma unroll
            for (int j = 0; j < DL; ++j) acc[j] += p * vs[kk][lane + 4 * j];
        }
        m = m_new;
    }
    if (!active) return;
    float inv = 1.0f / l;
    T *op = out + (size_t)(begin + qpos) * hd + h * D;
#pragma unroll
    for (int j = 0; j < DL; ++j) op[lane + 4 * j] = from_f<T>(acc[j] * inv);
}

/* Fallback for head sizes without a specialised kernel (any even D <= 128): one thread per
 * (token, head) walks its sequence's keys with an online softmax. Same result, slower. */
template <typename T>
__global__ void attention_generic_kernel(const T *qkv, const int *cu_seqlens, const int *seq_of_token,
                                         const float *alibi, T *out, int n_tokens, int n_heads, int head_dim,
                                         float scale) {
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= n_tokens * n_heads) return;
    int t = idx / n_heads, h = idx % n_heads, s = seq_of_token[t];
    int begin = cu_seqlens[s], end = cu_seqlens[s + 1], hd = n_heads * head_dim;
    size_t row = (size_t)3 * hd;
    float q[128], acc[128];
    for (int d = 0; d < head_dim; ++d) {
        q[d] = to_f(qkv[(size_t)t * row + h * head_dim + d]) * scale;
        acc[d] = 0.0f;
    }
    float slope = alibi ? alibi[h] : 0.0f, m = -INFINITY, l = 0.0f;
    for (int j = begin; j < end; ++j) {
        const T *k = qkv + (size_t)j * row + hd + h * head_dim, *v = k + hd;
        float sc = 0.0f;
        for (int d = 0; d < head_dim; ++d) sc += q[d] * to_f(k[d]);
        if (alibi) sc -= slope * fabsf((float)(t - j));
        if (sc > m) {
            float corr = expf(m - sc);
            l *= corr;
            for (int d = 0; d < head_dim; ++d) acc[d] *= corr;
            m = sc;
        }
        float p = expf(sc - m);
        l += p;
        for (int d = 0; d < head_dim; ++d) acc[d] += p * to_f(v[d]);
    }
    for (int d = 0; d < head_dim; ++d) out[(size_t)t * hd + h * head_dim + d] = from_f<T>(acc[d] / l);
}


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
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
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

template <typename T, int D, int BK>
static void launch_attention(const ribo_attention_args *a, cudaStream_t st) {
    dim3 grid((unsigned)((a->max_seqlen + 31) / 32), (unsigned)a->n_seqs, (unsigned)a->n_heads);
    attention_kernel<T, D, BK><<<grid, 128, 0, st>>>((const T *)ribo_cuda_ptr(a->qkv), (const int *)ribo_cuda_ptr(a->cu_seqlens),
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

static int wmma_dim_bit(int d) { return d == 16 ? 1 : d == 32 ? 2 : d == 64 ? 4 : d == 128 ? 8 : 0; }

/* The kernel that runs attention of head size head_dim on this device: RIBO_ATTENTION's choice where
 * it applies (16-bit storage, a head size it has, a device it runs on, 16-byte aligned rows), else the
 * next one down: mma -> wmma -> simt (tiled, ESM-2 head sizes) -> generic. */
static attn_path choose_attention(const ribo_cuda_device *cd, int head_dim, bool aligned16) {
    const bool tiled = head_dim == 16 || head_dim == 24 || head_dim == 32 || head_dim == 64 || head_dim == 128;
    const attn_path simt = tiled ? ATTN_PATH_SIMT : ATTN_PATH_GENERIC;
    if (cd->storage == RIBO_STORAGE_F32 || !aligned16) return simt;
    if (cd->attn_choice == RIBO_CUDA_ATTN_MMA && ribo_cuda_attention_mma_supports(cd, head_dim)) return ATTN_PATH_MMA;
    const int wbit = wmma_dim_bit(head_dim);
    if (cd->attn_choice != RIBO_CUDA_ATTN_SIMT && wbit && (cd->attn_wmma_dims & (unsigned)wbit)) return ATTN_PATH_WMMA;
    return simt;
}

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

ribo_status ribo_cuda_attention_init(ribo_cuda_device *cd, ribo_error *err) {
    const char *fuse = getenv("RIBO_FUSE_ROTARY");
    /* default q: measured on an H200 (ESM-2 650M shape, bf16), attention + rotary 536 us per layer and
     * batch against 723 us with k re-rotated by every query tile (1) and 536 us fully separate (0) */
    if (!fuse || !*fuse || !strcmp(fuse, "q")) cd->rotary_fusion = RIBO_CUDA_ROTARY_FUSED_Q;
    else if (!strcmp(fuse, "1")) cd->rotary_fusion = RIBO_CUDA_ROTARY_FUSED_QK;
    else if (!strcmp(fuse, "0")) cd->rotary_fusion = RIBO_CUDA_ROTARY_SEPARATE;
    else return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "cuda: RIBO_FUSE_ROTARY='%s' is not 0, 1 or q", fuse);
    const char *ln = getenv("RIBO_LAYER_NORM");
    if (!ln || !*ln || !strcmp(ln, "rows")) cd->ln_block = false;
    else if (!strcmp(ln, "block")) cd->ln_block = true;
    else return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "cuda: RIBO_LAYER_NORM='%s' is not rows or block", ln);
    const char *env = getenv("RIBO_ATTENTION");
    if (!env || !*env || !strcmp(env, "mma")) cd->attn_choice = RIBO_CUDA_ATTN_MMA;
    else if (!strcmp(env, "wmma")) cd->attn_choice = RIBO_CUDA_ATTN_WMMA;
    else if (!strcmp(env, "simt")) cd->attn_choice = RIBO_CUDA_ATTN_SIMT;
    else
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT,
                              "cuda: RIBO_ATTENTION='%s' is not one of mma, wmma, simt", env);
    cd->attn_wmma_dims = cd->attn_mma_dims = 0;
    if (cd->storage == RIBO_STORAGE_F32 || cd->cc_major < 8) return RIBO_OK; /* CUDA-core kernels only */
    int max_optin = 0;
    RIBO_TRY(ribo_cuda_check(cudaDeviceGetAttribute(&max_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, cd->ordinal),
                             "reading the shared-memory limit", err));
    if (cd->storage == RIBO_STORAGE_F16) RIBO_TRY(prepare_wmma_all<__half>(cd, max_optin, err));
    else RIBO_TRY(prepare_wmma_all<__nv_bfloat16>(cd, max_optin, err));
    return ribo_cuda_attention_mma_init(cd, max_optin, err);
}

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

/* ribo_kernel_i.attention_fuses_rotary (buffers from the executor are 256-byte aligned). */
static bool cuda_attention_fuses_rotary(ribo_device *dev, int head_dim) {
    const ribo_cuda_device *cd = ribo_cuda_dev(dev);
    return cd->rotary_fusion != RIBO_CUDA_ROTARY_SEPARATE && choose_attention(cd, head_dim, true) == ATTN_PATH_MMA;
}

template <typename T>
static void dispatch_attention(const ribo_attention_args *a, const ribo_cuda_device *cd, cudaStream_t st) {
    switch (choose_attention(cd, a->head_dim, attention_aligned16(a))) {
    case ATTN_PATH_MMA: {
        if (ribo_cuda_attention_mma_launch(cd, a, 0, st)) return;
        /* not launched (a grid beyond 2^31 - 1 CTAs): the next kernel down */
        const int wbit = wmma_dim_bit(a->head_dim);
        if (wbit && (cd->attn_wmma_dims & (unsigned)wbit)) launch_attention_wmma_dim<T>(a, st);
        else launch_attention_simt<T>(a, st);
        return;
    }
    case ATTN_PATH_WMMA: launch_attention_wmma_dim<T>(a, st); return;
    default: launch_attention_simt<T>(a, st); return;
    }
}

/* ---------------------------------------------------------------- pooling */

/* Segment pooling, fp32 out[s, :]: mean over the kept rows of sequence s or its first row (the
 * CTA body ribo_pool_cta in cuda_elementwise.cuh). Grid (n_seqs, column chunks of 64), 4 warps. */
template <typename T>
__global__ void __launch_bounds__(RIBO_POOL_WARPS * 32)
    pool_kernel(const T *x, const int *cu, float *out, int width, int skip_begin, int skip_end, int mode) {
    __shared__ float partial[RIBO_POOL_WARPS][RIBO_POOL_COLS];
    ribo_pool_cta<ribo_ew_device_ops, T>(x, cu, out, width, skip_begin, skip_end, mode, blockIdx.x, blockIdx.y, threadIdx.x, partial);
}

/* Per-residue copy-out: row t of sequence s (kept rows only) goes to fp32
 * out[t - s*(skip_begin+skip_end) - skip_begin, :]. One block per token. */
template <typename T>
__global__ void pool_copy_kernel(const T *x, const int *cu, const int *seq_of_token, float *out, int width,
                                 int skip_begin, int skip_end) {
    int t = blockIdx.x, s = seq_of_token[t];
    if (t < cu[s] + skip_begin || t >= cu[s + 1] - skip_end) return;
    size_t dst = (size_t)(t - s * (skip_begin + skip_end) - skip_begin);
    for (int c = threadIdx.x; c < width; c += blockDim.x) out[dst * width + c] = to_f(x[(size_t)t * width + c]);
}

/* dst[i] = (T) src[i]  (weights upload). */
template <typename T>
__global__ void convert_kernel(T *dst, const float *src, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dst[i] = from_f<T>(src[i]);
}

/* ---------------------------------------------------------------- kernel table */

/* Calls F<T> for the device's storage type. */
#define DISPATCH(storage, F, ...)                                                   \
    do {                                                                            \
        if ((storage) == RIBO_STORAGE_F16) F<__half>(__VA_ARGS__);                  \
        else if ((storage) == RIBO_STORAGE_BF16) F<__nv_bfloat16>(__VA_ARGS__);     \
        else F<float>(__VA_ARGS__);                                                 \
    } while (0)

static ribo_status launched(ribo_stream *s, const char *what, ribo_error *err) {
    char w[96];
    snprintf(w, sizeof w, "launching %s", what);
    return ribo_cuda_check(cudaGetLastError(), w, err);
}

static int threads_for(int width) { return width >= 1024 ? 256 : width >= 256 ? 128 : 64; }

template <typename T>
static void run_embed(const ribo_embed_args *a, cudaStream_t st) {
    embed_kernel<T><<<a->n_tokens, threads_for(a->width), 0, st>>>(
        (const int *)ribo_cuda_ptr(a->tokens), (const int *)ribo_cuda_ptr(a->seq_of_token),
        (const float *)ribo_cuda_ptr(a->seq_scale), (const T *)ribo_cuda_ptr(a->table),
        a->add_row.buf ? (const T *)ribo_cuda_ptr(a->add_row) : (const T *)NULL, (T *)ribo_cuda_ptr(a->out), a->width,
        a->mask_id);
}

static ribo_status cuda_embed(ribo_stream *s, const ribo_embed_args *a, ribo_error *err) {
    RIBO_TRY(ribo_cuda_use(s->dev, err));
    DISPATCH(ribo_cuda_dev(s->dev)->storage, run_embed, a, ribo_cuda_stream(s));
    return launched(s, "embed", err);
}

/* The registers-per-row kernel where it applies (widths that are whole 16-byte vectors, 16-byte
 * aligned tensors, RIBO_LAYER_NORM not "block"), else the one-block-per-row kernel. */
template <typename T>
static void run_layer_norm(const ribo_layer_norm_args *a, const ribo_cuda_device *cd, cudaStream_t st) {
    int wpr = 0, vpl = 0;
    const bool aligned = aligned_to(ribo_cuda_ptr(a->x), 16) && aligned_to(ribo_cuda_ptr(a->gamma), 16) &&
                         aligned_to(ribo_cuda_ptr(a->beta), 16) && aligned_to(ribo_cuda_ptr(a->out), 16);
    if (!cd->ln_block && aligned && ribo_ln_rows_shape(a->width, (int)sizeof(T), &wpr, &vpl)) {
        const unsigned blocks = grid_for((size_t)a->rows, (unsigned)(4 / wpr));
        ribo_ln_rows_dispatch(wpr, vpl, [&]<int VPL, int WPR>() {
            layer_norm_rows_kernel<T, VPL, WPR><<<blocks, 128, 0, st>>>(
                (const T *)ribo_cuda_ptr(a->x), (const T *)ribo_cuda_ptr(a->gamma), (const T *)ribo_cuda_ptr(a->beta),
                (T *)ribo_cuda_ptr(a->out), a->rows, a->width, a->eps);
        });
        return;
    }
    layer_norm_kernel<T><<<a->rows, threads_for(a->width), 0, st>>>(
        (const T *)ribo_cuda_ptr(a->x), (const T *)ribo_cuda_ptr(a->gamma), (const T *)ribo_cuda_ptr(a->beta),
        (T *)ribo_cuda_ptr(a->out), a->width, a->eps);
}

extern "C" const char *ribo_cuda_layer_norm_path(ribo_device *dev, int width) {
    const ribo_cuda_device *cd = ribo_cuda_dev(dev);
    int wpr = 0, vpl = 0;
    const int elem = cd->storage == RIBO_STORAGE_F32 ? 4 : 2;
    if (cd->ln_block || !ribo_ln_rows_shape(width, elem, &wpr, &vpl)) return "block";
    return wpr == 1 ? "warp" : "4warps";
}

static ribo_status cuda_layer_norm(ribo_stream *s, const ribo_layer_norm_args *a, ribo_error *err) {
    RIBO_TRY(ribo_cuda_use(s->dev, err));
    if (a->rows < 1) return RIBO_OK;
    const ribo_cuda_device *cd = ribo_cuda_dev(s->dev);
    DISPATCH(cd->storage, run_layer_norm, a, cd, ribo_cuda_stream(s));
    return launched(s, "layer_norm", err);
}

template <typename T, int C, bool ROT_Q = true>
static void launch_rotary_vec(const ribo_rotary_args *a, const ribo_cuda_rope_freqs &f, cudaStream_t st) {
    const size_t n = (size_t)a->n_tokens * a->n_heads * (a->head_dim / 2 / C);
    rotary_vec_kernel<T, C, ROT_Q><<<grid_for(n, 256), 256, 0, st>>>(
        (T *)ribo_cuda_ptr(a->qkv), (const int *)ribo_cuda_ptr(a->positions), a->n_tokens, a->n_heads, a->head_dim,
        a->q_scale, f);
}

/* The separate pass on k only (q is left for the attention kernel), vectorized; false (nothing
 * launched) where no vector width fits. */
template <typename T>
static bool run_rotary_k_only(const ribo_rotary_args *a, cudaStream_t st) {
    const int half = a->head_dim / 2;
    if (half > RIBO_CUDA_ROPE_MAX_HALF) return false;
    ribo_cuda_rope_freqs f;
    ribo_cuda_rope_freqs_fill(&f, a->theta, a->head_dim);
    constexpr int C16 = (int)(16 / sizeof(T)), C8 = (int)(8 / sizeof(T));
    T *qkv = (T *)ribo_cuda_ptr(a->qkv);
    if (half % C16 == 0 && aligned_to(qkv, 16)) launch_rotary_vec<T, C16, false>(a, f, st);
    else if (half % C8 == 0 && aligned_to(qkv, 8)) launch_rotary_vec<T, C8, false>(a, f, st);
    else return false;
    return true;
}

/* Vector widths: 16 bytes where (D/2) is a multiple of 16 / sizeof(T) and qkv is 16-byte aligned, else 8
 * bytes, else one element per thread (and head sizes above 128: inv_freq computed per element). */
template <typename T>
static void run_rotary(const ribo_rotary_args *a, cudaStream_t st) {
    size_t n = (size_t)a->n_tokens * a->n_heads * (a->head_dim / 2);
    ribo_cuda_rope_freqs f;
    const int half = a->head_dim / 2;
    const bool pre = half <= RIBO_CUDA_ROPE_MAX_HALF;
    ribo_cuda_rope_freqs_fill(&f, a->theta, pre ? a->head_dim : 0);
    T *qkv = (T *)ribo_cuda_ptr(a->qkv);
    const int *pos = (const int *)ribo_cuda_ptr(a->positions);
    constexpr int C16 = (int)(16 / sizeof(T)), C8 = (int)(8 / sizeof(T));
    if (pre && half % C16 == 0 && aligned_to(qkv, 16)) {
        launch_rotary_vec<T, C16>(a, f, st);
        return;
    }
    if (pre && half % C8 == 0 && aligned_to(qkv, 8)) {
        launch_rotary_vec<T, C8>(a, f, st);
        return;
    }
    if (pre)
        rotary_kernel<T, true><<<grid_for(n, 256), 256, 0, st>>>(qkv, pos, a->n_tokens, a->n_heads, a->head_dim, a->theta,
                                                                a->q_scale, f);
    else
        rotary_kernel<T, false><<<grid_for(n, 256), 256, 0, st>>>(qkv, pos, a->n_tokens, a->n_heads, a->head_dim,
                                                                 a->theta, a->q_scale, f);
}

static ribo_status cuda_rotary(ribo_stream *s, const ribo_rotary_args *a, ribo_error *err) {
    if (a->head_dim % 2) return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, "cuda: rotary needs an even head_dim (got %d)", a->head_dim);
    RIBO_TRY(ribo_cuda_use(s->dev, err));
    DISPATCH(ribo_cuda_dev(s->dev)->storage, run_rotary, a, ribo_cuda_stream(s));
    return launched(s, "rotary", err);
}

/* Attention, with the rotary of a->rotary inside the mma kernel where it fuses, else as the separate
 * in-place pass over qkv first. */
static ribo_status cuda_attention(ribo_stream *s, const ribo_attention_args *a, ribo_error *err) {
    if (a->head_dim > 128 || a->head_dim < 1)
        return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, "cuda: attention head_dim %d is not in 1..128", a->head_dim);
    if (a->rotary && !a->positions.buf)
        return ribo_error_set(err, RIBO_ERR_INTERNAL, "cuda: attention with rotary but no positions");
    RIBO_TRY(ribo_cuda_use(s->dev, err));
    if (a->n_tokens == 0 || a->n_seqs == 0) return RIBO_OK; /* nothing to attend */
    const ribo_cuda_device *cd = ribo_cuda_dev(s->dev);
    ribo_attention_args plain = *a;
    if (a->rotary && rotary_fuses(cd, a) && ribo_cuda_attention_mma_fits(cd, a)) {
        ribo_rotary_args r = {a->qkv, a->positions, a->n_tokens, a->n_heads, a->head_dim, a->rope_theta, a->q_scale};
        bool k_done = false;
        if (cd->rotary_fusion == RIBO_CUDA_ROTARY_FUSED_Q) {
            if (cd->storage == RIBO_STORAGE_F16) k_done = run_rotary_k_only<__half>(&r, ribo_cuda_stream(s));
            else k_done = run_rotary_k_only<__nv_bfloat16>(&r, ribo_cuda_stream(s));
            if (k_done) RIBO_TRY(launched(s, "rotary (k)", err));
        }
        if (ribo_cuda_attention_mma_launch(cd, a, k_done ? 1 : 2, ribo_cuda_stream(s)))
            return launched(s, "attention (rotary fused)", err);
        return ribo_error_set(err, RIBO_ERR_INTERNAL, "cuda: the fused attention did not launch");
    }
    if (a->rotary) {
        ribo_rotary_args r = {a->qkv, a->positions, a->n_tokens, a->n_heads, a->head_dim, a->rope_theta, a->q_scale};
        RIBO_TRY(cuda_rotary(s, &r, err));
        plain.rotary = 0;
    }
    DISPATCH(cd->storage, dispatch_attention, &plain, cd, ribo_cuda_stream(s));
    return launched(s, "attention", err);
}

template <typename T>
static void run_pool(const ribo_pool_args *a, cudaStream_t st) {
    if (a->mode == RIBO_POOL_MODE_COPY)
        pool_copy_kernel<T><<<a->n_tokens, threads_for(a->width), 0, st>>>(
            (const T *)ribo_cuda_ptr(a->x), (const int *)ribo_cuda_ptr(a->cu_seqlens),
            (const int *)ribo_cuda_ptr(a->seq_of_token), (float *)ribo_cuda_ptr(a->out), a->width, a->skip_begin,
            a->skip_end);
    else
        pool_kernel<T><<<dim3((unsigned)a->n_seqs, (unsigned)((a->width + RIBO_POOL_COLS - 1) / RIBO_POOL_COLS)),
                         RIBO_POOL_WARPS * 32, 0, st>>>(
            (const T *)ribo_cuda_ptr(a->x), (const int *)ribo_cuda_ptr(a->cu_seqlens), (float *)ribo_cuda_ptr(a->out),
            a->width, a->skip_begin, a->skip_end, a->mode == RIBO_POOL_MODE_FIRST ? 1 : 0);
}

static ribo_status cuda_pool(ribo_stream *s, const ribo_pool_args *a, ribo_error *err) {
    if (a->mode == RIBO_POOL_MODE_COPY && !a->seq_of_token.buf)
        return ribo_error_set(err, RIBO_ERR_INTERNAL, "cuda: per-residue pool without seq_of_token");
    RIBO_TRY(ribo_cuda_use(s->dev, err));
    DISPATCH(ribo_cuda_dev(s->dev)->storage, run_pool, a, ribo_cuda_stream(s));
    return launched(s, "pool", err);
}

template <typename T>
static void run_glu(const ribo_glu_args *a, cudaStream_t st) {
    size_t n = (size_t)a->rows * a->width;
    unsigned blocks = grid_for(n, 256) < 65535u ? grid_for(n, 256) : 65535u;
    glu_kernel<T><<<blocks, 256, 0, st>>>((const T *)ribo_cuda_ptr(a->x), (T *)ribo_cuda_ptr(a->out), a->rows, a->width,
                                          a->act == RIBO_ACT_GELU_ERF);
}

static ribo_status cuda_glu(ribo_stream *s, const ribo_glu_args *a, ribo_error *err) {
    RIBO_TRY(ribo_cuda_use(s->dev, err));
    DISPATCH(ribo_cuda_dev(s->dev)->storage, run_glu, a, ribo_cuda_stream(s));
    return launched(s, "glu", err);
}

template <typename T>
static void run_convert(ribo_dptr dst, ribo_dptr src, size_t count, cudaStream_t st) {
    unsigned blocks = grid_for(count, 256) < 65535u ? grid_for(count, 256) : 65535u;
    convert_kernel<T><<<blocks, 256, 0, st>>>((T *)ribo_cuda_ptr(dst), (const float *)ribo_cuda_ptr(src), count);
}

static ribo_status cuda_convert_from_f32(ribo_stream *s, ribo_dptr dst, ribo_dptr src, size_t count, ribo_error *err) {
    RIBO_TRY(ribo_cuda_use(s->dev, err));
    DISPATCH(ribo_cuda_dev(s->dev)->storage, run_convert, dst, src, count, ribo_cuda_stream(s));
    return launched(s, "convert", err);
}

const ribo_kernel_i ribo_cuda_kernel_table = {
    .embed = cuda_embed,
    .layer_norm = cuda_layer_norm,
    .linear = ribo_cuda_linear,
    .rotary = cuda_rotary,
    .attention = cuda_attention,
    .pool = cuda_pool,
    .glu = cuda_glu,
    .convert_from_f32 = cuda_convert_from_f32,
    .attention_fuses_rotary = cuda_attention_fuses_rotary,
};
