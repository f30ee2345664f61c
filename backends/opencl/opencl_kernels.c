/* OpenCL backend: the embedded program, kernel launches and CLBlast GEMMs. */
#include <clblast_c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opencl_internal.h"

extern const char ribo_opencl_kernel_source[]; /* generated from kernels/ (.cl files) at build time */

static const char *const kernel_names[RIBO_CL_KERNEL_COUNT] = {
    [RIBO_CL_EMBED] = "ribo_embed",
    [RIBO_CL_LAYER_NORM] = "ribo_layer_norm",
    [RIBO_CL_LINEAR_EPILOGUE] = "ribo_linear_epilogue",
    [RIBO_CL_ROTARY] = "ribo_rotary",
    [RIBO_CL_ATTENTION] = "ribo_attention",
    [RIBO_CL_POOL_MEAN] = "ribo_pool_mean",
    [RIBO_CL_POOL_FIRST] = "ribo_pool_first",
    [RIBO_CL_POOL_COPY] = "ribo_pool_copy",
    [RIBO_CL_GLU] = "ribo_glu",
};

/* Sizes the kernels are compiled with (-D options of the program build below). */
#define RIBO_CL_LN_WG 64          /* work-group of one LayerNorm row (RIBO_LN_WG in layer_norm.cl) */
#define RIBO_CL_MAX_HEAD_DIM 128  /* private q/acc arrays of attention.cl (RIBO_MAX_HEAD_DIM) */
#define RIBO_CL_STR(x) #x
#define RIBO_CL_XSTR(x) RIBO_CL_STR(x)

ribo_status ribo_cl_build_kernels(ribo_cl_device *cd, ribo_error *err) {
    cl_int rc;
    const char *src = ribo_opencl_kernel_source;
    cd->program = clCreateProgramWithSource(cd->context, 1, &src, NULL, &rc);
    RIBO_TRY(ribo_cl_check(rc, "creating the kernel program", err));
    rc = clBuildProgram(cd->program, 1, &cd->device,
                        "-cl-std=CL1.2 -DRIBO_MAX_HEAD_DIM=" RIBO_CL_XSTR(RIBO_CL_MAX_HEAD_DIM)
                        " -DRIBO_LN_WG=" RIBO_CL_XSTR(RIBO_CL_LN_WG),
                        NULL, NULL);
    if (rc != CL_SUCCESS) {
        char log[2048] = "";
        clGetProgramBuildInfo(cd->program, cd->device, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, NULL);
        return ribo_error_set(err, RIBO_ERR_DEVICE, "opencl: building the embedded kernels failed (%s): %.600s",
                              ribo_cl_error_name(rc), log);
    }
    for (int k = 0; k < RIBO_CL_KERNEL_COUNT; ++k) {
        cd->kernels[k] = clCreateKernel(cd->program, kernel_names[k], &rc);
        char what[96];
        snprintf(what, sizeof what, "creating kernel %s", kernel_names[k]);
        RIBO_TRY(ribo_cl_check(rc, what, err));
    }
    return RIBO_OK;
}

void ribo_cl_release_kernels(ribo_cl_device *cd) {
    for (int k = 0; k < RIBO_CL_KERNEL_COUNT; ++k)
        if (cd->kernels[k]) clReleaseKernel(cd->kernels[k]);
    if (cd->program) clReleaseProgram(cd->program);
}

/* ---------------------------------------------------------------- launching */

typedef struct kernel_arg {
    size_t size;
    const void *value;
} kernel_arg;

/* A device pointer as the (cl_mem, element offset) pair the kernels take. */
typedef struct mem_arg {
    cl_mem mem;
    cl_ulong offset;
} mem_arg;

/* Converts a dptr (4-byte elements) to a kernel argument pair; `fallback` stands in for unused ones. */
static mem_arg mem_of(ribo_dptr p, ribo_dptr fallback) {
    if (!p.buf) p = fallback;
    mem_arg m = {p.buf->mem, (cl_ulong)(p.offset / 4)};
    return m;
}

#define ARG(x) ((kernel_arg){sizeof(x), &(x)})
#define MEM(m) ARG((m).mem), ARG((m).offset)
#define N_ARGS(a) ((int)(sizeof(a) / sizeof *(a)))

