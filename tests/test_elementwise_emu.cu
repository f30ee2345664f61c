/* CPU emulation of the CUDA backend's vectorized element-wise kernels (backends/cuda/cuda_elementwise.cuh),
 * no GPU needed: the registers-per-row LayerNorm (every CTA a 128-fiber block, tests/gpu_emu.h, with
 * the warp shuffles and barriers emulated; the bucket table the backend launches from), the in-place
 * vectorized GELU and the vectorized rotary pass (per-thread bodies over the whole grid, in shuffled
 * order). Outputs are NaN-poisoned with a guard tail; results are compared with double references on
 * the same 16-bit-rounded inputs (LayerNorm, GELU) and with the scalar rotary kernel's formula (rotary,
 * bit for bit on the host), and the segment pooling (whole grid of 128-fiber CTAs, against double means). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#define RIBO_EW_FN inline
#include "backends/cuda/cuda_elementwise.cuh"

extern "C" {
#include "ref_ops.h"
#include "test_util.h"
}
#include "gpu_emu.h"

namespace {

uint64_t rng = 0x853c49e6748fea9bull;

template <typename T> const char *type_name() {
    return std::is_same_v<T, float> ? "fp32" : std::is_same_v<T, __half> ? "fp16" : "bf16";
}

/* v rounded to T and back */
template <typename T> float round_to(float v) { return ribo_ew_to_f(ribo_ew_from_f<T>(v)); }

/* 16-byte aligned buffer of n elements of T plus `guard` poisoned (all-ones) elements. */
template <typename T>
T *alloc_poisoned(size_t n, size_t guard) {
    const size_t bytes = ((n + guard) * sizeof(T) + 15) / 16 * 16;
    T *p = (T *)aligned_alloc(16, bytes);
    memset((void *)p, 0xff, bytes);
    return p;
}

template <typename T>
bool guard_intact(const T *p, size_t n, size_t guard) {
    const unsigned char *b = (const unsigned char *)(p + n);
    for (size_t i = 0; i < guard * sizeof(T); ++i)
        if (b[i] != 0xff) return false;
    return true;
}

/* ---------------------------------------------------------------- LayerNorm */

/* Emulates the whole grid of the registers-per-row LayerNorm (CTAs in shuffled order) for rows x
 * width; in_place: out aliases x. Returns the worst per-row relative error against the double
 * reference (NaN if an element was not written). */
template <typename T>
double run_layer_norm(int rows, int width, bool in_place, const char **why) {
    int wpr = 0, vpl = 0;
    *why = "";
    if (!ribo_ln_rows_shape(width, (int)sizeof(T), &wpr, &vpl)) {
        *why = "no registers-per-row shape";
        return NAN;
    }
    const size_t n = (size_t)rows * width, guard = 64;
    T *x = alloc_poisoned<T>(n, 0), *g = alloc_poisoned<T>((size_t)width, 0), *b = alloc_poisoned<T>((size_t)width, 0);
    T *out = in_place ? x : alloc_poisoned<T>(n, guard);
    std::vector<float> xf(n), gf(width), bf(width), want(n), got(n);
    for (size_t i = 0; i < n; ++i) {
        const float v = ribo_test_randf(&rng, -3.0f, 5.0f) + (i / width % 3 == 0 ? 40.0f : 0.0f);
        x[i] = ribo_ew_from_f<T>(v);
        xf[i] = ribo_ew_to_f(x[i]);
    }
    for (int c = 0; c < width; ++c) {
        g[c] = ribo_ew_from_f<T>(ribo_test_randf(&rng, 0.5f, 1.5f));
        b[c] = ribo_ew_from_f<T>(ribo_test_randf(&rng, -0.5f, 0.5f));
        gf[c] = ribo_ew_to_f(g[c]);
        bf[c] = ribo_ew_to_f(b[c]);
    }
    ref_layer_norm(xf.data(), gf.data(), bf.data(), want.data(), rows, width, 1e-5f);
    const unsigned blocks = (unsigned)((rows + 4 / wpr - 1) / (4 / wpr));
    std::vector<unsigned> order(blocks);
    for (unsigned i = 0; i < blocks; ++i) order[i] = i;
    for (unsigned i = blocks; i > 1; --i) std::swap(order[i - 1], order[(unsigned)ribo_test_randf(&rng, 0.0f, (float)i) % i]);
    emu.failed = false;
    emu.smem_lo = emu.smem_hi = emu.gmem_lo = emu.gmem_hi = nullptr;
    for (unsigned blk : order) {
        if (emu.failed) break;
        float partial[2][4];
        for (auto &r : partial)
            for (float &v : r) v = NAN; /* shared memory starts undefined */
        ribo_ln_rows_dispatch(wpr, vpl, [&]<int VPL, int WPR>() {
            run_cta([&](int tid) {
                ribo_ln_rows_cta<EmuBasicOps, T, VPL, WPR>(x, g, b, out, rows, width, 1e-5f, blk, tid, partial);
            });
        });
    }
    double e = NAN;
    if (emu.failed) *why = emu.why;
    else if (!in_place && !guard_intact(out, n, guard)) *why = "wrote past the end of out";
    else {
        for (size_t i = 0; i < n; ++i) got[i] = ribo_ew_to_f(out[i]);
        e = ribo_test_max_row_rel_err(got.data(), want.data(), (size_t)rows, (size_t)width);
    }
    free(x);
    free(g);
    free(b);
    if (!in_place) free(out);
    return e;
}

