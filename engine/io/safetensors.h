/* Model weights: safetensors (mmap'd, JSON header parsed with cJSON) or PyTorch .bin checkpoints
 * (torch_bin.h), every entry validated; one tensor set whichever the format (checkpoint.h). */
#ifndef RIBO_ENGINE_SAFETENSORS_H
#define RIBO_ENGINE_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/base/error.h"

typedef enum ribo_st_dtype {
    RIBO_ST_F32, RIBO_ST_F16, RIBO_ST_BF16, RIBO_ST_F64,
    RIBO_ST_I64, RIBO_ST_I32, RIBO_ST_I16, RIBO_ST_I8, RIBO_ST_U8, RIBO_ST_BOOL,
    RIBO_ST_OTHER_DTYPE
} ribo_st_dtype;

#define RIBO_ST_MAX_DIMS 8

typedef struct ribo_st_tensor {
    const char *name;
    ribo_st_dtype dtype;
    const char *dtype_name;     /* as written in the header, e.g. "BF16" */
    int ndim;
    int64_t shape[RIBO_ST_MAX_DIMS];
    int64_t n_elements;
    const void *data;           /* into the mapping */
    size_t nbytes;
    const char *file;           /* path of the file holding it */
} ribo_st_tensor;

typedef struct ribo_safetensors ribo_safetensors;

/* Opens a model directory's weights, the first of: model.safetensors; the shards listed by
 * model.safetensors.index.json ("weight_map": name -> file); pytorch_model.bin; the shards listed by
 * pytorch_model.bin.index.json (torch_bin.h reads PyTorch files). Validates, per safetensors file:
 * size >= 8, header length within the file, header is a JSON object, each tensor has a known dtype,
 * a shape of non-negative ints and data_offsets [begin,end] with begin <= end, end <= data size,
 * end-begin == n_elements * dtype size, no two tensors overlapping; per PyTorch file the same of every
 * view and storage; and for shards that every tensor named in the index is present in the file it
 * names. Errors name the file and tensor. */
ribo_status ribo_safetensors_open_dir(const char *model_dir, ribo_safetensors **out, ribo_error *err);
/* Same for one file. */
ribo_status ribo_safetensors_open_file(const char *path, ribo_safetensors **out, ribo_error *err);

size_t ribo_safetensors_count(const ribo_safetensors *st);
const ribo_st_tensor *ribo_safetensors_at(const ribo_safetensors *st, size_t i);
/* Exact-name lookup; NULL if absent. */
const ribo_st_tensor *ribo_safetensors_find(const ribo_safetensors *st, const char *name);
/* True when some tensor's name contains needle (e.g. "attention.self.Wqkv."). */
bool ribo_safetensors_any_name_contains(const ribo_safetensors *st, const char *needle);

/* Converts F32/F16/BF16 data to float32 (dst holds n_elements); other dtypes -> RIBO_ERR_MODEL naming the tensor. */
ribo_status ribo_st_to_f32(const ribo_st_tensor *t, float *dst, ribo_error *err);
/* The same for elements [begin, begin + n) of t (dst holds n). */
ribo_status ribo_st_range_to_f32(const ribo_st_tensor *t, size_t begin, size_t n, float *dst, ribo_error *err);

size_t ribo_st_dtype_size(ribo_st_dtype dtype);
/* True for the floating-point dtypes ribo_st_to_f32 converts (F32, F16, BF16). */
bool ribo_st_is_float(ribo_st_dtype dtype);

void ribo_safetensors_close(ribo_safetensors *st);

#endif
