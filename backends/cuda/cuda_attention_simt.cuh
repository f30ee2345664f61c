/* Bodies of the CUDA-core (SIMT) attention kernels of cuda_attention.cu - the tiled packed-varlen
 * kernel (one 128-thread CTA per 32-query tile, sequence and head) and the per-(token, head)
 * fallback - shared by the kernels and the CPU emulator test (tests/test_simt_emu.cu), which runs
 * them with 32- and 64-lane waves (tests/gpu_emu.h). Storage T is float, __half or __nv_bfloat16;
 * arithmetic fp32. Both compute, over the keys j of t's own sequence (cu_seqlens),
 *   out[t, h*D:(h+1)*D] = sum_j softmax_j(q_t . k_j * scale - slope_h |i - j|) v_j
 * (the ALiBi term only with slopes; i, j positions in the sequence).
 *
 * Warps: the tiled body shuffles only within groups of 4 consecutive lanes (xor masks 1 and 2), so
 * it is the same on 32-lane warps and on 64-lane waves (a mask below 32 stays in the lane's half,
 * vendor/hip.h); every thread of the CTA reaches every shuffle and barrier.
 *
 * The includer defines RIBO_EW_FN (as for cuda_elementwise.cuh, included here) and supplies an Ops
 * type with
 *   shfl_xor(float v, int mask)   __shfl_xor_sync over the full warp
 *   sync_cta()                    __syncthreads */
#ifndef RIBO_CUDA_ATTENTION_SIMT_CUH
#define RIBO_CUDA_ATTENTION_SIMT_CUH

#include "cuda_elementwise.cuh"

/* CTA shape of the tiled body: RIBO_ATTN_SIMT_QT queries per CTA, 4 threads per query. */
#define RIBO_ATTN_SIMT_QT 32
#define RIBO_ATTN_SIMT_THREADS 128

/* One CTA of the tiled attention, FlashAttention-2 style on CUDA cores: query tile `qtile` (queries
 * 32 * qtile .. + 31) of sequence s, head h, thread tid of nthreads (RIBO_ATTN_SIMT_THREADS). 4
 * threads share a query, each holding D/4 interleaved dimensions of q and of the accumulator; K/V
 * tiles of BK keys of the sequence are staged in the shared ks and vs as fp32; scores of a tile stay
 * in registers, so the online-softmax rescale happens once per tile. D % 4 == 0. */
