/* Bodies of the vectorized element-wise kernels of the CUDA backend - LayerNorm with the row in
 * registers, the in-place exact GELU after a GEMM, the separate rotary pass, the segment pooling -
 * shared by the kernels (backends/cuda/cuda_norm.cu, cuda_kernels.cu, cuda_rope.cu, cuda_pool.cu)
 * and the CPU emulator test (tests/test_elementwise_emu.cu), so their index math runs on every CI
 * machine. Storage T is float, __half or __nv_bfloat16; arithmetic fp32.
 *
 * The includer defines RIBO_EW_FN (__device__ __forceinline__ for the kernels, inline for the
 * emulator) and, for the LayerNorm and pooling bodies, supplies an Ops type with
 *   shfl_xor(float v, int mask)   __shfl_xor_sync over the full warp
 *   sync_cta()                    __syncthreads */
#ifndef RIBO_CUDA_ELEMENTWISE_CUH
#define RIBO_CUDA_ELEMENTWISE_CUH

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vendor.h"

#ifndef RIBO_EW_FN
#error "define RIBO_EW_FN (e.g. __device__ __forceinline__) before including cuda_elementwise.cuh"
#endif

#if RIBO_GPU_DEVICE_PASS
#define RIBO_EW_UNROLL _Pragma("unroll")
#else
#define RIBO_EW_UNROLL
#endif

/* ---------------------------------------------------------------- storage <-> fp32 */

