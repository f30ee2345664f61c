/* The backend interface: device, stream, event and kernel tables of function pointers.
 * The engine core talks to GPUs (and CPU OpenCL) only through these tables; it never includes a
 * vendor header. A backend fills the tables with designated initializers (ggml-backend style).
 *
 * The engine calls the tables only through the static inline wrappers at the end of this file
 * (ribo_stream_copy_h2d, ribo_event_query, ribo_kernel_launch, ...): an optional member gets its
 * fallback there, in one place. Every member is mandatory unless marked "(optional)" with its
 * default; ribo_device_open (backend_check.c) refuses a device whose tables miss a mandatory
 * member, naming it, and ribo_stream_create / ribo_event_create do the same for streams and events.
 * Before the first batch the executor asks ribo_kernel_check for every op (shapes at the token
 * budget), so an op or shape a backend cannot run is refused by name, not at its first launch.
 *
 * Memory: a device buffer (ribo_dbuf) is one allocation; a ribo_dptr is (buffer, byte offset),
 * which maps onto cl_mem+offset for OpenCL and onto a plain pointer for CUDA/HIP. */
#ifndef RIBO_ENGINE_BACKEND_H
#define RIBO_ENGINE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ribo_device ribo_device;
typedef struct ribo_stream ribo_stream;
typedef struct ribo_event ribo_event;
typedef struct ribo_dbuf ribo_dbuf;

/* A device address: byte offset into a device buffer. */
typedef struct ribo_dptr {
    ribo_dbuf *buf;
    size_t offset;
} ribo_dptr;

static inline ribo_dptr ribo_dptr_at(ribo_dptr p, size_t bytes) {
    p.offset += bytes;
    return p;
}

/* Storage type of activations and weights on the device. */
typedef enum ribo_storage { RIBO_STORAGE_F32 = 0, RIBO_STORAGE_F16, RIBO_STORAGE_BF16 } ribo_storage;

typedef struct ribo_device_props {
    char name[256];
    char backend[16];
    uint64_t memory_bytes;
    uint64_t max_alloc_bytes;
    bool storage_f16, storage_bf16;   /* dtypes the kernels can run with */
    int warp_size;                    /* lanes of the physical warp / wave (32 NVIDIA, 64 AMD CDNA); 1 for CPUs */
    char matrix_units[48];            /* the matrix instructions the kernels use here ("mma.sync sm_90",
                                         "MFMA gfx90a"), or "" where none are used */
    int compute_units;
    size_t alignment;                 /* byte alignment the kernels want for every tensor a buffer holds
                                         (a power of two; the executor places tensors at multiples of it) */
} ribo_device_props;

/* Device memory as the backend sees it. allocated/peak_allocated count ribo's own buffers on this
 * device handle (buffer_alloc minus buffer_free); free_bytes is what the device reports as free
 * (CUDA: cudaMemGetInfo), or total minus allocated where the API has no such query (OpenCL). */
typedef struct ribo_device_memory {
    uint64_t total_bytes, free_bytes;
    uint64_t allocated_bytes, peak_allocated_bytes;
} ribo_device_memory;

/* ---------------------------------------------------------------- device */
typedef struct ribo_device_i {
    void (*get_props)(ribo_device *dev, ribo_device_props *props);
    ribo_status (*buffer_alloc)(ribo_device *dev, size_t bytes, const char *what, ribo_dbuf **out, ribo_error *err);
    void (*buffer_free)(ribo_device *dev, ribo_dbuf *buf);
    /* Page-locked host memory for staging (plain malloc where the backend has no such thing). */
    ribo_status (*host_alloc)(ribo_device *dev, size_t bytes, void **out, ribo_error *err);
    void (*host_free)(ribo_device *dev, void *ptr);
    /* priority: 0 normal, >0 higher (ignored where the backend has no priorities) */
    ribo_status (*stream_create)(ribo_device *dev, int priority, ribo_stream **out, ribo_error *err);
    ribo_status (*event_create)(ribo_device *dev, bool timing, ribo_event **out, ribo_error *err);
    /* Makes dev the calling thread's current device (CUDA: cudaSetDevice). A pipeline thread calls
     * it once before using the device from that thread; a no-op where devices are not per-thread. */
    ribo_status (*bind_thread)(ribo_device *dev, ribo_error *err);
    /* Memory figures (never fails; fields the backend cannot know are 0). */
    void (*memory_info)(ribo_device *dev, ribo_device_memory *mem);
    /* Another handle on the same device for a second pipeline (destroyed on its own). OpenCL: shares
     * the context and compiled kernels, and kernels of all handles and streams of the device run one
     * after another (copies still overlap them); CUDA: opens the device again (own cuBLASLt handle
     * and workspace, kernels may run concurrently). */
    ribo_status (*clone)(ribo_device *dev, ribo_device **out, ribo_error *err);
    void (*destroy)(ribo_device *dev);
} ribo_device_i;

