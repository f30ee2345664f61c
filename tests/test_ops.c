/* Every kernel of the backend against the plain C reference (tests/ref_ops.c) on random data,
 * with output buffers poisoned (NaN) first so an unwritten element fails. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ref_ops.h"
#include "test_util.h"

#ifdef RIBO_WITH_OPENCL
#include "backends/opencl/opencl_internal.h"
#endif

static ribo_device *dev;
static ribo_stream *st;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static float *rand_vec(size_t n, float lo, float hi) {
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; ++i) v[i] = ribo_test_randf(&rng, lo, hi);
    return v;
}

/* Builds cu_seqlens / seq_of_token / positions for the given lengths; returns total tokens. */
static int make_packing(const int *lens, int n, int32_t **cu, int32_t **sot, int32_t **pos) {
    int T = 0;
    for (int i = 0; i < n; ++i) T += lens[i];
    *cu = malloc((size_t)(n + 1) * 4);
    *sot = malloc((size_t)T * 4);
    *pos = malloc((size_t)T * 4);
    (*cu)[0] = 0;
    for (int i = 0, t = 0; i < n; ++i) {
        (*cu)[i + 1] = (*cu)[i] + lens[i];
        for (int j = 0; j < lens[i]; ++j, ++t) {
            (*sot)[t] = i;
            (*pos)[t] = j;
        }
    }
    return T;
}

static void check_kernel(ribo_status s, ribo_error *err, const char *what) {
    CHECK(s == RIBO_OK, "%s: %s", what, err->message);
}

/* The support query (ribo_kernel_check) must accept the attention args a test then launches. */
static void check_attention_accepted(const ribo_attention_args *a) {
    ribo_kernel_call call = {.op = RIBO_KERNEL_ATTENTION, .attention = *a};
    ribo_error err = {0};
    ribo_status s = ribo_kernel_check(dev, &call, &err);
    CHECK(s == RIBO_OK, "check refuses attention heads=%d dim=%d rotary=%d alibi=%d: %s", a->n_heads, a->head_dim,
          a->rotary, a->alibi_slopes.buf != NULL, err.message);
}

static void test_embed(bool with_add_row) {
    int T = 300, W = 96, V = 33, B = 3, mask = 32;
    int32_t tokens[300], sot[300];
    for (int t = 0; t < T; ++t) {
        tokens[t] = (int)(ribo_test_randf(&rng, 0, (float)V));
        sot[t] = t * B / T;
    }
    tokens[5] = tokens[77] = mask;
    float scale[3] = {0.88f, 1.0f, 0.5f};
    float *table = rand_vec((size_t)V * W, -1, 1), *got = malloc((size_t)T * W * 4), *want = malloc((size_t)T * W * 4);
    float *add = rand_vec((size_t)2 * W, -1, 1); /* two rows, as BERT's token-type table: row 0 is added */
    ribo_dptr none = {NULL, 0};
    ribo_embed_args a = {.tokens = ribo_test_upload(dev, st, tokens, sizeof tokens),
                         .seq_of_token = ribo_test_upload(dev, st, sot, sizeof sot),
                         .seq_scale = ribo_test_upload(dev, st, scale, sizeof scale),
                         .table = ribo_test_upload(dev, st, table, (size_t)V * W * 4),
                         .out = ribo_test_upload(dev, st, NULL, (size_t)T * W * 4),
                         .n_tokens = T, .width = W, .vocab = V, .mask_id = mask,
                         .add_row = with_add_row ? ribo_test_upload(dev, st, add, (size_t)2 * W * 4) : none};
    ribo_error err = {0};
    check_kernel(dev->kernels->embed(st, &a, &err), &err, "embed");
    ribo_test_download(st, got, a.out, (size_t)T * W * 4);
    ref_embed(tokens, sot, scale, table, with_add_row ? add : NULL, want, T, W, mask);
    CHECK(memcmp(got, want, (size_t)T * W * 4) == 0, "embed (add_row=%d) differs from reference", with_add_row);
    if (!with_add_row) CHECK(got[5 * W] == 0.0f && got[77 * W + 3] == 0.0f, "mask tokens not zeroed");
    free(add);
    free(table);
    free(got);
    free(want);
}

/* GeGLU: out[r, c] = gelu(x[r, c]) * x[r, width + c] against a double-precision reference. */
static void test_glu(int rows, int width, bool gelu) {
    size_t n_in = (size_t)rows * 2 * width, n_out = (size_t)rows * width;
    float *x = rand_vec(n_in, -3, 3), *got = malloc(n_out * 4), *want = malloc(n_out * 4);
    ribo_glu_args a = {.x = ribo_test_upload(dev, st, x, n_in * 4), .out = ribo_test_upload(dev, st, NULL, n_out * 4),
                       .rows = rows, .width = width, .act = gelu ? RIBO_ACT_GELU_ERF : RIBO_ACT_NONE};
    ribo_error err = {0};
    check_kernel(dev->kernels->glu(st, &a, &err), &err, "glu");
    ribo_test_download(st, got, a.out, n_out * 4);
    ref_glu(x, want, rows, width, gelu ? 1 : 0);
    double e = ribo_test_max_row_rel_err(got, want, (size_t)rows, (size_t)width);
    CHECK(e < 1e-5, "glu rows=%d width=%d gelu=%d rel err %g", rows, width, gelu, e);
    free(x);
    free(got);
    free(want);
}

/* LayerNorm on the default (fp32) device; shift > 0 places x one element past an aligned address (no
 * vector loads: the CUDA backend's fallback kernel). */
static void test_layer_norm_at(int rows, int width, int shift) {
    float *x = rand_vec((size_t)rows * width, -3, 5), *g = rand_vec((size_t)width, 0.5f, 1.5f);
    float *b = rand_vec((size_t)width, -0.5f, 0.5f);
    float *got = malloc((size_t)rows * width * 4), *want = malloc((size_t)rows * width * 4);
    float *xs = calloc((size_t)rows * width + 1, 4);
    memcpy(xs + shift, x, (size_t)rows * width * 4);
    ribo_dptr xd = ribo_dptr_at(ribo_test_upload(dev, st, xs, ((size_t)rows * width + 1) * 4), (size_t)shift * 4);
    ribo_layer_norm_args a = {.x = xd, .gamma = ribo_test_upload(dev, st, g, (size_t)width * 4),
                              .beta = ribo_test_upload(dev, st, b, (size_t)width * 4),
                              .out = ribo_test_upload(dev, st, NULL, (size_t)rows * width * 4),
                              .rows = rows, .width = width, .eps = 1e-5f};
    ribo_error err = {0};
    check_kernel(dev->kernels->layer_norm(st, &a, &err), &err, "layer_norm");
    ribo_test_download(st, got, a.out, (size_t)rows * width * 4);
    ref_layer_norm(x, g, b, want, rows, width, 1e-5f);
    double e = ribo_test_max_row_rel_err(got, want, (size_t)rows, (size_t)width);
    CHECK(e < 1e-5, "layer_norm rows=%d width=%d shift=%d rel err %g", rows, width, shift, e);
    free(x); free(xs); free(g); free(b); free(got); free(want);
}

static void test_layer_norm(int rows, int width) { test_layer_norm_at(rows, width, 0); }

static void test_linear(int m, int n, int k, bool bias, bool residual, int act) {
    float *x = rand_vec((size_t)m * k, -1, 1), *w = rand_vec((size_t)n * k, -0.3f, 0.3f);
    float *bv = rand_vec((size_t)n, -0.5f, 0.5f), *r = rand_vec((size_t)m * n, -1, 1);
    float *got = malloc((size_t)m * n * 4), *want = malloc((size_t)m * n * 4);
    ribo_dptr none = {NULL, 0};
    ribo_linear_args a = {.x = ribo_test_upload(dev, st, x, (size_t)m * k * 4),
                          .w = ribo_test_upload(dev, st, w, (size_t)n * k * 4),
                          .bias = bias ? ribo_test_upload(dev, st, bv, (size_t)n * 4) : none,
                          .residual = residual ? ribo_test_upload(dev, st, r, (size_t)m * n * 4) : none,
                          .out = ribo_test_upload(dev, st, NULL, (size_t)m * n * 4),
                          .m = m, .n = n, .k = k, .act = act ? RIBO_ACT_GELU_ERF : RIBO_ACT_NONE};
    ribo_error err = {0};
    check_kernel(dev->kernels->linear(st, &a, &err), &err, "linear");
    ribo_test_download(st, got, a.out, (size_t)m * n * 4);
    ref_linear(x, w, bias ? bv : NULL, residual ? r : NULL, want, m, n, k, act);
    double e = ribo_test_max_row_rel_err(got, want, (size_t)m, (size_t)n);
    CHECK(e < 1e-5, "linear %dx%dx%d bias=%d res=%d act=%d rel err %g", m, n, k, bias, residual, act, e);
    free(x); free(w); free(bv); free(r); free(got); free(want);
}

