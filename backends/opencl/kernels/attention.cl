/* Packed variable-length bidirectional attention with online softmax. For token t of sequence s
 * (tokens cu_seqlens[s] .. cu_seqlens[s+1]-1) and head h:
 *   out[t, h*D + :] = sum_j softmax_j(q_t . k_j * scale - slope_h * |i - j|) v_j,  j in sequence s only,
 * where i, j are positions within the sequence (ALiBi term only when has_alibi). No padding, no mask
 * tensor: the key range is the sequence's own. qkv is [T, 3*H*D] (Q | K | V). Grid: (H, T), items past
 * either bound do nothing. */
__kernel void ribo_attention(__global const float *qkv, ulong qkv_off, __global const int *cu_seqlens,
                             ulong cu_off, __global const int *seq_of_token, ulong sot_off,
                             __global const float *alibi, ulong alibi_off, __global float *out, ulong out_off,
                             int n_heads, int head_dim, float scale, int has_alibi, int n_tokens) {
    int h = get_global_id(0), t = get_global_id(1);
    if (h >= n_heads || t >= n_tokens) return;
    int s = PTR(seq_of_token, sot_off)[t];
    int begin = PTR(cu_seqlens, cu_off)[s], end = PTR(cu_seqlens, cu_off)[s + 1];
    int hd = n_heads * head_dim;
    size_t row = (size_t)3 * hd;
    __global const float *base = PTR(qkv, qkv_off);
    __global const float *q = base + (size_t)t * row + h * head_dim;
    float qv[RIBO_MAX_HEAD_DIM], acc[RIBO_MAX_HEAD_DIM];
    for (int d = 0; d < head_dim; ++d) {
        qv[d] = q[d] * scale;
        acc[d] = 0.0f;
    }
    float slope = has_alibi ? PTR(alibi, alibi_off)[h] : 0.0f;
    float m = -INFINITY, l = 0.0f;
    for (int j = begin; j < end; ++j) {
        __global const float *k = base + (size_t)j * row + hd + h * head_dim;
        float score = 0.0f;
        for (int d = 0; d < head_dim; ++d) score += qv[d] * k[d];
        if (has_alibi) score -= slope * (float)abs(t - j);
        if (score > m) {
            float corr = exp(m - score);
            l *= corr;
            for (int d = 0; d < head_dim; ++d) acc[d] *= corr;
            m = score;
        }
        float p = exp(score - m);
        l += p;
        __global const float *v = base + (size_t)j * row + 2 * hd + h * head_dim;
        for (int d = 0; d < head_dim; ++d) acc[d] += p * v[d];
    }
    __global float *o = PTR(out, out_off) + (size_t)t * hd + h * head_dim;
    float inv = 1.0f / l;
    for (int d = 0; d < head_dim; ++d) o[d] = acc[d] * inv;
}
