/* OpenCL backend: device discovery, memory, command queues (streams) and events. */
#include <clblast_c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opencl_internal.h"

/* ---------------------------------------------------------------- discovery */

/* Finds the index-th device over all platforms; returns the number of devices seen. */
static int find_device(int index, cl_platform_id *platform, cl_device_id *device, char *note, size_t note_cap) {
    cl_uint n_platforms = 0;
    cl_int rc = clGetPlatformIDs(0, NULL, &n_platforms);
    if (rc != CL_SUCCESS || n_platforms == 0) {
        if (note) snprintf(note, note_cap, "no OpenCL platform found (%s); install an ICD such as pocl-opencl-icd",
                           rc == CL_SUCCESS ? "0 platforms" : ribo_cl_error_name(rc));
        return 0;
    }
    cl_platform_id platforms[16];
    if (n_platforms > 16) n_platforms = 16;
    clGetPlatformIDs(n_platforms, platforms, NULL);
    int seen = 0;
    for (cl_uint p = 0; p < n_platforms; ++p) {
        cl_uint n = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 0, NULL, &n) != CL_SUCCESS || n == 0) continue;
        cl_device_id devs[64];
        if (n > 64) n = 64;
        clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, n, devs, NULL);
        for (cl_uint d = 0; d < n; ++d, ++seen)
            if (seen == index) {
                if (platform) *platform = platforms[p];
                if (device) *device = devs[d];
            }
    }
    if (seen == 0 && note) snprintf(note, note_cap, "OpenCL platforms found but no devices");
    return seen;
}

static int cl_device_count(char *note, size_t note_cap) { return find_device(-1, NULL, NULL, note, note_cap); }

/* Reads the properties the engine needs from a cl_device_id. */
static void read_props(cl_device_id dev, ribo_device_props *p, size_t *max_wg) {
    memset(p, 0, sizeof *p);
    snprintf(p->backend, sizeof p->backend, "opencl");
    clGetDeviceInfo(dev, CL_DEVICE_NAME, sizeof p->name - 1, p->name, NULL);
    cl_ulong mem = 0, max_alloc = 0;
    cl_uint cus = 0;
    clGetDeviceInfo(dev, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cus, &cus, NULL);
    size_t wg = 1;
    clGetDeviceInfo(dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    if (max_wg) *max_wg = wg;
    p->memory_bytes = mem;
    p->max_alloc_bytes = max_alloc;
    p->compute_units = (int)cus;
    cl_device_type type = 0;
    clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    p->warp_size = (type & CL_DEVICE_TYPE_CPU) ? 1 : 32;
    /* The kernels take (buffer, element offset) pairs, so any float alignment works; tensors are placed
     * at the device's base-address alignment (CL_DEVICE_MEM_BASE_ADDR_ALIGN, in bits) for full-width
     * loads, at least 4 bytes. */
    cl_uint align_bits = 0;
    clGetDeviceInfo(dev, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits, NULL);
    p->alignment = align_bits >= 32 && (align_bits & (align_bits - 1)) == 0 ? align_bits / 8 : 4;
    /* The OpenCL kernels compute and store fp32 only (fp16 storage is future work). */
    p->storage_f16 = p->storage_bf16 = false;
}

static ribo_status cl_device_describe(int index, ribo_device_props *props, ribo_error *err) {
    cl_platform_id platform;
    cl_device_id device = NULL;
    char note[256] = "";
    int n = find_device(index, &platform, &device, note, sizeof note);
    if (index < 0 || index >= n)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "opencl: no device %d (%d found%s%s)", index, n,
                              note[0] ? "; " : "", note);
    read_props(device, props, NULL);
    return RIBO_OK;
}

/* ---------------------------------------------------------------- device table */

static void cl_get_props(ribo_device *dev, ribo_device_props *props) { *props = ribo_cl_dev(dev)->props; }

static ribo_status cl_buffer_alloc(ribo_device *dev, size_t bytes, const char *what, ribo_dbuf **out, ribo_error *err) {
    ribo_cl_device *cd = ribo_cl_dev(dev);
    *out = NULL;
    if (bytes == 0) bytes = 256;
    if (bytes > cd->props.max_alloc_bytes)
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY,
                              "opencl: %s needs %zu bytes, more than device '%s' allows in one allocation (%llu); "
                              "lower --max-tokens",
                              what, bytes, cd->props.name, (unsigned long long)cd->props.max_alloc_bytes);
    ribo_dbuf *b = calloc(1, sizeof *b);
    if (!b) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "opencl: out of host memory");
    cl_int rc;
    b->mem = clCreateBuffer(cd->context, CL_MEM_READ_WRITE, bytes, NULL, &rc);
    b->size = bytes;
    if (rc != CL_SUCCESS) {
        free(b);
        char what_buf[160];
        snprintf(what_buf, sizeof what_buf, "allocating %zu bytes for %s", bytes, what);
        return ribo_cl_check(rc, what_buf, err);
    }
    pthread_mutex_lock(&cd->mem_lock);
    cd->allocated += bytes;
    if (cd->allocated > cd->peak_allocated) cd->peak_allocated = cd->allocated;
    pthread_mutex_unlock(&cd->mem_lock);
    *out = b;
    return RIBO_OK;
}

