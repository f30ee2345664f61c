/* One device's three-stream pipeline with a ring of staging slots (see pipeline.h). */
#include "engine/run/pipeline.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/base/host_memory.h"
#include "engine/graph/executor.h"

enum { EV_H2D_START, EV_H2D_DONE, EV_COMPUTE_START, EV_COMPUTE_DONE, EV_D2H_START, EV_D2H_DONE, EV_COUNT };

typedef enum slot_state { SLOT_FREE, SLOT_BUSY, SLOT_WRITER } slot_state;

/* One staging slot: pinned host inputs and outputs, the executor's I/O slot of the same index, the
 * events of the batch it holds. */
typedef struct slot {
    int index;
    slot_state state;            /* guarded by ribo_pipeline.lock */
    ribo_batch *batch;
    void *host_in;               /* tokens | positions | seq_of_token [T] | cu_seqlens [B+1] | seq_scale [B] */
    float *host_out;             /* output rows */
    ribo_event *ev[EV_COUNT];
} slot;

struct ribo_pipeline {
    ribo_pipeline_config cfg;
    char label[192];
    ribo_device *dev;
    ribo_stream *h2d, *compute, *d2h;
    ribo_executor *exec;
    slot *slots;
    int n_slots;
    int next_slot;               /* round-robin refill order */
    int *inflight;               /* FIFO of BUSY slot indices, in submission order */
    int inflight_head, inflight_len;
    size_t out_row_floats;       /* floats per output row (the embedding width) */
    size_t max_out_rows;         /* output rows a slot can hold */
    ribo_event *ev_ref;          /* recorded and waited for at creation: the time origin */
    double ref_time;             /* seconds since run start when ev_ref completed */
    double last_compute_end;     /* for the idle time of the compute stream */
    double idle_from;            /* the compute stream counts as idle from here until the run's first batch */
    pthread_mutex_t lock;
    pthread_cond_t released;
    atomic_bool stop;
    size_t fail_at;                  /* test hook RIBO_TEST_FAIL_AT_BATCH: batch number that fails (0 = none) */
    _Atomic uint64_t compute_ns;     /* compute-stream busy time so far (progress, any thread) */
    ribo_pipeline_stats st;
};

const char *ribo_pipeline_label(const ribo_pipeline *p) { return p->label; }

double ribo_pipeline_compute_seconds(ribo_pipeline *p) { return 1e-9 * (double)atomic_load(&p->compute_ns); }

static size_t in_bytes(int T, int B) { return (3 * (size_t)T + 2 * (size_t)B + 1) * 4; }

/* Frees what create made so far. */
static void destroy(ribo_pipeline *p) {
    if (!p) return;
    ribo_error e;
    if (p->h2d) ribo_stream_synchronize(p->h2d, &e);
    if (p->compute) ribo_stream_synchronize(p->compute, &e);
    if (p->d2h) ribo_stream_synchronize(p->d2h, &e);
    for (int i = 0; p->slots && i < p->n_slots; ++i) {
        slot *s = &p->slots[i];
        for (int k = 0; k < EV_COUNT; ++k)
            ribo_event_destroy(s->ev[k]);
        if (s->host_in) ribo_host_free(p->dev, s->host_in);
        if (s->host_out) ribo_host_free(p->dev, s->host_out);
    }
    free(p->slots);
    free(p->inflight);
    ribo_event_destroy(p->ev_ref);
    ribo_executor_free(p->exec);
    ribo_stream_destroy(p->h2d);
    ribo_stream_destroy(p->compute);
    ribo_stream_destroy(p->d2h);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->released);
    free(p);
}

void ribo_pipeline_free(ribo_pipeline *p) { destroy(p); }

