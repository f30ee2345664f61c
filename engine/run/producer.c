/* Window reading, packing and batch hand-out on the host (see producer.h). */
#include "engine/run/producer.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "engine/base/batch_queue.h"

struct ribo_producer {
    ribo_producer_config cfg;
    ribo_seqset_options opts;
    ribo_input *input;
    ribo_input_window win;     /* the current window */
    bool have_win;             /* win holds a window whose batches are not all handed out */
    bool win_announced;        /* its ribo_window_msg has been handed out */
    ribo_pack_plan plan;       /* plan of win (valid once announced) */
    size_t next_batch;         /* next batch of plan to hand out */
    size_t batch_no;           /* batches handed out so far */
    uint64_t out_rows;         /* output rows of the windows announced so far (next window's out_row_begin) */
    int max_tokens, max_seqs;  /* packing budget */
    ribo_batch *batches;       /* the pool's objects */
    size_t n_batches;
    ribo_queue *free_batches;
    ribo_producer_stats st;
    _Atomic uint64_t tokens_read, batches_packed, tokens_packed; /* progress, read from any thread */
};

ribo_status ribo_producer_create(const ribo_producer_config *cfg, ribo_producer **out, ribo_error *err) {
    *out = NULL;
    ribo_producer *p = calloc(1, sizeof *p);
    if (!p) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    p->cfg = *cfg;
    p->opts = *cfg->input.opts;
    p->cfg.input.opts = &p->opts;
    atomic_init(&p->tokens_read, 0);
    atomic_init(&p->batches_packed, 0);
    atomic_init(&p->tokens_packed, 0);
    ribo_status s = ribo_input_open(&p->cfg.input, &p->input, err);
    bool has = false;
    if (s == RIBO_OK) s = ribo_input_next(p->input, &p->win, &has, err);
    if (s == RIBO_OK && has) {
        p->have_win = true;
        p->st.read_s += p->win.read_s;
        p->st.tokenize_s += p->win.tokenize_s;
    }
    if (s != RIBO_OK) {
        ribo_producer_free(p);
        return s;
    }
    *out = p;
    return RIBO_OK;
}

/* A sequence longer than the budget can never be packed: name it with its input row. */
static ribo_status check_lengths(const ribo_producer *p, const ribo_input_window *w, int max_tokens, ribo_error *err) {
    for (size_t i = 0; i < w->set.n; ++i)
        if (ribo_seqset_len(&w->set, i) > max_tokens)
            return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT,
                                  "sequence '%s' (input row %llu) has %d tokens, more than the batch token budget "
                                  "--max-tokens %d (raise --max-tokens or lower --truncate)",
                                  w->set.ids[i], (unsigned long long)(w->row_begin + i + 1), ribo_seqset_len(&w->set, i),
                                  max_tokens);
    return RIBO_OK;
}

/* Plans the current window with the budget. */
static ribo_status plan_window(ribo_producer *p, int max_tokens, int max_seqs, ribo_error *err) {
    ribo_pack_plan_free(&p->plan);
    RIBO_TRY(check_lengths(p, &p->win, max_tokens, err));
    return ribo_pack_plan_make(&p->win.set, max_tokens, max_seqs, &p->plan, err);
}

ribo_status ribo_producer_probe(ribo_producer *p, int max_tokens, int max_seqs, int *batch_tokens, int *batch_seqs,
                                int *longest, bool *whole_input, ribo_error *err) {
    *batch_tokens = *batch_seqs = *longest = 1;
    *whole_input = ribo_input_exhausted(p->input);
    if (!p->have_win || p->win.set.n == 0) return RIBO_OK;
    RIBO_TRY(plan_window(p, max_tokens, max_seqs, err));
    *longest = (int)p->win.set.max_len;
    for (size_t b = 0; b < p->plan.n_batches; ++b) {
        int seqs = (int)(p->plan.batch_start[b + 1] - p->plan.batch_start[b]), tokens = 0;
        for (size_t i = p->plan.batch_start[b]; i < p->plan.batch_start[b + 1]; ++i)
            tokens += ribo_seqset_len(&p->win.set, p->plan.order[i]);
        if (tokens > *batch_tokens) *batch_tokens = tokens;
        if (seqs > *batch_seqs) *batch_seqs = seqs;
    }
    return RIBO_OK;
}

/* Allocates one batch object's arrays. */
static bool alloc_batch(ribo_batch *b, int T, int B) {
    b->kind = RIBO_MSG_BATCH;
    b->cap_tokens = T;
    b->cap_seqs = B;
    b->pb.tokens = malloc((size_t)T * sizeof(int32_t));
    b->pb.positions = malloc((size_t)T * sizeof(int32_t));
    b->pb.seq_of_token = malloc((size_t)T * sizeof(int32_t));
    b->pb.cu_seqlens = malloc(((size_t)B + 1) * sizeof(int32_t));
    b->pb.rows = malloc((size_t)B * sizeof(size_t));
    b->seq_scale = malloc((size_t)B * sizeof(float));
    return b->pb.tokens && b->pb.positions && b->pb.seq_of_token && b->pb.cu_seqlens && b->pb.rows && b->seq_scale;
}