static void test_attention(const int *lens, int n_seqs, int n_heads, int head_dim, bool alibi) {
    int32_t *cu, *sot, *pos;
    int T = make_packing(lens, n_seqs, &cu, &sot, &pos);
    int hd = n_heads * head_dim;
    float *qkv = rand_vec((size_t)T * 3 * hd, -2, 2), *got = malloc((size_t)T * hd * 4), *want = malloc((size_t)T * hd * 4);
    float slopes[64]; /* room for every head count these tests use (up to 20) */
    for (int h = 0; h < n_heads; ++h) slopes[h] = powf(2.0f, -8.0f * (float)(h + 1) / (float)n_heads);
    ribo_dptr none = {NULL, 0};
    int max_len = 0;
    for (int i = 0; i < n_seqs; ++i) max_len = lens[i] > max_len ? lens[i] : max_len;
    float scale = 1.0f / sqrtf((float)head_dim);
    ribo_attention_args a = {.qkv = ribo_test_upload(dev, st, qkv, (size_t)T * 3 * hd * 4),
                             .cu_seqlens = ribo_test_upload(dev, st, cu, (size_t)(n_seqs + 1) * 4),
                             .seq_of_token = ribo_test_upload(dev, st, sot, (size_t)T * 4),
                             .alibi_slopes = alibi ? ribo_test_upload(dev, st, slopes, sizeof slopes) : none,
                             .out = ribo_test_upload(dev, st, NULL, (size_t)T * hd * 4),
                             .n_tokens = T, .n_seqs = n_seqs, .max_seqlen = max_len, .n_heads = n_heads,
                             .head_dim = head_dim, .scale = scale,
                             .positions = none, .rope_theta = 0.0f, .q_scale = 0.0f, .rotary = 0};
    check_attention_accepted(&a);
    ribo_error err = {0};
    check_kernel(dev->kernels->attention(st, &a, &err), &err, "attention");
    ribo_test_download(st, got, a.out, (size_t)T * hd * 4);
    ref_attention(qkv, cu, n_seqs, alibi ? slopes : NULL, want, n_heads, head_dim, scale);
    double e = ribo_test_max_row_rel_err(got, want, (size_t)T, (size_t)hd);
    CHECK(e < 1e-5, "attention seqs=%d heads=%d dim=%d alibi=%d rel err %g", n_seqs, n_heads, head_dim, alibi, e);
    free(cu); free(sot); free(pos); free(qkv); free(got); free(want);
    ribo_test_free_all(dev);
}

/* Attention with rotary on the default (fp32) device: q *= d^-0.5 and the rotation (positions
 * restarting per sequence) then attention with scale 1, as ESM-2 runs it; the reference rotates and
 * attends in double. Backends without a fused kernel run their rotary pass first. */
static void test_attention_rotary(const int *lens, int n_seqs, int n_heads, int head_dim) {
    int32_t *cu, *sot, *pos;
    int T = make_packing(lens, n_seqs, &cu, &sot, &pos);
    int hd = n_heads * head_dim, max_len = 0;
    for (int i = 0; i < n_seqs; ++i) max_len = lens[i] > max_len ? lens[i] : max_len;
    float *qkv = rand_vec((size_t)T * 3 * hd, -2, 2), *got = malloc((size_t)T * hd * 4), *want = malloc((size_t)T * hd * 4);
    const float q_scale = 1.0f / sqrtf((float)head_dim);
    ribo_dptr none = {NULL, 0};
    ribo_attention_args a = {.qkv = ribo_test_upload(dev, st, qkv, (size_t)T * 3 * hd * 4),
                             .cu_seqlens = ribo_test_upload(dev, st, cu, (size_t)(n_seqs + 1) * 4),
                             .seq_of_token = ribo_test_upload(dev, st, sot, (size_t)T * 4), .alibi_slopes = none,
                             .out = ribo_test_upload(dev, st, NULL, (size_t)T * hd * 4),
                             .n_tokens = T, .n_seqs = n_seqs, .max_seqlen = max_len, .n_heads = n_heads,
                             .head_dim = head_dim, .scale = 1.0f,
                             .positions = ribo_test_upload(dev, st, pos, (size_t)T * 4), .rope_theta = 10000.0f,
                             .q_scale = q_scale, .rotary = 1};
    check_attention_accepted(&a);
    ribo_error err = {0};
    check_kernel(dev->kernels->attention(st, &a, &err), &err, "attention (rotary)");
    ribo_test_download(st, got, a.out, (size_t)T * hd * 4);
    ref_rotary(qkv, pos, T, n_heads, head_dim, 10000.0f, q_scale);
    ref_attention(qkv, cu, n_seqs, NULL, want, n_heads, head_dim, 1.0f);
    double e = ribo_test_max_row_rel_err(got, want, (size_t)T, (size_t)hd);
    /* fp32 rotary angles (as transformers) at positions up to 999: ~1e-5 in q and k */
    CHECK(e < 5e-5, "attention with rotary seqs=%d heads=%d dim=%d rel err %g", n_seqs, n_heads, head_dim, e);
    free(cu); free(sot); free(pos); free(qkv); free(got); free(want);
    ribo_test_free_all(dev);
}

/* The support query for attention at executor-like shapes (64 tokens in 2 sequences, 2 heads; the
 * buffers NULL except the positions rotary needs): the head sizes the kernels run are accepted with
 * and without rotary, sizes outside 1..128 are refused naming the limit, rotary with an odd head size
 * is refused. The accepted sizes are launched by test_attention and test_attention_rotary (each asks
 * the query for its own args first). */
static void test_attention_check(void) {
    if (!dev->kernels->check) {
        fprintf(stderr, "test_ops: note: the backend has no kernel support query; its attention checks are skipped\n");
        return;
    }
    int32_t pos[64];
    for (int t = 0; t < 64; ++t) pos[t] = t;
    ribo_dptr none = {NULL, 0}, positions = ribo_test_upload(dev, st, pos, sizeof pos);
    ribo_kernel_call call = {.op = RIBO_KERNEL_ATTENTION,
                             .attention = {.n_tokens = 64, .n_seqs = 2, .max_seqlen = 64, .n_heads = 2, .scale = 1.0f,
                                           .rope_theta = 10000.0f, .q_scale = 1.0f}};
    const int accepted[] = {16, 24, 32, 64, 128}, refused[] = {0, 129, 160};
    for (int rotary = 0; rotary < 2; ++rotary) {
        call.attention.rotary = rotary;
        call.attention.positions = rotary ? positions : none;
        for (int i = 0; i < 5; ++i) {
            call.attention.head_dim = accepted[i];
            ribo_error err = {0};
            ribo_status s = ribo_kernel_check(dev, &call, &err);
            CHECK(s == RIBO_OK, "check refuses attention head size %d rotary=%d: %s", accepted[i], rotary, err.message);
        }
        for (int i = 0; i < 3; ++i) {
            call.attention.head_dim = refused[i];
            ribo_error err = {0};
            ribo_status s = ribo_kernel_check(dev, &call, &err);
            char want[64];
            snprintf(want, sizeof want, "attention head size %d is not in 1..128", refused[i]);
            CHECK(s == RIBO_ERR_UNSUPPORTED, "check of attention head size %d rotary=%d: status %s (want %s): %s", refused[i],
                  rotary, ribo_status_name(s), ribo_status_name(RIBO_ERR_UNSUPPORTED), err.message);
            CHECK_MESSAGE(&err, want);
        }
    }
    const int odd = 25; /* rotary rotates pairs (i, i + D/2): an even head size only */
    call.attention.head_dim = odd;
    call.attention.rotary = 1;
    call.attention.positions = positions;
    ribo_error err = {0};
    ribo_status s = ribo_kernel_check(dev, &call, &err);
    CHECK(s == RIBO_ERR_UNSUPPORTED, "check of rotary attention head size %d: status %s (want %s): %s", odd,
          ribo_status_name(s), ribo_status_name(RIBO_ERR_UNSUPPORTED), err.message);
    CHECK(err.message[0] != '\0', "refusal of rotary attention head size %d has no message", odd);
    ribo_test_free_all(dev);
}