/* Device bytes the executor would take at a budget (weights, arena, I/O slots). */
static ribo_status plan_bytes(const ribo_pipeline_config *cfg, int tokens, int seqs, int slots, uint64_t *total,
                              uint64_t *largest, ribo_error *err) {
    ribo_graph local = *cfg->graph;
    local.tensors = malloc((size_t)(local.n_tensors ? local.n_tensors : 1) * sizeof *local.tensors);
    if (!local.tensors) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    memcpy(local.tensors, cfg->graph->tensors, (size_t)local.n_tensors * sizeof *local.tensors);
    ribo_device_props props;
    ribo_device_get_props(cfg->dev, &props);
    ribo_executor_config ec = {.max_tokens = tokens, .max_seqs = seqs, .storage = cfg->storage, .io_slots = slots,
                               .alignment = props.alignment}; /* as ribo_executor_create will align */
    ribo_memory_plan mp;
    ribo_status s = ribo_executor_plan(&local, &ec, &mp, err);
    free(local.tensors);
    RIBO_TRY(s);
    uint64_t io = mp.io_bytes * (uint64_t)slots;
    *total = mp.weight_bytes + mp.arena_bytes + io;
    *largest = mp.weight_bytes > mp.arena_bytes ? mp.weight_bytes : mp.arena_bytes;
    if (io > *largest) *largest = io;
    return RIBO_OK;
}

/* The budget to retry with after an out-of-memory failure at `tokens`: what the device's free
 * memory and largest allocation suggest (90% of it), and at most half of what failed. */
static int lower_budget(const ribo_pipeline_config *cfg, int tokens, int seqs, ribo_error *err) {
    uint64_t total = 0, largest = 0;
    if (plan_bytes(cfg, tokens, seqs, cfg->ring_depth, &total, &largest, err) != RIBO_OK) return 0;
    uint64_t weights_total = 0, weights_largest = 0;
    if (plan_bytes(cfg, 1, 1, cfg->ring_depth, &weights_total, &weights_largest, err) != RIBO_OK) return 0;
    ribo_device_memory mem = {0};
    ribo_device_memory_info(cfg->dev, &mem);
    ribo_device_props props;
    ribo_device_get_props(cfg->dev, &props);
    double per_token = (double)(total - weights_total) / (double)tokens;
    double per_token_largest = (double)largest / (double)tokens;
    double fit = (double)tokens / 2;
    if (mem.free_bytes > weights_total && per_token > 0) {
        double by_free = 0.9 * (double)(mem.free_bytes - weights_total) / per_token;
        if (by_free < fit) fit = by_free;
    }
    if (props.max_alloc_bytes && per_token_largest > 0) {
        double by_alloc = 0.9 * (double)props.max_alloc_bytes / per_token_largest;
        if (by_alloc < fit) fit = by_alloc;
    }
    int t = fit > 64 ? (int)fit / 64 * 64 : (int)fit;
    return t > 0 ? t : 0;
}

/* The per-batch inputs in a slot's pinned staging buffer (in_bytes(T, B) bytes at budget T, B). */
typedef struct staging {
    int32_t *tokens, *positions, *seq_of_token, *cu_seqlens;
    float *seq_scale;
} staging;

static staging staging_of(int32_t *in, size_t cap_T, size_t cap_B) {
    staging h = {in, in + cap_T, in + 2 * cap_T, in + 3 * cap_T, NULL};
    h.seq_scale = (float *)(h.cu_seqlens + cap_B + 1);
    return h;
}

/* Copies the first T tokens / B sequences of the staged inputs to I/O slot io_slot on stream st
 * (every input the graph uses; a family may not need all, e.g. no positions with ALiBi). */
static ribo_status upload_inputs(ribo_pipeline *p, ribo_stream *st, int io_slot, const staging *h, size_t T, size_t B,
                                 ribo_error *err) {
    const void *host[RIBO_INPUT_COUNT] = {h->tokens, h->positions, h->seq_of_token, h->cu_seqlens, h->seq_scale};
    const size_t bytes[RIBO_INPUT_COUNT] = {T * 4, T * 4, T * 4, (B + 1) * 4, B * 4};
    for (int kind = 0; kind < RIBO_INPUT_COUNT; ++kind) {
        ribo_dptr dst = ribo_executor_input_at(p->exec, io_slot, (ribo_input_kind)kind);
        if (dst.buf) RIBO_TRY(ribo_stream_copy_h2d(st, dst, host[kind], bytes[kind], err));
    }
    return RIBO_OK;
}

