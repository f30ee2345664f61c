/* rocBLAS loaded at run time (dlopen) and ribo's linear layer as one rocblas_gemm_ex (hip_blas.h).
 * No process-wide state: each device handle owns its ribo_hip_blas_lib (dlopen counts references, so
 * several devices share one mapping of the library). */
/* dladdr, RTLD_DEFAULT and RTLD_NODELETE are GNU extensions of <dlfcn.h> */
#define _GNU_SOURCE
#include "backends/hip/hip_blas.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RIBO_HIP_BLAS_HINT "install rocBLAS (ROCm's rocblas package) or set RIBO_ROCBLAS_LIBRARY"

/* The sonames tried in order when RIBO_ROCBLAS_LIBRARY is not set (then the ROCm directories). */
static const char *const sonames[] = {"librocblas.so.5", "librocblas.so.4", "librocblas.so.3", "librocblas.so.0",
                                      "librocblas.so"};

/* Resolves name from lib->dl into *slot (a function pointer of the library's type). */
static bool resolve(ribo_hip_blas_lib *lib, const char *name, void *slot, ribo_error *err) {
    dlerror();
    void *sym = dlsym(lib->dl, name);
    if (!sym) {
        const char *why = dlerror();
        ribo_error_set(err, RIBO_ERR_UNSUPPORTED, "hip: rocBLAS library '%s' lacks %s (%s): " RIBO_HIP_BLAS_HINT,
                       lib->path, name, why ? why : "symbol is NULL");
        return false;
    }
    /* POSIX: a function's address from dlsym converts to the function pointer type */
    memcpy(slot, &sym, sizeof sym);
    return true;
}

/* dlopen of one candidate; records the path, or appends dlerror to tried. */
static bool try_open(ribo_hip_blas_lib *lib, const char *path, char *tried, size_t tried_cap) {
    lib->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (lib->dl) {
        snprintf(lib->path, sizeof lib->path, "%s", path);
        return true;
    }
    /* a file that is not there is named alone; any other failure (a missing dependency, a wrong ELF
     * class) with the loader's reason */
    const char *why = dlerror();
    const bool absent = !why || strstr(why, "No such file or directory") != NULL;
    size_t used = strlen(tried);
    snprintf(tried + used, tried_cap - used, "%s%s", used ? (absent ? ", " : "; ") : "", absent ? path : why);
    return false;
}

static bool open_any(ribo_hip_blas_lib *lib, const char *override, char *tried, size_t tried_cap) {
    if (override) return try_open(lib, override, tried, tried_cap);
    for (size_t i = 0; i < sizeof sonames / sizeof sonames[0]; ++i)
        if (try_open(lib, sonames[i], tried, tried_cap)) return true;
    const char *rocm = getenv("ROCM_PATH");
    const char *dirs[2] = {rocm && *rocm ? rocm : NULL, "/opt/rocm"};
    for (int d = 0; d < 2; ++d) {
        if (!dirs[d]) continue;
        for (size_t i = 0; i < sizeof sonames / sizeof sonames[0]; ++i) {
            char path[512];
            snprintf(path, sizeof path, "%s/lib/%s", dirs[d], sonames[i]);
            if (try_open(lib, path, tried, tried_cap)) return true;
        }
    }
    return false;
}

/* The file a function address lives in ("?" where unknown). */
static const char *object_of(void *addr) {
    Dl_info info;
    return addr && dladdr(addr, &info) && info.dli_fname ? info.dli_fname : "?";
}

/* The library's HIP runtime is this process's (or it links none, as the test mock). */
static bool same_hip_runtime(ribo_hip_blas_lib *lib, ribo_error *err) {
    void *theirs = dlsym(lib->dl, "hipGetDeviceCount");
    void *ours = dlsym(RTLD_DEFAULT, "hipGetDeviceCount");
    if (!theirs || theirs == ours) return true;
    ribo_error_set(err, RIBO_ERR_UNSUPPORTED,
                   "hip: rocBLAS library '%s' uses the HIP runtime %s, ribo runs %s: use the rocBLAS of the ROCm ribo "
                   "was built with (set RIBO_ROCBLAS_LIBRARY) or rebuild ribo with that ROCm",
                   lib->path, object_of(theirs), ours ? object_of(ours) : "none");
    return false;
}