static void test_pool(int mode) {
    int lens[] = {3, 1, 2, 40, 9};
    int32_t *cu, *sot, *pos;
    int T = make_packing(lens, 5, &cu, &sot, &pos), W = 70;
    float *x = rand_vec((size_t)T * W, -1, 1), *got = malloc((size_t)T * W * 4), *want = malloc((size_t)T * W * 4);
    int sb = mode == 1 ? 0 : 1, se = mode == 1 ? 0 : 1;
    int rows = 5; /* one per sequence (per-residue: set below) */
    ribo_pool_args a = {.x = ribo_test_upload(dev, st, x, (size_t)T * W * 4), .cu_seqlens = ribo_test_upload(dev, st, cu, 6 * 4),
                        .seq_of_token = ribo_test_upload(dev, st, sot, (size_t)T * 4),
                        .out = ribo_test_upload(dev, st, NULL, (size_t)T * W * 4),
                        .n_seqs = 5, .n_tokens = T, .width = W, .skip_begin = sb, .skip_end = se, .mode = (ribo_pool_mode)mode};
    if (mode == 2) { /* per-residue copy-out needs every sequence to have >= skip tokens */
        int ok_lens[] = {3, 2, 2, 40, 9};
        free(cu); free(sot); free(pos); free(x);
        T = make_packing(ok_lens, 5, &cu, &sot, &pos);
        x = rand_vec((size_t)T * W, -1, 1);
        rows = T - 10;
        a.x = ribo_test_upload(dev, st, x, (size_t)T * W * 4);
        a.cu_seqlens = ribo_test_upload(dev, st, cu, 6 * 4);
        a.seq_of_token = ribo_test_upload(dev, st, sot, (size_t)T * 4);
        a.n_tokens = T;
    }
    ribo_error err = {0};
    check_kernel(dev->kernels->pool(st, &a, &err), &err, "pool");
    ribo_test_download(st, got, a.out, (size_t)rows * W * 4);
    ref_pool(x, cu, 5, want, W, sb, se, mode);
    double e = ribo_test_max_row_rel_err(got, want, (size_t)rows, (size_t)W);
    CHECK(e < 1e-6, "pool mode %d rel err %g", mode, e);
    free(cu); free(sot); free(pos); free(x); free(got); free(want);
}

/* Mean pooling over long sequences of values with a large common offset: a plain float running sum
 * loses low-order bits at every step (~1e-5 relative here); the kernel's compensated sum must stay
 * at float rounding of the exact mean. */
static void test_pool_mean_long(void) {
    int lens[] = {30000, 5000, 3};
    int32_t *cu, *sot, *pos;
    int T = make_packing(lens, 3, &cu, &sot, &pos), W = 16;
    float *x = rand_vec((size_t)T * W, 999.0f, 1001.0f), got[3 * 16], want[3 * 16];
    ribo_pool_args a = {.x = ribo_test_upload(dev, st, x, (size_t)T * W * 4), .cu_seqlens = ribo_test_upload(dev, st, cu, 4 * 4),
                        .seq_of_token = ribo_test_upload(dev, st, sot, (size_t)T * 4),
                        .out = ribo_test_upload(dev, st, NULL, (size_t)3 * W * 4),
                        .n_seqs = 3, .n_tokens = T, .width = W, .skip_begin = 1, .skip_end = 1, .mode = RIBO_POOL_MODE_MEAN};
    ribo_error err = {0};
    check_kernel(dev->kernels->pool(st, &a, &err), &err, "pool mean (long)");
    ribo_test_download(st, got, a.out, sizeof got);
    ref_pool(x, cu, 3, want, W, 1, 1, 0);
    double worst = 0;
    for (int i = 0; i < 3 * W; ++i) {
        double e = fabs((double)got[i] - (double)want[i]) / fabs((double)want[i]);
        if (e > worst) worst = e;
    }
    CHECK(worst < 2e-7, "pool mean over %d tokens: worst element rel err %g (uncompensated sum?)", lens[0], worst);
    free(cu); free(sot); free(pos); free(x);
    ribo_test_free_all(dev);
}

/* Two streams ordered by an event: data written on one is read correctly on the other. */
static void test_streams_and_events(void) {
    ribo_error err = {0};
    ribo_stream *s2 = NULL;
    ribo_event *ev = NULL, *t0 = NULL, *t1 = NULL;
    CHECK(dev->iface->stream_create(dev, 0, &s2, &err) == RIBO_OK, "second stream: %s", err.message);
    CHECK(dev->iface->event_create(dev, true, &ev, &err) == RIBO_OK, "event: %s", err.message);
    CHECK(dev->iface->event_create(dev, true, &t0, &err) == RIBO_OK, "event: %s", err.message);
    CHECK(dev->iface->event_create(dev, true, &t1, &err) == RIBO_OK, "event: %s", err.message);
    if (!s2 || !ev || !t0 || !t1) return;
    enum { N = 1 << 20 };
    uint32_t *src = malloc(N * 4), *dst = malloc(N * 4);
    for (uint32_t i = 0; i < N; ++i) src[i] = i * 2654435761u;
    ribo_dptr buf = ribo_test_upload(dev, st, NULL, N * 4);
    CHECK(st->iface->record_event(st, t0, &err) == RIBO_OK, "record: %s", err.message);
    CHECK(st->iface->copy_h2d(st, buf, src, N * 4, &err) == RIBO_OK, "h2d: %s", err.message);
    CHECK(st->iface->record_event(st, ev, &err) == RIBO_OK, "record: %s", err.message);
    CHECK(s2->iface->wait_event(s2, ev, &err) == RIBO_OK, "wait: %s", err.message);
    CHECK(s2->iface->copy_d2h(s2, dst, buf, N * 4, &err) == RIBO_OK, "d2h: %s", err.message);
    CHECK(s2->iface->record_event(s2, t1, &err) == RIBO_OK, "record: %s", err.message);
    CHECK(t1->iface->synchronize(t1, &err) == RIBO_OK, "event sync: %s", err.message);
    bool done = false;
    CHECK(t1->iface->query(t1, &done, &err) == RIBO_OK && done, "query after sync: done=%d %s", done, err.message);
    CHECK(memcmp(src, dst, N * 4) == 0, "data copied through two event-ordered streams differs");
    float ms = -1;
    CHECK(t0->iface->elapsed_ms(t0, t1, &ms, &err) == RIBO_OK && ms >= 0, "elapsed %g: %s", ms, err.message);
    ribo_dptr outside = {buf.buf, N * 4 - 4};
    CHECK(st->iface->copy_h2d(st, outside, src, 8, &err) == RIBO_ERR_INTERNAL, "out-of-range copy not refused");
    ev->iface->destroy(ev);
    t0->iface->destroy(t0);
    t1->iface->destroy(t1);
    s2->iface->destroy(s2);
    free(src);
    free(dst);
}

#ifdef RIBO_WITH_OPENCL
/* Opens OpenCL device 0, optionally runs one CLBlast GEMM, destroys the device and returns how many
 * references its context still has besides one the test took (0 when it is gone); -1: no device.
 * A driver may drop its own references a moment after the last release (PoCL's worker threads, seen
 * under load): the count is read again for up to 2 s while it is above `settle` (-1: read once). */
