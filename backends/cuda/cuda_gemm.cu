/* CUDA backend: GEMMs through cuBLASLt. y = x @ w^T (+ bias via the BIAS epilogue) (+ residual via
 * C with beta = 1), then the exact erf GELU as a separate pass (cuBLASLt's GELU epilogue is the
 * tanh approximation, which ESM-2 does not use; RIBO_GELU_EPILOGUE=tanh opts into it for 16-bit
 * storage: |gelu_tanh - gelu_erf| <= ~5e-4, a small fraction of a bf16 ulp of the values it changes,
 * and one pass over the FFN activations less). fp32 runs in true fp32 (CUBLAS_COMPUTE_32F, no
 * TF32); fp16/bf16 operands accumulate in fp32. Algorithms are chosen once per shape bucket (see
 * m_bucket) and cached. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"

#define RIBO_CUDA_WORKSPACE (32u << 20) /* cuBLASLt workspace recommended for Hopper */
#define RIBO_CUDA_GEMM_CACHE 512

/* cuBLASLt algorithm chosen for one GEMM shape (cached per device). */
typedef struct ribo_cuda_gemm_plan {
    int m, n, k, epilogue, beta_one; /* m: the bucket of token counts (m_bucket) */
    cublasLtMatmulAlgo_t algo;
    bool valid;
} ribo_cuda_gemm_plan;

struct ribo_cuda_blas {
    bool gelu_tanh_epilogue;      /* RIBO_GELU_EPILOGUE=tanh: bias + tanh-approximated GELU in the GEMM (16-bit) */
    cublasLtHandle_t lt;
    void *workspace;              /* cuBLASLt workspace, one per device handle */
    size_t workspace_bytes;
    pthread_mutex_t gemm_lock;    /* guards the plan cache */
    ribo_cuda_gemm_plan plans[RIBO_CUDA_GEMM_CACHE];
    int n_plans, next_evict;
};

static const char *lt_status_name(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "unknown cuBLAS status";
    }
}

static ribo_status lt_check(cublasStatus_t s, const char *what, ribo_error *err) {
    if (s == CUBLAS_STATUS_SUCCESS) return RIBO_OK;
    return ribo_error_set(err, s == CUBLAS_STATUS_ALLOC_FAILED ? RIBO_ERR_OUT_OF_MEMORY : RIBO_ERR_DEVICE,
                          "cublasLt: %s: %s (%d)", what, lt_status_name(s), (int)s);
}

ribo_status ribo_cuda_gemm_init(ribo_cuda_device *cd, ribo_error *err) {
    const char *gelu = getenv("RIBO_GELU_EPILOGUE");
    bool tanh_epi;
    if (!gelu || !*gelu || !strcmp(gelu, "0")) tanh_epi = false;
    else if (!strcmp(gelu, "tanh")) tanh_epi = true;
    else return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, RIBO_GPU_NAME ": RIBO_GELU_EPILOGUE='%s' is not 0 or tanh", gelu);
    ribo_cuda_blas *b = (ribo_cuda_blas *)calloc(1, sizeof *b);
    if (!b) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, RIBO_GPU_NAME ": out of host memory");
    pthread_mutex_init(&b->gemm_lock, NULL);
    b->gelu_tanh_epilogue = tanh_epi;
    cd->blas = b;
    RIBO_TRY(lt_check(cublasLtCreate(&b->lt), "creating the handle", err));
    b->workspace_bytes = RIBO_CUDA_WORKSPACE;
    return ribo_cuda_check(cudaMalloc(&b->workspace, b->workspace_bytes), "allocating the cuBLASLt workspace", err);
}

void ribo_cuda_gemm_release(ribo_cuda_device *cd) {
    ribo_cuda_blas *b = cd->blas;
    if (!b) return;
    if (b->workspace) cudaFree(b->workspace);
    if (b->lt) cublasLtDestroy(b->lt);
    pthread_mutex_destroy(&b->gemm_lock);
    free(b);
    cd->blas = NULL;
}

