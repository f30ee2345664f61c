#include "engine/graph/executor.h"
#include "engine/graph/weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The least tensor alignment of a plan: a device that asks for more (ribo_executor_config.alignment) gets it. */
#define RIBO_MIN_ALIGN 256

struct ribo_executor {
    ribo_device *dev;
    /* The executor plans on its own copy of the graph's tensor table and op list (device addresses
     * differ), so several executors (one per device) can be created from one graph at once. */
    ribo_graph local;
    ribo_graph *g;            /* &local */
    int slot;                 /* I/O slot of the batch being enqueued */
    int io_slots;
    bool placeholders;        /* ribo_executor_check: no buffers yet; a tensor an op has is a placeholder */
    ribo_executor_config cfg;
    ribo_dbuf *weights, *arena, *io;
    ribo_memory_plan plan;
    /* RIBO_PROFILE_OPS=1: device time per op kind (each op synchronized; a debugging aid) */
    bool profile;
    ribo_event *ev_start, *ev_end;
    double op_ms[RIBO_OP_KIND_COUNT];
};

/* n rounded up to the plan's tensor alignment: the config's (the device's), at least RIBO_MIN_ALIGN. */
static size_t align_up(size_t n, const ribo_executor_config *cfg) {
    size_t a = cfg->alignment > RIBO_MIN_ALIGN ? cfg->alignment : RIBO_MIN_ALIGN;
    return (n + a - 1) / a * a;
}

static size_t storage_size(ribo_storage s) { return s == RIBO_STORAGE_F32 ? 4 : 2; }

/* Bytes of one tensor for the configured budget. */
static size_t tensor_bytes(const ribo_gtensor *t, const ribo_executor_config *cfg) {
    size_t el = storage_size(cfg->storage);
    switch (t->role) {
    case RIBO_TENSOR_WEIGHT: return align_up((size_t)t->shape[0] * (size_t)t->shape[1] * el, cfg);
    case RIBO_TENSOR_CONSTANT: return align_up((size_t)t->shape[0] * 4, cfg);
    case RIBO_TENSOR_ACTIVATION: return align_up((size_t)cfg->max_tokens * (size_t)t->width * el, cfg);
    case RIBO_TENSOR_OUTPUT: return align_up((size_t)cfg->max_tokens * (size_t)t->width * 4, cfg);
    case RIBO_TENSOR_INPUT:
        if (t->input == RIBO_INPUT_CU_SEQLENS) return align_up((size_t)(cfg->max_seqs + 1) * 4, cfg);
        if (t->input == RIBO_INPUT_SEQ_SCALE) return align_up((size_t)cfg->max_seqs * 4, cfg);
        return align_up((size_t)cfg->max_tokens * 4, cfg);
    }
    return 0;
}

/* Records, for every tensor, the first and last op that touches it. */
static void compute_liveness(ribo_graph *g) {
    for (int i = 0; i < g->n_tensors; ++i) g->tensors[i].first_use = g->tensors[i].last_use = -1;
    for (int o = 0; o < g->n_ops; ++o) {
        const ribo_gop *op = &g->ops[o];
        int ids[RIBO_OP_MAX_INPUTS + 1];
        memcpy(ids, op->in, sizeof op->in);
        ids[RIBO_OP_MAX_INPUTS] = op->out;
        for (int k = 0; k <= RIBO_OP_MAX_INPUTS; ++k) {
            if (ids[k] < 0) continue;
            ribo_gtensor *t = &g->tensors[ids[k]];
            if (t->first_use < 0) t->first_use = o;
            t->last_use = o;
        }
    }
}

static bool intervals_overlap(const ribo_gtensor *a, const ribo_gtensor *b) {
    return a->first_use <= b->last_use && b->first_use <= a->last_use;
}

/* First-fit placement of activations, largest first: a tensor may share bytes with any tensor
 * whose live range does not overlap its own. Offsets go into t->dev.offset (buffer set later). */