/* One made-up batch (sequences of 256..1,024 tokens of token id 0) of the full budget, at most 65,536
 * tokens, through the executor before the run, so that one-time costs - loading the kernels' modules,
 * library set-up, the GEMM algorithm queries for full batches and the kernels they pick - are paid
 * during setup rather than inside the first batches (measured on an H200, ESM-2 8M shape: the first
 * batch took 117 ms against 6 ms for the others; 21 ms after a 1,024-token warm-up, whose GEMMs pick
 * other kernels). It costs at most one batch of compute at setup (a small input's executor is sized
 * to its own largest batch). GPU devices only; RIBO_WARMUP=0 skips it. Its output is discarded. */
static ribo_status warm_up(ribo_pipeline *p, int T, int B, ribo_error *err) {
    const char *env = getenv("RIBO_WARMUP");
    if (env && strcmp(env, "0") == 0) return RIBO_OK;
    /* The host CPU (OpenCL on PoCL: warp size 1) has none of those costs: its kernels are compiled
     * when the program is built, and a made-up batch would only add its compute (measured: 4 s of the
     * bundled example's 11 s on a 2-core machine). RIBO_WARMUP=1 forces it. */
    ribo_device_props props;
    ribo_device_get_props(p->dev, &props);
    if (props.warp_size == 1 && !(env && strcmp(env, "1") == 0)) return RIBO_OK;
    if (T < 1 || B < 1) return RIBO_OK;
    int want = T < 65536 ? T : 65536;
    /* A large model's one-time costs are small next to its batches, while a full made-up batch of it
     * is seconds of setup (ESM-2 15B: 65,536 tokens = 2e15 FLOP): the batch is capped at about 1e14
     * FLOP (2 x weights per token), never under 1,024 tokens. */
    double weights = 0;
    for (int i = 0; i < p->cfg.graph->n_tensors; ++i) {
        const ribo_gtensor *w = &p->cfg.graph->tensors[i];
        if (w->role == RIBO_TENSOR_WEIGHT) weights += (double)w->shape[0] * (double)(w->ndim > 1 ? w->shape[1] : 1);
    }
    if (weights > 0 && 2.0 * weights * want > 1e14) {
        double cap = 1e14 / (2.0 * weights);
        want = cap < 1024 ? (want < 1024 ? want : 1024) : (int)cap;
    }
    int len = (want + B - 1) / B;
    len = len < 256 ? 256 : len > 1024 ? 1024 : len;
    if (len > want) len = want;
    int n_seqs = want / len;
    if (n_seqs > B) n_seqs = B;
    const int n_tok = n_seqs * len;
    staging h = staging_of(p->slots[0].host_in, (size_t)T, (size_t)B);
    for (int t = 0; t < n_tok; ++t) {
        h.tokens[t] = 0;
        h.positions[t] = t % len;
        h.seq_of_token[t] = t / len;
    }
    for (int s = 0; s <= n_seqs; ++s) h.cu_seqlens[s] = s * len;
    for (int s = 0; s < n_seqs; ++s) h.seq_scale[s] = 1.0f;
    ribo_stream *c = p->compute;
    RIBO_TRY(upload_inputs(p, c, 0, &h, (size_t)n_tok, (size_t)n_seqs, err));
    ribo_status st = ribo_executor_run_at(p->exec, c, 0, n_tok, n_seqs, len, err);
    if (st == RIBO_OK) st = ribo_stream_synchronize(c, err);
    return st == RIBO_OK ? RIBO_OK : ribo_error_prefix(err, "%s: warming up with a made-up batch", p->label);
}

