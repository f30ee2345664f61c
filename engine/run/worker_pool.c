/* Threads taking items from one queue (see worker_pool.h). */
#include "engine/run/worker_pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "engine/base/batch_queue.h"

typedef struct worker {
    struct ribo_worker_pool *pool;
    int index;
    pthread_t thread;
    bool started;
    double busy_s;
} worker;

struct ribo_worker_pool {
    ribo_worker_fn fn;
    void *user;
    ribo_queue *q;
    worker *w;
    int n;
    bool joined;
};

static void *worker_main(void *arg) {
    worker *w = arg;
    ribo_worker_pool *p = w->pool;
    void *item = NULL;
    while (ribo_queue_pop(p->q, &item)) {
        double t0 = ribo_now_seconds();
        p->fn(p->user, item, w->index);
        w->busy_s += ribo_now_seconds() - t0;
    }
    return NULL;
}

ribo_status ribo_worker_pool_create(int n, ribo_worker_fn fn, void *user, ribo_worker_pool **out, ribo_error *err) {
    *out = NULL;
    ribo_worker_pool *p = calloc(1, sizeof *p);
    if (!p || n < 1 || !(p->w = calloc((size_t)n, sizeof *p->w))) {
        free(p);
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory for %d writer threads", n);
    }
    p->fn = fn;
    p->user = user;
    p->n = n;
    ribo_status s = ribo_queue_create(0, &p->q, err);
    for (int i = 0; s == RIBO_OK && i < n; ++i) {
        p->w[i] = (worker){.pool = p, .index = i};
        if (pthread_create(&p->w[i].thread, NULL, worker_main, &p->w[i]) != 0)
            s = ribo_error_set(err, RIBO_ERR_INTERNAL, "cannot start writer thread %d of %d", i + 1, n);
        else
            p->w[i].started = true;
    }
    if (s != RIBO_OK) {
        ribo_worker_pool_free(p);
        return s;
    }
    *out = p;
    return RIBO_OK;
}

bool ribo_worker_pool_submit(ribo_worker_pool *p, void *item) { return ribo_queue_push(p->q, item); }

void ribo_worker_pool_join(ribo_worker_pool *p) {
    if (!p || p->joined) return;
    if (p->q) ribo_queue_close(p->q);
    for (int i = 0; i < p->n; ++i)
        if (p->w[i].started) pthread_join(p->w[i].thread, NULL);
    p->joined = true;
}

int ribo_worker_pool_size(const ribo_worker_pool *p) { return p ? p->n : 0; }

double ribo_worker_pool_busy(const ribo_worker_pool *p, int i) { return p && i >= 0 && i < p->n ? p->w[i].busy_s : 0; }

void ribo_worker_pool_free(ribo_worker_pool *p) {
    if (!p) return;
    ribo_worker_pool_join(p);
    ribo_queue_free(p->q);
    free(p->w);
    free(p);
}
