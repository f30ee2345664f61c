/* Body of the mma.sync (m16n8k16) FlashAttention-2-style packed varlen attention, shared by the
 * CUDA kernel (backends/cuda/cuda_attention_mma.cu, Ops = inline PTX) and a CPU emulator of the
 * warp-level instructions (tests/test_attention_mma_emu.cu, Ops = fibers in lock-step), so the
 * index math below is exercised on every CI machine, GPU or not.
 *
 * The includer defines RIBO_MMA_FN (how the body and its helpers are declared: __device__ for the
 * kernel, inline host code for the emulator) and supplies an Ops type with these static members:
 *   cp_async16(T *smem_dst, const T *gmem_src, bool valid)   16-byte async copy, zero fill if !valid
 *   cp_async_commit(), cp_async_wait_all()                   group boundary / wait for all groups
 *   sync_cta(), sync_warp()                                  __syncthreads / __syncwarp
 *   ldmatrix_x4(uint32_t r[4], const T *row_addr)            ldmatrix.sync.aligned.m8n8.x4.b16
 *   ldmatrix_x4_trans(uint32_t r[4], const T *row_addr)      the same with .trans
 *   mma<T>(float d[4], const uint32_t a[4], uint32_t b0, uint32_t b1)   d += A B (m16n8k16 row.col,
 *                                                            f32 accumulate, T = __half / bf16)
 *   shfl_xor(float v, int mask), exp2(float x)
 *   sincos(float r, float *s, float *c)                      sin and cos of r, |r| <= ~3.2 (fused rotary only)
 *
 * ---------------------------------------------------------------- what one CTA computes
 * CTA = (query tile of BQ = 64 rows of one sequence, head h); 4 warps, warp w owns query rows
 * 16w..16w+15 of the tile. The grid is 1-D over (slot, head), head fastest. Sequence s owns the
 * slots [cu[s]/64 + s, cu[s+1]/64 + s + 1): at least ceil(len_s/64) of them and at most one spare,
 * so the grid has (T/64 + n_seqs) * H CTAs and a CTA finds its sequence by a binary search over
 * cu_seqlens (no per-batch tile list, no device scratch memory). Spare slots exit at once. Slots run
 * in cu_seqlens order, heads fastest: ribo's packer puts the longest sequence of a batch first, so
 * the longest (costliest) tiles start first and the short ones fill the tail.
 *
 *   out[t, h*D:(h+1)*D] = sum_j softmax_j(q_t . k_j * scale - slope_h * |i - j|) v_j
 * over the keys j of t's own sequence only (i, j positions within the sequence; the ALiBi term only
 * when ALIBI).
 *
 * Per key tile of BK = 64 keys (K and V double-buffered in shared memory by 16-byte cp.async, rows
 * past the sequence end zero-filled; the Q tile is staged once through the second K buffer):
 *   S = Q K^T        16 x 64 per warp, mma.m16n8k16, Q fragments held in registers throughout
 *   online softmax   fp32 in registers, base 2 (scale * log2 e enters the exponent through one fma,
 *                    exp2(s k - max k); the running row max / sum are per thread for 2 rows, the max
 *                    reduced over the 4 lanes of a quad; head sizes up to 32 sum the rows of P
 *                    with one more mma, P times a column of ones)
 *   P                rounded to T in registers and used directly as the A operand of P V
 *   O += P V         16 x DP per warp, fp32 accumulators in registers; O /= l at the end, staged
 *                    through shared memory for 16-byte global stores of the valid rows only.
 *
 * ---------------------------------------------------------------- register layouts relied on
 * (PTX ISA "Matrix Fragments for mma.m16n8k16 with floating point type" and "ldmatrix")
 * lane = 0..31, g = lane >> 2 (groupID), t = lane & 3 (threadID_in_group). A packed .b32 register
 * holds two 16-bit elements, the lower-indexed one in the low half.
 *   A (16x16, row): a[0] = (row g,   cols 2t, 2t+1)     a[1] = (row g+8, cols 2t, 2t+1)
 *                   a[2] = (row g,   cols 2t+8, 2t+9)   a[3] = (row g+8, cols 2t+8, 2t+9)
 *   B (16x8, col):  b0 = (rows 2t, 2t+1, col g)         b1 = (rows 2t+8, 2t+9, col g)
 *   C/D (16x8 f32): c[0], c[1] = (row g, cols 2t, 2t+1) c[2], c[3] = (row g+8, cols 2t, 2t+1)
 *   ldmatrix.x4: lanes 8i..8i+7 give the row addresses of 8x8 matrix i; lane receives in r[i] the
 *   elements (row lane/4, cols 2(lane%4), +1) of matrix i; with .trans (rows 2(lane%4), +1; col lane/4).
 * Consequences used below:
 *   - Q (row-major, rows = queries) through ldmatrix.x4 at row lane%16, col 8*(lane/16) is exactly
 *     the A fragment (matrices: rows 0-7/8-15 x cols 0-7/8-15 = a[0], a[1], a[2], a[3]).
 *   - K (row-major [key][d]) is B = K^T in "col" layout: ldmatrix.x4 at key (lane&7) + 8*(lane>>4),
 *     d 8*((lane>>3)&1) gives b0, b1 of the n-tile of keys 0-7 and b0, b1 of keys 8-15.
 *   - V (row-major [key][d]) is B in "row" layout: ldmatrix.x4.trans at key (lane&7) + 8*((lane>>3)&1),
 *     d 8*(lane>>4) gives b0, b1 of the d-tile 0-7 and b0, b1 of the d-tile 8-15.
 *   - The FA2 register trick: the C fragments of S n-tiles 2j and 2j+1 (keys 16j..16j+15) hold, per
 *     lane, exactly the elements of the A fragment of P's k-step j:
 *       a[0] = pack(S[2j].c0, c1)  a[1] = pack(S[2j].c2, c3)  a[2] = pack(S[2j+1].c0, c1)  a[3] = pack(S[2j+1].c2, c3)
 *     so P never leaves registers.
 *
 * Shared memory: four [64][DP + 8] tiles of T (K0 V0 K1 V1); rows padded by 16 bytes so the eight
 * 16-byte row reads of each ldmatrix phase fall in distinct bank groups. Head size 24 is padded to
 * DP = 32 with zero columns (written once; cp.async never touches them).
 *
 * ---------------------------------------------------------------- fused rotary (ROPE)
 * ESM-2's rotary embedding, otherwise a separate pass over qkv (cuda_rope.cu rotary_kernel), is
 * applied to the tiles in shared memory: the Q tile once per CTA (q *= q_scale first), each K tile
 * after its cp.async has landed, before any ldmatrix reads it (one extra CTA barrier per tile). Each
 * thread takes 32-bit words of two adjacent dimensions (i, i+1) of one row and their partners
 * (i + D/2, i + D/2 + 1); in fp32: x1' = x1 c - x2 s, x2' = x2 c + x1 s with (s, c) = sin/cos of the
 * angle pos * inv_freq[i] rounded to float (as the separate kernel and transformers), then rounded to
 * T - the value the separate pass would have stored, up to the sin/cos evaluation: the angle is
 * reduced to [-pi, pi] by two fma steps and Ops::sincos evaluates it (device: __sincosf; absolute
 * error below 1e-6 against the correctly rounded sincosf the separate pass uses). pos is the row's index
 * within its sequence (positions restart per sequence). Rows past the sequence end stay zero. */
