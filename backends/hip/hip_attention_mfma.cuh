/* Body of the MFMA (v_mfma_f32_16x16x16{f16,bf16_1k}) FlashAttention-2-style packed varlen attention
 * for AMD CDNA (wave64), shared by the HIP kernel (backends/hip/hip_attention_mfma.cu, Ops = the
 * amdgcn builtins) and a CPU emulator (tests/test_attention_mfma_emu.cu, Ops = fibers in lock-step,
 * MFMA modelled from AMD's documented lane layouts). Same semantics, grid and slot scheme as the
 * NVIDIA mma.sync body (backends/cuda/cuda_attention_mma.cuh, whose 16-bit helpers and rotary angle
 * reduction are reused), but its own register layouts: the PTX fragments are not translated.
 *
 * The includer defines RIBO_MFMA_FN (and RIBO_MMA_FN for the included mma header) and supplies an
 * Ops type with these static members:
 *   BF16_1K                                          constexpr bool: the bf16 16x16x16 form exists
 *   mfma<T>(float d[4], const uint32_t a[2], const uint32_t b[2])
 *                                                    d += A B, 16x16x16, T = __half (or bf16 when
 *                                                    BF16_1K), fp32 accumulation, whole wave64
 *   mfma_bf16_k8(float d[4], uint32_t a, uint32_t b) d += A B, 16x16x8 bf16 (gfx908), whole wave64
 *   load16(const T *src) -> uint4                    16-byte global load (the emulator checks bounds)
 *   sync_cta()                                       __syncthreads (LDS barrier)
 *   shfl_xor(float v, int mask)                      over the whole wave64 (masks 16 and 32 here)
 *   exp2(float x), sincos(float r, float *s, float *c) (|r| <= ~3.2, fused rotary only)
 *
 * ---------------------------------------------------------------- register layouts relied on
 * AMD CDNA ISA / AMD Matrix Instruction Calculator (ROCm/amd_matrix_instruction_calculator), wave64,
 * lane L = 0..63, for v_mfma_f32_16x16x16f16 and _16x16x16bf16_1k (CDNA2; the same on CDNA3's
 * _16x16x16_f16/_bf16): a 64-bit A or B operand holds four 16-bit items, item 0 in the low half of
 * the first dword:
 *   A[i][k] (16x16): lane i + 16*(k/4), item k%4     B[k][j] (16x16): lane j + 16*(k/4), item k%4
 *   D[i][j] (16x16 f32): lane j + 16*(i/4), item i%4 (llama.cpp mma.cuh CDNA tile<16,16>: get_i =
 *   4*(lane/16) + l, get_j = lane%16, the same map)
 * v_mfma_f32_16x16x8bf16 (gfx908): one dword of two items, A[i][k] lane i + 16*(k/2), item k%2, B
 * alike, D as above. Two of them make one 16x16x16 step: the first on the low dwords of A and B (k =
 * 4g + 0, 1 of lane group g = L/16), the second on the high dwords (k = 4g + 2, 3); both operands
 * use the same k map, so the sum over k is the same.
 *
 * Consequences used below (col = L%16, grp = L/16):
 *   - A and B share one formula, and D has B's shape: a lane of D holds column j = col and rows
 *     4*grp .. 4*grp+3, exactly what the same lane holds of a B operand with k = those rows. So the
 *     kernel works on transposes: S^T = K Q^T (A = K rows from LDS, B = Q^T from registers), whose D
 *     fragment is P^T as the B operand of O^T = V^T P^T, so P never leaves registers, and every lane
 *     holds one query (col): its softmax statistics, its scores and its O^T column all belong to
 *     the same query. Row max and sum are reduced over the 4 lanes col + 16*grp: shfl_xor 16, 32.
 *   - K as A: lane col + 16 grp reads key col, dims 4 grp .. +3 of a 16-dim k-step (8 bytes of a row).
 *     Q^T as B: query col, dims 4 grp .. +3 (8 bytes). V^T as A: dim col, keys 4 grp .. +3 (four
 *     16-bit reads down a column). O^T's D fragment: query col, dims 4 grp .. +3 (8-byte stores).
 *   - Head size 24 runs as 32: dims past D are zeros in the registers (4-dim groups never straddle
 *     D, a multiple of 8), never read from LDS, never stored.
 *
 * ---------------------------------------------------------------- what one CTA computes
 * CTA = (query tile of BQ = 64 rows of one sequence, head h), 4 waves of 64 lanes, wave w owns query
 * rows 16w..16w+15. Grid and slots as in cuda_attention_mma.cuh: sequence s owns the slots
 * [cu[s]/64 + s, cu[s+1]/64 + s + 1), found by a binary search over cu_seqlens; spare slots exit.
 *   out[t, h*D:(h+1)*D] = sum_j softmax_j(q_t . k_j * scale - slope_h * |i - j|) v_j
 * over the keys j of t's own sequence only (ALiBi term only when ALIBI; keys at or past the
 * sequence's length are zero-filled in LDS and get weight 0).
 * Per key tile of BK = 64 keys, K and V in LDS ([64][D + 8] each, 16-byte row pad), the next tile
 * prefetched into registers while this one is computed (no cp.async on AMD), two barriers a tile:
 *   S^T = K Q^T      4 x KSTEPS MFMAs per wave, fp32
 *   online softmax   fp32, base 2, as the mma body (scale * log2 e in one fma without ALiBi)
 *   P^T              exp2 rounded to T, packed straight into B operands
 *   O^T += V^T P^T   DT x 4 MFMAs per wave, fp32 accumulators; O /= l at the end, 8-byte stores of
 *                    the rows inside the sequence.
 * The Q tile is staged once through the K buffer (and rotated there when ROPE), read into
 * registers, then the buffer is released.
 *
 * Fused rotary (ROPE 2: Q and K, ROPE 1: Q only, K rotated by the separate k-only pass; 0: none):
 * ribo_mma_rope_tile's arithmetic (cuda_attention_mma.cuh "fused rotary") on this body's LDS tiles. */
