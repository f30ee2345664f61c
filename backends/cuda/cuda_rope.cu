/* CUDA backend rotary embedding (ESM-2's split-half / NeoX rotation) as the separate in-place pass
 * over qkv: the per-element kernel (any even head size; inv_freq per element in double above 128) and
 * the vectorized one (ribo_ew_rotary_thread in cuda_elementwise.cuh, shared with the CPU emulator
 * test), the k-only variant for the attention that rotates q itself (RIBO_FUSE_ROTARY=q, see
 * cuda_attention.cu), the host table of inverse frequencies and ribo_cuda_rotary, the pass attention
 * runs first where it does not rotate inside its kernel. Checked against ref_rotary (tests/ref_ops.c)
 * by tests/test_ops.c (test_attention_rotary, test_attention_rotary16) and tests/test_elementwise_emu.cu. */
#include <math.h>
#include <string.h>

#include "cuda_launch.cuh"

#define RIBO_EW_FN __device__ __forceinline__
#include "cuda_elementwise.cuh"

/* ---------------------------------------------------------------- rotary */

/* inv_freq_i = 1 / theta^(2i/D) rounded to float as transformers computes it (float exponent, the
 * power rounded to float, then the reciprocal rounded to float). */
__host__ __device__ static float rotary_inv_freq(float theta, int i, int head_dim) {
    float p = (float)pow((double)theta, (double)((float)(2 * i) / (float)head_dim));
    return (float)(1.0 / (double)p);
}

void ribo_cuda_rope_freqs_fill(ribo_cuda_rope_freqs *f, float theta, int head_dim) {
    memset(f, 0, sizeof *f);
    for (int i = 0; i < head_dim / 2 && i < RIBO_CUDA_ROPE_MAX_HALF; ++i) f->inv[i] = rotary_inv_freq(theta, i, head_dim);
}

/* In place on qkv [T, 3*H*D]: q *= q_scale, then the split-half (NeoX) rotary rotation of q and k by
 * angle pos * inv_freq_i (the angle rounded to float as transformers does). inv_freq comes from the
 * launch's table (PRE) or, for head sizes above 128, is computed per element in double.
 * One thread per (token, head, i < D/2). */
template <typename T, bool PRE>
__global__ void rotary_kernel(T *qkv, const int *positions, int n_tokens, int n_heads, int head_dim, float theta,
                              float q_scale, ribo_cuda_rope_freqs freqs) {
    int half = head_dim / 2;
    size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (idx >= (size_t)n_tokens * n_heads * half) return;
    int i = (int)(idx % half), h = (int)((idx / half) % n_heads), t = (int)(idx / ((size_t)half * n_heads));
    float inv_freq;
    if constexpr (PRE) inv_freq = freqs.inv[i];
    else inv_freq = rotary_inv_freq(theta, i, head_dim);
    float angle = (float)positions[t] * inv_freq;
    float s, c;
    sincosf(angle, &s, &c);
    int hd = n_heads * head_dim;
    T *q = qkv + (size_t)t * 3 * hd + h * head_dim, *k = q + hd;
    float q1 = to_f(q[i]) * q_scale, q2 = to_f(q[i + half]) * q_scale;
    q[i] = from_f<T>(q1 * c - q2 * s);
    q[i + half] = from_f<T>(q2 * c + q1 * s);
    float k1 = to_f(k[i]), k2 = to_f(k[i + half]);
    k[i] = from_f<T>(k1 * c - k2 * s);
    k[i + half] = from_f<T>(k2 * c + k1 * s);
}

/* The same rotation (inv_freq from the table, head sizes up to 128) with C consecutive pairs per thread,
 * q and k halves moved as C-element vectors (ribo_ew_rotary_thread; C * sizeof(T) = 16 or 8 bytes,
 * (D/2) % C == 0, qkv aligned to C * sizeof(T)). One thread per (token, head, C pairs); inv_freq staged
 * in shared memory (a kernel parameter whose address is taken would be copied per thread). */
template <typename T, int C, bool ROT_Q>
__global__ void rotary_vec_kernel(T *qkv, const int *positions, int n_tokens, int n_heads, int head_dim, float q_scale,
                                  ribo_cuda_rope_freqs freqs) {
    __shared__ float inv_freq[RIBO_CUDA_ROPE_MAX_HALF];
    for (int i = (int)threadIdx.x; i < head_dim / 2; i += (int)blockDim.x) inv_freq[i] = freqs.inv[i];
    __syncthreads();
    ribo_ew_rotary_thread<T, C, ROT_Q>(qkv, positions, n_tokens, n_heads, head_dim, q_scale, inv_freq,
                                       blockIdx.x * (size_t)blockDim.x + threadIdx.x);
}

