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
 * RIBO_EMU_EXTENDED=1 adds a 4096-token sequence and random batches (minutes); RIBO_EMU_VERBOSE=1 prints
 * every case's error.
 *
 * What this cannot check: the PTX strings themselves (ptxas does, at build time), timing, bank
 * conflicts, register pressure, or races the deterministic schedule does not expose. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include <algorithm>
#include <functional>
#include <type_traits>
#include <vector>

#define RIBO_MMA_FN inline
#include "backends/cuda/cuda_attention_mma.cuh"

extern "C" {
#include "ref_ops.h"
#include "test_util.h"
}

namespace {

constexpr int kThreads = 128, kWarps = 4;

/* ---------------------------------------------------------------- fibers */

struct Pending {
    void *dst;
    const void *src;
    bool valid;
};

struct Lane {
    ucontext_t ctx;
    std::vector<char> stack;
    bool done;
    std::vector<Pending> pending;
};

enum Kind { K_NONE, K_LDM, K_LDMT, K_MMA, K_SHFL, K_SYNCWARP, K_SYNCCTA };

struct Warp {
    int arrived;
    unsigned gen;
    int kind[32];
    const void *addr[32];
    uint32_t a[32][4], b[32][2], r[32][4];
    float c[32][4], f[32], fo[32];
};

struct Emu {
    Lane lanes[kThreads];
    ucontext_t sched;
    int cur;
    long progress;
    Warp warps[kWarps];
    int cta_arrived;
    unsigned cta_gen;
    const char *smem_lo, *smem_hi, *gmem_lo, *gmem_hi;
    bool failed;
    char why[256];
    std::function<void(int)> body;
};
Emu emu;

void fail(const char *msg) {
    if (!emu.failed) snprintf(emu.why, sizeof emu.why, "%s", msg);
    emu.failed = true;
}

void yield() { swapcontext(&emu.lanes[emu.cur].ctx, &emu.sched); }

void lane_entry() {
    const int tid = emu.cur;
    emu.body(tid);
    emu.lanes[tid].done = true;
    ++emu.progress;
}

/* Runs one CTA: every thread a fiber, round robin until all have returned. */
bool run_cta(std::function<void(int)> body) {
    emu.body = std::move(body);
    memset(emu.warps, 0, sizeof emu.warps);
    emu.cta_arrived = 0;
    for (int t = 0; t < kThreads; ++t) {
        Lane &l = emu.lanes[t];
        l.stack.resize(1 << 18);
        l.done = false;
        l.pending.clear();
        getcontext(&l.ctx);
        l.ctx.uc_stack.ss_sp = l.stack.data();
        l.ctx.uc_stack.ss_size = l.stack.size();
        l.ctx.uc_link = &emu.sched;
        makecontext(&l.ctx, lane_entry, 0);
    }
    for (;;) {
        bool any = false;
        const long before = emu.progress;
        for (int t = 0; t < kThreads && !emu.failed; ++t)
            if (!emu.lanes[t].done) {
                any = true;
                emu.cur = t;
                swapcontext(&emu.sched, &emu.lanes[t].ctx);
            }
        if (emu.failed) return false;
        if (!any) break;
        if (emu.progress == before) {
            fail("deadlock: threads wait at a collective that others never reach");
            return false;
        }
    }
    for (int t = 0; t < kThreads; ++t)
        if (!emu.lanes[t].pending.empty()) {
            fail("thread exits with cp.async copies never waited for");
            return false;
        }
    return true;
}

/* Warp-wide operation: every lane posts its inputs, the last to arrive performs it for all. */
template <class F>
void warp_collective(int kind, F &&perform) {
    const int tid = emu.cur, l = tid & 31;
    Warp &w = emu.warps[tid >> 5];
    w.kind[l] = kind;
    ++emu.progress;
    const unsigned gen = w.gen;
    if (++w.arrived == 32) {
        for (int i = 0; i < 32; ++i)
            if (w.kind[i] != kind) fail("lanes of a warp reached different collective operations");
        if (!emu.failed) perform(w);
        w.arrived = 0;
        ++w.gen;
    } else {
        while (w.gen == gen && !emu.failed) yield();
    }
    while (emu.failed) yield(); /* abandoned: the scheduler stops */
}

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

struct EmuOps {
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
    static void sync_warp() {
        warp_collective(K_SYNCWARP, [](Warp &) {});
    }
    static void sync_cta() {
        ++emu.progress;
        const unsigned gen = emu.cta_gen;
        if (++emu.cta_arrived == kThreads) {
            emu.cta_arrived = 0;
            ++emu.cta_gen;
        } else {
            while (emu.cta_gen == gen && !emu.failed) yield();
        }
        while (emu.failed) yield();
    }
    static void ldmatrix(uint32_t r[4], const void *p, bool trans) {
        const int l = emu.cur & 31;
        Warp &w = emu.warps[emu.cur >> 5];
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
        const int l = emu.cur & 31;
        Warp &w = emu.warps[emu.cur >> 5];
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
    static float shfl_xor(float v, int mask) {
        const int l = emu.cur & 31;
        Warp &w = emu.warps[emu.cur >> 5];
        w.f[l] = v;
        /* outputs go to fo: the last lane to arrive runs on and may post its next input before the
         * others have read theirs */
        warp_collective(K_SHFL * 64 + mask, [mask](Warp &w) {
            for (int lane = 0; lane < 32; ++lane) w.fo[lane] = w.f[lane ^ mask];
        });
        return w.fo[l];
    }
    static float exp2(float x) { return exp2f(x); }
};

/* ---------------------------------------------------------------- driver */

template <typename T> T from_float(float v);
template <> __half from_float<__half>(float v) { return __float2half_rn(v); }
template <> __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <typename T> float back(T v);
template <> float back<__half>(__half v) { return __half2float(v); }
template <> float back<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }

uint64_t rng = 0x2545f4914f6cdd1dull;

/* Emulates the whole grid on random 16-bit inputs and compares with the reference; returns the worst
 * per-row relative error (NaN when an element was not written). */
template <typename T, int D, bool ALIBI>
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
    const float scale = 1.0f / sqrtf((float)D);

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
            ribo_mma_attention_cta<EmuOps, T, D, ALIBI>(qkv, cu.data(), n_seqs, ALIBI ? slopes : nullptr, out, n_heads,
                                                         scale * 1.4426950408889634f, b, (T *)smem, tid);
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
        ref_attention(qkv_f.data(), cu.data(), n_seqs, ALIBI ? slopes : nullptr, want.data(), n_heads, D, scale);
        e = ribo_test_max_row_rel_err(got.data(), want.data(), (size_t)n_tokens, (size_t)hd);
    }
    free(qkv);
    free(out);
    return e;
}

