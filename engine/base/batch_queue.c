/* Thread-safe pointer FIFO (see batch_queue.h). */
#include "engine/base/batch_queue.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct ribo_queue {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    void **ring;
    size_t cap, head, len;  /* items are ring[(head + i) % cap] */
    size_t bound;           /* 0 = unbounded */
    bool closed, aborted;
    double pop_wait_s, push_wait_s;
};

double ribo_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

ribo_status ribo_queue_create(size_t capacity, ribo_queue **out, ribo_error *err) {
    *out = NULL;
    ribo_queue *q = calloc(1, sizeof *q);
    size_t cap = capacity ? capacity : 64;
    if (q) q->ring = malloc(cap * sizeof *q->ring);
    if (!q || !q->ring) {
        free(q);
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory for a queue");
    }
    q->cap = cap;
    q->bound = capacity;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    *out = q;
    return RIBO_OK;
}

void ribo_queue_free(ribo_queue *q) {
    if (!q) return;
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
    free(q->ring);
    free(q);
}

/* Doubles the ring of an unbounded queue (lock held). */
static bool grow(ribo_queue *q) {
    size_t cap = q->cap * 2;
    void **ring = malloc(cap * sizeof *ring);
    if (!ring) return false;
    for (size_t i = 0; i < q->len; ++i) ring[i] = q->ring[(q->head + i) % q->cap];
    free(q->ring);
    q->ring = ring;
    q->cap = cap;
    q->head = 0;
    return true;
}

bool ribo_queue_push(ribo_queue *q, void *item) {
    pthread_mutex_lock(&q->lock);
    if (q->bound && q->len == q->bound && !q->aborted && !q->closed) {
        double t0 = ribo_now_seconds();
        while (q->len == q->bound && !q->aborted && !q->closed) pthread_cond_wait(&q->not_full, &q->lock);
        q->push_wait_s += ribo_now_seconds() - t0;
    }
    bool ok = !q->aborted && !q->closed && (q->len < q->cap || (!q->bound && grow(q)));
    if (ok) {
        q->ring[(q->head + q->len) % q->cap] = item;
        ++q->len;
        pthread_cond_signal(&q->not_empty);
    }
    pthread_mutex_unlock(&q->lock);
    return ok;
}

/* Takes the head item (lock held, len > 0). */
static void *take(ribo_queue *q) {
    void *item = q->ring[q->head];
    q->head = (q->head + 1) % q->cap;
    --q->len;
    pthread_cond_signal(&q->not_full);
    return item;
}

bool ribo_queue_pop(ribo_queue *q, void **item) {
    pthread_mutex_lock(&q->lock);
    if (q->len == 0 && !q->closed && !q->aborted) {
        double t0 = ribo_now_seconds();
        while (q->len == 0 && !q->closed && !q->aborted) pthread_cond_wait(&q->not_empty, &q->lock);
        q->pop_wait_s += ribo_now_seconds() - t0;
    }
    bool ok = !q->aborted && q->len > 0;
    if (ok) *item = take(q);
    pthread_mutex_unlock(&q->lock);
    return ok;
}

ribo_queue_poll ribo_queue_try_pop(ribo_queue *q, void **item) {
    pthread_mutex_lock(&q->lock);
    ribo_queue_poll r = RIBO_QUEUE_EMPTY;
    if (q->aborted) r = RIBO_QUEUE_DONE;
    else if (q->len > 0) {
        *item = take(q);
        r = RIBO_QUEUE_ITEM;
    } else if (q->closed) r = RIBO_QUEUE_DONE;
    pthread_mutex_unlock(&q->lock);
    return r;
}

void ribo_queue_close(ribo_queue *q) {
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->lock);
}

void ribo_queue_abort(ribo_queue *q) {
    pthread_mutex_lock(&q->lock);
    q->aborted = true;
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->lock);
}

size_t ribo_queue_length(ribo_queue *q) {
    pthread_mutex_lock(&q->lock);
    size_t n = q->len;
    pthread_mutex_unlock(&q->lock);
    return n;
}

void ribo_queue_wait_times(ribo_queue *q, double *pop_wait_s, double *push_wait_s) {
    pthread_mutex_lock(&q->lock);
    if (pop_wait_s) *pop_wait_s = q->pop_wait_s;
    if (push_wait_s) *push_wait_s = q->push_wait_s;
    pthread_mutex_unlock(&q->lock);
}