struct ribo_device {
    const ribo_device_i *iface;
    const struct ribo_kernel_i *kernels;
    void *ctx;
};

/* ---------------------------------------------------------------- stream */
/* Host memory given to copy_h2d/copy_d2h must stay valid (and, for d2h, unread) until the stream is
 * synchronized or an event recorded after the copy has completed. */
typedef struct ribo_stream_i {
    ribo_status (*copy_h2d)(ribo_stream *s, ribo_dptr dst, const void *src, size_t bytes, ribo_error *err);
    ribo_status (*copy_d2h)(ribo_stream *s, void *dst, ribo_dptr src, size_t bytes, ribo_error *err);
    /* Work enqueued after this waits until the event has completed. */
    ribo_status (*wait_event)(ribo_stream *s, ribo_event *ev, ribo_error *err);
    /* The event completes when all work enqueued so far has completed. */
    ribo_status (*record_event)(ribo_stream *s, ribo_event *ev, ribo_error *err);
    ribo_status (*synchronize)(ribo_stream *s, ribo_error *err);
    void (*destroy)(ribo_stream *s);
} ribo_stream_i;

struct ribo_stream {
    const ribo_stream_i *iface;
    ribo_device *dev;
    void *ctx;
};

/* ---------------------------------------------------------------- event */
typedef struct ribo_event_i {
    ribo_status (*synchronize)(ribo_event *ev, ribo_error *err);
    /* *done = true when the event has completed (never blocks). */
    ribo_status (*query)(ribo_event *ev, bool *done, ribo_error *err);
    /* Milliseconds between two completed, recorded timing events. */
    ribo_status (*elapsed_ms)(ribo_event *start, ribo_event *end, float *ms, ribo_error *err);
    void (*destroy)(ribo_event *ev);
} ribo_event_i;

struct ribo_event {
    const ribo_event_i *iface;
    ribo_device *dev;
    void *ctx;
};

/* ---------------------------------------------------------------- kernels
 * Activations are row-major [tokens, width] in the storage type chosen at model load. All
 * kernels compute in fp32. Each entry enqueues on the stream and returns a status. */

typedef enum ribo_activation { RIBO_ACT_NONE = 0, RIBO_ACT_GELU_ERF } ribo_activation;

/* out[t,:] = table[tokens[t],:] * scale[seq_of_token[t]] (zero where tokens[t] == mask_id)
 *          + add_row[:]  (optional, e.g. BERT's token-type-0 embedding; buf == NULL: none). */
typedef struct ribo_embed_args {
    ribo_dptr tokens, seq_of_token, seq_scale; /* int32 [T], int32 [T], f32 [B] */
    ribo_dptr table;                           /* [vocab, width] */
    ribo_dptr out;                             /* [T, width] */
    int n_tokens, width, vocab, mask_id;       /* mask_id < 0: none */
    ribo_dptr add_row;                         /* [width] in the storage type, optional */
} ribo_embed_args;

/* out = (x - mean) / sqrt(var + eps) * gamma + beta, per row. */
typedef struct ribo_layer_norm_args {
    ribo_dptr x, gamma, beta, out;
    int rows, width;
    float eps;
} ribo_layer_norm_args;

/* out[m,n] = act(sum_k x[m,k] * w[n,k] + bias[n]) + residual[m,n]  (w is [N,K] as torch Linear).
 * bias/residual optional (buf == NULL). out may not alias x; it may alias residual. */
