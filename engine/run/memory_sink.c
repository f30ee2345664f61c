/* Batches -> the caller's memory (see memory_sink.h). */
#include "engine/run/memory_sink.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "engine/run/pipeline.h"

/* A window whose rows are being delivered. */
typedef struct open_window {
    ribo_window_msg *win;       /* owned */
    const char **id;            /* n_rows pointers into win->ids */
    int64_t *out_start;         /* n_rows + 1 output-row offsets (prefix sums) */
    float **pending;            /* per sequence: its rows, computed but not yet delivered (cb only) */
    size_t remaining;           /* sequences not yet computed */
} open_window;

struct ribo_memory_sink {
    ribo_memory_sink_config cfg;
    open_window **open;         /* in window order; the first holds the next row to deliver */
    size_t n_open, cap_open;
    uint64_t next_row;          /* the next row the callback gets */
    uint64_t rows_announced;
    double seconds;
    _Atomic uint64_t seq_done, tok_done;
};

ribo_status ribo_memory_sink_create(const ribo_memory_sink_config *cfg, ribo_memory_sink **out, ribo_error *err) {
    *out = NULL;
    ribo_memory_sink *s = calloc(1, sizeof *s);
    if (!s) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    s->cfg = *cfg;
    atomic_init(&s->seq_done, 0);
    atomic_init(&s->tok_done, 0);
    *out = s;
    return RIBO_OK;
}

static void free_window(open_window *w) {
    if (!w) return;
    for (size_t i = 0; w->pending && i < w->win->n_rows; ++i) free(w->pending[i]);
    free(w->pending);
    free(w->id);
    free(w->out_start);
    ribo_producer_free_window(w->win);
    free(w);
}

static ribo_status handle_window(ribo_memory_sink *s, ribo_window_msg *m, ribo_error *err) {
    if (m->row_begin != s->rows_announced)
        return ribo_error_set(err, RIBO_ERR_INTERNAL, "sink: window %zu starts at row %llu, expected %llu", m->index + 1,
                              (unsigned long long)m->row_begin, (unsigned long long)s->rows_announced);
    s->rows_announced += m->n_rows;
    open_window *w = calloc(1, sizeof *w);
    if (!w) {
        ribo_producer_free_window(m);
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    w->win = m;
    size_t n = m->n_rows;
    w->id = calloc(n ? n : 1, sizeof *w->id);
    w->out_start = malloc((n + 1) * sizeof *w->out_start);
    w->pending = s->cfg.cb ? calloc(n ? n : 1, sizeof *w->pending) : NULL;
    if (!w->id || !w->out_start || (s->cfg.cb && !w->pending) ||
        (s->n_open == s->cap_open && !(s->open = realloc(s->open, (s->cap_open = s->cap_open ? 2 * s->cap_open : 8) *
                                                                       sizeof *s->open)))) {
        free_window(w);
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    const char *p = m->ids;
    w->out_start[0] = 0;
    for (size_t i = 0; i < n; ++i) {
        w->id[i] = p ? p : "";
        if (p) p += strlen(p) + 1;
        w->out_start[i + 1] = w->out_start[i] + (m->out_rows ? m->out_rows[i] : 1);
    }
    w->remaining = n;
    s->open[s->n_open++] = w;
    if (s->cfg.out && m->row_begin + n > s->cfg.out_rows)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT,
                              "output buffer holds %zu rows; the input has more sequences (row %llu)", s->cfg.out_rows,
                              (unsigned long long)(m->row_begin + n));
    return RIBO_OK;
}

/* Delivers, in input order, every sequence whose rows are in (cb); frees windows that are done. */
static ribo_status deliver(ribo_memory_sink *s, ribo_error *err) {
    while (s->n_open) {
        open_window *w = s->open[0];
        size_t n = w->win->n_rows;
        while (s->cfg.cb && s->next_row < w->win->row_begin + n) {
            size_t local = (size_t)(s->next_row - w->win->row_begin);
            if (!w->pending[local]) return RIBO_OK;
            size_t rows = (size_t)(w->out_start[local + 1] - w->out_start[local]);
            int stop = s->cfg.cb(s->cfg.cb_user, s->next_row, w->id[local], w->pending[local], rows, s->cfg.dim);
            free(w->pending[local]);
            w->pending[local] = NULL;
            ++s->next_row;
            if (stop) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "stopped by the caller (row callback)");
        }
        if (w->remaining) return RIBO_OK;
        free_window(w);
        memmove(s->open, s->open + 1, (s->n_open - 1) * sizeof *s->open);
        --s->n_open;
    }
    return RIBO_OK;
}