#ifndef RIBO_HIP_ATTENTION_MFMA_CUH
#define RIBO_HIP_ATTENTION_MFMA_CUH

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <type_traits>

#include "backends/cuda/cuda_attention_mma.cuh" /* ribo_mma_pack2 / unpack2 / sum2, ribo_mma_rope_sincos */

#ifndef RIBO_MFMA_FN
#error "define RIBO_MFMA_FN before including hip_attention_mfma.cuh"
#endif

/* Tile shape and LDS layout for storage T and head size D (16, 24, 32, 64, 128). */
template <typename T, int D>
struct ribo_mfma_attn_cfg {
    static_assert(D == 16 || D == 24 || D == 32 || D == 64 || D == 128, "head size without an MFMA kernel");
    static constexpr int BQ = 64, BK = 64, WAVE = 64, WAVES = 4, THREADS = WAVES * WAVE;
    static constexpr int KSTEPS = (D + 15) / 16;     /* 16-dim k-steps of S^T, and 16-dim tiles of O^T */
    static constexpr int LDS = D + 8;                /* LDS row stride, elements (16-byte pad) */
    static constexpr int CHUNKS = D / 8;             /* 16-byte chunks of a row */
    static constexpr int TILE = BK * LDS;            /* elements of one K or V tile */
    static constexpr int PER = (BK * CHUNKS + THREADS - 1) / THREADS; /* chunks per thread and tile */
    static constexpr size_t SMEM_BYTES = (size_t)2 * TILE * sizeof(T);
    static_assert(BQ == BK, "the Q tile is staged in the K buffer");
};

RIBO_MFMA_FN uint16_t ribo_mfma_ld16(const void *p) { return *reinterpret_cast<const uint16_t *>(p); }