#ifndef RIBO_CUDA_ATTENTION_MMA_CUH
#define RIBO_CUDA_ATTENTION_MMA_CUH

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vendor.h"

/* unrolled in device code; host compilers (the emulator) do not know the pragma */
#if RIBO_GPU_DEVICE_PASS
#define RIBO_MMA_UNROLL _Pragma("unroll")
#else
#define RIBO_MMA_UNROLL
#endif

#ifndef RIBO_MMA_FN
#error "define RIBO_MMA_FN (e.g. __device__ __forceinline__) before including cuda_attention_mma.cuh"
#endif

/* Tile shape and shared-memory layout for storage type T and head size D (16, 24, 32, 64, 128). */
template <typename T, int D>
struct ribo_mma_attn_cfg {
    static_assert(D == 16 || D == 24 || D == 32 || D == 64 || D == 128, "head size without an mma kernel");
    static constexpr int BQ = 64, BK = 64, WARPS = 4, THREADS = WARPS * 32;
    static constexpr int DP = D <= 16 ? 16 : D <= 32 ? 32 : D <= 64 ? 64 : 128; /* padded head size */
    static constexpr int LDS = DP + 8;        /* shared row stride, elements (16-byte pad) */
    static constexpr int KSTEPS = DP / 16;    /* k-steps of Q K^T */
    static constexpr int NT_S = BK / 8;       /* n8 tiles of S per warp */
    static constexpr int NT_O = DP / 8;       /* n8 tiles of O per warp */
    static constexpr int CHUNKS = D / 8;      /* 16-byte chunks of a real row */
    static constexpr int TILE = BK * LDS;     /* elements of one K or V tile */
    static constexpr size_t SMEM_BYTES = (size_t)4 * TILE * sizeof(T);
    static_assert(BQ == BK, "the Q tile is staged in a K buffer");
};

