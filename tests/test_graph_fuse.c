/* ribo_graph_fuse_rotary: which [rotary, attention] pairs fold into one attention op (hand-built
 * graphs and the ESM-2 / DNABERT-2 fixture graphs, with a stand-in device whose kernel table answers
 * the capability query), and the executor running a folded graph: the ESM-2 fixture through the
 * executor on the test device as is and through a wrapper of it that claims fusion (its attention
 * then gets rotary_fused ops; a backend without a fused kernel runs its rotary pass first), which
 * must give the same embeddings. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/graph/executor.h"
#include "engine/graph/model.h"
#include "test_util.h"

static int fuse_dims_mask = ~0; /* head sizes the stand-in device fuses: bit (D / 8) */
static bool stub_fuses(ribo_device *dev, int head_dim) { return (fuse_dims_mask >> (head_dim / 8)) & 1; }

static ribo_kernel_i stub_kernels_fusing = {.attention_fuses_rotary = stub_fuses};
static ribo_kernel_i stub_kernels_plain = {.attention_fuses_rotary = NULL};

static int count_ops(const ribo_graph *g, ribo_op_kind kind) {
    int n = 0;
    for (int o = 0; o < g->n_ops; ++o) n += g->ops[o].kind == kind;
    return n;
}

typedef struct layer_opts {
    bool alibi;          /* attention gets ALiBi slopes */
    bool reader_after;   /* another op reads qkv after attention */
    bool foreign_pos;    /* rotary positions from an activation instead of RIBO_INPUT_POSITIONS */
    bool gap;            /* an op between rotary and attention */
    int head_dim;
} layer_opts;

/* Appends [rotary(qkv in place), attention(qkv) -> ctx] (+ the variations) to g. */
static void add_layer(ribo_graph *g, const layer_opts *o, ribo_error *err) {
    const int heads = 2, hd = heads * o->head_dim;
    int positions = ribo_graph_input(g, RIBO_INPUT_POSITIONS, err);
    int cu = ribo_graph_input(g, RIBO_INPUT_CU_SEQLENS, err), sot = ribo_graph_input(g, RIBO_INPUT_SEQ_OF_TOKEN, err);
    int qkv = ribo_graph_activation(g, "qkv", 3 * hd, err), ctx = ribo_graph_activation(g, "ctx", hd, err);
    if (o->foreign_pos) positions = ribo_graph_activation(g, "my_positions", 1, err);
    ribo_gop op = ribo_gop_make(RIBO_OP_ROTARY, "rotary");
    op.in[0] = qkv;
    op.in[1] = positions;
    op.out = qkv;
    op.n_heads = heads;
    op.head_dim = o->head_dim;
    op.theta = 10000.0f;
    op.q_scale = 0.125f;
    CHECK(ribo_graph_add_op(g, &op, err) >= 0, "add op: %s", err->message);
    if (o->gap) {
        ribo_gop ln = ribo_gop_make(RIBO_OP_LAYER_NORM, "gap");
        ln.in[0] = ctx;
        ln.out = ctx;
        CHECK(ribo_graph_add_op(g, &ln, err) >= 0, "add op: %s", err->message);
    }
    op = ribo_gop_make(RIBO_OP_ATTENTION, "attention");
    op.in[0] = qkv;
    op.in[1] = cu;
    op.in[2] = sot;
    if (o->alibi) {
        const float slopes[2] = {0.5f, 0.25f};
        op.in[3] = ribo_graph_constant(g, "slopes", slopes, 2, err);
    }
    op.out = ctx;
    op.n_heads = heads;
    op.head_dim = o->head_dim;
    op.scale = 1.0f;
    CHECK(ribo_graph_add_op(g, &op, err) >= 0, "add op: %s", err->message);
    if (o->reader_after) {
        ribo_gop r = ribo_gop_make(RIBO_OP_LAYER_NORM, "reads qkv");
        r.in[0] = qkv;
        r.out = ribo_graph_activation(g, "qkv_norm", 3 * hd, err);
        CHECK(ribo_graph_add_op(g, &r, err) >= 0, "add op: %s", err->message);
    }
}

/* Builds one layer with o, folds with the given kernel table; returns the number folded. */
static int fold_one(const layer_opts *o, ribo_kernel_i *kernels, ribo_graph *g) {
    ribo_error err = {0};
    ribo_graph_init(g);
    add_layer(g, o, &err);
    ribo_device dev = {NULL, kernels, NULL};
    return ribo_graph_fuse_rotary(g, &dev);
}