/* Streams, events, pinned staging and the executor at budget (T, B). */
static ribo_status build(ribo_pipeline *p, int T, int B, ribo_error *err) {
    ribo_device *dev = p->dev;
    const ribo_graph *g = p->cfg.graph;
    RIBO_TRY(ribo_stream_create(dev, 1, &p->compute, err));
    RIBO_TRY(ribo_stream_create(dev, 0, &p->h2d, err));
    RIBO_TRY(ribo_stream_create(dev, 0, &p->d2h, err));
    ribo_executor_config ec = {.max_tokens = T, .max_seqs = B, .storage = p->cfg.storage, .io_slots = p->n_slots};
    double t_exec = ribo_now_seconds();
    RIBO_TRY(ribo_executor_create(dev, p->compute, p->cfg.graph, p->cfg.weights, &ec, &p->exec, err));
    p->st.executor_s = ribo_now_seconds() - t_exec;
    p->out_row_floats = (size_t)g->output_width;
    p->max_out_rows = g->output_per_token || p->cfg.any_pool ? (size_t)T : (size_t)B;
    for (int i = 0; i < p->n_slots; ++i) {
        slot *s = &p->slots[i];
        s->index = i;
        RIBO_TRY(ribo_host_alloc(dev, in_bytes(T, B), &s->host_in, err));
        void *out = NULL;
        RIBO_TRY(ribo_host_alloc(dev, p->max_out_rows * p->out_row_floats * sizeof(float), &out, err));
        s->host_out = out;
        for (int k = 0; k < EV_COUNT; ++k) RIBO_TRY(ribo_event_create(dev, true, &s->ev[k], err));
    }
    double t_warm = ribo_now_seconds();
    RIBO_TRY(warm_up(p, T, B, err));
    p->st.warmup_s = ribo_now_seconds() - t_warm;
    ribo_host_rss(&p->st.host_anon_bytes, &p->st.host_file_bytes);
    RIBO_TRY(ribo_event_create(dev, true, &p->ev_ref, err));
    RIBO_TRY(ribo_stream_record_event(p->compute, p->ev_ref, err));
    RIBO_TRY(ribo_event_synchronize(p->ev_ref, err));
    p->ref_time = ribo_now_seconds() - p->cfg.t0;
    p->idle_from = p->ref_time;
    ribo_device_memory mem = {0};
    ribo_device_memory_info(dev, &mem);
    p->st.device_used_bytes = mem.total_bytes > mem.free_bytes ? mem.total_bytes - mem.free_bytes : 0;
    return RIBO_OK;
}

/* One attempt at creating the pipeline with budget (T, B). */
static ribo_status try_create(const ribo_pipeline_config *cfg, int T, int B, ribo_pipeline **out, ribo_error *err) {
    *out = NULL;
    ribo_pipeline *p = calloc(1, sizeof *p);
    if (!p) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->released, NULL);
    atomic_init(&p->stop, false);
    atomic_init(&p->compute_ns, 0);
    p->cfg = *cfg;
    p->cfg.max_tokens = T;
    p->cfg.max_seqs = B;
    snprintf(p->label, sizeof p->label, "%s", cfg->label ? cfg->label : "device");
    p->cfg.label = p->label;
    p->dev = cfg->dev;
    p->n_slots = cfg->ring_depth > 0 ? cfg->ring_depth : 1;
    p->slots = calloc((size_t)p->n_slots, sizeof *p->slots);
    p->inflight = calloc((size_t)p->n_slots, sizeof *p->inflight);
    p->st.max_tokens = T;
    const char *fail = getenv("RIBO_TEST_FAIL_AT_BATCH");
    p->fail_at = fail ? (size_t)strtoull(fail, NULL, 10) : 0;
    ribo_status s = p->slots && p->inflight ? ribo_device_bind_thread(p->dev, err)
                                            : ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    if (s == RIBO_OK) s = build(p, T, B, err);
    if (s != RIBO_OK) {
        destroy(p);
        return s;
    }
    *out = p;
    return RIBO_OK;
}

ribo_status ribo_pipeline_create(const ribo_pipeline_config *cfg, bool allow_lower, int min_tokens,
                                 ribo_pipeline **out, char *note, size_t note_cap, ribo_error *err) {
    if (note && note_cap) note[0] = '\0';
    int T = cfg->max_tokens, B = cfg->max_seqs < T ? cfg->max_seqs : T;
    ribo_status s = try_create(cfg, T, B, out, err);
    if (s != RIBO_ERR_OUT_OF_MEMORY || !allow_lower) return s;
    ribo_error first = *err;
    int lower = lower_budget(cfg, T, B, err);
    if (lower < min_tokens || lower < 1)
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY,
                              "%s; a token budget that fits would be %d, below the longest possible sequence (%d tokens)",
                              first.message, lower, min_tokens);
    int lower_seqs = B < lower ? B : lower;
    s = try_create(cfg, lower, lower_seqs, out, err);
    if (s != RIBO_OK)
        return ribo_error_prefix(err, "out of device memory at --max-tokens %d (%s), and again at %d tokens", T,
                                 first.message, lower);
    if (note)
        snprintf(note, note_cap,
                 "%s: out of device memory for a batch budget of %d tokens (%s); lowered the budget to %d tokens "
                 "(set --max-tokens to choose)",
                 cfg->label, T, first.message, lower);
    return RIBO_OK;
}