static void cl_buffer_free(ribo_device *dev, ribo_dbuf *buf) {
    if (!buf) return;
    ribo_cl_device *cd = ribo_cl_dev(dev);
    pthread_mutex_lock(&cd->mem_lock);
    cd->allocated -= buf->size;
    pthread_mutex_unlock(&cd->mem_lock);
    clReleaseMemObject(buf->mem);
    free(buf);
}

/* OpenCL command queues and kernels are not tied to a thread. */
static ribo_status cl_bind_thread(ribo_device *dev, ribo_error *err) { return RIBO_OK; }

/* OpenCL 1.2 has no free-memory query: free = global memory minus what ribo allocated here. */
static void cl_memory_info(ribo_device *dev, ribo_device_memory *mem) {
    ribo_cl_device *cd = ribo_cl_dev(dev);
    pthread_mutex_lock(&cd->mem_lock);
    mem->total_bytes = cd->props.memory_bytes;
    mem->allocated_bytes = cd->allocated;
    mem->peak_allocated_bytes = cd->peak_allocated;
    pthread_mutex_unlock(&cd->mem_lock);
    mem->free_bytes = mem->total_bytes > mem->allocated_bytes ? mem->total_bytes - mem->allocated_bytes : 0;
}

static ribo_status cl_host_alloc(ribo_device *dev, size_t bytes, void **out, ribo_error *err) {
    *out = malloc(bytes ? bytes : 1);
    return *out ? RIBO_OK : ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "opencl: cannot allocate %zu host bytes", bytes);
}

static void cl_host_free(ribo_device *dev, void *ptr) { free(ptr); }

static const ribo_stream_i cl_stream_table;
static const ribo_event_i cl_event_table;

static ribo_status cl_stream_create(ribo_device *dev, int priority, ribo_stream **out, ribo_error *err) {
    ribo_cl_device *cd = ribo_cl_dev(dev);
    *out = NULL;
    ribo_stream *s = calloc(1, sizeof *s);
    if (!s) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "opencl: out of host memory");
    cl_int rc;
    cl_command_queue q = clCreateCommandQueue(cd->context, cd->device, CL_QUEUE_PROFILING_ENABLE, &rc);
    if (rc != CL_SUCCESS) {
        free(s);
        return ribo_cl_check(rc, "creating a command queue", err);
    }
    s->iface = &cl_stream_table;
    s->dev = dev;
    s->ctx = q;
    *out = s;
    return RIBO_OK;
}

static ribo_status cl_event_create(ribo_device *dev, bool timing, ribo_event **out, ribo_error *err) {
    ribo_event *ev = calloc(1, sizeof *ev);
    ribo_cl_event *ce = calloc(1, sizeof *ce);
    if (!ev || !ce) {
        free(ev);
        free(ce);
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "opencl: out of host memory");
    }
    ev->iface = &cl_event_table;
    ev->dev = dev;
    ev->ctx = ce;
    *out = ev;
    return RIBO_OK;
}

/* CLBlast caches the programs it compiles in a process-wide cache keyed by the raw cl_context; each
 * cached cl_program holds a reference to its context, so releasing our context does not free it
 * (nor its device memory pools) while those programs are cached. The C API can only clear the
 * whole cache (CLBlastClearCache, which also drops compiled binaries), so it is cleared when the
 * last open OpenCL device goes away: other devices still in use keep their programs. */
static pthread_mutex_t clblast_users_lock = PTHREAD_MUTEX_INITIALIZER;
static int clblast_users; /* open devices with a context */

static void clblast_user_add(void) {
    pthread_mutex_lock(&clblast_users_lock);
    ++clblast_users;
    pthread_mutex_unlock(&clblast_users_lock);
}

static void clblast_user_remove(void) {
    pthread_mutex_lock(&clblast_users_lock);
    if (--clblast_users == 0) CLBlastClearCache();
    pthread_mutex_unlock(&clblast_users_lock);
}

