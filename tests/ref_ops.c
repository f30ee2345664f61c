#include "ref_ops.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

/* The product is rounded to fp32 before add_row is added, as the fp32 kernels round it: each step is
 * one double operation rounded to float, which gives the fp32 result bit for bit. */
void ref_embed(const int32_t *tokens, const int32_t *seq_of_token, const float *seq_scale, const float *table,
               const float *add_row, float *out, int n_tokens, int width, int mask_id) {
    for (int t = 0; t < n_tokens; ++t)
        for (int c = 0; c < width; ++c) {
            float v = tokens[t] == mask_id
                          ? 0.0f
                          : (float)((double)table[(size_t)tokens[t] * width + c] * seq_scale[seq_of_token[t]]);
            if (add_row) v = (float)((double)v + add_row[c]);
            out[(size_t)t * width + c] = v;
        }
}

void ref_layer_norm(const float *x, const float *gamma, const float *beta, float *out, int rows, int width, float eps) {
    for (int r = 0; r < rows; ++r) {
        const float *xr = x + (size_t)r * width;
        double mean = 0, var = 0;
        for (int c = 0; c < width; ++c) mean += xr[c];
        mean /= width;
        for (int c = 0; c < width; ++c) var += (xr[c] - mean) * (xr[c] - mean);
        var /= width;
        double rstd = 1.0 / sqrt(var + eps);
        for (int c = 0; c < width; ++c) out[(size_t)r * width + c] = (float)((xr[c] - mean) * rstd * gamma[c] + beta[c]);
    }
}

void ref_linear(const float *x, const float *w, const float *bias, const float *residual, float *out, int m, int n,
                int k, int act) {
    for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
            double acc = bias ? bias[j] : 0.0;
            for (int q = 0; q < k; ++q) acc += (double)x[(size_t)i * k + q] * w[(size_t)j * k + q];
            if (act == 1) acc = 0.5 * acc * (1.0 + erf(acc / sqrt(2.0)));
            if (residual) acc += residual[(size_t)i * n + j];
            out[(size_t)i * n + j] = (float)acc;
        }
}

void ref_glu(const float *x, float *out, int rows, int width, int act) {
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < width; ++c) {
            double g = x[(size_t)r * 2 * width + c], u = x[(size_t)r * 2 * width + width + c];
            if (act == 1) g = 0.5 * g * (1.0 + erf(g / sqrt(2.0)));
            out[(size_t)r * width + c] = (float)(g * u);
        }
}

void ref_rotary(float *qkv, const int32_t *positions, int n_tokens, int n_heads, int head_dim, float theta,
                float q_scale) {
    int hd = n_heads * head_dim, half = head_dim / 2;
    for (int t = 0; t < n_tokens; ++t)
        for (int h = 0; h < n_heads; ++h)
            for (int i = 0; i < half; ++i) {
                double inv_freq = 1.0 / pow(theta, (double)(2 * i) / head_dim);
                double a = positions[t] * inv_freq, c = cos(a), s = sin(a);
                float *q = qkv + (size_t)t * 3 * hd + h * head_dim, *k = q + hd;
                double q1 = q[i] * (double)q_scale, q2 = q[i + half] * (double)q_scale;
                q[i] = (float)(q1 * c - q2 * s);
                q[i + half] = (float)(q2 * c + q1 * s);
                double k1 = k[i], k2 = k[i + half];
                k[i] = (float)(k1 * c - k2 * s);
                k[i + half] = (float)(k2 * c + k1 * s);
            }
}

void ref_attention(const float *qkv, const int32_t *cu, int n_seqs, const float *alibi, float *out, int n_heads,
                   int head_dim, float scale) {
    int hd = n_heads * head_dim;
    size_t row = (size_t)3 * hd;
    double *acc = malloc((size_t)head_dim * sizeof *acc);
    for (int s = 0; s < n_seqs; ++s) {
        int len = cu[s + 1] - cu[s];
        double *p = malloc((size_t)(len ? len : 1) * sizeof *p);
        for (int h = 0; h < n_heads; ++h)
            for (int i = cu[s]; i < cu[s + 1]; ++i) {
                const float *q = qkv + (size_t)i * row + h * head_dim;
                double mx = -INFINITY, sum = 0;
                for (int j = cu[s]; j < cu[s + 1]; ++j) {
                    const float *k = qkv + (size_t)j * row + hd + h * head_dim;
                    double d = 0;
                    for (int e = 0; e < head_dim; ++e) d += (double)q[e] * k[e];
                    d *= scale;
                    if (alibi) d -= alibi[h] * fabs((double)(i - j));
                    p[j - cu[s]] = d;
                    if (d > mx) mx = d;
                }
                for (int j = 0; j < len; ++j) sum += (p[j] = exp(p[j] - mx));
                /* keys outer, dimensions inner (rows of V read contiguously); per dimension the sum
                 * still runs over the keys in order */
                for (int e = 0; e < head_dim; ++e) acc[e] = 0;
                for (int j = cu[s]; j < cu[s + 1]; ++j) {
                    const float *v = qkv + (size_t)j * row + 2 * hd + h * head_dim;
                    double pj = p[j - cu[s]];
                    for (int e = 0; e < head_dim; ++e) acc[e] += pj * v[e];
                }
                for (int e = 0; e < head_dim; ++e) out[(size_t)i * hd + h * head_dim + e] = (float)(acc[e] / sum);
            }
        free(p);
    }
    free(acc);
}

void ref_pool(const float *x, const int32_t *cu, int n_seqs, float *out, int width, int skip_begin, int skip_end,
              int mode) {
    size_t dst = 0;
    for (int s = 0; s < n_seqs; ++s) {
        int b = cu[s] + skip_begin, e = cu[s + 1] - skip_end;
        if (mode == 1) {
            for (int c = 0; c < width; ++c) out[(size_t)s * width + c] = x[(size_t)cu[s] * width + c];
        } else if (mode == 0) {
            for (int c = 0; c < width; ++c) {
                double acc = 0;
                for (int t = b; t < e; ++t) acc += x[(size_t)t * width + c];
                out[(size_t)s * width + c] = e > b ? (float)(acc / (e - b)) : 0.0f;
            }
        } else {
            for (int t = b; t < e; ++t, ++dst)
                for (int c = 0; c < width; ++c) out[dst * width + c] = x[(size_t)t * width + c];
        }
    }
}