/* ---------------------------------------------------------------- running */

/* Seconds since run start at which a completed event happened. */
static double event_time(ribo_pipeline *p, ribo_event *ev) {
    float ms = 0;
    ribo_error e;
    if (ribo_event_elapsed_ms(p->ev_ref, ev, &ms, &e) != RIBO_OK) return 0;
    return p->ref_time + (double)ms * 1e-3;
}

/* Adds "device X: batch N (window W)" in front of an error. */
static ribo_status batch_error(ribo_pipeline *p, const ribo_batch *b, ribo_error *err) {
    return ribo_error_prefix(err, "%s: batch %zu (window %zu)", p->label, b->seq_no + 1, b->window + 1);
}

/* Enqueues batch b in slot s on the three streams. */
static ribo_status submit(ribo_pipeline *p, slot *s, ribo_batch *b, ribo_error *err) {
    const ribo_packed_batch *pb = &b->pb;
    size_t T = (size_t)pb->n_tokens, B = (size_t)pb->n_seqs, cap_T = (size_t)p->cfg.max_tokens;
    if (pb->n_tokens > p->cfg.max_tokens || pb->n_seqs > p->cfg.max_seqs)
        return ribo_error_set(err, RIBO_ERR_INTERNAL, "batch of %zu tokens / %zu sequences exceeds the budget %d / %d",
                              T, B, p->cfg.max_tokens, p->cfg.max_seqs);
    staging h = staging_of(s->host_in, cap_T, (size_t)p->cfg.max_seqs);
    memcpy(h.tokens, pb->tokens, T * 4);
    memcpy(h.positions, pb->positions, T * 4);
    memcpy(h.seq_of_token, pb->seq_of_token, T * 4);
    memcpy(h.cu_seqlens, pb->cu_seqlens, (B + 1) * 4);
    memcpy(h.seq_scale, b->seq_scale, B * 4);
    s->batch = b;
    if (p->fail_at && b->seq_no + 1 == p->fail_at)
        return ribo_error_set(err, RIBO_ERR_DEVICE, "op 0 (injected): simulated kernel failure (RIBO_TEST_FAIL_AT_BATCH)");
    ribo_executor *ex = p->exec;
    int k = s->index;
    ribo_stream *up = p->h2d, *c = p->compute, *d = p->d2h;
    /* H2D: the slot's device inputs are free (its previous batch's D2H finished, which followed its compute) */
    RIBO_TRY(ribo_stream_record_event(up, s->ev[EV_H2D_START], err));
    RIBO_TRY(upload_inputs(p, up, k, &h, T, B, err));
    RIBO_TRY(ribo_stream_record_event(up, s->ev[EV_H2D_DONE], err));
    /* compute: after this slot's inputs are up; batches run in order on this one stream */
    RIBO_TRY(ribo_stream_wait_event(c, s->ev[EV_H2D_DONE], err));
    RIBO_TRY(ribo_stream_record_event(c, s->ev[EV_COMPUTE_START], err));
    RIBO_TRY(ribo_executor_run_at(ex, c, k, pb->n_tokens, pb->n_seqs, pb->max_seqlen, err));
    RIBO_TRY(ribo_stream_record_event(c, s->ev[EV_COMPUTE_DONE], err));
    /* D2H: after the compute of this batch */
    const ribo_graph *g = p->cfg.graph;
    size_t skip = (size_t)(g->pool_skip_begin + g->pool_skip_end);
    size_t rows = g->output_per_token ? T - B * skip : B;
    RIBO_TRY(ribo_stream_wait_event(d, s->ev[EV_COMPUTE_DONE], err));
    RIBO_TRY(ribo_stream_record_event(d, s->ev[EV_D2H_START], err));
    RIBO_TRY(ribo_stream_copy_d2h(d, s->host_out, ribo_executor_output_at(ex, k), rows * p->out_row_floats * 4, err));
    return ribo_stream_record_event(d, s->ev[EV_D2H_DONE], err);
}