static void cl_device_destroy(ribo_device *dev) {
    if (!dev) return;
    ribo_cl_device *cd = ribo_cl_dev(dev);
    if (cd) {
        pthread_mutex_lock(&cd->mem_lock);
        bool last = --cd->handles <= 0;
        pthread_mutex_unlock(&cd->mem_lock);
        if (!last) cd = NULL; /* another handle still uses it */
    }
    if (cd) {
        if (cd->last_kernel) clReleaseEvent(cd->last_kernel);
        ribo_cl_release_kernels(cd);
        if (cd->context) {
            clReleaseContext(cd->context);
            clblast_user_remove(); /* after our release: the cache then holds the last references */
        }
        pthread_mutex_destroy(&cd->launch_lock);
        pthread_mutex_destroy(&cd->mem_lock);
        free(cd);
    }
    free(dev);
}


static ribo_status cl_clone(ribo_device *dev, ribo_device **out, ribo_error *err) {
    ribo_cl_device *cd = ribo_cl_dev(dev);
    ribo_device *d = calloc(1, sizeof *d);
    if (!d) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "opencl: out of host memory");
    *d = *dev;
    pthread_mutex_lock(&cd->mem_lock);
    ++cd->handles;
    pthread_mutex_unlock(&cd->mem_lock);
    *out = d;
    return RIBO_OK;
}

static const ribo_device_i cl_device_table = {
    .get_props = cl_get_props,
    .buffer_alloc = cl_buffer_alloc,
    .buffer_free = cl_buffer_free,
    .host_alloc = cl_host_alloc,
    .host_free = cl_host_free,
    .stream_create = cl_stream_create,
    .event_create = cl_event_create,
    .bind_thread = cl_bind_thread,
    .memory_info = cl_memory_info,
    .clone = cl_clone,
    .destroy = cl_device_destroy,
};

/* ---------------------------------------------------------------- stream table */

/* Checks that [offset, offset+bytes) lies inside the buffer. */
static ribo_status check_range(ribo_dptr p, size_t bytes, const char *what, ribo_error *err) {
    if (!p.buf || p.offset > p.buf->size || bytes > p.buf->size - p.offset)
        return ribo_error_set(err, RIBO_ERR_INTERNAL, "opencl: %s of %zu bytes at offset %zu is outside its buffer", what,
                              bytes, p.offset);
    return RIBO_OK;
}

static ribo_status cl_copy_h2d(ribo_stream *s, ribo_dptr dst, const void *src, size_t bytes, ribo_error *err) {
    if (bytes == 0) return RIBO_OK;
    RIBO_TRY(check_range(dst, bytes, "host-to-device copy", err));
    cl_int rc = clEnqueueWriteBuffer(ribo_cl_queue(s), dst.buf->mem, CL_FALSE, dst.offset, bytes, src, 0, NULL, NULL);
    return ribo_cl_check(rc, "host-to-device copy", err);
}

static ribo_status cl_copy_d2h(ribo_stream *s, void *dst, ribo_dptr src, size_t bytes, ribo_error *err) {
    if (bytes == 0) return RIBO_OK;
    RIBO_TRY(check_range(src, bytes, "device-to-host copy", err));
    cl_int rc = clEnqueueReadBuffer(ribo_cl_queue(s), src.buf->mem, CL_FALSE, src.offset, bytes, dst, 0, NULL, NULL);
    return ribo_cl_check(rc, "device-to-host copy", err);
}

static ribo_status cl_wait_event(ribo_stream *s, ribo_event *ev, ribo_error *err) {
    ribo_cl_event *ce = ev->ctx;
    if (!ce->event) return RIBO_OK; /* never recorded: nothing to wait for */
    cl_int rc = clEnqueueBarrierWithWaitList(ribo_cl_queue(s), 1, &ce->event, NULL);
    return ribo_cl_check(rc, "stream wait on event", err);
}

static ribo_status cl_record_event(ribo_stream *s, ribo_event *ev, ribo_error *err) {
    ribo_cl_event *ce = ev->ctx;
    cl_event marker;
    cl_int rc = clEnqueueMarkerWithWaitList(ribo_cl_queue(s), 0, NULL, &marker);
    RIBO_TRY(ribo_cl_check(rc, "recording an event", err));
    if (ce->event) clReleaseEvent(ce->event);
    ce->event = marker;
    /* Markers only start once the queue is flushed; make sure another queue can wait on it. */
    return ribo_cl_check(clFlush(ribo_cl_queue(s)), "flushing a queue", err);
}

static ribo_status cl_synchronize(ribo_stream *s, ribo_error *err) {
    return ribo_cl_check(clFinish(ribo_cl_queue(s)), "synchronizing a queue", err);
}

static void cl_stream_destroy(ribo_stream *s) {
    if (!s) return;
    clFinish(ribo_cl_queue(s));
    clReleaseCommandQueue(ribo_cl_queue(s));
    free(s);
}

