/* CPU emulation of the MFMA attention body for AMD CDNA (backends/hip/hip_attention_mfma.cuh), no
 * GPU needed: the CTA's 256 threads are fibers in 64-lane waves (tests/gpu_emu.h with RIBO_EMU_WAVE
 * 64), run in lock-step at every collective (MFMA, wave shuffles, barriers).
 *
 * The MFMA model is written from AMD's documented lane layouts, not from the kernel (AMD Matrix
 * Instruction Calculator, ROCm/amd_matrix_instruction_calculator, `matrix_calculator.py -a cdna2 -i
 * v_mfma_f32_16x16x16f16 -A -M` and the same for -B, -D, for v_mfma_f32_16x16x16bf16_1k (cdna2) and
 * v_mfma_f32_16x16x8bf16 (cdna1); CDNA3's _16x16x16_f16/_bf16 print the same tables), wave64:
 *   16x16x16 (f16, bf16_1k): A[i][k] in lane i + 16*(k/4), item k%4; B[k][j] in lane j + 16*(k/4),
 *                            item k%4 (items 0,1 the low and high half of the first dword, 2,3 of
 *                            the second); D[i][j] in lane j + 16*(i/4), item i%4
 *   16x16x8bf16 (gfx908):    A[i][k] in lane i + 16*(k/2), item k%2 (one dword); B[k][j] in lane
 *                            j + 16*(k/2), item k%2; D as above
 * (the D map agrees with llama.cpp ggml-cuda/mma.cuh, CDNA tile<16, 16>: element l of a lane is row
 * 4*(lane/16) + l, column lane%16). Each model checks that the maps are bijections and that all 64
 * lanes take part; products are summed in double, rounded once to fp32.
 *
 * Checked against the double reference (tests/ref_ops.c) on the same 16-bit inputs: fp16 and bf16,
 * the gfx908 bf16 path (two 16x16x8 steps) as well as the _1k one, every head size (16, 24, 32, 64,
 * 128), with and without ALiBi, fused rotary (Q and K; Q only after the k-only pass), packed batches
 * with lengths 0, 1, 2, 15, 16, 17, 63, 64, 65, 129 and 1000 (so query tiles, key tiles, spare slots
 * and partial tiles of every kind occur); per element (absolute error against the output's 16-bit
 * scale), per row (relative L2 error and cosine), and a guard tail after the output.
 *
 * What this cannot check: the builtins' argument types and the compiler's code (hipcc and the
 * disassembly check do), timing, LDS bank conflicts, or races the deterministic schedule hides. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#define RIBO_MMA_FN inline
#define RIBO_MFMA_FN inline
#include "backends/hip/hip_attention_mfma.cuh"
#define RIBO_EW_FN inline
#include "backends/cuda/cuda_elementwise.cuh" /* the k-only rotary pass of the ROPE 1 cases */

extern "C" {
#include "ref_ops.h"
#include "test_util.h"
}
#define RIBO_EMU_THREADS 256
#ifndef RIBO_EMU_WAVE
#define RIBO_EMU_WAVE 64
#endif
#include "gpu_emu.h"