static void free_batch(ribo_batch *b) {
    free(b->pb.tokens);
    free(b->pb.positions);
    free(b->pb.seq_of_token);
    free(b->pb.cu_seqlens);
    free(b->pb.rows);
    free(b->seq_scale);
}

ribo_status ribo_producer_start(ribo_producer *p, int max_tokens, int max_seqs, ribo_error *err) {
    p->max_tokens = max_tokens;
    p->max_seqs = max_seqs > 0 ? max_seqs : max_tokens;
    if (p->max_seqs > max_tokens) p->max_seqs = max_tokens;
    size_t n = p->cfg.pool_size ? p->cfg.pool_size : 1;
    p->batches = calloc(n, sizeof *p->batches);
    if (!p->batches) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory for the batch pool");
    p->n_batches = n;
    RIBO_TRY(ribo_queue_create(n, &p->free_batches, err));
    for (size_t i = 0; i < n; ++i) {
        if (!alloc_batch(&p->batches[i], p->max_tokens, p->max_seqs))
            return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory for %zu batches of %d tokens", n,
                                  max_tokens);
        ribo_queue_push(p->free_batches, &p->batches[i]);
    }
    return RIBO_OK;
}

/* The per-sequence embedding scale of a batch: the family's hook, else 1 (model.h). */
static void fill_seq_scale(const ribo_producer *p, ribo_batch *b) {
    const ribo_packed_batch *pb = &b->pb;
    if (p->cfg.family && p->cfg.family->seq_scale) {
        p->cfg.family->seq_scale(p->cfg.conv, pb->tokens, pb->cu_seqlens, pb->n_seqs, b->seq_scale);
        return;
    }
    for (int s = 0; s < pb->n_seqs; ++s) b->seq_scale[s] = 1.0f;
}

/* Builds the announcement of the current window (ids, output rows per sequence). */
static ribo_status make_window_msg(ribo_producer *p, ribo_window_msg **out, ribo_error *err) {
    const ribo_input_window *w = &p->win;
    ribo_window_msg *m = calloc(1, sizeof *m);
    if (!m) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    m->kind = RIBO_MSG_WINDOW;
    m->index = w->index;
    m->row_begin = w->row_begin;
    m->n_rows = w->set.n;
    m->n_tokens = w->n_tokens;
    m->hash = w->hash;
    m->read_s = w->read_s;
    m->tokenize_s = w->tokenize_s;
    for (size_t i = 0; i < w->set.n; ++i) m->ids_bytes += strlen(w->set.ids[i]) + 1;
    m->ids = malloc(m->ids_bytes ? m->ids_bytes : 1);
    if (p->cfg.per_residue) m->out_rows = malloc((w->set.n ? w->set.n : 1) * sizeof *m->out_rows);
    if (!m->ids || (p->cfg.per_residue && !m->out_rows)) {
        ribo_producer_free_window(m);
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory for the ids of window %zu", w->index + 1);
    }
    size_t at = 0;
    for (size_t i = 0; i < w->set.n; ++i) {
        size_t len = strlen(w->set.ids[i]) + 1;
        memcpy(m->ids + at, w->set.ids[i], len);
        at += len;
        int64_t rows = p->cfg.per_residue ? ribo_seqset_len(&w->set, i) - p->cfg.pool_skip : 1;
        if (m->out_rows) m->out_rows[i] = rows;
        m->n_out_rows += (uint64_t)rows;
    }
    m->out_row_begin = p->out_rows;
    *out = m;
    return RIBO_OK;
}

/* Reads the next window into p->win (have_win false at the end). */
static ribo_status read_window(ribo_producer *p, ribo_error *err) {
    bool has = false;
    RIBO_TRY(ribo_input_next(p->input, &p->win, &has, err));
    p->have_win = has;
    p->win_announced = false;
    p->next_batch = 0;
    if (has) {
        p->st.read_s += p->win.read_s;
        p->st.tokenize_s += p->win.tokenize_s;
    }
    return RIBO_OK;
}

