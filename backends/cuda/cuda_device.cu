/* CUDA backend: device discovery, memory, streams and events. Every CUDA call's status is checked
 * and turned into a ribo status naming the operation and the CUDA error (ribo_cuda_check,
 * cuda_error.cu). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"
#if RIBO_GPU_HIP
#include "vendor/hip_targets.h"
#endif

/* ---------------------------------------------------------------- discovery */

static int cuda_device_count(char *note, size_t note_cap) {
    int n = 0;
    cudaError_t rc = cudaGetDeviceCount(&n);
    if (rc != cudaSuccess) {
        cudaGetLastError();
        if (note)
            snprintf(note, note_cap, "%s%s", cudaGetErrorString(rc),
                     RIBO_GPU_HIP ? "; an AMD GPU needs the amdgpu driver and read/write access to /dev/kfd and "
                                    "/dev/dri (the render and video groups)"
                                  : "");
        return 0;
    }
    if (n == 0 && note) snprintf(note, note_cap, "no " RIBO_GPU_NAME " device");
    return n;
}

static ribo_status read_props(int ordinal, ribo_device_props *p, ribo_error *err) {
    cudaDeviceProp dp;
    RIBO_TRY(ribo_cuda_check(cudaGetDeviceProperties(&dp, ordinal), "reading device properties", err));
    memset(p, 0, sizeof *p);
    snprintf(p->backend, sizeof p->backend, RIBO_GPU_NAME);
    p->memory_bytes = dp.totalGlobalMem;
    p->max_alloc_bytes = dp.totalGlobalMem;
    p->warp_size = dp.warpSize;
    p->alignment = 256; /* cudaMalloc's alignment; the 16-byte vector paths and cp.async rely on it */
    p->compute_units = dp.multiProcessorCount;
#if RIBO_GPU_HIP
    /* "gfx90a:sramecc+:xnack-": the ISA is the part before the first ':' */
    char isa[32];
    snprintf(isa, sizeof isa, "%.*s", (int)strcspn(dp.gcnArchName, ":"), dp.gcnArchName);
    snprintf(p->name, sizeof p->name, "%s (%s)", dp.name, dp.gcnArchName);
    if (ribo_hip_isa_has_mfma(isa)) snprintf(p->matrix_units, sizeof p->matrix_units, "MFMA %s", isa);
    p->storage_f16 = p->storage_bf16 = true; /* 16-bit storage on raw bits; the arithmetic is fp32 */
#else
    snprintf(p->name, sizeof p->name, "%s (sm_%d%d)", dp.name, dp.major, dp.minor);
    if (dp.major >= 8) snprintf(p->matrix_units, sizeof p->matrix_units, "mma.sync sm_%d%d", dp.major, dp.minor);
    p->storage_f16 = dp.major >= 7;
    p->storage_bf16 = dp.major >= 8;
#endif
    return RIBO_OK;
}

#if RIBO_GPU_HIP
/* Refuses a device whose ISA this build has no code objects for (RIBO_HIP_TARGETS: the build's
 * CMAKE_HIP_ARCHITECTURES, comma-separated; target IDs such as gfx90a:xnack+ compare by ISA): the
 * HIP runtime would otherwise fail at the first kernel ("no binary for GPU"). */
static ribo_status hip_check_isa(int index, ribo_error *err) {
#ifdef RIBO_HIP_TARGETS
    cudaDeviceProp dp;
    RIBO_TRY(ribo_cuda_check(cudaGetDeviceProperties(&dp, index), "reading device properties", err));
    if (ribo_hip_targets_cover(RIBO_HIP_TARGETS, dp.gcnArchName)) return RIBO_OK;
    const size_t isa_len = strcspn(dp.gcnArchName, ":");
    return ribo_error_set(err, RIBO_ERR_UNSUPPORTED,
                          "hip: device %d ('%s') is %.*s, but this build has code only for %s: rebuild with "
                          "-DCMAKE_HIP_ARCHITECTURES=%.*s (docs/hip.md)",
                          index, dp.name, (int)isa_len, dp.gcnArchName, RIBO_HIP_TARGETS, (int)isa_len, dp.gcnArchName);
#else
    (void)index;
    (void)err;
    return RIBO_OK;
#endif
}
#endif

