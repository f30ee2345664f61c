/* Token embedding with ESM token-dropout scaling and an optional added row (BERT token type 0):
 * out[t, c] = table[tokens[t], c] * seq_scale[seq_of_token[t]] (0 where tokens[t] == mask_id)
 *           + add_row[c] (when has_add).
 * Grid: (width, T), items past either bound do nothing. */
__kernel void ribo_embed(__global const int *tokens, ulong tokens_off, __global const int *seq_of_token,
                         ulong sot_off, __global const float *seq_scale, ulong scale_off,
                         __global const float *table, ulong table_off, __global const float *add_row, ulong add_off,
                         __global float *out, ulong out_off, int width, int mask_id, int has_add, int n_tokens) {
    int c = get_global_id(0), t = get_global_id(1);
    if (c >= width || t >= n_tokens) return;
    int tok = PTR(tokens, tokens_off)[t];
    float scale = PTR(seq_scale, scale_off)[PTR(seq_of_token, sot_off)[t]];
    float v = tok == mask_id ? 0.0f : PTR(table, table_off)[(size_t)tok * width + c] * scale;
    if (has_add) v += PTR(add_row, add_off)[c];
    PTR(out, out_off)[(size_t)t * width + c] = v;
}