namespace {

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

/* item e (16 bits) of a lane's operand dwords */
uint16_t item(const uint32_t *w, int e) { return (uint16_t)(w[e / 2] >> (16 * (e % 2))); }

/* ---------------------------------------------------------------- the emulated instructions */

/* One MFMA over the wave: K = 16 (four items a lane) or 8 (bf16, two items). */
template <typename T, int K>
void mfma_wave(float d[4], const uint32_t *a, const uint32_t *b, int kind) {
    constexpr int KL = K / 4; /* items per lane and operand */
    const int l = emu_lane(emu.cur);
    Warp &w = emu.warps[emu_wave(emu.cur)];
    memcpy(w.a[l], a, 4 * (KL / 2));
    memcpy(w.b[l], b, 4 * (KL / 2));
    memcpy(w.c[l], d, 16);
    warp_collective(kind, [](Warp &w) {
        if (kWave != 64) { /* the instruction's lane maps span 64 lanes */
            fail("MFMA on a wave of fewer than 64 lanes");
            return;
        }
        double A[16][16], B[16][16], C[16][16];
        int na[64][4] = {}, nb[64][4] = {}, nd[64][4] = {};
        for (int i = 0; i < 16; ++i)
            for (int k = 0; k < K; ++k) {
                const int la = i + 16 * (k / KL), lb = i + 16 * (k / KL), e = k % KL; /* A[i][k], B[k][j = i] */
                A[i][k] = to_float<T>(item(w.a[la], e));
                B[k][i] = to_float<T>(item(w.b[lb], e));
                ++na[la][e];
                ++nb[lb][e];
            }
        for (int i = 0; i < 16; ++i)
            for (int j = 0; j < 16; ++j) {
                const int ld = j + 16 * (i / 4);
                C[i][j] = w.c[ld][i % 4];
                ++nd[ld][i % 4];
            }
        for (int L = 0; L < 64; ++L)
            for (int e = 0; e < 4; ++e)
                if ((e < KL && (na[L][e] != 1 || nb[L][e] != 1)) || nd[L][e] != 1) {
                    fail("emulator: MFMA lane map not a bijection");
                    return;
                }
        for (int i = 0; i < 16; ++i)
            for (int j = 0; j < 16; ++j) {
                double acc = C[i][j];
                for (int k = 0; k < K; ++k) acc += A[i][k] * B[k][j];
                w.mo[j + 16 * (i / 4)][i % 4] = (float)acc;
            }
    });
    memcpy(d, w.mo[l], 16);
}

/* gfx90a / gfx940: every 16x16x16 form. BF16_1K false (EmuOps908): gfx908, where the bf16 _1k form
 * does not exist (using it fails the case). */
template <bool BF16_1K_>
struct MfmaEmuOps : EmuBasicOps {
    static constexpr bool BF16_1K = BF16_1K_;
    template <typename T>
    static void mfma(float d[4], const uint32_t a[2], const uint32_t b[2]) {
        if (std::is_same_v<T, __nv_bfloat16> && !BF16_1K) fail("v_mfma_f32_16x16x16bf16_1k used on gfx908");
        mfma_wave<T, 16>(d, a, b, K_MATRIX * 128 + 16);
    }
    static void mfma_bf16_k8(float d[4], uint32_t a, uint32_t b) {
        mfma_wave<__nv_bfloat16, 8>(d, &a, &b, K_MATRIX * 128 + 8);
    }
    template <typename T>
    static uint4 load16(const T *src) {
        const char *s = (const char *)src;
        if (s < emu.gmem_lo || s + 16 > emu.gmem_hi || (uintptr_t)s % 16) fail("global load outside qkv or unaligned");
        if (emu.failed) return make_uint4(0u, 0u, 0u, 0u);
        uint4 v;
        memcpy(&v, src, 16);
        return v;
    }
    static float exp2(float x) { return exp2f(x); }
    static void sincos(float r, float *s, float *c) {
        if (r < -3.2f || r > 3.2f) fail("rotary angle not reduced to [-pi, pi]");
        *s = sinf(r);
        *c = cosf(r);
    }
};
using EmuOps = MfmaEmuOps<true>;
using EmuOps908 = MfmaEmuOps<false>;

/* ---------------------------------------------------------------- driver */

template <typename T> T from_float(float v);
template <> __half from_float<__half>(float v) { return __float2half_rn(v); }
template <> __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <typename T> float back(T v);
template <> float back<__half>(__half v) { return __half2float(v); }
template <> float back<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }

uint64_t rng = 0x9e3779b97f4a7c15ull;
constexpr float kTheta = 10000.0f;

/* inv_freq as the backend computes it on the host (cuda_rope.cu) */
float rope_inv_freq(int i, int head_dim) {
    const float p = (float)pow((double)kTheta, (double)((float)(2 * i) / (float)head_dim));
    return (float)(1.0 / (double)p);
}

struct Errors {
    double row_rel, elem, cos_min;
};

/* Emulates the whole grid on random 16-bit inputs and compares with the reference. ROPE: ESM-2's
 * convention (q scaled by D^-0.5 before the rotation, attention scale 1); the reference rotates in
 * double and rounds Q and K to T as the separate pass stores them. */
