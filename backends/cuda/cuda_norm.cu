/* CUDA backend LayerNorm: the one-block-per-row kernel (two passes, any width) and the
 * registers-per-row kernel (a row per warp or per four warps, 16-byte vectors; the body is
 * ribo_ln_rows_cta in cuda_elementwise.cuh, shared with the CPU emulator test), the choice between
 * them (RIBO_LAYER_NORM=rows|block, read at device open) and the ribo_kernel_i.layer_norm entry.
 * Checked against ref_layer_norm (tests/ref_ops.c) by tests/test_ops.c (test_layer_norm,
 * test_layer_norm16_all) and tests/test_elementwise_emu.cu. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_debug.h"
#include "cuda_launch.cuh"

#define RIBO_EW_FN __device__ __forceinline__
#include "cuda_elementwise.cuh"
#include "cuda_norm_block.cuh"

/* ---------------------------------------------------------------- layer norm */

/* The warp operations of ribo_ln_block_row and its block size. */
struct ln_block_device_ops : ribo_ew_device_ops {
    static __device__ __forceinline__ unsigned block_threads() { return blockDim.x; }
};

/* out = (x - mean) / sqrt(var + eps) * gamma + beta per row; two passes (mean, then centred
 * variance) for accuracy. One block per row (ribo_ln_block_row in cuda_norm_block.cuh, shared with
 * the CPU emulator test). */
template <typename T>
__global__ void layer_norm_kernel(const T *x, const T *gamma, const T *beta, T *out, int width, float eps) {
    __shared__ float scratch[RIBO_LN_BLOCK_MAX_WARPS];
    ribo_ln_block_row<ln_block_device_ops, T>(x, gamma, beta, out, width, eps, blockIdx.x, threadIdx.x, scratch);
}

/* The same LayerNorm with the row held in registers: WPR warps per row (1: four rows per 128-thread
 * block, 4: one), up to VPL 16-byte vectors per lane, mean then centred variance in fp32, 16-byte
 * loads and stores (ribo_ln_rows_cta in cuda_elementwise.cuh). Needs width % (16 / sizeof(T)) == 0
 * and 16-byte aligned tensors. */
template <typename T, int VPL, int WPR>
__global__ void __launch_bounds__(128) layer_norm_rows_kernel(const T *x, const T *gamma, const T *beta, T *out,
                                                              int rows, int width, float eps) {
    __shared__ float partial[2][4];
    ribo_ln_rows_cta<ribo_ew_device_ops, T, VPL, WPR>(x, gamma, beta, out, rows, width, eps, blockIdx.x, (int)threadIdx.x,
                                                      partial);
}

/* ---------------------------------------------------------------- choice and entry */

ribo_status ribo_cuda_layer_norm_init(ribo_cuda_device *cd, ribo_error *err) {
    const char *ln = getenv("RIBO_LAYER_NORM");
    if (!ln || !*ln || !strcmp(ln, "rows")) cd->ln_block = false;
    else if (!strcmp(ln, "block")) cd->ln_block = true;
    else return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, RIBO_GPU_NAME ": RIBO_LAYER_NORM='%s' is not rows or block", ln);
    return RIBO_OK;
}

/* The registers-per-row kernel where it applies (widths that are whole 16-byte vectors, 16-byte
 * aligned tensors, RIBO_LAYER_NORM not "block"), else the one-block-per-row kernel. */
template <typename T>
static void run_layer_norm(const ribo_layer_norm_args *a, const ribo_cuda_device *cd, cudaStream_t st) {
    int wpr = 0, vpl = 0;
    const bool aligned = aligned_to(ribo_cuda_ptr(a->x), 16) && aligned_to(ribo_cuda_ptr(a->gamma), 16) &&
                         aligned_to(ribo_cuda_ptr(a->beta), 16) && aligned_to(ribo_cuda_ptr(a->out), 16);
    if (!cd->ln_block && aligned && ribo_ln_rows_shape(a->width, (int)sizeof(T), &wpr, &vpl)) {
        const unsigned blocks = grid_for((size_t)a->rows, (unsigned)(4 / wpr));
        ribo_ln_rows_dispatch(wpr, vpl, [&]<int VPL, int WPR>() {
            layer_norm_rows_kernel<T, VPL, WPR><<<blocks, 128, 0, st>>>(
                (const T *)ribo_cuda_ptr(a->x), (const T *)ribo_cuda_ptr(a->gamma), (const T *)ribo_cuda_ptr(a->beta),
                (T *)ribo_cuda_ptr(a->out), a->rows, a->width, a->eps);
        });
        return;
    }
    layer_norm_kernel<T><<<a->rows, threads_for(a->width), 0, st>>>(
        (const T *)ribo_cuda_ptr(a->x), (const T *)ribo_cuda_ptr(a->gamma), (const T *)ribo_cuda_ptr(a->beta),
        (T *)ribo_cuda_ptr(a->out), a->width, a->eps);
}

extern "C" const char *ribo_cuda_layer_norm_path(ribo_device *dev, int width) {
    const ribo_cuda_device *cd = ribo_cuda_dev(dev);
    int wpr = 0, vpl = 0;
    const int elem = cd->storage == RIBO_STORAGE_F32 ? 4 : 2;
    if (cd->ln_block || !ribo_ln_rows_shape(width, elem, &wpr, &vpl)) return "block";
    return wpr == 1 ? "warp" : "4warps";
}

ribo_status ribo_cuda_layer_norm(ribo_stream *s, const ribo_layer_norm_args *a, ribo_error *err) {
    RIBO_TRY(ribo_cuda_use(s->dev, err));
    if (a->rows < 1) return RIBO_OK;
    const ribo_cuda_device *cd = ribo_cuda_dev(s->dev);
    DISPATCH(cd->storage, run_layer_norm, a, cd, ribo_cuda_stream(s));
    return launched(s, "layer_norm", err);
}
