/* Segment pooling of x [T, width] per packed sequence s (tokens cu[s] .. cu[s+1]-1), over the rows
 * [cu[s] + skip_begin, cu[s+1] - skip_end):
 *   ribo_pool_mean:  out[s, c] = mean of those rows (0 if none), summed with Kahan compensation so
 *                    long sequences (thousands of residues) keep full float accuracy
 *   ribo_pool_first: out[s, c] = x[cu[s], c]
 * Grid: (width, n_seqs), items past either bound do nothing. Output fp32. */
__kernel void ribo_pool_mean(__global const float *x, ulong x_off, __global const int *cu, ulong cu_off,
                             __global float *out, ulong out_off, int width, int skip_begin, int skip_end,
                             int n_seqs) {
    int c = get_global_id(0), s = get_global_id(1);
    if (c >= width || s >= n_seqs) return;
    int begin = PTR(cu, cu_off)[s] + skip_begin, end = PTR(cu, cu_off)[s + 1] - skip_end;
    __global const float *xs = PTR(x, x_off);
    float sum = 0.0f, comp = 0.0f; /* comp: low-order bits lost from sum so far (negated) */
    for (int t = begin; t < end; ++t) {
        float y = xs[(size_t)t * width + c] - comp;
        float next = sum + y;
        comp = (next - sum) - y;
        sum = next;
    }
    PTR(out, out_off)[(size_t)s * width + c] = end > begin ? sum / (float)(end - begin) : 0.0f;
}

__kernel void ribo_pool_first(__global const float *x, ulong x_off, __global const int *cu, ulong cu_off,
                              __global float *out, ulong out_off, int width, int skip_begin, int skip_end,
                              int n_seqs) {
    int c = get_global_id(0), s = get_global_id(1);
    if (c >= width || s >= n_seqs) return;
    int t = PTR(cu, cu_off)[s];
    PTR(out, out_off)[(size_t)s * width + c] = PTR(x, x_off)[(size_t)t * width + c];
}

/* Per-residue copy-out: every kept row of every sequence goes to a compacted fp32 output,
 * out[(t - s*(skip_begin+skip_end) - skip_begin), c] = x[t, c]. Grid: (width, T), items past either
 * bound do nothing. */
__kernel void ribo_pool_copy(__global const float *x, ulong x_off, __global const int *cu, ulong cu_off,
                             __global const int *seq_of_token, ulong sot_off, __global float *out, ulong out_off,
                             int width, int skip_begin, int skip_end, int n_tokens) {
    int c = get_global_id(0), t = get_global_id(1);
    if (c >= width || t >= n_tokens) return;
    int s = PTR(seq_of_token, sot_off)[t];
    int begin = PTR(cu, cu_off)[s], end = PTR(cu, cu_off)[s + 1];
    if (t < begin + skip_begin || t >= end - skip_end) return;
    int dst = t - s * (skip_begin + skip_end) - skip_begin;
    PTR(out, out_off)[(size_t)dst * width + c] = PTR(x, x_off)[(size_t)t * width + c];
}