template <typename T>
void check_layer_norm(int rows, int width, bool in_place = false) {
    const char *why;
    const double e = run_layer_norm<T>(rows, width, in_place, &why);
    /* output rounding to T (~2^-9 bf16, 2^-11 fp16 per element); fp32: float sums over the row */
    const double bound = std::is_same_v<T, float> ? 2e-5 : std::is_same_v<T, __half> ? 8e-4 : 3e-3;
    CHECK(e < bound, "emulated layer_norm %s rows=%d width=%d in_place=%d: rel err %g (bound %g) %s", type_name<T>(), rows,
          width, in_place, e, bound, why);
    if (getenv("RIBO_EMU_VERBOSE")) {
        int wpr = 0, vpl = 0;
        ribo_ln_rows_shape(width, (int)sizeof(T), &wpr, &vpl);
        fprintf(stderr, "layer_norm %s rows=%d width=%d (%d warp(s)/row, %d vectors/lane): rel err %.3g\n", type_name<T>(),
                rows, width, wpr, vpl, e);
    }
}

template <typename T>
void check_layer_norm_type() {
    /* ESM-2 320..5120, DNABERT 768, fixtures 64..192, and the largest of each warp layout */
    const int widths[] = {64, 96, 144, 160, 192, 320, 480, 640, 768, 1280, 2560, 5120};
    int i = 0;
    for (int w : widths) {
        int wpr, vpl;
        if (!ribo_ln_rows_shape(w, (int)sizeof(T), &wpr, &vpl)) continue; /* fp32 5120: the block kernel */
        check_layer_norm<T>(1 + i++ % 6, w);                                 /* 1..6 rows: partial CTAs */
    }
    constexpr int epv = 16 / (int)sizeof(T);
    check_layer_norm<T>(9, 256 * epv);  /* one warp, 8 vectors per lane, all used */
    check_layer_norm<T>(3, 257 * epv);  /* four warps, the smallest */
    check_layer_norm<T>(2, 1024 * epv); /* four warps, 8 vectors per lane */
    check_layer_norm<T>(5, 40 * epv);   /* two vectors per lane, 8 lanes with both */
    check_layer_norm<T>(4, 1280, true);
    check_layer_norm<T>(1, 768, true);
}

