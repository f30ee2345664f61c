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

#ifdef __cplusplus
}
#endif

#endif