/* The batch in slot s has completed: timings, stats, hand-over to the writer. */
static void finish(ribo_pipeline *p, slot *s) {
    ribo_batch *b = s->batch;
    ribo_batch_timing *t = &b->timing;
    t->h2d[0] = event_time(p, s->ev[EV_H2D_START]);
    t->h2d[1] = event_time(p, s->ev[EV_H2D_DONE]);
    t->compute[0] = event_time(p, s->ev[EV_COMPUTE_START]);
    t->compute[1] = event_time(p, s->ev[EV_COMPUTE_DONE]);
    t->d2h[0] = event_time(p, s->ev[EV_D2H_START]);
    t->d2h[1] = event_time(p, s->ev[EV_D2H_DONE]);
    ribo_pipeline_stats *st = &p->st;
    st->h2d_s += t->h2d[1] - t->h2d[0];
    st->compute_s += t->compute[1] - t->compute[0];
    atomic_fetch_add(&p->compute_ns, (uint64_t)((t->compute[1] - t->compute[0]) * 1e9));
    st->d2h_s += t->d2h[1] - t->d2h[0];
    double since = st->batches ? p->last_compute_end : p->idle_from;
    if (t->compute[0] > since) st->compute_idle_s += t->compute[0] - since;
    if (t->compute[1] > p->last_compute_end) p->last_compute_end = t->compute[1];
    if (!st->batches || t->h2d[0] < st->first_start) st->first_start = t->h2d[0];
    if (t->d2h[1] > st->last_end) st->last_end = t->d2h[1];
    ++st->batches;
    st->tokens += (uint64_t)b->pb.n_tokens;
    st->sequences += (uint64_t)b->pb.n_seqs;
    b->owner = p;
    b->pipeline = p->cfg.index;
    b->slot = s;
    b->out = s->host_out;
}

/* submit(), with the host time it takes added to the stats. */
static ribo_status submit_timed(ribo_pipeline *p, slot *s, ribo_batch *b, ribo_error *err) {
    double t0 = ribo_now_seconds();
    ribo_status st = submit(p, s, b, err);
    p->st.enqueue_s += ribo_now_seconds() - t0;
    return st;
}

ribo_status ribo_pipeline_run_one(ribo_pipeline *p, ribo_batch *b, ribo_error *err) {
    slot *s = &p->slots[0];
    if (s->state != SLOT_FREE) return ribo_error_set(err, RIBO_ERR_INTERNAL, "%s: slot still in use", p->label);
    ribo_status st = submit_timed(p, s, b, err);
    /* --sync: every stage waited for before the next (no overlap), in order */
    for (int k = 0; st == RIBO_OK && k < EV_COUNT; ++k) st = ribo_event_synchronize(s->ev[k], err);
    if (st != RIBO_OK) return batch_error(p, b, err);
    finish(p, s);
    s->state = SLOT_WRITER;
    return RIBO_OK;
}

/* Waits for the oldest in-flight batch (block) or checks it (poll); hands it to the writer. */
static ribo_status retire(ribo_pipeline *p, ribo_queue *out, bool block, bool *retired, ribo_error *err) {
    *retired = false;
    if (!p->inflight_len) return RIBO_OK;
    slot *s = &p->slots[p->inflight[p->inflight_head]];
    ribo_event *done = s->ev[EV_D2H_DONE];
    bool ready = false;
    ribo_status st = block ? ribo_event_synchronize(done, err) : ribo_event_query(done, &ready, err);
    if (st != RIBO_OK) return batch_error(p, s->batch, err);
    if (!block && !ready) return RIBO_OK;
    finish(p, s);
    p->inflight_head = (p->inflight_head + 1) % p->n_slots;
    --p->inflight_len;
    pthread_mutex_lock(&p->lock);
    s->state = SLOT_WRITER;
    pthread_mutex_unlock(&p->lock);
    if (!ribo_queue_push(out, s->batch)) return ribo_error_set(err, RIBO_ERR_INTERNAL, "stopped");
    *retired = true;
    return RIBO_OK;
}

/* The next slot in ring order if it is free, else -1. */
static int free_slot(ribo_pipeline *p) {
    pthread_mutex_lock(&p->lock);
    int k = p->slots[p->next_slot].state == SLOT_FREE ? p->next_slot : -1;
    pthread_mutex_unlock(&p->lock);
    return k;
}