template <class Ops, typename T, int D, bool ALIBI, int ROPE>
Errors run_case(const int *lens, int n_seqs, int n_heads) {
    using C = ribo_mfma_attn_cfg<T, D>;
    std::vector<int32_t> cu(n_seqs + 1, 0);
    for (int i = 0; i < n_seqs; ++i) cu[i + 1] = cu[i] + lens[i];
    const int n_tokens = cu[n_seqs], hd = n_heads * D;
    const size_t nq = (size_t)n_tokens * 3 * hd, no = (size_t)n_tokens * hd, guard = 2 * (size_t)hd;
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
    for (int i = 0; i < D / 2; ++i) inv_freq[i] = rope_inv_freq(i, D);
    std::vector<int32_t> pos(n_tokens);
    for (int s = 0; s < n_seqs; ++s)
        for (int t = cu[s]; t < cu[s + 1]; ++t) pos[t] = t - cu[s];
    if (ROPE == 1) { /* k rotated first by the separate k-only pass */
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
    /* CTAs in a shuffled order: a write into a neighbour's rows must not be hidden by it running later */
    std::vector<unsigned> order(blocks);
    for (unsigned b = 0; b < blocks; ++b) order[b] = b;
    for (unsigned b = blocks; b > 1; --b) std::swap(order[b - 1], order[(unsigned)ribo_test_randf(&rng, 0.0f, (float)b) % b]);
    for (unsigned b : order) {
        if (emu.failed) break;
        memset(smem, 0xff, C::SMEM_BYTES); /* NaN: a read of LDS nobody wrote poisons the result */
        run_cta([&](int tid) {
            ribo_mfma_attention_cta<Ops, T, D, ALIBI, ROPE>(qkv, cu.data(), n_seqs, ALIBI ? slopes : nullptr, out,
                                                            n_heads, scale * 1.4426950408889634f, b, (T *)smem, tid,
                                                            ROPE ? inv_freq : nullptr, q_scale);
        });
    }
    Errors e = {NAN, NAN, NAN};
    if (emu.failed) {
        CHECK(false, "emulated mfma attention D=%d alibi=%d rope=%d seqs=%d: %s", D, ALIBI, ROPE, n_seqs, emu.why);
    } else {
        bool guard_ok = true;
        for (size_t i = 0; i < guard; ++i) {
            uint16_t bits;
            memcpy(&bits, (const void *)(out + no + i), 2);
            guard_ok = guard_ok && bits == 0xffff;
        }
        CHECK(guard_ok, "emulated mfma attention D=%d wrote past the end of out", D);
        for (size_t i = 0; i < no; ++i) got[i] = back<T>(out[i]);
        if (ROPE) {
            ref_rotary(qkv_f.data(), pos.data(), n_tokens, n_heads, D, kTheta, q_scale);
            for (int t = 0; t < n_tokens; ++t)
                for (size_t c = 0; c < 2 * (size_t)hd; ++c) {
                    float &v = qkv_f[(size_t)t * 3 * hd + c];
                    v = back<T>(from_float<T>(v));
                }
        }
        ref_attention(qkv_f.data(), cu.data(), n_seqs, ALIBI ? slopes : nullptr, want.data(), n_heads, D, scale);
        e.row_rel = ribo_test_max_row_rel_err(got.data(), want.data(), (size_t)n_tokens, (size_t)hd);
        e.elem = 0;
        e.cos_min = 1;
        for (int t = 0; t < n_tokens; ++t)
            for (int h = 0; h < n_heads; ++h) {
                double dot = 0, ng = 0, nw = 0;
                for (int c = 0; c < D; ++c) {
                    const size_t i = (size_t)t * hd + (size_t)h * D + c;
                    const double g = got[i], r = want[i];
                    const double d = fabs(g - r);
                    e.elem = std::max(e.elem, d != d ? INFINITY : d);
                    dot += g * r;
                    ng += g * g;
                    nw += r * r;
                }
                const double cs = ng > 0 && nw > 0 ? dot / sqrt(ng * nw) : (ng == nw ? 1.0 : 0.0);
                e.cos_min = std::min(e.cos_min, cs != cs ? -1.0 : cs);
            }
    }
    free(qkv);
    free(out);
    return e;
}

template <class Ops, typename T, int D, bool ALIBI, int ROPE = 0>
void check_case(const char *name, const int *lens, int n_seqs, int n_heads) {
    const bool bf = std::is_same_v<T, __nv_bfloat16>;
    const Errors e = run_case<Ops, T, D, ALIBI, ROPE>(lens, n_seqs, n_heads);
    /* outputs are convex combinations of values in [-2, 2]: the 16-bit output rounding (2^-9 / 2^-12
     * at |o| < 2, half an ulp) plus the rounding of P (relative 2^-9 / 2^-12 per weight) and of the
     * fused rotary's Q and K (one ulp where the float angle rounds differently) */
    const double elem = bf ? 1.2e-2 : 1.5e-3, row = bf ? 1.2e-2 : 1.5e-3, cosb = bf ? 0.9999 : 0.99999;
    CHECK(e.row_rel < row && e.elem < elem && e.cos_min > cosb,
          "emulated mfma attention %s%s %s D=%d alibi=%d rope=%d heads=%d: row rel err %g (bound %g), element err "
          "%g (bound %g), min cosine %.7f (bound %g)",
          bf ? "bf16" : "fp16", Ops::BF16_1K ? "" : " (gfx908)", name, D, ALIBI, ROPE, n_heads, e.row_rel, row,
          e.elem, elem, e.cos_min, cosb);
    if (getenv("RIBO_EMU_VERBOSE"))
        fprintf(stderr, "%s%s %s D=%d alibi=%d rope=%d: row rel %.3g elem %.3g cos %.7f\n", bf ? "bf16" : "fp16",
                Ops::BF16_1K ? "" : " gfx908", name, D, ALIBI, ROPE, e.row_rel, e.elem, e.cos_min);
}

/* lengths around the 16-row (wave) and 64-row (tile) boundaries, packed */
const int kEdge[] = {1, 15, 16, 17, 63, 64, 65, 129, 2};
constexpr int kEdgeN = (int)(sizeof kEdge / sizeof kEdge[0]);

template <typename T, int D>
void check_dim() {
    const int heads = D >= 64 ? 1 : 2;
    check_case<EmuOps, T, D, false>("edge lengths", kEdge, kEdgeN, heads);
    check_case<EmuOps, T, D, true>("edge lengths", kEdge, kEdgeN, heads);
    if constexpr (std::is_same_v<T, __nv_bfloat16>) check_case<EmuOps908, T, D, false>("edge lengths", kEdge, kEdgeN, heads);
}

} // namespace