/* Two floats -> one .b32 of two T (round to nearest even), lo in the low half. */
template <typename T> RIBO_MMA_FN uint32_t ribo_mma_pack2(float lo, float hi);
template <> RIBO_MMA_FN uint32_t ribo_mma_pack2<__half>(float lo, float hi) {
    __half2 v = __floats2half2_rn(lo, hi);
    uint32_t u;
    memcpy(&u, &v, 4);
    return u;
}
template <> RIBO_MMA_FN uint32_t ribo_mma_pack2<__nv_bfloat16>(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    uint32_t u;
    memcpy(&u, &v, 4);
    return u;
}
/* Sum of the two T of a packed .b32, in fp32. */
template <typename T> RIBO_MMA_FN float ribo_mma_sum2(uint32_t u);
template <> RIBO_MMA_FN float ribo_mma_sum2<__half>(uint32_t u) {
    __half2 v;
    memcpy((void *)&v, &u, 4);
    float2 f = __half22float2(v);
    return f.x + f.y;
}
template <> RIBO_MMA_FN float ribo_mma_sum2<__nv_bfloat16>(uint32_t u) {
    __nv_bfloat162 v;
    memcpy((void *)&v, &u, 4);
    float2 f = __bfloat1622float2(v);
    return f.x + f.y;
}

/* The two T of a packed .b32 as floats (lo = low half). */
template <typename T> RIBO_MMA_FN void ribo_mma_unpack2(uint32_t u, float *lo, float *hi);
template <> RIBO_MMA_FN void ribo_mma_unpack2<__half>(uint32_t u, float *lo, float *hi) {
    __half2 v;
    memcpy((void *)&v, &u, 4);
    const float2 f = __half22float2(v);
    *lo = f.x;
    *hi = f.y;
}
template <> RIBO_MMA_FN void ribo_mma_unpack2<__nv_bfloat16>(uint32_t u, float *lo, float *hi) {
    __nv_bfloat162 v;
    memcpy((void *)&v, &u, 4);
    const float2 f = __bfloat1622float2(v);
    *lo = f.x;
    *hi = f.y;
}

/* Aligned 4-byte / 16-byte moves (the addresses are multiples of 4 / 16 bytes by construction). */
RIBO_MMA_FN uint32_t ribo_mma_ld32(const void *src) { return *reinterpret_cast<const uint32_t *>(src); }
RIBO_MMA_FN void ribo_mma_st32(void *dst, uint32_t v) { *reinterpret_cast<uint32_t *>(dst) = v; }
RIBO_MMA_FN void ribo_mma_copy16(void *dst, const void *src) {
    *reinterpret_cast<uint4 *>(dst) = *reinterpret_cast<const uint4 *>(src);
}

/* Copies rows [row0, row0 + BK) of one head's K, V or Q (src = its first row, row stride rs
 * elements) into a shared tile with cp.async; rows at or past len are zero-filled. */
template <class Ops, typename T, int D>
RIBO_MMA_FN void ribo_mma_load_tile(T *dst, const T *src, size_t rs, int row0, int len, int tid) {
    using C = ribo_mma_attn_cfg<T, D>;
    for (int e = tid; e < C::BK * C::CHUNKS; e += C::THREADS) {
        const int r = e / C::CHUNKS, c = (e % C::CHUNKS) * 8;
        const bool valid = row0 + r < len;
        Ops::cp_async16(dst + r * C::LDS + c, src + (size_t)(valid ? row0 + r : 0) * rs + c, valid);
    }
}