RIBO_EW_FN float ribo_ew_to_f(float v) { return v; }
RIBO_EW_FN float ribo_ew_to_f(__half v) { return __half2float(v); }
RIBO_EW_FN float ribo_ew_to_f(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> RIBO_EW_FN T ribo_ew_from_f(float v);
template <> RIBO_EW_FN float ribo_ew_from_f<float>(float v) { return v; }
template <> RIBO_EW_FN __half ribo_ew_from_f<__half>(float v) { return __float2half_rn(v); }
template <> RIBO_EW_FN __nv_bfloat16 ribo_ew_from_f<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

/* N consecutive elements of T <-> N floats through one vector access of N * sizeof(T) bytes when that
 * is 16 or 8 (p aligned to it), element by element otherwise. */
template <typename T, int N>
RIBO_EW_FN void ribo_ew_load(const T *p, float *f) {
    T e[N];
    if constexpr (N * sizeof(T) == 16) {
        const uint4 u = *reinterpret_cast<const uint4 *>(p);
        memcpy((void *)e, &u, 16);
    } else if constexpr (N * sizeof(T) == 8) {
        const uint2 u = *reinterpret_cast<const uint2 *>(p);
        memcpy((void *)e, &u, 8);
    } else {
RIBO_EW_UNROLL
        for (int k = 0; k < N; ++k) e[k] = p[k];
    }
RIBO_EW_UNROLL
    for (int k = 0; k < N; ++k) f[k] = ribo_ew_to_f(e[k]);
}
template <typename T, int N>
RIBO_EW_FN void ribo_ew_store(T *p, const float *f) {
    T e[N];
RIBO_EW_UNROLL
    for (int k = 0; k < N; ++k) e[k] = ribo_ew_from_f<T>(f[k]);
    if constexpr (N * sizeof(T) == 16) {
        uint4 u;
        memcpy(&u, (const void *)e, 16);
        *reinterpret_cast<uint4 *>(p) = u;
    } else if constexpr (N * sizeof(T) == 8) {
        uint2 u;
        memcpy(&u, (const void *)e, 8);
        *reinterpret_cast<uint2 *>(p) = u;
    } else {
RIBO_EW_UNROLL
        for (int k = 0; k < N; ++k) p[k] = e[k];
    }
}

/* ---------------------------------------------------------------- LayerNorm, row in registers */

/* Shape of the registers-per-row LayerNorm for rows of `width` elements of elem bytes: warps per row
 * (1, or 4 for rows of more than 256 vectors) and 16-byte vectors per lane (a bucket the backend
 * instantiates: 1..6, 8). False when the width is not a whole number of vectors or above 1024 of them
 * (the one-block-per-row kernel runs then). */
inline bool ribo_ln_rows_shape(int width, int elem, int *wpr, int *vpl) {
    const int epv = 16 / elem;
    if (width < 1 || width % epv) return false;
    const int nv = width / epv;
    int per;
    if (nv <= 32 * 8) {
        *wpr = 1;
        per = (nv + 31) / 32;
    } else if (nv <= 128 * 8) {
        *wpr = 4;
        per = (nv + 127) / 128; /* >= 3 */
    } else {
        return false;
    }
    *vpl = per <= 6 ? per : 8;
    return true;
}

/* Calls f.template operator()<VPL, WPR>() for a shape from ribo_ln_rows_shape: the buckets the
 * backend instantiates (WPR 1: VPL 1..6, 8; WPR 4: VPL 3..6, 8). */
template <class F>
inline void ribo_ln_rows_dispatch(int wpr, int vpl, F &&f) {
    if (wpr == 1) {
        switch (vpl) {
        case 1: f.template operator()<1, 1>(); return;
        case 2: f.template operator()<2, 1>(); return;
        case 3: f.template operator()<3, 1>(); return;
        case 4: f.template operator()<4, 1>(); return;
        case 5: f.template operator()<5, 1>(); return;
        case 6: f.template operator()<6, 1>(); return;
        default: f.template operator()<8, 1>(); return;
        }
    }
    switch (vpl) {
    case 3: f.template operator()<3, 4>(); return;
    case 4: f.template operator()<4, 4>(); return;
    case 5: f.template operator()<5, 4>(); return;
    case 6: f.template operator()<6, 4>(); return;
    default: f.template operator()<8, 4>(); return;
    }
}

/* One 128-thread CTA of the LayerNorm out = (x - mean) / sqrt(var + eps) * gamma + beta per row, with
 * WPR warps per row (1: rows 4b..4b+3 of CTA b, one per warp; 4: row b). Vector v of a row (EPV = 16 /
 * sizeof(T) elements) is held by lane v % 32 of the row's warp (v / 32) % WPR, up to VPL per lane.
 * All loads first, then the mean, then the centred variance (fp32 sums over the lane, the warp and,
 * for WPR > 1, the row's warps through partial[2][4] in shared memory), then gamma and beta (16-byte
 * loads) and 16-byte stores. Needs width % EPV == 0, width <= VPL * 32 * WPR * EPV and 16-byte
 * aligned x, gamma, beta, out. x may equal out (every load precedes every store of a row). */
template <class Ops, typename T, int VPL, int WPR>
RIBO_EW_FN void ribo_ln_rows_cta(const T *x, const T *gamma, const T *beta, T *out, int rows, int width, float eps,
                                 unsigned block, int tid, float (*partial)[4]) {
    constexpr int EPV = 16 / (int)sizeof(T), RPB = 4 / WPR;
    static_assert(WPR == 1 || WPR == 4, "one or four warps per row");
    const int warp = tid >> 5, lane = tid & 31, sub = warp % WPR;
    const long long row_ll = (long long)block * RPB + warp / WPR;
    const bool live = row_ll < rows;
    if (WPR == 1 && !live) return; /* the whole warp; this variant has no CTA barrier */
    const int row = live ? (int)row_ll : 0, nv = width / EPV;
    const size_t base = (size_t)row * (size_t)width;
    float v[VPL][EPV];
RIBO_EW_UNROLL
    for (int j = 0; j < VPL; ++j) {
        const int vi = lane + 32 * (sub + WPR * j);
        if (live && vi < nv) ribo_ew_load<T, EPV>(x + base + (size_t)vi * EPV, v[j]);
        else
RIBO_EW_UNROLL
            for (int k = 0; k < EPV; ++k) v[j][k] = 0.0f;
    }
    float sum = 0.0f;
RIBO_EW_UNROLL
    for (int j = 0; j < VPL; ++j)
RIBO_EW_UNROLL
        for (int k = 0; k < EPV; ++k) sum += v[j][k];
    for (int o = 16; o > 0; o >>= 1) sum += Ops::shfl_xor(sum, o);
    if constexpr (WPR > 1) {
        if (lane == 0) partial[0][warp] = sum;
        Ops::sync_cta();
        sum = 0.0f;
RIBO_EW_UNROLL
        for (int w = 0; w < WPR; ++w) sum += partial[0][warp - sub + w];
    }
    const float mean = sum / (float)width;
    float q = 0.0f;
RIBO_EW_UNROLL
    for (int j = 0; j < VPL; ++j)
        if (lane + 32 * (sub + WPR * j) < nv)
RIBO_EW_UNROLL
            for (int k = 0; k < EPV; ++k) {
                const float d = v[j][k] - mean;
                q += d * d;
            }
    for (int o = 16; o > 0; o >>= 1) q += Ops::shfl_xor(q, o);
    if constexpr (WPR > 1) {
        if (lane == 0) partial[1][warp] = q;
        Ops::sync_cta();
        q = 0.0f;
RIBO_EW_UNROLL
        for (int w = 0; w < WPR; ++w) q += partial[1][warp - sub + w];
    }
    const float rstd = 1.0f / sqrtf(q / (float)width + eps);
    if (!live) return;
RIBO_EW_UNROLL
    for (int j = 0; j < VPL; ++j) {
        const int vi = lane + 32 * (sub + WPR * j);
        if (vi >= nv) continue;
        float g[EPV], b[EPV], o[EPV];
        ribo_ew_load<T, EPV>(gamma + (size_t)vi * EPV, g);
        ribo_ew_load<T, EPV>(beta + (size_t)vi * EPV, b);
RIBO_EW_UNROLL
        for (int k = 0; k < EPV; ++k) o[k] = (v[j][k] - mean) * rstd * g[k] + b[k];
        ribo_ew_store<T, EPV>(out + base + (size_t)vi * EPV, o);
    }
}

/* ---------------------------------------------------------------- exact GELU, in place */

RIBO_EW_FN float ribo_ew_gelu_erf(float v) { return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)); }