typedef struct ribo_linear_args {
    ribo_dptr x, w, bias, residual, out;
    int m, n, k;
    ribo_activation act;
} ribo_linear_args;

/* Packed varlen attention over qkv [T, 3*H*D] (Q | K | V, each head-major): for every token t of
 * sequence s and head h,
 * out[t, h*D:(h+1)*D] = softmax_j(q_t . k_j * scale + bias(h,i,j)) v_j over j in sequence s only,
 * bias = -alibi_slopes[h] * |i - j| when alibi_slopes.buf != NULL.
 * rotary != 0 (rotary position embeddings, ESM-2): Q and K are first transformed as
 *   q *= q_scale; then for q and k of every head, with f_i = rope_theta^(-2i/D), a = positions[t] * f_i:
 *   (x_i, x_{i+D/2}) <- (x_i cos a - x_{i+D/2} sin a, x_{i+D/2} cos a + x_i sin a), i < D/2
 *   (the split-half / NeoX layout), rounded to the storage type, then attended. positions must be
 * each token's index within its sequence (0-based, restarting per sequence, as RIBO_INPUT_POSITIONS):
 * a kernel that fuses the rotation derives them from cu_seqlens. The backend alone decides whether the
 * rotation runs inside the attention kernel or as its own pass first. Afterwards the Q and K parts of
 * qkv are unspecified (a backend may rotate them in place). */
typedef struct ribo_attention_args {
    ribo_dptr qkv, cu_seqlens, seq_of_token, alibi_slopes, out;
    int n_tokens, n_seqs, max_seqlen, n_heads, head_dim;
    float scale;
    ribo_dptr positions;             /* int32 [T]; read only when rotary */
    float rope_theta, q_scale;
    int rotary;
} ribo_attention_args;

/* Gated linear unit: out[r, c] = act(x[r, c]) * x[r, width + c]  (x is [rows, 2*width], out
 * [rows, width]; GeGLU with RIBO_ACT_GELU_ERF). */
typedef struct ribo_glu_args {
    ribo_dptr x, out;
    int rows, width;
    ribo_activation act;
} ribo_glu_args;

typedef enum ribo_pool_mode { RIBO_POOL_MODE_MEAN = 0, RIBO_POOL_MODE_FIRST, RIBO_POOL_MODE_COPY } ribo_pool_mode;

/* Per sequence s over its tokens [cu[s] + skip_begin, cu[s+1] - skip_end):
 * MEAN: out[s,:] = mean; FIRST: out[s,:] = x[cu[s],:]; COPY: the rows are copied to
 * out[(cu[s] - s*(skip_begin+skip_end)) + i, :] (compacted per-residue). out is always fp32. */
typedef struct ribo_pool_args {
    ribo_dptr x, cu_seqlens, seq_of_token, out;
    int n_seqs, n_tokens, width, skip_begin, skip_end;
    ribo_pool_mode mode;
} ribo_pool_args;

/* One kernel call, as the executor makes it or as it will make it: the op and its args. */
typedef enum ribo_kernel_op {
    RIBO_KERNEL_EMBED = 0,
    RIBO_KERNEL_LAYER_NORM,
    RIBO_KERNEL_LINEAR,
    RIBO_KERNEL_ATTENTION,
    RIBO_KERNEL_POOL,
    RIBO_KERNEL_GLU,
    RIBO_KERNEL_OP_COUNT
} ribo_kernel_op;

typedef struct ribo_kernel_call {
    ribo_kernel_op op;
    union {
        ribo_embed_args embed;
        ribo_layer_norm_args layer_norm;
        ribo_linear_args linear;
        ribo_attention_args attention;
        ribo_pool_args pool;
        ribo_glu_args glu;
    };
} ribo_kernel_call;

