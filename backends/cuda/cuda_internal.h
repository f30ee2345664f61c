/* Private state of the CUDA backend, shared by its source files. */
#ifndef RIBO_CUDA_INTERNAL_H
#define RIBO_CUDA_INTERNAL_H

#include <pthread.h>

#include "engine/backend.h"
#include "vendor.h"

/* The GEMM library's state on one device handle, defined by the file that implements the GEMMs
 * (cuda_gemm.cu: cuBLASLt handle, workspace, plan cache; backends/hip/hip_gemm.cu: rocBLAS). */
struct ribo_cuda_blas;

/* Attention kernel family asked for with RIBO_ATTENTION=mma|wmma|simt (read once, at device open). */
typedef enum ribo_cuda_attn_choice { RIBO_CUDA_ATTN_MMA = 0, RIBO_CUDA_ATTN_WMMA, RIBO_CUDA_ATTN_SIMT } ribo_cuda_attn_choice;

typedef enum ribo_cuda_rotary_fusion {
    RIBO_CUDA_ROTARY_SEPARATE = 0,
    RIBO_CUDA_ROTARY_FUSED_QK = 1,
    RIBO_CUDA_ROTARY_FUSED_Q = 2
} ribo_cuda_rotary_fusion;

typedef struct ribo_cuda_device {
    int ordinal;
    int cc_major, cc_minor;       /* compute capability */
    ribo_storage storage;
    ribo_device_props props;
    ribo_cuda_attn_choice attn_choice;
    /* head sizes whose tensor-core attention kernels can run on this device (bit per size, see
     * cuda_attention_wmma.cu / cuda_attention_mma.cu), set once with their shared-memory limits at open */
    unsigned attn_wmma_dims, attn_mma_dims;
    /* RIBO_FUSE_ROTARY: where the mma attention kernel applies the rotary embedding; 0: nowhere (the
     * separate pass rotates q and k), 1: q and k (every query tile re-rotates the key tiles it reads),
     * q (the default): q only, k by the separate pass (once per element) */
    ribo_cuda_rotary_fusion rotary_fusion;
    bool ln_block;                /* RIBO_LAYER_NORM=block: always the one-block-per-row LayerNorm */
    struct ribo_cuda_blas *blas;  /* owned by ribo_cuda_gemm_init / ribo_cuda_gemm_release */
    pthread_mutex_t mem_lock;     /* guards the allocation counters below */
    uint64_t allocated, peak_allocated;
} ribo_cuda_device;

struct ribo_dbuf {
    void *ptr;
    size_t size;
};

static inline ribo_cuda_device *ribo_cuda_dev(ribo_device *d) { return (ribo_cuda_device *)d->ctx; }
static inline cudaStream_t ribo_cuda_stream(ribo_stream *s) { return (cudaStream_t)s->ctx; }
/* Raw device address of a dptr (NULL for an unused one). */
static inline void *ribo_cuda_ptr(ribo_dptr p) { return p.buf ? (char *)p.buf->ptr + p.offset : nullptr; }

/* ---------------------------------------------------------------- cuda_error.cu */
/* CUDA status -> ribo status "cuda: <what>: <error string> (<name>)" ; OOM maps to RIBO_ERR_OUT_OF_MEMORY. */
ribo_status ribo_cuda_check(cudaError_t rc, const char *what, ribo_error *err);
/* Makes the device current for this thread. */
ribo_status ribo_cuda_use(ribo_device *dev, ribo_error *err);

/* ---------------------------------------------------------------- cuda_gemm.cu (HIP: hip_gemm.cu) */
/* ribo_kernel_i.linear: y = x @ w^T (+ bias) (+ residual), then the activation. */
ribo_status ribo_cuda_linear(ribo_stream *s, const ribo_linear_args *a, ribo_error *err);
/* Creates cd->blas at device open (the library handle, its workspace; reads RIBO_GELU_EPILOGUE);
 * release frees it (NULL-safe, idempotent). */
ribo_status ribo_cuda_gemm_init(ribo_cuda_device *cd, ribo_error *err);
void ribo_cuda_gemm_release(ribo_cuda_device *cd);

/* ---------------------------------------------------------------- cuda_gelu.cu */
/* Exact erf GELU in place over count elements of the device's storage (after a GEMM). */
void ribo_cuda_gelu_inplace(cudaStream_t stream, void *ptr, size_t count, ribo_storage storage);

/* ---------------------------------------------------------------- cuda_norm.cu */
/* LayerNorm set-up at device open: reads RIBO_LAYER_NORM (rows | block). */
ribo_status ribo_cuda_layer_norm_init(ribo_cuda_device *cd, ribo_error *err);
ribo_status ribo_cuda_layer_norm(ribo_stream *s, const ribo_layer_norm_args *a, ribo_error *err);

/* ---------------------------------------------------------------- cuda_pool.cu */
ribo_status ribo_cuda_pool(ribo_stream *s, const ribo_pool_args *a, ribo_error *err);