/* d += A B for one 16x16x16 step (bf16 without the _1k form: two 16x16x8 halves, see the header). */
template <class Ops, typename T>
RIBO_MFMA_FN void ribo_mfma_step(float d[4], const uint32_t a[2], const uint32_t b[2]) {
    if constexpr (std::is_same_v<T, __half> || Ops::BF16_1K) {
        Ops::template mfma<T>(d, a, b);
    } else {
        Ops::mfma_bf16_k8(d, a[0], b[0]);
        Ops::mfma_bf16_k8(d, a[1], b[1]);
    }
}

/* Loads this thread's chunks of rows [row0, row0 + BK) of K, V or Q (src = the head's first row,
 * row stride rs) into registers; rows at or past len are zeros (not read). */
template <class Ops, typename T, int D>
RIBO_MFMA_FN void ribo_mfma_fetch(uint4 reg[], const T *src, size_t rs, int row0, int len, int tid) {
    using C = ribo_mfma_attn_cfg<T, D>;
RIBO_MMA_UNROLL
    for (int p = 0; p < C::PER; ++p) {
        const int e = tid + p * C::THREADS, r = e / C::CHUNKS, c = (e % C::CHUNKS) * 8;
        reg[p] = make_uint4(0u, 0u, 0u, 0u);
        if (e < C::BK * C::CHUNKS && row0 + r < len) reg[p] = Ops::load16(src + (size_t)(row0 + r) * rs + c);
    }
}

/* Stores what ribo_mfma_fetch loaded into an LDS tile. */
template <typename T, int D>
RIBO_MFMA_FN void ribo_mfma_stage(T *dst, const uint4 reg[], int tid) {
    using C = ribo_mfma_attn_cfg<T, D>;
RIBO_MMA_UNROLL
    for (int p = 0; p < C::PER; ++p) {
        const int e = tid + p * C::THREADS, r = e / C::CHUNKS, c = (e % C::CHUNKS) * 8;
        if (e < C::BK * C::CHUNKS) *reinterpret_cast<uint4 *>(dst + r * C::LDS + c) = reg[p];
    }
}

/* The whole CTA: block = blockIdx.x (slot * n_heads + head), tid = threadIdx.x (0..255), smem =
 * cfg::SMEM_BYTES of LDS (16-byte aligned). Arguments as ribo_mma_attention_cta's. */