static size_t place_activations(ribo_graph *g) {
    int n = 0;
    int *order = malloc((size_t)g->n_tensors * sizeof *order);
    if (!order) return 0;
    for (int i = 0; i < g->n_tensors; ++i)
        if (g->tensors[i].role == RIBO_TENSOR_ACTIVATION && g->tensors[i].first_use >= 0) order[n++] = i;
    for (int i = 1; i < n; ++i) { /* insertion sort by size desc, index asc */
        int v = order[i], j = i - 1;
        while (j >= 0 && g->tensors[order[j]].bytes < g->tensors[v].bytes) {
            order[j + 1] = order[j];
            --j;
        }
        order[j + 1] = v;
    }
    size_t total = 0;
    for (int i = 0; i < n; ++i) {
        ribo_gtensor *t = &g->tensors[order[i]];
        size_t offset = 0;
        bool moved = true;
        while (moved) { /* bump past every conflicting placed tensor until none overlaps */
            moved = false;
            for (int j = 0; j < i; ++j) {
                const ribo_gtensor *p = &g->tensors[order[j]];
                if (!intervals_overlap(t, p)) continue;
                if (offset < p->dev.offset + p->bytes && p->dev.offset < offset + t->bytes) {
                    offset = p->dev.offset + p->bytes;
                    moved = true;
                }
            }
        }
        t->dev.offset = offset;
        if (offset + t->bytes > total) total = offset + t->bytes;
    }
    free(order);
    return total;
}

ribo_status ribo_executor_plan(ribo_graph *g, const ribo_executor_config *cfg, ribo_memory_plan *plan,
                               ribo_error *err) {
    if (cfg->max_tokens < 1 || cfg->max_seqs < 1 || cfg->max_seqs > cfg->max_tokens)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "executor: bad budget max_tokens=%d max_seqs=%d",
                              cfg->max_tokens, cfg->max_seqs);
    if (cfg->alignment & (cfg->alignment - 1))
        return ribo_error_set(err, RIBO_ERR_INTERNAL, "executor: alignment %zu is not a power of two", cfg->alignment);
    compute_liveness(g);
    memset(plan, 0, sizeof *plan);
    for (int i = 0; i < g->n_tensors; ++i) {
        ribo_gtensor *t = &g->tensors[i];
        t->bytes = tensor_bytes(t, cfg);
        t->dev.buf = NULL;
        t->dev.offset = 0;
        if (t->role == RIBO_TENSOR_WEIGHT || t->role == RIBO_TENSOR_CONSTANT) {
            t->dev.offset = plan->weight_bytes;
            plan->weight_bytes += t->bytes;
        } else if (t->role == RIBO_TENSOR_INPUT || t->role == RIBO_TENSOR_OUTPUT) {
            t->dev.offset = plan->io_bytes;
            plan->io_bytes += t->bytes;
        }
    }
    plan->arena_bytes = place_activations(g);
    if (plan->arena_bytes == 0)
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "executor: out of host memory planning the arena");
    return RIBO_OK;
}

static ribo_status check_ops(ribo_executor *ex, ribo_error *err);

ribo_status ribo_executor_create(ribo_device *dev, ribo_stream *stream, ribo_graph *g, const ribo_safetensors *st,
                                 const ribo_executor_config *cfg, ribo_executor **out, ribo_error *err) {
    *out = NULL;
    ribo_executor *ex = calloc(1, sizeof *ex);
    if (!ex) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "executor: out of host memory");
    ex->dev = dev;
    ex->cfg = *cfg;
    ribo_device_props props;
    ribo_device_get_props(dev, &props);
    if (props.alignment > ex->cfg.alignment) ex->cfg.alignment = props.alignment;
    ex->io_slots = cfg->io_slots > 0 ? cfg->io_slots : 1;
    ribo_status s = g->resolved_from == st ? RIBO_OK : ribo_weights_check(g, st, NULL, err);
    ex->local = *g;
    ex->local.tensors = s == RIBO_OK ? malloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *g->tensors) : NULL;
    ex->local.ops = s == RIBO_OK ? malloc((size_t)(g->n_ops ? g->n_ops : 1) * sizeof *g->ops) : NULL;
    ex->local.cap_ops = g->n_ops;
    ex->g = &ex->local;
    if (s == RIBO_OK && (!ex->local.tensors || !ex->local.ops))
        s = ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "executor: out of host memory");
    if (s == RIBO_OK) {
        memcpy(ex->local.tensors, g->tensors, (size_t)g->n_tensors * sizeof *g->tensors);
        memcpy(ex->local.ops, g->ops, (size_t)g->n_ops * sizeof *g->ops);
    }
    if (s == RIBO_OK) s = ribo_executor_plan(ex->g, &ex->cfg, &ex->plan, err);
    if (s == RIBO_OK) s = ribo_buffer_alloc(dev, ex->plan.weight_bytes, "weights", &ex->weights, err);
    if (s == RIBO_OK) s = ribo_buffer_alloc(dev, ex->plan.arena_bytes, "activation arena", &ex->arena, err);
    if (s == RIBO_OK)
        s = ribo_buffer_alloc(dev, ex->plan.io_bytes * (size_t)ex->io_slots, "batch inputs/outputs", &ex->io, err);
    if (s == RIBO_OK) {
        for (int i = 0; i < ex->g->n_tensors; ++i) {
            ribo_gtensor *t = &ex->g->tensors[i];
            t->dev.buf = t->role == RIBO_TENSOR_WEIGHT || t->role == RIBO_TENSOR_CONSTANT ? ex->weights
                       : t->role == RIBO_TENSOR_ACTIVATION ? ex->arena : ex->io;
        }
        s = check_ops(ex, err); /* before the weights travel: a refusal costs no upload */
    }
    if (s == RIBO_OK) s = ribo_weights_upload(ex->dev, stream, ex->g, ex->cfg.storage, err);
    const char *profile = getenv("RIBO_PROFILE_OPS");
    if (s == RIBO_OK && profile && profile[0] && strcmp(profile, "0") != 0) {
        s = ribo_event_create(dev, true, &ex->ev_start, err);
        if (s == RIBO_OK) s = ribo_event_create(dev, true, &ex->ev_end, err);
        ex->profile = s == RIBO_OK;
    }
    if (s != RIBO_OK) {
        ribo_executor_free(ex);
        return s;
    }
    *out = ex;
    return RIBO_OK;
}

