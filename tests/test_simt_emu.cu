/* CPU emulation of the CUDA backend's SIMT kernels that have CTA-level collectives, no GPU needed
 * (tests/gpu_emu.h; built twice, with 32-lane waves and with RIBO_EMU_WAVE=64 as on CDNA):
 *   - the tiled packed-varlen attention (ribo_attn_simt_cta, cuda_attention_simt.cuh): every head size
 *     of the tiled path (16, 24, 32, 64, 128 with the launcher's key tiles), packed batches whose
 *     sequence lengths cover 1..1000 (1, 2, 31, 32, 33, 63, 64, 65, 200, 1000: every query-tile and
 *     key-tile edge), with and without ALiBi, fp32 / fp16 / bf16; every CTA a 128-fiber block;
 *   - the per-(token, head) fallback (ribo_attn_generic_thread) for every head size 1..128, same
 *     batches (per-thread body: every thread of the grid, in shuffled order);
 *   - the one-block-per-row LayerNorm (ribo_ln_block_row, cuda_norm_block.cuh) for widths 1..5120 and
 *     the block sizes 64, 128, 256 the launcher uses;
 *   - the per-thread bodies without collectives (cuda_pointwise.cuh: embed, GLU, convert, per-residue
 *     pool copy), as emulated CTAs too, against ref_embed / ref_glu / ref_pool and the T rounding.
 * Outputs are NaN-poisoned (rows not computed must stay so); results are compared with the double
 * references of tests/ref_ops.c on the same T-rounded inputs. For the 1000-token sequence only some
 * query tiles run (each still walks every key tile), to keep the emulation within minutes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#define RIBO_EW_FN inline
#include "backends/cuda/cuda_attention_simt.cuh"
#include "backends/cuda/cuda_norm_block.cuh"
#include "backends/cuda/cuda_pointwise.cuh"

extern "C" {
#include "ref_ops.h"
#include "test_util.h"
}
/* the largest CTA emulated: the block LayerNorm's 256 threads; smaller CTAs run on the first threads */
#define RIBO_EMU_THREADS 256
#include "gpu_emu.h"

namespace {

uint64_t rng = 0x2545f4914f6cdd1dull;

template <typename T> const char *type_name() {
    return std::is_same_v<T, float> ? "fp32" : std::is_same_v<T, __half> ? "fp16" : "bf16";
}

/* A CTA of the first N emulated threads (the others return at once): the barrier waits for N. */
template <unsigned N>
struct CtaOps : EmuBasicOps {
    static_assert(N % 64 == 0 && N <= (unsigned)kThreads, "whole waves of the emulated block");
    static void sync_cta() {
        ++emu.progress;
        const unsigned gen = emu.cta_gen;
        if (++emu.cta_arrived == (int)N) {
            emu.cta_arrived = 0;
            ++emu.cta_gen;
        } else {
            while (emu.cta_gen == gen && !emu.failed) yield();
        }
        while (emu.failed) yield();
    }
    static unsigned block_threads() { return N; }
};

/* Runs the body on the first N threads of one emulated CTA. */
template <unsigned N, class F>
bool run_cta_of(F &&body) {
    return run_cta([&](int tid) {
        if (tid < (int)N) body((unsigned)tid);
    });
}

template <typename T>
T *alloc_poisoned(size_t n) {
    T *p = (T *)malloc((n ? n : 1) * sizeof(T));
    memset((void *)p, 0xff, (n ? n : 1) * sizeof(T));
    return p;
}

bool is_poison(const void *p, size_t bytes) {
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < bytes; ++i)
        if (b[i] != 0xff) return false;
    return true;
}

template <typename T> double out_tolerance() {
    /* outputs are convex combinations of v in [-1, 1]: fp32 roundings of the sums, else half an ulp */
    return std::is_same_v<T, float> ? 2e-5 : std::is_same_v<T, __half> ? 1e-3 : 4.5e-3;
}

double seconds() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---------------------------------------------------------------- attention */

