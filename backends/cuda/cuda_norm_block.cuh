/* Body of the one-block-per-row LayerNorm of cuda_norm.cu (any width; the registers-per-row variant
 * is ribo_ln_rows_cta in cuda_elementwise.cuh), shared by the kernel and the CPU emulator test
 * (tests/test_simt_emu.cu), which runs it with 32- and 64-lane waves (tests/gpu_emu.h). Storage T is
 * float, __half or __nv_bfloat16; arithmetic fp32.
 *
 * Warps: the block sum reduces over 32-lane logical warps (RIBO_WARP_SIZE; xor masks 16..1, which on
 * a wave64 stay inside each half, vendor/hip.h), then over the block's logical warps through shared
 * memory; every thread of the block reaches every shuffle and barrier.
 *
 * The includer defines RIBO_EW_FN (as for cuda_elementwise.cuh, included here) and supplies an Ops
 * type with
 *   shfl_xor(float v, int mask)   __shfl_xor_sync over the full warp
 *   sync_cta()                    __syncthreads
 *   block_threads()               blockDim.x (read where it is used, as the kernel did before it
 *                                 had a shared body: the same code) */
#ifndef RIBO_CUDA_NORM_BLOCK_CUH
#define RIBO_CUDA_NORM_BLOCK_CUH

#include "cuda_elementwise.cuh"

/* Most logical warps of a block (1024 threads) = the shared scratch of ribo_block_sum. */
#define RIBO_LN_BLOCK_MAX_WARPS (1024 / RIBO_WARP_SIZE)

/* 1 / sqrt(v): rsqrtf in device code, the correctly rounded quotient on the host (the emulator). */
RIBO_EW_FN float ribo_ew_rsqrt(float v) {
#if RIBO_GPU_DEVICE_PASS
    return rsqrtf(v);
#else
    return 1.0f / sqrtf(v);
#endif
}

/* Sum of v over the block of Ops::block_threads() threads (a multiple of RIBO_WARP_SIZE, at most 1024): each
 * logical warp reduces with xor shuffles, lane 0 of warp w writes scratch[w], then every warp reduces
 * the block's partial sums. Every thread gets the result; scratch may be reused right away (the
 * leading barrier orders it after the previous call's reads). */
template <class Ops>
RIBO_EW_FN float ribo_block_sum(float v, float *scratch, unsigned tid) {
    for (int o = RIBO_WARP_SIZE / 2; o > 0; o >>= 1) v += Ops::shfl_xor(v, o);
    int warp = tid / RIBO_WARP_SIZE, lane = tid % RIBO_WARP_SIZE, n_warps = Ops::block_threads() / RIBO_WARP_SIZE;
    Ops::sync_cta();
    if (lane == 0) scratch[warp] = v;
    Ops::sync_cta();
    v = lane < n_warps ? scratch[lane] : 0.0f;
    for (int o = RIBO_WARP_SIZE / 2; o > 0; o >>= 1) v += Ops::shfl_xor(v, o);
    return v;
}

/* Row `block` of the LayerNorm out = (x - mean) / sqrt(var + eps) * gamma + beta, thread tid of
 * Ops::block_threads(): two passes over the row (the mean, then the centred variance) for accuracy; scratch holds
 * RIBO_LN_BLOCK_MAX_WARPS floats of shared memory. */
template <class Ops, typename T>
RIBO_EW_FN void ribo_ln_block_row(const T *x, const T *gamma, const T *beta, T *out, int width, float eps,
                                  unsigned block, unsigned tid, float *scratch) {
    const T *xr = x + (size_t)block * width;
    float s = 0.0f;
    for (int c = tid; c < width; c += Ops::block_threads()) s += ribo_ew_to_f(xr[c]);
    float mean = ribo_block_sum<Ops>(s, scratch, tid) / width;
    float q = 0.0f;
    for (int c = tid; c < width; c += Ops::block_threads()) {
        float d = ribo_ew_to_f(xr[c]) - mean;
        q += d * d;
    }
    float rstd = ribo_ew_rsqrt(ribo_block_sum<Ops>(q, scratch, tid) / width + eps);
    T *orow = out + (size_t)block * width;
    for (int c = tid; c < width; c += Ops::block_threads())
        orow[c] = ribo_ew_from_f<T>((ribo_ew_to_f(xr[c]) - mean) * rstd * ribo_ew_to_f(gamma[c]) + ribo_ew_to_f(beta[c]));
}

#endif