const ribo_memory_plan *ribo_executor_memory(const ribo_executor *ex) { return &ex->plan; }

void ribo_executor_set_pool(ribo_executor *ex, const ribo_graph *g) {
    for (int o = 0; o < g->n_ops && o < ex->local.n_ops; ++o)
        if (g->ops[o].kind == RIBO_OP_POOL) ex->local.ops[o].pool_mode = g->ops[o].pool_mode;
    ex->local.output_per_token = g->output_per_token;
    ex->local.pool_skip_begin = g->pool_skip_begin;
    ex->local.pool_skip_end = g->pool_skip_end;
}

/* Address of tensor id; batch inputs and the output are those of I/O slot `slot`. */
static ribo_dptr tensor_at(const ribo_executor *ex, int id, int slot) {
    ribo_dptr p = ex->g->tensors[id].dev;
    ribo_tensor_role role = ex->g->tensors[id].role;
    if (role == RIBO_TENSOR_INPUT || role == RIBO_TENSOR_OUTPUT) p.offset += (size_t)slot * ex->plan.io_bytes;
    return p;
}

ribo_dptr ribo_executor_input_at(const ribo_executor *ex, int slot, ribo_input_kind kind) {
    int i = ex->g->inputs[kind];
    ribo_dptr none = {NULL, 0};
    return i >= 0 && slot >= 0 && slot < ex->io_slots ? tensor_at(ex, i, slot) : none;
}

ribo_dptr ribo_executor_output_at(const ribo_executor *ex, int slot) {
    ribo_dptr none = {NULL, 0};
    return slot >= 0 && slot < ex->io_slots ? tensor_at(ex, ex->g->output, slot) : none;
}

ribo_dptr ribo_executor_input(const ribo_executor *ex, ribo_input_kind kind) { return ribo_executor_input_at(ex, 0, kind); }

ribo_dptr ribo_executor_output(const ribo_executor *ex) { return ribo_executor_output_at(ex, 0); }

/* Device pointer of op input k, or a NULL dptr when unused. */
static ribo_dptr arg(const ribo_executor *ex, int id) {
    static ribo_dbuf *const placeholder = (ribo_dbuf *)&placeholder; /* never dereferenced: marks presence */
    ribo_dptr none = {NULL, 0};
    if (id >= 0 && ex->placeholders) return (ribo_dptr){.buf = placeholder, .offset = 0};
    return id >= 0 ? tensor_at(ex, id, ex->slot) : none;
}

/* The kernel call of one op for a batch of T tokens in B sequences (the longest max_seqlen), with the
 * addresses of the current I/O slot. */