/* Kernels of one device never run concurrently (see ribo_cl_device.last_kernel): the number of
 * events a kernel enqueued on q must wait for (launch_lock held). */
static cl_uint kernel_wait(const ribo_cl_device *cd, cl_command_queue q) {
    return cd->last_kernel && cd->last_queue != q ? 1u : 0u;
}

/* Records ev as the device's last kernel (launch_lock held; takes ownership of ev). */
static void kernel_done(ribo_cl_device *cd, cl_command_queue q, cl_event ev) {
    if (!ev) return;
    if (cd->last_kernel) clReleaseEvent(cd->last_kernel);
    cd->last_kernel = ev;
    cd->last_queue = q;
}

/* Sets the arguments and enqueues one kernel; serialized per device so threads cannot interleave. */
static ribo_status launch(ribo_stream *s, int id, const kernel_arg *args, int n_args, cl_uint dims,
                          const size_t *global, const size_t *local, ribo_error *err) {
    ribo_cl_device *cd = ribo_cl_dev(s->dev);
    cl_kernel k = cd->kernels[id];
    cl_command_queue q = ribo_cl_queue(s);
    pthread_mutex_lock(&cd->launch_lock);
    cl_int rc = CL_SUCCESS;
    for (int i = 0; i < n_args && rc == CL_SUCCESS; ++i) rc = clSetKernelArg(k, (cl_uint)i, args[i].size, args[i].value);
    cl_event ev = NULL;
    cl_uint n_wait = kernel_wait(cd, q);
    if (rc == CL_SUCCESS)
        rc = clEnqueueNDRangeKernel(q, k, dims, NULL, global, local, n_wait, n_wait ? &cd->last_kernel : NULL, &ev);
    if (rc == CL_SUCCESS) kernel_done(cd, q, ev);
    pthread_mutex_unlock(&cd->launch_lock);
    char what[96];
    snprintf(what, sizeof what, "launching %s", kernel_names[id]);
    return ribo_cl_check(rc, what, err);
}

/* ---------------------------------------------------------------- kernel table */

static ribo_status cl_embed(ribo_stream *s, const ribo_embed_args *a, ribo_error *err) {
    mem_arg tok = mem_of(a->tokens, a->out), sot = mem_of(a->seq_of_token, a->out);
    mem_arg sc = mem_of(a->seq_scale, a->out), tab = mem_of(a->table, a->out), out = mem_of(a->out, a->out);
    mem_arg add = mem_of(a->add_row, a->out);
    cl_int width = a->width, mask = a->mask_id, n_tokens = a->n_tokens, has_add = a->add_row.buf != NULL;
    kernel_arg args[] = {MEM(tok), MEM(sot), MEM(sc), MEM(tab), MEM(add), MEM(out), ARG(width), ARG(mask), ARG(has_add),
                         ARG(n_tokens)};
    size_t global[2] = {(size_t)a->width, (size_t)a->n_tokens};
    return launch(s, RIBO_CL_EMBED, args, N_ARGS(args), 2, global, NULL, err);
}

static ribo_status cl_layer_norm(ribo_stream *s, const ribo_layer_norm_args *a, ribo_error *err) {
    mem_arg x = mem_of(a->x, a->out), g = mem_of(a->gamma, a->out), b = mem_of(a->beta, a->out);
    mem_arg out = mem_of(a->out, a->out);
    cl_int width = a->width, rows = a->rows;
    cl_float eps = a->eps;
    kernel_arg args[] = {MEM(x), MEM(g), MEM(b), MEM(out), ARG(width), ARG(eps), ARG(rows)};
    size_t global[2] = {RIBO_CL_LN_WG, (size_t)a->rows}, local[2] = {RIBO_CL_LN_WG, 1};
    return launch(s, RIBO_CL_LAYER_NORM, args, N_ARGS(args), 2, global, local, err);
}