/* The shapes the backend picks, and the refusals (not whole vectors, too wide). */
void check_layer_norm_shapes() {
    struct {
        int width, elem, wpr, vpl;
    } want[] = {{320, 2, 1, 2}, {480, 2, 1, 2}, {640, 2, 1, 3}, {768, 2, 1, 3}, {1280, 2, 1, 5}, {2560, 2, 4, 3},
                {5120, 2, 4, 5}, {64, 2, 1, 1}, {2048, 2, 1, 8}, {2056, 2, 4, 3}, {8192, 2, 4, 8}, {1280, 4, 4, 3},
                {2560, 4, 4, 5}, {1024, 4, 1, 8}, {144, 4, 1, 2}, {1760, 2, 1, 8}, {36, 4, 1, 1}};
    for (const auto &c : want) {
        int wpr = -1, vpl = -1;
        const bool ok = ribo_ln_rows_shape(c.width, c.elem, &wpr, &vpl);
        CHECK(ok && wpr == c.wpr && vpl == c.vpl, "layer_norm shape width %d elem %d: %d warps x %d vectors (want %d x %d)",
              c.width, c.elem, wpr, vpl, c.wpr, c.vpl);
    }
    const int refused[][2] = {{37, 2}, {36, 2}, {38, 4}, {8200, 2}, {5120, 4}, {0, 2}};
    for (const auto &r : refused) {
        int wpr, vpl;
        CHECK(!ribo_ln_rows_shape(r[0], r[1], &wpr, &vpl), "layer_norm width %d elem %d should run the block kernel", r[0],
              r[1]);
    }
}

/* ---------------------------------------------------------------- GELU */

/* Every thread of a grid of `stride` threads over n elements (in shuffled order); each element must
 * be transformed exactly once. */
template <typename T>
void check_gelu(size_t n, size_t stride) {
    constexpr size_t guard = 16;
    T *p = alloc_poisoned<T>(n, guard);
    std::vector<double> want(n);
    for (size_t i = 0; i < n; ++i) {
        p[i] = ribo_ew_from_f<T>(ribo_test_randf(&rng, -4.0f, 4.0f));
        const double v = ribo_ew_to_f(p[i]);
        want[i] = 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
    }
    std::vector<size_t> order(stride);
    for (size_t i = 0; i < stride; ++i) order[i] = i;
    for (size_t i = stride; i > 1; --i) std::swap(order[i - 1], order[(size_t)ribo_test_randf(&rng, 0.0f, (float)i) % i]);
    for (size_t first : order) ribo_ew_gelu_thread<T>(p, n, first, stride);
    /* fp32: erff and the cancellation in 1 + erf near -4 (~1e-7 absolute); 16 bits: output rounding */
    const double rel = std::is_same_v<T, float> ? 1e-6 : std::is_same_v<T, __half> ? 1e-3 : 8e-3;
    const double abs_tol = std::is_same_v<T, float> ? 1e-6 : 1e-5;
    double worst = 0;
    for (size_t i = 0; i < n; ++i) {
        const double got = ribo_ew_to_f(p[i]), err = fabs(got - want[i]) / (rel * fabs(want[i]) + abs_tol);
        worst = got == got ? std::max(worst, err) : INFINITY;
    }
    CHECK(worst <= 1.0 && guard_intact(p, n, guard), "emulated gelu %s n=%zu threads=%zu: worst error %g x tolerance%s",
          type_name<T>(), n, stride, worst, guard_intact(p, n, guard) ? "" : ", wrote past the end");
    free(p);
}

template <typename T>
void check_gelu_type() {
    const size_t ns[] = {1, 7, 8, 9, 35, 1000, 4099};
    const size_t strides[] = {1, 3, 256, 4096};
    for (size_t n : ns)
        for (size_t s : strides) check_gelu<T>(n, s);
}

/* ---------------------------------------------------------------- rotary */

/* inv_freq as cuda_rope.cu computes it on the host */
float rope_inv_freq(float theta, int i, int head_dim) {
    const float p = (float)pow((double)theta, (double)((float)(2 * i) / (float)head_dim));
    return (float)(1.0 / (double)p);
}

/* The vectorized pass with C pairs per thread over qkv [T, 3*H*D] (threads in shuffled order, plus
 * some past the end) against the scalar kernel's formula: bit-identical on the host. */
