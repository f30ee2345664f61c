/* PyTorch views into tensor-set entries (torch_view.h). */
#include "engine/io/torch_view.h"

#include "engine/io/checkpoint.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- checks */

/* a * b into *out unless it exceeds limit. */
static bool mul_within(uint64_t a, uint64_t b, uint64_t limit, uint64_t *out) {
    if (a != 0 && b > limit / a) return false;
    *out = a * b;
    return true;
}

/* Validates the view's numbers; *n_el its element count, *last the storage index of its last
 * element (when n_el > 0), *contiguous whether it is row-major contiguous. */
static ribo_status check_view(const char *path, const ribo_torch_tensor *t, const ribo_torch_storage *s,
                              uint64_t avail, uint64_t *n_el, uint64_t *last, bool *contiguous, ribo_error *err) {
    const char *name = t->name;
    if (s->dtype == RIBO_ST_OTHER_DTYPE || s->elsize == 0)
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s': unsupported storage type '%s'", path, name,
                              s->type_name);
    if (t->ndim > RIBO_ST_MAX_DIMS)
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s': %d dimensions (at most %d supported)", path, name,
                              t->ndim, RIBO_ST_MAX_DIMS);
    uint64_t storage_bytes;
    if (!mul_within((uint64_t)s->numel, s->elsize, UINT64_MAX, &storage_bytes) || storage_bytes > avail)
        return ribo_error_set(err, RIBO_ERR_MODEL,
                              "%s: tensor '%s': storage '%s' of %lld %s elements does not fit its %llu bytes of data",
                              path, name, s->key, (long long)s->numel, s->type_name, (unsigned long long)avail);
    if (t->offset < 0)
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s': negative storage offset %lld", path, name,
                              (long long)t->offset);
    uint64_t n = 1;
    for (int i = 0; i < t->ndim; ++i) {
        if (t->shape[i] < 0 || t->stride[i] < 0)
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s': negative size or stride in dimension %d", path,
                                  name, i);
        if (!mul_within(n, (uint64_t)t->shape[i], (uint64_t)INT64_MAX / s->elsize, &n))
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s': element count overflows", path, name);
    }
    *n_el = n;
    *contiguous = true;
    if (n == 0) return RIBO_OK;
    uint64_t end = (uint64_t)t->offset, expect = 1;
    for (int i = t->ndim - 1; i >= 0; --i) {
        uint64_t span;
        if (!mul_within((uint64_t)t->shape[i] - 1, (uint64_t)t->stride[i], (uint64_t)INT64_MAX, &span) ||
            span > (uint64_t)INT64_MAX - end)
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s': view extent overflows", path, name);
        end += span;
        if (t->shape[i] != 1 && (uint64_t)t->stride[i] != expect) *contiguous = false;
        expect *= (uint64_t)t->shape[i]; /* <= n, no overflow */
    }
    if (end >= (uint64_t)s->numel)
        return ribo_error_set(err, RIBO_ERR_MODEL,
                              "%s: tensor '%s': view (offset %lld) reaches element %llu of storage '%s', which has %lld",
                              path, name, (long long)t->offset, (unsigned long long)end, s->key, (long long)s->numel);
    if (!*contiguous && n > (uint64_t)s->numel)
        return ribo_error_set(err, RIBO_ERR_MODEL,
                              "%s: tensor '%s': view has more elements (%llu) than its storage '%s' (%lld): overlapping "
                              "strides are not supported",
                              path, name, (unsigned long long)n, s->key, (long long)s->numel);
    *last = end;
    return RIBO_OK;
}

/* ---------------------------------------------------------------- copying a strided view */

/* Copies the n elements of view t (storage base) into dst in row-major order. */
static void gather(unsigned char *dst, const unsigned char *base, const ribo_torch_tensor *t, size_t el, uint64_t n) {
    int64_t idx[RIBO_ST_MAX_DIMS] = {0};
    uint64_t src = (uint64_t)t->offset;
    for (uint64_t k = 0; k < n; ++k) {
        memcpy(dst + k * el, base + src * el, el);
        for (int d = t->ndim - 1; d >= 0; --d) { /* odometer step */
            if (++idx[d] < t->shape[d]) {
                src += (uint64_t)t->stride[d];
                break;
            }
            src -= (uint64_t)t->stride[d] * (uint64_t)(t->shape[d] - 1);
            idx[d] = 0;
        }
    }
}

ribo_status ribo_torch_add_view(ribo_safetensors *set, size_t index, const ribo_torch_tensor *t,
                                const ribo_torch_storage *s, const unsigned char *base, uint64_t avail,
                                ribo_error *err) {
    const char *path = ribo_ckpt_file_path(set, index);
    uint64_t n = 0, last = 0;
    bool contiguous = true;
    RIBO_TRY(check_view(path, t, s, avail, &n, &last, &contiguous, err));
    uint64_t nbytes = n * s->elsize;
    if (nbytes > SIZE_MAX) return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s' is too large", path, t->name);
    unsigned char *copy = NULL;
    if (!contiguous) {
        copy = malloc((size_t)nbytes);
        if (!copy)
            return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: tensor '%s': out of memory copying a strided view",
                                  path, t->name);
        gather(copy, base, t, s->elsize, n);
    }
    ribo_ckpt_entry *e = ribo_ckpt_push(set, index, t->name, err);
    if (!e) {
        free(copy);
        return RIBO_ERR_OUT_OF_MEMORY;
    }
    e->t.dtype = s->dtype;
    e->t.dtype_name = ribo_st_dtype_name(s->dtype);
    e->t.ndim = t->ndim;
    for (int i = 0; i < t->ndim; ++i) e->t.shape[i] = t->shape[i];
    e->t.n_elements = (int64_t)n;
    e->t.nbytes = (size_t)nbytes;
    e->owned = copy;
    e->t.data = copy ? copy : base + (n ? (size_t)t->offset * s->elsize : 0);
    e->begin = n ? (uint64_t)t->offset * s->elsize : 0;
    e->end = n ? (last + 1) * s->elsize : 0;
    return RIBO_OK;
}
