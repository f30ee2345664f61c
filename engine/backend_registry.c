/* The registry of compiled-in backends (read-only; chosen at run time by name). */
#include <stdio.h>
#include <string.h>

#include "engine/backend.h"

#ifdef RIBO_WITH_CUDA
extern const ribo_backend_reg ribo_cuda_backend;
#endif
#ifdef RIBO_WITH_HIP
extern const ribo_backend_reg ribo_hip_backend;
#endif
#ifdef RIBO_WITH_OPENCL
extern const ribo_backend_reg ribo_opencl_backend;
#endif

static const ribo_backend_reg *const registry[] = {
#ifdef RIBO_WITH_CUDA
    &ribo_cuda_backend,
#endif
#ifdef RIBO_WITH_HIP /* before OpenCL: --backend auto takes the first backend that finds a device */
    &ribo_hip_backend,
#endif
#ifdef RIBO_WITH_OPENCL
    &ribo_opencl_backend,
#endif
    NULL,
};

size_t ribo_backend_count(void) { return sizeof registry / sizeof registry[0] - 1; }

const ribo_backend_reg *ribo_backend_at(size_t i) { return i < ribo_backend_count() ? registry[i] : NULL; }

const ribo_backend_reg *ribo_backend_find(const char *name) {
    for (size_t i = 0; i < ribo_backend_count(); ++i)
        if (strcmp(registry[i]->name, name) == 0) return registry[i];
    return NULL;
}

/* Lists compiled-in backend names, comma separated. */
static void backend_names(char *out, size_t cap) {
    size_t k = 0;
    out[0] = '\0';
    for (size_t i = 0; i < ribo_backend_count() && k < cap; ++i)
        k += (size_t)snprintf(out + k, cap - k, "%s%s", i ? ", " : "", registry[i]->name);
    if (!ribo_backend_count()) snprintf(out, cap, "none");
}

ribo_status ribo_backend_resolve(const char *name, const ribo_backend_reg **reg_out, ribo_error *err) {
    char names[128];
    backend_names(names, sizeof names);
    *reg_out = NULL;
    if (!name || strcmp(name, "auto") == 0) {
        char notes[512] = "";
        size_t k = 0;
        for (size_t i = 0; i < ribo_backend_count(); ++i) {
            char note[200] = "";
            if (registry[i]->device_count(note, sizeof note) > 0) {
                *reg_out = registry[i];
                return RIBO_OK;
            }
            if (k < sizeof notes) k += (size_t)snprintf(notes + k, sizeof notes - k, "; %s: %s", registry[i]->name, note);
        }
        return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, "no device found by any backend (compiled in: %s)%s", names, notes);
    }
    *reg_out = ribo_backend_find(name);
    if (!*reg_out)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "backend '%s' is not compiled in (available: %s, auto)", name,
                              names);
    return RIBO_OK;
}

ribo_status ribo_backend_open(const char *name, int index, ribo_storage storage, ribo_device **out,
                              const ribo_backend_reg **reg_out, ribo_error *err) {
    *out = NULL;
    const ribo_backend_reg *reg = NULL;
    RIBO_TRY(ribo_backend_resolve(name, &reg, err));
    if (reg_out) *reg_out = reg;
    return ribo_device_open(reg, index, storage, out, err);
}