template <typename T, int C>
void check_rotary(int head_dim, int n_heads, const int *lens, int n_seqs) {
    int n_tokens = 0;
    for (int s = 0; s < n_seqs; ++s) n_tokens += lens[s];
    std::vector<int> pos(n_tokens);
    for (int s = 0, t = 0; s < n_seqs; ++s)
        for (int j = 0; j < lens[s]; ++j) pos[t++] = j;
    const int hd = n_heads * head_dim, half = head_dim / 2;
    const size_t n = (size_t)n_tokens * 3 * hd, guard = 16;
    T *qkv = alloc_poisoned<T>(n, guard);
    for (size_t i = 0; i < n; ++i) qkv[i] = ribo_ew_from_f<T>(ribo_test_randf(&rng, -2.0f, 2.0f));
    std::vector<T> want(qkv, qkv + n);
    float inv_freq[64];
    for (int i = 0; i < half; ++i) inv_freq[i] = rope_inv_freq(10000.0f, i, head_dim);
    const float q_scale = 1.0f / sqrtf((float)head_dim);
    for (int t = 0; t < n_tokens; ++t) /* cuda_rope.cu rotary_kernel, one pair at a time */
        for (int h = 0; h < n_heads; ++h)
            for (int i = 0; i < half; ++i) {
                const float angle = (float)pos[t] * inv_freq[i], s = sinf(angle), c = cosf(angle);
                T *q = want.data() + (size_t)t * 3 * hd + h * head_dim, *k = q + hd;
                const float q1 = ribo_ew_to_f(q[i]) * q_scale, q2 = ribo_ew_to_f(q[i + half]) * q_scale;
                q[i] = ribo_ew_from_f<T>(q1 * c - q2 * s);
                q[i + half] = ribo_ew_from_f<T>(q2 * c + q1 * s);
                const float k1 = ribo_ew_to_f(k[i]), k2 = ribo_ew_to_f(k[i + half]);
                k[i] = ribo_ew_from_f<T>(k1 * c - k2 * s);
                k[i + half] = ribo_ew_from_f<T>(k2 * c + k1 * s);
            }
    const size_t threads = (size_t)n_tokens * n_heads * (half / C) + 37;
    std::vector<size_t> order(threads);
    for (size_t i = 0; i < threads; ++i) order[i] = i;
    for (size_t i = threads; i > 1; --i) std::swap(order[i - 1], order[(size_t)ribo_test_randf(&rng, 0.0f, (float)i) % i]);
    for (size_t idx : order) ribo_ew_rotary_thread<T, C>(qkv, pos.data(), n_tokens, n_heads, head_dim, q_scale, inv_freq, idx);
    size_t differ = 0;
    for (size_t i = 0; i < n; ++i) differ += memcmp((const void *)&qkv[i], (const void *)&want[i], sizeof(T)) != 0;
    CHECK(differ == 0 && guard_intact(qkv, n, guard), "emulated rotary %s D=%d C=%d heads=%d: %zu of %zu elements differ%s",
          type_name<T>(), head_dim, C, n_heads, differ, n, guard_intact(qkv, n, guard) ? "" : ", wrote past the end");
    free(qkv);
}

/* The vector widths cuda_rope.cu run_rotary picks: 16 bytes where (D/2) % C16 == 0, else 8 bytes. */
template <typename T>
void check_rotary_type() {
    constexpr int C16 = 16 / (int)sizeof(T), C8 = 8 / (int)sizeof(T);
    const int lens[] = {1, 5, 130, 64, 2};
    const int dims[] = {16, 24, 32, 64, 128};
    for (int d : dims) {
        if ((d / 2) % C16 == 0) {
            if constexpr (C16 <= 64) check_rotary<T, C16>(d, d >= 64 ? 2 : 3, lens, 5);
        } else if ((d / 2) % C8 == 0) {
            check_rotary<T, C8>(d, 3, lens, 5);
        } else {
            CHECK(false, "rotary %s D=%d has no vector width (the scalar kernel would run)", type_name<T>(), d);
        }
    }
}

/* ---------------------------------------------------------------- pooling */

/* The whole grid of the pooling (CTAs in shuffled order) over sequences of the given lengths, width
 * columns, against double means of the same 16-bit-rounded inputs (mode 0) or a bit-exact copy of
 * the first row (mode 1); out is NaN-poisoned with a guard tail. */
