/* CPU emulation of the mma.sync attention kernel (backends/cuda/cuda_attention_mma.cuh), no GPU needed.
 *
 * The kernel body is compiled as host code with an Ops type that emulates the warp-level
 * instructions; each of the CTA's 128 threads is a fiber (ucontext), and the fibers run in lock-step
 * at every collective operation:
 *   ldmatrix(.trans).x4   lane l gets, from matrix i = the 8 rows addressed by lanes 8i..8i+7, row l/4
 *                         cols 2(l%4), +1 (.trans: rows 2(l%4), +1 of col l/4) - PTX ISA "ldmatrix"
 *   mma.m16n8k16          fragments gathered with the PTX ISA row/col formulas for A, B, C/D
 *                         ("Matrix Fragments for mma.m16n8k16 with floating point type"), D = A B + C
 *   shfl.xor, __syncwarp, __syncthreads
 *   cp.async              destination poisoned (NaN) at issue, data written at wait_group 0, so a
 *                         read before the wait shows up as NaN; zero fill when src-size is 0
 * and every collective checks that all lanes of the warp (all 128 threads for a barrier) reach the
 * same operation, that ldmatrix row addresses are 16-byte aligned and inside shared memory and that
 * cp.async sources are inside the qkv buffer. Shared memory is NaN-filled before every CTA, the output
 * (plus a guard tail) before every run. The result is compared with the double-precision reference
 * (tests/ref_ops.c) on the same 16-bit-rounded inputs.
 *
 * Fused rotary (the ROPE variants, ESM-2): the reference rotates Q (scaled) and K in double and rounds
 * them to 16 bits, as the separate rotary pass stores them, then attends. ROPE 2 rotates both inside
 * the kernel; ROPE 1 only Q, after the k-only separate pass (cuda_elementwise.cuh) has rotated K. The rotation helper is also
 * checked on its own against the separate kernel's float formula (at most one 16-bit ulp apart, rows
 * past the sequence end untouched), and the angle reduction against double sin/cos.
 *
 * RIBO_EMU_EXTENDED=1 adds a 4096-token sequence and random batches (minutes); RIBO_EMU_VERBOSE=1 prints
 * every case's error.
 *
 * What this cannot check: the PTX strings themselves (ptxas does, at build time), timing, bank
 * conflicts, register pressure, or races the deterministic schedule does not expose. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <functional>
#include <type_traits>
#include <vector>

#define RIBO_MMA_FN inline
#include "backends/cuda/cuda_attention_mma.cuh"
#define RIBO_EW_FN inline
#include "backends/cuda/cuda_elementwise.cuh" /* the k-only rotary pass of the ROPE 1 cases */

extern "C" {
#include "ref_ops.h"
#include "test_util.h"
}
#include "gpu_emu.h"

