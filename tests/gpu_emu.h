/* CPU emulation of a GPU thread block for kernel bodies written against an Ops type (the .cuh headers
 * in backends/cuda/ and backends/hip/): every thread is a fiber (ucontext), the fibers run in lock-step
 * at every collective operation, and each collective checks that all lanes of the physical wave (all
 * threads for a barrier) reach the same operation. EmuBasicOps has the collectives every body uses
 * (barriers, shuffles); tests add the instructions their kernel needs. One header per test
 * translation unit (its state lives in an anonymous namespace).
 *
 * The block and wave sizes are set before the include:
 *   RIBO_EMU_THREADS  threads per block (default 128)
 *   RIBO_EMU_WAVE     lanes per physical wave (default 32: an NVIDIA warp, an RDNA wave32; 64: a
 *                     CDNA / GCN wave64).
 * What a collective waits for, as the hardware does it: a shuffle exchanges over the whole wave (HIP's
 * __shfl_xor, default width), so lane l reads lane l ^ mask; with a mask below 32 only the lane's
 * 32-lane half takes part (the two halves of a wave64 may be on different paths: the other half is
 * masked off, as the EXEC mask does), with a larger mask the whole wave must be there. sync_warp is
 * per 32-lane logical warp (HIP: a wave barrier, which a masked-off half passes). Wave-wide
 * instructions (wave_collective: MMA, MFMA, permutes) need every lane of the wave: a lane that has
 * returned or is elsewhere is a deadlock the emulator reports. */
#ifndef RIBO_TEST_GPU_EMU_H
#define RIBO_TEST_GPU_EMU_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>

#include <functional>
#include <vector>

namespace {

#ifndef RIBO_EMU_THREADS
#define RIBO_EMU_THREADS 128
#endif
#ifndef RIBO_EMU_WAVE
#define RIBO_EMU_WAVE 32
#endif
constexpr int kThreads = RIBO_EMU_THREADS, kWave = RIBO_EMU_WAVE, kWarps = kThreads / kWave, kHalf = 32;
static_assert(kWave == 32 || kWave == 64, "a wave has 32 or 64 lanes");
static_assert(kThreads % kWave == 0, "a block is whole waves");

/* lane and wave of the running fiber */
inline int emu_lane(int tid) { return tid % kWave; }
inline int emu_wave(int tid) { return tid / kWave; }

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

enum Kind { K_NONE, K_LDM, K_LDMT, K_MMA, K_SHFL, K_SYNCWARP, K_SYNCCTA, K_MATRIX, K_PERMUTE };

struct Warp {
    int arrived;
    unsigned gen;
    int kind[kWave];
    const void *addr[kWave];
    uint32_t a[kWave][4], b[kWave][2], r[kWave][4];
    float c[kWave][4], f[kWave], fo[kWave];
    float mf[kWave][16], mo[kWave][16]; /* matrix-instruction operands / results (tests' own layouts) */
};

struct Emu {
    Lane lanes[kThreads];
    ucontext_t sched;
    int cur;
    long progress;
    Warp warps[kWarps];          /* per physical wave (wave_collective / warp_collective) */
    Warp halves[kThreads / kHalf]; /* per 32-lane logical warp (group_collective with 32 lanes) */
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
    memset(emu.halves, 0, sizeof emu.halves);
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

/* Group-wide operation over `width` lanes (32: the lane's logical warp; kWave: its whole wave):
 * every lane posts its inputs, the last to arrive performs it for all. */
template <class F>
void group_collective(int width, int kind, F &&perform) {
    const int tid = emu.cur, l = tid % width;
    Warp &w = width == kWave ? emu.warps[tid / kWave] : emu.halves[tid / kHalf];
    w.kind[l] = kind;
    ++emu.progress;
    const unsigned gen = w.gen;
    if (++w.arrived == width) {
        for (int i = 0; i < width; ++i)
            if (w.kind[i] != kind) fail("lanes of a warp reached different collective operations");
        if (!emu.failed) perform(w);
        w.arrived = 0;
        ++w.gen;
    } else {
        while (w.gen == gen && !emu.failed) yield();
    }
    while (emu.failed) yield(); /* abandoned: the scheduler stops */
}

/* Wave-wide operation (every lane of the physical wave). */
template <class F>
void warp_collective(int kind, F &&perform) {
    group_collective(kWave, kind, static_cast<F &&>(perform));
}

/* The collectives shared by every emulated body. */
struct EmuBasicOps {
    static void sync_warp() {
        group_collective(kHalf, K_SYNCWARP, [](Warp &) {});
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
    static float shfl_xor(float v, int mask) {
        if (mask < 0 || mask >= kWave) fail("shuffle lane mask outside the wave");
        const int width = mask < kHalf ? kHalf : kWave, l = emu.cur % width;
        Warp &w = width == kWave ? emu.warps[emu.cur / kWave] : emu.halves[emu.cur / kHalf];
        w.f[l] = v;
        /* outputs go to fo: the last lane to arrive runs on and may post its next input before the
         * others have read theirs */
        group_collective(width, K_SHFL * 128 + mask, [mask, width](Warp &w) {
            for (int lane = 0; lane < width; ++lane) w.fo[lane] = w.f[lane ^ mask];
        });
        return w.fo[l];
    }
};

} // namespace

#endif