/* sin and cos of a rotary angle a (>= 0, below ~1e5): a - k 2pi with k = rint(a / 2pi) in two fma
 * steps (2pi as float plus its remainder; error ~2.5e-7), then Ops::sincos on [-pi, pi]. */
template <class Ops>
RIBO_MMA_FN void ribo_mma_rope_sincos(float a, float *s, float *c) {
    const float k = rintf(a * 0.159154943091895336f);
    float r = fmaf(-k, 6.28318548202514648f, a);
    r = fmaf(-k, -1.74845553146951715e-7f, r);
    Ops::sincos(r, s, c);
}

/* Rotary on the rows [0, BK) of a shared tile whose row r is position pos0 + r of a sequence of len
 * tokens (rows at or past len are left alone): for every i < D/2 the pair (x_i, x_{i+D/2}), scaled
 * by q_scale when SCALE, rotated by pos * inv_freq[i]. Plain shared loads and stores; the caller
 * puts a CTA barrier between this and any other thread's reads of the tile. C: the tiling (its BK,
 * LDS row stride and THREADS; the MFMA body passes its own). */
template <class Ops, typename T, int D, bool SCALE, class C = ribo_mma_attn_cfg<T, D>>
RIBO_MMA_FN void ribo_mma_rope_tile(T *tile, int pos0, int len, const float *inv_freq, float q_scale, int tid) {
    constexpr int HALF = D / 2, UNITS = HALF / 2; /* 32-bit words (two dimensions) per half row */
    static_assert(HALF % 2 == 0, "the rotary pairs are handled two at a time");
    for (int e = tid; e < C::BK * UNITS; e += C::THREADS) {
        const int r = e / UNITS, i = (e % UNITS) * 2, pos = pos0 + r;
        if (pos >= len) continue;
        T *const p1 = tile + r * C::LDS + i, *const p2 = p1 + HALF;
        float a1, b1, a2, b2; /* a: dimension i (and i + D/2), b: dimension i + 1 (and i + 1 + D/2) */
        ribo_mma_unpack2<T>(ribo_mma_ld32(p1), &a1, &b1);
        ribo_mma_unpack2<T>(ribo_mma_ld32(p2), &a2, &b2);
        if constexpr (SCALE) {
            a1 *= q_scale;
            b1 *= q_scale;
            a2 *= q_scale;
            b2 *= q_scale;
        }
        const float fpos = (float)pos;
        float sa, ca, sb, cb;
        ribo_mma_rope_sincos<Ops>(fpos * inv_freq[i], &sa, &ca);
        ribo_mma_rope_sincos<Ops>(fpos * inv_freq[i + 1], &sb, &cb);
        ribo_mma_st32(p1, ribo_mma_pack2<T>(a1 * ca - a2 * sa, b1 * cb - b2 * sb));
        ribo_mma_st32(p2, ribo_mma_pack2<T>(a2 * ca + a1 * sa, b2 * cb + b1 * sb));
    }
}

/* The whole CTA: block = blockIdx.x (slot * n_heads + head), tid = threadIdx.x (0..127), smem =
 * cfg::SMEM_BYTES of dynamic shared memory (16-byte aligned). scale_log2 = scale * log2(e); alibi
 * (slopes, per head) is read only when ALIBI. qkv and out must be 16-byte aligned (rows and head
 * offsets are then too: D is a multiple of 8); the grid must cover cu[n_seqs] / 64 + n_seqs slots.
 * ROPE 2: the rotary embedding is applied to Q (after q *= q_scale) and K first, inv_freq[i] for
 * i < D/2 (see "fused rotary" above); ROPE 1: to Q only (K was rotated by the separate pass, once
 * per element instead of once per query tile); ROPE 0: inv_freq and q_scale are not read. */
