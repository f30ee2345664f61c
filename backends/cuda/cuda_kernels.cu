/* CUDA backend kernels without a file of their own: embed, the gated linear unit and the fp32 ->
 * storage conversion of the weights upload. The ribo_kernel_i table is in cuda_device.cu (a host-only
 * file for HIP); its other entries live by concern in cuda_norm.cu (LayerNorm), cuda_attention.cu (attention, with the rotary
 * pass of cuda_rope.cu; tensor-core kernels in cuda_attention_wmma.cu and cuda_attention_mma.cu),
 * cuda_pool.cu (pooling) and cuda_gemm.cu (linear, with the exact GELU of cuda_gelu.cu). Activations and weights
 * are stored as T (float, __half or __nv_bfloat16); all arithmetic is fp32. Each kernel is preceded
 * by what it computes; the per-thread bodies are in cuda_pointwise.cuh (shared with the CPU emulator
 * test tests/test_simt_emu.cu). */
#include <math.h>
#include <stdint.h>

#include "cuda_launch.cuh"

#define RIBO_EW_FN __device__ __forceinline__
#include "cuda_pointwise.cuh"

/* ---------------------------------------------------------------- embed */

/* out[t, c] = table[tokens[t], c] * seq_scale[seq_of_token[t]] (0 where tokens[t] == mask_id)
 *           + add_row[c] (when add_row != NULL). One block per token. */
template <typename T>
__global__ void embed_kernel(const int *tokens, const int *seq_of_token, const float *seq_scale, const T *table,
                             const T *add_row, T *out, int width, int mask_id) {
    ribo_embed_row<T>(tokens, seq_of_token, seq_scale, table, add_row, out, width, mask_id, (int)blockIdx.x,
                      threadIdx.x, blockDim.x);
}

/* ---------------------------------------------------------------- gated linear unit */

/* out[r, c] = act(x[r, c]) * x[r, width + c]  (x [rows, 2*width]; act: exact GELU when gelu != 0). */
template <typename T>
__global__ void glu_kernel(const T *x, T *out, int rows, int width, int gelu) {
    ribo_glu_thread<T>(x, out, rows, width, gelu, blockIdx.x * (size_t)blockDim.x + threadIdx.x,
                       (size_t)gridDim.x * blockDim.x);
}

/* ---------------------------------------------------------------- convert */

/* dst[i] = (T) src[i]  (weights upload). */
template <typename T>
__global__ void convert_kernel(T *dst, const float *src, size_t n) {
    ribo_convert_thread<T>(dst, src, n, blockIdx.x * (size_t)blockDim.x + threadIdx.x, (size_t)gridDim.x * blockDim.x);
}

/* ---------------------------------------------------------------- entry points */

template <typename T>
static void run_embed(const ribo_embed_args *a, cudaStream_t st) {
    embed_kernel<T><<<a->n_tokens, threads_for(a->width), 0, st>>>(
        (const int *)ribo_cuda_ptr(a->tokens), (const int *)ribo_cuda_ptr(a->seq_of_token),
        (const float *)ribo_cuda_ptr(a->seq_scale), (const T *)ribo_cuda_ptr(a->table),
        a->add_row.buf ? (const T *)ribo_cuda_ptr(a->add_row) : (const T *)NULL, (T *)ribo_cuda_ptr(a->out), a->width,
        a->mask_id);
}

ribo_status ribo_cuda_embed(ribo_stream *s, const ribo_embed_args *a, ribo_error *err) {
    RIBO_TRY(ribo_cuda_use(s->dev, err));
    DISPATCH(ribo_cuda_dev(s->dev)->storage, run_embed, a, ribo_cuda_stream(s));
    return launched(s, "embed", err);
}

template <typename T>
static void run_glu(const ribo_glu_args *a, cudaStream_t st) {
    size_t n = (size_t)a->rows * a->width;
    unsigned blocks = grid_for(n, 256) < 65535u ? grid_for(n, 256) : 65535u;
    glu_kernel<T><<<blocks, 256, 0, st>>>((const T *)ribo_cuda_ptr(a->x), (T *)ribo_cuda_ptr(a->out), a->rows, a->width,
                                          a->act == RIBO_ACT_GELU_ERF);
}

ribo_status ribo_cuda_glu(ribo_stream *s, const ribo_glu_args *a, ribo_error *err) {
    RIBO_TRY(ribo_cuda_use(s->dev, err));
    DISPATCH(ribo_cuda_dev(s->dev)->storage, run_glu, a, ribo_cuda_stream(s));
    return launched(s, "glu", err);
}

template <typename T>
static void run_convert(ribo_dptr dst, ribo_dptr src, size_t count, cudaStream_t st) {
    unsigned blocks = grid_for(count, 256) < 65535u ? grid_for(count, 256) : 65535u;
    convert_kernel<T><<<blocks, 256, 0, st>>>((T *)ribo_cuda_ptr(dst), (const float *)ribo_cuda_ptr(src), count);
}

ribo_status ribo_cuda_convert_from_f32(ribo_stream *s, ribo_dptr dst, ribo_dptr src, size_t count, ribo_error *err) {
    RIBO_TRY(ribo_cuda_use(s->dev, err));
    DISPATCH(ribo_cuda_dev(s->dev)->storage, run_convert, dst, src, count, ribo_cuda_stream(s));
    return launched(s, "convert", err);
}