/* One packed batch: qkv [T, 3*H*D] of T-rounded values, the float copy for the reference, slopes. */
template <typename T>
struct AttnBatch {
    std::vector<int> cu;
    int n_tokens = 0, n_heads = 0, head_dim = 0;
    T *qkv = nullptr;
    std::vector<float> qkvf, slopes, want;
    std::vector<int> seq_of_token;
    AttnBatch(const std::vector<int> &lens, int heads, int d, bool alibi) : n_heads(heads), head_dim(d) {
        cu.assign(lens.size() + 1, 0);
        for (size_t s = 0; s < lens.size(); ++s) cu[s + 1] = cu[s] + lens[s];
        n_tokens = cu.back();
        for (size_t s = 0; s < lens.size(); ++s)
            for (int j = 0; j < lens[s]; ++j) seq_of_token.push_back((int)s);
        const size_t n = (size_t)n_tokens * 3 * heads * d;
        /* poisoned (NaN) rows past the batch: a key read past the last sequence shows */
        qkv = alloc_poisoned<T>(n + (size_t)64 * 3 * heads * d);
        qkvf.resize(n);
        for (size_t i = 0; i < n; ++i) {
            const bool is_q = i % (3 * (size_t)heads * d) < (size_t)heads * d;
            qkv[i] = ribo_ew_from_f<T>(ribo_test_randf(&rng, is_q ? -2.5f : -1.0f, is_q ? 2.5f : 1.0f));
            qkvf[i] = ribo_ew_to_f(qkv[i]);
        }
        /* ALiBi: a steep head (keys a few positions away vanish) and a shallow one (reaches across
         * hundreds of keys) */
        if (alibi)
            for (int h = 0; h < heads; ++h) slopes.push_back(h % 2 ? 1.0f / 64.0f : 0.5f);
        want.resize((size_t)n_tokens * heads * d);
        ref_attention(qkvf.data(), cu.data(), (int)lens.size(), alibi ? slopes.data() : nullptr, want.data(), heads, d,
                      scale());
    }
    ~AttnBatch() { free(qkv); }
    AttnBatch(const AttnBatch &) = delete;
    AttnBatch &operator=(const AttnBatch &) = delete;
    float scale() const { return 1.0f / sqrtf((float)head_dim); }
    const float *alibi() const { return slopes.empty() ? nullptr : slopes.data(); }
    int n_seqs() const { return (int)cu.size() - 1; }
};

/* Worst |out - want| over the rows marked in `checked` (token-major); rows not marked must still be
 * poison; NaN for an unwritten checked element. */
template <typename T>
double attn_error(const AttnBatch<T> &b, const T *out, const std::vector<bool> &checked, bool *stray) {
    const size_t hd = (size_t)b.n_heads * b.head_dim;
    double worst = 0;
    *stray = false;
    for (int t = 0; t < b.n_tokens; ++t) {
        if (!checked[t]) {
            *stray |= !is_poison(out + t * hd, hd * sizeof(T));
            continue;
        }
        for (size_t e = 0; e < hd; ++e) {
            const double got = ribo_ew_to_f(out[t * hd + e]), err = fabs(got - (double)b.want[t * hd + e]);
            worst = err == err ? std::max(worst, err) : INFINITY;
        }
    }
    return worst;
}

/* The tiled kernel's grid over batch b: CTA (query tile, sequence, head) on 128 fibers, tiles in
 * shuffled order; for a sequence of more than 8 query tiles only the first two, the middle and the
 * last tile run (and one past the end, which must return at once). */
