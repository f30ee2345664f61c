/* Diagnostic hooks of the CUDA backend, callable from C (the op tests use them); not part of the
 * public API. */
#ifndef RIBO_CUDA_DEBUG_H
#define RIBO_CUDA_DEBUG_H

#include "engine/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The attention kernel an open CUDA device runs for head size head_dim (with its storage type, the
 * RIBO_ATTENTION value read when it was opened and 16-byte aligned buffers): "mma", "wmma", "simt"
 * (tiled CUDA-core kernel) or "generic". */
const char *ribo_cuda_attention_path(ribo_device *dev, int head_dim);

/* Whether attention with rotary rotates Q (and K) inside the mma kernel on this device for head size
 * head_dim (no ALiBi, aligned tensors): the backend's own decision, which no graph op expresses. */
bool ribo_cuda_attention_fuses_rotary(ribo_device *dev, int head_dim);

/* The LayerNorm kernel an open CUDA device runs for rows of `width` elements (16-byte aligned tensors,
 * RIBO_LAYER_NORM as read at open): "warp" (a row per warp, held in registers), "4warps" (a row per
 * four warps) or "block" (the one-block-per-row kernel). */
const char *ribo_cuda_layer_norm_path(ribo_device *dev, int width);

#ifdef __cplusplus
}
#endif

#endif
