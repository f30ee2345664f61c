/* PyTorch checkpoints (pytorch_model.bin) read without Python: the zip format of torch.save since
 * 1.6 (ZIP64 included) and the legacy format of _use_new_zipfile_serialization=False, each mapped
 * read-only. Contiguous tensors point into the mapping (not necessarily aligned); other views are
 * copied into contiguous buffers the tensor set owns. */
#ifndef RIBO_ENGINE_TORCH_BIN_H
#define RIBO_ENGINE_TORCH_BIN_H

#include <stddef.h>

#include "engine/io/safetensors.h"

/* Maps one checkpoint file (appended to the set; takes ownership of the malloc'd path) and adds
 * its validated tensors. */
ribo_status ribo_torch_bin_load_file(ribo_safetensors *set, char *path, ribo_error *err);

/* Adds the tensors of the checkpoint held in buf[0, len) as file `index` of the set (its path
 * names it in errors); the tensors point into buf, which must outlive the set. */
ribo_status ribo_torch_bin_parse(ribo_safetensors *set, size_t index, const unsigned char *buf, size_t len,
                                 ribo_error *err);

/* A tensor set of one checkpoint file (the counterpart of ribo_safetensors_open_file). */
ribo_status ribo_torch_bin_open_file(const char *path, ribo_safetensors **out, ribo_error *err);
/* A tensor set of a checkpoint held in memory, named `what` in errors (tests, fuzzing); the tensors
 * point into buf, which must outlive the set. */
ribo_status ribo_torch_bin_open_buffer(const char *what, const unsigned char *buf, size_t len, ribo_safetensors **out,
                                       ribo_error *err);

#endif