static ribo_kernel_call make_call(const ribo_executor *ex, const ribo_gop *op, int T, int B, int max_seqlen) {
    const ribo_graph *g = ex->g;
    ribo_kernel_call c;
    memset(&c, 0, sizeof c);
    switch (op->kind) {
    case RIBO_OP_EMBED: {
        const ribo_gtensor *table = &g->tensors[op->in[3]];
        c.op = RIBO_KERNEL_EMBED;
        c.embed = (ribo_embed_args){.tokens = arg(ex, op->in[0]), .seq_of_token = arg(ex, op->in[1]),
                                    .seq_scale = arg(ex, op->in[2]), .table = arg(ex, op->in[3]),
                                    .out = arg(ex, op->out), .n_tokens = T, .width = (int)table->shape[1],
                                    .vocab = (int)table->shape[0], .mask_id = op->mask_id,
                                    .add_row = arg(ex, op->in[4])};
        break;
    }
    case RIBO_OP_LAYER_NORM:
        c.op = RIBO_KERNEL_LAYER_NORM;
        c.layer_norm = (ribo_layer_norm_args){.x = arg(ex, op->in[0]), .gamma = arg(ex, op->in[1]),
                                              .beta = arg(ex, op->in[2]), .out = arg(ex, op->out), .rows = T,
                                              .width = g->tensors[op->out].width, .eps = op->eps};
        break;
    case RIBO_OP_LINEAR: {
        const ribo_gtensor *w = &g->tensors[op->in[1]];
        c.op = RIBO_KERNEL_LINEAR;
        c.linear = (ribo_linear_args){.x = arg(ex, op->in[0]), .w = arg(ex, op->in[1]), .bias = arg(ex, op->in[2]),
                                      .residual = arg(ex, op->in[3]), .out = arg(ex, op->out), .m = T,
                                      .n = (int)w->shape[0], .k = (int)w->shape[1], .act = op->act};
        break;
    }
    case RIBO_OP_ATTENTION:
        c.op = RIBO_KERNEL_ATTENTION;
        c.attention = (ribo_attention_args){.qkv = arg(ex, op->in[0]), .cu_seqlens = arg(ex, op->in[1]),
                                            .seq_of_token = arg(ex, op->in[2]), .alibi_slopes = arg(ex, op->in[3]),
                                            .out = arg(ex, op->out), .n_tokens = T, .n_seqs = B,
                                            .max_seqlen = max_seqlen, .n_heads = op->n_heads,
                                            .head_dim = op->head_dim, .scale = op->scale,
                                            .positions = arg(ex, op->in[4]), .rope_theta = op->theta,
                                            .q_scale = op->q_scale, .rotary = op->rotary};
        break;
    case RIBO_OP_POOL:
        c.op = RIBO_KERNEL_POOL;
        c.pool = (ribo_pool_args){.x = arg(ex, op->in[0]), .cu_seqlens = arg(ex, op->in[1]),
                                  .seq_of_token = arg(ex, op->in[2]), .out = arg(ex, op->out), .n_seqs = B,
                                  .n_tokens = T, .width = g->output_width, .skip_begin = op->skip_begin,
                                  .skip_end = op->skip_end, .mode = op->pool_mode};
        break;
    case RIBO_OP_GLU:
        c.op = RIBO_KERNEL_GLU;
        c.glu = (ribo_glu_args){.x = arg(ex, op->in[0]), .out = arg(ex, op->out), .rows = T,
                                .width = g->tensors[op->out].width, .act = op->act};
        break;
    case RIBO_OP_KIND_COUNT: c.op = RIBO_KERNEL_OP_COUNT; break;
    }
    return c;
}

/* Asks the device, for every op at the largest batch of the plan, whether it can run it: an op or
 * shape it cannot is refused here, naming op and limit, before any batch. */
static ribo_status check_ops(ribo_executor *ex, ribo_error *err) {
    const int T = ex->cfg.max_tokens, B = ex->cfg.max_seqs;
    for (int o = 0; o < ex->g->n_ops; ++o) {
        const ribo_gop *op = &ex->g->ops[o];
        if (op->kind < 0 || op->kind >= RIBO_OP_KIND_COUNT)
            return ribo_error_set(err, RIBO_ERR_INTERNAL, "executor: op %d (%s) has unknown kind %d", o, op->label,
                                  (int)op->kind);
        ribo_kernel_call c = make_call(ex, op, T, B, T);
        if (ribo_kernel_check(ex->dev, &c, err) != RIBO_OK) return ribo_error_prefix(err, "op %d (%s)", o, op->label);
    }
    return RIBO_OK;
}