static ribo_status cl_linear(ribo_stream *s, const ribo_linear_args *a, ribo_error *err) {
    if (a->residual.buf == a->out.buf && a->residual.buf && a->residual.offset == a->out.offset)
        return ribo_error_set(err, RIBO_ERR_INTERNAL, "opencl: linear with residual aliasing its output");
    ribo_cl_device *cd = ribo_cl_dev(s->dev);
    cl_command_queue q = ribo_cl_queue(s);
    pthread_mutex_lock(&cd->launch_lock);
    cl_int rc = kernel_wait(cd, q) ? clEnqueueBarrierWithWaitList(q, 1, &cd->last_kernel, NULL) : CL_SUCCESS;
    cl_event ev = NULL;
    CLBlastStatusCode st = rc != CL_SUCCESS ? (CLBlastStatusCode)rc
                         : CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeYes, (size_t)a->m,
                                        (size_t)a->n, (size_t)a->k, 1.0f, a->x.buf->mem, a->x.offset / 4, (size_t)a->k,
                                        a->w.buf->mem, a->w.offset / 4, (size_t)a->k, 0.0f, a->out.buf->mem,
                                        a->out.offset / 4, (size_t)a->n, &q, &ev);
    if (st == CLBlastSuccess) kernel_done(cd, q, ev);
    pthread_mutex_unlock(&cd->launch_lock);
    if (st != CLBlastSuccess)
        return ribo_error_set(err, st == CLBlastOpenCLOutOfResources ? RIBO_ERR_OUT_OF_MEMORY : RIBO_ERR_DEVICE,
                              "opencl: CLBlast sgemm %dx%dx%d failed with status %d", a->m, a->n, a->k, (int)st);
    cl_int has_bias = a->bias.buf != NULL, has_res = a->residual.buf != NULL, act = a->act == RIBO_ACT_GELU_ERF;
    if (!has_bias && !has_res && !act) return RIBO_OK;
    mem_arg out = mem_of(a->out, a->out), bias = mem_of(a->bias, a->out), res = mem_of(a->residual, a->out);
    cl_int n = a->n, m = a->m;
    kernel_arg args[] = {MEM(out), MEM(bias), MEM(res), ARG(n), ARG(has_bias), ARG(has_res), ARG(act), ARG(m)};
    size_t global[2] = {(size_t)a->n, (size_t)a->m};
    return launch(s, RIBO_CL_LINEAR_EPILOGUE, args, N_ARGS(args), 2, global, NULL, err);
}

static ribo_status cl_rotary(ribo_stream *s, const ribo_cl_rotary_args *a, ribo_error *err) {
    mem_arg qkv = mem_of(a->qkv, a->qkv), pos = mem_of(a->positions, a->qkv);
    cl_int heads = a->n_heads, hd = a->head_dim, n_tokens = a->n_tokens;
    cl_float theta = a->theta, qs = a->q_scale;
    kernel_arg args[] = {MEM(qkv), MEM(pos), ARG(heads), ARG(hd), ARG(theta), ARG(qs), ARG(n_tokens)};
    size_t global[3] = {(size_t)a->head_dim / 2, (size_t)a->n_heads, (size_t)a->n_tokens};
    return launch(s, RIBO_CL_ROTARY, args, N_ARGS(args), 3, global, NULL, err);
}

/* Limits of the attention kernels: the head size fits the private arrays of attention.cl, rotary
 * needs an even head size and the positions. */
static ribo_status check_attention(const ribo_attention_args *a, ribo_error *err) {
    if (a->head_dim < 1 || a->head_dim > RIBO_CL_MAX_HEAD_DIM)
        return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, "opencl: attention head size %d is not in 1..%d", a->head_dim,
                              RIBO_CL_MAX_HEAD_DIM);
    if (a->rotary && a->head_dim % 2)
        return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, "opencl: rotary attention needs an even head size (got %d)",
                              a->head_dim);
    if (a->rotary && !a->positions.buf)
        return ribo_error_set(err, RIBO_ERR_INTERNAL, "opencl: attention with rotary but no positions");
    return RIBO_OK;
}

/* Attention; with a->rotary, the rotary pass runs on qkv in place first (this backend has no fused
 * rotary attention kernel). */
