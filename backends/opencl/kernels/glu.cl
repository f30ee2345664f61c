/* Gated linear unit: out[r, c] = act(x[r, c]) * x[r, width + c], x [rows, 2*width], out [rows, width];
 * act 1 = exact (erf) GELU (GeGLU), 0 = identity. Grid: (width, rows), items past either bound do nothing. */
__kernel void ribo_glu(__global const float *x, ulong x_off, __global float *out, ulong out_off, int width, int act,
                       int rows) {
    int c = get_global_id(0), r = get_global_id(1);
    if (c >= width || r >= rows) return;
    __global const float *xr = PTR(x, x_off) + (size_t)r * 2 * width;
    float g = xr[c];
    if (act == 1) g = 0.5f * g * (1.0f + erf(g * 0.70710678118654752f));
    PTR(out, out_off)[(size_t)r * width + c] = g * xr[width + c];
}