template <class Ops, typename T, int D, bool ALIBI, int ROPE>
RIBO_MFMA_FN void ribo_mfma_attention_cta(const T *qkv, const int *cu, int n_seqs, const float *alibi, T *out,
                                          int n_heads, float scale_log2, unsigned block, T *smem, int tid,
                                          const float *inv_freq, float q_scale) {
    using C = ribo_mfma_attn_cfg<T, D>;
    const int h = (int)(block % (unsigned)n_heads);
    const long long slot = (long long)(block / (unsigned)n_heads);
    int lo = 0, hi = n_seqs - 1; /* the largest s with cu[s]/BQ + s <= slot */
    while (lo < hi) {
        const int mid = (lo + hi + 1) >> 1;
        if ((long long)(cu[mid] / C::BQ) + mid <= slot) lo = mid;
        else hi = mid - 1;
    }
    const int s = lo, begin = cu[s], len = cu[s + 1] - begin;
    const long long tile = slot - ((long long)(begin / C::BQ) + s);
    if (tile * C::BQ >= len) return; /* a spare slot: uniform over the CTA, before any barrier */
    const int q0 = (int)tile * C::BQ;

    const int wave = tid / C::WAVE, lane = tid % C::WAVE, col = lane & 15, grp = lane >> 4;
    const size_t hd = (size_t)n_heads * D, rs = 3 * hd;
    const T *qbase = qkv + (size_t)begin * rs + (size_t)h * D;
    const T *kbase = qbase + hd, *vbase = qbase + 2 * hd;
    T *const kt = smem, *const vt = smem + C::TILE;

    uint4 kreg[C::PER], vreg[C::PER];
    ribo_mfma_fetch<Ops, T, D>(kreg, qbase, rs, q0, len, tid); /* the Q tile first, through the K buffer */
    ribo_mfma_stage<T, D>(kt, kreg, tid);
    ribo_mfma_fetch<Ops, T, D>(kreg, kbase, rs, 0, len, tid);
    ribo_mfma_fetch<Ops, T, D>(vreg, vbase, rs, 0, len, tid);
    Ops::sync_cta();
    if constexpr (ROPE) {
        ribo_mma_rope_tile<Ops, T, D, true, C>(kt, q0, len, inv_freq, q_scale, tid);
        Ops::sync_cta();
    }
    /* B operands Q^T of this wave's 16 queries: query col, dims 16 kk + 4 grp .. +3 */
    uint32_t qf[C::KSTEPS][2];
RIBO_MMA_UNROLL
    for (int kk = 0; kk < C::KSTEPS; ++kk) {
        const int d0 = kk * 16 + grp * 4;
        qf[kk][0] = qf[kk][1] = 0u;
        if (d0 < D) {
            const T *p = kt + (wave * 16 + col) * C::LDS + d0;
            qf[kk][0] = ribo_mma_ld32(p);
            qf[kk][1] = ribo_mma_ld32(p + 2);
        }
    }
    Ops::sync_cta(); /* every wave has its Q: the K buffer takes key tile 0 */
    ribo_mfma_stage<T, D>(kt, kreg, tid);
    ribo_mfma_stage<T, D>(vt, vreg, tid);
    Ops::sync_cta();

    float o[C::KSTEPS][4]; /* O^T: o[dt][r] = dim 16 dt + 4 grp + r of query col */
RIBO_MMA_UNROLL
    for (int dt = 0; dt < C::KSTEPS; ++dt) o[dt][0] = o[dt][1] = o[dt][2] = o[dt][3] = 0.0f;
    float m = -INFINITY, l = 0.0f; /* query col: running max (score units), this lane's partial sum */
    const int qpos = q0 + wave * 16 + col;
    const float slope_log2 = ALIBI ? alibi[h] * 1.4426950408889634f : 0.0f;
    const float mscale = ALIBI ? 1.0f : scale_log2; /* as in the mma body */
    const int n_tiles = (len + C::BK - 1) / C::BK;

    for (int it = 0; it < n_tiles; ++it) {
        const int k0 = it * C::BK;
        if constexpr (ROPE == 2) { /* this tile is in LDS (staged at the end of the last iteration) */
            ribo_mma_rope_tile<Ops, T, D, false, C>(kt, k0, len, inv_freq, 1.0f, tid);
            Ops::sync_cta();
        }
        if (it + 1 < n_tiles) { /* the next tile into registers, stored after this one's compute */
            ribo_mfma_fetch<Ops, T, D>(kreg, kbase, rs, k0 + C::BK, len, tid);
            ribo_mfma_fetch<Ops, T, D>(vreg, vbase, rs, k0 + C::BK, len, tid);
        }

        /* S^T = K Q^T: sc[n][r] = score of key k0 + 16 n + 4 grp + r for query col */
        float sc[4][4];
RIBO_MMA_UNROLL
        for (int n = 0; n < 4; ++n) {
            sc[n][0] = sc[n][1] = sc[n][2] = sc[n][3] = 0.0f;
RIBO_MMA_UNROLL
            for (int kk = 0; kk < C::KSTEPS; ++kk) {
                const int d0 = kk * 16 + grp * 4;
                uint32_t a[2] = {0u, 0u};
                if (d0 < D) {
                    const T *p = kt + (n * 16 + col) * C::LDS + d0;
                    a[0] = ribo_mma_ld32(p);
                    a[1] = ribo_mma_ld32(p + 2);
                }
                ribo_mfma_step<Ops, T>(sc[n], a, qf[kk]);
            }
        }
RIBO_MMA_UNROLL
        for (int n = 0; n < 4; ++n)
RIBO_MMA_UNROLL
            for (int r = 0; r < 4; ++r) {
                const int key = k0 + n * 16 + grp * 4 + r;
                if constexpr (ALIBI) sc[n][r] = sc[n][r] * scale_log2 - slope_log2 * fabsf((float)(qpos - key));
                if (key >= len) sc[n][r] = -INFINITY; /* past the sequence: no weight */
            }

        /* online softmax for query col: the max over its 4 lanes (col + 16 grp) */
        float mx = m;
RIBO_MMA_UNROLL
        for (int n = 0; n < 4; ++n) mx = fmaxf(mx, fmaxf(fmaxf(sc[n][0], sc[n][1]), fmaxf(sc[n][2], sc[n][3])));
        mx = fmaxf(mx, Ops::shfl_xor(mx, 16));
        mx = fmaxf(mx, Ops::shfl_xor(mx, 32));
        const float corr = Ops::exp2((m - mx) * mscale); /* 0 on the first tile; mx finite (key k0 < len) */
        m = mx;
        const float mk = mx * mscale;
        l *= corr;
RIBO_MMA_UNROLL
        for (int dt = 0; dt < C::KSTEPS; ++dt)
RIBO_MMA_UNROLL
            for (int r = 0; r < 4; ++r) o[dt][r] *= corr;

        /* P^T rounded to T: the B operand of O^T's k-step n (keys 16 n + 4 grp + r) */
        uint32_t pf[4][2];
RIBO_MMA_UNROLL
        for (int n = 0; n < 4; ++n) {
            pf[n][0] = ribo_mma_pack2<T>(Ops::exp2(fmaf(sc[n][0], mscale, -mk)), Ops::exp2(fmaf(sc[n][1], mscale, -mk)));
            pf[n][1] = ribo_mma_pack2<T>(Ops::exp2(fmaf(sc[n][2], mscale, -mk)), Ops::exp2(fmaf(sc[n][3], mscale, -mk)));
            l += ribo_mma_sum2<T>(pf[n][0]) + ribo_mma_sum2<T>(pf[n][1]); /* the rounded weights */
        }

        /* O^T += V^T P^T: A = V^T, dim 16 dt + col, keys 16 n + 4 grp .. +3 (down a V column) */
RIBO_MMA_UNROLL
        for (int dt = 0; dt < C::KSTEPS; ++dt) {
            const int d = dt * 16 + col;
RIBO_MMA_UNROLL
            for (int n = 0; n < 4; ++n) {
                uint32_t a[2] = {0u, 0u};
                if (d < D) {
                    const T *p = vt + (n * 16 + grp * 4) * C::LDS + d;
                    a[0] = (uint32_t)ribo_mfma_ld16(p) | (uint32_t)ribo_mfma_ld16(p + C::LDS) << 16;
                    a[1] = (uint32_t)ribo_mfma_ld16(p + 2 * C::LDS) | (uint32_t)ribo_mfma_ld16(p + 3 * C::LDS) << 16;
                }
                ribo_mfma_step<Ops, T>(o[dt], a, pf[n]);
            }
        }

        if (it + 1 < n_tiles) {
            Ops::sync_cta(); /* nobody reads this tile any more */
            ribo_mfma_stage<T, D>(kt, kreg, tid);
            ribo_mfma_stage<T, D>(vt, vreg, tid);
            Ops::sync_cta();
        }
    }

    /* the query's sum over its 4 lanes (corr was the same on all of them) */
    l += Ops::shfl_xor(l, 16);
    l += Ops::shfl_xor(l, 32);
    const float inv = 1.0f / l; /* >= 1: the row max contributes exp2(0) */
    if (qpos < len) {
        T *const orow = out + (size_t)(begin + qpos) * hd + (size_t)h * D;
RIBO_MMA_UNROLL
        for (int dt = 0; dt < C::KSTEPS; ++dt) {
            const int d0 = dt * 16 + grp * 4;
            if (d0 < D) {
                const uint32_t w0 = ribo_mma_pack2<T>(o[dt][0] * inv, o[dt][1] * inv);
                const uint32_t w1 = ribo_mma_pack2<T>(o[dt][2] * inv, o[dt][3] * inv);
                *reinterpret_cast<uint2 *>(orow + d0) = make_uint2(w0, w1);
            }
        }
    }
}

#endif