template <class Ops, typename T, int D, bool ALIBI, int ROPE>
RIBO_MMA_FN void ribo_mma_attention_cta(const T *qkv, const int *cu, int n_seqs, const float *alibi, T *out,
                                        int n_heads, float scale_log2, unsigned block, T *smem, int tid,
                                        const float *inv_freq, float q_scale) {
    using C = ribo_mma_attn_cfg<T, D>;
    const int h = (int)(block % (unsigned)n_heads);
    const long long slot = (long long)(block / (unsigned)n_heads);
    /* the sequence owning this slot: the largest s with cu[s]/BQ + s <= slot (strictly increasing in s) */
    int lo = 0, hi = n_seqs - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) >> 1;
        if ((long long)(cu[mid] / C::BQ) + mid <= slot) lo = mid;
        else hi = mid - 1;
    }
    const int s = lo, begin = cu[s], len = cu[s + 1] - begin;
    const long long tile = slot - ((long long)(begin / C::BQ) + s);
    if (tile * C::BQ >= len) return; /* a spare slot: uniform over the CTA, before any barrier */
    const int q0 = (int)tile * C::BQ;

    const int warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
    const size_t hd = (size_t)n_heads * D, rs = 3 * hd;
    const T *qbase = qkv + (size_t)begin * rs + (size_t)h * D;
    const T *kbase = qbase + hd, *vbase = qbase + 2 * hd;
    /* stage b: K at smem + 2b * TILE, V right after it; Q is staged in K1, free again before the
     * first prefetch into stage 1 */
    T *const qs = smem + 2 * C::TILE;

    if constexpr (C::DP != D) { /* zero the padding columns D..DP-1 of all four tiles (never written by cp.async) */
        constexpr int PADC = C::DP - D;
        for (int e = tid; e < 4 * C::BK * PADC; e += C::THREADS) {
            const int r = e / PADC, c = D + e % PADC;
            smem[r * C::LDS + c] = T(0.0f);
        }
    }
    ribo_mma_load_tile<Ops, T, D>(qs, qbase, rs, q0, len, tid);
    ribo_mma_load_tile<Ops, T, D>(smem, kbase, rs, 0, len, tid);
    ribo_mma_load_tile<Ops, T, D>(smem + C::TILE, vbase, rs, 0, len, tid);
    Ops::cp_async_commit();
    Ops::cp_async_wait_all();
    Ops::sync_cta();
    if constexpr (ROPE) { /* scale and rotate the Q tile in place before any warp reads its fragments */
        ribo_mma_rope_tile<Ops, T, D, true>(qs, q0, len, inv_freq, q_scale, tid);
        Ops::sync_cta();
    }

    uint32_t qf[C::KSTEPS][4]; /* A fragments of this warp's 16 query rows, all k-steps */
RIBO_MMA_UNROLL
    for (int kk = 0; kk < C::KSTEPS; ++kk)
        Ops::ldmatrix_x4(qf[kk], qs + (warp * 16 + (lane & 15)) * C::LDS + kk * 16 + (lane >> 4) * 8);
    Ops::sync_cta(); /* every warp has its Q: K1 may be overwritten */

    float o[C::NT_O][4];