/* ---------------------------------------------------------------- cuda_rope.cu */
/* Rotary inverse frequencies inv_freq_i = 1 / theta^(2i/D), i < D/2, as transformers rounds them;
 * computed on the host per launch and passed by value (head sizes up to 128). */
#define RIBO_CUDA_ROPE_MAX_HALF 64
typedef struct ribo_cuda_rope_freqs {
    float inv[RIBO_CUDA_ROPE_MAX_HALF];
} ribo_cuda_rope_freqs;
/* Fills f for theta and head_dim (<= 2 * RIBO_CUDA_ROPE_MAX_HALF). */
void ribo_cuda_rope_freqs_fill(ribo_cuda_rope_freqs *f, float theta, int head_dim);
/* The separate rotary pass attention runs first where the rotation does not fuse (ribo_attention_args
 * with rotary): q *= q_scale, then q and k of every head rotated in place by positions. */
typedef struct ribo_cuda_rotary_args {
    ribo_dptr qkv, positions;        /* qkv [T, 3*H*D], positions int32 [T] */
    int n_tokens, n_heads, head_dim;
    float theta, q_scale;
} ribo_cuda_rotary_args;
ribo_status ribo_cuda_rotary(ribo_stream *s, const ribo_cuda_rotary_args *a, ribo_error *err);
/* The separate pass on k only (16-bit storage; q is left for the attention kernel), vectorized;
 * false (nothing launched) where no vector width fits. */
bool ribo_cuda_rotary_k_only(const ribo_cuda_rotary_args *a, ribo_storage storage, cudaStream_t st);

/* ---------------------------------------------------------------- cuda_attention.cu */
/* Attention set-up at device open: reads RIBO_ATTENTION and RIBO_FUSE_ROTARY, checks which
 * tensor-core kernels the device can run and sets their dynamic shared-memory limits (once, not per
 * launch). */
ribo_status ribo_cuda_attention_init(ribo_cuda_device *cd, ribo_error *err);
/* ribo_kernel_i.attention, and its limits for ribo_kernel_i.check: head size 1..128; rotary with an
 * even head size and positions. */
ribo_status ribo_cuda_attention(ribo_stream *s, const ribo_attention_args *a, ribo_error *err);
ribo_status ribo_cuda_attention_check(const ribo_attention_args *a, ribo_error *err);

/* ---------------------------------------------------------------- cuda_attention_wmma.cu */
/* Checks which head sizes of the WMMA kernel the device runs (16-bit storage, sm_80+) and sets their
 * shared-memory limits. */
ribo_status ribo_cuda_attention_wmma_init(ribo_cuda_device *cd, int max_optin_smem, ribo_error *err);
bool ribo_cuda_attention_wmma_supports(const ribo_cuda_device *cd, int head_dim);
/* Launches the WMMA attention for storage (fp16/bf16; nothing for fp32) and a->head_dim (16, 32, 64,
 * 128; ribo_cuda_attention_wmma_supports true). */
void ribo_cuda_attention_wmma_launch(const ribo_attention_args *a, ribo_storage storage, cudaStream_t st);

/* ---------------------------------------------------------------- cuda_attention_mma.cu */
ribo_status ribo_cuda_attention_mma_init(ribo_cuda_device *cd, int max_optin_smem, ribo_error *err);
bool ribo_cuda_attention_mma_supports(const ribo_cuda_device *cd, int head_dim);
/* Launches the mma.sync attention, rope 0: q and k used as they are, 1: q scaled and rotated inside
 * (k rotated before), 2: q and k rotated inside; false (nothing launched) where it does not apply. */
bool ribo_cuda_attention_mma_launch(const ribo_cuda_device *cd, const ribo_attention_args *a, int rope, cudaStream_t st);
/* Whether the mma kernel takes this launch (head size, device, grid size). */
bool ribo_cuda_attention_mma_fits(const ribo_cuda_device *cd, const ribo_attention_args *a);

/* ---------------------------------------------------------------- cuda_gemm.cu */
/* The limit of ribo_cuda_linear for ribo_kernel_i.check: no activation together with a residual. */
ribo_status ribo_cuda_linear_check(const ribo_linear_args *a, ribo_error *err);

/* ---------------------------------------------------------------- cuda_kernels.cu */
/* ribo_kernel_i.embed, .glu and .convert_from_f32 (the table is in cuda_device.cu, a host-only file) */
ribo_status ribo_cuda_embed(ribo_stream *s, const ribo_embed_args *a, ribo_error *err);
ribo_status ribo_cuda_glu(ribo_stream *s, const ribo_glu_args *a, ribo_error *err);
ribo_status ribo_cuda_convert_from_f32(ribo_stream *s, ribo_dptr dst, ribo_dptr src, size_t count, ribo_error *err);

extern "C" const ribo_backend_reg ribo_cuda_backend;

#endif
