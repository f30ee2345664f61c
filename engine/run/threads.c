/* Running the batches of an embed run (see run.h):
 *
 *   producer thread ──batch queue──► pipeline thread per device ──┐
 *        │  (windows)                                             ▼
 *        └───────────────────────────────────────────────► writer queue ──► writer thread ──► rows
 *                                                                      (windows; batches to --writers threads)
 *
 * The producer's fixed pool of batch objects bounds everything in flight: the writer returns each
 * batch to the pool after writing it. Any thread's error stops all of them (stop.h). With --sync
 * the same components run inline on the calling thread, one batch at a time. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine/run/run.h"
#include "engine/input/input_stream.h"

void embed_log(void *run, const char *fmt, ...) {
    embed_run *r = run;
    if (!r->o->log) return;
    char line[PATH_MAX + 1024]; /* a path and its context */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&r->log_lock);
    r->o->log(r->o->log_user, line);
    pthread_mutex_unlock(&r->log_lock);
}

void embed_progress(embed_run *r, bool final) {
    if (!r->o->progress || !r->sink.progress || !r->prod) return;
    ribo_progress p;
    memset(&p, 0, sizeof p);
    double now = ribo_now_seconds() - r->t0;
    uint64_t tokens_read = 0, batches = 0, tokens_packed = 0, in_done = 0, in_total = 0;
    int budget = 0;
    r->sink.progress(r->sink.user, &p.sequences_done, &p.tokens_done);
    ribo_producer_progress(r->prod, &tokens_read, &batches, &tokens_packed, &budget);
    ribo_input_progress(ribo_producer_input(r->prod), &in_done, &in_total);
    p.elapsed_s = now;
    double dt = now - r->last_progress_t;
    p.tokens_per_s = dt > 0 ? (double)(p.tokens_done - r->last_progress_tokens) / dt : 0;
    p.packing_density = batches && budget ? (double)tokens_packed / ((double)batches * budget) : 0;
    /* total tokens estimated from the tokens read per input byte so far */
    double est_total = in_done > 0 ? (double)tokens_read * (double)in_total / (double)in_done : 0;
    p.fraction_done = final ? 1.0 : est_total > 0 ? (double)p.tokens_done / est_total : -1;
    if (p.fraction_done > 1) p.fraction_done = 1;
    double run = now - r->t_pipeline;
    double rate = run > 0 ? (double)p.tokens_done / run : 0;
    p.eta_s = final ? 0 : (est_total > 0 && rate > 0) ? (est_total - (double)p.tokens_done) / rate : -1;
    if (p.eta_s < 0 && !final && est_total > 0 && rate > 0) p.eta_s = 0;
    p.n_devices = r->ses->n_pipes;
    for (int i = 0; i < r->ses->n_pipes && i < RIBO_MAX_DEVICES; ++i) {
        double c = r->ses->pipes[i] ? ribo_pipeline_compute_seconds(r->ses->pipes[i]) : 0;
        p.device_busy[i] = dt > 0 ? (c - r->last_compute_s[i]) / dt : 0;
        if (p.device_busy[i] > 1) p.device_busy[i] = 1;
        r->last_compute_s[i] = c;
    }
    p.final = final;
    r->last_progress_t = now;
    r->last_progress_tokens = p.tokens_done;
    r->o->progress(r->o->progress_user, &p);
}

static double progress_interval(const embed_run *r) {
    return r->o->progress_interval_s > 0 ? r->o->progress_interval_s : 1.0;
}

/* --sync: producer, device and writer steps inline, each stage waited for. */
static ribo_status run_sync(embed_run *r, ribo_error *err) {
    ribo_pipeline *p = r->ses->pipes[0];
    RIBO_TRY(ribo_device_bind_thread(r->ses->devs[0], err));
    for (;;) {
        ribo_msg_kind *m = NULL;
        RIBO_TRY(ribo_producer_next(r->prod, &m, err));
        if (!m) return RIBO_OK;
        if (*m == RIBO_MSG_BATCH) {
            ribo_batch *b = (ribo_batch *)m;
            ribo_status s = ribo_pipeline_run_one(p, b, err);
            if (s != RIBO_OK) {
                ribo_producer_release(r->prod, b);
                return s;
            }
        }
        RIBO_TRY(r->sink.handle(r->sink.user, m, err));
        if (ribo_now_seconds() - r->t0 - r->last_progress_t >= progress_interval(r)) embed_progress(r, false);
    }
}

/* ---------------------------------------------------------------- threads */

/* How many worker threads have finished; the main thread waits on `changed` (progress lines in
 * between), so the end of the run is seen at once rather than at its next poll. */
typedef struct finish_count {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int n;
} finish_count;

static void finish_count_add(finish_count *f) {
    pthread_mutex_lock(&f->lock);
    ++f->n;
    pthread_cond_broadcast(&f->changed);
    pthread_mutex_unlock(&f->lock);
}

/* Waits until n threads have finished or about `seconds` have passed; returns the count. */
static int finish_count_wait(finish_count *f, int n, double seconds) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)(seconds * 1e9);
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&f->lock);
    while (f->n < n && pthread_cond_timedwait(&f->changed, &f->lock, &ts) == 0) {
    }
    int done = f->n;
    pthread_mutex_unlock(&f->lock);
    return done;
}

typedef struct thread_arg {
    embed_run *r;
    int index;
    finish_count *finished;
} thread_arg;