template <typename T, int D, bool ALIBI>
void check_case(const char *name, const int *lens, int n_seqs, int n_heads) {
    const bool bf = std::is_same_v<T, __nv_bfloat16>;
    const double e = run_case<T, D, ALIBI>(lens, n_seqs, n_heads);
    /* 16-bit P and output rounding against a double reference on the same rounded inputs */
    const double bound = bf ? 1.2e-2 : 1.5e-3;
    CHECK(e < bound, "emulated mma attention %s %s D=%d alibi=%d heads=%d: rel err %g (bound %g)", bf ? "bf16" : "fp16",
          name, D, ALIBI, n_heads, e, bound);
    if (getenv("RIBO_EMU_VERBOSE"))
        fprintf(stderr, "%s %s D=%d alibi=%d: rel err %.3g\n", bf ? "bf16" : "fp16", name, D, ALIBI, e);
}

template <typename T, int D>
void check_dim(const int *lens, int n_seqs) {
    const int heads = D >= 64 ? 2 : 3;
    check_case<T, D, false>("edge lengths", lens, n_seqs, heads);
    check_case<T, D, true>("edge lengths", lens, n_seqs, heads);
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
    if (getenv("RIBO_EMU_EXTENDED")) { /* opt-in (minutes): 64 key tiles, random batches */
        const int long4096[] = {4096, 7};
        check_case<__half, 16, true>("4096", long4096, 2, 1);
        check_case<__nv_bfloat16, 64, false>("4096", long4096, 2, 1);
        std::vector<int> mixed(40);
        for (int i = 0; i < 40; ++i) mixed[i] = 1 + (int)ribo_test_randf(&rng, 0.0f, 300.0f);
        check_case<__half, 128, true>("40 mixed", mixed.data(), 40, 1);
        check_case<__nv_bfloat16, 24, true>("40 mixed", mixed.data(), 40, 2);
        check_case<__nv_bfloat16, 32, false>("40 mixed", mixed.data(), 40, 2);
    }
    return ribo_test_finish("test_attention_mma_emu");
}
