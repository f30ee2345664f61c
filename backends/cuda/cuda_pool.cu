/* CUDA backend pooling of the final hidden states per sequence: the segment pool (mean over the
 * kept rows, or the first row; body ribo_pool_cta in cuda_elementwise.cuh, shared with the CPU
 * emulator test), the per-residue copy-out, both widening to fp32, and the ribo_kernel_i.pool entry.
 * Checked against ref_pool (tests/ref_ops.c) by tests/test_ops.c (test_pool, test_pool_mean_long)
 * and tests/test_elementwise_emu.cu. */
#include "cuda_launch.cuh"

#define RIBO_EW_FN __device__ __forceinline__
#include "cuda_elementwise.cuh"
#include "cuda_pointwise.cuh"

/* ---------------------------------------------------------------- pooling */

/* Segment pooling, fp32 out[s, :]: mean over the kept rows of sequence s or its first row (the
 * CTA body ribo_pool_cta in cuda_elementwise.cuh). Grid (n_seqs, column chunks of 64), 4 warps. */
template <typename T>
__global__ void __launch_bounds__(RIBO_POOL_WARPS * RIBO_WARP_SIZE)
    pool_kernel(const T *x, const int *cu, float *out, int width, int skip_begin, int skip_end, int mode) {
    __shared__ float partial[RIBO_POOL_WARPS][RIBO_POOL_COLS];
    ribo_pool_cta<ribo_ew_device_ops, T>(x, cu, out, width, skip_begin, skip_end, mode, blockIdx.x, blockIdx.y, threadIdx.x, partial);
}

/* Per-residue copy-out: row t of sequence s (kept rows only) goes to fp32
 * out[t - s*(skip_begin+skip_end) - skip_begin, :]. One block per token (ribo_pool_copy_row in
 * cuda_pointwise.cuh). */
template <typename T>
__global__ void pool_copy_kernel(const T *x, const int *cu, const int *seq_of_token, float *out, int width,
                                 int skip_begin, int skip_end) {
    ribo_pool_copy_row<T>(x, cu, seq_of_token, out, width, skip_begin, skip_end, (int)blockIdx.x, (int)threadIdx.x,
                          (int)blockDim.x);
}

/* ---------------------------------------------------------------- launch and entry */

template <typename T>
static void run_pool(const ribo_pool_args *a, cudaStream_t st) {
    if (a->mode == RIBO_POOL_MODE_COPY)
        pool_copy_kernel<T><<<a->n_tokens, threads_for(a->width), 0, st>>>(
            (const T *)ribo_cuda_ptr(a->x), (const int *)ribo_cuda_ptr(a->cu_seqlens),
            (const int *)ribo_cuda_ptr(a->seq_of_token), (float *)ribo_cuda_ptr(a->out), a->width, a->skip_begin,
            a->skip_end);
    else
        pool_kernel<T><<<dim3((unsigned)a->n_seqs, (unsigned)((a->width + RIBO_POOL_COLS - 1) / RIBO_POOL_COLS)),
                         RIBO_POOL_WARPS * RIBO_WARP_SIZE, 0, st>>>(
            (const T *)ribo_cuda_ptr(a->x), (const int *)ribo_cuda_ptr(a->cu_seqlens), (float *)ribo_cuda_ptr(a->out),
            a->width, a->skip_begin, a->skip_end, a->mode == RIBO_POOL_MODE_FIRST ? 1 : 0);
}

ribo_status ribo_cuda_pool(ribo_stream *s, const ribo_pool_args *a, ribo_error *err) {
    if (a->mode == RIBO_POOL_MODE_COPY && !a->seq_of_token.buf)
        return ribo_error_set(err, RIBO_ERR_INTERNAL, RIBO_GPU_NAME ": per-residue pool without seq_of_token");
    RIBO_TRY(ribo_cuda_use(s->dev, err));
    DISPATCH(ribo_cuda_dev(s->dev)->storage, run_pool, a, ribo_cuda_stream(s));
    return launched(s, "pool", err);
}