typedef struct ribo_kernel_i {
    ribo_status (*embed)(ribo_stream *s, const ribo_embed_args *a, ribo_error *err);
    ribo_status (*layer_norm)(ribo_stream *s, const ribo_layer_norm_args *a, ribo_error *err);
    ribo_status (*linear)(ribo_stream *s, const ribo_linear_args *a, ribo_error *err);
    ribo_status (*attention)(ribo_stream *s, const ribo_attention_args *a, ribo_error *err);
    ribo_status (*pool)(ribo_stream *s, const ribo_pool_args *a, ribo_error *err);
    ribo_status (*glu)(ribo_stream *s, const ribo_glu_args *a, ribo_error *err);
    /* fp32 device data -> device storage type (weights upload); count elements. */
    ribo_status (*convert_from_f32)(ribo_stream *s, ribo_dptr dst_storage, ribo_dptr src_f32, size_t count,
                                    ribo_error *err);
    /* (optional; default: every call is supported) Whether this device, as opened, can run `call`:
     * the args carry the shapes of the largest batch the executor will run (n_tokens and max_seqlen at
     * the token budget, n_seqs at the sequence budget) and the buffers it will pass (a NULL buffer =
     * absent, as in the launch; a check must not dereference them: before allocation they are
     * placeholders). RIBO_ERR_UNSUPPORTED with a message naming the backend, the op and the
     * limit ("cuda: attention head size 160 is not in 1..128") when it cannot. No work is enqueued. */
    ribo_status (*check)(ribo_device *dev, const ribo_kernel_call *call, ribo_error *err);
} ribo_kernel_i;

/* ---------------------------------------------------------------- registry */
typedef struct ribo_backend_reg {
    const char *name;
    /* Number of usable devices; 0 with a note (e.g. "no OpenCL platform") when none. */
    int (*device_count)(char *note, size_t note_cap);
    ribo_status (*device_open)(int index, ribo_storage storage, ribo_device **out, ribo_error *err);
    /* Props without opening a full device (for `ribo devices`). */
    ribo_status (*device_describe)(int index, ribo_device_props *props, ribo_error *err);
} ribo_backend_reg;

/* Compiled-in backends, in "auto" preference order. */
size_t ribo_backend_count(void);
const ribo_backend_reg *ribo_backend_at(size_t i);
const ribo_backend_reg *ribo_backend_find(const char *name);

/* The backend of a name ("auto" = the first with a device), without opening anything. */
ribo_status ribo_backend_resolve(const char *name, const ribo_backend_reg **reg, ribo_error *err);

/* Opens device `index` of reg and checks its tables (ribo_device_check_tables). */
ribo_status ribo_device_open(const ribo_backend_reg *reg, int index, ribo_storage storage, ribo_device **out,
                             ribo_error *err);

/* Chooses a backend by name ("auto" = first with a device) and opens device `index` (ribo_device_open). */
ribo_status ribo_backend_open(const char *name, int index, ribo_storage storage, ribo_device **out,
                              const ribo_backend_reg **reg_out, ribo_error *err);

/* RIBO_ERR_INTERNAL "backend 'x' has no 'glu' kernel" (or device/stream/event member) when a mandatory
 * member of dev's device or kernel table is NULL; RIBO_OK otherwise. backend names it in the message. */
ribo_status ribo_device_check_tables(const char *backend, const ribo_device *dev, ribo_error *err);
/* The same for a stream's table (ribo_stream_create runs it) and an event's (ribo_event_create). */
ribo_status ribo_stream_check_table(const ribo_stream *s, ribo_error *err);
ribo_status ribo_event_check_table(const ribo_event *ev, ribo_error *err);

/* ---------------------------------------------------------------- wrappers
 * The engine's only way into the tables (one place for argument order and optional members). */

static inline void ribo_device_get_props(ribo_device *dev, ribo_device_props *props) {
    memset(props, 0, sizeof *props); /* a field the backend does not fill reads as 0 */
    dev->iface->get_props(dev, props);
}
static inline ribo_status ribo_buffer_alloc(ribo_device *dev, size_t bytes, const char *what, ribo_dbuf **out,
                                            ribo_error *err) {
    return dev->iface->buffer_alloc(dev, bytes, what, out, err);
}
static inline void ribo_buffer_free(ribo_device *dev, ribo_dbuf *buf) { dev->iface->buffer_free(dev, buf); }
static inline ribo_status ribo_host_alloc(ribo_device *dev, size_t bytes, void **out, ribo_error *err) {
    return dev->iface->host_alloc(dev, bytes, out, err);
}
static inline void ribo_host_free(ribo_device *dev, void *ptr) { dev->iface->host_free(dev, ptr); }
static inline ribo_status ribo_device_bind_thread(ribo_device *dev, ribo_error *err) {
    return dev->iface->bind_thread(dev, err);
}
static inline void ribo_device_memory_info(ribo_device *dev, ribo_device_memory *mem) { dev->iface->memory_info(dev, mem); }
/* A second handle on dev (its tables checked as at open). */
ribo_status ribo_device_clone(ribo_device *dev, ribo_device **out, ribo_error *err);
static inline void ribo_device_destroy(ribo_device *dev) {
    if (dev) dev->iface->destroy(dev);
}

