/* CPU emulation of a 128-thread CUDA thread block for kernel bodies written against an Ops type (the
 * .cuh headers in backends/cuda/): every thread is a fiber (ucontext), the fibers run in lock-step at
 * every collective operation, and each collective checks that all lanes of the warp (all 128 threads
 * for a barrier) reach the same operation. EmuBasicOps has the collectives every body uses (barriers,
 * shuffles); tests add the instructions their kernel needs. One header per test translation unit
 * (its state lives in an anonymous namespace). */
#ifndef RIBO_TEST_GPU_EMU_H
#define RIBO_TEST_GPU_EMU_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>

#include <functional>
#include <vector>

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

/* The collectives shared by every emulated body. */
struct EmuBasicOps {
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
};

} // namespace

#endif