ribo_status ribo_pipeline_run(ribo_pipeline *p, ribo_queue *in, ribo_queue *out, ribo_error *err) {
    RIBO_TRY(ribo_device_bind_thread(p->dev, err));
    bool input_done = false;
    for (;;) {
        if (atomic_load(&p->stop)) return ribo_error_set(err, RIBO_ERR_INTERNAL, "stopped");
        bool retired = true;
        while (retired) RIBO_TRY(retire(p, out, false, &retired, err)); /* whatever has completed */
        int k = input_done ? -1 : free_slot(p);
        if (k >= 0) {
            void *item = NULL;
            bool got = false;
            double t0 = ribo_now_seconds();
            if (p->inflight_len == 0) {
                got = ribo_queue_pop(in, &item); /* nothing on the device: wait for work */
                if (!got) input_done = true;
            } else {
                ribo_queue_poll r = ribo_queue_try_pop(in, &item);
                got = r == RIBO_QUEUE_ITEM;
                if (r == RIBO_QUEUE_DONE) input_done = true;
            }
            p->st.wait_input_s += ribo_now_seconds() - t0;
            if (got) {
                ribo_batch *b = item;
                slot *s = &p->slots[k];
                pthread_mutex_lock(&p->lock);
                s->state = SLOT_BUSY;
                pthread_mutex_unlock(&p->lock);
                if (submit_timed(p, s, b, err) != RIBO_OK) return batch_error(p, b, err);
                p->inflight[(p->inflight_head + p->inflight_len) % p->n_slots] = k;
                ++p->inflight_len;
                p->next_slot = (p->next_slot + 1) % p->n_slots;
                continue;
            }
        }
        if (p->inflight_len) { /* the device is busy: wait for the oldest batch */
            RIBO_TRY(retire(p, out, true, &retired, err));
            continue;
        }
        if (input_done) return RIBO_OK;
        /* every slot is with the writer: wait until it releases the next one */
        double t0 = ribo_now_seconds();
        pthread_mutex_lock(&p->lock);
        while (p->slots[p->next_slot].state != SLOT_FREE && !atomic_load(&p->stop))
            pthread_cond_wait(&p->released, &p->lock);
        pthread_mutex_unlock(&p->lock);
        p->st.wait_writer_s += ribo_now_seconds() - t0;
    }
}

void ribo_pipeline_release(ribo_pipeline *p, ribo_batch *b) {
    slot *s = b->slot;
    pthread_mutex_lock(&p->lock);
    s->state = SLOT_FREE;
    s->batch = NULL;
    pthread_cond_broadcast(&p->released);
    pthread_mutex_unlock(&p->lock);
}

void ribo_pipeline_wake(void *pipeline) {
    ribo_pipeline *p = pipeline;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->stop, true);
    pthread_cond_broadcast(&p->released);
    pthread_mutex_unlock(&p->lock);
}

void ribo_pipeline_graph_changed(ribo_pipeline *p) { ribo_executor_set_pool(p->exec, p->cfg.graph); }

void ribo_pipeline_begin_run(ribo_pipeline *p, double t0) {
    ribo_error e;
    ribo_stream_synchronize(p->h2d, &e);
    ribo_stream_synchronize(p->compute, &e);
    ribo_stream_synchronize(p->d2h, &e);
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->n_slots; ++i) {
        p->slots[i].state = SLOT_FREE;
        p->slots[i].batch = NULL;
    }
    p->next_slot = p->inflight_head = p->inflight_len = 0;
    atomic_store(&p->stop, false);
    pthread_mutex_unlock(&p->lock);
    ribo_pipeline_stats kept = {.max_tokens = p->st.max_tokens, .device_used_bytes = p->st.device_used_bytes};
    p->st = kept;
    atomic_store(&p->compute_ns, 0);
    p->ref_time += p->cfg.t0 - t0; /* the reference event, seen from the new origin */
    p->cfg.t0 = t0;
    p->last_compute_end = 0;
    p->idle_from = ribo_now_seconds() - t0;
}

ribo_pipeline_stats ribo_pipeline_get_stats(ribo_pipeline *p) {
    ribo_device_memory_info(p->dev, &p->st.mem);
    return p->st;
}