/* Creates a stream (its table checked). */
ribo_status ribo_stream_create(ribo_device *dev, int priority, ribo_stream **out, ribo_error *err);
static inline ribo_status ribo_stream_copy_h2d(ribo_stream *s, ribo_dptr dst, const void *src, size_t bytes,
                                               ribo_error *err) {
    return s->iface->copy_h2d(s, dst, src, bytes, err);
}
static inline ribo_status ribo_stream_copy_d2h(ribo_stream *s, void *dst, ribo_dptr src, size_t bytes, ribo_error *err) {
    return s->iface->copy_d2h(s, dst, src, bytes, err);
}
static inline ribo_status ribo_stream_wait_event(ribo_stream *s, ribo_event *ev, ribo_error *err) {
    return s->iface->wait_event(s, ev, err);
}
static inline ribo_status ribo_stream_record_event(ribo_stream *s, ribo_event *ev, ribo_error *err) {
    return s->iface->record_event(s, ev, err);
}
static inline ribo_status ribo_stream_synchronize(ribo_stream *s, ribo_error *err) { return s->iface->synchronize(s, err); }
static inline void ribo_stream_destroy(ribo_stream *s) {
    if (s) s->iface->destroy(s);
}

/* Creates an event (its table checked). */
ribo_status ribo_event_create(ribo_device *dev, bool timing, ribo_event **out, ribo_error *err);
static inline ribo_status ribo_event_synchronize(ribo_event *ev, ribo_error *err) { return ev->iface->synchronize(ev, err); }
static inline ribo_status ribo_event_query(ribo_event *ev, bool *done, ribo_error *err) {
    return ev->iface->query(ev, done, err);
}
static inline ribo_status ribo_event_elapsed_ms(ribo_event *start, ribo_event *end, float *ms, ribo_error *err) {
    return start->iface->elapsed_ms(start, end, ms, err);
}
static inline void ribo_event_destroy(ribo_event *ev) {
    if (ev) ev->iface->destroy(ev);
}

/* Enqueues one kernel call on s. */
static inline ribo_status ribo_kernel_launch(ribo_stream *s, const ribo_kernel_call *c, ribo_error *err) {
    const ribo_kernel_i *k = s->dev->kernels;
    switch (c->op) {
    case RIBO_KERNEL_EMBED: return k->embed(s, &c->embed, err);
    case RIBO_KERNEL_LAYER_NORM: return k->layer_norm(s, &c->layer_norm, err);
    case RIBO_KERNEL_LINEAR: return k->linear(s, &c->linear, err);
    case RIBO_KERNEL_ATTENTION: return k->attention(s, &c->attention, err);
    case RIBO_KERNEL_POOL: return k->pool(s, &c->pool, err);
    case RIBO_KERNEL_GLU: return k->glu(s, &c->glu, err);
    case RIBO_KERNEL_OP_COUNT: break;
    }
    return ribo_error_set(err, RIBO_ERR_INTERNAL, "kernel call of unknown op %d", (int)c->op);
}
/* Whether dev can run c: its kernel member exists (a kernel added later may be optional in
 * backend_check.c, so a backend that lacks it refuses by name here instead of crashing), then
 * ribo_kernel_i.check where the backend has one. */
ribo_status ribo_kernel_check(ribo_device *dev, const ribo_kernel_call *c, ribo_error *err);
static inline ribo_status ribo_kernel_convert_from_f32(ribo_stream *s, ribo_dptr dst_storage, ribo_dptr src_f32,
                                                       size_t count, ribo_error *err) {
    return s->dev->kernels->convert_from_f32(s, dst_storage, src_f32, count, err);
}

#ifdef __cplusplus
}
#endif

#endif