static int context_refs_after_destroy(bool gemm, int settle) {
    ribo_device *d = NULL;
    ribo_stream *s = NULL;
    ribo_error err = {0};
    if (ribo_backend_open("opencl", 0, RIBO_STORAGE_F32, &d, NULL, &err) != RIBO_OK) return -1;
    CHECK(d->iface->stream_create(d, 0, &s, &err) == RIBO_OK, "stream: %s", err.message);
    if (!s) return -1;
    enum { N = 32 };
    float *x = rand_vec(N * N, -1, 1);
    if (gemm) {
        ribo_dptr none = {NULL, 0};
        ribo_linear_args a = {.x = ribo_test_upload(d, s, x, N * N * 4), .w = ribo_test_upload(d, s, x, N * N * 4),
                              .bias = none, .residual = none, .out = ribo_test_upload(d, s, NULL, N * N * 4),
                              .m = N, .n = N, .k = N, .act = RIBO_ACT_NONE};
        check_kernel(d->kernels->linear(s, &a, &err), &err, "linear (CLBlast)");
        CHECK(s->iface->synchronize(s, &err) == RIBO_OK, "sync: %s", err.message);
    }
    ribo_test_free_all(d);
    free(x);
    cl_context ctx = ribo_cl_dev(d)->context;
    clRetainContext(ctx);
    s->iface->destroy(s);
    d->iface->destroy(d);
    cl_uint refs = 0;
    clGetContextInfo(ctx, CL_CONTEXT_REFERENCE_COUNT, sizeof refs, &refs, NULL);
    for (int tries = 0; settle >= 0 && (int)refs - 1 > settle && tries < 200; ++tries) {
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000}, NULL);
        clGetContextInfo(ctx, CL_CONTEXT_REFERENCE_COUNT, sizeof refs, &refs, NULL);
    }
    clReleaseContext(ctx);
    return (int)refs - 1;
}

/* CLBlast's program cache holds a reference to every context it compiled a GEMM for: destroying
 * the last OpenCL device must clear it, or the context (and its memory) lives until exit. Run with
 * no other device open; compared with a device that never ran a GEMM (drivers may keep their own). */
static void test_opencl_context_released(void) {
    const char *backend = ribo_test_backend();
    if (strcmp(backend, "opencl") != 0 && strcmp(backend, "auto") != 0) return;
    int base = context_refs_after_destroy(false, -1);
    if (base < 0) return; /* no OpenCL device */
    int after_gemm = context_refs_after_destroy(true, base);
    CHECK(after_gemm == base, "a destroyed device's context keeps %d reference(s) after a CLBlast GEMM (%d without)",
          after_gemm, base);
}
#endif


/* ---------------------------------------------------------------- 16-bit attention, every kernel
 * Attention with fp16/bf16 storage against the double reference computed from the same 16-bit-rounded
 * inputs. On CUDA and HIP every attention kernel runs each case: the device is opened once per
 * RIBO_ATTENTION value (CUDA: mma, wmma, simt; HIP: mma (MFMA), simt, as HIP has no wmma kernel; the
 * backend reads it at open), and the test checks through ribo_cuda_attention_path (the HIP build
 * compiles the same cuda_attention.cu) that the kernel expected is the one that ran: on HIP "mma"
 * exactly where the device props say "MFMA <isa>", so an MFMA kernel that never enables on AMD
 * hardware fails here instead of passing on SIMT. Other backends (none stores 16-bit today) run
 * their one kernel. qkv goes up as f32 (already rounded, so the device conversion is exact); the
 * 16-bit output is NaN-poisoned in both halves of every word before the kernel and comes back
 * through the per-residue pool copy (which widens to fp32), so every element is proven written. */

#if defined(RIBO_WITH_CUDA) || defined(RIBO_WITH_HIP)
#include "backends/cuda/cuda_debug.h"
#define RIBO_TEST_GPU 1
#else
#define RIBO_TEST_GPU 0
#endif
#ifdef RIBO_WITH_HIP
#define RIBO_TEST_GPU_NAME "hip" /* the CUDA sources built as HIP: one GPU backend per build */
#else
#define RIBO_TEST_GPU_NAME "cuda"
#endif

/* x rounded to the nearest bf16 / fp16 value (ties to even); x finite and well inside the range */
static float round_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&x, &u, 4);
    return x;
}
static float round_f16(float x) {
    float a = fabsf(x);
    if (a == 0.0f) return x;
    int e;
    frexpf(a, &e);                                 /* a in [2^(e-1), 2^e) */
    float ulp = ldexpf(1.0f, (e - 1 < -14 ? -14 : e - 1) - 10); /* subnormals: 2^-24 */
    return copysignf(nearbyintf(a / ulp) * ulp, x); /* default rounding mode: to nearest even */
}

#ifdef RIBO_WITH_HIP
/* RIBO_ATTENTION=wmma on HIP enables nothing (ribo_cuda_attention_wmma_init returns at once) and runs
 * simt: not a kernel of its own */
enum { N_ATTN_KERNELS = 2 };
static const char *const attn_kernels[N_ATTN_KERNELS] = {"mma", "simt"};
#else
enum { N_ATTN_KERNELS = 3 };
static const char *const attn_kernels[N_ATTN_KERNELS] = {"mma", "wmma", "simt"};
#endif

typedef struct attn_dev {
    ribo_device *dev;
    ribo_stream *st;
    const char *kernel; /* RIBO_ATTENTION it was opened with (NULL: the backend ignores it) */
    bool gpu;           /* the build's GPU backend (cuda, or hip in the HIP build) */
    bool mfma;          /* HIP: the props' matrix_units say "MFMA <isa>" (the MFMA attention applies) */
    int sm;             /* compute capability * 10 on CUDA (0 elsewhere) */
    char arch[64];      /* for messages: "sm_90" on CUDA, the matrix units (or "no MFMA") on HIP */
} attn_dev;

#ifdef RIBO_WITH_HIP
/* The head sizes the MFMA attention kernel compiles (those of mma.sync, cuda_attention_tc.cuh). */
static bool tc_head_dim(int d) { return d == 16 || d == 24 || d == 32 || d == 64 || d == 128; }
#endif

/* Opens device 0 of the test backend with 16-bit storage (RIBO_ATTENTION=kernel where not NULL).
 * false where it does not open: expected where the device does not store the type (OpenCL); a
 * failure where RIBO_TEST_BACKEND names a backend whose device claims it
 * (ribo_test_storage_refusal_expected). */
static bool open_attn_dev(ribo_storage storage, const char *kernel, attn_dev *d) {
    ribo_error err = {0};
    memset(d, 0, sizeof *d);
    if (kernel) setenv("RIBO_ATTENTION", kernel, 1);
    ribo_status s = ribo_backend_open(ribo_test_backend(), 0, storage, &d->dev, NULL, &err);
    if (s != RIBO_OK) {
        CHECK(ribo_test_storage_refusal_expected(storage, &err), "RIBO_TEST_BACKEND=%s did not open with %s storage%s%s: %s",
              ribo_test_backend(), storage == RIBO_STORAGE_BF16 ? "bf16" : "fp16", kernel ? " and RIBO_ATTENTION=" : "",
              kernel ? kernel : "", err.message);
        return false;
    }
    CHECK(d->dev->iface->stream_create(d->dev, 0, &d->st, &err) == RIBO_OK, "stream: %s", err.message);
    ribo_device_props props;
    d->dev->iface->get_props(d->dev, &props);
    d->gpu = RIBO_TEST_GPU && strcmp(props.backend, RIBO_TEST_GPU_NAME) == 0;
    if (d->gpu && !strcmp(props.backend, "cuda")) { /* compute capability: CUDA's name ends "(sm_XY)" */
        const char *sm = strstr(props.name, "(sm_");
        d->sm = sm ? atoi(sm + 4) : 0;
        snprintf(d->arch, sizeof d->arch, "sm_%d", d->sm);
    } else if (d->gpu) { /* HIP: cuda_device.cu read_props writes "MFMA <isa>" for MFMA ISAs only */
        d->mfma = strncmp(props.matrix_units, "MFMA ", 5) == 0;
        snprintf(d->arch, sizeof d->arch, "%s", d->mfma ? props.matrix_units : "no MFMA");
    }
    d->kernel = kernel;
    return d->st != NULL;
}

/* Opens the device with each attention kernel (CUDA, HIP) or once (others); restores RIBO_ATTENTION. */
static int open_attn_devs(ribo_storage storage, attn_dev devs[N_ATTN_KERNELS]) {
    const char *env = getenv("RIBO_ATTENTION");
    char *saved = env ? strdup(env) : NULL;
    int n = 0;
    if (open_attn_dev(storage, attn_kernels[0], &devs[0])) {
        n = 1;
        if (devs[0].gpu) {
            for (int k = 1; k < N_ATTN_KERNELS; ++k) {
                bool ok = open_attn_dev(storage, attn_kernels[k], &devs[n]);
                CHECK(ok, RIBO_TEST_GPU_NAME " device did not open with RIBO_ATTENTION=%s", attn_kernels[k]);
                if (ok) ++n;
            }
        } else {
            devs[0].kernel = NULL;
        }
    }
    if (saved) setenv("RIBO_ATTENTION", saved, 1);
    else unsetenv("RIBO_ATTENTION");
    free(saved);
    return n;
}

