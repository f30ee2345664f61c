/* In place on qkv [T, 3*H*D]: q *= q_scale, then rotary position embedding in the split-half (NeoX)
 * layout on q and k: for i < D/2, (x_i, x_{i+D/2}) is rotated by angle pos * theta^(-2i/D).
 * inv_freq and the angle are rounded to float exactly as transformers computes them.
 * Grid: (D/2, H, T), items past any bound do nothing. */
__kernel void ribo_rotary(__global float *qkv, ulong qkv_off, __global const int *positions, ulong pos_off,
                          int n_heads, int head_dim, float theta, float q_scale, int n_tokens) {
    int i = get_global_id(0), h = get_global_id(1), t = get_global_id(2);
    int half_dim = head_dim / 2;
    if (i >= half_dim || h >= n_heads || t >= n_tokens) return;
#ifdef cl_khr_fp64
    float p = (float)pow((double)theta, (double)((float)(2 * i) / (float)head_dim));
    float inv_freq = (float)(1.0 / (double)p);
#else
    float inv_freq = 1.0f / pow(theta, (float)(2 * i) / (float)head_dim);
#endif
    float angle = (float)PTR(positions, pos_off)[t] * inv_freq;
    float c = cos(angle), s = sin(angle);
    int hd = n_heads * head_dim;
    __global float *q = PTR(qkv, qkv_off) + (size_t)t * 3 * hd + h * head_dim;
    __global float *k = q + hd;
    float q1 = q[i] * q_scale, q2 = q[i + half_dim] * q_scale;
    q[i] = q1 * c - q2 * s;
    q[i + half_dim] = q2 * c + q1 * s;
    float k1 = k[i], k2 = k[i + half_dim];
    k[i] = k1 * c - k2 * s;
    k[i + half_dim] = k2 * c + k1 * s;
}
