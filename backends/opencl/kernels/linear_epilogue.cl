/* GEMM epilogue applied in place on out [M, N] after CLBlast computed x @ w^T:
 * out[m, n] = act(out[m, n] + bias[n]) + residual[m, n]; act 1 = exact (erf) GELU.
 * Grid: (N, M), items past either bound do nothing. has_bias / has_residual select the optional terms. */
__kernel void ribo_linear_epilogue(__global float *out, ulong out_off, __global const float *bias, ulong bias_off,
                                   __global const float *residual, ulong res_off, int n, int has_bias,
                                   int has_residual, int act, int m_rows) {
    int c = get_global_id(0), m = get_global_id(1);
    if (c >= n || m >= m_rows) return;
    size_t i = (size_t)m * n + c;
    float v = PTR(out, out_off)[i];
    if (has_bias) v += PTR(bias, bias_off)[c];
    if (act == 1) v = 0.5f * v * (1.0f + erf(v * 0.70710678118654752f));
    if (has_residual) v += PTR(residual, res_off)[i];
    PTR(out, out_off)[i] = v;
}
