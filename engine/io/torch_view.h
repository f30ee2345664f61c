/* One PyTorch tensor (a view of a storage: offset, shape, strides) checked against its storage's
 * bytes and added to a tensor set: pointing into the storage when contiguous, else copied into a
 * contiguous buffer the set owns. Internal to the PyTorch reader. */
#ifndef RIBO_ENGINE_TORCH_VIEW_H
#define RIBO_ENGINE_TORCH_VIEW_H

#include <stdint.h>

#include "engine/io/torch_pickle.h"

/* Adds tensor t of storage s, whose bytes are base[0, avail) (the zip entry or the legacy record),
 * as a tensor of file index. Checks, before reading anything: a known dtype, at most
 * RIBO_ST_MAX_DIMS dimensions, no negative size, stride or offset, s->numel * element size within
 * avail, and every element of the view inside the storage (overflow-safe). Errors name the file
 * and the tensor. */
ribo_status ribo_torch_add_view(ribo_safetensors *set, size_t index, const ribo_torch_tensor *t,
                                const ribo_torch_storage *s, const unsigned char *base, uint64_t avail,
                                ribo_error *err);

#endif