static cudaDataType_t data_type(ribo_storage s) {
    return s == RIBO_STORAGE_F16 ? CUDA_R_16F : s == RIBO_STORAGE_BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

/* The descriptors of one call, destroyed together. */
typedef struct gemm_descs {
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, c;
} gemm_descs;

static void descs_destroy(gemm_descs *d) {
    if (d->op) cublasLtMatmulDescDestroy(d->op);
    if (d->a) cublasLtMatrixLayoutDestroy(d->a);
    if (d->b) cublasLtMatrixLayoutDestroy(d->b);
    if (d->c) cublasLtMatrixLayoutDestroy(d->c);
}

/* Column-major view of the row-major problem: D^T [n, m] = W [n, k] (= W^T stored k x n, op T)
 * times X^T [k, m] (op N). The bias (length n) is per row of D^T, as cuBLASLt's BIAS epilogue adds. */
static ribo_status descs_make(const ribo_linear_args *a, ribo_storage st, const void *bias, bool gelu, gemm_descs *d,
                              ribo_error *err) {
    cudaDataType_t t = data_type(st);
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    RIBO_TRY(lt_check(cublasLtMatmulDescCreate(&d->op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "creating a matmul", err));
    RIBO_TRY(lt_check(cublasLtMatmulDescSetAttribute(d->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta), "transa", err));
    RIBO_TRY(lt_check(cublasLtMatmulDescSetAttribute(d->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb), "transb", err));
    cublasLtEpilogue_t epi = gelu ? CUBLASLT_EPILOGUE_GELU_BIAS : bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    RIBO_TRY(lt_check(cublasLtMatmulDescSetAttribute(d->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi), "epilogue", err));
    if (bias)
        RIBO_TRY(lt_check(cublasLtMatmulDescSetAttribute(d->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias),
                          "bias pointer", err));
    RIBO_TRY(lt_check(cublasLtMatrixLayoutCreate(&d->a, t, a->k, a->n, a->k), "layout A", err));
    RIBO_TRY(lt_check(cublasLtMatrixLayoutCreate(&d->b, t, a->k, a->m, a->k), "layout B", err));
    return lt_check(cublasLtMatrixLayoutCreate(&d->c, t, a->n, a->m, a->n), "layout C", err);
}

/* Token counts that share one cached algorithm: m rounded up to 1/16 of its power of two (at least
 * 64), so a run whose every batch has a different token count asks cuBLASLt's heuristic a few dozen
 * times instead of once per batch (a heuristic query costs far more host time than a launch). */
static int m_bucket(int m) {
    int p = 64;
    while (p < m && p < (1 << 30)) p <<= 1;
    int step = p >= 1024 ? p / 16 : 64;
    return (m + step - 1) / step * step;
}

/* The cached plan of (bucket of m, n, k, epilogue, beta) or NULL; with the cache lock held. */
static ribo_cuda_gemm_plan *plan_find(ribo_cuda_blas *bl, int mb, const ribo_linear_args *a, int epi, bool beta_one) {
    for (int i = 0; i < bl->n_plans; ++i) {
        ribo_cuda_gemm_plan *p = &bl->plans[i];
        if (p->valid && p->m == mb && p->n == a->n && p->k == a->k && p->epilogue == epi && p->beta_one == beta_one)
            return p;
    }
    return NULL;
}

/* The algorithm for this call: the cached one of its shape bucket, or (exact, or when the cached one
 * was refused for this m) asks the heuristic for this very shape and caches its answer. */
static ribo_status choose_algo(ribo_cuda_blas *bl, const ribo_linear_args *a, const gemm_descs *d, int epi,
                               bool beta_one, bool exact, cublasLtMatmulAlgo_t *algo, ribo_error *err) {
    const int mb = m_bucket(a->m);
    pthread_mutex_lock(&bl->gemm_lock);
    const ribo_cuda_gemm_plan *hit = exact ? NULL : plan_find(bl, mb, a, epi, beta_one);
    if (hit) {
        *algo = hit->algo;
        pthread_mutex_unlock(&bl->gemm_lock);
        return RIBO_OK;
    }
    cublasLtMatmulPreference_t pref = NULL;
    cublasLtMatmulHeuristicResult_t result;
    int found = 0;
    cublasStatus_t s = cublasLtMatmulPreferenceCreate(&pref);
    if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &bl->workspace_bytes,
                                                 sizeof bl->workspace_bytes);
    if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasLtMatmulAlgoGetHeuristic(bl->lt, d->op, d->a, d->b, d->c, d->c, pref, 1, &result, &found);
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (s == CUBLAS_STATUS_SUCCESS && found == 0) s = CUBLAS_STATUS_NOT_SUPPORTED;
    if (s == CUBLAS_STATUS_SUCCESS) {
        ribo_cuda_gemm_plan *p = plan_find(bl, mb, a, epi, beta_one);
        if (!p) p = &bl->plans[bl->n_plans < RIBO_CUDA_GEMM_CACHE ? bl->n_plans++ : (bl->next_evict++ % RIBO_CUDA_GEMM_CACHE)];
        p->m = mb;
        p->n = a->n;
        p->k = a->k;
        p->epilogue = epi;
        p->beta_one = beta_one;
        p->algo = result.algo;
        p->valid = true;
        *algo = result.algo;
    }
    pthread_mutex_unlock(&bl->gemm_lock);
    if (s != CUBLAS_STATUS_SUCCESS) {
        char what[96];
        snprintf(what, sizeof what, "no algorithm for a %dx%dx%d GEMM", a->m, a->n, a->k);
        return lt_check(s, what, err);
    }
    return RIBO_OK;
}

ribo_status ribo_cuda_linear_check(const ribo_linear_args *a, ribo_error *err) {
    if (a->act != RIBO_ACT_NONE && a->residual.buf)
        return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, RIBO_GPU_NAME ": linear with both an activation and a residual");
    return RIBO_OK;
}

