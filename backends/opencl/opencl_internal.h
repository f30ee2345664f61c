/* Private state of the OpenCL backend, shared by its source files. */
#ifndef RIBO_OPENCL_INTERNAL_H
#define RIBO_OPENCL_INTERNAL_H

#include <CL/cl.h>
#include <pthread.h>

#include "engine/backend.h"

enum ribo_cl_kernel_id {
    RIBO_CL_EMBED,
    RIBO_CL_LAYER_NORM,
    RIBO_CL_LINEAR_EPILOGUE,
    RIBO_CL_ROTARY,
    RIBO_CL_ATTENTION,
    RIBO_CL_POOL_MEAN,
    RIBO_CL_POOL_FIRST,
    RIBO_CL_POOL_COPY,
    RIBO_CL_GLU,
    RIBO_CL_KERNEL_COUNT
};

typedef struct ribo_cl_device {
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_program program;
    cl_kernel kernels[RIBO_CL_KERNEL_COUNT];
    pthread_mutex_t launch_lock;  /* clSetKernelArg + enqueue must not interleave across threads */
    /* Under launch_lock: the last kernel enqueued on any queue of the device. A kernel enqueued on
     * another queue waits for it, so kernels never run concurrently (pocl 3.1 races when one kernel
     * runs from two queues at once) while copies on other queues still overlap them. */
    cl_event last_kernel;
    cl_command_queue last_queue;
    pthread_mutex_t mem_lock;     /* guards the counters below */
    uint64_t allocated, peak_allocated;
    int handles;                  /* ribo_device handles sharing this device (clone) */
    ribo_device_props props;
    size_t max_work_group;
} ribo_cl_device;

struct ribo_dbuf {
    cl_mem mem;
    size_t size;
};

typedef struct ribo_cl_event {
    cl_event event;               /* latest recorded marker, NULL before the first record */
} ribo_cl_event;

/* Turns an OpenCL status into a ribo status with "opencl: <what>: <CL_ERROR_NAME> (code)". */
ribo_status ribo_cl_check(cl_int rc, const char *what, ribo_error *err);
const char *ribo_cl_error_name(cl_int rc);

/* The in-place rotary pass attention runs first when asked for rotary Q and K: q *= q_scale, then the
 * split-half rotation by positions (see ribo_attention_args). */
typedef struct ribo_cl_rotary_args {
    ribo_dptr qkv, positions;        /* positions int32 [T] */
    int n_tokens, n_heads, head_dim;
    float theta, q_scale;
} ribo_cl_rotary_args;

static inline cl_command_queue ribo_cl_queue(ribo_stream *s) { return (cl_command_queue)s->ctx; }
static inline ribo_cl_device *ribo_cl_dev(ribo_device *d) { return (ribo_cl_device *)d->ctx; }

/* Builds the embedded program and creates every kernel (once per context). */
ribo_status ribo_cl_build_kernels(ribo_cl_device *cd, ribo_error *err);
void ribo_cl_release_kernels(ribo_cl_device *cd);

extern const ribo_kernel_i ribo_cl_kernel_table;
extern const ribo_backend_reg ribo_opencl_backend;

#endif