template <typename T>
void check_pool(const int *lens, int n_seqs, int width, int skip_begin, int skip_end, int mode) {
    std::vector<int> cu(n_seqs + 1, 0);
    for (int s = 0; s < n_seqs; ++s) cu[s + 1] = cu[s] + lens[s];
    const size_t n = (size_t)cu[n_seqs] * width, n_out = (size_t)n_seqs * width, guard = 16;
    T *x = alloc_poisoned<T>(n, 0);
    float *out = alloc_poisoned<float>(n_out, guard);
    for (size_t i = 0; i < n; ++i) x[i] = ribo_ew_from_f<T>(ribo_test_randf(&rng, -2.0f, 2.0f) + (i % width == 3 ? 300.0f : 0.0f));
    const unsigned chunks = (unsigned)((width + RIBO_POOL_COLS - 1) / RIBO_POOL_COLS);
    std::vector<unsigned> order((size_t)n_seqs * chunks);
    for (size_t i = 0; i < order.size(); ++i) order[i] = (unsigned)i;
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[(size_t)ribo_test_randf(&rng, 0.0f, (float)i) % i]);
    emu.failed = false;
    for (unsigned blk : order) {
        if (emu.failed) break;
        float partial[RIBO_POOL_WARPS][RIBO_POOL_COLS];
        for (auto &r : partial)
            for (float &v : r) v = NAN; /* shared memory starts undefined */
        run_cta([&](int tid) {
            ribo_pool_cta<EmuBasicOps, T>(x, cu.data(), out, width, skip_begin, skip_end, mode, blk / chunks, blk % chunks,
                                          tid, partial);
        });
    }
    double worst = 0;
    for (int s = 0; s < n_seqs && !emu.failed; ++s)
        for (int c = 0; c < width; ++c) {
            const int b = cu[s] + skip_begin, e = cu[s + 1] - skip_end;
            double want = 0, scale = 1e-3; /* scale: mean |x| of the range, the size of the float roundings */
            if (mode == 1) want = ribo_ew_to_f(x[(size_t)cu[s] * width + c]);
            else if (e > b) {
                for (int t = b; t < e; ++t) {
                    want += ribo_ew_to_f(x[(size_t)t * width + c]);
                    scale += fabs(ribo_ew_to_f(x[(size_t)t * width + c]));
                }
                want /= e - b;
                scale /= e - b;
            }
            if (mode == 1) scale = fabs(want) + 1e-3;
            const double got = out[(size_t)s * width + c], err = mode == 1 ? (got == want ? 0.0 : INFINITY) : fabs(got - want) / scale;
            worst = got == got ? std::max(worst, err) : INFINITY;
        }
    /* fp32 compensated sums: a few float roundings of values of the size of mean |x|; mode 1 exact */
    CHECK(!emu.failed && worst <= 1e-6 && guard_intact(out, n_out, guard),
          "emulated pool %s mode %d width %d skip %d/%d: worst rel err %g%s%s", type_name<T>(), mode, width, skip_begin,
          skip_end, worst, guard_intact(out, n_out, guard) ? "" : ", wrote past the end", emu.failed ? emu.why : "");
    free(x);
    free(out);
}

template <typename T>
void check_pool_type() {
    const int lens[] = {3, 1, 2, 130, 64, 65, 1030, 7};
    for (int width : {320, 64, 37, 130})
        for (int mode : {0, 1}) check_pool<T>(lens, 8, width, mode == 0 ? 1 : 0, mode == 0 ? 1 : 0, mode);
    check_pool<T>(lens, 8, 96, 0, 0, 0); /* no specials skipped */
}

} // namespace

int main(void) {
    check_layer_norm_shapes();
    check_layer_norm_type<float>();
    check_layer_norm_type<__half>();
    check_layer_norm_type<__nv_bfloat16>();
    check_layer_norm<__nv_bfloat16>(1001, 1280); /* many CTAs of 4 rows, the last one partial */
    check_gelu_type<float>();
    check_gelu_type<__half>();
    check_gelu_type<__nv_bfloat16>();
    check_rotary_type<float>();
    check_rotary_type<__half>();
    check_rotary_type<__nv_bfloat16>();
    check_pool_type<float>();
    check_pool_type<__half>();
    check_pool_type<__nv_bfloat16>();
    return ribo_test_finish("test_elementwise_emu");
}