/* Thread `first` of a grid of `stride` threads: p[i] = gelu_erf(p[i]) for the 16-byte vectors
 * first, first + stride, ... of p (16-byte aligned, n elements), and the elements first, first +
 * stride, ... of the n % EPV tail. */
template <typename T>
RIBO_EW_FN void ribo_ew_gelu_thread(T *p, size_t n, size_t first, size_t stride) {
    constexpr int EPV = 16 / (int)sizeof(T);
    const size_t n_vec = n / EPV;
    for (size_t i = first; i < n_vec; i += stride) {
        float f[EPV];
        ribo_ew_load<T, EPV>(p + i * EPV, f);
RIBO_EW_UNROLL
        for (int k = 0; k < EPV; ++k) f[k] = ribo_ew_gelu_erf(f[k]);
        ribo_ew_store<T, EPV>(p + i * EPV, f);
    }
    for (size_t i = n_vec * EPV + first; i < n; i += stride) p[i] = ribo_ew_from_f<T>(ribo_ew_gelu_erf(ribo_ew_to_f(p[i])));
}

/* ---------------------------------------------------------------- rotary (separate pass) */

/* sin and cos, correctly rounded in practice (sincosf; the kernels' reference). */
RIBO_EW_FN void ribo_ew_sincos(float a, float *s, float *c) {
#if RIBO_GPU_DEVICE_PASS
    sincosf(a, s, c);
#else
    *s = sinf(a);
    *c = cosf(a);
#endif
}

/* Thread idx of the rotary pass on qkv [T, 3*H*D] in place with C consecutive pairs per thread: token
 * t, head h, pairs i0 .. i0 + C - 1 (i0 = C * (idx % (D/2/C))); q *= q_scale, then (x_i, x_{i+D/2}) of
 * q and k rotated by the angle positions[t] * inv_freq[i] rounded to float (as transformers); with
 * ROT_Q false, k only (q left as it is, for an attention kernel that rotates q itself). The halves
 * move as C-element vectors: needs (D/2) % C == 0 and qkv aligned to C * sizeof(T). */
