/* LayerNorm over each row of x [rows, width]: out = (x - mean) / sqrt(var + eps) * gamma + beta,
 * mean and (biased) variance in two passes for accuracy. One work-group (RIBO_LN_WG items) per row;
 * groups past `rows` touch no memory (they still pass every barrier: no early return, which some
 * compilers, PoCL among them, mishandle around barriers). */
__kernel __attribute__((reqd_work_group_size(RIBO_LN_WG, 1, 1)))
void ribo_layer_norm(__global const float *x, ulong x_off, __global const float *gamma, ulong g_off,
                     __global const float *beta, ulong b_off, __global float *out, ulong out_off, int width,
                     float eps, int rows) {
    __local float partial[RIBO_LN_WG];
    int row = get_group_id(1), lid = get_local_id(0);
    int active_width = row < rows ? width : 0; /* uniform over the work-group */
    __global const float *xr = PTR(x, x_off) + (size_t)row * width;
    float sum = 0.0f;
    for (int c = lid; c < active_width; c += RIBO_LN_WG) sum += xr[c];
    partial[lid] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = RIBO_LN_WG / 2; s > 0; s >>= 1) {
        if (lid < s) partial[lid] += partial[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float mean = partial[0] / width;
    barrier(CLK_LOCAL_MEM_FENCE);
    float sq = 0.0f;
    for (int c = lid; c < active_width; c += RIBO_LN_WG) {
        float d = xr[c] - mean;
        sq += d * d;
    }
    partial[lid] = sq;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = RIBO_LN_WG / 2; s > 0; s >>= 1) {
        if (lid < s) partial[lid] += partial[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float rstd = rsqrt(partial[0] / width + eps);
    __global float *orow = PTR(out, out_off) + (size_t)row * width;
    __global const float *gm = PTR(gamma, g_off), *bt = PTR(beta, b_off);
    for (int c = lid; c < active_width; c += RIBO_LN_WG) orow[c] = (xr[c] - mean) * rstd * gm[c] + bt[c];
}