static const ribo_stream_i cl_stream_table = {
    .copy_h2d = cl_copy_h2d,
    .copy_d2h = cl_copy_d2h,
    .wait_event = cl_wait_event,
    .record_event = cl_record_event,
    .synchronize = cl_synchronize,
    .destroy = cl_stream_destroy,
};

/* ---------------------------------------------------------------- event table */

static ribo_status cl_event_synchronize(ribo_event *ev, ribo_error *err) {
    ribo_cl_event *ce = ev->ctx;
    if (!ce->event) return RIBO_OK;
    return ribo_cl_check(clWaitForEvents(1, &ce->event), "waiting for an event", err);
}

static ribo_status cl_event_query(ribo_event *ev, bool *done, ribo_error *err) {
    ribo_cl_event *ce = ev->ctx;
    *done = true;
    if (!ce->event) return RIBO_OK;
    cl_int status = CL_COMPLETE;
    cl_int rc = clGetEventInfo(ce->event, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, NULL);
    RIBO_TRY(ribo_cl_check(rc, "querying an event", err));
    if (status < 0) return ribo_cl_check(status, "a command before this event failed", err);
    *done = status == CL_COMPLETE;
    return RIBO_OK;
}

static ribo_status cl_event_elapsed(ribo_event *start, ribo_event *end, float *ms, ribo_error *err) {
    ribo_cl_event *a = start->ctx, *b = end->ctx;
    if (!a->event || !b->event) return ribo_error_set(err, RIBO_ERR_INTERNAL, "opencl: elapsed time of an unrecorded event");
    cl_ulong t0 = 0, t1 = 0;
    cl_int rc = clGetEventProfilingInfo(a->event, CL_PROFILING_COMMAND_END, sizeof t0, &t0, NULL);
    if (rc == CL_SUCCESS) rc = clGetEventProfilingInfo(b->event, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL);
    RIBO_TRY(ribo_cl_check(rc, "reading event timestamps", err));
    *ms = (float)((double)(t1 - t0) * 1e-6);
    return RIBO_OK;
}

static void cl_event_destroy(ribo_event *ev) {
    if (!ev) return;
    ribo_cl_event *ce = ev->ctx;
    if (ce->event) clReleaseEvent(ce->event);
    free(ce);
    free(ev);
}

static const ribo_event_i cl_event_table = {
    .synchronize = cl_event_synchronize,
    .query = cl_event_query,
    .elapsed_ms = cl_event_elapsed,
    .destroy = cl_event_destroy,
};

/* ---------------------------------------------------------------- open */

static ribo_status cl_device_open(int index, ribo_storage storage, ribo_device **out, ribo_error *err) {
    *out = NULL;
    cl_platform_id platform;
    cl_device_id device = NULL;
    char note[256] = "";
    int n = find_device(index, &platform, &device, note, sizeof note);
    if (index < 0 || index >= n)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "opencl: no device %d (%d found%s%s)", index, n,
                              note[0] ? "; " : "", note);
    ribo_device *dev = calloc(1, sizeof *dev);
    ribo_cl_device *cd = calloc(1, sizeof *cd);
    if (!dev || !cd) {
        free(dev);
        free(cd);
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "opencl: out of host memory");
    }
    pthread_mutex_init(&cd->launch_lock, NULL);
    pthread_mutex_init(&cd->mem_lock, NULL);
    cd->handles = 1;
    dev->iface = &cl_device_table;
    dev->kernels = &ribo_cl_kernel_table;
    dev->ctx = cd;
    cd->platform = platform;
    cd->device = device;
    read_props(device, &cd->props, &cd->max_work_group);
    if (storage != RIBO_STORAGE_F32) {
        ribo_error_set(err, RIBO_ERR_UNSUPPORTED,
                       "opencl: device %d ('%s') runs --dtype fp32 only; fp16/bf16 need the CUDA or HIP backend",
                       index, cd->props.name);
        cl_device_destroy(dev);
        return RIBO_ERR_UNSUPPORTED;
    }
    cl_int rc;
    cl_context_properties cprops[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)platform, 0};
    cd->context = clCreateContext(cprops, 1, &device, NULL, NULL, &rc);
    if (cd->context) clblast_user_add();
    ribo_status s = ribo_cl_check(rc, "creating a context", err);
    if (s == RIBO_OK) s = ribo_cl_build_kernels(cd, err);
    if (s != RIBO_OK) {
        ribo_error_prefix(err, "device %d ('%s')", index, cd->props.name);
        cl_device_destroy(dev);
        return s;
    }
    *out = dev;
    return RIBO_OK;
}

const ribo_backend_reg ribo_opencl_backend = {
    .name = "opencl",
    .device_count = cl_device_count,
    .device_open = cl_device_open,
    .device_describe = cl_device_describe,
};