int main(void) {
    check_dim<__half, 16>();
    check_dim<__half, 24>();
    check_dim<__half, 32>();
    check_dim<__half, 64>();
    check_dim<__half, 128>();
    check_dim<__nv_bfloat16, 16>();
    check_dim<__nv_bfloat16, 24>();
    check_dim<__nv_bfloat16, 32>();
    check_dim<__nv_bfloat16, 64>();
    check_dim<__nv_bfloat16, 128>();
    /* fused rotary: Q and K inside (2), Q only after the k-only pass (1) */
    check_case<EmuOps, __half, 16, false, 2>("edge lengths", kEdge, kEdgeN, 2);
    check_case<EmuOps, __nv_bfloat16, 24, false, 2>("edge lengths", kEdge, kEdgeN, 2);
    check_case<EmuOps, __half, 64, false, 1>("edge lengths", kEdge, kEdgeN, 1);
    check_case<EmuOps908, __nv_bfloat16, 128, false, 2>("edge lengths", kEdge, kEdgeN, 1);
    check_case<EmuOps, __half, 32, false, 2>("edge lengths", kEdge, kEdgeN, 2);
    check_case<EmuOps, __half, 128, false, 2>("edge lengths", kEdge, kEdgeN, 1);
    check_case<EmuOps, __nv_bfloat16, 16, false, 2>("edge lengths", kEdge, kEdgeN, 2);
    check_case<EmuOps, __nv_bfloat16, 64, false, 2>("edge lengths", kEdge, kEdgeN, 1);
    check_case<EmuOps, __nv_bfloat16, 24, false, 1>("edge lengths", kEdge, kEdgeN, 2);
    check_case<EmuOps, __half, 128, false, 1>("edge lengths", kEdge, kEdgeN, 1);
    /* many short sequences (slot search, spare slots) with empty ones */
    std::vector<int> many(60);
    for (int i = 0; i < 60; ++i) many[i] = (int)ribo_test_randf(&rng, 0.0f, 40.0f);
    many[0] = 0;
    many[59] = 0;
    check_case<EmuOps, __nv_bfloat16, 32, true>("60 short", many.data(), 60, 2);
    check_case<EmuOps, __half, 24, false>("60 short", many.data(), 60, 1);
    /* one long sequence: 16 key tiles, the register prefetch across them */
    const int longish[] = {1000, 5};
    check_case<EmuOps, __half, 64, false>("1000", longish, 2, 1);
    check_case<EmuOps, __nv_bfloat16, 128, true>("1000", longish, 2, 1);
    check_case<EmuOps908, __nv_bfloat16, 32, false, 1>("1000", longish, 2, 1);
    check_case<EmuOps, __half, 16, true>("1000", longish, 2, 1);
    check_case<EmuOps908, __nv_bfloat16, 24, true>("1000", longish, 2, 2);
    check_case<EmuOps, __half, 32, false, 2>("1000", longish, 2, 1);
    return ribo_test_finish("test_attention_mfma_emu");
}