static ribo_status cuda_device_describe(int index, ribo_device_props *props, ribo_error *err) {
    char why[128] = "";
    int n = cuda_device_count(why, sizeof why);
    if (index < 0 || index >= n)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, RIBO_GPU_NAME ": no device %d (%d found%s%s)", index, n,
                              why[0] ? ": " : "", why);
    return read_props(index, props, err);
}

/* ---------------------------------------------------------------- device table */

static void cuda_get_props(ribo_device *dev, ribo_device_props *props) { *props = ribo_cuda_dev(dev)->props; }

static ribo_status cuda_buffer_alloc(ribo_device *dev, size_t bytes, const char *what, ribo_dbuf **out, ribo_error *err) {
    *out = NULL;
    RIBO_TRY(ribo_cuda_use(dev, err));
    ribo_dbuf *b = (ribo_dbuf *)calloc(1, sizeof *b);
    if (!b) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, RIBO_GPU_NAME ": out of host memory");
    if (bytes == 0) bytes = 256;
    cudaError_t rc = cudaMalloc(&b->ptr, bytes);
    if (rc != cudaSuccess) {
        free(b);
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        char w[256];
        snprintf(w, sizeof w, "allocating %.1f MiB for %s (%.1f MiB free); lower --max-tokens", bytes / 1048576.0, what,
                 free_b / 1048576.0);
        return ribo_cuda_check(rc, w, err);
    }
    b->size = bytes;
    ribo_cuda_device *cd = ribo_cuda_dev(dev);
    pthread_mutex_lock(&cd->mem_lock);
    cd->allocated += bytes;
    if (cd->allocated > cd->peak_allocated) cd->peak_allocated = cd->allocated;
    pthread_mutex_unlock(&cd->mem_lock);
    *out = b;
    return RIBO_OK;
}

static void cuda_buffer_free(ribo_device *dev, ribo_dbuf *buf) {
    if (!buf) return;
    ribo_cuda_device *cd = ribo_cuda_dev(dev);
    pthread_mutex_lock(&cd->mem_lock);
    cd->allocated -= buf->size;
    pthread_mutex_unlock(&cd->mem_lock);
    cudaSetDevice(cd->ordinal);
    cudaFree(buf->ptr);
    free(buf);
}

static ribo_status cuda_bind_thread(ribo_device *dev, ribo_error *err) { return ribo_cuda_use(dev, err); }

static ribo_status cuda_device_open(int index, ribo_storage storage, ribo_device **out, ribo_error *err);

/* A second pipeline on the same GPU gets its own handle: own cuBLASLt handle and workspace. */
static ribo_status cuda_clone(ribo_device *dev, ribo_device **out, ribo_error *err) {
    ribo_cuda_device *cd = ribo_cuda_dev(dev);
    return cuda_device_open(cd->ordinal, cd->storage, out, err);
}

static void cuda_memory_info(ribo_device *dev, ribo_device_memory *mem) {
    ribo_cuda_device *cd = ribo_cuda_dev(dev);
    size_t free_b = 0, total_b = 0;
    int prev = -1;
    cudaGetDevice(&prev); /* the caller's current device is left as it was */
    if (cudaSetDevice(cd->ordinal) != cudaSuccess || cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
        cudaGetLastError();
        free_b = 0;
        total_b = (size_t)cd->props.memory_bytes;
    }
    if (prev >= 0 && prev != cd->ordinal) cudaSetDevice(prev);
    mem->total_bytes = total_b;
    mem->free_bytes = free_b;
    pthread_mutex_lock(&cd->mem_lock);
    mem->allocated_bytes = cd->allocated;
    mem->peak_allocated_bytes = cd->peak_allocated;
    pthread_mutex_unlock(&cd->mem_lock);
}