static void close_attn_devs(attn_dev *devs, int n) {
    for (int k = 0; k < n; ++k) {
        if (devs[k].st) devs[k].st->iface->destroy(devs[k].st);
        devs[k].dev->iface->destroy(devs[k].dev);
    }
}

/* The CUDA kernel that runs must be the one asked for (on sm_80+, where all exist; WMMA has no head
 * size 24 and needs 112 KiB of shared memory for 128). On HIP (16-bit storage here): mma (the MFMA
 * kernel) for RIBO_ATTENTION=mma and a tensor-core head size exactly where the props say MFMA,
 * simt otherwise. */
static void check_attn_path(const attn_dev *d, int head_dim) {
#if RIBO_TEST_GPU
    if (!d->gpu || !d->kernel) return;
    const char *path = ribo_cuda_attention_path(d->dev, head_dim);
#ifdef RIBO_WITH_HIP
    const char *want = !strcmp(d->kernel, "mma") && d->mfma && tc_head_dim(head_dim) ? "mma" : "simt";
    CHECK(!strcmp(path, want), "RIBO_ATTENTION=%s on %s, head size %d runs the '%s' kernel, expected '%s'", d->kernel,
          d->arch, head_dim, path, want);
#else
    bool ok;
    if (d->sm < 80) ok = true;
    else if (!strcmp(d->kernel, "mma")) ok = !strcmp(path, "mma");
    else if (!strcmp(d->kernel, "wmma"))
        ok = head_dim == 24 ? !strcmp(path, "simt") : !strcmp(path, "wmma") || (head_dim == 128 && !strcmp(path, "simt"));
    else ok = !strcmp(path, "simt");
    CHECK(ok, "RIBO_ATTENTION=%s on sm_%d, head size %d runs the '%s' kernel", d->kernel, d->sm, head_dim, path);
#endif
#else
    (void)d;
    (void)head_dim;
#endif
}

/* One packed batch: reference once, then every opened kernel. */
static void test_attention_reduced(attn_dev *devs, int n_devs, ribo_storage storage, const char *name, const int *lens,
                                   int n_seqs, int n_heads, int head_dim, bool alibi) {
    int32_t *cu, *sot, *pos;
    int T = make_packing(lens, n_seqs, &cu, &sot, &pos), hd = n_heads * head_dim, max_len = 0;
    for (int i = 0; i < n_seqs; ++i) max_len = lens[i] > max_len ? lens[i] : max_len;
    const bool bf = storage == RIBO_STORAGE_BF16;
    size_t nq = (size_t)T * 3 * hd;
    float *qkv = rand_vec(nq, -2, 2), *got = malloc((size_t)T * hd * 4), *want = malloc((size_t)T * hd * 4);
    for (size_t i = 0; i < nq; ++i) qkv[i] = bf ? round_bf16(qkv[i]) : round_f16(qkv[i]);
    float slopes[64]; /* room for every head count these tests use (up to 20) */
    for (int h = 0; h < n_heads; ++h) slopes[h] = powf(2.0f, -8.0f * (float)(h + 1) / (float)n_heads);
    float scale = 1.0f / sqrtf((float)head_dim);
    ref_attention(qkv, cu, n_seqs, alibi ? slopes : NULL, want, n_heads, head_dim, scale);
    /* output rounding (and, for the tensor-core kernels, P rounded to 16 bits): ~4x the errors seen */
    const double bound = bf ? 1.5e-2 : 2e-3;
    for (int k = 0; k < n_devs; ++k) {
        ribo_device *d = devs[k].dev;
        ribo_stream *s = devs[k].st;
        ribo_error err = {0};
        ribo_dptr none = {NULL, 0};
        ribo_dptr f32 = ribo_test_upload(d, s, qkv, nq * 4), q16 = ribo_test_upload(d, s, NULL, nq * 2);
        ribo_dptr o16 = ribo_test_upload(d, s, NULL, (size_t)T * hd * 2), o32 = ribo_test_upload(d, s, NULL, (size_t)T * hd * 4);
        ribo_dptr dcu = ribo_test_upload(d, s, cu, (size_t)(n_seqs + 1) * 4), dsot = ribo_test_upload(d, s, sot, (size_t)T * 4);
        ribo_test_poison(s, o16, 0x7fc07fc0u, (size_t)T * hd * 2);
        CHECK(d->kernels->convert_from_f32(s, q16, f32, nq, &err) == RIBO_OK, "convert: %s", err.message);
        ribo_attention_args a = {.qkv = q16, .cu_seqlens = dcu, .seq_of_token = dsot,
                                 .alibi_slopes = alibi ? ribo_test_upload(d, s, slopes, sizeof slopes) : none, .out = o16,
                                 .n_tokens = T, .n_seqs = n_seqs, .max_seqlen = max_len, .n_heads = n_heads,
                                 .head_dim = head_dim, .scale = scale,
                                 .positions = none, .rope_theta = 0.0f, .q_scale = 0.0f, .rotary = 0};
        CHECK(d->kernels->attention(s, &a, &err) == RIBO_OK, "attention: %s", err.message);
        ribo_pool_args p = {.x = o16, .cu_seqlens = dcu, .seq_of_token = dsot, .out = o32, .n_seqs = n_seqs, .n_tokens = T,
                            .width = hd, .skip_begin = 0, .skip_end = 0, .mode = RIBO_POOL_MODE_COPY};
        CHECK(d->kernels->pool(s, &p, &err) == RIBO_OK, "pool copy: %s", err.message);
        ribo_test_download(s, got, o32, (size_t)T * hd * 4);
        double e = ribo_test_max_row_rel_err(got, want, (size_t)T, (size_t)hd);
        CHECK(e < bound, "attention %s kernel=%s %s seqs=%d tokens=%d heads=%d dim=%d alibi=%d rel err %g (bound %g)",
              bf ? "bf16" : "fp16", devs[k].kernel ? devs[k].kernel : "default", name, n_seqs, T, n_heads, head_dim,
              alibi, e, bound);
        if (getenv("RIBO_TEST_VERBOSE"))
            fprintf(stderr, "attention %s kernel=%s %s dim=%d alibi=%d: rel err %.3g\n", bf ? "bf16" : "fp16",
                    devs[k].kernel ? devs[k].kernel : "default", name, head_dim, alibi, e);
        check_attn_path(&devs[k], head_dim);
        ribo_test_free_all(d);
    }
    free(cu); free(sot); free(pos); free(qkv); free(got); free(want);
}

static void test_attention_reduced_all(ribo_storage storage) {
    attn_dev devs[N_ATTN_KERNELS];
    int n = open_attn_devs(storage, devs);
    if (n == 0) return; /* the backend cannot store 16-bit (e.g. OpenCL) */
    const int dims[] = {16, 24, 32, 64, 128};
    /* tile edges (1, 63/64/65, 127/128/129), a long one and a tiny one, one batch */
    const int lens_r[] = {1, 2, 63, 64, 65, 127, 128, 129, 1000, 3};
    for (int d = 0; d < 5; ++d)
        for (int alibi = 0; alibi < 2; ++alibi)
            test_attention_reduced(devs, n, storage, "edges", lens_r, 10, d < 3 ? 4 : 2, dims[d], alibi);
    /* 512 short sequences of random length 1..40 */
    int many[512];
    for (int i = 0; i < 512; ++i) many[i] = 1 + (int)ribo_test_randf(&rng, 0.0f, 40.0f);
    test_attention_reduced(devs, n, storage, "512 short", many, 512, 2, 64, true);
    test_attention_reduced(devs, n, storage, "512 short", many, 512, 3, 24, false);
    /* one sequence of 4096 (64 key tiles) beside two short ones; the O(n^2 d) reference once per dtype */
    const int lens_long[] = {4096, 1, 65};
    if (storage == RIBO_STORAGE_F16) test_attention_reduced(devs, n, storage, "4096", lens_long, 3, 1, 128, false);
    else test_attention_reduced(devs, n, storage, "4096", lens_long, 3, 1, 64, true);
    close_attn_devs(devs, n);
}