static void test_hand_built(void) {
    ribo_graph g;
    layer_opts base = {.head_dim = 64};
    /* folds: the rotary op disappears, the attention op carries it */
    CHECK(fold_one(&base, &stub_kernels_fusing, &g) == 1, "plain layer not folded");
    CHECK(count_ops(&g, RIBO_OP_ROTARY) == 0 && g.n_ops == 1, "rotary op left after folding (%d ops)", g.n_ops);
    const ribo_gop *a = &g.ops[0];
    CHECK(a->kind == RIBO_OP_ATTENTION && a->rotary_fused && a->in[4] == g.inputs[RIBO_INPUT_POSITIONS] &&
              a->theta == 10000.0f && a->q_scale == 0.125f && a->scale == 1.0f && a->in[0] >= 0,
          "folded attention op: kind %d fused %d positions %d (want %d) theta %g q_scale %g", (int)a->kind, a->rotary_fused,
          a->in[4], g.inputs[RIBO_INPUT_POSITIONS], a->theta, a->q_scale);
    ribo_device dev = {NULL, &stub_kernels_fusing, NULL};
    CHECK(ribo_graph_fuse_rotary(&g, &dev) == 0, "folding twice");
    ribo_graph_free(&g);

    /* not folded */
    CHECK(fold_one(&base, &stub_kernels_plain, &g) == 0 && count_ops(&g, RIBO_OP_ROTARY) == 1, "folded without capability");
    ribo_graph_free(&g);
    fuse_dims_mask = ~(1 << (64 / 8));
    CHECK(fold_one(&base, &stub_kernels_fusing, &g) == 0, "folded for a head size the device does not fuse");
    ribo_graph_free(&g);
    fuse_dims_mask = ~0;
    layer_opts o = base;
    o.alibi = true;
    CHECK(fold_one(&o, &stub_kernels_fusing, &g) == 0, "folded into an ALiBi attention");
    ribo_graph_free(&g);
    o = base;
    o.reader_after = true;
    CHECK(fold_one(&o, &stub_kernels_fusing, &g) == 0, "folded although a later op reads the rotated qkv");
    ribo_graph_free(&g);
    o = base;
    o.foreign_pos = true;
    CHECK(fold_one(&o, &stub_kernels_fusing, &g) == 0, "folded with positions that are not the batch's positions input");
    ribo_graph_free(&g);
    o = base;
    o.gap = true;
    CHECK(fold_one(&o, &stub_kernels_fusing, &g) == 0, "folded a rotary op not right before its attention");
    ribo_graph_free(&g);
    ribo_graph_init(&g);
    ribo_error err = {0};
    add_layer(&g, &base, &err);
    CHECK(ribo_graph_fuse_rotary(&g, NULL) == 0, "folded without a device");
    ribo_graph_free(&g);
}

/* The fixture graphs: every ESM-2 layer folds, DNABERT-2 (ALiBi, no rotary) has nothing to fold. */
static void test_fixture_graphs(void) {
    const char *models[] = {"esm2_a", "esm2_b", "dnabert2_a"};
    for (int m = 0; m < 3; ++m) {
        ribo_model model;
        ribo_graph g;
        ribo_error err = {0};
        ribo_status s = ribo_model_open(ribo_test_fixture(models[m]), &model, &err);
        CHECK_STATUS(s, RIBO_OK, &err);
        if (s != RIBO_OK) continue;
        s = ribo_model_build_graph(&model, RIBO_POOL_DEFAULT, &g, &err);
        CHECK_STATUS(s, RIBO_OK, &err);
        if (s == RIBO_OK) {
            const int rotary = count_ops(&g, RIBO_OP_ROTARY), ops = g.n_ops;
            const bool esm = m < 2;
            CHECK(rotary == (esm ? model.dims.n_layers : 0), "%s: %d rotary ops", models[m], rotary);
            ribo_device dev = {NULL, &stub_kernels_fusing, NULL};
            const int folded = ribo_graph_fuse_rotary(&g, &dev);
            CHECK(folded == rotary && count_ops(&g, RIBO_OP_ROTARY) == 0 && g.n_ops == ops - rotary,
                  "%s: folded %d of %d rotary ops", models[m], folded, rotary);
            int fused = 0;
            for (int o = 0; o < g.n_ops; ++o) fused += g.ops[o].kind == RIBO_OP_ATTENTION && g.ops[o].rotary_fused;
            CHECK(fused == rotary, "%s: %d attention ops carry the rotary", models[m], fused);
            ribo_graph_free(&g);
        }
        ribo_model_close(&model);
    }
}

/* Runs the esm2_b fixture graph through the executor on dev for one packed batch; returns the pooled
 * rows (malloc'd, [n_seqs, hidden]) and the number of rotary ops left in the graph. */