template <typename T, int D, int BK>
void check_attn_tiled(const std::vector<int> &lens, int heads, bool alibi) {
    AttnBatch<T> b(lens, heads, D, alibi);
    T *out = alloc_poisoned<T>((size_t)b.n_tokens * heads * D);
    std::vector<bool> checked(b.n_tokens, false);
    struct Cta {
        int tile, s, h;
    };
    std::vector<Cta> ctas;
    for (int s = 0; s < b.n_seqs(); ++s) {
        const int len = b.cu[s + 1] - b.cu[s], tiles = (len + RIBO_ATTN_SIMT_QT - 1) / RIBO_ATTN_SIMT_QT;
        std::vector<int> run;
        if (tiles > 8) run = {0, 1, tiles / 2, tiles - 1};
        else
            for (int i = 0; i < tiles; ++i) run.push_back(i);
        run.push_back(tiles); /* past the sequence: returns before any collective */
        for (int tile : run) {
            for (int h = 0; h < heads; ++h) ctas.push_back({tile, s, h});
            for (int q = tile * RIBO_ATTN_SIMT_QT; q < std::min(len, (tile + 1) * RIBO_ATTN_SIMT_QT); ++q)
                checked[b.cu[s] + q] = true;
        }
    }
    for (size_t i = ctas.size(); i > 1; --i) std::swap(ctas[i - 1], ctas[(size_t)ribo_test_randf(&rng, 0.0f, (float)i) % i]);
    emu.failed = false;
    static float ks[BK][D], vs[BK][D];
    for (const Cta &c : ctas) {
        if (emu.failed) break;
        for (int k = 0; k < BK; ++k)
            for (int d = 0; d < D; ++d) ks[k][d] = vs[k][d] = NAN; /* shared memory starts undefined */
        run_cta_of<RIBO_ATTN_SIMT_THREADS>([&](unsigned tid) {
            ribo_attn_simt_cta<CtaOps<RIBO_ATTN_SIMT_THREADS>, T, D, BK>(b.qkv, b.cu.data(), b.alibi(), out, heads, b.scale(),
                                                                     c.tile, c.s, c.h, tid, RIBO_ATTN_SIMT_THREADS, ks, vs);
        });
    }
    bool stray = false;
    const double e = emu.failed ? NAN : attn_error(b, out, checked, &stray);
    CHECK(!emu.failed && !stray && e <= out_tolerance<T>(),
          "emulated simt attention %s D=%d BK=%d heads=%d alibi=%d (%d seqs, %d tokens): worst abs err %g (tol %g)%s %s",
          type_name<T>(), D, BK, heads, alibi, b.n_seqs(), b.n_tokens, e, out_tolerance<T>(),
          stray ? ", wrote rows it does not own" : "", emu.failed ? emu.why : "");
    free(out);
}

/* The fallback over batch b: every thread of a 128-thread grid, in shuffled order (a few past the end). */
template <typename T>
void check_attn_generic(const std::vector<int> &lens, int heads, int d, bool alibi) {
    AttnBatch<T> b(lens, heads, d, alibi);
    T *out = alloc_poisoned<T>((size_t)b.n_tokens * heads * d);
    const int n = b.n_tokens * heads, threads = (n + 127) / 128 * 128;
    std::vector<int> order(threads);
    for (int i = 0; i < threads; ++i) order[i] = i;
    for (int i = threads; i > 1; --i) std::swap(order[i - 1], order[(int)ribo_test_randf(&rng, 0.0f, (float)i) % i]);
    for (int idx : order)
        ribo_attn_generic_thread<T>(b.qkv, b.cu.data(), b.seq_of_token.data(), b.alibi(), out, b.n_tokens, heads, d,
                                    b.scale(), idx);
    std::vector<bool> checked(b.n_tokens, true);
    bool stray = false;
    const double e = attn_error(b, out, checked, &stray);
    CHECK(e <= out_tolerance<T>(), "generic attention %s D=%d heads=%d alibi=%d (%d tokens): worst abs err %g (tol %g)",
          type_name<T>(), d, heads, alibi, b.n_tokens, e, out_tolerance<T>());
    free(out);
}

/* Lengths 1..1000 as packed batches: the short and tile-edge lengths together, the long one with a
 * neighbour on each side (a key of the wrong sequence would show in both). */
const std::vector<int> kShort = {1, 2, 31, 32, 33, 63, 64, 65, 200, 3};
const std::vector<int> kLong = {5, 1000, 2};

template <typename T>
void check_attn_type() {
    const double t0 = seconds();
    for (bool alibi : {false, true}) {
        check_attn_tiled<T, 16, 64>(kShort, 2, alibi);
        check_attn_tiled<T, 24, 64>(kShort, 1, alibi);
        check_attn_tiled<T, 32, 64>(kShort, 1, alibi);
        check_attn_tiled<T, 64, 64>(kShort, 2, alibi);
        check_attn_tiled<T, 128, 32>(kShort, 1, alibi);
    }
    /* the long sequence: one head size per key tile (64 and 32), both ALiBi settings, two heads */
    if constexpr (std::is_same_v<T, float>) {
        check_attn_tiled<T, 64, 64>(kLong, 2, true);
        check_attn_tiled<T, 128, 32>(kLong, 1, false);
    } else if constexpr (std::is_same_v<T, __half>) {
        check_attn_tiled<T, 32, 64>(kLong, 2, false);
    } else {
        check_attn_tiled<T, 16, 64>(kLong, 2, true);
    }
    const double t1 = seconds();
    for (int d = 1; d <= 128; ++d)
        for (bool alibi : {false, true}) check_attn_generic<T>(kShort, d % 3 == 0 ? 2 : 1, d, alibi);
    for (int d : {1, 8, 20, 33, 80, 127, 128})
        check_attn_generic<T>(kLong, 2, d, d % 2 == 0);
    if (getenv("RIBO_EMU_VERBOSE"))
        fprintf(stderr, "attention %s: tiled %.1f s, generic %.1f s\n", type_name<T>(), t1 - t0, seconds() - t1);
}