static void *producer_main(void *arg) {
    thread_arg *a = arg;
    embed_run *r = a->r;
    ribo_error err = {0};
    for (;;) {
        ribo_msg_kind *m = NULL;
        if (ribo_producer_next(r->prod, &m, &err) != RIBO_OK) {
            ribo_run_ctl_fail(&r->ctl, &err);
            break;
        }
        if (!m) break;
        bool ok = ribo_queue_push(*m == RIBO_MSG_WINDOW ? r->write_q : r->batch_q, m);
        if (!ok) { /* stopped: the message goes nowhere */
            if (*m == RIBO_MSG_WINDOW) ribo_producer_free_window((ribo_window_msg *)m);
            else ribo_producer_release(r->prod, (ribo_batch *)m);
            break;
        }
    }
    ribo_queue_close(r->batch_q);
    finish_count_add(a->finished);
    return NULL;
}

static void *pipeline_main(void *arg) {
    thread_arg *a = arg;
    embed_run *r = a->r;
    ribo_error err = {0};
    if (ribo_pipeline_run(r->ses->pipes[a->index], r->batch_q, r->write_q, &err) != RIBO_OK) ribo_run_ctl_fail(&r->ctl, &err);
    finish_count_add(a->finished);
    return NULL;
}

static void *writer_main(void *arg) {
    thread_arg *a = arg;
    embed_run *r = a->r;
    ribo_error err = {0};
    void *item = NULL;
    while (ribo_queue_pop(r->write_q, &item))
        if (r->sink.handle(r->sink.user, item, &err) != RIBO_OK) {
            ribo_run_ctl_fail(&r->ctl, &err);
            break;
        }
    if (r->writer) ribo_part_writer_join(r->writer); /* its threads write what they were handed (their errors reach ctl) */
    return NULL;
}

/* Frees what is left in a queue after a failure (windows; batches go back to the pool). */
static void drain(embed_run *r, ribo_queue *q) {
    void *item = NULL;
    ribo_queue_close(q);
    while (ribo_queue_try_pop(q, &item) == RIBO_QUEUE_ITEM) {
        ribo_msg_kind *m = item;
        if (*m == RIBO_MSG_WINDOW) ribo_producer_free_window((ribo_window_msg *)m);
    }
}

static ribo_status run_threads(embed_run *r, ribo_error *err) {
    ribo_run_ctl_init(&r->ctl);
    ribo_status s = ribo_queue_create(0, &r->batch_q, err);
    if (s == RIBO_OK) s = ribo_queue_create(0, &r->write_q, err);
    if (s != RIBO_OK) {
        ribo_run_ctl_destroy(&r->ctl);
        return s;
    }
    ribo_run_ctl_add_queue(&r->ctl, r->batch_q);
    ribo_run_ctl_add_queue(&r->ctl, r->write_q);
    ribo_run_ctl_add_queue(&r->ctl, ribo_producer_pool(r->prod));
    for (int i = 0; i < r->ses->n_pipes; ++i) ribo_run_ctl_add_waker(&r->ctl, ribo_pipeline_wake, r->ses->pipes[i]);
    finish_count finished = {.n = 0};
    pthread_mutex_init(&finished.lock, NULL);
    pthread_cond_init(&finished.changed, NULL);
    thread_arg args[RIBO_MAX_DEVICES + 2];
    pthread_t threads[RIBO_MAX_DEVICES + 2];
    bool started[RIBO_MAX_DEVICES + 2] = {false};
    int n = r->ses->n_pipes + 2; /* 0: writer, 1: producer, 2..: pipelines */
    void *(*mains[2])(void *) = {writer_main, producer_main};
    for (int i = 0; i < n; ++i) {
        args[i] = (thread_arg){r, i - 2, &finished};
        if (pthread_create(&threads[i], NULL, i < 2 ? mains[i] : pipeline_main, &args[i]) != 0) {
            ribo_error e;
            ribo_error_set(&e, RIBO_ERR_INTERNAL, "cannot start a thread");
            ribo_run_ctl_fail(&r->ctl, &e);
            if (i == 1) ribo_queue_close(r->batch_q); /* no producer: the pipelines must not wait for it */
            continue;
        }
        started[i] = true;
    }
    int expected = 0;
    for (int i = 1; i < n; ++i) expected += started[i];
    /* progress while the producer and the pipelines work */
    while (finish_count_wait(&finished, expected, 0.05) < expected) {
        if (r->o->progress && ribo_now_seconds() - r->t0 - r->last_progress_t >= progress_interval(r))
            embed_progress(r, false);
    }
    for (int i = 1; i < n; ++i)
        if (started[i]) pthread_join(threads[i], NULL);
    r->t_pipeline_end = ribo_now_seconds() - r->t0;
    pthread_mutex_destroy(&finished.lock);
    pthread_cond_destroy(&finished.changed);
    ribo_queue_close(r->write_q); /* the writer drains what the pipelines handed it, then stops */
    if (started[0]) pthread_join(threads[0], NULL);
    s = ribo_run_ctl_status(&r->ctl, err);
    if (s != RIBO_OK) {
        drain(r, r->write_q);
        drain(r, r->batch_q);
    }
    ribo_queue_wait_times(ribo_producer_pool(r->prod), &r->producer_wait_s, NULL);
    ribo_queue_wait_times(r->write_q, &r->writer_wait_s, NULL);
    ribo_queue_free(r->batch_q);
    ribo_queue_free(r->write_q);
    r->batch_q = r->write_q = NULL;
    ribo_run_ctl_destroy(&r->ctl);
    return s;
}

ribo_status embed_run_batches(embed_run *r, ribo_error *err) {
    r->t_pipeline = ribo_now_seconds() - r->t0;
    r->last_progress_t = r->t_pipeline;
    ribo_status s = r->o->sync ? run_sync(r, err) : run_threads(r, err);
    if (r->o->sync) r->t_pipeline_end = ribo_now_seconds() - r->t0;
    return s;
}