/* Announces the current window: plans it (unless its part is complete on disk). */
static ribo_status announce(ribo_producer *p, ribo_window_msg **out, ribo_error *err) {
    const ribo_input_window *w = &p->win;
    double t0 = ribo_now_seconds();
    ribo_window_msg *m = NULL;
    RIBO_TRY(make_window_msg(p, &m, err));
    ribo_status s = RIBO_OK;
    bool done = false;
    if (w->set.n > 0 && p->cfg.part_check) s = p->cfg.part_check(p->cfg.part_check_user, m, &done, err);
    if (s == RIBO_OK && done) {
        m->resumed = true;
        ++p->st.windows_resumed;
        ribo_pack_plan_free(&p->plan);
    } else if (s == RIBO_OK && w->set.n > 0) {
        s = plan_window(p, p->max_tokens, p->max_seqs, err);
        m->n_batches = p->plan.n_batches;
        p->st.tokens_computed += w->n_tokens;
        p->st.sequences_computed += w->set.n;
    } else {
        ribo_pack_plan_free(&p->plan);
    }
    if (s != RIBO_OK) {
        ribo_producer_free_window(m);
        return s;
    }
    ++p->st.windows;
    p->out_rows += m->n_out_rows;
    atomic_fetch_add(&p->tokens_read, w->n_tokens);
    p->st.sequences += w->set.n;
    p->st.tokens += w->n_tokens;
    p->st.skipped += w->set.n_skipped;
    p->st.truncated += w->set.n_truncated;
    p->st.unknown += w->set.n_unknown;
    p->st.stop_frames += w->set.n_stop_frames;
    p->st.short_frames += w->set.n_short_frames;
    p->st.lenient += w->set.n_lenient;
    double t1 = ribo_now_seconds();
    m->pack_s = t1 - t0;
    p->st.pack_s += t1 - t0;
    m->t_end = t1 - p->cfg.t0;
    m->t_begin = m->t_end - (t1 - t0) - w->read_s - w->tokenize_s;
    p->win_announced = true;
    *out = m;
    return RIBO_OK;
}

ribo_status ribo_producer_next(ribo_producer *p, ribo_msg_kind **msg, ribo_error *err) {
    *msg = NULL;
    for (;;) {
        if (!p->have_win) return RIBO_OK;
        if (!p->win_announced) {
            ribo_window_msg *m = NULL;
            RIBO_TRY(announce(p, &m, err));
            *msg = &m->kind;
            return RIBO_OK;
        }
        if (p->next_batch < p->plan.n_batches) break;
        RIBO_TRY(read_window(p, err));
    }
    void *item = NULL;
    if (!ribo_queue_pop(p->free_batches, &item)) return ribo_error_set(err, RIBO_ERR_INTERNAL, "stopped");
    ribo_batch *b = item;
    double t0 = ribo_now_seconds();
    ribo_pack_fill(&p->win.set, &p->plan, p->next_batch, &b->pb);
    for (int i = 0; i < b->pb.n_seqs; ++i) b->pb.rows[i] += p->win.row_begin; /* window -> input rows */
    fill_seq_scale(p, b);
    double t1 = ribo_now_seconds();
    b->seq_no = p->batch_no++;
    b->window = p->win.index;
    b->pack_t0 = t0 - p->cfg.t0;
    b->pack_t1 = t1 - p->cfg.t0;
    b->owner = NULL;
    b->slot = NULL;
    b->out = NULL;
    memset(&b->timing, 0, sizeof b->timing);
    p->st.pack_s += t1 - t0;
    ++p->st.batches;
    p->st.budget_slots += p->max_tokens;
    atomic_fetch_add(&p->batches_packed, 1);
    atomic_fetch_add(&p->tokens_packed, (uint64_t)b->pb.n_tokens);
    ++p->next_batch;
    *msg = &b->kind;
    return RIBO_OK;
}

void ribo_producer_release(ribo_producer *p, ribo_batch *b) { ribo_queue_push(p->free_batches, b); }

void ribo_producer_free_window(ribo_window_msg *w) {
    if (!w) return;
    free(w->ids);
    free(w->out_rows);
    free(w);
}

struct ribo_queue *ribo_producer_pool(ribo_producer *p) { return p->free_batches; }

ribo_input *ribo_producer_input(ribo_producer *p) { return p->input; }

size_t ribo_producer_first_window_size(const ribo_producer *p) { return p->have_win ? p->win.set.n : 0; }

void ribo_producer_first_window_rows(const ribo_producer *p, uint64_t *tokens, uint64_t *out_rows) {
    *tokens = p->have_win ? p->win.n_tokens : 0;
    *out_rows = 0;
    for (size_t i = 0; p->have_win && i < p->win.set.n; ++i)
        *out_rows += p->cfg.per_residue ? (uint64_t)(ribo_seqset_len(&p->win.set, i) - p->cfg.pool_skip) : 1;
}

ribo_producer_stats ribo_producer_get_stats(const ribo_producer *p) { return p->st; }

void ribo_producer_progress(ribo_producer *p, uint64_t *tokens_read, uint64_t *batches, uint64_t *tokens_packed,
                            int *max_tokens) {
    *tokens_read = atomic_load(&p->tokens_read);
    *batches = atomic_load(&p->batches_packed);
    *tokens_packed = atomic_load(&p->tokens_packed);
    *max_tokens = p->max_tokens;
}

void ribo_producer_free(ribo_producer *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n_batches; ++i) free_batch(&p->batches[i]);
    free(p->batches);
    ribo_queue_free(p->free_batches);
    ribo_pack_plan_free(&p->plan);
    ribo_input_window_free(&p->win);
    ribo_input_close(p->input);
    free(p);
}