/* ---------------------------------------------------------------- block LayerNorm */

/* rows x width through the one-block-per-row body with N threads (rows in shuffled order); worst
 * per-row relative error against ref_layer_norm. */
template <typename T, unsigned N>
void check_ln_block(int rows, int width) {
    const size_t n = (size_t)rows * width;
    T *x = alloc_poisoned<T>(n), *g = alloc_poisoned<T>(width), *bb = alloc_poisoned<T>(width), *out = alloc_poisoned<T>(n + 8);
    std::vector<float> xf(n), gf(width), bf(width), want(n), got(n);
    for (size_t i = 0; i < n; ++i) {
        x[i] = ribo_ew_from_f<T>(ribo_test_randf(&rng, -3.0f, 5.0f) + (i / width % 2 ? 30.0f : 0.0f));
        xf[i] = ribo_ew_to_f(x[i]);
    }
    for (int c = 0; c < width; ++c) {
        g[c] = ribo_ew_from_f<T>(ribo_test_randf(&rng, 0.5f, 1.5f));
        bb[c] = ribo_ew_from_f<T>(ribo_test_randf(&rng, -0.5f, 0.5f));
        gf[c] = ribo_ew_to_f(g[c]);
        bf[c] = ribo_ew_to_f(bb[c]);
    }
    ref_layer_norm(xf.data(), gf.data(), bf.data(), want.data(), rows, width, 1e-5f);
    std::vector<int> order(rows);
    for (int i = 0; i < rows; ++i) order[i] = i;
    for (int i = rows; i > 1; --i) std::swap(order[i - 1], order[(int)ribo_test_randf(&rng, 0.0f, (float)i) % i]);
    emu.failed = false;
    for (int r : order) {
        if (emu.failed) break;
        float scratch[RIBO_LN_BLOCK_MAX_WARPS];
        for (float &v : scratch) v = NAN;
        run_cta_of<N>([&](unsigned tid) {
            ribo_ln_block_row<CtaOps<N>, T>(x, g, bb, out, width, 1e-5f, (unsigned)r, tid, scratch);
        });
    }
    double e = NAN;
    const bool guard = is_poison(out + n, 8 * sizeof(T));
    if (!emu.failed) {
        for (size_t i = 0; i < n; ++i) got[i] = ribo_ew_to_f(out[i]);
        e = ribo_test_max_row_rel_err(got.data(), want.data(), (size_t)rows, (size_t)width);
    }
    /* width 1: the output is beta exactly (x - mean = 0) */
    const double bound = std::is_same_v<T, float> ? 2e-5 : std::is_same_v<T, __half> ? 8e-4 : 3e-3;
    CHECK(!emu.failed && guard && e < bound, "emulated block layer_norm %s %u threads rows=%d width=%d: rel err %g (bound %g)%s %s",
          type_name<T>(), N, rows, width, e, bound, guard ? "" : ", wrote past the end", emu.failed ? emu.why : "");
    free(x);
    free(g);
    free(bb);
    free(out);
}

template <typename T>
void check_ln_block_type() {
    /* 1..5120: below, at and past each block size and warp multiple; ESM-2 / DNABERT widths */
    const int widths[] = {1, 7, 31, 32, 33, 64, 65, 100, 255, 256, 320, 768, 1000, 1024, 1280, 2560, 5120};
    int i = 0;
    for (int w : widths) {
        const int rows = 1 + i++ % 3;
        check_ln_block<T, 64>(rows, w);
        check_ln_block<T, 128>(rows, w);
        check_ln_block<T, 256>(rows, w);
    }
}