static ribo_status take_batch(ribo_memory_sink *s, ribo_batch *b, ribo_error *err) {
    open_window *w = NULL;
    for (size_t i = 0; i < s->n_open && !w; ++i)
        if (s->open[i]->win->index == b->window) w = s->open[i];
    if (!w) return ribo_error_set(err, RIBO_ERR_INTERNAL, "sink: batch %zu of window %zu, which is not open",
                                  b->seq_no + 1, b->window + 1);
    const ribo_packed_batch *pb = &b->pb;
    size_t D = s->cfg.dim, at = 0;
    /* A NaN/inf (overflow in the model, or a device fault) must not reach the caller: the whole batch
     * is checked before any of its rows is delivered. */
    for (int i = 0; i < pb->n_seqs; ++i) {
        size_t local = pb->rows[i] - w->win->row_begin;
        size_t n = (size_t)(w->out_start[local + 1] - w->out_start[local]);
        const float *v = b->out + at * D;
        for (size_t k = 0; k < n * D; ++k)
            if (!isfinite(v[k]))
                return ribo_error_set(err, RIBO_ERR_DEVICE,
                                      "batch %zu (window %zu): sequence '%s': non-finite embedding (NaN/inf)",
                                      b->seq_no + 1, b->window + 1, w->id[local]);
        at += n;
    }
    at = 0;
    for (int i = 0; i < pb->n_seqs; ++i) {
        size_t local = pb->rows[i] - w->win->row_begin;
        size_t n = (size_t)(w->out_start[local + 1] - w->out_start[local]);
        const float *v = b->out + at * D;
        if (s->cfg.out && !s->cfg.per_residue) memcpy(s->cfg.out + (size_t)pb->rows[i] * D, v, D * sizeof *v);
        if (s->cfg.cb) {
            float *copy = malloc((n ? n : 1) * D * sizeof *copy);
            if (!copy) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
            memcpy(copy, v, n * D * sizeof *v);
            w->pending[local] = copy;
        }
        at += n;
    }
    w->remaining -= (size_t)pb->n_seqs;
    atomic_fetch_add(&s->seq_done, (uint64_t)pb->n_seqs);
    atomic_fetch_add(&s->tok_done, (uint64_t)pb->n_tokens);
    return deliver(s, err);
}

ribo_status ribo_memory_sink_handle(void *sink, ribo_msg_kind *msg, ribo_error *err) {
    ribo_memory_sink *s = sink;
    double t0 = ribo_now_seconds();
    ribo_status st;
    if (*msg == RIBO_MSG_WINDOW) {
        st = handle_window(s, (ribo_window_msg *)msg, err);
        if (st == RIBO_OK) st = deliver(s, err); /* a window without sequences */
    } else {
        ribo_batch *b = (ribo_batch *)msg;
        st = take_batch(s, b, err);
        if (b->owner) ribo_pipeline_release(b->owner, b);
        ribo_producer_release(s->cfg.producer, b);
    }
    s->seconds += ribo_now_seconds() - t0;
    return st;
}

ribo_status ribo_memory_sink_finish(ribo_memory_sink *s, ribo_error *err) {
    if (s->n_open)
        return ribo_error_set(err, RIBO_ERR_INTERNAL, "sink: window %zu has %zu sequence(s) never computed",
                              s->open[0]->win->index + 1, s->open[0]->remaining);
    return RIBO_OK;
}

void ribo_memory_sink_progress(void *sink, uint64_t *sequences, uint64_t *tokens) {
    ribo_memory_sink *s = sink;
    if (sequences) *sequences = atomic_load(&s->seq_done);
    if (tokens) *tokens = atomic_load(&s->tok_done);
}

double ribo_memory_sink_seconds(const ribo_memory_sink *s) { return s->seconds; }

void ribo_memory_sink_free(ribo_memory_sink *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n_open; ++i) free_window(s->open[i]);
    free(s->open);
    free(s);
}