/* ---------------------------------------------------------------- 16-bit LayerNorm, GELU, fused rotary
 * Same scheme: inputs rounded to 16 bits on the host and converted on the device (exact), 16-bit
 * outputs NaN-poisoned first and widened to fp32 by the per-residue pool copy. Each device is opened
 * with the environment that selects a kernel (read at open) and the test checks the kernel that ran. */

/* Opens device 0 of the test backend with storage and names[i]=values[i] set; restores them. */
static bool open_dev_env(ribo_storage storage, int n, const char *const *names, const char *const *values, attn_dev *d) {
    char *saved[4] = {NULL};
    for (int i = 0; i < n; ++i) {
        const char *v = getenv(names[i]);
        saved[i] = v ? strdup(v) : NULL;
        setenv(names[i], values[i], 1);
    }
    bool ok = open_attn_dev(storage, NULL, d);
    for (int i = 0; i < n; ++i) {
        if (saved[i]) setenv(names[i], saved[i], 1);
        else unsetenv(names[i]);
        free(saved[i]);
    }
    if (ok && !d->gpu) { /* 16-bit storage is a CUDA/HIP matter today; other backends keep their own tests */
        close_attn_devs(d, 1);
        return false;
    }
    return ok;
}

static float round16(float x, bool bf) { return bf ? round_bf16(x) : round_f16(x); }

/* Device copy (storage type) of n floats already rounded to it, placed `shift` elements past an
 * aligned address. */
static ribo_dptr up16(attn_dev *d, const float *v, size_t n, int shift) {
    ribo_error err = {0};
    ribo_dptr f32 = ribo_test_upload(d->dev, d->st, v, n * 4), q16 = ribo_test_upload(d->dev, d->st, NULL, (n + 8) * 2);
    q16 = ribo_dptr_at(q16, (size_t)shift * 2);
    CHECK(d->dev->kernels->convert_from_f32(d->st, q16, f32, n, &err) == RIBO_OK, "convert: %s", err.message);
    return q16;
}

/* A NaN-poisoned 16-bit [rows, width] buffer. */
static ribo_dptr poisoned16(attn_dev *d, size_t n) {
    ribo_dptr o = ribo_test_upload(d->dev, d->st, NULL, (n + 2) * 2);
    ribo_test_poison(d->st, o, 0x7fc07fc0u, (n + 2) / 2 * 4);
    return o;
}

/* [rows, width] of the storage type back as fp32 through the per-residue pool copy. */
static void down16(attn_dev *d, float *host, ribo_dptr p16, int rows, int width) {
    int32_t cu[2] = {0, rows}, *sot = calloc((size_t)rows, 4);
    ribo_dptr o32 = ribo_test_upload(d->dev, d->st, NULL, (size_t)rows * width * 4);
    ribo_pool_args p = {.x = p16, .cu_seqlens = ribo_test_upload(d->dev, d->st, cu, sizeof cu),
                        .seq_of_token = ribo_test_upload(d->dev, d->st, sot, (size_t)rows * 4), .out = o32,
                        .n_seqs = 1, .n_tokens = rows, .width = width, .skip_begin = 0, .skip_end = 0,
                        .mode = RIBO_POOL_MODE_COPY};
    ribo_error err = {0};
    CHECK(d->dev->kernels->pool(d->st, &p, &err) == RIBO_OK, "pool copy: %s", err.message);
    ribo_test_download(d->st, host, o32, (size_t)rows * width * 4);
    free(sot);
}

/* Largest distance between a and b in units of the 16-bit spacing at the larger magnitude (at least
 * at 1/8: two fp32 summation orders give means a few 1e-6 apart, which is more than an ulp of an
 * output that happens to lie near 0). */
static double max_ulp16(const float *a, const float *b, size_t n, bool bf) {
    double worst = 0;
    for (size_t i = 0; i < n; ++i) {
        float m = fmaxf(0.125f, fmaxf(fabsf(a[i]), fabsf(b[i])));
        if (m != m || a[i] != a[i] || b[i] != b[i]) return INFINITY;
        int e;
        frexpf(m, &e);
        double ulp = bf ? ldexp(1.0, e - 8) : ldexp(1.0, (e - 1 < -14 ? -14 : e - 1) - 10);
        double u = fabs((double)a[i] - b[i]) / ulp;
        if (u > worst) worst = u;
    }
    return worst;
}

/* The LayerNorm kernel the device should run for a width (see ribo_cuda_layer_norm_path). */
static void check_ln_path(attn_dev *d, int width, bool block_forced, ribo_storage storage) {
#if RIBO_TEST_GPU /* the same choice on HIP (32-lane logical warps there too) */
    const char *path = ribo_cuda_layer_norm_path(d->dev, width);
    const int epv = storage == RIBO_STORAGE_F32 ? 4 : 8, nv = width / epv;
    const char *want = block_forced || width % epv || nv > 1024 ? "block" : nv <= 256 ? "warp" : "4warps";
    CHECK(!strcmp(path, want), "layer_norm width %d runs '%s', expected '%s'", width, path, want);
#else
    (void)d, (void)width, (void)block_forced, (void)storage;
#endif
}

/* 16-bit LayerNorm, registers-per-row kernels and the one-block-per-row kernel (RIBO_LAYER_NORM=block),
 * against the double reference on the rounded inputs and against each other (1 ulp: only the fp32
 * summation order and rsqrtf vs 1/sqrtf differ). */
static void test_layer_norm16_all(ribo_storage storage) {
    const bool bf = storage == RIBO_STORAGE_BF16;
    const char *names[] = {"RIBO_LAYER_NORM"}, *rows_v[] = {"rows"}, *block_v[] = {"block"};
    attn_dev dr, db;
    if (!open_dev_env(storage, 1, names, rows_v, &dr)) return;
    if (!open_dev_env(storage, 1, names, block_v, &db)) {
        CHECK(false, "device did not open with RIBO_LAYER_NORM=block");
        close_attn_devs(&dr, 1);
        return;
    }
    const int widths[] = {37, 64, 96, 144, 160, 192, 320, 480, 640, 768, 1280, 2560, 5120, 8192, 8200};
    const int n_widths = (int)(sizeof widths / sizeof *widths);
    for (int wi = 0; wi < n_widths; ++wi)
        for (int variant = 0; variant < 3; ++variant) {
            const int width = widths[wi], shift = variant == 2 ? 1 : 0; /* variant 2: x off the 16-byte grid */
            const int rows = variant == 1 ? (width <= 1280 ? 1001 : 37) : 1 + wi % 4;
            const size_t n = (size_t)rows * width;
            float *x = rand_vec(n, -3, 5), *g = rand_vec((size_t)width, 0.5f, 1.5f), *b = rand_vec((size_t)width, -0.5f, 0.5f);
            for (size_t i = 0; i < n; ++i) x[i] = round16(x[i] + (i / width % 3 == 0 ? 40.0f : 0.0f), bf);
            for (int c = 0; c < width; ++c) {
                g[c] = round16(g[c], bf);
                b[c] = round16(b[c], bf);
            }
            float *want = malloc(n * 4), *got[2] = {malloc(n * 4), malloc(n * 4)};
            ref_layer_norm(x, g, b, want, rows, width, 1e-5f);
            attn_dev *ds[2] = {&dr, &db};
            for (int k = 0; k < 2; ++k) {
                attn_dev *d = ds[k];
                ribo_layer_norm_args a = {.x = up16(d, x, n, shift), .gamma = up16(d, g, (size_t)width, 0),
                                          .beta = up16(d, b, (size_t)width, 0), .out = poisoned16(d, n),
                                          .rows = rows, .width = width, .eps = 1e-5f};
                ribo_error err = {0};
                CHECK(d->dev->kernels->layer_norm(d->st, &a, &err) == RIBO_OK, "layer_norm: %s", err.message);
                down16(d, got[k], a.out, rows, width);
                double e = ribo_test_max_row_rel_err(got[k], want, (size_t)rows, (size_t)width);
                const double bound = bf ? 3e-3 : 8e-4; /* output rounding: ~2^-9 / 2^-11 per element */
                CHECK(e < bound, "layer_norm %s %s width=%d rows=%d shift=%d rel err %g (bound %g)", bf ? "bf16" : "fp16",
                      k ? "block" : "rows", width, rows, shift, e, bound);
                check_ln_path(d, width, k == 1, storage);
                ribo_test_free_all(d->dev);
            }
            /* The two kernels sum in different orders; on rows shifted by +40 the fp32 mean differs in its
             * last bits and a few outputs round differently (H200: up to 4 bf16 / 2 fp16 ulp). Each kernel is
             * held to the double reference above; this only catches one drifting from the other. */
            double u = max_ulp16(got[0], got[1], n, bf);
            CHECK(u <= 4.0, "layer_norm %s width=%d rows=%d: kernels %g ulp apart", bf ? "bf16" : "fp16", width, rows, u);
            free(x); free(g); free(b); free(want); free(got[0]); free(got[1]);
        }
    close_attn_devs(&dr, 1);
    close_attn_devs(&db, 1);
}