template <typename T, int C, bool ROT_Q = true>
RIBO_EW_FN void ribo_ew_rotary_thread(T *qkv, const int *positions, int n_tokens, int n_heads, int head_dim,
                                      float q_scale, const float *inv_freq, size_t idx) {
    const int half = head_dim / 2, groups = half / C;
    if (idx >= (size_t)n_tokens * n_heads * groups) return;
    const int i0 = (int)(idx % groups) * C, h = (int)((idx / groups) % n_heads);
    const int t = (int)(idx / ((size_t)groups * n_heads)), hd = n_heads * head_dim;
    T *q = qkv + (size_t)t * 3 * hd + (size_t)h * head_dim + i0, *k = q + hd;
    float q1[C] = {}, q2[C] = {}, k1[C], k2[C];
    if constexpr (ROT_Q) {
        ribo_ew_load<T, C>(q, q1);
        ribo_ew_load<T, C>(q + half, q2);
    }
    ribo_ew_load<T, C>(k, k1);
    ribo_ew_load<T, C>(k + half, k2);
    const float pos = (float)positions[t];
    float oq1[C], oq2[C], ok1[C], ok2[C];
RIBO_EW_UNROLL
    for (int c = 0; c < C; ++c) {
        float s, co;
        ribo_ew_sincos(pos * inv_freq[i0 + c], &s, &co);
        const float a = q1[c] * q_scale, b = q2[c] * q_scale;
        oq1[c] = a * co - b * s;
        oq2[c] = b * co + a * s;
        ok1[c] = k1[c] * co - k2[c] * s;
        ok2[c] = k2[c] * co + k1[c] * s;
    }
    if constexpr (ROT_Q) {
        ribo_ew_store<T, C>(q, oq1);
        ribo_ew_store<T, C>(q + half, oq2);
    }
    ribo_ew_store<T, C>(k, ok1);
    ribo_ew_store<T, C>(k + half, ok2);
}

/* ---------------------------------------------------------------- segment pooling */

/* CTA shape of the pooling: RIBO_POOL_WARPS warps share the rows of one sequence, each lane holds two
 * adjacent columns of a chunk of RIBO_POOL_COLS columns. Grid: (n_seqs, ceil(width / RIBO_POOL_COLS)). */
#define RIBO_POOL_WARPS 4
#define RIBO_POOL_COLS 64

/* One CTA of the pooling, sequence s = block_x, columns chunk * 64 .. + 63:
 *   mode 0 (mean): out[s, c] = mean of x[t, c] over the rows t in [cu[s] + skip_begin, cu[s+1] - skip_end)
 *                  (0 for an empty range); warp w sums rows first + w, first + w + 4, ... in fp32 with
 *                  compensation (Kahan), then warp 0 adds the 4 partial sums in warp order (shared
 *                  memory `partial`), so the result does not depend on scheduling;
 *   mode 1 (first): out[s, c] = x[cu[s], c].
 * Loads of one warp cover 64 consecutive columns of a row (coalesced); out is fp32. */
template <class Ops, typename T>
RIBO_EW_FN void ribo_pool_cta(const T *x, const int *cu, float *out, int width, int skip_begin, int skip_end, int mode,
                              unsigned s, unsigned chunk, int tid, float (*partial)[RIBO_POOL_COLS]) {
    const int warp = tid >> 5, lane = tid & 31;
    const int c0 = (int)chunk * RIBO_POOL_COLS + 2 * lane;
    const int begin = cu[s], first = begin + skip_begin, end = cu[s + 1] - skip_end;
    if (mode == 1) {
        if (warp == 0)
            for (int k = 0; k < 2; ++k)
                if (c0 + k < width) out[(size_t)s * width + c0 + k] = ribo_ew_to_f(x[(size_t)begin * width + c0 + k]);
        return; /* uniform over the CTA: no barrier follows in this mode */
    }
    float acc[2] = {0.0f, 0.0f}, comp[2] = {0.0f, 0.0f};
    for (int t = first + warp; t < end; t += RIBO_POOL_WARPS) {
        const T *row = x + (size_t)t * width;
RIBO_EW_UNROLL
        for (int k = 0; k < 2; ++k) {
            if (c0 + k >= width) continue;
            const float y = ribo_ew_to_f(row[c0 + k]) - comp[k];
            const float sum = acc[k] + y;
            comp[k] = (sum - acc[k]) - y;
            acc[k] = sum;
        }
    }
    partial[warp][2 * lane] = acc[0];
    partial[warp][2 * lane + 1] = acc[1];
    Ops::sync_cta();
    if (warp != 0) return;
RIBO_EW_UNROLL
    for (int k = 0; k < 2; ++k) {
        if (c0 + k >= width) continue;
        float total = 0.0f;
        for (int w = 0; w < RIBO_POOL_WARPS; ++w) total += partial[w][2 * lane + k];
        out[(size_t)s * width + c0 + k] = end > first ? total / (float)(end - first) : 0.0f;
    }
}

#endif