static ribo_status cl_attention(ribo_stream *s, const ribo_attention_args *a, ribo_error *err) {
    RIBO_TRY(check_attention(a, err));
    if (a->rotary) {
        ribo_cl_rotary_args r = {.qkv = a->qkv, .positions = a->positions, .n_tokens = a->n_tokens,
                                 .n_heads = a->n_heads, .head_dim = a->head_dim, .theta = a->rope_theta,
                                 .q_scale = a->q_scale};
        RIBO_TRY(cl_rotary(s, &r, err));
    }
    mem_arg qkv = mem_of(a->qkv, a->out), cu = mem_of(a->cu_seqlens, a->out), sot = mem_of(a->seq_of_token, a->out);
    mem_arg alibi = mem_of(a->alibi_slopes, a->out), out = mem_of(a->out, a->out);
    cl_int heads = a->n_heads, hd = a->head_dim, has_alibi = a->alibi_slopes.buf != NULL, n_tokens = a->n_tokens;
    cl_float scale = a->scale;
    kernel_arg args[] = {MEM(qkv), MEM(cu), MEM(sot), MEM(alibi), MEM(out), ARG(heads), ARG(hd), ARG(scale), ARG(has_alibi),
                         ARG(n_tokens)};
    size_t global[2] = {(size_t)a->n_heads, (size_t)a->n_tokens};
    return launch(s, RIBO_CL_ATTENTION, args, N_ARGS(args), 2, global, NULL, err);
}

static ribo_status cl_pool(ribo_stream *s, const ribo_pool_args *a, ribo_error *err) {
    mem_arg x = mem_of(a->x, a->out), cu = mem_of(a->cu_seqlens, a->out), sot = mem_of(a->seq_of_token, a->out);
    mem_arg out = mem_of(a->out, a->out);
    cl_int width = a->width, sb = a->skip_begin, se = a->skip_end, n_tokens = a->n_tokens, n_seqs = a->n_seqs;
    if (a->mode == RIBO_POOL_MODE_COPY) {
        if (!a->seq_of_token.buf) return ribo_error_set(err, RIBO_ERR_INTERNAL, "opencl: per-residue pool without seq_of_token");
        kernel_arg args[] = {MEM(x), MEM(cu), MEM(sot), MEM(out), ARG(width), ARG(sb), ARG(se), ARG(n_tokens)};
        size_t global[2] = {(size_t)a->width, (size_t)a->n_tokens};
        return launch(s, RIBO_CL_POOL_COPY, args, N_ARGS(args), 2, global, NULL, err);
    }
    kernel_arg args[] = {MEM(x), MEM(cu), MEM(out), ARG(width), ARG(sb), ARG(se), ARG(n_seqs)};
    size_t global[2] = {(size_t)a->width, (size_t)a->n_seqs};
    return launch(s, a->mode == RIBO_POOL_MODE_MEAN ? RIBO_CL_POOL_MEAN : RIBO_CL_POOL_FIRST, args, N_ARGS(args), 2,
                  global, NULL, err);
}

static ribo_status cl_glu(ribo_stream *s, const ribo_glu_args *a, ribo_error *err) {
    mem_arg x = mem_of(a->x, a->out), out = mem_of(a->out, a->out);
    cl_int width = a->width, rows = a->rows, act = a->act == RIBO_ACT_GELU_ERF;
    kernel_arg args[] = {MEM(x), MEM(out), ARG(width), ARG(act), ARG(rows)};
    size_t global[2] = {(size_t)a->width, (size_t)a->rows};
    return launch(s, RIBO_CL_GLU, args, N_ARGS(args), 2, global, NULL, err);
}

static ribo_status cl_convert_from_f32(ribo_stream *s, ribo_dptr dst, ribo_dptr src, size_t count, ribo_error *err) {
    return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, "opencl: reduced-precision storage is not implemented");
}

/* ribo_kernel_i.check: the attention limits; every other op runs at any shape the engine makes. */
static ribo_status cl_check(ribo_device *dev, const ribo_kernel_call *c, ribo_error *err) {
    return c->op == RIBO_KERNEL_ATTENTION ? check_attention(&c->attention, err) : RIBO_OK;
}

const ribo_kernel_i ribo_cl_kernel_table = {
    .embed = cl_embed,
    .layer_norm = cl_layer_norm,
    .linear = cl_linear,
    .attention = cl_attention,
    .pool = cl_pool,
    .glu = cl_glu,
    .convert_from_f32 = cl_convert_from_f32,
    .check = cl_check,
};
