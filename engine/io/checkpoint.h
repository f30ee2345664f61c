/* The tensor set behind ribo_safetensors, built by either reader (safetensors.c, torch_bin.c): the
 * mapped files, the tensors (sorted by name once complete) and the buffers some of them own. The
 * lookup functions of safetensors.h are implemented on it (checkpoint.c). Internal to engine/io. */
#ifndef RIBO_ENGINE_CHECKPOINT_H
#define RIBO_ENGINE_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/io/safetensors.h"

/* One tensor plus the bookkeeping the readers' checks need. */
typedef struct ribo_ckpt_entry {
    ribo_st_tensor t;     /* first member: &entry->t is what callers see */
    uint64_t begin, end;  /* byte range in the file's data (safetensors: data_offsets) */
    size_t file_index;
    void *owned;          /* a copied (contiguous) view the set frees, or NULL */
} ribo_ckpt_entry;

/* An empty set; NULL when out of memory. */
ribo_safetensors *ribo_ckpt_new(void);

/* Appends a file (takes ownership of the malloc'd path, also on failure); *index is its number. */
ribo_status ribo_ckpt_add_file(ribo_safetensors *set, char *path, size_t *index, ribo_error *err);
/* Records the read-only mapping of file index (unmapped by ribo_safetensors_close). */
void ribo_ckpt_set_map(ribo_safetensors *set, size_t index, void *map, size_t size);
/* Opens file index (a regular file), maps it read-only and records the mapping; *base is NULL for
 * an empty file. Errors name the path. */
ribo_status ribo_ckpt_map(ribo_safetensors *set, size_t index, const unsigned char **base, uint64_t *size,
                          ribo_error *err);
const char *ribo_ckpt_file_path(const ribo_safetensors *set, size_t index);
size_t ribo_ckpt_file_count(const ribo_safetensors *set);

/* Appends a zeroed entry of file index with a copy of name (t.name, t.file set); NULL when out of
 * memory (err set, naming the file). */
ribo_ckpt_entry *ribo_ckpt_push(ribo_safetensors *set, size_t index, const char *name, ribo_error *err);
/* Entries [0, *n) in insertion order until ribo_ckpt_finish, then by name. */
ribo_ckpt_entry *ribo_ckpt_entries(ribo_safetensors *set, size_t *n);

/* Sorts the tensors by name and refuses a name seen twice (in one file or across files). */
ribo_status ribo_ckpt_finish(ribo_safetensors *set, ribo_error *err);

/* The safetensors reader (safetensors.c): maps one file (appended to the set; takes ownership of
 * the malloc'd path) and adds its validated tensors. */
ribo_status ribo_st_load_file(ribo_safetensors *set, char *path, ribo_error *err);

/* Dtypes (checkpoint_dtype.c): the safetensors header name of a dtype ("F32", "BF16", ...; "?" for
 * RIBO_ST_OTHER_DTYPE), and the dtype of a header name (false when unknown). */
const char *ribo_st_dtype_name(ribo_st_dtype dtype);
bool ribo_st_dtype_parse(const char *name, ribo_st_dtype *out);

#endif
