/* What a PyTorch checkpoint's pickle says, read without Python: the storages its tensors live in
 * and, per state_dict name, the view of a storage each tensor is. Only allow-listed classes are
 * accepted (collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter[_with_state],
 * torch._tensor._rebuild_from_type_v2, torch.Tensor, torch.nn.parameter.Parameter, torch.*Storage);
 * any other class is refused by name and nothing is ever executed. */
#ifndef RIBO_ENGINE_TORCH_PICKLE_H
#define RIBO_ENGINE_TORCH_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/io/safetensors.h"

#define RIBO_TORCH_MAX_DIMS 16 /* what the pickle reader keeps; the tensor set takes RIBO_ST_MAX_DIMS */

typedef struct ribo_torch_storage {
    char *key;                /* "0", "1", ... (zip) or an address string (legacy) */
    char type_name[32];       /* e.g. "FloatStorage" */
    ribo_st_dtype dtype;      /* RIBO_ST_OTHER_DTYPE: a storage type ribo has no dtype for */
    size_t elsize;            /* bytes per element; 0 when unknown */
    int64_t numel;            /* in elements, as the persistent id says */
} ribo_torch_storage;

typedef struct ribo_torch_tensor {
    char *name;               /* the state_dict key */
    size_t storage;           /* index in storages */
    int64_t offset;           /* in elements */
    int ndim;
    int64_t shape[RIBO_TORCH_MAX_DIMS], stride[RIBO_TORCH_MAX_DIMS];
} ribo_torch_tensor;

typedef struct ribo_torch_pickle {
    ribo_torch_storage *storages;
    size_t n_storages;
    ribo_torch_tensor *tensors;
    size_t n_tensors;
} ribo_torch_pickle;

/* Reads the state_dict pickle at buf[0, len): a dict of name -> tensor, possibly inside
 * {'state_dict': ...}, {'model': ...}, {'module': ...} or {'model_state_dict': ...}; entries whose
 * value is not a tensor are skipped. *consumed: bytes up to and including STOP. Every storage any
 * persistent id names is listed, also those of skipped entries. Errors name `what`. */
ribo_status ribo_torch_pickle_read(const unsigned char *buf, size_t len, const char *what, ribo_torch_pickle *out,
                                   size_t *consumed, ribo_error *err);
void ribo_torch_pickle_free(ribo_torch_pickle *p);

#endif