/* ---------------------------------------------------------------- launch and entry */

template <typename T, int C, bool ROT_Q = true>
static void launch_rotary_vec(const ribo_cuda_rotary_args *a, const ribo_cuda_rope_freqs &f, cudaStream_t st) {
    const size_t n = (size_t)a->n_tokens * a->n_heads * (a->head_dim / 2 / C);
    rotary_vec_kernel<T, C, ROT_Q><<<grid_for(n, 256), 256, 0, st>>>(
        (T *)ribo_cuda_ptr(a->qkv), (const int *)ribo_cuda_ptr(a->positions), a->n_tokens, a->n_heads, a->head_dim,
        a->q_scale, f);
}

/* The separate pass on k only (q is left for the attention kernel), vectorized; false (nothing
 * launched) where no vector width fits. */
template <typename T>
static bool run_rotary_k_only(const ribo_cuda_rotary_args *a, cudaStream_t st) {
    const int half = a->head_dim / 2;
    if (half > RIBO_CUDA_ROPE_MAX_HALF) return false;
    ribo_cuda_rope_freqs f;
    ribo_cuda_rope_freqs_fill(&f, a->theta, a->head_dim);
    constexpr int C16 = (int)(16 / sizeof(T)), C8 = (int)(8 / sizeof(T));
    T *qkv = (T *)ribo_cuda_ptr(a->qkv);
    if (half % C16 == 0 && aligned_to(qkv, 16)) launch_rotary_vec<T, C16, false>(a, f, st);
    else if (half % C8 == 0 && aligned_to(qkv, 8)) launch_rotary_vec<T, C8, false>(a, f, st);
    else return false;
    return true;
}

bool ribo_cuda_rotary_k_only(const ribo_cuda_rotary_args *a, ribo_storage storage, cudaStream_t st) {
    if (storage == RIBO_STORAGE_F16) return run_rotary_k_only<__half>(a, st);
    return run_rotary_k_only<__nv_bfloat16>(a, st);
}

/* Vector widths: 16 bytes where (D/2) is a multiple of 16 / sizeof(T) and qkv is 16-byte aligned, else 8
 * bytes, else one element per thread (and head sizes above 128: inv_freq computed per element). */
template <typename T>
static void run_rotary(const ribo_cuda_rotary_args *a, cudaStream_t st) {
    size_t n = (size_t)a->n_tokens * a->n_heads * (a->head_dim / 2);
    ribo_cuda_rope_freqs f;
    const int half = a->head_dim / 2;
    const bool pre = half <= RIBO_CUDA_ROPE_MAX_HALF;
    ribo_cuda_rope_freqs_fill(&f, a->theta, pre ? a->head_dim : 0);
    T *qkv = (T *)ribo_cuda_ptr(a->qkv);
    const int *pos = (const int *)ribo_cuda_ptr(a->positions);
    constexpr int C16 = (int)(16 / sizeof(T)), C8 = (int)(8 / sizeof(T));
    if (pre && half % C16 == 0 && aligned_to(qkv, 16)) {
        launch_rotary_vec<T, C16>(a, f, st);
        return;
    }
    if (pre && half % C8 == 0 && aligned_to(qkv, 8)) {
        launch_rotary_vec<T, C8>(a, f, st);
        return;
    }
    if (pre)
        rotary_kernel<T, true><<<grid_for(n, 256), 256, 0, st>>>(qkv, pos, a->n_tokens, a->n_heads, a->head_dim, a->theta,
                                                                a->q_scale, f);
    else
        rotary_kernel<T, false><<<grid_for(n, 256), 256, 0, st>>>(qkv, pos, a->n_tokens, a->n_heads, a->head_dim,
                                                                 a->theta, a->q_scale, f);
}

ribo_status ribo_cuda_rotary(ribo_stream *s, const ribo_cuda_rotary_args *a, ribo_error *err) {
    if (a->head_dim % 2) return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, RIBO_GPU_NAME ": rotary needs an even head_dim (got %d)", a->head_dim);
    RIBO_TRY(ribo_cuda_use(s->dev, err));
    DISPATCH(ribo_cuda_dev(s->dev)->storage, run_rotary, a, ribo_cuda_stream(s));
    return launched(s, "rotary", err);
}
