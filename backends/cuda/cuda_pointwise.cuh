/* Per-thread bodies of the CUDA backend's kernels without collectives - embed, the gated linear unit,
 * the fp32 -> storage conversion (cuda_kernels.cu) and the per-residue pool copy (cuda_pool.cu) -
 * shared by the kernels and the CPU emulator test (tests/test_simt_emu.cu). No shuffles or barriers:
 * the same on 32- and 64-lane waves. Storage T is float, __half or __nv_bfloat16; arithmetic fp32.
 * The includer defines RIBO_EW_FN (as for cuda_elementwise.cuh, included here). */
#ifndef RIBO_CUDA_POINTWISE_CUH
#define RIBO_CUDA_POINTWISE_CUH

#include "cuda_elementwise.cuh"

/* Token t's row, thread tid of nthreads: out[t, c] = table[tokens[t], c] * seq_scale[seq_of_token[t]]
 * (0 where tokens[t] == mask_id) + add_row[c] (when add_row != NULL), for c = tid, tid + nthreads, ... */
template <typename T>
RIBO_EW_FN void ribo_embed_row(const int *tokens, const int *seq_of_token, const float *seq_scale, const T *table,
                               const T *add_row, T *out, int width, int mask_id, int t, unsigned tid,
                               unsigned nthreads) {
    int tok = tokens[t];
    float scale = seq_scale[seq_of_token[t]];
    for (int c = (int)tid; c < width; c += nthreads) {
        float v = tok == mask_id ? 0.0f : ribo_ew_to_f(table[(size_t)tok * width + c]) * scale;
        if (add_row) v += ribo_ew_to_f(add_row[c]);
        out[(size_t)t * width + c] = ribo_ew_from_f<T>(v);
    }
}

/* Thread `first` of a grid of `stride` threads: out[r, c] = act(x[r, c]) * x[r, width + c] for the
 * elements i = r * width + c = first, first + stride, ... (x [rows, 2*width]; act: exact GELU when
 * gelu != 0). */
template <typename T>
RIBO_EW_FN void ribo_glu_thread(const T *x, T *out, int rows, int width, int gelu, size_t first, size_t stride) {
    size_t n = (size_t)rows * width;
    for (size_t i = first; i < n; i += stride) {
        size_t r = i / width, c = i % width;
        float g = ribo_ew_to_f(x[r * 2 * width + c]);
        if (gelu) g = ribo_ew_gelu_erf(g);
        out[i] = ribo_ew_from_f<T>(g * ribo_ew_to_f(x[r * 2 * width + width + c]));
    }
}

/* Thread `first` of a grid of `stride` threads: dst[i] = (T) src[i] for i = first, first + stride, ... */
template <typename T>
RIBO_EW_FN void ribo_convert_thread(T *dst, const float *src, size_t n, size_t first, size_t stride) {
    for (size_t i = first; i < n; i += stride) dst[i] = ribo_ew_from_f<T>(src[i]);
}

/* Token t, thread tid of nthreads, of the per-residue copy-out: a kept row t of sequence s (not among
 * the first skip_begin or last skip_end of its sequence) goes to fp32
 * out[t - s*(skip_begin+skip_end) - skip_begin, :]; other rows write nothing. */
template <typename T>
RIBO_EW_FN void ribo_pool_copy_row(const T *x, const int *cu, const int *seq_of_token, float *out, int width,
                                   int skip_begin, int skip_end, int t, unsigned tid, unsigned nthreads) {
    int s = seq_of_token[t];
    if (t < cu[s] + skip_begin || t >= cu[s + 1] - skip_end) return;
    size_t dst = (size_t)(t - s * (skip_begin + skip_end) - skip_begin);
    for (int c = (int)tid; c < width; c += nthreads) out[dst * width + c] = ribo_ew_to_f(x[(size_t)t * width + c]);
}

#endif