ribo_status ribo_hip_blas_load(ribo_hip_blas_lib *lib, ribo_error *err) {
    memset(lib, 0, sizeof *lib);
    const char *override = getenv("RIBO_ROCBLAS_LIBRARY");
    if (override && !*override) override = NULL;
    char tried[3000] = "";
    if (!open_any(lib, override, tried, sizeof tried)) {
        if (override)
            return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, "hip: cannot load RIBO_ROCBLAS_LIBRARY='%s' (%s): " RIBO_HIP_BLAS_HINT,
                                  override, tried);
        return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, "hip: cannot load rocBLAS: " RIBO_HIP_BLAS_HINT " (tried: %s)",
                              tried);
    }
    bool ok = resolve(lib, "rocblas_create_handle", &lib->create_handle, err) &&
              resolve(lib, "rocblas_destroy_handle", &lib->destroy_handle, err) &&
              resolve(lib, "rocblas_set_stream", &lib->set_stream, err) &&
              resolve(lib, "rocblas_status_to_string", &lib->status_to_string, err) &&
              resolve(lib, "rocblas_gemm_ex", &lib->gemm_ex, err) && same_hip_runtime(lib, err);
    if (!ok) {
        ribo_hip_blas_unload(lib);
        return RIBO_ERR_UNSUPPORTED;
    }
    void *atomics = dlsym(lib->dl, "rocblas_set_atomics_mode"); /* optional */
    memcpy(&lib->set_atomics_mode, &atomics, sizeof atomics);
    return RIBO_OK;
}

ribo_status ribo_hip_blas_create_handle(const ribo_hip_blas_lib *lib, rocblas_handle *handle, ribo_error *err) {
    *handle = NULL;
    RIBO_TRY(ribo_hip_blas_check(lib, lib->create_handle(handle), "rocblas_create_handle", err));
    if (!lib->set_atomics_mode) return RIBO_OK;
    ribo_status s = ribo_hip_blas_check(lib, lib->set_atomics_mode(*handle, rocblas_atomics_not_allowed),
                                        "rocblas_set_atomics_mode", err);
    if (s != RIBO_OK) {
        lib->destroy_handle(*handle);
        *handle = NULL;
    }
    return s;
}

void ribo_hip_blas_unload(ribo_hip_blas_lib *lib) {
    if (!lib || !lib->dl) return;
    dlclose(lib->dl);
    memset(lib, 0, sizeof *lib);
}

ribo_status ribo_hip_blas_check(const ribo_hip_blas_lib *lib, rocblas_status s, const char *what, ribo_error *err) {
    if (s == rocblas_status_success) return RIBO_OK;
    const char *name = lib->status_to_string ? lib->status_to_string(s) : NULL;
    return ribo_error_set(err, s == rocblas_status_memory_error ? RIBO_ERR_OUT_OF_MEMORY : RIBO_ERR_DEVICE,
                          "hip: %s: %s (%d)", what, name ? name : "unknown rocBLAS status", (int)s);
}

static rocblas_datatype data_type(ribo_storage s) {
    return s == RIBO_STORAGE_F16 ? rocblas_datatype_f16_r : s == RIBO_STORAGE_BF16 ? rocblas_datatype_bf16_r
                                                                                   : rocblas_datatype_f32_r;
}

/* Column-major view of the row-major problem: y is stored as Y^T, an n x m column-major matrix with
 * ldc = n; w [n, k] row-major is W^T, a k x n column-major matrix (lda = k), taken with op T to give
 * W (n x k); x [m, k] row-major is X^T, k x m column-major (ldb = k), op N. So
 * Y^T (n x m) = W (n x k) * X^T (k x m) (+ C^T), i.e. y = x @ w^T (+ c). */
ribo_status ribo_hip_blas_linear(const ribo_hip_blas_lib *lib, rocblas_handle handle, ribo_rocblas_stream stream,
                                 const ribo_hip_blas_linear_args *a, ribo_error *err) {
    RIBO_TRY(ribo_hip_blas_check(lib, lib->set_stream(handle, stream), "rocblas_set_stream", err));
    const rocblas_datatype t = data_type(a->storage);
    const float alpha = 1.0f, beta = a->c ? 1.0f : 0.0f;
    const void *c = a->c ? a->c : a->y;
    rocblas_status s = lib->gemm_ex(handle, rocblas_operation_transpose, rocblas_operation_none, a->n, a->m, a->k, &alpha,
                                    a->w, t, a->k, a->x, t, a->k, &beta, c, t, a->n, a->y, t, a->n, rocblas_datatype_f32_r,
                                    rocblas_gemm_algo_standard, 0, RIBO_ROCBLAS_GEMM_FLAGS_NONE);
    if (s == rocblas_status_success) return RIBO_OK;
    char what[96];
    snprintf(what, sizeof what, "rocblas_gemm_ex (M=%d, N=%d, K=%d)", a->m, a->n, a->k);
    return ribo_hip_blas_check(lib, s, what, err);
}