/* 16-bit linear + exact GELU (the separate vectorized pass after cuBLASLt), incl. a 4-element tail. */
static void test_linear_gelu16(ribo_storage storage) {
    const bool bf = storage == RIBO_STORAGE_BF16;
    attn_dev d;
    if (!open_dev_env(storage, 0, NULL, NULL, &d)) return;
    const int shapes[][3] = {{5, 12, 16}, {33, 200, 64}, {64, 1280, 320}};
    for (int i = 0; i < 3; ++i) {
        const int m = shapes[i][0], n = shapes[i][1], k = shapes[i][2];
        float *x = rand_vec((size_t)m * k, -1, 1), *w = rand_vec((size_t)n * k, -0.3f, 0.3f), *bv = rand_vec((size_t)n, -0.5f, 0.5f);
        for (int j = 0; j < m * k; ++j) x[j] = round16(x[j], bf);
        for (int j = 0; j < n * k; ++j) w[j] = round16(w[j], bf);
        for (int j = 0; j < n; ++j) bv[j] = round16(bv[j], bf);
        float *got = malloc((size_t)m * n * 4), *want = malloc((size_t)m * n * 4);
        ribo_dptr none = {NULL, 0};
        ribo_linear_args a = {.x = up16(&d, x, (size_t)m * k, 0), .w = up16(&d, w, (size_t)n * k, 0),
                              .bias = up16(&d, bv, (size_t)n, 0), .residual = none, .out = poisoned16(&d, (size_t)m * n),
                              .m = m, .n = n, .k = k, .act = RIBO_ACT_GELU_ERF};
        ribo_error err = {0};
        CHECK(d.dev->kernels->linear(d.st, &a, &err) == RIBO_OK, "linear: %s", err.message);
        down16(&d, got, a.out, m, n);
        ref_linear(x, w, bv, NULL, want, m, n, k, 1);
        double e = ribo_test_max_row_rel_err(got, want, (size_t)m, (size_t)n);
        /* the GEMM output is rounded before GELU and after: two 16-bit roundings */
        CHECK(e < (bf ? 1e-2 : 1.5e-3), "linear+gelu %s %dx%dx%d rel err %g", bf ? "bf16" : "fp16", m, n, k, e);
        free(x); free(w); free(bv); free(got); free(want);
        ribo_test_free_all(d.dev);
    }
    close_attn_devs(&d, 1);
}

/* 16-bit attention with rotary on every CUDA / HIP path: the mma kernel (MFMA on HIP) rotating Q and
 * K itself (RIBO_FUSE_ROTARY=1), the same kernel after the separate rotary pass (=0), and the wmma
 * (CUDA only) / simt kernels (always the separate pass). Reference: Q (scaled) and K rotated in
 * double and rounded to 16 bits, as the separate pass stores them, then attention in double; the
 * fused and the separate mma runs are also compared with each other (they differ where a rotated
 * element rounds to the neighbouring 16-bit value). */
#ifdef RIBO_WITH_HIP
enum { N_ROPE_DEVS = 3 };
static const char *const rope_kernel[N_ROPE_DEVS] = {"mma", "mma", "simt"};
static const char *const rope_fuse[N_ROPE_DEVS] = {"1", "0", "1"};
#else
enum { N_ROPE_DEVS = 4 };
static const char *const rope_kernel[N_ROPE_DEVS] = {"mma", "mma", "wmma", "simt"};
static const char *const rope_fuse[N_ROPE_DEVS] = {"1", "0", "1", "1"};
#endif

static void test_attention_rotary16(attn_dev *devs, int n_devs, ribo_storage storage, const char *name, const int *lens,
                                    int n_seqs, int n_heads, int head_dim, bool alibi) {
    int32_t *cu, *sot, *pos;
    int T = make_packing(lens, n_seqs, &cu, &sot, &pos), hd = n_heads * head_dim, max_len = 0;
    for (int i = 0; i < n_seqs; ++i) max_len = lens[i] > max_len ? lens[i] : max_len;
    const bool bf = storage == RIBO_STORAGE_BF16;
    const size_t nq = (size_t)T * 3 * hd, no = (size_t)T * hd;
    float *qkv = rand_vec(nq, -2, 2), *rot = malloc(nq * 4), *want = malloc(no * 4);
    float *got[N_ROPE_DEVS];
    for (size_t i = 0; i < nq; ++i) qkv[i] = round16(qkv[i], bf);
    memcpy(rot, qkv, nq * 4);
    const float q_scale = 1.0f / sqrtf((float)head_dim);
    ref_rotary(rot, pos, T, n_heads, head_dim, 10000.0f, q_scale);
    for (int t = 0; t < T; ++t)
        for (int e = 0; e < 2 * hd; ++e) rot[(size_t)t * 3 * hd + e] = round16(rot[(size_t)t * 3 * hd + e], bf);
    float slopes[64]; /* room for every head count these tests use (up to 20) */
    for (int h = 0; h < n_heads; ++h) slopes[h] = powf(2.0f, -8.0f * (float)(h + 1) / (float)n_heads);
    ref_attention(rot, cu, n_seqs, alibi ? slopes : NULL, want, n_heads, head_dim, 1.0f);
    const double bound = bf ? 1.5e-2 : 2e-3;
    for (int k = 0; k < n_devs; ++k) {
        attn_dev *d = &devs[k];
        ribo_dptr none = {NULL, 0};
        ribo_dptr q16 = up16(d, qkv, nq, 0), o16 = poisoned16(d, no);
        ribo_attention_args a = {.qkv = q16, .cu_seqlens = ribo_test_upload(d->dev, d->st, cu, (size_t)(n_seqs + 1) * 4),
                                 .seq_of_token = ribo_test_upload(d->dev, d->st, sot, (size_t)T * 4),
                                 .alibi_slopes = alibi ? ribo_test_upload(d->dev, d->st, slopes, sizeof slopes) : none,
                                 .out = o16, .n_tokens = T, .n_seqs = n_seqs, .max_seqlen = max_len, .n_heads = n_heads,
                                 .head_dim = head_dim, .scale = 1.0f,
                                 .positions = ribo_test_upload(d->dev, d->st, pos, (size_t)T * 4), .rope_theta = 10000.0f,
                                 .q_scale = q_scale, .rotary = 1};
        ribo_error err = {0};
        CHECK(d->dev->kernels->attention(d->st, &a, &err) == RIBO_OK, "attention (rotary): %s", err.message);
        got[k] = malloc(no * 4);
        down16(d, got[k], o16, T, hd);
        double e = ribo_test_max_row_rel_err(got[k], want, (size_t)T, (size_t)hd);
        CHECK(e < bound, "attention+rotary %s kernel=%s fuse=%s %s seqs=%d tokens=%d heads=%d dim=%d alibi=%d rel err %g (bound %g)",
              bf ? "bf16" : "fp16", rope_kernel[k], rope_fuse[k], name, n_seqs, T, n_heads, head_dim, alibi, e, bound);
        if (getenv("RIBO_TEST_VERBOSE"))
            fprintf(stderr, "attention+rotary %s kernel=%s fuse=%s %s dim=%d alibi=%d: rel err %.3g\n", bf ? "bf16" : "fp16",
                    rope_kernel[k], rope_fuse[k], name, head_dim, alibi, e);
        ribo_test_free_all(d->dev);
    }
    if (n_devs >= 2) { /* fused vs separate pass, same mma kernel otherwise */
        double e = ribo_test_max_row_rel_err(got[0], got[1], (size_t)T, (size_t)hd);
        CHECK(e < (bf ? 4e-3 : 5e-4), "attention+rotary %s %s dim=%d: fused and separate rotary rel diff %g",
              bf ? "bf16" : "fp16", name, head_dim, e);
        if (getenv("RIBO_TEST_VERBOSE"))
            fprintf(stderr, "attention+rotary %s %s dim=%d: fused vs separate rel diff %.3g\n", bf ? "bf16" : "fp16", name,
                    head_dim, e);
    }
    for (int k = 0; k < n_devs; ++k) free(got[k]);
    free(cu); free(sot); free(pos); free(qkv); free(rot); free(want);
}