/* ---------------------------------------------------------------- per-thread bodies */

/* Worst |got - want| / (|want| + 1) with NaN as infinity. */
double worst_rel(const float *got, const float *want, size_t n) {
    double w = 0;
    for (size_t i = 0; i < n; ++i) {
        const double e = fabs((double)got[i] - want[i]) / (fabs((double)want[i]) + 1.0);
        w = e == e ? std::max(w, e) : INFINITY;
    }
    return w;
}

template <typename T> double round_tol() { return std::is_same_v<T, float> ? 1e-6 : std::is_same_v<T, __half> ? 1e-3 : 8e-3; }

/* embed: one N-thread CTA per token (tokens in shuffled order), some masked, with and without add_row. */
template <typename T, unsigned N>
void check_embed(int n_tokens, int width, bool add) {
    const int vocab = 11, mask_id = 4;
    std::vector<int> tokens(n_tokens), sot(n_tokens);
    std::vector<float> scale = {1.0f, 0.75f, 1.25f}, tablef((size_t)vocab * width), addf(width), want((size_t)n_tokens * width),
                       got((size_t)n_tokens * width);
    for (int t = 0; t < n_tokens; ++t) {
        tokens[t] = (int)ribo_test_randf(&rng, 0.0f, (float)vocab) % vocab;
        sot[t] = t * 3 / n_tokens;
    }
    T *table = alloc_poisoned<T>(tablef.size()), *add_row = alloc_poisoned<T>(width), *out = alloc_poisoned<T>(want.size());
    for (size_t i = 0; i < tablef.size(); ++i) tablef[i] = ribo_ew_to_f(table[i] = ribo_ew_from_f<T>(ribo_test_randf(&rng, -2.0f, 2.0f)));
    for (int c = 0; c < width; ++c) addf[c] = ribo_ew_to_f(add_row[c] = ribo_ew_from_f<T>(ribo_test_randf(&rng, -1.0f, 1.0f)));
    ref_embed(tokens.data(), sot.data(), scale.data(), tablef.data(), add ? addf.data() : nullptr, want.data(), n_tokens,
              width, mask_id);
    emu.failed = false;
    for (int t = n_tokens - 1; t >= 0 && !emu.failed; --t)
        run_cta_of<N>([&](unsigned tid) {
            ribo_embed_row<T>(tokens.data(), sot.data(), scale.data(), table, add ? add_row : nullptr, out, width, mask_id, t,
                              tid, N);
        });
    for (size_t i = 0; i < got.size(); ++i) got[i] = ribo_ew_to_f(out[i]);
    const double e = worst_rel(got.data(), want.data(), got.size());
    CHECK(!emu.failed && e <= round_tol<T>(), "emulated embed %s %u threads width=%d add=%d: worst err %g", type_name<T>(), N,
          width, add, e);
    free(table);
    free(add_row);
    free(out);
}

/* GLU and convert: a grid of `blocks` 256-thread CTAs striding over the elements. */
template <typename T>
void check_glu_convert(int rows, int width, int gelu, unsigned blocks) {
    const size_t n = (size_t)rows * width;
    T *x = alloc_poisoned<T>(2 * n), *out = alloc_poisoned<T>(n + 4), *dst = alloc_poisoned<T>(n + 4);
    std::vector<float> xf(2 * n), want(n), got(n), src(n);
    for (size_t i = 0; i < 2 * n; ++i) xf[i] = ribo_ew_to_f(x[i] = ribo_ew_from_f<T>(ribo_test_randf(&rng, -3.0f, 3.0f)));
    for (size_t i = 0; i < n; ++i) src[i] = ribo_test_randf(&rng, -100.0f, 100.0f);
    ref_glu(xf.data(), want.data(), rows, width, gelu);
    emu.failed = false;
    for (unsigned b = 0; b < blocks && !emu.failed; ++b)
        run_cta_of<256>([&](unsigned tid) {
            ribo_glu_thread<T>(x, out, rows, width, gelu, (size_t)b * 256 + tid, (size_t)blocks * 256);
            ribo_convert_thread<T>(dst, src.data(), n, (size_t)b * 256 + tid, (size_t)blocks * 256);
        });
    size_t conv_bad = 0;
    for (size_t i = 0; i < n; ++i) {
        got[i] = ribo_ew_to_f(out[i]);
        const T r = ribo_ew_from_f<T>(src[i]);
        conv_bad += memcmp((const void *)&r, (const void *)&dst[i], sizeof(T)) != 0;
    }
    const double e = worst_rel(got.data(), want.data(), n);
    const bool guard = is_poison(out + n, 4 * sizeof(T)) && is_poison(dst + n, 4 * sizeof(T));
    CHECK(!emu.failed && e <= round_tol<T>() * 4 && conv_bad == 0 && guard,
          "emulated glu/convert %s rows=%d width=%d gelu=%d grid=%u: glu worst err %g, %zu converted elements differ%s",
          type_name<T>(), rows, width, gelu, blocks, e, conv_bad, guard ? "" : ", wrote past the end");
    free(x);
    free(out);
    free(dst);
}