static ribo_status cuda_host_alloc(ribo_device *dev, size_t bytes, void **out, ribo_error *err) {
    RIBO_TRY(ribo_cuda_use(dev, err));
    return ribo_cuda_check(cudaHostAlloc(out, bytes ? bytes : 1, cudaHostAllocPortable), "allocating pinned host memory", err);
}

static void cuda_host_free(ribo_device *dev, void *ptr) {
    if (ptr) cudaFreeHost(ptr);
}

extern const ribo_stream_i cuda_stream_table;
extern const ribo_event_i cuda_event_table;

static ribo_status cuda_stream_create(ribo_device *dev, int priority, ribo_stream **out, ribo_error *err) {
    *out = NULL;
    RIBO_TRY(ribo_cuda_use(dev, err));
    int least = 0, greatest = 0;
    RIBO_TRY(ribo_cuda_check(cudaDeviceGetStreamPriorityRange(&least, &greatest), "reading stream priorities", err));
    cudaStream_t cs;
    /* CUDA: lower numbers are higher priority; "greatest" is the highest available */
    RIBO_TRY(ribo_cuda_check(cudaStreamCreateWithPriority(&cs, cudaStreamNonBlocking, priority > 0 ? greatest : least),
                             "creating a stream", err));
    ribo_stream *s = (ribo_stream *)calloc(1, sizeof *s);
    if (!s) {
        cudaStreamDestroy(cs);
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, RIBO_GPU_NAME ": out of host memory");
    }
    s->iface = &cuda_stream_table;
    s->dev = dev;
    s->ctx = cs;
    *out = s;
    return RIBO_OK;
}

static ribo_status cuda_event_create(ribo_device *dev, bool timing, ribo_event **out, ribo_error *err) {
    *out = NULL;
    RIBO_TRY(ribo_cuda_use(dev, err));
    cudaEvent_t ce;
    RIBO_TRY(ribo_cuda_check(cudaEventCreateWithFlags(&ce, timing ? cudaEventDefault : cudaEventDisableTiming),
                             "creating an event", err));
    ribo_event *ev = (ribo_event *)calloc(1, sizeof *ev);
    if (!ev) {
        cudaEventDestroy(ce);
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, RIBO_GPU_NAME ": out of host memory");
    }
    ev->iface = &cuda_event_table;
    ev->dev = dev;
    ev->ctx = ce;
    *out = ev;
    return RIBO_OK;
}

static void cuda_device_destroy(ribo_device *dev) {
    if (!dev) return;
    ribo_cuda_device *cd = ribo_cuda_dev(dev);
    if (cd) {
        cudaSetDevice(cd->ordinal);
        ribo_cuda_gemm_release(cd);
        pthread_mutex_destroy(&cd->mem_lock);
        free(cd);
    }
    free(dev);
}

static const ribo_device_i cuda_device_table = {
    .get_props = cuda_get_props,
    .buffer_alloc = cuda_buffer_alloc,
    .buffer_free = cuda_buffer_free,
    .host_alloc = cuda_host_alloc,
    .host_free = cuda_host_free,
    .stream_create = cuda_stream_create,
    .event_create = cuda_event_create,
    .bind_thread = cuda_bind_thread,
    .memory_info = cuda_memory_info,
    .clone = cuda_clone,
    .destroy = cuda_device_destroy,
};

/* ---------------------------------------------------------------- stream table */

static ribo_status check_range(ribo_dptr p, size_t bytes, const char *what, ribo_error *err) {
    if (!p.buf || p.offset > p.buf->size || bytes > p.buf->size - p.offset)
        return ribo_error_set(err, RIBO_ERR_INTERNAL, RIBO_GPU_NAME ": %s of %zu bytes at offset %zu is outside its buffer", what,
                              bytes, p.offset);
    return RIBO_OK;
}