RIBO_MMA_UNROLL
    for (int n = 0; n < C::NT_O; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    /* rows g and g+8: running max (in the units of the scores) and partial sum */
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
    /* small heads: the row sums of P on the tensor cores, as P times a column of ones (complete sums
     * over the quad, in fp32), instead of unpacking and adding every weight on the FP32 pipe */
    constexpr bool ROWSUM_MMA = C::DP <= 32;
    float lacc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    const uint32_t ones = ribo_mma_pack2<T>(1.0f, 1.0f);
    const int row_pos[2] = {q0 + warp * 16 + g, q0 + warp * 16 + g + 8};
    const float slope_log2 = ALIBI ? alibi[h] * 1.4426950408889634f : 0.0f;
    /* Without ALiBi the scores stay raw (q.k) and scale * log2(e) enters the exponent in one fma:
     * exp2(s * k - m * k); with ALiBi they are scaled and biased first (k = 1). scale > 0, so the
     * row maximum is the same element either way. */
    const float mscale = ALIBI ? 1.0f : scale_log2;
    const int n_tiles = (len + C::BK - 1) / C::BK;

    for (int it = 0; it < n_tiles; ++it) {
        const int k0 = it * C::BK;
        T *const kt = smem + (it & 1) * 2 * C::TILE, *const vt = kt + C::TILE;
        if (it + 1 < n_tiles) { /* prefetch the next tile into the other stage (read in it-1, released by its barrier) */
            T *const kn = smem + ((it + 1) & 1) * 2 * C::TILE;
            ribo_mma_load_tile<Ops, T, D>(kn, kbase, rs, k0 + C::BK, len, tid);
            ribo_mma_load_tile<Ops, T, D>(kn + C::TILE, vbase, rs, k0 + C::BK, len, tid);
        }
        Ops::cp_async_commit();
        if constexpr (ROPE == 2) { /* this tile landed at the end of the last iteration (or before the loop) */
            ribo_mma_rope_tile<Ops, T, D, false>(kt, k0, len, inv_freq, 1.0f, tid);
            Ops::sync_cta();
        }

        /* S = Q K^T: sc[n] is the 16x8 C fragment of keys k0 + 8n .. k0 + 8n + 7 */
        float sc[C::NT_S][4];
RIBO_MMA_UNROLL
        for (int n = 0; n < C::NT_S; ++n) sc[n][0] = sc[n][1] = sc[n][2] = sc[n][3] = 0.0f;
RIBO_MMA_UNROLL
        for (int kk = 0; kk < C::KSTEPS; ++kk)
RIBO_MMA_UNROLL
            for (int np = 0; np < C::NT_S / 2; ++np) {
                uint32_t b[4];
                Ops::ldmatrix_x4(b, kt + (np * 16 + (lane & 7) + ((lane >> 4) << 3)) * C::LDS + kk * 16 +
                                        ((lane >> 3) & 1) * 8);
                Ops::template mma<T>(sc[2 * np], qf[kk], b[0], b[1]);
                Ops::template mma<T>(sc[2 * np + 1], qf[kk], b[2], b[3]);
            }

        /* ALiBi: scores to log2 units with the bias; element e of n-tile n: row row_pos[e >> 1], key
         * k0 + 8n + 2*t4 + (e & 1) */
        if constexpr (ALIBI) {
RIBO_MMA_UNROLL
            for (int n = 0; n < C::NT_S; ++n)
RIBO_MMA_UNROLL
                for (int e = 0; e < 4; ++e)
                    sc[n][e] = sc[n][e] * scale_log2 -
                               slope_log2 * fabsf((float)(row_pos[e >> 1] - (k0 + n * 8 + 2 * t4 + (e & 1))));
        }
        if (k0 + C::BK > len) { /* last tile of the sequence: keys past its end get no weight */
RIBO_MMA_UNROLL
            for (int n = 0; n < C::NT_S; ++n)
RIBO_MMA_UNROLL
                for (int e = 0; e < 4; ++e)
                    if (k0 + n * 8 + 2 * t4 + (e & 1) >= len) sc[n][e] = -INFINITY;
        }

        /* online softmax: new row max over the tile (quad = the 4 lanes holding one row) */
        float corr[2], mk[2]; /* mk: the new row max times mscale, subtracted in the exponent */
RIBO_MMA_UNROLL
        for (int r = 0; r < 2; ++r) {
            float mx = m[r];
RIBO_MMA_UNROLL
            for (int n = 0; n < C::NT_S; ++n) mx = fmaxf(mx, fmaxf(sc[n][2 * r], sc[n][2 * r + 1]));
            mx = fmaxf(mx, Ops::shfl_xor(mx, 1));
            mx = fmaxf(mx, Ops::shfl_xor(mx, 2));
            corr[r] = Ops::exp2((m[r] - mx) * mscale); /* 0 on the first tile (m = -inf); mx is finite: key k0 < len */
            m[r] = mx;
            mk[r] = mx * mscale;
            l[r] *= corr[r];
        }
        if constexpr (ROWSUM_MMA) {
            lacc[0] *= corr[0];
            lacc[1] *= corr[0];
            lacc[2] *= corr[1];
            lacc[3] *= corr[1];
        }
RIBO_MMA_UNROLL
        for (int n = 0; n < C::NT_O; ++n) {
            o[n][0] *= corr[0];
            o[n][1] *= corr[0];
            o[n][2] *= corr[1];
            o[n][3] *= corr[1];
        }

        /* P = exp2(S - m) rounded to T, packed straight into the A fragments of P V (see the header) */
        uint32_t pf[C::NT_S / 2][4];
RIBO_MMA_UNROLL
        for (int j = 0; j < C::NT_S / 2; ++j) {
            const float *s0 = sc[2 * j], *s1 = sc[2 * j + 1];
            pf[j][0] = ribo_mma_pack2<T>(Ops::exp2(fmaf(s0[0], mscale, -mk[0])), Ops::exp2(fmaf(s0[1], mscale, -mk[0])));
            pf[j][1] = ribo_mma_pack2<T>(Ops::exp2(fmaf(s0[2], mscale, -mk[1])), Ops::exp2(fmaf(s0[3], mscale, -mk[1])));
            pf[j][2] = ribo_mma_pack2<T>(Ops::exp2(fmaf(s1[0], mscale, -mk[0])), Ops::exp2(fmaf(s1[1], mscale, -mk[0])));
            pf[j][3] = ribo_mma_pack2<T>(Ops::exp2(fmaf(s1[2], mscale, -mk[1])), Ops::exp2(fmaf(s1[3], mscale, -mk[1])));
            /* the normaliser sums exactly the rounded weights that multiply V */
            if constexpr (ROWSUM_MMA) {
                Ops::template mma<T>(lacc, pf[j], ones, ones);
            } else {
                l[0] += ribo_mma_sum2<T>(pf[j][0]) + ribo_mma_sum2<T>(pf[j][2]);
                l[1] += ribo_mma_sum2<T>(pf[j][1]) + ribo_mma_sum2<T>(pf[j][3]);
            }
        }

        /* O += P V */
RIBO_MMA_UNROLL
        for (int j = 0; j < C::NT_S / 2; ++j)
RIBO_MMA_UNROLL
            for (int dp = 0; dp < C::NT_O / 2; ++dp) {
                uint32_t b[4];
                Ops::ldmatrix_x4_trans(b, vt + (j * 16 + (lane & 7) + (((lane >> 3) & 1) << 3)) * C::LDS + dp * 16 +
                                              ((lane >> 4) << 3));
                Ops::template mma<T>(o[2 * dp], pf[j], b[0], b[1]);
                Ops::template mma<T>(o[2 * dp + 1], pf[j], b[2], b[3]);
            }

        Ops::cp_async_wait_all(); /* the next tile has landed (this thread's copies) ... */
        Ops::sync_cta();          /* ... everyone's, and nobody reads this tile's buffers any more */
    }

    /* O / l: the row sums are still partial per lane */
    float inv[2];
RIBO_MMA_UNROLL
    for (int r = 0; r < 2; ++r) {
        float sum = l[r];
        if constexpr (ROWSUM_MMA) {
            sum = lacc[2 * r]; /* every column of P x ones holds the whole row's sum */
        } else {
            sum += Ops::shfl_xor(sum, 1);
            sum += Ops::shfl_xor(sum, 2);
        }
        inv[r] = 1.0f / sum; /* >= 1: the row max contributes exp2(0) */
    }
    /* stage this warp's 16 rows in K0 (all buffers are free after the loop's last barrier) ... */
    T *ostage = smem + warp * 16 * C::LDS;
RIBO_MMA_UNROLL
    for (int n = 0; n < C::NT_O; ++n) {
        const uint32_t top = ribo_mma_pack2<T>(o[n][0] * inv[0], o[n][1] * inv[0]);
        const uint32_t bot = ribo_mma_pack2<T>(o[n][2] * inv[1], o[n][3] * inv[1]);
        ribo_mma_st32(ostage + g * C::LDS + n * 8 + 2 * t4, top);
        ribo_mma_st32(ostage + (g + 8) * C::LDS + n * 8 + 2 * t4, bot);
    }
    Ops::sync_warp();
    /* ... and store the rows inside the sequence with 16-byte writes */
    for (int e = lane; e < 16 * C::CHUNKS; e += 32) {
        const int r = e / C::CHUNKS, c = (e % C::CHUNKS) * 8, pos = q0 + warp * 16 + r;
        if (pos < len) ribo_mma_copy16(out + (size_t)(begin + pos) * hd + (size_t)h * D + c, ostage + r * C::LDS + c);
    }
}

#endif
