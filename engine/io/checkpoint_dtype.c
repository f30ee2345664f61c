/* Checkpoint dtypes: names and sizes as safetensors writes them, and the exact conversion of the
 * floating-point ones to float32 (declared in safetensors.h and checkpoint.h). */
#include "engine/io/checkpoint.h"

#include <string.h>

typedef struct st_dtype_info {
    const char *name;
    ribo_st_dtype dtype;
    size_t size;
} st_dtype_info;

static const st_dtype_info st_dtypes[] = {
    {"F64", RIBO_ST_F64, 8}, {"F32", RIBO_ST_F32, 4}, {"F16", RIBO_ST_F16, 2},
    {"BF16", RIBO_ST_BF16, 2}, {"I64", RIBO_ST_I64, 8}, {"I32", RIBO_ST_I32, 4},
    {"I16", RIBO_ST_I16, 2}, {"I8", RIBO_ST_I8, 1}, {"U8", RIBO_ST_U8, 1},
    {"BOOL", RIBO_ST_BOOL, 1},
};
#define N_DTYPES (sizeof st_dtypes / sizeof st_dtypes[0])

/* ---------------------------------------------------------------- names and sizes */

bool ribo_st_is_float(ribo_st_dtype dtype) {
    return dtype == RIBO_ST_F32 || dtype == RIBO_ST_F16 || dtype == RIBO_ST_BF16;
}

size_t ribo_st_dtype_size(ribo_st_dtype dtype) {
    for (size_t i = 0; i < N_DTYPES; ++i)
        if (st_dtypes[i].dtype == dtype) return st_dtypes[i].size;
    return 0;
}

const char *ribo_st_dtype_name(ribo_st_dtype dtype) {
    for (size_t i = 0; i < N_DTYPES; ++i)
        if (st_dtypes[i].dtype == dtype) return st_dtypes[i].name;
    return "?";
}

bool ribo_st_dtype_parse(const char *name, ribo_st_dtype *out) {
    for (size_t i = 0; i < N_DTYPES; ++i)
        if (strcmp(st_dtypes[i].name, name) == 0) {
            *out = st_dtypes[i].dtype;
            return true;
        }
    return false;
}

/* ---------------------------------------------------------------- conversion to float32 */

/* Exact IEEE half -> single conversion (subnormals, signed zero, inf and NaN payloads kept). */
static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            uint32_t e = 113; /* 127 - 15 + 1 */
            while (!(mant & 0x400u)) {
                mant <<= 1;
                --e;
            }
            bits = sign | (e << 23) | ((mant & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

ribo_status ribo_st_to_f32(const ribo_st_tensor *t, float *dst, ribo_error *err) {
    if (!t) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "ribo_st_to_f32: NULL argument");
    return ribo_st_range_to_f32(t, 0, (size_t)t->n_elements, dst, err);
}

ribo_status ribo_st_range_to_f32(const ribo_st_tensor *t, size_t begin, size_t n, float *dst, ribo_error *err) {
    if (!t || (!dst && n > 0) || begin > (size_t)t->n_elements || n > (size_t)t->n_elements - begin)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "ribo_st_range_to_f32: bad argument");
    const unsigned char *p = (const unsigned char *)t->data + begin * ribo_st_dtype_size(t->dtype);
    switch (t->dtype) {
    case RIBO_ST_F32:
        for (size_t i = 0; i < n; ++i, p += 4) {
            uint32_t b = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
            memcpy(&dst[i], &b, sizeof b);
        }
        return RIBO_OK;
    case RIBO_ST_F16:
        for (size_t i = 0; i < n; ++i, p += 2) dst[i] = f16_to_f32((uint16_t)(p[0] | p[1] << 8));
        return RIBO_OK;
    case RIBO_ST_BF16:
        for (size_t i = 0; i < n; ++i, p += 2) {
            uint32_t b = ((uint32_t)p[0] | (uint32_t)p[1] << 8) << 16;
            memcpy(&dst[i], &b, sizeof b);
        }
        return RIBO_OK;
    default:
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s': dtype %s cannot be converted to float32",
                              t->file ? t->file : "?", t->name ? t->name : "?",
                              t->dtype_name ? t->dtype_name : "?");
    }
}