ribo_status ribo_executor_check(ribo_device *dev, const ribo_graph *g, int max_tokens, int max_seqs, ribo_error *err) {
    ribo_executor ex;
    memset(&ex, 0, sizeof ex);
    ex.dev = dev;
    ex.local = *g; /* read only: make_call reads tensor shapes, arg() hands out placeholders */
    ex.g = &ex.local;
    ex.cfg.max_tokens = max_tokens;
    ex.cfg.max_seqs = max_seqs;
    ex.placeholders = true;
    return check_ops(&ex, err);
}

ribo_status ribo_executor_run_at(ribo_executor *ex, ribo_stream *stream, int slot, int n_tokens, int n_seqs,
                                 int max_seqlen, ribo_error *err) {
    if (slot < 0 || slot >= ex->io_slots)
        return ribo_error_set(err, RIBO_ERR_INTERNAL, "executor: I/O slot %d of %d", slot, ex->io_slots);
    ex->slot = slot;
    if (n_tokens < 1 || n_tokens > ex->cfg.max_tokens || n_seqs < 1 || n_seqs > ex->cfg.max_seqs)
        return ribo_error_set(err, RIBO_ERR_INTERNAL, "executor: batch of %d tokens / %d sequences exceeds the plan (%d / %d)",
                              n_tokens, n_seqs, ex->cfg.max_tokens, ex->cfg.max_seqs);
    for (int o = 0; o < ex->g->n_ops; ++o) {
        ribo_status s = ex->profile ? ribo_stream_record_event(stream, ex->ev_start, err) : RIBO_OK;
        if (s == RIBO_OK) {
            ribo_kernel_call c = make_call(ex, &ex->g->ops[o], n_tokens, n_seqs, max_seqlen);
            s = ribo_kernel_launch(stream, &c, err);
        }
        if (s == RIBO_OK && ex->profile) {
            float ms = 0;
            s = ribo_stream_record_event(stream, ex->ev_end, err);
            if (s == RIBO_OK) s = ribo_event_synchronize(ex->ev_end, err);
            if (s == RIBO_OK) s = ribo_event_elapsed_ms(ex->ev_start, ex->ev_end, &ms, err);
            ex->op_ms[ex->g->ops[o].kind] += ms;
        }
        if (s != RIBO_OK) return ribo_error_prefix(err, "op %d (%s)", o, ex->g->ops[o].label);
    }
    return RIBO_OK;
}

ribo_status ribo_executor_run(ribo_executor *ex, ribo_stream *stream, int n_tokens, int n_seqs, int max_seqlen,
                              ribo_error *err) {
    return ribo_executor_run_at(ex, stream, 0, n_tokens, n_seqs, max_seqlen, err);
}

/* Prints the per-op-kind device time gathered under RIBO_PROFILE_OPS. */
static void print_profile(const ribo_executor *ex) {
    static const char *const names[] = {[RIBO_OP_EMBED] = "embed",         [RIBO_OP_LAYER_NORM] = "layer_norm",
                                        [RIBO_OP_LINEAR] = "linear",       [RIBO_OP_ATTENTION] = "attention",
                                        [RIBO_OP_POOL] = "pool",           [RIBO_OP_GLU] = "glu"};
    _Static_assert(sizeof names / sizeof names[0] == RIBO_OP_KIND_COUNT, "an op kind without a name");
    double total = 0;
    for (int k = 0; k < RIBO_OP_KIND_COUNT; ++k) total += ex->op_ms[k];
    fprintf(stderr, "ribo: op profile (device ms, each op synchronized):");
    for (int k = 0; k < RIBO_OP_KIND_COUNT; ++k)
        fprintf(stderr, " %s %.1f (%.1f%%)", names[k], ex->op_ms[k], total > 0 ? 100.0 * ex->op_ms[k] / total : 0.0);
    fprintf(stderr, " total %.1f\n", total);
}

void ribo_executor_free(ribo_executor *ex) {
    if (!ex) return;
    if (ex->profile) print_profile(ex);
    ribo_event_destroy(ex->ev_start);
    ribo_event_destroy(ex->ev_end);
    if (ex->weights) ribo_buffer_free(ex->dev, ex->weights);
    if (ex->arena) ribo_buffer_free(ex->dev, ex->arena);
    if (ex->io) ribo_buffer_free(ex->dev, ex->io);
    free(ex->local.tensors);
    free(ex->local.ops);
    free(ex);
}