template <class Ops, typename T, int D, int BK>
RIBO_EW_FN void ribo_attn_simt_cta(const T *qkv, const int *cu_seqlens, const float *alibi, T *out, int n_heads,
                                   float scale, int qtile, int s, int h, unsigned tid, unsigned nthreads,
                                   float (*ks)[D], float (*vs)[D]) {
    constexpr int QT = RIBO_ATTN_SIMT_QT, DL = D / 4;
    static_assert(D % 4 == 0, "4 threads share a query's dimensions");
    int begin = cu_seqlens[s], len = cu_seqlens[s + 1] - begin;
    int q0 = qtile * QT;
    if (q0 >= len) return; /* the whole CTA */
    int hd = n_heads * D;
    size_t row = (size_t)3 * hd;
    int qi = tid / 4, lane = tid % 4;
    int qpos = q0 + qi;
    bool active = qpos < len;
    float q[DL], acc[DL];
    const T *qp = qkv + (size_t)(begin + (active ? qpos : 0)) * row + h * D;
RIBO_EW_UNROLL
    for (int j = 0; j < DL; ++j) {
        q[j] = ribo_ew_to_f(qp[lane + 4 * j]) * scale;
        acc[j] = 0.0f;
    }
    float slope = alibi ? alibi[h] : 0.0f;
    float m = -INFINITY, l = 0.0f;
    for (int k0 = 0; k0 < len; k0 += BK) {
        Ops::sync_cta();
        for (int e = tid; e < BK * D; e += nthreads) {
            int kk = e / D, d = e % D;
            float kv = 0.0f, vv = 0.0f;
            if (k0 + kk < len) {
                const T *base = qkv + (size_t)(begin + k0 + kk) * row + h * D + d;
                kv = ribo_ew_to_f(base[hd]);
                vv = ribo_ew_to_f(base[2 * hd]);
            }
            ks[kk][d] = kv;
            vs[kk][d] = vv;
        }
        Ops::sync_cta();
        float sc[BK];
        float tile_max = -INFINITY;
RIBO_EW_UNROLL
        for (int kk = 0; kk < BK; ++kk) {
            float part = 0.0f;
RIBO_EW_UNROLL
            for (int j = 0; j < DL; ++j) part += q[j] * ks[kk][lane + 4 * j];
            part += Ops::shfl_xor(part, 1);
            part += Ops::shfl_xor(part, 2);
            if (alibi) part -= slope * fabsf((float)(qpos - (k0 + kk)));
            sc[kk] = k0 + kk < len ? part : -INFINITY;
            tile_max = fmaxf(tile_max, sc[kk]);
        }
        float m_new = fmaxf(m, tile_max);
        float corr = expf(m - m_new); /* exp(-inf) = 0 on the first tile */
        l *= corr;
RIBO_EW_UNROLL
        for (int j = 0; j < DL; ++j) acc[j] *= corr;
RIBO_EW_UNROLL
        for (int kk = 0; kk < BK; ++kk) {
            float p = expf(sc[kk] - m_new);
            l += p;
RIBO_EW_UNROLL
            for (int j = 0; j < DL; ++j) acc[j] += p * vs[kk][lane + 4 * j];
        }
        m = m_new;
    }
    if (!active) return;
    float inv = 1.0f / l;
    T *op = out + (size_t)(begin + qpos) * hd + h * D;
RIBO_EW_UNROLL
    for (int j = 0; j < DL; ++j) op[lane + 4 * j] = ribo_ew_from_f<T>(acc[j] * inv);
}

/* Thread idx of the fallback for any head size 1..128: thread (token t = idx / n_heads, head h = idx %
 * n_heads) walks the keys of its sequence (seq_of_token) with an online softmax; no collectives. */
template <typename T>
RIBO_EW_FN void ribo_attn_generic_thread(const T *qkv, const int *cu_seqlens, const int *seq_of_token, const float *alibi,
                                         T *out, int n_tokens, int n_heads, int head_dim, float scale, int idx) {
    if (idx >= n_tokens * n_heads) return;
    int t = idx / n_heads, h = idx % n_heads, s = seq_of_token[t];
    int begin = cu_seqlens[s], end = cu_seqlens[s + 1], hd = n_heads * head_dim;
    size_t row = (size_t)3 * hd;
    float q[128], acc[128];
    for (int d = 0; d < head_dim; ++d) {
        q[d] = ribo_ew_to_f(qkv[(size_t)t * row + h * head_dim + d]) * scale;
        acc[d] = 0.0f;
    }
    float slope = alibi ? alibi[h] : 0.0f, m = -INFINITY, l = 0.0f;
    for (int j = begin; j < end; ++j) {
        const T *k = qkv + (size_t)j * row + hd + h * head_dim, *v = k + hd;
        float sc = 0.0f;
        for (int d = 0; d < head_dim; ++d) sc += q[d] * ribo_ew_to_f(k[d]);
        if (alibi) sc -= slope * fabsf((float)(t - j));
        if (sc > m) {
            float corr = expf(m - sc);
            l *= corr;
            for (int d = 0; d < head_dim; ++d) acc[d] *= corr;
            m = sc;
        }
        float p = expf(sc - m);
        l += p;
        for (int d = 0; d < head_dim; ++d) acc[d] += p * ribo_ew_to_f(v[d]);
    }
    for (int d = 0; d < head_dim; ++d) out[(size_t)t * hd + h * head_dim + d] = ribo_ew_from_f<T>(acc[d] / l);
}

#endif