static ribo_status cuda_copy_h2d(ribo_stream *s, ribo_dptr dst, const void *src, size_t bytes, ribo_error *err) {
    if (!bytes) return RIBO_OK;
    RIBO_TRY(check_range(dst, bytes, "host-to-device copy", err));
    return ribo_cuda_check(cudaMemcpyAsync(ribo_cuda_ptr(dst), src, bytes, cudaMemcpyHostToDevice, ribo_cuda_stream(s)),
                           "host-to-device copy", err);
}

static ribo_status cuda_copy_d2h(ribo_stream *s, void *dst, ribo_dptr src, size_t bytes, ribo_error *err) {
    if (!bytes) return RIBO_OK;
    RIBO_TRY(check_range(src, bytes, "device-to-host copy", err));
    return ribo_cuda_check(cudaMemcpyAsync(dst, ribo_cuda_ptr(src), bytes, cudaMemcpyDeviceToHost, ribo_cuda_stream(s)),
                           "device-to-host copy", err);
}

static ribo_status cuda_wait_event(ribo_stream *s, ribo_event *ev, ribo_error *err) {
    return ribo_cuda_check(cudaStreamWaitEvent(ribo_cuda_stream(s), (cudaEvent_t)ev->ctx, 0), "stream wait on event", err);
}

static ribo_status cuda_record_event(ribo_stream *s, ribo_event *ev, ribo_error *err) {
    return ribo_cuda_check(cudaEventRecord((cudaEvent_t)ev->ctx, ribo_cuda_stream(s)), "recording an event", err);
}

static ribo_status cuda_synchronize(ribo_stream *s, ribo_error *err) {
    return ribo_cuda_check(cudaStreamSynchronize(ribo_cuda_stream(s)), "synchronizing a stream", err);
}

static void cuda_stream_destroy(ribo_stream *s) {
    if (!s) return;
    cudaStreamSynchronize(ribo_cuda_stream(s));
    cudaStreamDestroy(ribo_cuda_stream(s));
    free(s);
}

const ribo_stream_i cuda_stream_table = {
    .copy_h2d = cuda_copy_h2d,
    .copy_d2h = cuda_copy_d2h,
    .wait_event = cuda_wait_event,
    .record_event = cuda_record_event,
    .synchronize = cuda_synchronize,
    .destroy = cuda_stream_destroy,
};

/* ---------------------------------------------------------------- event table */

static ribo_status cuda_event_synchronize(ribo_event *ev, ribo_error *err) {
    return ribo_cuda_check(cudaEventSynchronize((cudaEvent_t)ev->ctx), "waiting for an event", err);
}

static ribo_status cuda_event_query(ribo_event *ev, bool *done, ribo_error *err) {
    cudaError_t rc = cudaEventQuery((cudaEvent_t)ev->ctx);
    *done = rc == cudaSuccess;
    if (rc == cudaErrorNotReady) {
        cudaGetLastError();
        return RIBO_OK;
    }
    return ribo_cuda_check(rc, "querying an event", err);
}

static ribo_status cuda_event_elapsed(ribo_event *start, ribo_event *end, float *ms, ribo_error *err) {
    return ribo_cuda_check(cudaEventElapsedTime(ms, (cudaEvent_t)start->ctx, (cudaEvent_t)end->ctx),
                           "reading event timing", err);
}

static void cuda_event_destroy(ribo_event *ev) {
    if (!ev) return;
    cudaEventDestroy((cudaEvent_t)ev->ctx);
    free(ev);
}

const ribo_event_i cuda_event_table = {
    .synchronize = cuda_event_synchronize,
    .query = cuda_event_query,
    .elapsed_ms = cuda_event_elapsed,
    .destroy = cuda_event_destroy,
};

/* ---------------------------------------------------------------- kernels */