namespace {

void check_smem_row(const void *p) {
    const char *c = (const char *)p;
    if (c < emu.smem_lo || c + 16 > emu.smem_hi) fail("ldmatrix row address outside shared memory");
    if ((uintptr_t)c % 16) fail("ldmatrix row address not 16-byte aligned");
}

uint16_t ld16(const void *p, int i) {
    uint16_t v;
    memcpy(&v, (const char *)p + 2 * i, 2);
    return v;
}

template <typename T> float to_float(uint16_t bits);
template <> float to_float<__half>(uint16_t bits) {
    __half h;
    memcpy((void *)&h, &bits, 2);
    return __half2float(h);
}
template <> float to_float<__nv_bfloat16>(uint16_t bits) {
    uint32_t u = (uint32_t)bits << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---------------------------------------------------------------- the emulated instructions */

struct EmuOps : EmuBasicOps {
    static void cp_async16(void *dst, const void *src, bool valid) {
        const char *d = (const char *)dst, *s = (const char *)src;
        if (d < emu.smem_lo || d + 16 > emu.smem_hi || (uintptr_t)d % 16) fail("cp.async destination outside shared memory or unaligned");
        if (s < emu.gmem_lo || s + 16 > emu.gmem_hi || (uintptr_t)s % 16) fail("cp.async source outside qkv or unaligned");
        if (emu.failed) return;
        memset(dst, 0xff, 16); /* NaN in fp16 and bf16 until the copy is waited for */
        emu.lanes[emu.cur].pending.push_back({dst, src, valid});
    }
    static void cp_async_commit() {}
    static void cp_async_wait_all() {
        for (const Pending &p : emu.lanes[emu.cur].pending) {
            if (p.valid) memcpy(p.dst, p.src, 16);
            else memset(p.dst, 0, 16);
        }
        emu.lanes[emu.cur].pending.clear();
    }
    static void ldmatrix(uint32_t r[4], const void *p, bool trans) {
        const int l = emu_lane(emu.cur);
        Warp &w = emu.warps[emu_wave(emu.cur)];
        check_smem_row(p);
        w.addr[l] = p;
        warp_collective(trans ? K_LDMT : K_LDM, [trans](Warp &w) {
            for (int lane = 0; lane < 32; ++lane)
                for (int i = 0; i < 4; ++i) {
                    uint16_t lo, hi;
                    if (!trans) { /* row lane/4 of matrix i, cols 2(lane%4), +1 */
                        const void *row = w.addr[8 * i + lane / 4];
                        lo = ld16(row, 2 * (lane % 4));
                        hi = ld16(row, 2 * (lane % 4) + 1);
                    } else { /* rows 2(lane%4), +1 of matrix i, col lane/4 */
                        lo = ld16(w.addr[8 * i + 2 * (lane % 4)], lane / 4);
                        hi = ld16(w.addr[8 * i + 2 * (lane % 4) + 1], lane / 4);
                    }
                    w.r[lane][i] = (uint32_t)lo | (uint32_t)hi << 16;
                }
        });
        memcpy(r, w.r[l], 16);
    }
    static void ldmatrix_x4(uint32_t r[4], const void *p) { ldmatrix(r, p, false); }
    static void ldmatrix_x4_trans(uint32_t r[4], const void *p) { ldmatrix(r, p, true); }

    template <typename T>
    static void mma(float d[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
        const int l = emu_lane(emu.cur);
        Warp &w = emu.warps[emu_wave(emu.cur)];
        memcpy(w.a[l], a, 16);
        w.b[l][0] = b0;
        w.b[l][1] = b1;
        memcpy(w.c[l], d, 16);
        warp_collective(K_MMA, [](Warp &w) {
            float A[16][16], B[16][8], C[16][8];
            int na[16][16] = {}, nb[16][8] = {}, nc[16][8] = {};
            for (int lane = 0; lane < 32; ++lane) {
                const int g = lane >> 2, t = lane & 3;
                for (int r = 0; r < 4; ++r) { /* A: reg r = rows g + 8(r&1), cols 2t + 8(r>>1), +1 */
                    const int row = g + 8 * (r & 1), col = 2 * t + 8 * (r >> 1);
                    A[row][col] = to_float<T>((uint16_t)(w.a[lane][r] & 0xffff));
                    A[row][col + 1] = to_float<T>((uint16_t)(w.a[lane][r] >> 16));
                    ++na[row][col];
                    ++na[row][col + 1];
                }
                for (int r = 0; r < 2; ++r) { /* B: reg r = rows 2t + 8r, +1, col g */
                    const int row = 2 * t + 8 * r;
                    B[row][g] = to_float<T>((uint16_t)(w.b[lane][r] & 0xffff));
                    B[row + 1][g] = to_float<T>((uint16_t)(w.b[lane][r] >> 16));
                    ++nb[row][g];
                    ++nb[row + 1][g];
                }
                for (int i = 0; i < 4; ++i) { /* C: c_i = row g + 8(i>>1), col 2t + (i&1) */
                    C[g + 8 * (i >> 1)][2 * t + (i & 1)] = w.c[lane][i];
                    ++nc[g + 8 * (i >> 1)][2 * t + (i & 1)];
                }
            }
            for (int i = 0; i < 16; ++i)
                for (int j = 0; j < 16; ++j)
                    if (na[i][j] != 1 || (j < 8 && (nb[i][j] != 1 || nc[i][j] != 1))) fail("emulator: fragment map not a bijection");
            for (int lane = 0; lane < 32; ++lane) {
                const int g = lane >> 2, t = lane & 3;
                for (int i = 0; i < 4; ++i) {
                    const int row = g + 8 * (i >> 1), col = 2 * t + (i & 1);
                    double acc = C[row][col];
                    for (int k = 0; k < 16; ++k) acc += (double)A[row][k] * B[k][col];
                    w.c[lane][i] = (float)acc;
                }
            }
        });
        memcpy(d, w.c[l], 16);
    }
    static float exp2(float x) { return exp2f(x); }
    /* sinf / cosf, off by +-sincos_error (the sign from the bits of r): the device's __sincosf is
     * within 2^-21.4 of the true values on [-pi, pi] */
    static inline float sincos_error = 0.0f;
    static void sincos(float r, float *s, float *c) {
        if (r < -3.2f || r > 3.2f) fail("rotary angle not reduced to [-pi, pi]");
        uint32_t bits;
        memcpy(&bits, &r, 4);
        *s = sinf(r) + (bits & 1 ? sincos_error : -sincos_error);
        *c = cosf(r) + (bits & 2 ? sincos_error : -sincos_error);
    }
};

/* ---------------------------------------------------------------- driver */

template <typename T> T from_float(float v);
template <> __half from_float<__half>(float v) { return __float2half_rn(v); }
template <> __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <typename T> float back(T v);
template <> float back<__half>(__half v) { return __half2float(v); }
template <> float back<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }

uint64_t rng = 0x2545f4914f6cdd1dull;

/* inv_freq as the CUDA backend computes it on the host (cuda_rope.cu rotary_inv_freq) */
float rope_inv_freq(float theta, int i, int head_dim) {
    const float p = (float)pow((double)theta, (double)((float)(2 * i) / (float)head_dim));
    return (float)(1.0 / (double)p);
}
constexpr float kTheta = 10000.0f;

/* The reference for a ROPE case: Q (times q_scale) and K of every token rotated in double by its
 * position within its sequence, rounded to T as the separate rotary pass stores them. */
template <typename T>
void rope_reference(std::vector<float> &qkv_f, const std::vector<int32_t> &cu, int n_seqs, int n_heads, int D,
                    float q_scale) {
    std::vector<int32_t> pos(cu[n_seqs]);
    for (int s = 0; s < n_seqs; ++s)
        for (int t = cu[s]; t < cu[s + 1]; ++t) pos[t] = t - cu[s];
    ref_rotary(qkv_f.data(), pos.data(), cu[n_seqs], n_heads, D, kTheta, q_scale);
    const size_t hd = (size_t)n_heads * D;
    for (int t = 0; t < cu[n_seqs]; ++t)
        for (size_t e = 0; e < 2 * hd; ++e) {
            float &v = qkv_f[(size_t)t * 3 * hd + e];
            v = back<T>(from_float<T>(v));
        }
}

/* Emulates the whole grid on random 16-bit inputs and compares with the reference; returns the worst
 * per-row relative error (NaN when an element was not written). ROPE: ESM-2's convention, q scaled by
 * D^-0.5 before the rotation and attention scale 1. */
template <typename T, int D, bool ALIBI, int ROPE>
double run_case(const int *lens, int n_seqs, int n_heads) {
    using C = ribo_mma_attn_cfg<T, D>;
    std::vector<int32_t> cu(n_seqs + 1, 0);
    for (int i = 0; i < n_seqs; ++i) cu[i + 1] = cu[i] + lens[i];
    const int n_tokens = cu[n_seqs], hd = n_heads * D;
    const size_t nq = (size_t)n_tokens * 3 * hd, no = (size_t)n_tokens * hd, guard = 2 * (size_t)hd;
    /* 16-byte aligned device-like buffers */
    T *qkv = (T *)aligned_alloc(16, ((nq * sizeof(T) + 15) / 16) * 16 + 16);
    T *out = (T *)aligned_alloc(16, (((no + guard) * sizeof(T) + 15) / 16) * 16);
    std::vector<float> qkv_f(nq), want(no), got(no);
    for (size_t i = 0; i < nq; ++i) {
        qkv[i] = from_float<T>(ribo_test_randf(&rng, -2.0f, 2.0f));
        qkv_f[i] = back<T>(qkv[i]);
    }
    memset((void *)out, 0xff, (no + guard) * sizeof(T));
    float slopes[16];
    for (int h = 0; h < n_heads; ++h) slopes[h] = powf(2.0f, -8.0f * (float)(h + 1) / (float)n_heads);
    const float scale = ROPE ? 1.0f : 1.0f / sqrtf((float)D), q_scale = 1.0f / sqrtf((float)D);
    float inv_freq[64] = {0};
    for (int i = 0; i < D / 2; ++i) inv_freq[i] = rope_inv_freq(kTheta, i, D);

    if (ROPE == 1) { /* k rotated first by the separate k-only pass (8-byte vectors: every head size) */
        std::vector<int32_t> pos(n_tokens);
        for (int s = 0; s < n_seqs; ++s)
            for (int t = cu[s]; t < cu[s + 1]; ++t) pos[t] = t - cu[s];
        constexpr int CV = 8 / (int)sizeof(T);
        const size_t threads = (size_t)n_tokens * n_heads * (D / 2 / CV);
        for (size_t i = 0; i < threads; ++i)
            ribo_ew_rotary_thread<T, CV, false>(qkv, pos.data(), n_tokens, n_heads, D, q_scale, inv_freq, i);
    }
    std::vector<unsigned char> smem_buf(C::SMEM_BYTES + 128);
    unsigned char *smem = (unsigned char *)(((uintptr_t)smem_buf.data() + 127) & ~(uintptr_t)127);
    emu.smem_lo = (const char *)smem;
    emu.smem_hi = (const char *)smem + C::SMEM_BYTES;
    emu.gmem_lo = (const char *)qkv;
    emu.gmem_hi = (const char *)(qkv + nq);
    emu.failed = false;
    const unsigned blocks = (unsigned)((n_tokens / 64 + n_seqs) * n_heads);
    /* CTAs in a shuffled order: the GPU promises none, and a write into a neighbour's rows must not be
     * hidden by the neighbour running later */
    std::vector<unsigned> order(blocks);
    for (unsigned b = 0; b < blocks; ++b) order[b] = b;
    for (unsigned b = blocks; b > 1; --b) std::swap(order[b - 1], order[(unsigned)ribo_test_randf(&rng, 0.0f, (float)b) % b]);
    for (unsigned b : order) {
        if (emu.failed) break;
        memset(smem, 0xff, C::SMEM_BYTES);
        run_cta([&](int tid) {
            ribo_mma_attention_cta<EmuOps, T, D, ALIBI, ROPE>(qkv, cu.data(), n_seqs, ALIBI ? slopes : nullptr, out,
                                                               n_heads, scale * 1.4426950408889634f, b, (T *)smem, tid,
                                                               ROPE ? inv_freq : nullptr, q_scale);
        });
    }
    double e = NAN;
    if (emu.failed) {
        CHECK(false, "emulated mma attention D=%d alibi=%d seqs=%d: %s", D, ALIBI, n_seqs, emu.why);
    } else {
        bool guard_ok = true;
        for (size_t i = 0; i < guard; ++i) {
            uint16_t bits;
            memcpy(&bits, (const void *)(out + no + i), 2);
            guard_ok = guard_ok && bits == 0xffff;
        }
        CHECK(guard_ok, "emulated mma attention D=%d wrote past the end of out", D);
        for (size_t i = 0; i < no; ++i) got[i] = back<T>(out[i]);
        if (ROPE) rope_reference<T>(qkv_f, cu, n_seqs, n_heads, D, q_scale);
        ref_attention(qkv_f.data(), cu.data(), n_seqs, ALIBI ? slopes : nullptr, want.data(), n_heads, D, scale);
        e = ribo_test_max_row_rel_err(got.data(), want.data(), (size_t)n_tokens, (size_t)hd);
    }
    free(qkv);
    free(out);
    return e;
}

template <typename T, int D, bool ALIBI, int ROPE = 0>
void check_case(const char *name, const int *lens, int n_seqs, int n_heads) {
    const bool bf = std::is_same_v<T, __nv_bfloat16>;
    const double e = run_case<T, D, ALIBI, ROPE>(lens, n_seqs, n_heads);
    /* 16-bit P and output rounding against a double reference on the same rounded inputs (with ROPE,
     * the same rounded rotated Q and K, up to one ulp where the float angle rounds differently) */
    const double bound = bf ? 1.2e-2 : 1.5e-3;
    CHECK(e < bound, "emulated mma attention %s %s D=%d alibi=%d rope=%d heads=%d: rel err %g (bound %g)",
          bf ? "bf16" : "fp16", name, D, ALIBI, ROPE, n_heads, e, bound);
    if (getenv("RIBO_EMU_VERBOSE"))
        fprintf(stderr, "%s %s D=%d alibi=%d rope=%d: rel err %.3g\n", bf ? "bf16" : "fp16", name, D, ALIBI, ROPE, e);
}

template <typename T, int D>
void check_dim(const int *lens, int n_seqs) {
    const int heads = D >= 64 ? 2 : 3;
    check_case<T, D, false>("edge lengths", lens, n_seqs, heads);
    check_case<T, D, true>("edge lengths", lens, n_seqs, heads);
    check_case<T, D, false, 2>("edge lengths", lens, n_seqs, heads);
    check_case<T, D, false, 1>("edge lengths", lens, n_seqs, heads);
}

/* ---------------------------------------------------------------- rotary helpers on their own */

/* The angle reduction: sin/cos of fl(pos * inv_freq) for every position up to 65535 and every
 * frequency of the head sizes, against double sin/cos of the same float angle. */
void check_rope_sincos() {
    double worst = 0;
    const int dims[] = {16, 24, 32, 64, 128};
    for (int d : dims)
        for (int i = 0; i < d / 2; ++i) {
            const float f = rope_inv_freq(kTheta, i, d);
            for (int pos = 0; pos < 65536; pos += (pos < 4096 ? 1 : 7)) {
                const float a = (float)pos * f;
                float s, c;
                ribo_mma_rope_sincos<EmuOps>(a, &s, &c);
                worst = std::max(worst, std::max(fabs(s - sin((double)a)), fabs(c - cos((double)a))));
            }
        }
    /* two fma steps (~2.5e-7 at angles near 4096) and float sin/cos; a few 1e-6 at 65535 */
    CHECK(!emu.failed && worst < 2e-6, "rotary sin/cos after the angle reduction: worst abs err %g (%s)", worst,
          emu.failed ? emu.why : "ok");
    if (getenv("RIBO_EMU_VERBOSE")) fprintf(stderr, "rope sincos worst abs err %.3g\n", worst);
}

/* ulps between two 16-bit values of the same sign class (bit patterns as ordered integers) */
template <typename T>
int ulps_apart(T a, T b) {
    uint16_t ua, ub;
    memcpy(&ua, (const void *)&a, 2);
    memcpy(&ub, (const void *)&b, 2);
    const int ia = ua & 0x8000 ? -(int)(ua & 0x7fff) : (int)ua, ib = ub & 0x8000 ? -(int)(ub & 0x7fff) : (int)ub;
    return abs(ia - ib);
}

/* ribo_mma_rope_tile on a shared-memory-shaped tile (padded rows) against the separate rotary
 * kernel's formula (float angle, sincosf, q scaled first, fp32 rotation, rounded to T): both elements
 * of every rotated pair within one 16-bit ulp at the pair's magnitude (sin/cos err: the emulated
 * sin/cos error, up to the device's), rows past the sequence end not touched. */
template <typename T, int D, bool SCALE>
void check_rope_tile(int pos0, int len, float sincos_err = 0.0f) {
    using C = ribo_mma_attn_cfg<T, D>;
    std::vector<T> tile(C::TILE), want(C::TILE);
    for (T &v : tile) v = from_float<T>(ribo_test_randf(&rng, -2.0f, 2.0f));
    want = tile;
    float inv_freq[64] = {0};
    for (int i = 0; i < D / 2; ++i) inv_freq[i] = rope_inv_freq(kTheta, i, D);
    const float q_scale = SCALE ? 1.0f / sqrtf((float)D) : 1.0f;
    for (int r = 0; r < C::BK && pos0 + r < len; ++r)
        for (int i = 0; i < D / 2; ++i) {
            T *x = want.data() + r * C::LDS;
            const float angle = (float)(pos0 + r) * inv_freq[i];
            const float s = sinf(angle), c = cosf(angle);
            const float x1 = back<T>(x[i]) * q_scale, x2 = back<T>(x[i + D / 2]) * q_scale;
            x[i] = from_float<T>(x1 * c - x2 * s);
            x[i + D / 2] = from_float<T>(x2 * c + x1 * s);
        }
    emu.failed = false;
    EmuOps::sincos_error = sincos_err;
    for (int tid = 0; tid < C::THREADS; ++tid) /* no collectives inside: the threads one after another */
        ribo_mma_rope_tile<EmuOps, T, D, SCALE>(tile.data(), pos0, len, inv_freq, q_scale, tid);
    EmuOps::sincos_error = 0.0f;
    double worst = 0;
    int n_diff = 0, n = 0;
    bool untouched = true;
    const bool bf = std::is_same_v<T, __nv_bfloat16>;
    for (int r = 0; r < C::BK; ++r)
        for (int e = 0; e < C::LDS; ++e) {
            const T a = tile[r * C::LDS + e], b = want[r * C::LDS + e];
            if (pos0 + r >= len || e >= D) {
                untouched = untouched && !memcmp((const void *)&a, (const void *)&b, sizeof a);
                continue;
            }
            /* the pair's magnitude and the 16-bit spacing there */
            const int i = e % (D / 2);
            const T *w = want.data() + r * C::LDS;
            float mag = std::max(fabsf(back<T>(w[i])), fabsf(back<T>(w[i + D / 2])));
            int ex;
            frexpf(std::max(mag, 1e-4f), &ex);
            const double spacing = bf ? ldexp(1.0, ex - 8) : ldexp(1.0, (ex - 1 < -14 ? -14 : ex - 1) - 10);
            const double d = fabs((double)back<T>(a) - back<T>(b)) / spacing;
            worst = std::max(worst, d != d ? INFINITY : d);
            n_diff += ulps_apart(a, b) != 0;
            ++n;
        }
    CHECK(!emu.failed && worst <= 1.0 && untouched,
          "rotary tile %s D=%d scale=%d rows from %d (len %d), sin/cos err %g: worst %g ulp of the pair, %d of %d "
          "differ, untouched=%d %s",
          bf ? "bf16" : "fp16", D, SCALE, pos0, len, sincos_err, worst, n_diff, n, untouched, emu.failed ? emu.why : "");
    if (getenv("RIBO_EMU_VERBOSE"))
        fprintf(stderr, "rope tile %s D=%d pos0=%d sin/cos err %g: %d of %d elements differ (worst %.2f ulp of the pair)\n",
                bf ? "bf16" : "fp16", D, pos0, sincos_err, n_diff, n, worst);
}

template <typename T, int D>
void check_rope_tiles() {
    check_rope_tile<T, D, true>(0, 64);
    check_rope_tile<T, D, false>(0, 40);       /* rows 40..63 past the end */
    check_rope_tile<T, D, true>(960, 1000);    /* the last tile of a 1000-token sequence */
    check_rope_tile<T, D, false>(4032, 4096);
    check_rope_tile<T, D, true>(65472, 65536); /* one 65,536-token sequence */
    check_rope_tile<T, D, true>(960, 1000, 6e-7f); /* __sincosf's error (3.6e-7) and some */
    check_rope_tile<T, D, false>(4032, 4096, 6e-7f);
}

template <typename T>
void check_type() {
    const int edge[] = {1, 2, 63, 64, 65, 127, 128, 129};
    check_dim<T, 16>(edge, 8);
    check_dim<T, 24>(edge, 8);
    check_dim<T, 32>(edge, 8);
    check_dim<T, 64>(edge, 8);
    check_dim<T, 128>(edge, 8);
}

} // namespace

int main(void) {
    check_rope_sincos();
    check_rope_tiles<__half, 16>();
    check_rope_tiles<__half, 24>();
    check_rope_tiles<__half, 64>();
    check_rope_tiles<__nv_bfloat16, 32>();
    check_rope_tiles<__nv_bfloat16, 128>();
    check_type<__half>();
    check_type<__nv_bfloat16>();
    /* many short sequences (slot search over 200 sequences, spare slots), and zero-length ones */
    std::vector<int> many(200);
    for (int i = 0; i < 200; ++i) many[i] = 1 + (int)ribo_test_randf(&rng, 0.0f, 40.0f);
    many[17] = 0;
    many[199] = 0;
    check_case<__nv_bfloat16, 32, true>("200 short", many.data(), 200, 2);
    check_case<__half, 24, false>("200 short", many.data(), 200, 1);
    /* one long sequence among short ones: 16 key tiles with the double buffer flipping */
    const int longish[] = {5, 1000, 70};
    check_case<__half, 64, false>("long", longish, 3, 1);
    check_case<__nv_bfloat16, 128, true>("long", longish, 3, 1);
    check_case<__half, 64, false, 2>("long", longish, 3, 2);
    check_case<__nv_bfloat16, 128, false, 1>("long", longish, 3, 1);
    check_case<__nv_bfloat16, 24, false, 2>("200 short", many.data(), 200, 2);
    if (getenv("RIBO_EMU_EXTENDED")) { /* opt-in (minutes): 64 key tiles, random batches */
        const int long4096[] = {4096, 7};
        check_case<__half, 16, true>("4096", long4096, 2, 1);
        check_case<__nv_bfloat16, 64, false>("4096", long4096, 2, 1);
        std::vector<int> mixed(40);
        for (int i = 0; i < 40; ++i) mixed[i] = 1 + (int)ribo_test_randf(&rng, 0.0f, 300.0f);
        check_case<__half, 128, true>("40 mixed", mixed.data(), 40, 1);
        check_case<__nv_bfloat16, 24, true>("40 mixed", mixed.data(), 40, 2);
        check_case<__nv_bfloat16, 32, false>("40 mixed", mixed.data(), 40, 2);
        check_case<__half, 16, false, 2>("4096", long4096, 2, 1);
        check_case<__nv_bfloat16, 64, false, 1>("40 mixed", mixed.data(), 40, 2);
    }
    return ribo_test_finish("test_attention_mma_emu");
}