static float *run_model(ribo_device *dev, ribo_stream *st, int *rotary_left, int *hidden) {
    ribo_model model;
    ribo_graph g;
    ribo_error err = {0};
    float *out = NULL;
    if (ribo_model_open(ribo_test_fixture("esm2_b"), &model, &err) != RIBO_OK) {
        CHECK(false, "open: %s", err.message);
        return NULL;
    }
    enum { B = 4 };
    const int lens[B] = {3, 70, 5, 130}; /* positions restart per sequence; two key tiles in the last */
    int T = 0;
    for (int i = 0; i < B; ++i) T += lens[i];
    int32_t *tokens = malloc((size_t)T * 4), *pos = malloc((size_t)T * 4), *sot = malloc((size_t)T * 4), cu[B + 1] = {0};
    float scale[B] = {1.0f, 1.0f, 1.0f, 1.0f};
    uint64_t rng = 42;
    for (int s = 0, t = 0; s < B; ++s) {
        cu[s + 1] = cu[s] + lens[s];
        for (int j = 0; j < lens[s]; ++j, ++t) {
            tokens[t] = j == 0 ? 0 : j == lens[s] - 1 ? 2 : 4 + (int)ribo_test_randf(&rng, 0.0f, 20.0f);
            pos[t] = j;
            sot[t] = s;
        }
    }
    ribo_executor *ex = NULL;
    ribo_status s = ribo_model_build_graph(&model, RIBO_POOL_DEFAULT, &g, &err);
    ribo_executor_config cfg = {T, B, RIBO_STORAGE_F32, 1};
    if (s == RIBO_OK) s = ribo_executor_create(dev, st, &g, model.weights, &cfg, &ex, &err);
    if (s == RIBO_OK) {
        *rotary_left = ribo_executor_op_count(ex, RIBO_OP_ROTARY); /* the executor fuses on its own op list */
        CHECK(count_ops(&g, RIBO_OP_ROTARY) == 2, "the shared graph was changed by an executor's fusion");
        *hidden = model.dims.hidden;
        const void *host[RIBO_INPUT_COUNT] = {tokens, pos, sot, cu, scale};
        const size_t bytes[RIBO_INPUT_COUNT] = {(size_t)T * 4, (size_t)T * 4, (size_t)T * 4, sizeof cu, sizeof scale};
        for (int k = 0; k < RIBO_INPUT_COUNT && s == RIBO_OK; ++k) {
            ribo_dptr p = ribo_executor_input(ex, (ribo_input_kind)k);
            if (p.buf) s = st->iface->copy_h2d(st, p, host[k], bytes[k], &err);
        }
        if (s == RIBO_OK) s = ribo_executor_run(ex, st, T, B, 130, &err);
        out = malloc((size_t)B * model.dims.hidden * 4);
        if (s == RIBO_OK) s = st->iface->copy_d2h(st, out, ribo_executor_output(ex), (size_t)B * model.dims.hidden * 4, &err);
        if (s == RIBO_OK) s = st->iface->synchronize(st, &err);
    }
    CHECK_STATUS(s, RIBO_OK, &err);
    if (s != RIBO_OK) {
        free(out);
        out = NULL;
    }
    ribo_executor_free(ex);
    if (g.ops) ribo_graph_free(&g);
    ribo_model_close(&model);
    free(tokens); free(pos); free(sot);
    return out;
}

static bool always_fuses(ribo_device *dev, int head_dim) { return true; }

static void test_executor(void) {
    const char *backend = getenv("RIBO_TEST_BACKEND");
    ribo_device *dev = NULL;
    ribo_stream *st = NULL;
    ribo_error err = {0};
    if (ribo_backend_open(backend ? backend : "auto", 0, RIBO_STORAGE_F32, &dev, NULL, &err) != RIBO_OK) {
        fprintf(stderr, "no device (%s): executor part skipped\n", err.message);
        return;
    }
    CHECK(dev->iface->stream_create(dev, 0, &st, &err) == RIBO_OK, "stream: %s", err.message);
    if (st) {
        /* the same device behind a kernel table that claims a fused rotary for every head size */
        ribo_kernel_i claims = *dev->kernels;
        claims.attention_fuses_rotary = always_fuses;
        ribo_device wrapper = *dev;
        wrapper.kernels = &claims;
        int left_plain = -1, left_fused = -1, hidden = 0;
        const bool dev_fuses = dev->kernels->attention_fuses_rotary && dev->kernels->attention_fuses_rotary(dev, 24);
        float *plain = run_model(dev, st, &left_plain, &hidden), *fused = run_model(&wrapper, st, &left_fused, &hidden);
        CHECK(left_plain == (dev_fuses ? 0 : 2) && left_fused == 0, "rotary ops left: %d as the device is, %d folded",
              left_plain, left_fused);
        if (plain && fused) {
            double worst = 0;
            for (int i = 0; i < 4 * hidden; ++i) worst = fmax(worst, fabs((double)plain[i] - fused[i]));
            /* the same kernels in the same order where the backend does not fuse: bit for bit */
            CHECK(worst == 0.0 || dev_fuses, "folded graph changes the embeddings by up to %g", worst);
            bool finite = true;
            for (int i = 0; i < 4 * hidden; ++i) finite = finite && isfinite(fused[i]);
            CHECK(finite, "non-finite embedding from the folded graph");
        }
        free(plain);
        free(fused);
        st->iface->destroy(st);
    }
    dev->iface->destroy(dev);
}

int main(void) {
    test_hand_built();
    test_fixture_graphs();
    test_executor();
    return ribo_test_finish("test_graph_fuse");
}