/* ribo_kernel_i.check: the limits of the attention and linear entries; every other op runs at any
 * shape the engine makes. */
static ribo_status cuda_kernel_check(ribo_device *dev, const ribo_kernel_call *c, ribo_error *err) {
    switch (c->op) {
    case RIBO_KERNEL_ATTENTION: return ribo_cuda_attention_check(&c->attention, err);
    case RIBO_KERNEL_LINEAR: return ribo_cuda_linear_check(&c->linear, err);
    default: return RIBO_OK;
    }
}

static const ribo_kernel_i cuda_kernel_table = {
    .embed = ribo_cuda_embed,
    .layer_norm = ribo_cuda_layer_norm,
    .linear = ribo_cuda_linear,
    .attention = ribo_cuda_attention,
    .pool = ribo_cuda_pool,
    .glu = ribo_cuda_glu,
    .convert_from_f32 = ribo_cuda_convert_from_f32,
    .check = cuda_kernel_check,
};

/* ---------------------------------------------------------------- open */

static ribo_status cuda_device_open(int index, ribo_storage storage, ribo_device **out, ribo_error *err) {
    *out = NULL;
    char why[128] = "";
    int n = cuda_device_count(why, sizeof why);
    if (index < 0 || index >= n)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, RIBO_GPU_NAME ": no device %d (%d found%s%s)", index, n,
                              why[0] ? ": " : "", why);
    ribo_device *dev = (ribo_device *)calloc(1, sizeof *dev);
    ribo_cuda_device *cd = (ribo_cuda_device *)calloc(1, sizeof *cd);
    if (!dev || !cd) {
        free(dev);
        free(cd);
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, RIBO_GPU_NAME ": out of host memory");
    }
    pthread_mutex_init(&cd->mem_lock, NULL);
    cd->ordinal = index;
    cd->storage = storage;
    dev->iface = &cuda_device_table;
    dev->kernels = &cuda_kernel_table;
    dev->ctx = cd;
    ribo_status s = read_props(index, &cd->props, err);
    if (s == RIBO_OK && ((storage == RIBO_STORAGE_F16 && !cd->props.storage_f16) ||
                         (storage == RIBO_STORAGE_BF16 && !cd->props.storage_bf16)))
        s = ribo_error_set(err, RIBO_ERR_UNSUPPORTED, RIBO_GPU_NAME ": device %d ('%s') cannot run --dtype %s; it supports fp32%s",
                           index, cd->props.name, storage == RIBO_STORAGE_F16 ? "fp16" : "bf16",
                           cd->props.storage_f16 ? " and fp16" : "");
#if RIBO_GPU_HIP
    if (s == RIBO_OK) s = hip_check_isa(index, err);
#endif
    if (s == RIBO_OK) s = ribo_cuda_use(dev, err);
    if (s == RIBO_OK)
        s = ribo_cuda_check(cudaDeviceGetAttribute(&cd->cc_major, cudaDevAttrComputeCapabilityMajor, index),
                            "reading the compute capability", err);
    if (s == RIBO_OK)
        s = ribo_cuda_check(cudaDeviceGetAttribute(&cd->cc_minor, cudaDevAttrComputeCapabilityMinor, index),
                            "reading the compute capability", err);
    if (s == RIBO_OK) s = ribo_cuda_gemm_init(cd, err);
    if (s == RIBO_OK) s = ribo_cuda_layer_norm_init(cd, err);
    if (s == RIBO_OK) s = ribo_cuda_attention_init(cd, err);
    if (s != RIBO_OK) {
        cuda_device_destroy(dev);
        return s;
    }
    *out = dev;
    return RIBO_OK;
}

extern "C" const ribo_backend_reg ribo_cuda_backend = {
    .name = RIBO_GPU_NAME,
    .device_count = cuda_device_count,
    .device_open = cuda_device_open,
    .device_describe = cuda_device_describe,
};