/* per-residue pool copy: one N-thread CTA per token; rows skipped write nothing (out poisoned). */
template <typename T, unsigned N>
void check_pool_copy(const std::vector<int> &lens, int width, int skip_begin, int skip_end) {
    std::vector<int> cu(lens.size() + 1, 0), sot;
    for (size_t s = 0; s < lens.size(); ++s) {
        cu[s + 1] = cu[s] + lens[s];
        for (int j = 0; j < lens[s]; ++j) sot.push_back((int)s);
    }
    const int n_tokens = cu.back(), n_seqs = (int)lens.size(), kept = n_tokens - n_seqs * (skip_begin + skip_end);
    T *x = alloc_poisoned<T>((size_t)n_tokens * width);
    std::vector<float> xf((size_t)n_tokens * width), want((size_t)kept * width);
    float *out = alloc_poisoned<float>((size_t)kept * width + 4);
    for (size_t i = 0; i < xf.size(); ++i) xf[i] = ribo_ew_to_f(x[i] = ribo_ew_from_f<T>(ribo_test_randf(&rng, -5.0f, 5.0f)));
    ref_pool(xf.data(), cu.data(), n_seqs, want.data(), width, skip_begin, skip_end, 2);
    emu.failed = false;
    for (int t = 0; t < n_tokens && !emu.failed; ++t)
        run_cta_of<N>([&](unsigned tid) {
            ribo_pool_copy_row<T>(x, cu.data(), sot.data(), out, width, skip_begin, skip_end, t, tid, N);
        });
    const bool exact = memcmp(out, want.data(), want.size() * sizeof(float)) == 0, guard = is_poison(out + want.size(), 16);
    CHECK(!emu.failed && exact && guard, "emulated pool copy %s %u threads width=%d skip %d/%d: %s", type_name<T>(), N, width,
          skip_begin, skip_end, !exact ? "differs from ref_pool" : !guard ? "wrote past the end" : emu.why);
    free(x);
    free(out);
}

template <typename T>
void check_pointwise_type() {
    check_embed<T, 64>(7, 33, true);
    check_embed<T, 128>(5, 320, false);
    check_embed<T, 256>(3, 1280, true);
    for (int gelu : {0, 1}) {
        check_glu_convert<T>(3, 37, gelu, 1);
        check_glu_convert<T>(5, 1000, gelu, 3);
    }
    /* with specials skipped every sequence holds them (at least skip_begin + skip_end rows) */
    check_pool_copy<T, 64>({2, 3, 65, 2}, 40, 1, 1);
    check_pool_copy<T, 128>({1, 3, 65, 2}, 320, 0, 0);
    check_pool_copy<T, 256>({4, 33}, 1280, 1, 0);
}

} // namespace

int main(void) {
    const double t0 = seconds();
    check_ln_block_type<float>();
    check_ln_block_type<__half>();
    check_ln_block_type<__nv_bfloat16>();
    check_pointwise_type<float>();
    check_pointwise_type<__half>();
    check_pointwise_type<__nv_bfloat16>();
    const double t1 = seconds();
    check_attn_type<float>();
    check_attn_type<__half>();
    check_attn_type<__nv_bfloat16>();
    fprintf(stderr, "test_simt_emu (%d-lane waves): layer_norm and per-thread bodies %.1f s, attention %.1f s\n", kWave, t1 - t0, seconds() - t1);
    return ribo_test_finish("test_simt_emu");
}
