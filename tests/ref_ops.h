/* Plain C reference implementations (double accumulation) of every kernel in engine/backend.h,
 * used by the op tests to check each backend. Same argument conventions as the kernels. */
#ifndef RIBO_TEST_REF_OPS_H
#define RIBO_TEST_REF_OPS_H

#include <stdint.h>

/* add_row may be NULL; mask_id < 0: none */
void ref_embed(const int32_t *tokens, const int32_t *seq_of_token, const float *seq_scale, const float *table,
               const float *add_row, float *out, int n_tokens, int width, int mask_id);
void ref_layer_norm(const float *x, const float *gamma, const float *beta, float *out, int rows, int width, float eps);
/* bias/residual may be NULL; act 1 = erf GELU */
void ref_linear(const float *x, const float *w, const float *bias, const float *residual, float *out, int m, int n,
                int k, int act);
/* x is [rows, 2*width]: out[r,c] = act(x[r,c]) * x[r,width+c]; act 1 = erf GELU */
void ref_glu(const float *x, float *out, int rows, int width, int act);
void ref_rotary(float *qkv, const int32_t *positions, int n_tokens, int n_heads, int head_dim, float theta,
                float q_scale);
/* alibi may be NULL */
void ref_attention(const float *qkv, const int32_t *cu_seqlens, int n_seqs, const float *alibi, float *out,
                   int n_heads, int head_dim, float scale);
/* mode 0 mean, 1 first, 2 copy (compacted per-residue) */
void ref_pool(const float *x, const int32_t *cu_seqlens, int n_seqs, float *out, int width, int skip_begin,
              int skip_end, int mode);

#endif