ribo_status ribo_cuda_linear(ribo_stream *s, const ribo_linear_args *a, ribo_error *err) {
    ribo_cuda_device *dev = ribo_cuda_dev(s->dev);
    ribo_cuda_blas *bl = dev->blas;
    RIBO_TRY(ribo_cuda_linear_check(a, err));
    RIBO_TRY(ribo_cuda_use(s->dev, err));
    const void *bias = ribo_cuda_ptr(a->bias);
    void *out = ribo_cuda_ptr(a->out);
    const void *c = a->residual.buf ? ribo_cuda_ptr(a->residual) : out;
    float alpha = 1.0f, beta = a->residual.buf ? 1.0f : 0.0f;
    gemm_descs d;
    memset(&d, 0, sizeof d);
    cublasLtMatmulAlgo_t algo;
    /* bias + GELU in the epilogue only where asked for (RIBO_GELU_EPILOGUE=tanh) and 16-bit */
    const bool gelu_epi = a->act == RIBO_ACT_GELU_ERF && bl->gelu_tanh_epilogue && bias && dev->storage != RIBO_STORAGE_F32;
    const int epi = gelu_epi ? 2 : bias ? 1 : 0;
    ribo_status st = descs_make(a, dev->storage, bias, gelu_epi, &d, err);
    if (st == RIBO_OK) st = choose_algo(bl, a, &d, epi, beta != 0.0f, false, &algo, err);
    cublasStatus_t rc = CUBLAS_STATUS_SUCCESS;
    if (st == RIBO_OK)
        rc = cublasLtMatmul(bl->lt, d.op, &alpha, ribo_cuda_ptr(a->w), d.a, ribo_cuda_ptr(a->x), d.b, &beta, c, d.c, out,
                            d.c, &algo, bl->workspace, bl->workspace_bytes, ribo_cuda_stream(s));
    /* the bucket's algorithm may not take this very m: ask for one that does (checked before launch) */
    if (st == RIBO_OK && (rc == CUBLAS_STATUS_NOT_SUPPORTED || rc == CUBLAS_STATUS_INVALID_VALUE)) {
        st = choose_algo(bl, a, &d, epi, beta != 0.0f, true, &algo, err);
        if (st == RIBO_OK)
            rc = cublasLtMatmul(bl->lt, d.op, &alpha, ribo_cuda_ptr(a->w), d.a, ribo_cuda_ptr(a->x), d.b, &beta, c, d.c,
                                out, d.c, &algo, bl->workspace, bl->workspace_bytes, ribo_cuda_stream(s));
    }
    if (st == RIBO_OK) st = lt_check(rc, "matmul", err);
    descs_destroy(&d);
    if (st != RIBO_OK) return st;
    if (a->act == RIBO_ACT_GELU_ERF && !gelu_epi) {
        ribo_cuda_gelu_inplace(ribo_cuda_stream(s), out, (size_t)a->m * a->n, dev->storage);
        return ribo_cuda_check(cudaGetLastError(), "launching gelu", err);
    }
    return RIBO_OK;
}