static void test_attention_rotary16_all(ribo_storage storage) {
    attn_dev devs[N_ROPE_DEVS];
    const char *names[] = {"RIBO_ATTENTION", "RIBO_FUSE_ROTARY"};
    int n = 0;
    for (int k = 0; k < N_ROPE_DEVS; ++k) {
        const char *values[] = {rope_kernel[k], rope_fuse[k]};
        if (!open_dev_env(storage, 2, names, values, &devs[n])) {
            CHECK(k == 0, RIBO_TEST_GPU_NAME " device did not open with RIBO_ATTENTION=%s RIBO_FUSE_ROTARY=%s", values[0],
                  values[1]);
            break;
        }
        devs[n].kernel = rope_kernel[k];
        ++n;
    }
    if (n == 0) return;
    const int dims[] = {16, 24, 32, 64, 128};
#if RIBO_TEST_GPU
    for (int k = 0; k < n; ++k) /* where the backend's attention entry rotates inside the kernel */
        for (int d = 0; d < 5; ++d) {
            bool fuses = ribo_cuda_attention_fuses_rotary(devs[k].dev, dims[d]);
            /* k 0: mma with RIBO_FUSE_ROTARY=1, on a device where the mma path applies (sm_80+; HIP: MFMA) */
#ifdef RIBO_WITH_HIP
            bool want = k == 0 && devs[k].mfma && tc_head_dim(dims[d]);
#else
            bool want = k == 0 && devs[k].sm >= 80;
#endif
            CHECK(fuses == want, "kernel=%s fuse=%s %s dim %d: attention_fuses_rotary %d, expected %d", rope_kernel[k],
                  rope_fuse[k], devs[k].arch, dims[d], fuses, want);
        }
#endif
    const int lens_r[] = {1, 2, 63, 64, 65, 127, 128, 129, 1000, 3}; /* positions restart in each */
    for (int d = 0; d < 5; ++d) test_attention_rotary16(devs, n, storage, "edges", lens_r, 10, d < 3 ? 4 : 2, dims[d], false);
    int many[512];
    for (int i = 0; i < 512; ++i) many[i] = 1 + (int)ribo_test_randf(&rng, 0.0f, 40.0f);
    test_attention_rotary16(devs, n, storage, "512 short", many, 512, 20, 64, false);
    /* rotary with ALiBi (no model has both): every path runs the separate pass */
    test_attention_rotary16(devs, n, storage, "alibi", lens_r, 10, 2, 32, true);
    close_attn_devs(devs, n);
}

/* RIBO_ATTENTION, RIBO_FUSE_ROTARY, RIBO_LAYER_NORM with an unknown value: the CUDA (HIP) device
 * refuses to open, naming the variable. */
static void test_env_refused(const char *name, const char *value) {
#if RIBO_TEST_GPU
    ribo_device_props props;
    dev->iface->get_props(dev, &props);
    if (strcmp(props.backend, RIBO_TEST_GPU_NAME) != 0) return;
    const char *env = getenv(name);
    char *saved = env ? strdup(env) : NULL;
    setenv(name, value, 1);
    ribo_device *d = NULL;
    ribo_error err = {0};
    ribo_status s = ribo_backend_open(RIBO_TEST_GPU_NAME, 0, RIBO_STORAGE_F32, &d, NULL, &err);
    CHECK_STATUS(s, RIBO_ERR_INVALID_ARGUMENT, &err);
    CHECK_MESSAGE(&err, name);
    if (d) d->iface->destroy(d);
    if (saved) setenv(name, saved, 1);
    else unsetenv(name);
    free(saved);
#else
    (void)name, (void)value;
#endif
}

int main(void) {
    ribo_test_open_device(&dev, &st);
    test_embed(false);
    test_embed(true);
    test_glu(7, 64, true);
    test_glu(33, 100, true);
    test_glu(5, 17, false);
    test_layer_norm(7, 64);
    test_layer_norm(33, 144);
    test_layer_norm(5, 1280);
    test_layer_norm(3, 37);
    /* every width of the model families (ESM-2 320..5120, DNABERT 768, fixtures), row counts that
     * leave a block partly empty, and x off the 16-byte grid */
    const int ln_widths[] = {320, 480, 640, 1280, 2560, 5120, 768, 96, 160, 192};
    for (int i = 0; i < 10; ++i) test_layer_norm(i % 2 ? 5 : 6, ln_widths[i]);
    test_layer_norm(1001, 64);
    test_layer_norm(1, 1280);
    test_layer_norm_at(7, 1280, 1);
    test_layer_norm_at(5, 144, 1);
    ribo_test_free_all(dev);
    test_linear(37, 50, 70, true, false, 0);
    test_linear(64, 192, 64, true, false, 0);
    test_linear(19, 200, 144, true, false, 1);
    test_linear(23, 144, 200, true, true, 0);
    test_linear(5, 7, 3, false, false, 0);
    test_linear(5, 7, 3, true, false, 1); /* 35 outputs: GELU's vector loop and its 3-element tail */
    const int rot_lens[] = {1, 5, 130, 700};
    const int rot_lens_long[] = {3, 1100}; /* positions up to 1099: past fair-esm's 1024 */
    /* rotary runs inside attention (the backend decides whether it fuses); these were the standalone
     * rotary op's cases */
    test_attention_rotary(rot_lens, 4, 4, 16);
    test_attention_rotary(rot_lens, 4, 6, 24);
    test_attention_rotary(rot_lens, 4, 2, 64);
    test_attention_rotary(rot_lens_long, 2, 2, 128); /* the largest head size the kernels support */
    ribo_test_free_all(dev);
    test_attention_check();
    const int lens_a[] = {1, 2, 63, 64, 65, 127, 128, 129};
    const int lens_b[] = {1000};
    const int lens_c[] = {3, 1, 1, 7, 300, 2};
    const int dims[] = {16, 24, 32, 64, 128};
    for (int d = 0; d < 5; ++d)
        for (int alibi = 0; alibi < 2; ++alibi) test_attention(lens_a, 8, d < 3 ? 4 : 2, dims[d], alibi);
    test_attention(lens_b, 1, 2, 24, false);
    test_attention(lens_c, 6, 12, 16, true);
    const int lens_rot[] = {1, 63, 64, 65, 1000, 2};
    for (int d = 0; d < 5; ++d) test_attention_rotary(lens_rot, 6, d < 3 ? 3 : 2, dims[d]);
    test_pool(0);
    test_pool(1);
    test_pool(2);
    test_pool_mean_long();
    test_streams_and_events();
    ribo_test_free_all(dev);
    test_env_refused("RIBO_ATTENTION", "tensorcore");
    test_env_refused("RIBO_FUSE_ROTARY", "yes");
    test_env_refused("RIBO_LAYER_NORM", "fast");
    /* 16-bit storage, every attention kernel (skipped where the backend cannot store it, e.g. OpenCL) */
    test_attention_reduced_all(RIBO_STORAGE_F16);
    test_attention_reduced_all(RIBO_STORAGE_BF16);
    test_attention_rotary16_all(RIBO_STORAGE_F16);
    test_attention_rotary16_all(RIBO_STORAGE_BF16);
    test_layer_norm16_all(RIBO_STORAGE_F16);
    test_layer_norm16_all(RIBO_STORAGE_BF16);
    test_linear_gelu16(RIBO_STORAGE_F16);
    test_linear_gelu16(RIBO_STORAGE_BF16);
    ribo_test_close_device(dev, st);
#ifdef RIBO_WITH_OPENCL
    test_opencl_context_released();
#endif
    return ribo_test_finish("test_ops");
}
